"""Tests for the LayerNorm and softmax + cross-entropy kernels (kernels/layer_norm.py, cross_entropy.py).

The chain of trust, as for the other kernels: each numpy reference is checked against central
differences in float64 and, when torch is installed, against PyTorch; the compiled kernels are
held equal to the references over shapes, strides and both dtypes (hypothesis), NaN and inf
included. Shapes are small so the suite also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.gradcheck import numerical_gradient
from micrograd_plus.kernels import cross_entropy as CE
from micrograd_plus.kernels import layer_norm as LN

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = st.sampled_from([np.float32, np.float64])
# rows x n: one row, short rows, odd sizes, and one big enough for the parallel path (>= 32768)
SHAPES = st.sampled_from([(1, 1), (1, 7), (5, 3), (9, 16), (13, 65), (40, 128), (300, 130)])


def _array(rng, shape, dtype, strided, spread=1.0, offset=0.0):
    """Normal values; ``strided``: a view with every other column of a wider parent."""
    if strided:
        a = (rng.standard_normal((shape[0], 2 * shape[1])) * spread + offset).astype(dtype)[:, ::2]
        assert not a.flags.c_contiguous or shape[1] == 1
        return a
    return (rng.standard_normal(shape) * spread + offset).astype(dtype)


def _close(actual, expected, dtype, what):
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


# ---- LayerNorm --------------------------------------------------------------------------------

@given(shape=SHAPES, dtype=DTYPES, strided=st.booleans(), affine=st.booleans(), seed=st.integers(0, 2**16))
def test_layer_norm_kernels_match_reference(shape, dtype, strided, affine, seed):
    rng = np.random.default_rng(seed)
    x = _array(rng, shape, dtype, strided, spread=3.0, offset=2.0)  # an offset: variance is not mean of squares
    g = _array(rng, shape, dtype, strided)
    w = _array(rng, shape[1:], dtype, False) if affine else None
    b = _array(rng, shape[1:], dtype, False) if affine else None
    y, mean, rstd = LN.layer_norm_forward(x, w, b, 1e-5)
    y_ref, mean_ref, rstd_ref = LN.layer_norm_forward_reference(x, w, b, 1e-5)
    assert y.dtype == dtype and y.shape == shape
    _close(y, y_ref, dtype, "y")
    _close(mean, mean_ref, dtype, "mean")
    _close(rstd, rstd_ref, dtype, "rstd")
    # dweight and dbias are sums down the rows (300 of them at most): in float32 the kernel's order and
    # numpy's differ by up to (rows - 1) roundings of the running sum each, so where the terms cancel
    # (a sum of 0.07 from terms of size ~1) the gap can exceed any tolerance relative to the result
    # (seen: 1.8e-5 at 0.0719). Their bound is the textbook one, relative to the sum of |terms|.
    g64 = g.astype(np.float64)
    xhat = (x.astype(np.float64) - mean_ref.astype(np.float64)[:, None]) * rstd_ref.astype(np.float64)[:, None]
    terms = {"dweight": np.abs(g64 * xhat).sum(axis=0), "dbias": np.abs(g64).sum(axis=0)}
    for name, a, a_ref in zip(("dx", "dweight", "dbias"), LN.layer_norm_backward(g, x, w, mean, rstd),
                              LN.layer_norm_backward_reference(g, x, w, mean_ref, rstd_ref)):
        assert a.dtype == dtype, name
        if dtype == np.float32 and name in terms:
            u = np.finfo(np.float32).eps / 2  # float32's unit roundoff
            bound = (2 * shape[0] + 4) * u * terms[name] + TOL[dtype]["atol"]
            np.testing.assert_array_less(np.abs(a.astype(np.float64) - a_ref.astype(np.float64)), bound,
                                         err_msg=name)
        else:
            _close(a, a_ref, dtype, name)


def test_layer_norm_reference_gradients_are_central_differences(rng):
    x, g, w, b = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    y, mean, rstd = LN.layer_norm_forward_reference(x, w, b, 1e-5)
    dx, dw, db = LN.layer_norm_backward_reference(g, x, w, mean, rstd)
    cost = lambda x_, w_, b_: float((LN.layer_norm_forward_reference(x_, w_, b_, 1e-5)[0] * g).sum())  # noqa: E731
    np.testing.assert_allclose(dx, numerical_gradient(lambda a: cost(a, w, b), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_gradient(lambda a: cost(x, a, b), w), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numerical_gradient(lambda a: cost(x, w, a), b), rtol=1e-6, atol=1e-8)


def test_layer_norm_reference_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, g, w, b = rng.standard_normal((5, 8)), rng.standard_normal((5, 8)), rng.standard_normal(8), rng.standard_normal(8)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (8,), tw, tb, 1e-5)
    ty.backward(torch.tensor(g))
    y, mean, rstd = LN.layer_norm_forward_reference(x, w, b, 1e-5)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(LN.layer_norm_backward_reference(g, x, w, mean, rstd), (tx, tw, tb)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_layer_norm_constant_row_is_zero_not_nan():
    """A row with no variance: x - mean = 0 exactly, 1/sqrt(eps) finite, y = bias."""
    x = np.full((3, 5), 2.5, np.float32)
    y, _, _ = LN.layer_norm_forward(x, None, np.arange(5, dtype=np.float32), 1e-5)
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(5, dtype=np.float32), (3, 5)))


def test_layer_norm_bad_input_names_it():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="weight must be"):
        LN.layer_norm_forward(x, np.ones(5, np.float32), None, 1e-5)
    with pytest.raises(ValueError, match="bias must be"):
        LN.layer_norm_forward(x, None, np.ones(4, np.float64), 1e-5)
    with pytest.raises(TypeError, match="2-D float32 or float64"):
        LN.layer_norm_forward(x.astype(np.int32), None, None, 1e-5)


# ---- softmax + cross-entropy ------------------------------------------------------------------

@st.composite
def targets(draw, rows, C, ignore):
    seed = draw(st.integers(0, 2**16))
    t = np.random.default_rng(seed).integers(0, C, rows)
    if ignore and rows:
        t[draw(st.integers(0, rows - 1))] = -100
    return t


@given(shape=SHAPES, dtype=DTYPES, strided=st.booleans(), ignore=st.booleans(), data=st.data())
def test_cross_entropy_kernels_match_reference(shape, dtype, strided, ignore, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = _array(rng, shape, dtype, strided, spread=data.draw(st.sampled_from([1.0, 30.0])))
    t = data.draw(targets(shape[0], shape[1], ignore))
    w = _array(rng, shape[:1], dtype, False)
    nll, lse = CE.cross_entropy_forward(x, t)
    nll_ref, lse_ref = CE.cross_entropy_forward_reference(x, t)
    assert nll.dtype == dtype and nll.shape == shape[:1]
    _close(nll, nll_ref, dtype, "nll")
    _close(lse, lse_ref, dtype, "lse")
    dx = CE.cross_entropy_backward(w, x, t, lse)
    assert dx.dtype == dtype and dx.shape == shape
    _close(dx, CE.cross_entropy_backward_reference(w, x, t, lse_ref), dtype, "dx")


def test_cross_entropy_reference_gradient_is_central_differences(rng):
    x, t, w = rng.standard_normal((5, 7)), np.array([0, 6, 3, -100, 2]), rng.standard_normal(5)
    nll, lse = CE.cross_entropy_forward_reference(x, t)
    dx = CE.cross_entropy_backward_reference(w, x, t, lse)
    numeric = numerical_gradient(lambda a: float((CE.cross_entropy_forward_reference(a, t)[0] * w).sum()), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    assert nll[3] == 0 and not dx[3].any()  # the ignored row


def test_cross_entropy_reference_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, t = rng.standard_normal((6, 9)) * 5, np.array([1, 8, 0, -100, 4, 4])
    nll, _ = CE.cross_entropy_forward_reference(x, t)
    want = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(nll, want, rtol=1e-10, atol=1e-12)


def test_cross_entropy_huge_logits_stay_finite():
    """Subtracting the max first: logits of 1e4 (exp overflows) still give the right cost."""
    for dtype in (np.float32, np.float64):
        x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], dtype)
        nll, _ = CE.cross_entropy_forward(x, np.array([0, 2]))
        np.testing.assert_allclose(nll, [0.0, 1e4 + np.log(2)], rtol=1e-6)


def test_cross_entropy_out_of_range_target_names_it():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(IndexError, match="target class 4 is out of range for 4 classes"):
        CE.cross_entropy_forward(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="target class -2"):
        CE.cross_entropy_forward(x, np.array([0, -2, 1]))


def test_cross_entropy_backward_weights_per_row_or_one_number():
    """w is each row's upstream gradient, (rows,), or one number for all rows; anything else is
    named in the error."""
    x = np.zeros((3, 4), np.float32)  # uniform softmax: 1/4 everywhere
    t = np.array([0, 1, 2])
    _, lse = CE.cross_entropy_forward(x, t)
    expected = (np.full((3, 4), 0.25) - np.eye(3, 4)) * 0.5
    for w in (0.5, np.float32(0.5), np.array([0.5]), np.full(3, 0.5)):
        np.testing.assert_allclose(CE.cross_entropy_backward(w, x, t, lse), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"w must be \(3,\) or one number, got \(2,\)"):
        CE.cross_entropy_backward(np.ones(2), x, t, lse)


# NaN and inf through these kernels: tests/kernels/test_nonfinite.py
