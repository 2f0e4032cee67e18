"""PyTorch 2.13 as an oracle for every tensor op and every edge case, in float64 and float32.

Each case is written once, as a function of a library adapter ``L`` (``L.lib`` is
``micrograd_plus`` or ``torch``, ``L.F`` the functional module, ``L.ints(a)`` an integer index
tensor, ``L.const(a)`` a constant tensor of the inputs' dtype) and the input tensors. Both
libraries run it on the same numbers; the forward values, the output dtype and the gradients
of ``sum(w * out)`` (w a fixed random array) must agree. Skipped cleanly without torch.

The integer and bool cases compare dtypes and values (PyTorch's type promotion); the edge cases
are fixed inputs at the places where a naive implementation answers differently (0-d tensors,
empty dimensions, base 0 of a power, N <= correction of a variance, ...).
"""

import dataclasses
import zlib

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
# PyTorch warns when a variance has N <= correction; those are the edge cases being compared
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")
import torch.nn.functional as TF  # noqa: E402

import micrograd_plus as mp  # noqa: E402
from micrograd_plus import functional as F  # noqa: E402
from micrograd_plus._tensor import Tensor, tensor  # noqa: E402
from micrograd_plus._tensor import tensor as mp_tensor  # noqa: E402


class Ours:
    lib, F = mp, F
    tensor = staticmethod(mp_tensor)

    @staticmethod
    def ints(a):
        return tensor(np.asarray(a, dtype=np.int64))

    @staticmethod
    def const(a, like):
        return tensor(np.asarray(a, dtype=like.dtype))

    @staticmethod
    def t(a):
        return tensor(np.asarray(a))


class Torch:
    lib, F = torch, TF
    tensor = staticmethod(torch.tensor)

    @staticmethod
    def ints(a):
        return torch.from_numpy(np.asarray(a, dtype=np.int64))

    @staticmethod
    def const(a, like):
        return torch.as_tensor(np.asarray(a), dtype=like.dtype)

    @staticmethod
    def t(a):
        return torch.from_numpy(np.asarray(a))


@dataclasses.dataclass
class Case:
    fn: object
    shapes: tuple = ((3, 4),)
    lo: float = -2.0
    hi: float = 2.0
    inputs: tuple = None  # fixed float arrays instead of random ones
    f32: bool = True  # also compare in float32
    grad: bool = True


def _idx(*a):
    return np.array(a, dtype=np.int64)


RNG = np.random.default_rng(0)
MASK = RNG.random((3, 4)) > 0.5
GATHER = RNG.integers(0, 4, (3, 5))
TARGETS = np.array([1, 0, 3])
TARGETS_IGN = np.array([1, -100, 3])

CASES = {
    # ---- arithmetic and broadcasting
    "add sub mul div broadcast": Case(lambda L, a, b: (a + b) * (a - b) / (b * b + 1.0) - 2.0 / (a * a + 1.0),
                                      ((2, 3, 4), (3, 1))),
    "pow number": Case(lambda L, a: a ** 3 + a ** 2 + (a * a + 1.0) ** 0.5 + (a * a + 0.5) ** -1.5, ((3, 4),)),
    "pow tensor": Case(lambda L, a, b: a ** b, ((3, 4), (4,)), lo=0.5),
    "rpow": Case(lambda L, a: 2.0 ** a + 0.5 ** a, ((5,),)),
    "remainder": Case(lambda L, a: a % 0.7 + a % -0.7, ((3, 4),)),
    "maximum minimum": Case(lambda L, a, b: L.lib.maximum(a, b) + L.lib.minimum(a, b) * 2.0 + a.maximum(b), ((3, 4), (4,))),
    # ---- elementwise
    "exp log sqrt": Case(lambda L, a: a.exp() + a.log() + a.sqrt() + a.rsqrt() + a.log2() + a.log10() + a.log1p() + a.expm1(),
                         lo=0.2, hi=3.0),
    "trig erf": Case(lambda L, a: a.sin() + a.cos() * 2.0 + a.erf() * 3.0 + L.lib.erf(a * 0.5)),
    "activations": Case(lambda L, a: a.tanh() + a.sigmoid() + a.relu() + a.abs() + L.F.gelu(a) + L.F.gelu(a, approximate="tanh")),
    "F activations": Case(lambda L, a: L.F.silu(a) + L.F.leaky_relu(a) + L.F.leaky_relu(a, 0.2) + L.F.elu(a) + L.F.elu(a, alpha=0.5)
                          + L.F.softplus(a) + L.F.softplus(a, beta=2.0, threshold=1.0) + L.F.logsigmoid(a), lo=-4, hi=4),
    "rounding has zero gradient": Case(lambda L, a: a.floor() + a.ceil() + a.round() + a.trunc() + a.sign() + a, lo=-3, hi=3),
    "clamp": Case(lambda L, a: a.clamp(-0.5, 0.7) + a.clamp(min=0.1) + a.clamp(max=-0.2) + a.clip(-1, 1) + L.lib.clamp(a, 0.0, 0.5)),
    "square reciprocal": Case(lambda L, a: a.square() + a.reciprocal(), lo=0.5),
    # ---- reductions
    "sum mean var std": Case(lambda L, a: a.sum(dim=(0, 2)) + a.mean(2, keepdim=True).sum((0, 2)) + a.var(dim=(0, 2))
                             + a.std(dim=(0, 2), correction=0) + a.std(0).sum(1) + a.var(dim=2, unbiased=False).mean(0),
                             ((2, 3, 4),)),
    "prod": Case(lambda L, a: a.prod(1) + a.prod(), ((3, 4),)),
    "prod with zeros": Case(lambda L, a: a.prod(1) + a.prod(0).sum(), inputs=(np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, 2.0, -1.0]]),)),
    "norm": Case(lambda L, a: a.norm() + a.norm(dim=1) + a.norm(1, dim=0).sum() + a.norm(3, dim=1, keepdim=True).sum()),
    "norm of zeros": Case(lambda L, a: a.norm(dim=1) + L.F.normalize(a, dim=1).sum(1), inputs=(np.array([[0.0, 0.0], [3.0, 4.0]]),)),
    "logsumexp cumsum": Case(lambda L, a: a.logsumexp(1) + a.logsumexp(dim=(0, 1)) + a.cumsum(1).sum(0)[:3] + a.cumsum(0)[-1, :3],
                             ((3, 4),)),
    "max min with dim": Case(lambda L, a: a.max(1).values + a.min(dim=1, keepdim=True).values.squeeze(1) + a.max() + a.amax(1) + a.amin(1)),
    "max ties split evenly": Case(lambda L, a: a.max() + a.amax(1).sum() + a.amin(0).sum(),
                                  inputs=(np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 1.0]]),)),
    "argmax argmin": Case(lambda L, a: a.argmax(1) + a.argmin(dim=1, keepdim=True).squeeze(1) * 10 + a.argmax() + a.argmin(0)[:3], grad=False),
    "sort topk": Case(lambda L, a: a.sort(1).values + a.sort(1, descending=True).values * 2.0 + a.topk(4, 1).values
                      + a.topk(4, dim=1, largest=False).values, ((3, 4),)),
    "sort indices": Case(lambda L, a: a.sort(0).indices * 10 + a.topk(3, 0).indices + a.sort(1, descending=True).indices[:, :1], ((3, 4),), grad=False),
    "all any": Case(lambda L, a: (a > 0).all(1).long() + (a > 0).any(dim=1).long() * 2 + (a > 0).all().long(), grad=False),
    "isnan isinf isfinite": Case(lambda L, a: (a.log().isnan().long() + a.reciprocal().isinf().long() * 2
                                               + a.log().isfinite().long() * 4), inputs=(np.array([[-1.0, 0.0, 2.0]]),), grad=False),
    # ---- softmax family and losses
    "softmax family": Case(lambda L, a: L.F.softmax(a * 3.0, dim=1) + L.F.log_softmax(a, dim=-1) + a.softmax(0) + a.log_softmax(-1),
                           ((2, 3, 5),)),
    "cross_entropy label smoothing": Case(lambda L, a: L.F.cross_entropy(a, L.ints(TARGETS), label_smoothing=0.1)
                                          + L.F.cross_entropy(a, L.ints(TARGETS_IGN), label_smoothing=0.3, reduction="sum"),
                                          ((3, 4),)),
    "cross_entropy probabilities": Case(lambda L, a, p: L.F.cross_entropy(a, p.softmax(-1)) + L.F.cross_entropy(a, p.softmax(-1), label_smoothing=0.2, reduction="none").sum(),
                                        ((3, 4), (3, 4))),
    "nll_loss": Case(lambda L, a: L.F.nll_loss(L.F.log_softmax(a, -1), L.ints(TARGETS)) + L.F.nll_loss(a, L.ints(TARGETS_IGN), reduction="sum")
                     + L.F.nll_loss(a, L.ints(TARGETS), reduction="none").sum(), ((3, 4),)),
    "binary cross entropy": Case(lambda L, p, y: L.F.binary_cross_entropy(p, y) + L.F.binary_cross_entropy(p, y, reduction="sum"),
                                 ((3, 4), (3, 4)), lo=0.05, hi=0.95),
    "bce with logits": Case(lambda L, x, y: L.F.binary_cross_entropy_with_logits(x, y.sigmoid())
                            + L.F.binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=L.const([0.5, 1.0, 2.0, 3.0], x), reduction="sum"),
                            ((3, 4), (3, 4)), lo=-4, hi=4),
    "mse linear layer_norm": Case(lambda L, x, w, b: L.F.layer_norm(L.F.linear(x, w, b), (5,)) + L.F.mse_loss(x @ w.T, L.F.linear(x, w)),
                                  ((2, 3, 4), (5, 4), (5,))),
    "one_hot": Case(lambda L, a: L.F.one_hot(L.ints([0, 2, 1, 2]), 4) + L.F.one_hot(L.ints([[1], [0]])).sum(), grad=False),
    "pad": Case(lambda L, a: L.F.pad(a, (1, 2, 0, 1), value=0.5).sum(0) + L.F.pad(a, (-1, 0, 1, 1)).sum(0)[:1]
                + L.F.pad(a, (1, 2)).sum(0), ((3, 4),)),
    "normalize": Case(lambda L, a: L.F.normalize(a) + L.F.normalize(a, p=1.0, dim=0) + L.F.normalize(a, dim=-1)),
    # ---- shapes and indexing
    "reshape permute transpose": Case(lambda L, a: a.permute(2, 0, 1).reshape(4, 6).transpose(0, 1)[::2] * 2.0
                                      + a.flatten(1).T[:3, :2].sum() + a.unsqueeze(0).squeeze(0).mT.sum(), ((2, 3, 4),)),
    "repeat flip roll": Case(lambda L, a: a.repeat(2, 1, 2).sum(0) + a.flip(0).repeat(1, 2) + a.flip(0, 1).roll(1, 0).repeat(1, 2)
                             + a.roll(3).repeat(1, 2) + a.roll((1, -1), (0, 1)).repeat(1, 2), ((3, 2),)),
    "tril triu": Case(lambda L, a: a.tril() + a.triu(1) * 2.0 + a.tril(-1) * 3.0 + L.lib.tril(a, 2) + a.triu(-2), ((4, 5),)),
    "gather scatter_add index_select": Case(lambda L, a, s: a.gather(1, L.ints(GATHER)).sum(1) + a.scatter_add(1, L.ints(GATHER), s).sum(1)
                                            + a.index_select(1, L.ints([3, 0, 3])).sum(1), ((3, 4), (3, 5))),
    "getitem": Case(lambda L, a: a[L.ints([2, 0, 2]), 1:3].sum(1) + a[1] .sum() + a[:, L.t(MASK[0])].sum(1)[:3] + a[a > 0.5].sum(), ((3, 4),)),
    "int + slice + array index (PyTorch's axis order)": Case(lambda L, a: a[0, :, L.ints([3, 1, 1])] + a[1, 1:, L.ints([0, 2, 3])].sum(),
                                                              ((2, 3, 4),)),
    "int + array + array index": Case(lambda L, a: a[1, L.ints([0, 2]), L.ints([3, 1])] + a[:, 0, L.ints([1, 2])].sum(0), ((2, 3, 4),)),
    "split chunk unbind cat stack where": Case(lambda L, a, b: L.lib.cat([L.lib.stack([a, b], 1).sum(1),
                                                                          L.lib.where(L.t(MASK), a, b * 2.0), a.masked_fill(L.t(MASK), 0.5)], 0).split(5, 0)[1]
                                               + L.lib.stack(a.chunk(2, 1)[:1] * 2, 0).sum(0).sum(1).sum() + a.unbind(1)[2].sum(), ((3, 4), (3, 4))),
    "matmul kinds": Case(lambda L, a, b, c: (a @ b).sum(0) + (a[0, 0] @ c) + (b[0].T @ c[:, 0]).sum(), ((2, 1, 3, 4), (3, 4, 5), (4, 5))),
    "einsum": Case(lambda L, a, b, v: L.lib.einsum("bij,jk->bik", a, b).sum(0) + L.lib.einsum("ij->", a[0]) + L.lib.einsum("...j,j", a, b[:, 0]).sum(0)[:, None]
                   + L.lib.einsum("i,j->ij", v, v)[:3, :2] + L.lib.einsum("bij,bij->b", a, a).sum(), ((2, 3, 4), (4, 2), (5,))),
    "embedding": Case(lambda L, w: L.F.embedding(L.ints([[0, 5, 5, 1], [2, 2, 3, 4]]), w), ((6, 3),)),
    "attention with masks": Case(lambda L, q, k, v: L.F.scaled_dot_product_attention(q, k, v, attn_mask=L.t(np.tril(np.ones((5, 5), bool))))
                                 + L.F.scaled_dot_product_attention(q, k, v, attn_mask=L.const(np.where(np.tril(np.ones((5, 5), bool)), 0.0, -1.5), q), scale=0.3),
                                 ((2, 3, 5, 4),) * 3),
    "attention": Case(lambda L, q, k, v: L.F.scaled_dot_product_attention(q, k, v, is_causal=True) + L.F.scaled_dot_product_attention(q, k, v),
                      ((2, 3, 5, 4),) * 3),
    # ---- edge cases ----------------------------------------------------------------------------
    "pow at base 0": Case(lambda L, a: a ** 2 + a ** 3 + a ** 0 + a ** 1, inputs=(np.array([0.0, 1.5, -2.0]),)),
    "pow at base 0 with a tensor exponent": Case(lambda L, a, b: a ** b, inputs=(np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 2.0, 3.5, 1.5]))),
    "0 ** x": Case(lambda L, a: 0.0 ** a, inputs=(np.array([0.0, 1.0, 2.5, 3.0]),)),
    "(-2) ** x integer exponents": Case(lambda L, a: (-2.0) ** a, inputs=(np.array([0.0, 1.0, 2.0, 3.0]),)),
    "negative base, fractional power": Case(lambda L, a: a ** 0.5 + a ** 2.0, inputs=(np.array([-1.0, 4.0]),)),
    "sqrt log at 0": Case(lambda L, a: a.sqrt() + a.log() * 0.0 + a.abs() + a.relu(), inputs=(np.array([0.0, 1.0]),)),
    "1-D @ 1-D is 0-d": Case(lambda L, a, b: a @ b, ((4,), (4,))),
    "1-D @ 2-D and 2-D @ 1-D": Case(lambda L, a, b: (a @ b) + (b.T @ a), ((4,), (4, 3))),
    "matmul with K = 0": Case(lambda L, a, b: a @ b, ((3, 0), (0, 2))),
    "matmul with M = 0": Case(lambda L, a, b: a @ b, ((0, 3), (3, 2))),
    "matmul batched with an empty batch": Case(lambda L, a, b: a @ b, ((0, 2, 3), (3, 4))),
    "linear with no inputs (in_features = 0)": Case(lambda L, x, w, b: L.F.linear(x, w, b), ((2, 0), (4, 0), (4,))),
    "linear on an empty batch": Case(lambda L, x, w, b: L.F.linear(x, w, b), ((0, 3), (4, 3), (4,))),
    "softmax of 0-d": Case(lambda L, a: L.F.softmax(a, dim=0) + L.F.log_softmax(a, dim=-1) * 2.0 + a.softmax(-1), ((),)),
    "softmax over an empty dim": Case(lambda L, a: L.F.softmax(a, dim=1) + L.F.log_softmax(a, dim=1), ((2, 0),)),
    "softmax along a dim of an empty tensor": Case(lambda L, a: L.F.softmax(a, dim=1) + L.F.log_softmax(a, dim=-1), ((0, 3),)),
    "var backward N = correction": Case(lambda L, a: a.var() + a.var(dim=0).sum(), ((1, 3),)),
    "var backward N < correction": Case(lambda L, a: a.var(dim=1, correction=2) + a.std(dim=1, correction=3), ((3, 2),)),
    "std of a constant": Case(lambda L, a: a.std(1), inputs=(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]]),)),
    "sum(-1) on 0-d": Case(lambda L, a: a.sum(-1) + a.sum(0) + a.mean(-1) + a.sum(dim=0, keepdim=True) + a.max(-1).values + a.cumsum(0), ((),)),
    "reductions over empty": Case(lambda L, a: a.sum(1) + a.logsumexp(1) + a.prod(1), ((3, 0),)),
    "mean over empty is nan": Case(lambda L, a: a.mean(1), ((3, 0),)),
    "0-d ops": Case(lambda L, a: a.exp() * a.sin() + a.flip(0) + a.unsqueeze(0)[0] + a.reshape(1, 1).squeeze() + a.sort().values, ((),)),
    "size-1 dims broadcast": Case(lambda L, a, b: (a * b).sum(1, keepdim=True) + (a - b).amax(0), ((1, 3, 1), (2, 1, 4))),
    "logsumexp with -inf": Case(lambda L, a: (a.log()).logsumexp(1), inputs=(np.array([[0.0, 0.0], [0.0, 1.0]]),)),
    "cross_entropy with every target ignored is nan": Case(lambda L, a: L.F.cross_entropy(a, L.ints([-100, -100, -100])), ((3, 4),)),
    "bce at p = 0 and 1 (log clamped at -100)": Case(lambda L, p, y: L.F.binary_cross_entropy(p, y, reduction="none"),
                                                     inputs=(np.array([0.0, 1.0, 0.5, 1.0]), np.array([1.0, 0.0, 1.0, 1.0]))),
    "clamp at the bounds passes the gradient": Case(lambda L, a: a.clamp(-1.0, 1.0), inputs=(np.array([-1.0, 1.0, 0.0, 2.0]),)),
    "maximum tie splits the gradient": Case(lambda L, a, b: a.maximum(b) + a.minimum(b), inputs=(np.array([1.0, 2.0]), np.array([1.0, 3.0]))),
}


# ---- dtype promotion and values of integer/bool ops: (ours, theirs) give the same dtype and values

def _promotion_cases(L):
    i, f64, b = L.t(np.array([1, 2, 3])), L.t(np.array([0.5, 1.5, 2.5])), L.t(np.array([True, False, True]))
    i32 = L.t(np.array([1, 2, 3], dtype=np.int32))
    f32 = L.t(np.array([0.5, 1.5, 2.5], dtype=np.float32))
    z64 = L.t(np.array(2.0))  # a 0-d float64 tensor
    zi = L.t(np.array(2))  # a 0-d int64
    return {
        "int / int": i / 2, "int / int tensor": i / i, "int + float": i + 0.5, "int * float": i * 2.5,
        "int + int": i + 1, "int ** 2": i ** 2, "int ** 0.5": i ** 0.5, "2 ** int": 2 ** i, "2.5 ** int": 2.5 ** i,
        "int32 + int64 0-d": i32 + zi, "int32 + int64": i32 + i, "float32 + float64 0-d": f32 + z64,
        "int + float64 0-d": i + z64, "int + float32": i + f32, "float32 + float64": f32 + f64,
        "bool + bool": b + b, "bool * bool": b * b, "bool + 1": b + 1, "bool + 0.5": b + 0.5, "bool / bool": b / b,
        "bool & bool": b & L.t(np.array([True, True, False])), "~bool": ~b, "int // 2": i // 2, "int % 2": i % 2,
        "int sum": i.sum(), "bool sum": b.sum(), "int cumsum": i.cumsum(0), "int prod": i.prod(), "int exp": i.exp(),
        "int sqrt": i.sqrt(), "int sigmoid": i.sigmoid(), "int abs": (-i).abs(), "int clamp": i.clamp(0, 2),
        "int max": i.max(), "int == float": i == f64, "float < int": f64 < i, "int @ int": i @ i,
        "arange ints": L.lib.arange(5), "arange floats": L.lib.arange(0, 1, 0.25), "arange float stop": L.lib.arange(2.5),
        "full int": L.lib.full((2,), 3), "full float": L.lib.full((2,), 3.0), "full bool": L.lib.full((2,), True),
        "zeros_like int": L.lib.zeros_like(i), "ones_like float": L.lib.ones_like(f32), "eye": L.lib.eye(3),
        "eye n m": L.lib.eye(2, 3), "tensor of ints": L.tensor([1, 2]), "tensor of floats": L.tensor([1.0, 2.0]),
        "tensor of bools": L.tensor([True]), "int where": L.lib.where(b, i, 0), "int floor": i.floor(),
        "int sign": (-i).sign(), "argmax": f64.argmax(), "bool any": b.any(), "isnan of ints": i.isnan(),
    }


@pytest.mark.parametrize("name", sorted(_promotion_cases(Ours)))
def test_dtype_promotion_matches_torch(name):
    ours, theirs = _promotion_cases(Ours)[name], _promotion_cases(Torch)[name]
    expected = theirs.numpy()
    assert ours.dtype == expected.dtype, f"{name}: we give {ours.dtype}, PyTorch {expected.dtype}"
    np.testing.assert_allclose(ours.data, expected, rtol=1e-6)


DTYPES = [np.bool_, np.uint8, np.int32, np.int64, np.float32, np.float64]
BINARY = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b, "==": lambda a, b: a == b, "<": lambda a, b: a < b,
    "maximum": lambda a, b: a.maximum(b) if hasattr(a, "maximum") else b.maximum(a),
}


@st.composite
def operand(draw, shape):
    """A tensor of a random dtype and ``shape`` (0-d included), or a Python number."""
    kind = draw(st.sampled_from(["tensor", "tensor", "int", "float", "bool"]))
    if kind == "int":
        return draw(st.integers(1, 3))
    if kind == "float":
        return draw(st.sampled_from([0.5, 1.5, 2.0]))
    if kind == "bool":
        return draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    elements = st.booleans() if dtype == np.bool_ else st.integers(1, 3)
    return draw(hnp.arrays(dtype, shape, elements=elements)).astype(dtype)


def _wrap(x, make):
    return make(x) if isinstance(x, np.ndarray) else x


@given(st.sampled_from(sorted(BINARY)), st.sampled_from([(), (3,), (2, 3)]), st.sampled_from([(), (3,)]), st.data())
def test_type_promotion_matches_torch_on_random_dtypes(op, sa, sb, data):
    a, b = data.draw(operand(sa)), data.draw(operand(sb))
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        a = np.asarray(a)
        if a.dtype == np.float64:
            a = a.astype(np.float32)  # (a Python float becomes a float32 tensor in both)
    fn = BINARY[op]
    try:
        expected = fn(_wrap(a, torch.from_numpy), _wrap(b, torch.from_numpy))
    except TypeError:  # a signature limit of PyTorch's (torch.maximum wants two tensors); we accept more
        return
    except RuntimeError:  # PyTorch refuses (bool - bool, int ** -1, ...): so do we
        with pytest.raises((TypeError, ValueError)):
            fn(_wrap(a, mp.from_numpy), _wrap(b, mp.from_numpy))
        return
    if not isinstance(expected, torch.Tensor):
        return
    ours = fn(_wrap(a, mp.from_numpy), _wrap(b, mp.from_numpy))
    e = expected.numpy()
    assert ours.dtype == e.dtype, f"{a!r} {op} {b!r}: we give {ours.dtype}, PyTorch {e.dtype}"
    if e.dtype.kind == "f":
        np.testing.assert_allclose(ours.data, e, rtol=1e-6)
    else:
        np.testing.assert_array_equal(ours.data, e)


# ---- float ops: values and gradients in float64 and float32


def _inputs(case, name, dtype):
    if case.inputs is not None:
        return [np.asarray(a, dtype=dtype) for a in case.inputs]
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # the same numbers in every run
    return [rng.uniform(case.lo, case.hi, s).astype(dtype) for s in case.shapes]


def _run(case, L, arrays, make):
    xs = [make(a) for a in arrays]
    with np.errstate(all="ignore"):
        out = case.fn(L, *xs)
    return xs, out


def _compare(name, dtype):
    case = CASES[name]
    if dtype == np.float32 and not case.f32:
        pytest.skip("float64 only")
    arrays = _inputs(case, name, dtype)
    grad = case.grad
    mine, out = _run(case, Ours, arrays, lambda a: tensor(a.copy(), requires_grad=grad))
    ref, out_ref = _run(case, Torch, arrays, lambda a: torch.tensor(a, requires_grad=grad))
    expected = out_ref.detach().numpy()
    tight = dtype == np.float64
    rtol, atol = (1e-9, 1e-11) if tight else (2e-5, 2e-6)
    assert out.shape == expected.shape, f"shape {out.shape}, PyTorch {expected.shape}"
    assert out.dtype == expected.dtype, f"dtype {out.dtype}, PyTorch {expected.dtype}"
    np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not grad or not out_ref.requires_grad:
        return
    w = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(w)
    out_ref.backward(torch.from_numpy(w))
    rtol, atol = (1e-8, 1e-10) if tight else (2e-4, 2e-5)
    for i, (m, r) in enumerate(zip(mine, ref)):
        expected_grad = np.zeros_like(arrays[i]) if r.grad is None else r.grad.numpy()
        got = np.zeros_like(arrays[i]) if m.grad is None else m.grad
        assert got.dtype == expected_grad.dtype, f"input {i}: gradient dtype {got.dtype}, PyTorch {expected_grad.dtype}"
        np.testing.assert_allclose(got, expected_grad, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_float64(name):
    _compare(name, np.float64)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_float32(name):
    _compare(name, np.float32)


# ---- errors: where PyTorch refuses, we refuse (with our own clear message)


ERRORS = {
    "squeeze(50) on 4-d": (lambda L: L.t(np.ones((1, 2, 1, 3))).squeeze(50), IndexError),
    "squeeze(-5) on 4-d": (lambda L: L.t(np.ones((1, 2, 1, 3))).squeeze(-5), IndexError),
    "unsqueeze(6) on 4-d": (lambda L: L.t(np.ones((1, 2, 1, 3))).unsqueeze(6), IndexError),
    "unsqueeze(-6) on 4-d": (lambda L: L.t(np.ones((1, 2, 1, 3))).unsqueeze(-6), IndexError),
    "sum(1) on 0-d": (lambda L: L.t(np.array(1.0)).sum(1), IndexError),
    "softmax(dim=2) on 2-d": (lambda L: L.F.softmax(L.t(np.ones((2, 2))), dim=2), IndexError),
    "transpose(0, 3) on 2-d": (lambda L: L.t(np.ones((2, 2))).transpose(0, 3), IndexError),
    "tensor + str": (lambda L: L.t(np.ones(2)) + "a", TypeError),
    "str * tensor": (lambda L: "a" * L.t(np.ones(2)), TypeError),
    "int ** negative int": (lambda L: L.t(np.array([2, 3])) ** -1, (RuntimeError, ValueError)),
    "topk k too large": (lambda L: L.t(np.ones((2, 3))).topk(4), (RuntimeError, IndexError)),
    "matmul misaligned": (lambda L: L.t(np.ones((2, 3))) @ L.t(np.ones((2, 3))), (RuntimeError, ValueError)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_refused_where_torch_refuses(name):
    fn, ours_error = ERRORS[name]
    with pytest.raises(Exception):
        fn(Torch)
    with pytest.raises(ours_error):
        fn(Ours)


def test_tensor_of_a_string_is_refused_like_torch():
    with pytest.raises((TypeError, ValueError)):
        torch.tensor("abc")
    with pytest.raises(TypeError, match="tensors hold numbers"):
        Tensor("abc")


def test_advanced_index_mixing_int_slice_array_follows_torch_not_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    ours = tensor(a)[0, :, [3, 1]]
    theirs = torch.from_numpy(a)[0, :, [3, 1]].numpy()
    assert ours.shape == theirs.shape == (3, 2) != a[0, :, [3, 1]].shape  # numpy gives (2, 3)
    np.testing.assert_array_equal(ours.data, theirs)


def test_float32_training_ops_match_torch_closely():
    """The float32 path (kernels included) agrees with torch to float32 accuracy."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16, 32)).astype(np.float32)
    w = (rng.standard_normal((24, 32)) * 0.2).astype(np.float32)
    t = rng.integers(0, 24, (4, 16))
    X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    loss = F.cross_entropy(F.gelu(F.linear(F.layer_norm(X, 32), W), approximate="tanh"), t)
    loss.backward()
    Xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    lt = TF.cross_entropy(TF.gelu(TF.linear(TF.layer_norm(Xt, (32,)), Wt), approximate="tanh").reshape(-1, 24),
                          torch.from_numpy(t).reshape(-1))
    lt.backward()
    assert loss.dtype == np.float32 and X.grad.dtype == np.float32
    assert loss.item() == pytest.approx(lt.item(), rel=1e-5)
    np.testing.assert_allclose(X.grad, Xt.grad.numpy(), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-3, atol=1e-6)
