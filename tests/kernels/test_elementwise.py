"""Tests for the GELU kernels (micrograd_plus/kernels/elementwise.py).

The chain of trust, as for the other kernels:

1. the numpy references are checked against central differences (float64), against ``math.erf``
   at chosen points, and, when torch is installed, against ``torch.nn.functional.gelu``;
2. the numba kernels are held equal to the references over many shapes, strides and values.

Arrays are small so the suite also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus import kernels
from micrograd_plus.gradcheck import numerical_gradient
from micrograd_plus.kernels import elementwise as E

# Kernels are compared with the references evaluated in float64 on the same (rounded) inputs:
# a float32 reference would itself lose digits where 1 + tanh or 1 - t^2 cancel, while the
# kernel's fused multiply-adds do not, so the two could disagree by more than either errs.
# float32: Phi's approximation errs below 1.5e-7, plus float32 rounding; the largest excess over
# rtol measured on 8 million values was 3.7e-7 (exact GELU) and 4.3e-6 (tanh-form backward,
# where t's last-bit rounding is multiplied by x^3).
# In float64 the reference's own 1 + erf(x / sqrt(2)) cancels for very negative x (the kernel
# uses erfc), so it is only good to about 1e-16 |x| absolute: hence atol 1e-13 for |x| ~ 100.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
TANH_BACKWARD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: TOL[np.float64]}

shapes = st.lists(st.sampled_from([1, 2, 3, 5, 7, 16, 33]), min_size=0, max_size=3).map(tuple)


def _array(rng, shape, dtype, spread, noncontiguous):
    if noncontiguous and shape:  # every other element of a wider parent: strides of 2
        parent = rng.standard_normal(shape[:-1] + (2 * shape[-1],)) * spread
        a = parent.astype(dtype)[..., ::2]
        assert a.shape == shape
        return a
    return (rng.standard_normal(shape) * spread).astype(dtype)


@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), spread=st.sampled_from([0.1, 1.0, 4.0, 30.0]),
       noncontiguous=st.booleans(), seed=st.integers(0, 2**16))
def test_gelu_kernels_match_references(shape, dtype, spread, noncontiguous, seed):
    rng = np.random.default_rng(seed)
    x = _array(rng, shape, dtype, spread, noncontiguous)
    g = _array(rng, shape, dtype, 1.0, noncontiguous)

    x64, g64 = x.astype(np.float64), g.astype(np.float64)  # the same numbers, exactly

    y = E.gelu_forward(x)
    assert y.shape == shape and y.dtype == dtype
    np.testing.assert_allclose(y, E.gelu_forward_reference(x64), **TOL[dtype], err_msg="exact forward")
    dx = E.gelu_backward(g, x)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, E.gelu_backward_reference(g64, x64), **TOL[dtype], err_msg="exact backward")

    yt, t = E.gelu_tanh_forward(x)
    yt_ref, t_ref = E.gelu_tanh_forward_reference(x64)
    assert yt.dtype == t.dtype == dtype and yt.shape == t.shape == shape
    np.testing.assert_allclose(yt, yt_ref, **TOL[dtype], err_msg="tanh forward")
    np.testing.assert_allclose(t, t_ref, **TOL[dtype], err_msg="tanh forward's t")
    np.testing.assert_allclose(E.gelu_tanh_backward(g, x, t), E.gelu_tanh_backward_reference(g64, x64, t_ref),
                               **TANH_BACKWARD_TOL[dtype], err_msg="tanh backward")


def test_float32_kernels_on_a_million_values():
    """The hypothesis test draws a few dozen small arrays; this sweeps a million values per
    spread (the vectorised body of the loops) against the float64 references, where the
    documented tolerances must still hold."""
    rng = np.random.default_rng(1)
    for spread in (0.3, 3.0, 30.0):
        x = (rng.standard_normal(1_000_000) * spread).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        x64, g64 = x.astype(np.float64), g.astype(np.float64)
        np.testing.assert_allclose(E.gelu_forward(x), E.gelu_forward_reference(x64), **TOL[np.float32])
        np.testing.assert_allclose(E.gelu_backward(g, x), E.gelu_backward_reference(g64, x64), **TOL[np.float32])
        yt, t = E.gelu_tanh_forward(x)
        yt_ref, t_ref = E.gelu_tanh_forward_reference(x64)
        np.testing.assert_allclose(yt, yt_ref, **TOL[np.float32])
        np.testing.assert_allclose(E.gelu_tanh_backward(g, x, t), E.gelu_tanh_backward_reference(g64, x64, t_ref),
                                   **TANH_BACKWARD_TOL[np.float32])


def test_float32_tanh_is_exactly_one_where_exp_underflows():
    """Regression: tanh(u) for large u was (1 - e) / (1 + e) with e = 0, which fast-math division
    made 1 - 6e-8 in the scalar tail of the loop, and backward's (1 - t^2) x^3 term grew that to
    errors of 5e-5 (found by hypothesis at x = 19.2). Short arrays run through that tail."""
    rng = np.random.default_rng(2)
    for n in range(1, 40):
        x = rng.uniform(8.0, 40.0, n).astype(np.float32) * rng.choice([-1, 1], n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        yt, t = E.gelu_tanh_forward(x)
        assert np.all(np.abs(t) == 1.0), t
        _, t_ref = E.gelu_tanh_forward_reference(x.astype(np.float64))
        np.testing.assert_allclose(E.gelu_tanh_backward(g, x, t),
                                   E.gelu_tanh_backward_reference(g.astype(np.float64), x.astype(np.float64), t_ref),
                                   **TANH_BACKWARD_TOL[np.float32])


def test_float32_phi_stays_within_its_documented_error():
    x = np.linspace(-12, 12, 20001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    y32 = E.gelu_forward(x.astype(np.float32)).astype(np.float64)
    # y = x Phi(x): the Phi error (1.5e-7 + float32 rounding of ~6e-8) is scaled by |x|
    assert np.all(np.abs(y32 - x * exact) <= 3e-7 * np.maximum(1.0, np.abs(x)))
    # very negative inputs give tiny negative outputs, not exactly zero and never positive
    assert np.all(y32[x < -1] <= 0)


def test_references_match_math_erf_and_known_values():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    expected = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(E.gelu_forward_reference(x), expected, rtol=1e-15)
    assert E.gelu_forward_reference(np.array([0.0]))[0] == 0.0
    # Phi(1) = 0.8413447460685429 (normal tables), so gelu(1) = 0.8413...
    assert E.gelu_forward_reference(np.array([1.0]))[0] == pytest.approx(0.8413447460685429, rel=1e-14)


@pytest.mark.parametrize("form", ["exact", "tanh"])
def test_reference_backward_is_the_derivative_of_the_forward(form):
    x0 = np.array([-4.0, -1.3, -0.2, 0.0, 0.4, 1.7, 5.0])
    g = np.array([0.3, -1.0, 2.0, 0.5, 1.5, -0.7, 1.1])
    if form == "exact":
        analytic = E.gelu_backward_reference(g, x0)
        numeric = numerical_gradient(lambda x: float(np.sum(g * E.gelu_forward_reference(x))), x0.copy())
    else:
        _, t = E.gelu_tanh_forward_reference(x0)
        analytic = E.gelu_tanh_backward_reference(g, x0, t)
        numeric = numerical_gradient(lambda x: float(np.sum(g * E.gelu_tanh_forward_reference(x)[0])), x0.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_against_torch_gelu():
    torch = pytest.importorskip("torch")
    x = np.linspace(-8, 8, 1001)
    # torch's float32 results carry their own rounding, so allow both errors
    tol = {np.float32: dict(rtol=1e-5, atol=3e-6), np.float64: TOL[np.float64]}
    for dtype in (np.float32, np.float64):
        xt = torch.tensor(x.astype(dtype))
        np.testing.assert_allclose(E.gelu_forward(x.astype(dtype)), torch.nn.functional.gelu(xt).numpy(),
                                   **tol[dtype])
        np.testing.assert_allclose(E.gelu_tanh_forward(x.astype(dtype))[0],
                                   torch.nn.functional.gelu(xt, approximate="tanh").numpy(), **tol[dtype])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="float32 or float64"):
        E.gelu_forward(np.arange(3))
    with pytest.raises(ValueError, match="shape"):
        E.gelu_backward(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="shapes"):
        E.gelu_tanh_backward(np.ones(3), np.ones(3), np.ones(2))


def test_backend_switch_uses_the_reference():
    x = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    with kernels.backend("numpy"):
        np.testing.assert_array_equal(kernels.gelu_forward(x), E.gelu_forward_reference(x))
        np.testing.assert_array_equal(kernels.gelu_tanh_forward(x)[0], E.gelu_tanh_forward_reference(x)[0])
    with kernels.backend("numba"):
        np.testing.assert_allclose(kernels.gelu_forward(x), E.gelu_forward_reference(x), **TOL[np.float32])


# ---- ReLU ---------------------------------------------------------------------------------------

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 3.5, -2.0]


@given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64]), noncontiguous=st.booleans(),
       seed=st.integers(0, 2**16))
def test_relu_kernels_equal_numpy_bit_for_bit(shape, dtype, noncontiguous, seed):
    """ReLU has nothing to round: the kernels must give numpy's ``np.maximum(x, 0)`` and
    ``g * (y > 0)`` exactly, NaN, infinities and signed zeros included (compared as bits)."""
    rng = np.random.default_rng(seed)
    x = _array(rng, shape, dtype, 3.0, noncontiguous)
    g = _array(rng, shape, dtype, 1.0, noncontiguous)
    if x.size:  # sprinkle the special values into both
        flat_x, flat_g = x.reshape(-1).copy(), g.reshape(-1).copy()
        picks = rng.integers(0, len(SPECIALS), size=flat_x.size)
        mask = rng.random(flat_x.size) < 0.3
        flat_x[mask] = np.array(SPECIALS, dtype)[picks[mask]]
        flat_g[~mask] = np.array(SPECIALS, dtype)[picks[~mask]]
        x, g = flat_x.reshape(shape), flat_g.reshape(shape)
    y = E.relu_forward(x)
    assert y.shape == shape and y.dtype == dtype
    np.testing.assert_array_equal(y.view(f"u{y.itemsize}"), np.maximum(x, 0).view(f"u{y.itemsize}"))
    dx = E.relu_backward(g, y)
    assert dx.shape == shape and dx.dtype == dtype
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as it should be
        expected = (g * (y > 0)).astype(dtype)
    np.testing.assert_array_equal(dx.view(f"u{dx.itemsize}"), expected.view(f"u{dx.itemsize}"))


def test_relu_on_two_threads_gives_the_same_bits(monkeypatch):
    """Arrays past the threshold go to ``_gelu_parallel`` (spied), and give what one thread gives."""
    from micrograd_plus.kernels import _shared

    monkeypatch.setattr(_shared, "_IGNORE_LOAD", True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(E._RELU_PARALLEL_MIN + 5).astype(np.float32)
    g = rng.standard_normal(x.size).astype(np.float32)
    calls = []
    real = E._gelu_parallel
    monkeypatch.setattr(E, "_gelu_parallel", lambda *a: (calls.append(a[-1]), real(*a))[1])
    y2, dx2 = E.relu_forward(x), E.relu_backward(g, np.maximum(x, 0))
    if numba_threads() > 1:
        assert len(calls) == 2 and all(n > 1 for n in calls), calls
    np.testing.assert_array_equal(y2, np.maximum(x, 0))
    np.testing.assert_array_equal(dx2, g * (x > 0))


def numba_threads():
    import numba

    return numba.get_num_threads()


def test_relu_bad_inputs_raise_clear_errors():
    with pytest.raises(TypeError, match="float32 or float64"):
        E.relu_forward(np.arange(3))
    with pytest.raises(ValueError, match="shape"):
        E.relu_backward(np.ones(3), np.ones(4))


def test_tensor_relu_uses_the_kernels_and_keeps_integers_in_numpy():
    """``Tensor.relu`` (what ``nn.ReLU`` and ``F.relu`` call) gives the kernel's bits and its
    gradient; an integer tensor still works through numpy."""
    from micrograd_plus import tensor

    x = tensor([[-1.5, 0.0, 2.0], [np.nan, -0.0, 3.0]], requires_grad=True)
    y = x.relu()
    np.testing.assert_array_equal(y.detach().numpy(), E.relu_forward(x.detach().numpy()))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert tensor([-2, 0, 3]).relu().tolist() == [0, 0, 3]
