"""The convolution and pooling kernels against their numpy references, against cases worked out
by hand, and on one thread against two, bit for bit.

Shapes are small so that this also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from micrograd_plus.kernels import _shared
from micrograd_plus.kernels import conv as K
import micrograd_plus.kernels.matmul  # noqa: F401  (the module: kernels.matmul is also a function)
import sys

MM = sys.modules["micrograd_plus.kernels.matmul"]

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


# ---- hand-checkable cases: what a convolution and a pooling *are* --------------------------------


def _conv(x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1, ref=False):
    fn = K.conv2d_forward_reference if ref else K.conv2d_forward
    return fn(np.asarray(x, np.float64), np.asarray(w, np.float64), b, stride, padding, dilation, groups)[0]


@pytest.mark.parametrize("ref", [True, False])
def test_conv_by_hand(ref):
    x = np.arange(16.0).reshape(1, 1, 4, 4)  # x[i, j] = 4i + j
    ones = np.ones((1, 1, 2, 2))
    # each output is the sum of a 2x2 block: x[i,j] + x[i,j+1] + x[i+1,j] + x[i+1,j+1] = 4(4i + j) + 10
    np.testing.assert_array_equal(_conv(x, ones, ref=ref)[0, 0], [[10, 14, 18], [26, 30, 34], [42, 46, 50]])
    np.testing.assert_array_equal(_conv(x, ones, stride=(2, 2), ref=ref)[0, 0], [[10, 18], [42, 50]])
    # dilation 2: the taps are two apart, x[i,j] + x[i,j+2] + x[i+2,j] + x[i+2,j+2] = 4(4i + j) + 20
    np.testing.assert_array_equal(_conv(x, ones, dilation=(2, 2), ref=ref)[0, 0], [[20, 24], [36, 40]])
    # padding 1 around a 3x3 image of ones, a 3x3 filter of ones: how many pixels each window covers
    y = _conv(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), padding=(1, 1, 1, 1), ref=ref)
    np.testing.assert_array_equal(y[0, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    # uneven padding (what "same" gives an even kernel): one row on top, none below
    y = _conv(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), padding=(1, 0, 0, 1), ref=ref)
    np.testing.assert_array_equal(y[0, 0], [[2, 1], [4, 2]])
    # groups=2: filter 0 sees only channel 0, filter 1 only channel 1 (times 2), plus the biases
    x2 = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 5.0)])[None]  # (1, 2, 2, 2)
    w2 = np.array([1.0, 2.0]).reshape(2, 1, 1, 1)
    fn = K.conv2d_forward_reference if ref else K.conv2d_forward
    y = fn(x2, w2, np.array([0.5, -1.0]), (1, 1), (0, 0, 0, 0), (1, 1), 2)[0]
    np.testing.assert_array_equal(y[0, 0], np.full((2, 2), 1.5))
    np.testing.assert_array_equal(y[0, 1], np.full((2, 2), 9.0))


@pytest.mark.parametrize("ref", [True, False])
def test_conv_backward_by_hand(ref):
    """L = sum(y) for a 2x2 filter on a 3x3 image: dL/dw[i, j] is the sum of the pixels the tap
    (i, j) visits; dL/dx[p] counts the windows that cover p times the sum of the filter... for a
    filter of ones, the number of windows covering p."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    fw, bw = ((K.conv2d_forward_reference, K.conv2d_backward_reference) if ref else
              (K.conv2d_forward, K.conv2d_backward))
    y, cols = fw(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    dx, dw, db = bw(np.ones_like(y), x.shape, w, cols, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    # tap (0,0) visits x[0:2, 0:2] = 0+1+3+4 = 8; (0,1): 1+2+4+5 = 12; (1,0): 3+4+6+7 = 20; (1,1): 24
    np.testing.assert_array_equal(dw[0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(db, [4.0])


@pytest.mark.parametrize("ref", [True, False])
def test_pooling_by_hand(ref):
    fwd = K.max_pool2d_forward_reference if ref else K.max_pool2d_forward
    bwd = K.max_pool2d_backward_reference if ref else K.max_pool2d_backward
    x = np.array([[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 7.0, 7.0], [0.0, 0.0, 1.0, 1.0], [5.0, 0.0, 1.0, 1.0]])[None, None]
    y, idx = fwd(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(y[0, 0], [[4, 7], [5, 1]])
    # ties go to the first in row-major order: 7 at (1, 2) = index 6, the 1 at (2, 2) = index 10
    np.testing.assert_array_equal(idx[0, 0], [[4, 6], [12, 10]])
    dx = bwd(np.array([[10.0, 20.0], [30.0, 40.0]])[None, None], idx, x.shape)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 0], [10, 0, 20, 0], [0, 0, 40, 0], [30, 0, 0, 0]])
    # overlapping windows (stride 1): a pixel that is the maximum of two windows gets both gradients
    y, idx = fwd(np.array([[1.0, 9.0, 1.0]])[None, None], (1, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(idx[0, 0], [[1, 1]])
    np.testing.assert_array_equal(bwd(np.array([[2.0, 3.0]])[None, None], idx, (1, 1, 1, 3))[0, 0], [[0, 5, 0]])
    # average pooling spreads evenly: a 2x2 window's gradient 1 becomes 1/4 on each pixel
    afwd = K.avg_pool2d_forward_reference if ref else K.avg_pool2d_forward
    abwd = K.avg_pool2d_backward_reference if ref else K.avg_pool2d_backward
    np.testing.assert_array_equal(afwd(x, (2, 2), (2, 2), (0, 0), False, True, None)[0, 0], [[2.5, 4], [1.25, 1]])
    np.testing.assert_array_equal(abwd(np.ones((1, 1, 1, 1)), (1, 1, 2, 2), (2, 2), (2, 2), (0, 0), False, True, None),
                                  np.full((1, 1, 2, 2), 0.25))
    # padding 1 on a 2x2 image of ones with 2x2 windows, stride 2: each window holds 1 pixel and 3 zeros
    ones = np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(afwd(ones, (2, 2), (2, 2), (1, 1), False, True, None)[0, 0], np.full((2, 2), 0.25))
    np.testing.assert_array_equal(afwd(ones, (2, 2), (2, 2), (1, 1), False, False, None)[0, 0], np.ones((2, 2)))


def test_output_size_matches_pytorch_formula():
    assert K.output_size(28, 5, 1, 2, 2, 1) == 28  # "same" for a 5x5 filter
    assert K.output_size(7, 2, 2, 0, 0, 1) == 3  # floor: the last column is dropped
    assert K.output_size(7, 2, 2, 0, 0, 1, ceil_mode=True) == 4  # ceil: a last, partial window
    assert K.output_size(6, 2, 2, 1, 1, 1, ceil_mode=True) == 4  # but not one that starts in the right padding
    assert K.output_size(3, 5, 1, 0, 0, 1) == 0


# ---- kernels == references, over many shapes -------------------------------------------------------


@st.composite
def conv_case(draw):
    groups = draw(st.integers(1, 2))
    C, O = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 2))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))  # stride > kernel included
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    N, H, W = draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(K.output_size(H, KH, stride[0], padding[0], padding[1], dilation[0]) > 0)
    assume(K.output_size(W, KW, stride[1], padding[2], padding[3], dilation[1]) > 0)
    return (N, C, H, W), (O, C // groups, KH, KW), stride, padding, dilation, groups


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_case(), seed=st.integers(0, 1000), dots=st.booleans())
def test_conv_kernels_match_reference(dtype, case, seed, dots):
    """``dots``: the weight gradient as dot products (what layers of few filters use) or on the
    matmul kernel (what wider layers use); both are held to the reference."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(K, "_few_filters", lambda n_filters, dtype: dots)
        _conv_kernels_match_reference(dtype, case, seed)


def _conv_kernels_match_reference(dtype, case, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    y, cols = K.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    y_ref, cols_ref = K.conv2d_forward_reference(x, w, b, stride, padding, dilation, groups)
    if not isinstance(cols, K.Padded):  # (a direct stride-1 forward keeps the padded input instead)
        np.testing.assert_array_equal(cols, cols_ref)  # a gather: exact
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    assert y.dtype == dtype
    g = rng.standard_normal(y.shape).astype(dtype)
    got = K.conv2d_backward(g, x.shape, w, cols, stride, padding, dilation, groups)
    want = K.conv2d_backward_reference(g, x.shape, w, cols_ref, stride, padding, dilation, groups)
    for a, e, name in zip(got, want, ("dx", "dw", "db")):
        assert a.dtype == dtype and a.shape == e.shape, name
        np.testing.assert_allclose(a, e, err_msg=name, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, padding, dilation", [
    ((3, 7, 6, 5), (5, 7, 3, 3), (1, 1, 1, 1), (1, 1)),      # channels not a multiple of MR, rows not of NR
    ((2, 3, 9, 4), (13, 3, 3, 2), (2, 0, 0, 1), (2, 1)),     # uneven padding, dilation, more filters than MR
    ((1, 6, 3, 3), (2, 6, 3, 3), (0, 0, 0, 0), (1, 1)),      # no padding: g's border is the kernel's reach
    ((5, 16, 14, 14), (32, 16, 5, 5), (2, 2, 2, 2), (1, 1)),  # the MNIST network's second layer, small batch
])
def test_direct_dx_matches_reference(dtype, x_shape, w_shape, padding, dilation, rng):
    """The input gradient of stride-1 convolutions as a direct correlation (what the kernels
    choose for them) against col2im(Wᵀ @ g) in numpy."""
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    args = ((1, 1), padding, dilation, 1)
    assert K._direct_dx_fits(args[0], padding, dilation, 1, w_shape[2:], x_shape[1])
    y, cols = K.conv2d_forward(x, w, None, *args)
    g = rng.standard_normal(y.shape).astype(dtype)
    got = K.conv2d_backward(g, x_shape, w, cols, *args, True, False, False)[0]
    want = K.conv2d_backward_reference(g, x_shape, w, cols, *args, True, False, False)[0]
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, **TOL[dtype])


DIRECT_CASES = [  # x shape, weight shape, padding (top, bottom, left, right), dilation
    ((3, 3, 7, 5), (4, 3, 3, 3), (1, 1, 1, 1), (1, 1)),       # 3 channels (the fewest that take this path), odd sizes
    ((1, 20, 9, 6), (7, 20, 2, 3), (0, 0, 0, 0), (1, 1)),     # batch 1, 20 channels, filters not a multiple of 4 or MR
    ((3, 5, 8, 9), (13, 5, 3, 2), (2, 0, 1, 2), (2, 1)),      # uneven padding wider than the kernel's reach, dilation 2
    ((2, 6, 5, 7), (6, 6, 3, 3), (2, 2, 2, 2), (2, 2)),       # dilation 2 both ways, padding 2
    ((1, 4, 4, 3), (2, 4, 1, 1), (0, 0, 0, 0), (1, 1)),       # 1x1 filters
    ((1, 16, 14, 14), (32, 16, 5, 5), (2, 2, 2, 2), (1, 1)),  # the MNIST network's second layer, one image
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, padding, dilation", DIRECT_CASES)
def test_direct_forward_and_dw_match_reference(dtype, x_shape, w_shape, padding, dilation, rng):
    """Stride-1, one-group convolutions of 3 or more channels run without im2col: the forward pass
    as a correlation of the padded input, dW as dot products with it. Both against the numpy
    reference (im2col, ``W @ cols``, ``g @ colsᵀ``), and the path really taken (no cols kept)."""
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    args = ((1, 1), padding, dilation, 1)
    y, kept = K.conv2d_forward(x, w, b, *args)
    y_ref, cols = K.conv2d_forward_reference(x, w, b, *args)
    assert isinstance(kept, K.Padded), "a stride-1 layer of several channels should not build cols"
    assert y.dtype == dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    got = K.conv2d_backward(g, x_shape, w, kept, *args)
    want = K.conv2d_backward_reference(g, x_shape, w, cols, *args)
    for a, e, name in zip(got, want, ("dx", "dw", "db")):
        assert a.dtype == dtype and a.shape == e.shape, name
        np.testing.assert_allclose(a, e, err_msg=name, **TOL[dtype])


def test_few_channels_keep_im2col():
    """One or two input channels (the MNIST network's first layer), a stride, or groups: im2col."""
    for c, stride, groups in ((1, (1, 1), 1), (2, (1, 1), 1), (4, (2, 1), 1), (4, (1, 1), 2)):
        x, w = np.ones((2, c, 5, 5)), np.ones((2, c // groups, 3, 3))
        _, kept = K.conv2d_forward(x, w, None, stride, (1, 1, 1, 1), (1, 1), groups)
        assert isinstance(kept, np.ndarray) and kept.shape[0] == c * 9, (c, stride, groups)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m, r, p", [(5, 7, 1300), (4, 4, 512), (1, 1, 3), (9, 2, 1025)])
def test_dots_match_numpy(dtype, m, r, p, rng):
    """The weight gradient's dot products over more positions than one slice (512): slices added
    in order, edge blocks of fewer than 4 rows or columns written once."""
    a, b = rng.standard_normal((m, p)).astype(dtype), rng.standard_normal((r, p)).astype(dtype)
    np.testing.assert_allclose(K._dots(a, b), a @ b.T, **TOL[dtype])


@st.composite
def pool_case(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, (di * (ki - 1) + 1) // 2)) for ki, di in zip(k, d))
    ceil = draw(st.booleans())
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(K.output_size(H, k[0], s[0], p[0], p[0], d[0], ceil) > 0)
    assume(K.output_size(W, k[1], s[1], p[1], p[1], d[1], ceil) > 0)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), k, s, p, d, ceil


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_case(), seed=st.integers(0, 1000), ties=st.booleans())
def test_max_pool_kernels_match_reference(dtype, case, seed, ties):
    shape, k, s, p, d, ceil = case
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)  # ties: first wins
    y, idx = K.max_pool2d_forward(x, k, s, p, d, ceil)
    y_ref, idx_ref = K.max_pool2d_forward_reference(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    g = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(K.max_pool2d_backward(g, idx, shape), K.max_pool2d_backward_reference(g, idx, shape),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_case(), seed=st.integers(0, 1000), include_pad=st.booleans(), override=st.sampled_from([None, 3]))
def test_avg_pool_kernels_match_reference(dtype, case, seed, include_pad, override):
    shape, k, s, p, _, ceil = case
    assume(all(pi <= ki // 2 for pi, ki in zip(p, k)))  # (no dilation for average pooling)
    H, W = shape[2:]
    assume(K.output_size(H, k[0], s[0], p[0], p[0], 1, ceil) > 0 and K.output_size(W, k[1], s[1], p[1], p[1], 1, ceil) > 0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    opts = (ceil, include_pad, override)
    y = K.avg_pool2d_forward(x, k, s, p, *opts)
    np.testing.assert_allclose(y, K.avg_pool2d_forward_reference(x, k, s, p, *opts), **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(K.avg_pool2d_backward(g, shape, k, s, p, *opts),
                               K.avg_pool2d_backward_reference(g, shape, k, s, p, *opts), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 7, 5), (1, 1, 2, 2)])
def test_max_pool_2x2_fast_path_matches_reference(dtype, shape, rng):
    """MaxPool2d(2) has a loop of its own (the four taps written out): ties, a NaN, odd sizes."""
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties
    x.flat[min(5, x.size - 1)] = np.nan
    y, idx = K.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    y_ref, idx_ref = K.max_pool2d_forward_reference(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_max_pool_nan_wins():
    x = np.array([[1.0, np.nan], [3.0, 2.0]])[None, None]
    for fwd in (K.max_pool2d_forward, K.max_pool2d_forward_reference):
        y, idx = fwd(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1


# ---- one thread and two: the same bits ----------------------------------------------------------

PARALLEL = ("_im2col_parallel", "_col2im_parallel", "_transpose_parallel", "_max_pool_2x2_parallel",
            "_max_pool_parallel", "_max_pool_backward_parallel", "_avg_pool_parallel",
            "_correlate_parallel", "_dots_parallel", "_direct_dw_parallel")


def _run_all(x, w, b, g_seed):
    """Every kernel of the module once, forward and backward; returns all their outputs."""
    args = ((2, 1), (1, 2, 0, 1), (1, 2), 2)
    y, cols = K.conv2d_forward(x, w, b, *args)
    g = np.random.default_rng(g_seed).standard_normal(y.shape).astype(x.dtype)
    out = [y, cols, *K.conv2d_backward(g, x.shape, w, cols, *args)]
    args = ((1, 1), (1, 0, 0, 1), (2, 1), 1)  # stride 1, one group: dx as a direct correlation
    w1 = np.concatenate([w, w[:, ::-1]], axis=1)  # (6, 4, 3, 2): all four channels
    y, cols = K.conv2d_forward(x, w1, b, *args)
    g = np.random.default_rng(g_seed + 1).standard_normal(y.shape).astype(x.dtype)
    out += [y, *K.conv2d_backward(g, x.shape, w1, cols, *args)]  # (and y, dW without im2col: 4 channels)
    y, cols = K.conv2d_forward(x[:, :2], w1[:, :2], b, *args)  # 2 channels: im2col, dW as dot products
    out += [y, cols, *K.conv2d_backward(g, x[:, :2].shape, w1[:, :2], cols, *args)]
    m, idx = K.max_pool2d_forward(x, (3, 2), (2, 1), (1, 0), (1, 2), True)
    out += [m, idx, K.max_pool2d_backward(m * 2, idx, x.shape)]
    out += list(K.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False))  # MaxPool2d(2)'s own loop
    a = K.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1), True, False, None)
    out += [a, K.avg_pool2d_backward(a * 3, x.shape, (3, 3), (2, 2), (1, 1), True, False, None)]
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_thread_and_threads_give_the_same_bits(dtype, monkeypatch, rng):
    """Each kernel on the calling thread alone (cores declared busy), then with threads forced
    (thresholds 0, cores free, three threads: uneven runs); a spy checks the threaded twins really
    ran, and every output must be equal bit for bit, products' sums included."""
    x = rng.standard_normal((3, 4, 9, 7)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    calls = []
    for name in PARALLEL:
        real = getattr(K, name)
        monkeypatch.setattr(K, name, lambda *a, real=real, name=name: (calls.append((name, a[-1])), real(*a))[1])
    real_gemm = MM._gemm_parallel
    monkeypatch.setattr(MM, "_gemm_parallel", lambda *a: (calls.append(("_gemm_parallel", 2)), real_gemm(*a))[1])
    monkeypatch.setattr(_shared, "cores_are_free", lambda: False)
    serial = _run_all(x, w, b, 1)
    assert calls == []
    monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 3)
    monkeypatch.setattr(K, "_PARALLEL_MIN", 0)
    monkeypatch.setattr(MM, "_PARALLEL_MIN_FLOPS", 0)
    threaded = _run_all(x, w, b, 1)
    expected = set(PARALLEL) | {"_gemm_parallel"}
    if not K._few_filters(w.shape[0], dtype):  # 6 filters fill half of a float64 panel with AVX2's
        expected.discard("_dots_parallel")      # 8 columns: dW is a product on the micro-kernel there
    assert {name for name, _ in calls} == expected and all(n > 1 for _, n in calls), calls
    for a, e in zip(threaded, serial):
        np.testing.assert_array_equal(a, e)
