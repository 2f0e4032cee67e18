"""Every differentiable tensor op and functional, checked against central differences.

Each test draws shapes (broadcastable pairs included) and float64 values with hypothesis, builds
a tiny graph and calls :func:`micrograd_plus.gradcheck.gradcheck`, which compares the analytic
backward pass with numerical derivatives. Values are kept away from kinks (0 for relu/abs, ties
for max) where the derivative is undefined.

``@covers(...)`` records which registered op names a test checks; ``test_every_op_is_checked``
fails if an op in ``tensor.DIFFERENTIABLE_OPS`` / ``functional.DIFFERENTIABLE_FUNCTIONS`` has no
check, or if a public Tensor method is neither registered nor declared non-differentiable.
"""

import inspect

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_plus.functional as F
import micrograd_plus.tensor as tensor_module
from micrograd_plus.gradcheck import gradcheck
from micrograd_plus.tensor import Tensor, cat, stack, where

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


def leaf(x):
    return Tensor(np.array(x, dtype=np.float64), requires_grad=True)


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
    c = b.data.copy()  # a constant array
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
    gradcheck(lambda x: x.max(axis=axis, keepdims=keepdims), [x])
    gradcheck(lambda x: x.min(axis=axis, keepdims=keepdims), [x])


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
    gradcheck(lambda t: t[Tensor(rows)], [x])
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
    gradcheck(lambda a: where(Tensor(cond), a, 0.5), [a])
    full = np.broadcast_shapes(sa, sc)
    a_full = leaf(data.draw(values(full)))
    gradcheck(lambda a: a.masked_fill(cond, -3.0), [a_full])


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
    x = leaf(data.draw(values(lead + (C,), -3.0, 3.0)))
    t = data.draw(hnp.arrays(np.int64, lead, elements=st.integers(0, C - 1)))
    gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), [x])
    ignore = data.draw(hnp.arrays(np.bool_, lead))
    if ignore.all() and reduction == "mean":
        ignore.flat[0] = False  # mean over zero targets is nan by definition
    t_ign = np.where(ignore, -100, t)
    gradcheck(lambda x: F.cross_entropy(x, Tensor(t_ign), reduction=reduction), [x])


@covers("F.mse_loss")
@given(SHAPES, st.sampled_from(["mean", "sum", "none"]), st.data())
def test_mse_loss(shape, reduction, data):
    a, b = leaf(data.draw(values(shape))), leaf(data.draw(values(shape)))
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [a, b])


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
    gradcheck(lambda w: F.embedding(Tensor(idx), w) * 2.0, [w])


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
        fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=Tensor(m))  # noqa: E731
    else:
        fn = lambda q, k, v: F.scaled_dot_product_attention(  # noqa: E731
            q, k, v, dropout_p=0.3, is_causal=True, generator=np.random.default_rng(3))
    gradcheck(fn, [q, k, v])


@covers("F.attention_weights")
@given(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.booleans(), st.data())
def test_attention_weights(H, T, D, causal, data):
    q, k = leaf(data.draw(values((H, T, D)))), leaf(data.draw(values((H, T, D))))
    gradcheck(lambda q, k: F.attention_weights(q, k, is_causal=causal), [q, k])


# ---- composite graphs: reuse, diamonds, deep chains -------------------------------------------


@given(PAIRS, st.data())
def test_composite_graph_with_reused_nodes(shapes, data):
    sa, sb = shapes.input_shapes
    a, b = leaf(data.draw(values(sa))), leaf(data.draw(values(sb)))

    def f(a, b):
        h = (a * b).tanh()  # used three times below
        return (h * h + h.sigmoid() * a - (h / (1.0 + b * b))).sum() + (a - b).exp().mean()

    gradcheck(f, [a, b])


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


# ---- the registry ----------------------------------------------------------------------------

NON_DIFFERENTIABLE = {
    # reading and bookkeeping
    "item", "numpy", "tolist", "detach", "requires_grad_", "retain_grad", "zero_grad", "backward",
    "shape", "dtype", "ndim", "size", "is_leaf", "data", "grad", "requires_grad",
    # integer / boolean results
    "long", "argmax", "eq", "ne",
}
ARITHMETIC_DUNDERS = {
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__pow__", "__rpow__", "__neg__", "__matmul__", "__rmatmul__", "__getitem__",
}


def test_every_op_is_checked():
    registered = set(tensor_module.DIFFERENTIABLE_OPS) | {"F." + n for n in F.DIFFERENTIABLE_FUNCTIONS}
    missing = registered - COVERED
    assert not missing, f"ops without a gradient check: {sorted(missing)}"
    # every public Tensor method/property is either registered or declared non-differentiable
    for name, attr in vars(tensor_module.Tensor).items():
        if name.startswith("_") and name not in ARITHMETIC_DUNDERS:
            continue
        if not (callable(attr) or isinstance(attr, property) or inspect.isdatadescriptor(attr)):
            continue
        fn_name = getattr(attr, "__name__", name)
        assert name in registered or fn_name in registered or name in NON_DIFFERENTIABLE, (
            f"Tensor.{name} is neither in DIFFERENTIABLE_OPS (with a gradient check) nor declared "
            "non-differentiable in this test"
        )
    for name in F.__all__:
        if name.isupper():
            continue
        assert name in F.DIFFERENTIABLE_FUNCTIONS, f"F.{name} is not registered in DIFFERENTIABLE_FUNCTIONS"
    for name in ("cat", "stack", "where"):
        assert name in tensor_module.DIFFERENTIABLE_OPS


def test_registry_test_can_fail():
    """The coverage check above is not vacuous: an unregistered, unchecked op is detected."""
    registered = set(tensor_module.DIFFERENTIABLE_OPS) | {"made_up_op"}
    assert registered - COVERED == {"made_up_op"}


def test_gradcheck_catches_a_wrong_rule():
    """Sanity: a deliberately wrong backward rule is rejected, so these tests can fail."""
    from micrograd_plus.gradcheck import GradcheckError
    from micrograd_plus.tensor import _result

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
    lambda a, b: where(np.arange(a.size).reshape(a.shape) % 2 == 0, a, b * 2.0),  # a fixed mask: no kink
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
