"""NaN, inf and huge values go through every compiled kernel exactly as through numpy.

A training run that diverges puts NaN or inf into the kernels; the training loop's non-finite
guard can only stop the run if they come out again, in the same places as numpy's, and if no
kernel raises instead. These tests inject NaN, +inf, -inf and huge finite values (big enough
that two of them multiplied overflow) at random positions and compare where each kernel's
output is NaN, +inf and -inf with its numpy reference, and the finite values too.

Shapes are small so the suite also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import importlib

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.kernels import _fastmath, _shared
from micrograd_plus.kernels import optim as O
from micrograd_plus.kernels import attention as A
from micrograd_plus.kernels import cross_entropy as CE
from micrograd_plus.kernels import layer_norm as LN
from micrograd_plus.kernels import elementwise as E

mm = importlib.import_module("micrograd_plus.kernels.matmul")

DTYPES = st.sampled_from([np.float32, np.float64])


def _huge(dtype):
    """Finite, but the product of two of them overflows (4 sqrt(max float) each)."""
    return 4 * np.sqrt(np.finfo(dtype).max)


def _special_values(dtype):
    return [np.nan, np.inf, -np.inf, _huge(dtype), -_huge(dtype)]


@st.composite
def _with_specials(draw, shape, dtype, max_specials=4):
    """A standard-normal array of ``shape`` with up to ``max_specials`` entries replaced by NaN,
    +-inf or +-huge at positions hypothesis picks."""
    seed = draw(st.integers(0, 2**16))
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    n = draw(st.integers(0, max_specials))
    for _ in range(n):
        index = tuple(draw(st.integers(0, s - 1)) for s in shape)
        a[index] = draw(st.sampled_from(_special_values(dtype)))
    return a


def _assert_same_nonfinite(actual, expected, what, kinds=True):
    """Same NaN, +inf and -inf positions (with ``kinds=False``: the same non-finite positions);
    the finite entries close."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    masks = (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)) if kinds else (
        ("non-finite", lambda a: ~np.isfinite(a)),)
    for name, mask in masks:
        got, want = mask(actual), mask(expected)
        assert np.array_equal(got, want), (
            f"{what}: {name} at {np.argwhere(got).tolist()}, numpy has it at {np.argwhere(want).tolist()}")
    finite = np.isfinite(expected)
    scale = np.max(np.abs(expected[finite]), initial=1.0)  # huge inputs: compare relative to the largest
    rtol = 1e-4 if actual.dtype == np.float32 else 1e-9
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=rtol * scale, err_msg=what)


def _quiet(f, *args):
    with np.errstate(all="ignore"):
        return f(*args)


# ---- matmul -----------------------------------------------------------------------------------

# (M, K, N): short K, blocks with ragged edges (padded rows and columns), and one big enough for threads
MATMUL_SHAPES = st.sampled_from([(3, 5, 2), (7, 20, 9), (9, 40, 6), (13, 65, 17), (100, 130, 120),
                                  (5, 60, 9)])  # (5, 60, 9): matmul_nt's few-row dot products


@given(shape=MATMUL_SHAPES, dtype=DTYPES, data=st.data())
def test_matmul_nonfinite_like_numpy(shape, dtype, data):
    """Where a sum holds a product that overflows, NaN-or-inf depends on the order of summation
    and on fused multiply-adds (measured: OpenBLAS gives inf for inf + (-huge * huge), since its
    FMA never rounds the product to -inf; IEEE's inf + -inf is NaN). So with huge values only
    the non-finite positions must agree; with NaN and inf alone, NaN, +inf and -inf each must."""
    M, K, N = shape
    a = data.draw(_with_specials((M, K), dtype))
    b = data.draw(_with_specials((K, N), dtype))
    kinds = not (np.abs(a[np.isfinite(a)]) > 1e10).any() and not (np.abs(b[np.isfinite(b)]) > 1e10).any()
    expected = _quiet(np.matmul, a, b)
    _assert_same_nonfinite(_quiet(mm.matmul, a, b), expected, "matmul", kinds)
    _assert_same_nonfinite(_quiet(mm.matmul_nt, a, np.ascontiguousarray(b.T)), expected, "matmul_nt", kinds)
    _assert_same_nonfinite(_quiet(mm.matmul_tn, np.ascontiguousarray(a.T), b), expected, "matmul_tn", kinds)


def test_matmul_zero_times_inf_is_nan():
    """0 * inf is NaN in every path (short and long K, full blocks, edge blocks, last columns)."""
    for (M, N), col in (((5, 6), 2), ((70, 130), 5), ((70, 130), 129), ((70, 150), 147)):
        for K in (3, 64):
            a = np.zeros((M, K), np.float32)
            b = np.ones((K, N), np.float32)
            b[1, col] = np.inf
            for c in (mm.matmul(a, b), mm.matmul_nt(a, b.T.copy()), mm.matmul_tn(a.T.copy(), b)):
                assert np.isnan(c[:, col]).all() and np.isfinite(np.delete(c, col, axis=1)).all()


# ---- attention --------------------------------------------------------------------------------

ATTN_SHAPES = st.sampled_from([(1, 1, 1, 1), (1, 2, 5, 3), (2, 1, 9, 8), (1, 2, 17, 4), (2, 2, 16, 16)])


@given(shape=ATTN_SHAPES, dtype=DTYPES, causal=st.booleans(), data=st.data())
def test_attention_nonfinite_like_numpy(shape, dtype, causal, data):
    q, k, v, dout = (data.draw(_with_specials(shape, dtype)) for _ in range(4))
    scale = 1.0 / np.sqrt(shape[-1])
    out, stats = A.attention_forward(q, k, v, scale, causal)
    out_ref, p_ref = _quiet(A.attention_forward_reference, q, k, v, scale, causal)
    _assert_same_nonfinite(out, out_ref, "out")
    grads = A.attention_backward(dout, q, k, v, out, stats, scale, causal)
    grads_ref = _quiet(A.attention_backward_reference, dout, q, k, v, out_ref, p_ref, scale, causal)
    for name, g, g_ref in zip(("dq", "dk", "dv"), grads, grads_ref):
        _assert_same_nonfinite(g, g_ref, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, "overflow"])
def test_attention_regression_nonfinite_query_no_error(dtype, value):
    """The case that raised SystemError (ZeroDivisionError inside the parallel loop): an inf or
    NaN in q, or scores that overflow (huge q and k), as after `gpt train --learning-rate 1e6`."""
    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.standard_normal((2, 2, 8, 4)).astype(dtype) for _ in range(4))
    if value == "overflow":
        q *= _huge(dtype)
        k *= _huge(dtype)
    else:
        q[0, 1, 3, 2] = value
    out, stats = A.attention_forward(q, k, v, 0.5)
    out_ref, p_ref = _quiet(A.attention_forward_reference, q, k, v, 0.5)
    _assert_same_nonfinite(out, out_ref, "out")
    assert not np.isfinite(out).all()
    for g, g_ref in zip(A.attention_backward(dout, q, k, v, out, stats, 0.5),
                        _quiet(A.attention_backward_reference, dout, q, k, v, out_ref, p_ref, 0.5)):
        _assert_same_nonfinite(g, g_ref, "grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_raw_fused_kernels_propagate_nan_without_the_guard(dtype):
    """Below the guard, the compiled loops themselves follow IEEE rules: a NaN (or inf) in query
    row 3 makes output row 3 NaN, never a finite number and never an exception."""
    rng = np.random.default_rng(1)
    vbytes, nv = A._blocking()
    D = vbytes // np.dtype(dtype).itemsize  # the kernels take D as whole vectors (the caller pads)
    for value in (np.nan, np.inf):
        q, k, v, dout = (rng.standard_normal((2, 8, D)).astype(dtype) for _ in range(4))
        q[1, 3, 0] = value
        out, p = np.empty_like(q), np.zeros((2, 8, 16), dtype)  # (N, T, D), (N, T, Tc) columns padded
        heads = A.Layout(8 * D, 0, D, 1)  # (2, 8, D): head after head
        operands = A.Operands(*(A._row(a) for a in (q, k, v)), (0, 0, 0), heads, heads)
        problem = A.Problem(8, D, dtype(0.5), True, vbytes, nv)
        A._forward_heads(operands, problem, A._row(out), p, np.zeros((D, 16), dtype), 0, 2)
        assert np.isnan(out[1, 3]).all()
        assert np.isfinite(out[0]).all() and np.isfinite(np.delete(out[1], 3, axis=0)).all()
        dq, dk, dv = np.empty_like(q), np.empty_like(q), np.empty_like(q)
        A._backward_heads(operands, problem, A._row(dout), p, (A._row(dq), A._row(dk), A._row(dv)),
                          np.zeros((D, 16), dtype), np.empty((8, 16), dtype), 0, 2)
        assert np.isnan(dq[1, 3]).all() and np.isfinite(dq[0]).all()


# ---- GELU -------------------------------------------------------------------------------------

@given(dtype=DTYPES, data=st.data())
def test_gelu_nonfinite_like_numpy(dtype, data):
    x = data.draw(_with_specials((37,), dtype, max_specials=10))
    g = data.draw(_with_specials((37,), dtype, max_specials=3))
    _assert_same_nonfinite(E.gelu_forward(x), _quiet(E.gelu_forward_reference, x), "gelu")
    _assert_same_nonfinite(E.gelu_backward(g, x), _quiet(E.gelu_backward_reference, g, x), "gelu backward")
    y, t = E.gelu_tanh_forward(x)
    y_ref, t_ref = _quiet(E.gelu_tanh_forward_reference, x)
    _assert_same_nonfinite(y, y_ref, "gelu tanh")
    _assert_same_nonfinite(t, t_ref, "gelu tanh t")
    _assert_same_nonfinite(E.gelu_tanh_backward(g, x, t), _quiet(E.gelu_tanh_backward_reference, g, x, t_ref),
                           "gelu tanh backward")


def test_gelu_edges_exactly():
    """The three special inputs, written out: gelu(inf) = inf, gelu(-inf) = -inf * 0 = NaN."""
    for dtype in (np.float32, np.float64):
        x = np.array([np.inf, -np.inf, np.nan], dtype)
        y = E.gelu_forward(x)
        assert y[0] == np.inf and np.isnan(y[1]) and np.isnan(y[2])
        assert np.isnan(E.gelu_backward(np.ones_like(x), x)).all()  # inf * phi(inf) = inf * 0


# ---- LayerNorm, softmax + cross-entropy --------------------------------------------------------

ROW_SHAPES = st.sampled_from([(1, 1), (5, 3), (13, 65), (300, 130)])


@given(shape=ROW_SHAPES, dtype=DTYPES, data=st.data())
def test_row_kernels_nonfinite_like_numpy(shape, dtype, data):
    x = data.draw(_with_specials(shape, dtype))
    g = data.draw(_with_specials(shape, dtype, max_specials=2))
    w = data.draw(_with_specials(shape[1:], dtype, max_specials=1))
    y, mean, rstd = LN.layer_norm_forward(x, w, None, 1e-5)
    y_ref, mean_ref, rstd_ref = _quiet(LN.layer_norm_forward_reference, x, w, None, 1e-5)
    _assert_same_nonfinite(y, y_ref, "layer_norm y")
    for name, a, a_ref in zip(("dx", "dweight", "dbias"), LN.layer_norm_backward(g, x, w, mean, rstd),
                              _quiet(LN.layer_norm_backward_reference, g, x, w, mean_ref, rstd_ref)):
        _assert_same_nonfinite(a, a_ref, f"layer_norm {name}")
    t = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, shape[1], shape[0])
    t[0] = data.draw(st.sampled_from([0, -100]))  # sometimes an ignored row (its cost is 0 even if NaN)
    nll, lse = CE.cross_entropy_forward(x, t)
    nll_ref, lse_ref = _quiet(CE.cross_entropy_forward_reference, x, t)
    _assert_same_nonfinite(nll, nll_ref, "nll")
    cw = data.draw(_with_specials(shape[:1], dtype, max_specials=1))
    _assert_same_nonfinite(CE.cross_entropy_backward(cw, x, t, lse),
                           _quiet(CE.cross_entropy_backward_reference, cw, x, t, lse_ref), "cross_entropy dx")


# ---- the exp and the flags --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_exp_edges_like_numpy(dtype):
    top = np.log(np.finfo(dtype).max)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, 50.0, top - 0.01, top + 0.01, 1e30, -1e30, -80.0], dtype)
    got = _fastmath.fast_exp_array(x)
    want = _quiet(np.exp, x)
    _assert_same_nonfinite(got, want, "fast_exp")
    py = np.array([_fastmath.fast_exp(v) for v in x])  # the readable Python definition
    _assert_same_nonfinite(py, want, "fast_exp (Python)")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_exp_accurate_over_the_whole_range(dtype):
    lowest = -87.0 if dtype == np.float32 else -708.0
    x = np.linspace(lowest, np.log(np.finfo(dtype).max) - 0.01, 20001).astype(dtype)
    rel = np.abs(_fastmath.fast_exp_array(x) / np.exp(x.astype(np.float64)) - 1)
    assert rel.max() < (3e-7 if dtype == np.float32 else 2e-15)


def _dispatchers():
    from numba.core.registry import CPUDispatcher

    for module in (mm, A, E, LN, CE, O, _shared, _fastmath):
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher):
                yield f"{module.__name__}.{name}", obj


def test_every_kernel_keeps_ieee_nan_rules():
    """No kernel may assume away NaN and inf (``fastmath=True`` includes nnan and ninf), and none
    may raise ZeroDivisionError (numba's default error model): a kernel added with either fails here."""
    from numba.core.config import DISABLE_JIT

    if DISABLE_JIT:
        pytest.skip("with NUMBA_DISABLE_JIT=1 the kernels are plain Python functions")
    found = list(_dispatchers())
    assert len(found) >= 20, [name for name, _ in found]  # that the search finds the kernels, not an exact count
    for name, d in found:
        options = d.targetoptions
        assert options.get("error_model") == "numpy", f"{name}: error_model {options.get('error_model')!r}"
        fastmath = options.get("fastmath", False)
        flags = set() if fastmath is False else set(fastmath.flags if hasattr(fastmath, "flags") else fastmath)
        # (arcp lets LLVM use a reciprocal-sqrt estimate whose Newton step gives NaN for inf)
        assert fastmath is not True and not ({"nnan", "ninf", "arcp", "fast"} & flags), f"{name}: fastmath {fastmath!r}"


def test_softmax_of_a_row_of_minus_inf_is_nan_not_an_exception():
    """Every score -inf (where fast-math's exp once returned 0 and 1 / total raised), called directly."""
    s = np.full((6, 16), -np.inf, np.float32)
    # the helper is compiled for compiled callers only (kernels._shared.INTERNAL): call it from one
    call = numba.njit(lambda s: A._softmax_rows(s, 0, 16, 6, True, s.dtype.type(1)))
    call(s)  # must not raise
    assert np.isnan(s[:, 0]).all()  # -inf - (-inf) is NaN: exp(NaN) / NaN
