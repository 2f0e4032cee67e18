"""Every differentiable tensor op and functional, checked against central differences.

Each test draws shapes (broadcastable pairs included) and float64 values with hypothesis, builds
a tiny graph and calls :func:`micrograd_plus.gradcheck.gradcheck`, which compares the analytic
backward pass with numerical derivatives. Values are kept away from kinks (0 for relu/abs, ties
for max) where the derivative is undefined.

``@covers(...)`` records which registered op names a test checks; ``test_every_op_is_checked``
fails if an op in the one registry, ``micrograd_plus.autograd.DIFFERENTIABLE_OPS``, has no check,
or if a public Tensor method is neither registered nor declared non-differentiable.
"""

import inspect

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import micrograd_plus.functional as F
import micrograd_plus._tensor as tensor_module
from micrograd_plus.autograd import DIFFERENTIABLE_OPS, Function
from micrograd_plus.gradcheck import gradcheck
from micrograd_plus._tensor import Tensor, cat, einsum, stack, tensor, where

COVERED = set()


def covers(*names):
    COVERED.update(names)
    return lambda fn: fn


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
NONEMPTY_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


@st.composite
def values(draw, shape, lo=-2.0, hi=2.0):
    """A float64 array of ``shape`` with entries in [lo, hi]."""
    return draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False)))


def away_from_zero(x, gap=0.1):
    """Push entries out of (-gap, gap): keeps relu/abs away from their kink."""
    return np.where(x >= 0, x + gap, x - gap)


def distinct(shape, seed):
    """Entries with pairwise gaps of at least 0.1 (no ties for max/min), in random order."""
    n = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(seed)
    return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(-0.02, 0.02, n)).reshape(shape)


def fits_one_layout(lead, C):
    """False when logits ``lead + (C,)`` with targets ``lead`` also read as PyTorch's classes-in-dim-1
    layout (e.g. (N, C, C) with (N, C)): F.cross_entropy refuses those in one line."""
    return len(lead) < 2 or lead != lead[:1] + lead[2:] + (C,)


def leaf(x):
    return tensor(np.array(x, dtype=np.float64), requires_grad=True)


# ---- elementwise binary, with broadcasting ---------------------------------------------------


@covers("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__")
@given(PAIRS, st.data())
def test_add_sub_mul_broadcast(shapes, data):
    sa, sb = shapes.input_shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))
    gradcheck(lambda a, b: a + b, [a, b])
    gradcheck(lambda a, b: a - b, [a, b])
    gradcheck(lambda a, b: a * b, [a, b])
    gradcheck(lambda a, b: 2.5 + a - 1.5 * b + b * 3.0 - 0.5 - (1.0 - a), [a, b])
    c = b.numpy().copy()  # a constant array
    gradcheck(lambda a: c + a, [a])  # ndarray + Tensor goes to Tensor.__radd__
    gradcheck(lambda a: c * a - c, [a])  # __rmul__, and __sub__ with an array
    gradcheck(lambda a: c - a, [a])  # __rsub__ with an array


@covers("__truediv__", "__rtruediv__")
@given(PAIRS, st.data())
def test_div_broadcast(shapes, data):
    sa, sb = shapes.input_shapes
    a = leaf(data.draw(values(sa)))
    b = leaf(away_from_zero(data.draw(values(sb, 0.5, 2.0)), 0.0))
    gradcheck(lambda a, b: a / b, [a, b])
    gradcheck(lambda b: 3.0 / b + b / 4.0, [b])
    gradcheck(lambda b: np.ones(b.shape) / b, [b])


@covers("__pow__", "__rpow__")
@given(PAIRS, st.data(), st.sampled_from([2, 3, 0.5, -1.5, 1]))
def test_pow(shapes, data, p):
    sa, sb = shapes.input_shapes
    a = leaf(data.draw(values(sa, 0.5, 2.0)))  # positive base: fractional powers and log(a)
    b = leaf(data.draw(values(sb, -1.5, 1.5)))
    gradcheck(lambda a: a**p, [a])
    gradcheck(lambda a, b: a**b, [a, b])
    gradcheck(lambda b: 2.0**b, [b])


@covers("__neg__")
@given(SHAPES.flatmap(values))
def test_neg(x):
    gradcheck(lambda x: -x, [leaf(x)])


@covers("astype", "float", "double")
@given(SHAPES.flatmap(values))
def test_casts(x):
    # float64 -> float32 -> float64 loses precision, so check the round trip loosely and the
    # float64 identity cast tightly.
    gradcheck(lambda x: x.double() * 2.0, [leaf(x)])
    gradcheck(lambda x: x.float().double(), [leaf(x)], atol=1e-3, rtol=1e-2, eps=1e-3)
    gradcheck(lambda x: x.astype(np.float32).astype(np.float64), [leaf(x)], atol=1e-3, rtol=1e-2, eps=1e-3)


# ---- elementwise unary ------------------------------------------------------------------------


@covers("exp", "tanh", "sigmoid", "gelu")
@given(SHAPES.flatmap(lambda s: values(s, -3.0, 3.0)))
def test_smooth_unary(x):
    gradcheck(lambda x: x.exp(), [leaf(x)])
    gradcheck(lambda x: x.tanh(), [leaf(x)])
    gradcheck(lambda x: x.sigmoid(), [leaf(x)])
    gradcheck(lambda x: x.gelu(), [leaf(x)])
    gradcheck(lambda x: x.gelu(approximate="tanh"), [leaf(x)])


@covers("log", "sqrt")
@given(SHAPES.flatmap(lambda s: values(s, 0.2, 3.0)))
def test_positive_domain_unary(x):
    gradcheck(lambda x: x.log(), [leaf(x)])
    gradcheck(lambda x: x.sqrt(), [leaf(x)])


@covers("relu", "abs")
@given(SHAPES.flatmap(values))
def test_kinked_unary(x):
    x = away_from_zero(x)
    gradcheck(lambda x: x.relu(), [leaf(x)])
    gradcheck(lambda x: x.abs(), [leaf(x)])


# ---- reductions ------------------------------------------------------------------------------


@st.composite
def shape_and_axis(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=3))
    nd = len(shape)
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-nd, nd - 1) if nd else st.none(),
            st.lists(st.integers(0, nd - 1), unique=True, max_size=nd).map(tuple) if nd else st.none(),
        )
    )
    return shape, axis, draw(st.booleans())


@covers("sum", "mean")
@given(shape_and_axis(), st.data())
def test_sum_mean(sak, data):
    shape, axis, keepdims = sak
    x = leaf(data.draw(values(shape)))
    gradcheck(lambda x: x.sum(axis=axis, keepdims=keepdims), [x])
    gradcheck(lambda x: x.mean(axis=axis, keepdims=keepdims), [x])


@covers("max", "min")
@given(shape_and_axis(), st.integers(0, 2**16))
def test_max_min_without_ties(sak, seed):
    shape, axis, keepdims = sak
    x = leaf(distinct(shape, seed))
    values = (lambda r: r.values) if isinstance(axis, int) else (lambda r: r)  # an int axis is dim
    gradcheck(lambda x: values(x.max(axis=axis, keepdims=keepdims)), [x])
    gradcheck(lambda x: values(x.min(axis=axis, keepdims=keepdims)), [x])


@covers("var")
@given(shape_and_axis(min_dims=1), st.data(), st.sampled_from([0, 1]))
def test_var(sak, data, correction):
    shape, axis, keepdims = sak
    x = leaf(data.draw(values(shape)))
    n = int(np.prod([shape[a] for a in (range(len(shape)) if axis is None else np.atleast_1d(axis))]))
    if n - correction <= 0:
        return  # variance undefined (division by zero): nothing to check
    gradcheck(lambda x: x.var(axis=axis, keepdims=keepdims, correction=correction), [x])


# ---- shape ops -------------------------------------------------------------------------------


@covers("reshape", "flatten", "unsqueeze", "squeeze")
@given(NONEMPTY_SHAPES.flatmap(values))
def test_reshape_family(x):
    t = leaf(x)
    gradcheck(lambda t: t.reshape(-1) * np.arange(x.size), [t])
    gradcheck(lambda t: t.view(x.size, 1).reshape(x.shape), [t])
    gradcheck(lambda t: t.flatten() * 2.0, [t])
    gradcheck(lambda t: t.unsqueeze(0).unsqueeze(-1).squeeze(), [t])
    gradcheck(lambda t: t.unsqueeze(1).squeeze(1), [t])


@covers("permute", "transpose", "T", "mT")
@given(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3).flatmap(values), st.data())
def test_permute_transpose(x, data):
    nd = x.ndim
    perm = tuple(data.draw(st.permutations(range(nd))))
    w = np.random.default_rng(1).standard_normal(x.shape)  # makes each element's role distinct
    gradcheck(lambda t: t.permute(*perm), [leaf(x)])
    gradcheck(lambda t: (t * w).transpose(0, -1), [leaf(x)])
    gradcheck(lambda t: (t * w).T, [leaf(x)])
    gradcheck(lambda t: (t * w).mT, [leaf(x)])


@covers("expand")
@given(PAIRS, st.data())
def test_expand(shapes, data):
    sa, sb = shapes.input_shapes
    target = np.broadcast_shapes(sa, sb)
    gradcheck(lambda t: t.expand(*target) if target else t.expand(()), [leaf(data.draw(values(sa)))])


@st.composite
def basic_index(draw, shape):
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.integers(0, n - 1))
            parts.append(slice(start, draw(st.integers(start + 1, n)), draw(st.integers(1, 2))))
        else:
            parts.append(slice(None))
    return tuple(parts)


@covers("__getitem__")
@given(NONEMPTY_SHAPES, st.data())
def test_getitem(shape, data):
    x = leaf(data.draw(values(shape)))
    idx = data.draw(basic_index(shape))
    gradcheck(lambda t: t[idx], [x])
    # integer-array gather with repeats: backward must scatter-ADD
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=5)))
    gradcheck(lambda t: t[rows], [x])
    gradcheck(lambda t: t[tensor(rows)], [x])
    gradcheck(lambda t: t[..., None], [x])
    mask = data.draw(hnp.arrays(np.bool_, shape))
    gradcheck(lambda t: t[mask], [x])


@covers("split", "chunk")
@given(NONEMPTY_SHAPES, st.data())
def test_split_chunk(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    x = leaf(data.draw(values(shape)))
    size = data.draw(st.integers(1, shape[dim]))

    def f(t):
        pieces = t.split(size, dim=dim)  # scaled differently, so a mixed-up piece would show
        return cat([p * (i + 1.0) for i, p in enumerate(pieces)], dim)

    gradcheck(f, [x])
    gradcheck(lambda t: t.split([shape[dim]], dim=dim)[0] * 2.0, [x])
    gradcheck(lambda t: cat(list(t.chunk(2, dim)), dim) * 3.0, [x])


@covers("cat", "stack")
@given(NONEMPTY_SHAPES, st.data())
def test_cat_stack(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    other = list(shape)
    other[dim] = data.draw(st.integers(1, 3))
    a, b = leaf(data.draw(values(shape))), leaf(data.draw(values(tuple(other))))
    c = leaf(data.draw(values(shape)))
    gradcheck(lambda a, b: cat([a, b * 2.0, a], dim=dim), [a, b])
    gradcheck(lambda a, c: stack([a, c * 3.0], dim=dim), [a, c])
    gradcheck(lambda a: stack([a, a], dim=-1), [a])


@covers("where", "masked_fill")
@given(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), st.data())
def test_where_masked_fill(shapes, data):
    sc, sa, sb = shapes.input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc))
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))
    gradcheck(lambda a, b: where(cond, a, b), [a, b])
    gradcheck(lambda a: where(tensor(cond), a, 0.5), [a])
    full = np.broadcast_shapes(sa, sc)
    a_full = leaf(data.draw(values(full)))
    gradcheck(lambda a: a.masked_fill(cond, -3.0), [a_full])


# ---- in-place ops inside a graph -------------------------------------------------------------
# y = 1.5 * x is changed in place by the op, then used again: the gradient must reach x (through
# the op's "old" input) and the other operand, exactly as if the op had been written out of place.


def _then_used(op):
    def f(x, o):
        y = x * 1.5
        op(y, o)
        return y * x  # x was saved by the first mul and never changed: legal
    return f


INPLACE_BINARY = {
    "add_": lambda y, o: y.add_(o, alpha=0.5),
    "sub_": lambda y, o: y.sub_(o),
    "mul_": lambda y, o: y.mul_(o),
    "div_": lambda y, o: y.div_(o),
    "lerp_": lambda y, o: y.lerp_(o, 0.25),
    "addcmul_": lambda y, o: y.addcmul_(o, o, value=0.5),
    "addcdiv_": lambda y, o: y.addcdiv_(o * o, o, value=2.0),
    "copy_": lambda y, o: y.copy_(o),
    "fill_": lambda y, o: y.fill_(o.sum()),
}


@covers(*INPLACE_BINARY)
@given(NONEMPTY_SHAPES, st.data())
def test_inplace_binary_ops_inside_a_graph(shape, data):
    small = data.draw(hnp.broadcastable_shapes(shape, max_dims=len(shape))
                      .filter(lambda s: np.broadcast_shapes(s, shape) == tuple(shape)))
    x = leaf(data.draw(values(shape)))
    o = leaf(away_from_zero(data.draw(values(small))))
    for op in INPLACE_BINARY.values():
        gradcheck(_then_used(op), [x, o])


INPLACE_UNARY = {
    "neg_": lambda y: y.neg_(), "abs_": lambda y: y.abs_(), "exp_": lambda y: y.exp_(),
    "tanh_": lambda y: y.tanh_(), "sigmoid_": lambda y: y.sigmoid_(), "relu_": lambda y: y.relu_(),
    "log_": lambda y: (y.mul_(y).add_(1.0)).log_(), "sqrt_": lambda y: (y.mul_(y).add_(1.0)).sqrt_(),
    "pow_": lambda y: y.pow_(3), "clamp_": lambda y: y.clamp_(-1.0, 1.0),
    "masked_fill_": lambda y: y.masked_fill_(y.detach() > 0.5, 0.25),
}


@covers(*INPLACE_UNARY)
@given(NONEMPTY_SHAPES, st.data())
def test_inplace_unary_ops_inside_a_graph(shape, data):
    x0 = away_from_zero(data.draw(values(shape)))  # relu/abs kinks at 0
    x0 = np.where(np.abs(np.abs(1.5 * x0) - 1.0) < 0.05, x0 + 0.1, x0)  # clamp's kinks at 1.5 x = +-1
    x0 = np.where(np.abs(1.5 * x0 - 0.5) < 0.05, x0 + 0.1, x0)  # masked_fill's threshold
    x = leaf(x0)
    for op in INPLACE_UNARY.values():
        gradcheck(_then_used(lambda y, o: op(y)), [x, leaf(np.zeros(()))])


@covers("__setitem__")
@given(NONEMPTY_SHAPES, st.data())
def test_setitem_inside_a_graph(shape, data):
    x, o = leaf(data.draw(values(shape))), leaf(data.draw(values(shape)))
    idx = data.draw(basic_index(shape))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=3, unique=True)))

    def put(index, value):
        def f(x, o):
            y = x * 1.5
            y[index] = value(o)
            return y * x
        return f

    gradcheck(put(idx, lambda o: o[idx] * 2.0), [x, o])  # ints and slices, a tensor value
    gradcheck(put(mask, lambda o: o.sum()), [x, o])  # a boolean mask, one value broadcast
    gradcheck(put(rows, lambda o: o[rows]), [x, o])  # an index array
    gradcheck(put((Ellipsis, slice(0, 1)), lambda o: o[..., :1]), [x, o])

    def into_constant(x, o):  # a buffer that needs no grad receives values that do
        buf = tensor(np.zeros(shape))
        buf[mask] = (x * o)[mask]
        return buf
    gradcheck(into_constant, [x, o])


# ---- matmul ----------------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    kind = draw(st.sampled_from(["2d", "lead", "batched", "broadcast", "vec-left", "vec-right", "mat-batched"]))
    if kind == "2d":
        return (m, k), (k, n)
    if kind == "lead":
        return (2, 3, m, k)[draw(st.integers(0, 2)) :], (k, n)
    if kind == "batched":
        return (2, m, k), (2, k, n)
    if kind == "broadcast":
        return (2, 1, m, k), (3, k, n)
    if kind == "vec-left":
        return (k,), draw(st.sampled_from([(k, n), (2, k, n)]))
    if kind == "vec-right":
        return draw(st.sampled_from([(m, k), (2, m, k)])), (k,)
    return (m, k), (2, k, n)


@covers("matmul", "__matmul__", "__rmatmul__")
@given(matmul_shapes(), st.data())
def test_matmul(shapes, data):
    sa, sb = shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))
    gradcheck(lambda a, b: a @ b, [a, b])
    gradcheck(lambda a, b: a.matmul(b), [a, b])
    gradcheck(lambda b: a.data @ b, [b])  # ndarray @ Tensor -> __rmatmul__


@st.composite
def batched_shapes(draw):
    """Both operands more than 2-D, batch dims that broadcast: equal, size 1, or missing."""
    m, k, n = (draw(st.integers(1, 7)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    ba = [draw(st.sampled_from([size, 1])) for size in batch]
    bb = [draw(st.sampled_from([size, 1])) for size in batch][draw(st.integers(0, len(batch) - 1)):]
    return (*ba, m, k), (*bb, k, n)


@covers("matmul")
@given(batched_shapes(), st.data())
def test_batched_matmul_matrix_by_matrix_on_the_kernels(shapes, data):
    """Batched products whose matrices go one by one to the kernels (large ones do; here the
    hand-off of small ones to numpy's BLAS is turned off so that small shapes take that path)."""
    import importlib

    kernel_module = importlib.import_module("micrograd_plus.kernels.matmul")  # (the package's attribute is the function)

    sa, sb = shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))
    previous = kernel_module.use_blas_for_small(False)
    try:
        gradcheck(lambda a, b: a @ b, [a, b])
    finally:
        kernel_module.use_blas_for_small(previous)


# ---- functional ------------------------------------------------------------------------------


@covers("softmax", "log_softmax", "F.softmax", "F.log_softmax")
@given(shape_and_axis(min_dims=1), st.data())
def test_softmax_family(sak, data):
    shape, _, _ = sak
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = leaf(data.draw(values(shape, -4.0, 4.0)))
    gradcheck(lambda x: F.softmax(x, dim=dim), [x])
    gradcheck(lambda x: F.log_softmax(x, dim=dim), [x])
    gradcheck(lambda x: x.softmax(dim) * 2.0 + x.log_softmax(dim), [x])


@covers("F.relu", "F.gelu", "F.sigmoid", "F.tanh")
@given(SHAPES.flatmap(values))
def test_functional_activations(x):
    x = away_from_zero(x)
    gradcheck(F.relu, [leaf(x)])
    gradcheck(F.gelu, [leaf(x)])
    gradcheck(lambda t: F.gelu(t, approximate="tanh"), [leaf(x)])
    gradcheck(F.sigmoid, [leaf(x)])
    gradcheck(F.tanh, [leaf(x)])


@covers("F.cross_entropy")
@given(
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
    st.integers(1, 5),
    st.sampled_from(["mean", "sum", "none"]),
    st.data(),
)
def test_cross_entropy(lead, C, reduction, data):
    assume(fits_one_layout(lead, C))
    x = leaf(data.draw(values(lead + (C,), -3.0, 3.0)))
    t = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, C - 1)))
    gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), [x])
    ignore = data.draw(hnp.arrays(np.bool_, lead))
    if ignore.all() and reduction == "mean":
        ignore.flat[0] = False  # mean over zero targets is nan by definition
    t_ign = np.where(ignore, -100, t)
    gradcheck(lambda x: F.cross_entropy(x, tensor(t_ign), reduction=reduction), [x])


@covers("F.mse_loss", "F.l1_loss")
@given(SHAPES, st.sampled_from(["mean", "sum", "none"]), st.data())
def test_mse_loss(shape, reduction, data):
    a, b = leaf(data.draw(values(shape))), leaf(data.draw(values(shape)))
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [a, b])
    b_apart = leaf(a.numpy() + away_from_zero(data.draw(values(shape))))  # |a - b| >= 0.1: off the kink
    gradcheck(lambda a, b: F.l1_loss(a, b, reduction=reduction), [a, b_apart])


@covers("F.linear")
@given(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), st.integers(1, 4), st.integers(1, 4), st.booleans(), st.data())
def test_linear(lead, n_in, n_out, with_bias, data):
    x = leaf(data.draw(values(lead + (n_in,))))
    w = leaf(data.draw(values((n_out, n_in))))
    b = leaf(data.draw(values((n_out,))))
    if with_bias:
        gradcheck(lambda x, w, b: F.linear(x, w, b), [x, w, b])
    else:
        gradcheck(lambda x, w: F.linear(x, w), [x, w])


@covers("F.layer_norm")
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.integers(1, 2), st.booleans(), st.data())
def test_layer_norm(shape, k, affine, data):
    k = min(k, len(shape))
    norm_shape = shape[len(shape) - k :]
    if int(np.prod(norm_shape)) < 2:
        norm_shape = (2,)
        shape = shape[:-1] + (2,)
    x = leaf(data.draw(values(shape)))
    w, b = leaf(data.draw(values(norm_shape))), leaf(data.draw(values(norm_shape)))
    # eps=1e-3 keeps 1/std bounded when hypothesis draws nearly constant rows
    if affine:
        gradcheck(lambda x, w, b: F.layer_norm(x, norm_shape, w, b, eps=1e-3), [x, w, b])
    else:
        gradcheck(lambda x: F.layer_norm(x, norm_shape, eps=1e-3), [x])


@covers("F.embedding")
@given(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4), st.integers(1, 5), st.integers(1, 3), st.data())
def test_embedding(idx_shape, V, D, data):
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, V - 1)))
    w = leaf(data.draw(values((V, D))))
    gradcheck(lambda w: F.embedding(idx, w), [w])
    gradcheck(lambda w: F.embedding(tensor(idx), w) * 2.0, [w])


@covers("F.dropout")
@given(SHAPES.flatmap(values), st.sampled_from([0.0, 0.25, 0.5, 0.9]))
def test_dropout(x, p):
    # a fresh generator with the same seed each call: the same mask every time, as gradcheck needs
    gradcheck(lambda t: F.dropout(t, p, training=True, generator=np.random.default_rng(5)), [leaf(x)])
    gradcheck(lambda t: F.dropout(t, p, training=False), [leaf(x)])


@covers("F.scaled_dot_product_attention")
@given(
    st.integers(1, 2), st.integers(1, 2), st.integers(1, 5), st.integers(1, 4),
    st.sampled_from(["causal", "none", "bool-mask", "float-mask", "dropout", "cross"]),
    st.data(),
)
def test_attention(B, H, T, D, mode, data):
    S = data.draw(st.integers(1, 5)) if mode == "cross" else T
    q = leaf(data.draw(values((B, H, T, D))))
    k = leaf(data.draw(values((B, H, S, D))))
    v = leaf(data.draw(values((B, H, S, D))))
    if mode == "causal":  # the fused kernel path
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    elif mode == "none" or mode == "cross":
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7)  # noqa: E731
    elif mode == "bool-mask":
        m = data.draw(hnp.arrays(np.bool_, (T, S)))
        m[:, 0] = True  # every query may see at least one key (else its row is nan, as in torch)
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    elif mode == "float-mask":
        m = data.draw(values((T, S)))
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=tensor(m))  # noqa: E731
    else:
        fn = lambda q, k, v: F.scaled_dot_product_attention(  # noqa: E731
            q, k, v, dropout_p=0.3, is_causal=True, generator=np.random.default_rng(3))
    gradcheck(fn, [q, k, v])


@covers("F.causal_self_attention")
@given(st.integers(1, 2), st.integers(1, 5), st.integers(1, 2), st.integers(1, 3), st.data())
def test_causal_self_attention(B, T, nh, hs, data):
    qkv = leaf(data.draw(values((B, T, 3 * nh * hs))))
    gradcheck(lambda x: F.causal_self_attention(x, nh), [qkv])


@covers("F.attention_weights")
@given(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.booleans(), st.data())
def test_attention_weights(H, T, D, causal, data):
    q, k = leaf(data.draw(values((H, T, D)))), leaf(data.draw(values((H, T, D))))
    gradcheck(lambda q, k: F.attention_weights(q, k, is_causal=causal), [q, k])


# ---- the ops added for PyTorch parity -----------------------------------------------------------
# Shapes here include empty dimensions (side 0) and 0-d tensors wherever the op allows them.

SHAPES_WITH_EMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
PAIRS_WITH_EMPTY = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)


def off_integers(x):
    """Move entries to k + 0.1 .. k + 0.4: away from the jumps of floor/ceil/trunc/sign (at
    integers) and of round (at halves)."""
    return np.floor(x) + 0.1 + 0.3 * (x - np.floor(x))


@covers("sin", "cos", "erf", "expm1", "square", "F.silu", "F.softplus", "F.logsigmoid")
@given(SHAPES_WITH_EMPTY.flatmap(lambda s: values(s, -3.0, 3.0)))
def test_smooth_unary_more(x):
    for fn in (lambda t: t.sin(), lambda t: t.cos(), lambda t: t.erf(), lambda t: t.expm1(), lambda t: t.square(),
               F.silu, F.softplus, lambda t: F.softplus(t, beta=2.0, threshold=1.5), F.logsigmoid):
        gradcheck(fn, [leaf(x)])


@covers("log2", "log10", "log1p", "rsqrt", "reciprocal")
@given(SHAPES_WITH_EMPTY.flatmap(lambda s: values(s, 0.2, 3.0)))
def test_positive_domain_unary_more(x):
    for fn in (lambda t: t.log2(), lambda t: t.log10(), lambda t: t.log1p(), lambda t: t.rsqrt(), lambda t: t.reciprocal()):
        gradcheck(fn, [leaf(x)])


@covers("F.leaky_relu", "F.elu")
@given(SHAPES_WITH_EMPTY.flatmap(values))
def test_kinked_activations(x):
    x = away_from_zero(x)
    gradcheck(F.leaky_relu, [leaf(x)])
    gradcheck(lambda t: F.leaky_relu(t, 0.2), [leaf(x)])
    gradcheck(F.elu, [leaf(x)])
    gradcheck(lambda t: F.elu(t, alpha=0.5), [leaf(x)])


@covers("sign", "floor", "ceil", "round", "trunc")
@given(SHAPES_WITH_EMPTY.flatmap(lambda s: values(s, -3.0, 3.0)))
def test_piecewise_constant_ops_have_zero_gradient(x):
    x = off_integers(x)
    for fn in (lambda t: t.sign() * t, lambda t: t.floor() + t, lambda t: t.ceil() * 2.0,
               lambda t: t.round() - t, lambda t: t.trunc() + t * t):
        gradcheck(fn, [leaf(x)])


@covers("clamp", "clip")
@given(SHAPES_WITH_EMPTY.flatmap(values), st.data())
def test_clamp(x, data):
    lo, hi = -0.5, 0.7
    x = np.where(np.abs(x - lo) < 0.05, x + 0.1, x)  # away from the bounds (the kinks)
    x = np.where(np.abs(x - hi) < 0.05, x + 0.1, x)
    gradcheck(lambda t: t.clamp(lo, hi), [leaf(x)])
    gradcheck(lambda t: t.clamp(min=lo), [leaf(x)])
    gradcheck(lambda t: t.clip(max=hi), [leaf(x)])
    # tensor bounds get the gradient where they were chosen
    b = data.draw(values(x.shape)) + 3.0
    b = np.where(np.abs(x - (b - 3.5)) < 0.1, b + 0.3, b)  # neither bound within 0.1 of x (a kink)
    b = leaf(np.where(np.abs(x - b) < 0.1, b + 0.3, b))
    gradcheck(lambda t, b: t.clamp(min=b - 3.5, max=b), [leaf(x), b])


@covers("maximum", "minimum")
@given(PAIRS_WITH_EMPTY, st.data())
def test_maximum_minimum(shapes, data):
    sa, sb = shapes.input_shapes
    a, b = data.draw(values(sa)), data.draw(values(sb))
    A, B = leaf(a), leaf(b + 0.013)  # an irrational-ish offset: exact ties have probability ~0
    gradcheck(lambda a, b: a.maximum(b), [A, B])
    gradcheck(lambda a, b: a.minimum(b), [A, B])
    gradcheck(lambda a: a.maximum(0.3) + a.minimum(-0.3), [A])


@covers("prod")
@given(shape_and_axis(), st.data(), st.booleans())
def test_prod(sak, data, with_zero):
    shape, axis, keepdims = sak
    x = data.draw(values(shape, -1.5, 1.5))
    if with_zero and x.size:
        x.flat[0] = 0.0  # exactly one zero: the gradient there is the product of the others
    if isinstance(axis, tuple) and not axis:
        axis = None
    gradcheck(lambda t: t.prod(dim=axis, keepdim=keepdims), [leaf(x)])


@covers("std", "norm")
@given(shape_and_axis(min_dims=1), st.data(), st.sampled_from([0, 1]))
def test_std_and_norm(sak, data, correction):
    shape, axis, keepdims = sak
    x = leaf(distinct(shape, data.draw(st.integers(0, 1000))))  # distinct values: std > 0
    n = int(np.prod([shape[a] for a in (range(len(shape)) if axis is None else np.atleast_1d(axis))]))
    if n - correction > 0 and n > 1:
        gradcheck(lambda t: t.std(axis=axis, keepdims=keepdims, correction=correction), [x])
    y = leaf(away_from_zero(data.draw(values(shape)), 0.3))
    for p in (1, 2, 3, np.inf):
        if p == np.inf and np.unique(np.round(np.abs(y.numpy()), 6)).size != y.numpy().size:
            continue  # a tie for the largest magnitude is a kink
        gradcheck(lambda t: t.norm(p, dim=axis, keepdim=keepdims), [y])


@covers("logsumexp", "cumsum")
@given(shape_and_axis(), st.data())
def test_logsumexp_cumsum(sak, data):
    shape, axis, keepdims = sak
    x = leaf(data.draw(values(shape, -3.0, 3.0)))
    if isinstance(axis, tuple) and not axis:
        axis = None
    gradcheck(lambda t: t.logsumexp(dim=axis, keepdim=keepdims), [x])
    dim = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    gradcheck(lambda t: t.cumsum(dim), [x])


@covers("amax", "amin", "sort", "topk")
@given(shape_and_axis(), st.integers(0, 2**16), st.data())
def test_values_with_indices(sak, seed, data):
    shape, axis, keepdims = sak
    x = leaf(distinct(shape, seed))  # no ties: every value has one place to send its gradient
    gradcheck(lambda t: t.amax(dim=axis, keepdim=keepdims) + t.amin(dim=axis, keepdim=keepdims) * 2.0, [x])
    nd = max(len(shape), 1)
    dim = data.draw(st.integers(-nd, nd - 1))
    gradcheck(lambda t: t.max(dim, keepdim=keepdims).values, [x])
    gradcheck(lambda t: t.min(dim=dim).values * 3.0, [x])
    descending = data.draw(st.booleans())
    gradcheck(lambda t: t.sort(dim, descending=descending).values * np.arange(1.0, 1.0 + (shape[dim] if shape else 1)).reshape(
        (-1,) + (1,) * ((len(shape) - 1 - dim % nd) if shape else 0)), [x])
    n = shape[dim] if shape else 1
    k = data.draw(st.integers(0, n))
    gradcheck(lambda t: t.topk(k, dim, largest=descending).values, [x])


@covers("repeat", "flip", "roll", "tril", "triu", "unbind", "clone")
@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3), st.data())
def test_layout_ops(shape, data):
    x = leaf(data.draw(values(shape)))
    rng = np.random.default_rng(2)
    fixed = {}

    def w(shape):  # the same distinct weights for every call with this shape
        return fixed.setdefault(tuple(shape), rng.standard_normal(shape))

    nd = len(shape)
    reps = tuple(data.draw(st.integers(1, 3)) for _ in range(nd + data.draw(st.integers(0, 1))))
    if reps:
        gradcheck(lambda t: t.repeat(*reps) * w(np.tile(x.numpy().reshape((1,) * (len(reps) - nd) + shape), reps).shape), [x])
    dims = tuple(data.draw(st.lists(st.integers(0, max(nd - 1, 0)), unique=True, max_size=nd))) if nd else ()
    gradcheck(lambda t: t.flip(dims) * w(shape), [x])
    gradcheck(lambda t: t.roll(2) * w(shape), [x])
    if nd:
        gradcheck(lambda t: t.roll((1, -1)[: min(nd, 2)], tuple(range(min(nd, 2)))) * w(shape), [x])
        gradcheck(lambda t: stack(list(t.unbind(0)) or [t.sum() * 0.0]), [x]) if shape[0] else None
    if nd >= 2:
        k = data.draw(st.integers(-2, 2))
        gradcheck(lambda t: t.tril(k) * w(shape) + t.triu(k), [x])
    gradcheck(lambda t: t.clone() * 2.0, [x])


@covers("to", "type_as", "__mod__")
@given(SHAPES.flatmap(lambda s: values(s, 0.1, 3.0)))
def test_cast_spellings_and_remainder(x):
    gradcheck(lambda t: t.to(np.float64) * t.type_as(t), [leaf(x)])
    b = leaf(np.full(x.shape, 0.7) + 0.05 * np.arange(x.size).reshape(x.shape))
    a = leaf(off_integers(x) * b.data)  # a / b away from integers: % is smooth there
    gradcheck(lambda a, b: a % b, [a, b])
    c = leaf(off_integers(x) * 0.9)
    gradcheck(lambda c: c % 0.9, [c])


@covers("gather", "scatter_add", "index_select")
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), st.data())
def test_gather_scatter(shape, data):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    x = leaf(data.draw(values(shape)))
    idx_shape = tuple(data.draw(st.integers(0 if i != dim % nd else 0, n if i != dim % nd else 4)) for i, n in enumerate(shape))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, shape[dim] - 1)))
    gradcheck(lambda t: t.gather(dim, idx), [x])  # repeated indices add up in backward
    src = leaf(data.draw(values(idx_shape)))
    gradcheck(lambda t, s: t.scatter_add(dim, tensor(idx), s), [x, src])
    sel = np.array(data.draw(st.lists(st.integers(0, shape[dim] - 1), max_size=4)), dtype=np.int64)
    gradcheck(lambda t: t.index_select(dim, sel), [x])


@st.composite
def einsum_cases(draw):
    i, j, k, b = (draw(st.integers(1, 3)) for _ in range(4))
    return draw(st.sampled_from([
        ("ij,jk->ik", [(i, j), (j, k)]),
        ("bij,bjk->bik", [(b, i, j), (b, j, k)]),
        ("ij->", [(i, j)]),
        ("ij->ji", [(i, j)]),
        ("i,j->ij", [(i,), (j,)]),
        ("ij,ij->i", [(i, j), (i, j)]),
        ("ij,j", [(i, j), (j,)]),  # implicit output
        ("...ij,jk->...ik", [(b, i, j), (j, k)]),
        ("bi,bj,bk->ijk", [(b, i), (b, j), (b, k)]),
        ("ij,kj->", [(i, j), (k, j)]),  # a letter only one operand has gets summed
        ("ijk->ik", [(i, j, k)]),
    ]))


@covers("einsum")
@given(einsum_cases(), st.data())
def test_einsum(case, data):
    eq, shapes = case
    ops = [leaf(data.draw(values(s))) for s in shapes]
    gradcheck(lambda *t: einsum(eq, *t), ops)


@covers("F.nll_loss", "F.binary_cross_entropy", "F.binary_cross_entropy_with_logits")
@given(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3), st.integers(1, 4),
       st.sampled_from(["mean", "sum", "none"]), st.data())
def test_more_losses(lead, C, reduction, data):
    assume(fits_one_layout(lead, C))
    x = leaf(data.draw(values(lead + (C,), -3.0, 3.0)))
    t = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, C - 1)))
    gradcheck(lambda x: F.nll_loss(F.log_softmax(x, -1), t, reduction=reduction), [x])
    t_ign = np.where(np.arange(t.size).reshape(t.shape) % 2 == 1, -100, t)
    gradcheck(lambda x: F.nll_loss(x, t_ign, reduction=reduction), [x])
    p = leaf(data.draw(values(lead, 0.05, 0.95)))
    y = leaf(data.draw(values(lead, 0.0, 1.0)))
    gradcheck(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction), [p, y])
    z = leaf(data.draw(values(lead, -4.0, 4.0)))
    gradcheck(lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction), [z, y])
    w = leaf(data.draw(values(lead[-1:], 0.5, 2.0)))
    gradcheck(lambda z, y, w: F.binary_cross_entropy_with_logits(z, y, reduction=reduction, pos_weight=w), [z, y, w])


@covers("F.cross_entropy")
@given(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3), st.integers(1, 4),
       st.sampled_from(["mean", "sum", "none"]), st.sampled_from([0.0, 0.1, 0.5]), st.data())
def test_cross_entropy_smoothing_and_probabilities(lead, C, reduction, smoothing, data):
    assume(fits_one_layout(lead, C))
    x = leaf(data.draw(values(lead + (C,), -3.0, 3.0)))
    t = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, C - 1)))
    t.flat[-1] = -100 if t.size > 1 else t.flat[-1]  # one ignored entry when there are several
    gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing), [x])
    # PyTorch's layout, classes in dim 1: (N, C, d1) with targets (N, d1)
    gradcheck(lambda x: F.cross_entropy(x.permute(0, 2, 1) if x.ndim == 3 else x, t, reduction=reduction,
                                        label_smoothing=smoothing), [x])
    if len(lead) == 1:  # probability targets: 2-D only (with more dims the layout is ambiguous)
        q = leaf(data.draw(values(lead + (C,), 0.0, 1.0)))  # need not sum to 1
        gradcheck(lambda x, q: F.cross_entropy(x, q, reduction=reduction, label_smoothing=smoothing), [x, q])


@covers("F.pad", "F.normalize")
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), st.data())
def test_pad_normalize(shape, data):
    x = leaf(data.draw(values(shape)))
    k = data.draw(st.integers(1, len(shape)))
    amounts = tuple(data.draw(st.integers(-1, 2)) if (i // 2) < k else 0 for i in range(2 * k))
    amounts = tuple(max(a, -(shape[len(shape) - 1 - i // 2] // 2)) for i, a in enumerate(amounts))  # crop at most half
    w = np.random.default_rng(4).standard_normal(F.pad(Tensor(x.data), amounts).shape)  # fixed weights
    gradcheck(lambda t: F.pad(t, amounts, value=1.5) * w, [x])
    y = leaf(away_from_zero(data.draw(values(shape)), 0.2))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    gradcheck(lambda t: F.normalize(t, dim=dim), [y])
    gradcheck(lambda t: F.normalize(t, p=1.0, dim=dim), [y])


@given(PAIRS_WITH_EMPTY, st.data(), st.sampled_from([np.int64, np.int32, np.uint8, np.bool_]))
def test_float_leaf_with_integer_and_bool_operands(shapes, data, dtype):
    """A float64 leaf meeting an int or bool tensor: the result is float64 (the float wins, as in
    PyTorch) and the gradient to the leaf is right; the integers get none."""
    sa, sb = shapes.input_shapes
    a = leaf(data.draw(values(sa)))
    top = 1 if dtype == np.bool_ else 3
    k = tensor(data.draw(hnp.arrays(dtype, sb, elements=st.integers(0, top))))
    mask = tensor(data.draw(hnp.arrays(np.bool_, sb)))
    assert (a + k).dtype == np.float64 and (k * a).dtype == np.float64 and (a / (k + 1)).dtype == np.float64
    gradcheck(lambda a: a + k - k * a + a * mask, [a])
    gradcheck(lambda a: a / (k + 1) + (k + 1) / (a * a + 1.0), [a])
    # (k + 0.5 would be float32, and a 0-d float64 a meeting it computes in float32, as in PyTorch)
    gradcheck(lambda a: where(mask.data, a, k) + a.maximum(k.double() + 0.5) + (a * a + 1.0) ** k, [a])


# ---- composite graphs: reuse, diamonds, deep chains -------------------------------------------


@given(PAIRS, st.data())
def test_composite_graph_with_reused_nodes(shapes, data):
    sa, sb = shapes.input_shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))

    def f(a, b):
        h = (a * b).tanh()  # used three times below
        return (h * h + h.sigmoid() * a - (h / (1.0 + b * b))).sum() + (a - b).exp().mean()

    gradcheck(f, [a, b])


# ---- a learner's own op: autograd.Function ------------------------------------------------------


class Legendre3(Function):
    """P3(x) = (5x^3 - 3x) / 2, written as a learner would: forward and its derivative by hand."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * (5 * x**3 - 3 * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * x**2 - 1)


class ScaledProductAndSum(Function):
    """Two outputs from two (broadcast) inputs and a number: (k * a * b, a + b)."""

    @staticmethod
    def forward(ctx, a, b, k):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return k * a * b, a + b

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        a, b = ctx.saved_tensors
        # full broadcast shape: apply sums each gradient back to its input's shape
        return ctx.k * g_prod * b + g_sum, ctx.k * g_prod * a + g_sum, None


@covers("autograd.Function")
@given(PAIRS, st.data())
def test_autograd_function(shapes, data):
    sa, sb = shapes.input_shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))
    gradcheck(lambda a: Legendre3.apply(a), [a])
    gradcheck(lambda a: Legendre3.apply(Legendre3.apply(a) * 0.5) + a, [a])  # inside a bigger graph
    gradcheck(lambda a, b: ScaledProductAndSum.apply(a, b, 1.5)[0], [a, b])  # one output used
    gradcheck(lambda a, b: ScaledProductAndSum.apply(a, b, 1.5)[1].exp(), [a, b])  # the other
    gradcheck(lambda a, b: (lambda p, s: p * s)(*ScaledProductAndSum.apply(a, b, -0.5)), [a, b])  # both


def test_mlp_through_every_layer_kind(rng):
    x = leaf(rng.standard_normal((3, 2, 4)))
    w1, b1 = leaf(rng.standard_normal((5, 4))), leaf(rng.standard_normal(5))
    g, bb = leaf(rng.standard_normal(5)), leaf(rng.standard_normal(5))
    w2 = leaf(rng.standard_normal((3, 5)))
    t = np.array([[0, 2], [1, 1], [2, 0]])

    def f(x, w1, b1, g, bb, w2):
        h = F.gelu(F.layer_norm(F.linear(x, w1, b1), 5, g, bb), approximate="tanh")
        return F.cross_entropy(F.linear(h, w2), t)

    gradcheck(f, [x, w1, b1, g, bb, w2])


# ---- images: convolution, pooling, batch norm, channel dropout ------------------------------------
# Shapes include odd sizes, stride > kernel, dilation, groups, 1x1 filters, padding ("same" too).


@st.composite
def conv2d_case(draw):
    from micrograd_plus.kernels.conv import output_size

    groups = draw(st.integers(1, 2))
    C, O = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 1)),
                             st.just("same") if stride == (1, 1) else st.just("valid")))
    N, H, W = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    ph, pw = (0, 0) if padding in ("valid", "same") else ((padding, padding) if isinstance(padding, int) else padding)
    if padding == "same":
        ph = pw = 0  # (the output is as big as the input)
    else:
        assume(output_size(H, KH, stride[0], ph, ph, dilation[0]) > 0 and output_size(W, KW, stride[1], pw, pw, dilation[1]) > 0)
    return (N, C, H, W), (O, C // groups, KH, KW), stride, padding, dilation, groups


@covers("F.conv2d")
@given(conv2d_case(), st.booleans(), st.data())
def test_conv2d(case, with_bias, data):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w = leaf(data.draw(values(x_shape))), leaf(data.draw(values(w_shape)))
    b = leaf(data.draw(values(w_shape[:1])))
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if with_bias:
        gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), [x, w, b])
    else:
        gradcheck(lambda x, w: F.conv2d(x, w, **kw), [x, w])
    gradcheck(lambda x: F.conv2d(x, w.data, **kw), [leaf(x.data[0])])  # unbatched (C, H, W), weights constant


@covers("F.conv2d")
@given(st.integers(3, 5), st.integers(1, 7), st.integers(1, 3), st.integers(1, 2), st.sampled_from([0, 1, 2, "same"]),
       st.integers(1, 2), st.data())
def test_conv2d_stride_one_several_channels(C, O, k, dilation, padding, N, data):
    """Stride 1, one group, 3 or more input channels: the layers whose forward pass and weight
    gradient run without im2col (kernels/conv.py's direct path), at odd sizes and dilation."""
    from micrograd_plus.kernels.conv import _direct_fits, output_size

    assert _direct_fits((1, 1), 1, C)
    H, W = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    pad = 0 if padding == "same" else padding
    assume(output_size(H, k, 1, pad, pad, dilation) > 0 and output_size(W, k, 1, pad, pad, dilation) > 0)
    x, w = leaf(data.draw(values((N, C, H, W)))), leaf(data.draw(values((O, C, k, k))))
    b = leaf(data.draw(values((O,))))
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, dilation=dilation), [x, w, b])


@covers("F.conv1d")
@given(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.sampled_from([0, 1, "same", "valid"]), st.data())
def test_conv1d(N, C, L, k, stride, dilation, padding, data):
    from micrograd_plus.kernels.conv import output_size

    if padding == "same":
        stride = 1
    pad = padding if isinstance(padding, int) else 0
    assume(padding == "same" or output_size(L, k, stride, pad, pad, dilation) > 0)
    x, w, b = leaf(data.draw(values((N, C, L)))), leaf(data.draw(values((2, C, k)))), leaf(data.draw(values((2,))))
    gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=stride, padding=padding, dilation=dilation), [x, w, b])


@st.composite
def pool_case(draw, dilation=True):
    from micrograd_plus.kernels.conv import output_size

    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    p = tuple(draw(st.integers(0, (di * (ki - 1) + 1) // 2 if dilation else ki // 2)) for ki, di in zip(k, d))
    ceil = draw(st.booleans())
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(output_size(H, k[0], s[0], p[0], p[0], d[0], ceil) > 0 and output_size(W, k[1], s[1], p[1], p[1], d[1], ceil) > 0)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W), k, s, p, d, ceil


@covers("F.max_pool2d")
@given(pool_case(), st.integers(0, 2**16))
def test_max_pool2d(case, seed):
    shape, k, s, p, d, ceil = case
    x = leaf(distinct(shape, seed))  # no ties: each window's maximum is one pixel
    # a window lying wholly in the padding (dilated taps can skip the input) has no maximum: it
    # gives -inf and passes no gradient, so it is left out of the checked sum
    empty = ~np.isfinite(F.max_pool2d(Tensor(x.data), k, s, p, d, ceil).data)
    gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil).masked_fill(empty, 0.0), [x])
    y, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape


@covers("F.avg_pool2d")
@given(pool_case(dilation=False), st.booleans(), st.sampled_from([None, 2]), st.data())
def test_avg_pool2d(case, include_pad, override, data):
    shape, k, s, p, _, ceil = case
    x = leaf(data.draw(values(shape)))
    gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil, include_pad, override), [x])


@covers("F.adaptive_avg_pool2d")
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.one_of(st.none(), st.integers(1, 4)), st.data())
def test_adaptive_avg_pool2d(H, W, oh, ow, data):
    x = leaf(data.draw(values((2, 2, H, W))))
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, (oh, ow)), [x])  # windows overlap when oh does not divide H
    gradcheck(lambda t: F.adaptive_avg_pool2d(t, 1), [leaf(x.data[0])])


@covers("F.batch_norm")
@given(st.sampled_from([(3, 2), (2, 3, 4), (2, 2, 3, 2), (1, 2, 2, 2)]), st.booleans(), st.data())
def test_batch_norm(shape, training, data):
    x = leaf(data.draw(values(shape)))
    C = shape[1]
    w, b = leaf(data.draw(values((C,), 0.5, 2.0))), leaf(data.draw(values((C,))))
    rm, rv = np.zeros(C), np.ones(C) * 1.5

    def f(x, w, b):  # fresh copies of the running statistics each call: batch_norm updates them in place
        return F.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training, eps=1e-3)

    gradcheck(f, [x, w, b])
    gradcheck(lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3) if training else
              F.batch_norm(x, rm, rv, training=False), [x])


@covers("F.dropout2d")
@given(st.sampled_from([(2, 3, 2, 2), (3, 1, 2)]), st.sampled_from([0.0, 0.3, 0.7]), st.data())
def test_dropout2d(shape, p, data):
    x = leaf(data.draw(values(shape)))
    # a fresh generator with the same seed each call: the same channels dropped every time
    gradcheck(lambda t: F.dropout2d(t, p, training=True, generator=np.random.default_rng(5)), [x])
    gradcheck(lambda t: F.dropout2d(t, p, training=False), [x])


def test_conv_net_through_every_image_op(rng):
    """conv -> batch norm -> relu -> max pool -> conv (groups) -> avg pool -> adaptive pool -> linear."""
    x = leaf(rng.standard_normal((2, 2, 7, 6)))
    w1, b1 = leaf(rng.standard_normal((4, 2, 3, 3)) * 0.5), leaf(rng.standard_normal(4))
    w2 = leaf(rng.standard_normal((4, 2, 2, 2)) * 0.5)
    g, bb = leaf(rng.uniform(0.5, 1.5, 4)), leaf(rng.standard_normal(4))
    wl = leaf(rng.standard_normal((3, 4)))

    def f(x, w1, b1, w2, g, bb, wl):
        h = F.conv2d(x, w1, b1, padding="same")
        h = F.relu(F.batch_norm(h, None, None, g, bb, training=True, eps=1e-3))
        h = F.max_pool2d(h, 2, ceil_mode=True)  # (2, 4, 4, 3)
        h = F.avg_pool2d(F.conv2d(h, w2, groups=2, padding=1), 2)
        return F.linear(F.adaptive_avg_pool2d(h, 1).flatten(1), wl)

    gradcheck(f, [x, w1, b1, w2, g, bb, wl], atol=1e-4)


# ---- the registry ----------------------------------------------------------------------------

NON_DIFFERENTIABLE = {
    # reading and bookkeeping
    "item", "numpy", "tolist", "detach", "requires_grad_", "retain_grad", "zero_grad", "backward",
    "shape", "dtype", "ndim", "size", "is_leaf", "data", "grad", "requires_grad", "dim", "numel",
    "nelement", "contiguous", "equal",
    # integer / boolean results
    "long", "int", "bool", "argmax", "argmin", "all", "any", "isnan", "isinf", "isfinite",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "logical_and", "logical_or",
    # spelled through a registered op (view_as = reshape, expand_as = expand, swapaxes = transpose,
    # pow = **, clip_ = clamp_, type = astype)
    "view_as", "reshape_as", "expand_as", "swapaxes", "pow", "clip_", "type", "t", "add", "sub", "mul", "div",
    # in-place shape changes, refused on tensors that require grad
    "unsqueeze_", "squeeze_", "transpose_", "t_",
    # in-place fills whose result does not depend on the tensor (old values get gradient 0)
    "zero_", "normal_", "uniform_",
    # the graph and the device
    "grad_fn", "device", "cpu", "cuda",
}
ARITHMETIC_DUNDERS = {
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__pow__", "__rpow__", "__neg__", "__matmul__", "__rmatmul__", "__getitem__", "__mod__", "__setitem__",
}


def _public_tensor_attributes():
    """Every public method/property of Tensor, from the class and the op mixins it inherits."""
    out = {}
    for klass in reversed(tensor_module.Tensor.__mro__[:-1]):  # (not object)
        for name, attr in vars(klass).items():
            if name.startswith("_") and name not in ARITHMETIC_DUNDERS:
                continue
            if callable(attr) or isinstance(attr, property) or inspect.isdatadescriptor(attr):
                out[name] = attr
    return out


def test_every_op_is_checked():
    registered = set(DIFFERENTIABLE_OPS)
    missing = registered - COVERED
    assert not missing, f"ops without a gradient check: {sorted(missing)}"
    # every public Tensor method/property is either registered or declared non-differentiable
    for name, attr in _public_tensor_attributes().items():
        fn_name = getattr(attr, "__name__", name)
        assert name in registered or fn_name in registered or name in NON_DIFFERENTIABLE, (
            f"Tensor.{name} is neither in DIFFERENTIABLE_OPS (with a gradient check) nor declared "
            "non-differentiable in this test"
        )
    for name in F.__all__:
        if name in F_NON_DIFFERENTIABLE:
            continue
        assert "F." + name in registered, f"F.{name} is not registered in DIFFERENTIABLE_OPS"
    for name in ("cat", "stack", "where", "einsum"):
        assert name in registered


F_NON_DIFFERENTIABLE = {"one_hot"}


def test_there_is_one_registry():
    """functional registers into the same list as the tensor ops (no second registry)."""
    assert not hasattr(F, "DIFFERENTIABLE_FUNCTIONS")
    assert "F.softmax" in DIFFERENTIABLE_OPS and "softmax" in DIFFERENTIABLE_OPS and "exp" in DIFFERENTIABLE_OPS
    assert len(DIFFERENTIABLE_OPS) == len(set(DIFFERENTIABLE_OPS)), "an op is registered twice"


def test_registry_test_can_fail():
    """The coverage check above is not vacuous: an unregistered, unchecked op is detected."""
    registered = set(DIFFERENTIABLE_OPS) | {"made_up_op"}
    assert registered - COVERED == {"made_up_op"}


def test_gradcheck_catches_a_wrong_rule():
    """Sanity: a deliberately wrong backward rule is rejected, so these tests can fail."""
    from micrograd_plus.gradcheck import GradcheckError
    from micrograd_plus._tensor import _result

    def bad_square(t):
        return _result(t.data**2, (t,), "bad", lambda g: (g * t.data,))  # should be 2x

    with pytest.raises(GradcheckError):
        gradcheck(bad_square, [leaf([1.0, 2.0])])


def test_tanh_gelu_goes_through_the_kernels_module(monkeypatch):
    """tensor.gelu(approximate="tanh") dispatches to kernels.gelu_tanh_forward/backward; check the
    wiring (t from forward reaches backward) with independent numpy stand-ins."""
    from micrograd_plus import kernels

    k, c = np.sqrt(2 / np.pi), 0.044715
    calls = []

    def fwd(x):
        calls.append("fwd")
        t = np.tanh(k * (x + c * x**3))
        return 0.5 * x * (1 + t), t

    def bwd(g, x, t):
        calls.append("bwd")
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x))

    monkeypatch.setattr(kernels, "gelu_tanh_forward", fwd, raising=False)
    monkeypatch.setattr(kernels, "gelu_tanh_backward", bwd, raising=False)
    x = leaf(np.linspace(-3, 3, 7))
    gradcheck(lambda t: t.gelu(approximate="tanh"), [x])
    assert "fwd" in calls and "bwd" in calls


def test_exact_gelu_goes_through_the_kernels_module(monkeypatch):
    import math

    from micrograd_plus import kernels

    calls = []
    phi = np.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))

    def fwd(x):
        calls.append("fwd")
        return x * phi(x)

    def bwd(g, x):
        calls.append("bwd")
        return g * (phi(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))

    monkeypatch.setattr(kernels, "gelu_forward", fwd)
    monkeypatch.setattr(kernels, "gelu_backward", bwd)
    gradcheck(lambda t: t.gelu(), [leaf(np.linspace(-3, 3, 7))])
    assert calls == ["fwd", "bwd"] + ["fwd"] * 14  # one backward; 2 evaluations per element after


UNARY = [
    lambda t: t.tanh(), lambda t: t.sigmoid(), lambda t: (t * t + 1.0).log(), lambda t: t * 0.5 + 1.0,
    lambda t: -t, lambda t: (t * t + 0.5).sqrt(), lambda t: t.exp() * 0.1, lambda t: F.softmax(t, dim=-1),
    lambda t: t - t.mean(axis=-1, keepdims=True), lambda t: t.T.T, lambda t: t.gelu(approximate="tanh"),
]
BINARY = [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / (b * b + 1.0),
    lambda a, b: where(np.arange(a.numel()).reshape(a.shape) % 2 == 0, a, b * 2.0),  # a fixed mask: no kink
]


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
             min_size=1, max_size=12),
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3),
    st.data(),
)
def test_random_programs(program, shape, data):
    """Random graphs of ops in which nodes are reused many times (diamonds, fan-out, fan-in)."""
    a, b = leaf(data.draw(values(shape))), leaf(data.draw(values(shape)))

    def run(a, b):
        nodes = [a, b]
        for binary, op, i, j in program:
            x, y = nodes[i % len(nodes)], nodes[j % len(nodes)]
            nodes.append(BINARY[op % len(BINARY)](x, y) if binary else UNARY[op % len(UNARY)](x))
        return sum(nodes[2:], nodes[-1] * 0.0)  # every intermediate contributes to the output

    gradcheck(run, [a, b], atol=1e-4)
