"""Tests for the attention kernels (micrograd_plus/kernels/attention.py) and the fast exp.

The chain of trust:

1. the numpy reference is checked against central differences (float64) and, when torch is
   installed, against ``torch.nn.functional.scaled_dot_product_attention``;
2. the numba kernels are held equal to the reference over many shapes (hypothesis);
3. properties that need no oracle: the causal mask hides the future, huge logits stay finite.

Shapes are small so the suite also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.gradcheck import numerical_gradient
from micrograd_plus.kernels import _fastmath
from micrograd_plus.kernels import attention as A

# the module (the package's attribute ``micrograd_plus.kernels.matmul`` is the function)
mm = importlib.import_module("micrograd_plus.kernels.matmul")

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _inputs(rng, shape, dtype, noncontiguous=False, spread=1.0):
    """q, k, v, dout of ``shape``; optionally non-contiguous views (a transposed parent array)."""
    arrays = []
    for _ in range(4):
        if noncontiguous:  # (B, T, H, D) parent, swapped to (B, H, T, D): strides out of order
            B, H, T, D = shape
            a = (rng.standard_normal((B, T, H, 2 * D)) * spread).astype(dtype)[..., ::2]
            a = a.transpose(0, 2, 1, 3)
            assert not a.flags.c_contiguous or a.size <= 1 or 1 in shape
        else:
            a = (rng.standard_normal(shape) * spread).astype(dtype)
        arrays.append(a)
    return arrays


def _assert_close(actual, expected, dtype, what):
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


shapes = st.tuples(
    st.integers(1, 3),  # B
    st.integers(1, 3),  # H
    st.sampled_from([1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17]),  # T: 1, odd, around the block of 4
    st.sampled_from([1, 2, 3, 5, 8, 11, 16]),  # D
)


@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), causal=st.booleans(),
       noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
def test_kernels_match_reference(shape, dtype, causal, noncontiguous, seed):
    rng = np.random.default_rng(seed)
    q, k, v, dout = _inputs(rng, shape, dtype, noncontiguous)
    scale = 1.0 / np.sqrt(shape[-1])
    out, stats = A.attention_forward(q, k, v, scale, causal)
    out_ref, p_ref = A.attention_forward_reference(q, k, v, scale, causal)
    assert out.shape == shape and out.dtype == dtype
    _assert_close(out, out_ref, dtype, "out")
    grads = A.attention_backward(dout, q, k, v, out, stats, scale, causal)
    grads_ref = A.attention_backward_reference(dout, q, k, v, out_ref, p_ref, scale, causal)
    for name, g, g_ref in zip(("dq", "dk", "dv"), grads, grads_ref):
        assert g.shape == shape and g.dtype == dtype, name
        _assert_close(g, g_ref, dtype, name)


def test_kernels_at_gpt_shape(rng):
    """The GPT training shape (several row blocks, D a multiple of 4), both dtypes, causal."""
    for dtype in (np.float32, np.float64):
        q, k, v, dout = _inputs(rng, (2, 2, 64, 32), dtype)
        out, stats = A.attention_forward(q, k, v, 32**-0.5)
        out_ref, p_ref = A.attention_forward_reference(q, k, v, 32**-0.5)
        _assert_close(out, out_ref, dtype, "out")
        grads = A.attention_backward(dout, q, k, v, out, stats, 32**-0.5)
        grads_ref = A.attention_backward_reference(dout, q, k, v, out_ref, p_ref, 32**-0.5)
        for g, g_ref in zip(grads, grads_ref):
            _assert_close(g, g_ref, dtype, "grad")


def test_backward_accepts_either_stats(rng):
    """The kernel backward takes the reference's unpadded P, and the reference the kernel's."""
    q, k, v, dout = _inputs(rng, (1, 2, 6, 3), np.float64)
    out, stats = A.attention_forward(q, k, v, 0.5)
    out_ref, p_ref = A.attention_forward_reference(q, k, v, 0.5)
    a = A.attention_backward(dout, q, k, v, out, p_ref, 0.5)
    b = A.attention_backward_reference(dout, q, k, v, out_ref, stats, 0.5)
    for x, y in zip(a, b):
        _assert_close(x, y, np.float64, "grad")


@pytest.mark.parametrize("causal", [True, False])
def test_reference_matches_hand_computation(causal):
    """One head, T=2, D=1, computed by hand: scores q_t k_s, softmax, weighted values."""
    q = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    k = np.array([0.5, -1.0]).reshape(1, 1, 2, 1)
    v = np.array([3.0, 5.0]).reshape(1, 1, 2, 1)
    out, _ = A.attention_forward_reference(q, k, v, 1.0, causal)
    if causal:  # row 0 sees only key 0 -> v0; row 1 sees scores 1.0 and -2.0
        w = np.exp(1.0) / (np.exp(1.0) + np.exp(-2.0))
        expected = [3.0, w * 3.0 + (1 - w) * 5.0]
    else:  # row 0 scores 0.5, -1.0
        w0 = np.exp(0.5) / (np.exp(0.5) + np.exp(-1.0))
        w1 = np.exp(1.0) / (np.exp(1.0) + np.exp(-2.0))
        expected = [w0 * 3.0 + (1 - w0) * 5.0, w1 * 3.0 + (1 - w1) * 5.0]
    np.testing.assert_allclose(out.reshape(-1), expected, rtol=1e-12)


@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 5), st.integers(1, 3)),
       causal=st.booleans(), seed=st.integers(0, 2**16))
def test_reference_gradients_match_central_differences(shape, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v, dout = _inputs(rng, shape, np.float64)
    scale = 0.7

    def loss(which):
        def f(x):
            args = [q, k, v]
            args[which] = x
            out, _ = A.attention_forward_reference(*args, scale, causal)
            return np.sum(out * dout)  # dL/dout = dout
        return f

    out, p = A.attention_forward_reference(q, k, v, scale, causal)
    grads = A.attention_backward_reference(dout, q, k, v, out, p, scale, causal)
    for which, (name, g) in enumerate(zip(("dq", "dk", "dv"), grads)):
        numeric = numerical_gradient(loss(which), (q, k, v)[which])
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("causal", [True, False])
def test_reference_matches_torch(rng, causal):
    torch = pytest.importorskip("torch")
    shape = (2, 3, 7, 5)
    q, k, v, dout = _inputs(rng, shape, np.float64)
    scale = 0.3
    out, p = A.attention_forward_reference(q, k, v, scale, causal)
    dq, dk, dv = A.attention_backward_reference(dout, q, k, v, out, p, scale, causal)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal,
                                                            scale=scale)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in ((dq, tq), (dk, tk), (dv, tv)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_causal_mask_blocks_the_future(rng, impl):
    """Changing k and v at positions > t never changes outputs 0..t."""
    forward = A.attention_forward if impl == "kernel" else A.attention_forward_reference
    q, k, v, _ = _inputs(rng, (1, 2, 9, 4), np.float64)
    out, _ = forward(q, k, v, 0.5)
    for t in range(8):
        k2, v2 = k.copy(), v.copy()
        k2[:, :, t + 1:] = rng.standard_normal(k2[:, :, t + 1:].shape) * 10
        v2[:, :, t + 1:] = rng.standard_normal(v2[:, :, t + 1:].shape) * 10
        out2, _ = forward(q, k2, v2, 0.5)
        np.testing.assert_array_equal(out2[:, :, : t + 1], out[:, :, : t + 1])
        assert not np.allclose(out2[:, :, t + 1:], out[:, :, t + 1:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [True, False])
def test_huge_logits_stay_finite(rng, dtype, causal):
    """Scores of order 1e4 overflow a naive exp; after subtracting the row max they must not."""
    q, k, v, dout = _inputs(rng, (1, 2, 6, 4), dtype, spread=50.0)  # scale * q.k ~ 1e4
    out, stats = A.attention_forward(q, k, v, 2.0, causal)
    grads = A.attention_backward(dout, q, k, v, out, stats, 2.0, causal)
    out_ref, p_ref = A.attention_forward_reference(q, k, v, 2.0, causal)
    for a in (out, *grads):
        assert np.all(np.isfinite(a))
    # the softmax is (nearly) one-hot: each output is close to one of the values
    np.testing.assert_allclose(out, out_ref, rtol=1e-3, atol=1e-3 * float(np.abs(v).max()))


def test_errors_name_shapes_and_dtypes():
    a = np.zeros((1, 2, 3, 4))
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 5\)"):
        A.attention_forward(a, a, np.zeros((1, 2, 3, 5)), 1.0)
    with pytest.raises(TypeError, match="float32"):
        A.attention_forward(a, a.astype(np.float32), a, 1.0)
    with pytest.raises(TypeError, match="int64"):
        A.attention_forward(a.astype(np.int64), a, a, 1.0)
    with pytest.raises(ValueError, match="4-D"):
        A.attention_forward(a[0], a[0], a[0], 1.0)
    out, stats = A.attention_forward(a, a, a, 1.0)
    with pytest.raises(ValueError, match="dout"):
        A.attention_backward(np.zeros((1, 2, 3, 3)), a, a, a, out, stats, 1.0)
    with pytest.raises(ValueError, match="stats"):
        A.attention_backward(a, a, a, a, out, stats[..., :2, :2], 1.0)


def test_fast_exp_accuracy():
    """Relative error against numpy's exp over the whole range softmax uses, exact 0 below it."""
    x32 = np.linspace(-87.0, 0.0, 20001).astype(np.float32)
    x64 = np.linspace(-708.0, 0.0, 20001)
    for x, tol in ((x32, 2e-7), (x64, 2e-15)):
        y = _fastmath.fast_exp_array(x)
        assert y.dtype == x.dtype
        exact = np.exp(x.astype(np.float64))
        assert np.max(np.abs(y - exact) / exact) < tol
    below = _fastmath.fast_exp_array(np.array([-100.0, -1e4, -np.inf], dtype=np.float32))
    np.testing.assert_array_equal(below, 0.0)
    np.testing.assert_array_equal(_fastmath.fast_exp_array(np.array([-1e4, -np.inf])), 0.0)


def test_fast_exp_python_definition_agrees():
    """The readable Python body (what NUMBA_DISABLE_JIT=1 runs) gives the same values."""
    for x in (-86.5, -10.25, -0.5, 0.0):
        assert abs(_fastmath.fast_exp(x) - np.exp(x)) <= 1e-15 * np.exp(x)
        y = _fastmath.fast_exp(np.float32(x))
        assert isinstance(y, np.float32)
        assert abs(float(y) - np.exp(x)) <= 2e-7 * np.exp(x)
    assert _fastmath.fast_exp(-800.0) == 0.0


# ---- the micro-kernel paths: blocks of 6 rows, whole vectors of columns, both blockings ----------

# T around the block of 6 queries (6 = one block, 7..17 = the last block overlapping the one before,
# 12 = no overlap) and around 16 (the stats' column padding); D around every vector width the
# micro-kernel uses (4, 8 and 16 numbers), and 65 (one past a whole number of vectors).
EDGE_T = [6, 7, 11, 12, 13, 16, 17, 64]
EDGE_D = [1, 8, 16, 24, 32, 64, 65]


@pytest.fixture(params=[32, 16], ids=["6x4 (32 registers)", "6x2 (16 registers, AVX2)"])
def blocking(request):
    """Force matmul's register blocking (attention follows it) for one test, then restore it."""
    previous = mm.BLOCKING
    mm.use_blocking(request.param)
    yield request.param
    mm.use_blocking({"6x4": 32, "6x2": 16}[previous])


def test_attention_follows_matmuls_blocking(blocking):
    vbytes, nv = A._blocking()
    assert nv == (4 if blocking == 32 else 2) and vbytes == (mm.VECTOR_BYTES if blocking == 32 else
                                                              min(mm.VECTOR_BYTES, 32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [True, False])
def test_each_blocking_matches_reference_at_the_edges(blocking, dtype, causal, rng):
    """Every (T, D) edge above, forward and backward, on both register blockings."""
    for T in EDGE_T:
        for D in EDGE_D:
            q, k, v, dout = _inputs(rng, (2, 1, T, D), dtype)
            scale = D ** -0.5
            out, stats = A.attention_forward(q, k, v, scale, causal)
            out_ref, p_ref = A.attention_forward_reference(q, k, v, scale, causal)
            _assert_close(out, out_ref, dtype, f"out T={T} D={D}")
            grads = A.attention_backward(dout, q, k, v, out, stats, scale, causal)
            grads_ref = A.attention_backward_reference(dout, q, k, v, out_ref, p_ref, scale, causal)
            for name, g, g_ref in zip(("dq", "dk", "dv"), grads, grads_ref):
                assert g.shape == q.shape and g.flags.c_contiguous, name
                _assert_close(g, g_ref, dtype, f"{name} T={T} D={D}")


@pytest.mark.parametrize("causal", [True, False])
def test_stats_are_p_with_exact_zeros_where_masked_and_padded(rng, causal):
    """stats (B, H, T, Tc), Tc = T rounded up to 16: P itself, exactly 0 above the diagonal
    (causal) and in the padding columns -- the backward and the reference both rely on it."""
    for T in (7, 13, 20):
        q, k, v, _ = _inputs(rng, (1, 2, T, 8), np.float64)
        _, stats = A.attention_forward(q, k, v, 0.5, causal)
        _, p_ref = A.attention_forward_reference(q, k, v, 0.5, causal)
        assert stats.shape == (1, 2, T, (T + 15) // 16 * 16)
        np.testing.assert_array_equal(stats[..., T:], 0.0)
        if causal:
            above = np.triu_indices(T, 1)  # (rows, columns) of the entries above the diagonal
            np.testing.assert_array_equal(stats[..., above[0], above[1]], 0.0)
        _assert_close(stats[..., :T, :T], p_ref, np.float64, "p")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_kernel_writes_every_entry_of_p(rng, dtype):
    """Called on memory full of NaN (np.empty may hand out anything), the kernel leaves none:
    every entry of P it does not compute, it sets to 0."""
    vbytes, nv = A._blocking()
    D = vbytes // np.dtype(dtype).itemsize  # one whole vector
    for T, causal in ((13, True), (13, False), (20, True)):
        q, k, v = (rng.standard_normal((2, T, D)).astype(dtype) for _ in range(3))
        Tc = (T + 15) // 16 * 16
        out, p = np.full((2, T, D), np.nan, dtype), np.full((2, T, Tc), np.nan, dtype)
        heads = A.Layout(T * D, 0, D, 1)  # (2, T, D): head after head
        operands = A.Operands(A._row(q), A._row(k), A._row(v), (0, 0, 0), heads, heads)
        problem = A.Problem(T, D, dtype(0.5), causal, vbytes, nv)
        A._forward_heads(operands, problem, A._row(out), p, np.zeros((D, Tc), dtype), 0, 2)
        _, p_ref = A.attention_forward_reference(q[None], k[None], v[None], 0.5, causal)
        np.testing.assert_array_equal(p[..., T:], 0.0)
        _assert_close(p[..., :T], p_ref[0], dtype, "p")  # (masked entries: exactly 0 in both)
        assert np.isfinite(out).all()


def test_short_sequences_go_to_the_reference(rng, monkeypatch):
    """T < 6 (shorter than one block of queries) runs numpy's definition; T = 6 runs the kernels."""
    calls = []
    for name in ("_run_forward", "_run_backward"):
        real = getattr(A, name)
        monkeypatch.setattr(A, name, lambda *a, real=real, name=name: (calls.append(name), real(*a)))
    for T, expected in ((5, []), (6, ["_run_forward", "_run_backward"])):
        calls.clear()
        q, k, v, dout = _inputs(rng, (1, 2, T, 4), np.float64)
        out, stats = A.attention_forward(q, k, v, 0.5)
        out_ref, p_ref = A.attention_forward_reference(q, k, v, 0.5)
        grads = A.attention_backward(dout, q, k, v, out, stats, 0.5)
        assert calls == expected, T
        _assert_close(out, out_ref, np.float64, "out")
        for g, g_ref in zip(grads, A.attention_backward_reference(dout, q, k, v, out_ref, p_ref, 0.5)):
            _assert_close(g, g_ref, np.float64, "grad")


# ---- the packed layout: qkv (B, T, 3C) in, y (B, T, C) out ------------------------------------

def _split_path(x, dy, n_head, scale, causal):
    """What attention_qkv_* must equal bit for bit: heads copied out, the (B, H, T, D) kernels,
    heads copied back side by side."""
    q, k, v = (np.ascontiguousarray(a) for a in A.split_heads(x, n_head))
    out, stats = A.attention_forward(q, k, v, scale, causal)
    B, H, T, hs = q.shape
    dout = np.ascontiguousarray(dy.reshape(B, T, H, hs).transpose(0, 2, 1, 3))
    grads = A.attention_backward(dout, q, k, v, out, stats, scale, causal)
    return A.merge_heads(out), stats, np.concatenate([A.merge_heads(g) for g in grads], axis=2)


# (B, T, n_head, hs): whole vectors read in place (hs 16, 32, 64 in float32; 8 too in float64),
# and the copied paths: hs 24 and 8 in float32 (not whole vectors), T = 5 (below a block of 6)
PACKED_SHAPES = [(2, 7, 2, 16), (3, 64, 4, 32), (2, 13, 3, 64), (1, 6, 1, 16), (2, 20, 2, 8), (2, 9, 2, 24),
                 (2, 5, 2, 16)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("registers", [32, 16])
def test_packed_layout_equals_the_split_heads_bit_for_bit(dtype, causal, registers, rng, monkeypatch):
    """The kernels reading qkv in place compute exactly what they compute on heads copied out,
    forward and backward, in either register blocking; and both are the numpy reference's numbers."""
    previous = mm.BLOCKING
    ran = []
    for name in ("_run_forward", "_run_backward"):  # spies: which path did the work
        real = getattr(A, name)  # its first argument: the Operands, whose input layout says how many heads
        monkeypatch.setattr(A, name, lambda x, *a, real=real: (ran.append(x.inp.heads), real(x, *a))[1])
    try:
        mm.use_blocking(registers)
        lanes = mm.register_blocking()[0] // np.dtype(dtype).itemsize
        for B, T, nh, hs in PACKED_SHAPES:
            C = nh * hs
            x = rng.standard_normal((B, T, 3 * C)).astype(dtype)
            dy = rng.standard_normal((B, T, C)).astype(dtype)
            ran.clear()
            y, stats = A.attention_qkv_forward(x, nh, 0.3, causal)
            dx = A.attention_qkv_backward(dy, x, nh, stats, 0.3, causal)
            in_place = T >= 6 and hs % lanes == 0  # otherwise the heads are copied out
            assert ran == ([nh, nh] if in_place else [1, 1] if T >= 6 else []), (B, T, nh, hs, ran)
            y2, stats2, dx2 = _split_path(x, dy, nh, 0.3, causal)
            what = f"{np.dtype(dtype).name} {(B, T, nh, hs)}"
            np.testing.assert_array_equal(y, y2, err_msg=what)
            np.testing.assert_array_equal(stats, stats2, err_msg=what)
            np.testing.assert_array_equal(dx, dx2, err_msg=what)
            y_ref, p_ref = A.attention_qkv_forward_reference(x, nh, 0.3, causal)
            _assert_close(y, y_ref, dtype, "y " + what)
            _assert_close(dx, A.attention_qkv_backward_reference(dy, x, nh, p_ref, 0.3, causal), dtype, "dx " + what)
    finally:
        mm.use_blocking({"6x4": 32, "6x2": 16}[previous])


def test_packed_layout_writes_every_output_entry(monkeypatch, rng):
    """y, stats and dqkv come from np.empty; filled with NaN instead, none may be left."""
    real_empty = np.empty
    monkeypatch.setattr(A.np, "empty", lambda shape, dtype=float: np.full(shape, np.nan, dtype))
    try:
        x = rng.standard_normal((2, 13, 3 * 64)).astype(np.float32)
        y, stats = A.attention_qkv_forward(x, 2, 0.25)
        dx = A.attention_qkv_backward(rng.standard_normal((2, 13, 64)).astype(np.float32), x, 2, stats, 0.25)
    finally:
        monkeypatch.setattr(A.np, "empty", real_empty)
    assert np.isfinite(y).all() and np.isfinite(stats).all() and np.isfinite(dx).all()


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e30])
def test_packed_layout_nonfinite_like_the_reference(value, rng):
    """A NaN, an inf or a huge value in qkv takes the guarded path: NaN and inf land where numpy's
    definition puts them (one NaN in a value reaches every query, masked or not)."""
    x = rng.standard_normal((2, 8, 3 * 32)).astype(np.float32)
    x[1, 2, 2 * 32 + 5] = value  # a value of head 0, token 2
    dy = rng.standard_normal((2, 8, 32)).astype(np.float32)
    with np.errstate(all="ignore"):
        y, stats = A.attention_qkv_forward(x, 2, 0.25)
        dx = A.attention_qkv_backward(dy, x, 2, stats, 0.25)
        y_ref, p_ref = A.attention_qkv_forward_reference(x, 2, 0.25)
        dx_ref = A.attention_qkv_backward_reference(dy, x, 2, p_ref, 0.25)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(y_ref))
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(dx_ref))


@pytest.mark.parametrize("call, message", [
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 10), np.float32), 2, 1.0), r"\(B, T, 3C\), got shape \(2, 8, 10\)"),
    (lambda: A.attention_qkv_forward(np.ones((8, 12), np.float32), 2, 1.0), r"\(B, T, 3C\), got shape \(8, 12\)"),
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 12), np.float32), 3, 1.0), "C = 4 .* multiple of n_head = 3"),
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 12), np.float32), 0, 1.0), "n_head must be at least 1, got 0"),
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 12), np.float32), -1, 1.0), "n_head must be at least 1, got -1"),
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 12), np.float32), 2.7, 1.0), "n_head must be an integer, got 2.7"),
    (lambda: A.attention_qkv_forward(np.ones((2, 8, 12), np.int64), 2, 1.0), "float32 or float64, got int64"),
    (lambda: A.attention_qkv_backward(np.ones((2, 8, 5), np.float32), np.ones((2, 8, 12), np.float32), 2,
                                      np.zeros((2, 2, 8, 16), np.float32), 1.0), r"dy must be \(2, 8, 4\) \(B, T, C\)"),
    (lambda: A.attention_qkv_backward(np.ones((16, 4), np.float32), np.ones((2, 8, 12), np.float32), 2,
                                      np.zeros((2, 2, 8, 16), np.float32), 1.0), r"dy must be \(2, 8, 4\) \(B, T, C\)"),
    (lambda: A.attention_qkv_backward(np.ones((2, 8, 4)), np.ones((2, 8, 12), np.float32), 2,
                                      np.zeros((2, 2, 8, 16), np.float32), 1.0), "dy must be float32 like qkv, got float64"),
    (lambda: A.attention_qkv_backward(np.ones((2, 8, 4), np.float32), np.ones((2, 8, 12), np.float32), 2,
                                      np.zeros((2, 2, 8, 9), np.float32), 1.0), r"stats must be .* got \(2, 2, 8, 9\)"),
])
@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_packed_layout_bad_input_says_what(call, message, impl, monkeypatch):
    """The kernels and the numpy references (what the numpy backend runs) refuse the same inputs
    with the same one-line messages."""
    if impl == "reference":
        monkeypatch.setattr(A, "attention_qkv_forward", A.attention_qkv_forward_reference)
        monkeypatch.setattr(A, "attention_qkv_backward", A.attention_qkv_backward_reference)
    with pytest.raises((ValueError, TypeError), match=message):
        call()
