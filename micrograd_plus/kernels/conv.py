"""Convolution and pooling kernels: a convolution *is* a matrix product, once the image is unrolled.

A 2-D convolution slides ``O`` filters, each ``C x KH x KW`` numbers, over an image of ``C``
channels. At every output position a filter takes the dot product of its weights with the
``C*KH*KW`` pixels under it. Write those pixels as one column -- for every output position of
every image in the batch -- and the whole convolution is one matrix product::

    cols  (C*KH*KW, OH*OW*N)     column q holds the pixels filter positions see at output q
    W     (O, C*KH*KW)           row o is filter o, flattened the same way
    W @ cols -> (O, OH*OW*N)     = y, up to a reordering to (N, O, OH, OW)

Building ``cols`` is called *im2col* (image to columns). A pixel appears in up to KH*KW columns
(every window that covers it), so ``cols`` is bigger than the image; in exchange the work runs
on the same register-blocked matmul kernels as a linear layer (:mod:`micrograd_plus.kernels.matmul`).
The backward pass is the product rule of ``y = W @ cols`` and the transpose of im2col::

    dW    = dy @ colsᵀ          (O, OH*OW*N) @ (OH*OW*N, C*KH*KW)
    dcols = Wᵀ @ dy             (C*KH*KW, O) @ (O, OH*OW*N)
    dx    = col2im(dcols)       each column's numbers added back onto the pixels they came from

col2im *adds*: a pixel copied into several columns receives the sum of their gradients, the same
rule as for any value used several times. Stride, padding and dilation only change *which*
pixel goes where in ``cols`` (padding reads zeros); groups cut the channels and the filters into
``groups`` independent blocks, one product each.

That is the reference, and what the compiled kernels do in general. Three cases of the MNIST
network's kind take shorter ways to the same numbers (the tests hold each to the reference):

* **y and dW of a stride-1 convolution of several input channels** (one group, 3 or more
  channels: the second layer) never build ``cols``: y is a correlation of the zero-padded input
  with the filters on the matmul micro-kernel, dW dot products of the gradient with that padded
  input (:func:`_direct_forward`, :func:`_direct_dw`). What the forward pass keeps for backward
  is then the padded input (:class:`Padded`, 1.3 MB for the second layer) instead of ``cols``
  (20 MB, each pixel copied 25 times).

* **dx of a stride-1 convolution** is itself a convolution: of the gradient, padded, with the
  filters flipped and their in/out channels swapped (:func:`_direct_dx`). Computed directly on
  the matmul micro-kernel, one (MR channels x NR positions) block of dx at a time summed over
  every tap, it never writes ``dcols`` -- for the second layer 20 MB, written once and read
  back by col2im.
* **dW of a layer with few filters** (fewer than half a micro-kernel block's NR columns: the
  first layer's 16) runs as dot products along the positions (:func:`_dots_rows`), where a
  matmul block would be mostly empty.

Why ``W @ cols`` and not ``cols.T @ W.T``: the product's rows are then the O filters (16 or 32)
and its columns the OH*OW*N positions (many thousands), the shape the micro-kernel is best at (its
blocks are 6 rows by 64 float32 columns on AVX-512; 16 columns would leave three quarters of each
block empty).

Pooling needs no product: max-pooling keeps the largest number of each window and remembers
where it was (its gradient goes there, all of it; on ties the first, as in PyTorch), average
pooling takes the window's mean (its gradient is spread evenly over the window).

Every kernel has its plain-numpy ``*_reference`` beside it (the definition; the tests hold the
compiled ones equal to it). The compiled loops share out the (image, channel) planes among
threads: each plane is gathered from, or added into, by one thread in a fixed order, and the
products' sums run in a fixed order whatever the number of threads (their tiles split the
output, never the sum), so one thread and two give the same bits.

Layout: the columns of ``cols`` run over positions first and images last (column
``(oh*OW + ow)*N + n``), so that the N images' copies of one pixel sit side by side. Then a tap's
whole output row is one long contiguous copy (im2col) or addition (col2im) instead of N short
ones; the price is a transpose of the input, (N, C*H*W) -> (C*H*W, N), and of the product's
result, (O*OH*OW, N) -> (N, O*OH*OW), both far smaller than ``cols``.

Shapes (PyTorch's): x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,), y (N, O, OH, OW);
``padding`` here is ``(top, bottom, left, right)`` -- "same" padding can be uneven -- and
``OH = (H + top + bottom - dh*(KH-1) - 1) // sh + 1`` (likewise OW).
"""

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels.matmul import (_WIDE, VECTOR_BYTES, _dots_4x4, matmul as _mm, matmul_nt as _mm_nt,
                                           matmul_tn as _mm_tn, register_blocking)
from micrograd_plus.kernels._cpu import has_fma
from micrograd_plus.kernels._fastmath import FASTMATH
from micrograd_plus.kernels._microkernel import MR, make_microkernel
from micrograd_plus.kernels._shared import kernel_array, threads_for, transpose_rows

_mk = make_microkernel(VECTOR_BYTES, fma=has_fma(), wide=_WIDE)  # the matmul micro-kernel (a block of MR rows of C)

# Below this many numbers moved, a parallel region (about 1.5 µs, plus a thread that may be
# descheduled on a shared machine) costs more than it saves.
_PARALLEL_MIN = 65_536
_FASTMATH = set(FASTMATH)  # for the dot products' sums; IEEE NaN/inf rules kept: see kernels/_fastmath.py


def output_size(size, kernel, stride, pad_before, pad_after, dilation, ceil_mode=False):
    """Positions a window of ``kernel`` taps ``dilation`` apart takes along one axis of ``size``
    padded by ``pad_before`` / ``pad_after``, moving ``stride`` at a time (PyTorch's formula; with
    ``ceil_mode`` a last partial window counts if it starts inside the input or the first padding)."""
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    n = (span + stride - 1) // stride + 1 if ceil_mode else span // stride + 1
    if ceil_mode and (n - 1) * stride >= size + pad_before:
        n -= 1
    return n


# ---------------------------------------------------------------------------------------------
# Plain-numpy references: the definitions the kernels are tested against.
# ---------------------------------------------------------------------------------------------


def im2col_reference(x, kernel, stride, padding, dilation):
    """x (N, C, H, W) -> cols (C*KH*KW, OH*OW*N): column ``(oh*OW + ow)*N + n`` holds the C*KH*KW
    pixels that the window at output (oh, ow) of image n covers (zeros in the padding).

    ``kernel``, ``stride``, ``dilation`` are (h, w) pairs, ``padding`` (top, bottom, left, right).
    One strided slice of the padded image per tap (i, j) of the window fills a whole block of rows.
    The batch is the fastest-moving index of a column (see the module docstring for why).
    """
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    N, C, H, W = x.shape
    OH = output_size(H, KH, sh, top, bottom, dh)
    OW = output_size(W, KW, sw, left, right, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))  # (N, C, H+top+bottom, W+left+right)
    cols = np.empty((C, KH, KW, OH, OW, N), dtype=x.dtype)
    for i in range(KH):
        for j in range(KW):
            # tap (i, j) of every window: rows i*dh, i*dh + sh, ...; columns j*dw, j*dw + sw, ...
            patch = xp[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw]
            cols[:, i, j] = patch.transpose(1, 2, 3, 0)  # (C, OH, OW, N)
    return cols.reshape(C * KH * KW, OH * OW * N)


def col2im_reference(cols, x_shape, kernel, stride, padding, dilation):
    """The transpose of :func:`im2col_reference`: add every number of ``cols`` (C*KH*KW, OH*OW*N)
    back onto the pixel it was copied from; returns (N, C, H, W). Padding's numbers are dropped."""
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    N, C, H, W = x_shape
    OH = output_size(H, KH, sh, top, bottom, dh)
    OW = output_size(W, KW, sw, left, right, dw)
    c6 = cols.reshape(C, KH, KW, OH, OW, N)
    xp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            xp[:, :, i * dh : i * dh + sh * (OH - 1) + 1 : sh, j * dw : j * dw + sw * (OW - 1) + 1 : sw] += (
                c6[:, i, j].transpose(3, 0, 1, 2))
    return np.ascontiguousarray(xp[:, :, top : top + H, left : left + W])


def conv2d_forward_reference(x, weight, bias, stride, padding, dilation, groups):
    """y (N, O, OH, OW) and cols of a 2-D convolution: im2col, then ``W @ cols`` per group.

    x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,) or None; same float dtype.
    Returns ``(y, cols)``; ``cols`` (C*KH*KW, OH*OW*N) is what the backward pass needs.
    """
    N, C, H, W = x.shape
    O, Cg, KH, KW = weight.shape
    cols = im2col_reference(x, (KH, KW), stride, padding, dilation)  # (C*KH*KW, OH*OW*N)
    k, og = Cg * KH * KW, O // groups
    w2 = weight.reshape(O, k)  # (O, Cg*KH*KW): one flattened filter a row
    y2 = np.concatenate([w2[g * og : (g + 1) * og] @ cols[g * k : (g + 1) * k] for g in range(groups)])  # (O, OH*OW*N)
    if bias is not None:
        y2 += bias[:, None]
    OH, OW = _out_hw(H, W, (KH, KW), stride, padding, dilation)
    y = y2.reshape(O, OH, OW, N).transpose(3, 0, 1, 2)  # (N, O, OH, OW)
    return np.ascontiguousarray(y), cols


def conv2d_backward_reference(g, x_shape, weight, cols, stride, padding, dilation, groups,
                              need_x=True, need_w=True, need_b=True):
    """``(dx, dweight, dbias)`` of :func:`conv2d_forward_reference` given g = dL/dy (N, O, OH, OW).

    dW = g @ colsᵀ, dcols = Wᵀ @ g (per group), dx = col2im(dcols), dbias = g summed over
    N, OH, OW. An entry is None where its ``need_*`` is False.
    """
    O, Cg, KH, KW = weight.shape
    N = x_shape[0]
    k, og = Cg * KH * KW, O // groups
    g2 = g.transpose(1, 2, 3, 0).reshape(O, -1)  # (O, OH*OW*N), columns in the order of cols'
    w2 = weight.reshape(O, k)
    dx = dw = db = None
    if need_w:
        dw = np.concatenate([g2[s * og : (s + 1) * og] @ cols[s * k : (s + 1) * k].T for s in range(groups)])
        dw = dw.reshape(weight.shape)
    if need_x:
        dcols = np.concatenate([w2[s * og : (s + 1) * og].T @ g2[s * og : (s + 1) * og] for s in range(groups)])
        dx = col2im_reference(dcols, x_shape, (KH, KW), stride, padding, dilation)
    if need_b:
        db = g.sum(axis=(0, 2, 3)) if N else np.zeros(O, g.dtype)
    return dx, dw, db


def _pool_windows_reference(x, kernel, stride, padding, dilation, ceil_mode, fill):
    """x (N, C, H, W) -> windows (N, C, OH, OW, KH*KW) padded with ``fill``, plus a mask of the
    taps inside the input (padding and ceil_mode's overhang are outside)."""
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    N, C, H, W = x.shape
    OH = output_size(H, KH, sh, ph, ph, dh, ceil_mode)
    OW = output_size(W, KW, sw, pw, pw, dw, ceil_mode)
    extra_h = max(0, (OH - 1) * sh + dh * (KH - 1) + 1 - (H + 2 * ph))  # ceil_mode's overhang
    extra_w = max(0, (OW - 1) * sw + dw * (KW - 1) + 1 - (W + 2 * pw))
    widths = ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w))
    xp = np.pad(x, widths, constant_values=fill)
    inside = np.pad(np.ones((H, W), bool), widths[2:])
    taps, masks = [], []
    for i in range(KH):
        for j in range(KW):
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            taps.append(xp[:, :, rows, cols])
            masks.append(inside[rows, cols])
    return np.stack(taps, axis=-1), np.stack(masks, axis=-1), (OH, OW)


def max_pool2d_forward_reference(x, kernel, stride, padding, dilation, ceil_mode):
    """Max-pooling of x (N, C, H, W): ``(y, indices)``, both (N, C, OH, OW); ``indices`` (int64)
    is where each maximum was, as ``h * W + w`` in its input plane (PyTorch's ``return_indices``).
    Ties go to the first tap in row-major order; a NaN in a window wins (as in PyTorch)."""
    N, C, H, W = x.shape
    win, inside, (OH, OW) = _pool_windows_reference(x, kernel, stride, padding, dilation, ceil_mode, -np.inf)
    nan = np.isnan(win)
    # the first NaN if any (PyTorch keeps the last one; any NaN is the same NaN), else the first max
    best = np.where(nan.any(-1), nan.argmax(-1), np.where(inside, win, -np.inf).argmax(-1))
    y = np.take_along_axis(win, best[..., None], -1)[..., 0]
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ih = np.arange(OH)[:, None] * sh - ph + (best // KW) * dh  # (N, C, OH, OW) input rows
    iw = np.arange(OW)[None, :] * sw - pw + (best % KW) * dw
    idx = np.where(inside.any(-1), ih * W + iw, -1)  # -1: a window with no input pixel (all padding)
    return np.ascontiguousarray(y), idx.astype(np.int64)


def max_pool2d_backward_reference(g, indices, x_shape):
    """dx (N, C, H, W): each output's gradient added onto the input pixel that was its maximum."""
    N, C, H, W = x_shape
    dx = np.zeros((N * C, H * W), dtype=g.dtype)
    rows = np.repeat(np.arange(N * C), g.shape[2] * g.shape[3])  # the plane of each output
    at, gs = indices.reshape(-1), g.reshape(-1)
    some = at >= 0  # (a window with no input pixel has no maximum and passes no gradient)
    np.add.at(dx, (rows[some], at[some]), gs[some])  # add.at: a pixel that is several windows' maximum gets each one's gradient
    return dx.reshape(x_shape)


def _avg_divisors(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """(OH, OW) divisors of average pooling, PyTorch's rule: the window clipped to the padded
    input (count_include_pad) or to the input itself, or ``divisor_override``."""
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, padding
    OH = output_size(H, KH, sh, ph, ph, 1, ceil_mode)
    OW = output_size(W, KW, sw, pw, pw, 1, ceil_mode)

    def extent(n_out, s, p, k, size):
        start = np.arange(n_out) * s - p
        end = np.minimum(start + k, size + p)
        with_pad = end - start
        return with_pad, np.minimum(end, size) - np.maximum(start, 0)

    h_pad, h_in = extent(OH, sh, ph, KH, H)
    w_pad, w_in = extent(OW, sw, pw, KW, W)
    if divisor_override:
        return np.full((OH, OW), divisor_override)
    return np.outer(h_pad, w_pad) if count_include_pad else np.outer(h_in, w_in)


def avg_pool2d_forward_reference(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Average pooling of x (N, C, H, W) -> (N, C, OH, OW): each window's sum over the input
    pixels it covers, divided as :func:`_avg_divisors` says (padding adds zeros to the sum)."""
    N, C, H, W = x.shape
    win, inside, _ = _pool_windows_reference(x, kernel, stride, padding, (1, 1), ceil_mode, 0.0)
    div = _avg_divisors(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return np.ascontiguousarray((win * inside).sum(-1) / div.astype(x.dtype))


def avg_pool2d_backward_reference(g, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor_override):
    """dx (N, C, H, W): each output's gradient divided by its divisor, spread over the input
    pixels of its window (a pixel in several windows receives each one's share)."""
    N, C, H, W = x_shape
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, padding
    div = _avg_divisors(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    share = g / div.astype(g.dtype)  # (N, C, OH, OW)
    OH, OW = div.shape
    dx = np.zeros((N, C, H + 2 * ph + KH + sh, W + 2 * pw + KW + sw), dtype=g.dtype)  # room for the overhang
    for i in range(KH):
        for j in range(KW):
            dx[:, :, i : i + sh * (OH - 1) + 1 : sh, j : j + sw * (OW - 1) + 1 : sw] += share
    return np.ascontiguousarray(dx[:, :, ph : ph + H, pw : pw + W])


# ---------------------------------------------------------------------------------------------
# The compiled loops. Each works on a run of (image, channel) planes [p0, p1); the *_parallel
# twin shares the planes out in ``chunks`` runs (one a thread), so no two threads write the same
# number, and every number is written in the same order as on one thread.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _valid(n_out, stride, offset, size):
    """[lo, hi): the outputs o whose tap lands inside the input, i.e. 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = 0 if size - offset <= 0 else (size - offset - 1) // stride + 1
    return min(lo, n_out), max(min(hi, n_out), min(lo, n_out))


@njit(cache=True, error_model="numpy")
def _im2col_rows(xt, cols, KH, KW, sh, sw, top, left, dh, dw, OH, OW, r0, r1):
    """Rows r = (c*KH + i)*KW + j in [r0, r1) of cols (C*KH*KW, OH*OW*N) from ``xt``, the input
    as (C, H, W*N) -- each pixel's N images side by side: ``cols[r, (oh*OW + ow)*N + n] =
    xt[c, oh*sh - top + i*dh, (ow*sw - left + j*dw)*N + n]`` (0 outside the input).

    With the images side by side, a whole output row of a tap is one contiguous copy of OW*N
    numbers (for stride 1), written left to right: measured 5-8x faster than copying each
    image's OW numbers separately."""
    N = cols.shape[1] // (OH * OW)
    H = xt.shape[1]
    W = xt.shape[2] // N
    zero = xt.dtype.type(0)
    for r in range(r0, r1):
        c, i, j = r // (KH * KW), (r // KW) % KH, r % KW
        row = cols[r]
        oh_lo, oh_hi = _valid(OH, sh, i * dh - top, H)
        off = j * dw - left
        ow_lo, ow_hi = _valid(OW, sw, off, W)
        for oh in range(OH):
            dst = row[oh * OW * N : (oh + 1) * OW * N]  # output row oh of this tap, every image
            if oh < oh_lo or oh >= oh_hi:
                dst[:] = zero
                continue
            src = xt[c, oh * sh - top + i * dh]  # (W*N,) the input row it reads
            dst[: ow_lo * N] = zero
            if sw == 1:  # a contiguous run of the input row: one copy
                dst[ow_lo * N : ow_hi * N] = src[(ow_lo + off) * N : (ow_hi + off) * N]
            else:
                for ow in range(ow_lo, ow_hi):
                    dst[ow * N : (ow + 1) * N] = src[(ow * sw + off) * N : (ow * sw + off + 1) * N]
            dst[ow_hi * N :] = zero


@njit(cache=True, error_model="numpy")
def _col2im_channels(cols, dxt, KH, KW, sh, sw, top, left, dh, dw, OH, OW, c0, c1):
    """dxt[c] (H, W*N) for the channels c in [c0, c1): the sum of every number of ``cols`` that
    im2col copied from channel c (its rows (c*KH + i)*KW + j, in order of i, then j); taps in
    the padding are dropped. A channel's rows feed only that channel, so channels can be shared
    out among threads, and each pixel's sum is added up in the same order whatever the sharing."""
    N = cols.shape[1] // (OH * OW)
    H = dxt.shape[1]
    W = dxt.shape[2] // N
    for c in range(c0, c1):
        dxt[c, :, :] = 0
        for i in range(KH):
            oh_lo, oh_hi = _valid(OH, sh, i * dh - top, H)
            for j in range(KW):
                row = cols[(c * KH + i) * KW + j]
                off = j * dw - left
                ow_lo, ow_hi = _valid(OW, sw, off, W)
                for oh in range(oh_lo, oh_hi):
                    src = row[oh * OW * N : (oh + 1) * OW * N]
                    dst = dxt[c, oh * sh - top + i * dh]
                    if sw == 1:
                        dst[(ow_lo + off) * N : (ow_hi + off) * N] += src[ow_lo * N : ow_hi * N]
                    else:
                        for ow in range(ow_lo, ow_hi):
                            dst[(ow * sw + off) * N : (ow * sw + off + 1) * N] += src[ow * N : (ow + 1) * N]


@njit(cache=True, error_model="numpy", parallel=True)
def _im2col_parallel(xt, cols, KH, KW, sh, sw, top, left, dh, dw, OH, OW, chunks):
    R = cols.shape[0]
    for t in prange(chunks):
        _im2col_rows(xt, cols, KH, KW, sh, sw, top, left, dh, dw, OH, OW, t * R // chunks, (t + 1) * R // chunks)


@njit(cache=True, error_model="numpy", parallel=True)
def _col2im_parallel(cols, dxt, KH, KW, sh, sw, top, left, dh, dw, OH, OW, chunks):
    C = dxt.shape[0]
    for t in prange(chunks):
        _col2im_channels(cols, dxt, KH, KW, sh, sw, top, left, dh, dw, OH, OW, t * C // chunks, (t + 1) * C // chunks)


@njit(cache=True, error_model="numpy")
def _transpose_rows_range(src, dst, i0, i1):
    transpose_rows(src, dst, i0, i1)


@njit(cache=True, error_model="numpy", parallel=True)
def _transpose_parallel(src, dst, chunks):
    R = src.shape[0]
    for t in prange(chunks):
        transpose_rows(src, dst, t * R // chunks, (t + 1) * R // chunks)


def _transpose(a):
    """A C-contiguous (R, C) array's transpose, (C, R), as a new C-contiguous array (compiled:
    how the (N, C, H, W) tensors and the products' (C, H*W*N) layout turn into each other)."""
    out = np.empty((a.shape[1], a.shape[0]), dtype=a.dtype)
    chunks = _threads(a.size, a.shape[0] // 8, a.dtype)  # runs of 8 rows or more
    if chunks > 1:
        _transpose_parallel(a, out, chunks)
    else:
        _transpose_rows_range(a, out, 0, a.shape[0])
    return out


def _im2col(x, kernel, stride, padding, dilation):
    """The compiled :func:`im2col_reference` (same arguments, same result)."""
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    N, C, H, W = x.shape
    OH, OW = output_size(H, KH, sh, top, bottom, dh), output_size(W, KW, sw, left, right, dw)
    xt = _transpose(x.reshape(N, C * H * W)).reshape(C, H, W * N)  # each pixel's N images side by side
    cols = np.empty((C * KH * KW, OH * OW * N), dtype=x.dtype)
    args = (xt, cols, KH, KW, sh, sw, top, left, dh, dw, OH, OW)
    chunks = _threads(cols.size, cols.shape[0], x.dtype)  # runs of rows of cols
    if chunks > 1:
        _im2col_parallel(*args, chunks)
    else:
        _im2col_rows(*args, 0, cols.shape[0])
    return cols


def _col2im(cols, x_shape, kernel, stride, padding, dilation):
    """The compiled :func:`col2im_reference` (same arguments, same result)."""
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    N, C, H, W = x_shape
    OH, OW = output_size(H, KH, sh, top, bottom, dh), output_size(W, KW, sw, left, right, dw)
    dxt = np.empty((C, H, W * N), dtype=cols.dtype)
    args = (cols, dxt, KH, KW, sh, sw, top, left, dh, dw, OH, OW)
    chunks = _threads(cols.size, C, cols.dtype)  # runs of channels
    if chunks > 1:
        _col2im_parallel(*args, chunks)
    else:
        _col2im_channels(*args, 0, C)
    return _transpose(dxt.reshape(C * H * W, N)).reshape(x_shape)


# ---- the input gradient as a direct convolution (stride 1) ---------------------------------------
#
# dcols = Wᵀ @ g followed by col2im writes KH*KW numbers per input pixel (a (C*KH*KW, OH*OW*N)
# array, 20 MB for the MNIST network's second layer) and then reads them all back to add them up.
# For stride 1 the same sum is a convolution of the gradient itself with the flipped filters:
#
#     dx[c, h, w] = sum over o, i, j of W[o, c, KH-1-i, KW-1-j] * gp[o, h + i*dh, w + j*dw]
#
# where gp is g with (KH-1)*dh - top rows of zeros above it (and so on for each side). Every
# output block -- MR channels by one vector-block of a row of (w, n) positions -- is then a short
# matrix product per tap (i, j), (MR, O) @ (O, NR), added up in the micro-kernel's registers'
# block of dx, which stays in the L1 cache for all KH*KW taps: nothing of size C*KH*KW*pixels is
# ever written.


@njit(cache=True, error_model="numpy")
def _correlate_tasks(taps, src, out, vbytes, nv, n_out, cin, KH, KW, dh, dw, N, OH, L, s_row, s_plane, t0, t1):
    """Tasks t in [t0, t1) of :func:`_correlate`: task t is row ``t % OH`` of the block of MR
    output channels ``t // OH``, all L numbers of it (written by this task alone, tap after tap
    in the order (i, j), each tap's sum over ``cin`` in order: the same bits on any thread)."""
    NR = nv * vbytes // out.itemsize
    for t in range(t0, t1):
        ob, oh = t // OH, t % OH
        for q0 in range(0, L, NR):
            c_off = ob * MR * OH * L + oh * L + q0
            for i in range(KH):
                for j in range(KW):
                    a_off = ((i * KW + j) * n_out + ob * MR) * cin  # taps[i*KW + j, ob*MR, 0]
                    b_off = (oh + i * dh) * s_row + q0 + j * dw * N  # src[0, oh + i*dh, q0 + j*dw*N]
                    _mk(vbytes, nv, taps, a_off, cin, 1, src, b_off, s_plane, out, c_off, OH * L, cin, i + j > 0)


@njit(cache=True, error_model="numpy", parallel=True)
def _correlate_parallel(taps, src, out, vbytes, nv, n_out, cin, KH, KW, dh, dw, N, OH, L, s_row, s_plane, chunks):
    T = (n_out // MR) * OH
    for t in prange(chunks):
        _correlate_tasks(taps, src, out, vbytes, nv, n_out, cin, KH, KW, dh, dw, N, OH, L, s_row, s_plane,
                         t * T // chunks, (t + 1) * T // chunks)


def _correlate(taps, src, src_shape, OH, OW, N, dilation):
    """out (n_out, OH, OW*N), out[o, oh, ow*N + n] = sum over i, j, c of
    ``taps[i, j, o, c] * src[c, oh + i*dh, (ow + j*dw)*N + n]``: a "valid" stride-1 correlation of
    ``src`` (cin, Hs, Ws*N) -- each pixel's N images side by side, padding already in place --
    with taps (KH, KW, n_out, cin), n_out a multiple of MR (zero rows where there are no filters).

    ``src`` comes flat, in a buffer at least NR numbers longer than ``src_shape`` needs
    (:func:`_padded_planes` makes one): rows of ``out`` are padded to whole blocks of NR columns,
    so the last block of a row reads up to NR - 1 numbers past the end of a source row; what is
    read there lands only in the padding columns, dropped here.
    """
    KH, KW, n_out, cin = taps.shape
    (dh, dw), dtype = dilation, src.dtype
    vbytes, nv = register_blocking()
    NR = nv * vbytes // src.itemsize
    _, Hs, row = src_shape
    assert src.ndim == 1 and src.size >= cin * Hs * row + NR, "src needs NR numbers of room after it"
    L = -(-(OW * N) // NR) * NR  # a row of out, whole blocks
    out = np.empty(n_out * OH * L, dtype=dtype)
    args = (taps.reshape(-1), src, out, vbytes, nv, n_out, cin, KH, KW, dh, dw, N, OH, L, row, Hs * row)
    tasks = (n_out // MR) * OH
    chunks = _threads(2 * out.size * cin * KH * KW // 64, tasks, dtype)  # (as many numbers as a product's flops / 64)
    if chunks > 1:
        _correlate_parallel(*args, chunks)
    else:
        _correlate_tasks(*args, 0, tasks)
    out = out.reshape(n_out, OH, L)
    return out if L == OW * N else out[:, :, : OW * N]


def _padded_planes(at, N, pads, extra):
    """``at`` (C, H, W*N) -- each pixel's N images side by side -- with zeros around (``pads`` =
    (top, bottom, left, right) pixels), as (C, H + top + bottom, (W + left + right) * N) in a flat
    buffer with ``extra`` more zeros after it. Returns ``(buffer, shape)``."""
    C, H, W = at.shape[0], at.shape[1], at.shape[2] // N
    top, bottom, left, right = pads
    shape = (C, H + top + bottom, (W + left + right) * N)
    flat = np.zeros(shape[0] * shape[1] * shape[2] + extra, dtype=at.dtype)
    flat[: flat.size - extra].reshape(shape)[:, top : top + H, left * N : (left + W) * N] = at
    return flat, shape


def _direct_dx_fits(stride, padding, dilation, groups, kernel, channels):
    """Whether dx is best the direct correlation: stride 1, one group, no side padded by more
    than the (dilated) kernel's reach (else some of g's zero border would be negative), and at
    least MR/2 input ``channels`` (the micro-kernel's blocks are MR channels of dx: one channel
    would leave five of its six rows empty; measured, one thread, for a one-channel 28x28 image
    with 16 filters, batch 64: 6 GFLOP/s direct, 15 through col2im)."""
    (KH, KW), (dh, dw) = kernel, dilation
    top, bottom, left, right = padding
    return (stride == (1, 1) and groups == 1 and channels * 2 >= MR and max(top, bottom) <= (KH - 1) * dh
            and max(left, right) <= (KW - 1) * dw)


def _direct_dx(g2, weight, x_shape, padding, dilation):
    """dx (N, C, H, W) of a stride-1, one-group convolution from g2 (O, OH*OW*N), the gradient
    with each position's N images side by side (as the backward pass has it): the correlation of
    g, padded, with the flipped filters (see the comment above :func:`_correlate_tasks`)."""
    N, C, H, W = x_shape
    O, _, KH, KW = weight.shape
    OH, OW = _out_hw(H, W, (KH, KW), (1, 1), padding, dilation)
    (dh, dw), (top, bottom, left, right) = dilation, padding
    reach = ((KH - 1) * dh - top, (KH - 1) * dh - bottom, (KW - 1) * dw - left, (KW - 1) * dw - right)
    vbytes, nv = register_blocking()
    gp, gp_shape = _padded_planes(g2.reshape(O, OH, OW * N), N, reach, nv * vbytes // g2.itemsize)
    # gp: (O, H + (KH-1)*dh, (W + (KW-1)*dw) * N)
    Cp = -(-C // MR) * MR
    taps = np.zeros((KH, KW, Cp, O), dtype=g2.dtype)  # taps[i, j, c, o] = W[o, c, KH-1-i, KW-1-j]
    taps[:, :, :C] = weight[:, :, ::-1, ::-1].transpose(2, 3, 1, 0)
    dxt = _correlate(taps, gp, gp_shape, H, W, N, dilation)[:C]  # (C, H, W*N)
    return _transpose(np.ascontiguousarray(dxt).reshape(C * H * W, N)).reshape(x_shape)


# ---- stride-1 convolutions with several input channels: forward and dW without im2col -----------
#
# im2col writes every input pixel KH*KW times: for the MNIST network's second layer (16 -> 32
# channels, 5x5, 14x14, batch 64) a 20 MB ``cols``, written by the forward pass, read by ``W @ cols``
# and kept for the weight gradient. For stride 1 the forward pass is the same correlation as
# :func:`_direct_dx`, with the filters as they are and the input, zero-padded, as the source:
#
#     y[o, oh, ow*N + n] = sum over i, j, c of W[o, c, i, j] * xp[c, oh + i*dh, (ow + j*dw)*N + n]
#
# and the weight gradient reads the same padded input: for each tap (i, j) and each output row oh,
# a product of g's rows (O, OW*N) with the input rows it saw (C, OW*N), transposed, summed over oh:
#
#     dW[o, c, i, j] = sum over oh, q of g2[o, oh, q] * xp[c, oh + i*dh, q + j*dw*N]
#
# Both sums run along the positions q, contiguous in g2 and in xp, so dW is dot products (as in
# :func:`_dots_rows`): blocks of 4 filters by 4 channels, 16 sums over a row of OW*N positions at a
# time, for every tap, row after row. What the forward keeps for backward is then xp (1.3 MB for
# that layer) instead of cols.


class Padded(NamedTuple):
    """What a direct (stride-1) forward pass keeps for backward in place of ``cols``: the input
    with each pixel's N images side by side, zero-padded, as a flat buffer (with NR numbers of
    room after it, see :func:`_correlate`) and its shape (C, H + top + bottom, (W + left + right) * N)."""

    flat: np.ndarray
    shape: tuple


def _direct_fits(stride, groups, channels):
    """Whether the forward pass and dW are best without im2col: stride 1, one group (padding and
    dilation any), and at least MR/2 input ``channels``. The micro-kernel sums over the channels,
    one call per tap, so few channels make short calls whose register block is loaded and stored
    around little work. Measured, one thread, float32, 32 filters of 5x5, 14x14, pad 2, batch 64,
    forward + dW: 1 channel 2.5 ms direct, 2.1 im2col; 2 channels 3.1 / 2.3; 3 channels 3.6 / 4.1;
    8 channels 5.3 / 8.7; 16 channels 8.0 / 13.1."""
    return stride == (1, 1) and groups == 1 and channels * 2 >= MR


def _direct_forward(x, weight, padding, dilation):
    """y2 (O, OH*OW*N) -- each position's N images side by side -- of a stride-1, one-group
    convolution of x (N, C, H, W), and the :class:`Padded` input it read (for dW)."""
    N, C, H, W = x.shape
    O, _, KH, KW = weight.shape
    OH, OW = _out_hw(H, W, (KH, KW), (1, 1), padding, dilation)
    vbytes, nv = register_blocking()
    xt = _transpose(x.reshape(N, C * H * W)).reshape(C, H, W * N)  # each pixel's N images side by side
    flat, shape = _padded_planes(xt, N, padding, nv * vbytes // x.itemsize)  # (C, Hp, Wp*N), flat
    Op = -(-O // MR) * MR
    taps = np.zeros((KH, KW, Op, C), dtype=x.dtype)  # taps[i, j, o, c] = W[o, c, i, j]; zero rows past O
    taps[:, :, :O] = weight.transpose(2, 3, 0, 1)
    y = _correlate(taps, flat, shape, OH, OW, N, dilation)[:O]  # (O, OH, OW*N)
    return np.ascontiguousarray(y).reshape(O, OH * OW * N), Padded(flat, shape)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _direct_dw_tasks(g, xp, out, O, C, KH, KW, dh, dw, N, OH, Q, s_row, s_plane, t0, t1):
    """Tasks t in [t0, t1) of :func:`_direct_dw`: task t is the block of 4 filters ``t // CB`` by
    the block of 4 channels ``t % CB`` (CB = ceil(C / 4)), every tap of them: out[o, c, i, j] =
    sum over oh (in order) of the dot product of g[o, oh, :Q] with xp[c, oh + i*dh, j*dw*N :][:Q].

    g (O, OH, Q) and xp (C, Hp, s_row) come flat; out (O, C, KH, KW). A block at the last
    filters or channels repeats its last one and writes each result once; each result is summed
    by one task, so one thread and several give the same bits."""
    CB = (C + 3) // 4
    zero = out.dtype.type(0)
    acc = np.empty((4, 4, KH * KW), dtype=out.dtype)
    for t in range(t0, t1):
        o0, c0 = 4 * (t // CB), 4 * (t % CB)
        o1, o2, o3 = min(o0 + 1, O - 1), min(o0 + 2, O - 1), min(o0 + 3, O - 1)
        c1, c2, c3 = min(c0 + 1, C - 1), min(c0 + 2, C - 1), min(c0 + 3, C - 1)
        acc[:] = zero
        for oh in range(OH):
            g0 = g[(o0 * OH + oh) * Q : (o0 * OH + oh + 1) * Q]  # row oh of the 4 filters' gradients
            g1 = g[(o1 * OH + oh) * Q : (o1 * OH + oh + 1) * Q]
            g2 = g[(o2 * OH + oh) * Q : (o2 * OH + oh + 1) * Q]
            g3 = g[(o3 * OH + oh) * Q : (o3 * OH + oh + 1) * Q]
            for i in range(KH):
                for j in range(KW):
                    at = (oh + i * dh) * s_row + j * dw * N  # the input row this tap saw, shifted
                    x0 = xp[c0 * s_plane + at : c0 * s_plane + at + Q]
                    x1 = xp[c1 * s_plane + at : c1 * s_plane + at + Q]
                    x2 = xp[c2 * s_plane + at : c2 * s_plane + at + Q]
                    x3 = xp[c3 * s_plane + at : c3 * s_plane + at + Q]
                    (s00, s01, s02, s03), (s10, s11, s12, s13), (s20, s21, s22, s23), (s30, s31, s32, s33) = \
                        _dots_4x4(g0, g1, g2, g3, x0, x1, x2, x3, Q)
                    tap = i * KW + j
                    acc[0, 0, tap] += s00
                    acc[0, 1, tap] += s01
                    acc[0, 2, tap] += s02
                    acc[0, 3, tap] += s03
                    acc[1, 0, tap] += s10
                    acc[1, 1, tap] += s11
                    acc[1, 2, tap] += s12
                    acc[1, 3, tap] += s13
                    acc[2, 0, tap] += s20
                    acc[2, 1, tap] += s21
                    acc[2, 2, tap] += s22
                    acc[2, 3, tap] += s23
                    acc[3, 0, tap] += s30
                    acc[3, 1, tap] += s31
                    acc[3, 2, tap] += s32
                    acc[3, 3, tap] += s33
        for u in range(min(4, O - o0)):
            for v in range(min(4, C - c0)):
                for tap in range(KH * KW):
                    out[o0 + u, c0 + v, tap // KW, tap % KW] = acc[u, v, tap]


@njit(cache=True, error_model="numpy", parallel=True)
def _direct_dw_parallel(g, xp, out, O, C, KH, KW, dh, dw, N, OH, Q, s_row, s_plane, chunks):
    T = ((O + 3) // 4) * ((C + 3) // 4)
    for t in prange(chunks):
        _direct_dw_tasks(g, xp, out, O, C, KH, KW, dh, dw, N, OH, Q, s_row, s_plane,
                         t * T // chunks, (t + 1) * T // chunks)


def _direct_dw(g2, padded, weight_shape, N, OH, dilation):
    """dW (O, C, KH, KW) of a stride-1, one-group convolution of a batch of N images, from g2
    (O, OH*OW*N) -- each position's N images side by side -- and the :class:`Padded` input its
    forward pass kept (see the comment above :func:`_direct_dw_tasks`)."""
    O, C, KH, KW = weight_shape
    (dh, dw), (_, Hp, s_row) = dilation, padded.shape
    Q = g2.shape[1] // OH if OH else 0  # OW*N: one output row, every image
    out = np.empty(weight_shape, dtype=g2.dtype)
    args = (g2.reshape(-1), padded.flat, out, O, C, KH, KW, dh, dw, N, OH, Q, s_row, Hp * s_row)
    tasks = ((O + 3) // 4) * ((C + 3) // 4)
    chunks = _threads(2 * out.size * OH * Q // 64, tasks, g2.dtype)  # (as many numbers as its flops / 64)
    if chunks > 1:
        _direct_dw_parallel(*args, chunks)
    else:
        _direct_dw_tasks(*args, 0, tasks)
    return out


# ---- the weight gradient of a layer with few filters: dot products ----------------------------------
#
# dW = g2 @ colsᵀ is (O, C*KH*KW) summed over every position of every image: for the first layer
# of a LeNet (16 filters of one channel) a (16, 25) result from sums of 50,176 terms. The matmul
# kernel's blocks are NR columns wide (64 float32s on AVX-512), so 16 filters would fill a quarter
# of each block, and 25 rows of cols even less the other way round; dot products along the
# positions waste nothing (measured at (16, 25) x 50,176, one thread: 2.4 ms on the matmul kernel,
# 1.5 ms numpy's BLAS, 0.6 ms here).

_DOTS_KC = 512  # positions per slice: the slices of all the rows (41 x 2 KB here) stay in the L2 cache


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _dots_rows(a, b, out, i0, i1):
    """out[i, r] = a[i] . b[r] for rows i in [i0, i1) (i0 a multiple of 4): a (M, P), b (R, P).

    4 rows of ``a`` by 4 rows of ``b`` at a time, 16 sums over a slice of the positions (numba
    vectorises each over SIMD lanes: reassociation allowed, in a fixed order); the slices' sums
    are added in order. A block at the last rows or columns repeats its last row (or column) and
    writes each result once. Each result is summed by one call: the same bits on any thread."""
    P, R = a.shape[1], b.shape[0]
    for i in range(i0, i1):
        out[i, :] = 0
    for k0 in range(0, P, _DOTS_KC):
        n = min(_DOTS_KC, P - k0)
        for i in range(i0, i1, 4):
            ia, ib, ic = min(i + 1, i1 - 1), min(i + 2, i1 - 1), min(i + 3, i1 - 1)
            a0, a1, a2, a3 = a[i, k0 : k0 + n], a[ia, k0 : k0 + n], a[ib, k0 : k0 + n], a[ic, k0 : k0 + n]
            for r in range(0, R, 4):
                rb, rc, rd = min(r + 1, R - 1), min(r + 2, R - 1), min(r + 3, R - 1)
                b0, b1, b2, b3 = b[r, k0 : k0 + n], b[rb, k0 : k0 + n], b[rc, k0 : k0 + n], b[rd, k0 : k0 + n]
                rows, cols = (i, ia, ib, ic), (r, rb, rc, rd)
                sums = _dots_4x4(a0, a1, a2, a3, b0, b1, b2, b3, n)
                for u in range(4):
                    if u == 0 or rows[u] != rows[u - 1]:  # (a repeated last row: written once)
                        for v in range(4):
                            if v == 0 or cols[v] != cols[v - 1]:
                                out[rows[u], cols[v]] += sums[u][v]


@njit(cache=True, error_model="numpy", parallel=True)
def _dots_parallel(a, b, out, chunks):
    blocks = (a.shape[0] + 3) // 4
    for t in prange(chunks):
        _dots_rows(a, b, out, min(4 * (t * blocks // chunks), a.shape[0]),
                   min(4 * ((t + 1) * blocks // chunks), a.shape[0]))


def _dots(a, b):
    """a (M, P) @ b (R, P)ᵀ -> (M, R) as dot products along P (both C-contiguous)."""
    out = np.empty((a.shape[0], b.shape[0]), dtype=a.dtype)
    chunks = _threads(a.shape[0] * b.shape[0] * a.shape[1] // 32, (a.shape[0] + 3) // 4, a.dtype)
    if chunks > 1:
        _dots_parallel(a, b, out, chunks)
    else:
        _dots_rows(a, b, out, 0, a.shape[0])
    return out


def _few_filters(n_filters, dtype):
    """True when ``n_filters`` would fill less than half of a matmul block's NR columns."""
    vbytes, nv = register_blocking()
    return 2 * n_filters < nv * vbytes // np.dtype(dtype).itemsize


def _out_hw(H, W, kernel, stride, padding, dilation):
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    return output_size(H, KH, sh, top, bottom, dh), output_size(W, KW, sw, left, right, dw)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """The compiled :func:`conv2d_forward_reference`: ``(y, cols)``; im2col and the layout changes
    compiled, ``W @ cols`` on the matmul kernels (one product per group). A stride-1, one-group
    layer of 3 or more input channels skips im2col (:func:`_direct_fits`): its y is the same
    correlation computed directly, and in place of ``cols`` it returns the :class:`Padded` input,
    which :func:`conv2d_backward` takes in the same place."""
    x, weight = kernel_array(x), kernel_array(weight)
    N, C, H, W = x.shape
    O, Cg, KH, KW = weight.shape
    OH, OW = _out_hw(H, W, (KH, KW), stride, padding, dilation)
    k, og = Cg * KH * KW, O // groups
    w2 = weight.reshape(O, k)  # (O, Cg*KH*KW)
    if N and _direct_fits(stride, groups, C):  # no cols: a correlation of the padded input (cols: a Padded)
        y2, cols = _direct_forward(x, weight, padding, dilation)  # (O, OH*OW*N)
    elif groups == 1:
        cols = _im2col(x, (KH, KW), stride, padding, dilation)  # (C*KH*KW, OH*OW*N)
        y2 = _mm(w2, cols)  # (O, OH*OW*N)
    else:
        cols = _im2col(x, (KH, KW), stride, padding, dilation)
        y2 = np.empty((O, cols.shape[1]), dtype=x.dtype)
        for s in range(groups):
            y2[s * og : (s + 1) * og] = _mm(w2[s * og : (s + 1) * og], cols[s * k : (s + 1) * k])
    if bias is not None:
        y2 += bias.astype(x.dtype, copy=False)[:, None]
    y = _transpose(y2.reshape(O * OH * OW, N))  # (N, O*OH*OW)
    return y.reshape(N, O, OH, OW), cols


def conv2d_backward(g, x_shape, weight, cols, stride, padding, dilation, groups,
                    need_x=True, need_w=True, need_b=True):
    """The compiled :func:`conv2d_backward_reference` (same arguments, same result)."""
    g, weight = kernel_array(g), kernel_array(weight)
    N, O, OH, OW = g.shape
    _, Cg, KH, KW = weight.shape
    k, og = Cg * KH * KW, O // groups
    g2 = _transpose(g.reshape(N, O * OH * OW)).reshape(O, OH * OW * N)  # columns in the order of cols'
    w2 = weight.reshape(O, k)
    dx = dw = db = None
    if need_w and isinstance(cols, Padded):  # a direct forward kept the padded input, not cols
        dw = _direct_dw(g2, cols, weight.shape, N, OH, dilation)
    elif need_w:  # dWᵀ = cols @ g2ᵀ, (C*KH*KW, OH*OW*N) @ (OH*OW*N, O): the big cols read in place
        dw = np.empty((O, k), dtype=g.dtype)
        for s in range(groups):
            if _few_filters(og, g.dtype):  # (dot products: see _dots_rows)
                dw[s * og : (s + 1) * og] = _dots(g2[s * og : (s + 1) * og], cols[s * k : (s + 1) * k])
                continue
            dw[s * og : (s + 1) * og] = _mm_nt(cols[s * k : (s + 1) * k], g2[s * og : (s + 1) * og]).T
        dw = dw.reshape(weight.shape)
    if need_x and not N:  # an empty batch (the layouts below divide by N)
        dx = np.zeros(x_shape, dtype=g.dtype)
    elif need_x and _direct_dx_fits(stride, padding, dilation, groups, (KH, KW), x_shape[1]):
        dx = _direct_dx(g2, weight, x_shape, padding, dilation)
    elif need_x:  # dcols = Wᵀ @ g2, (C*KH*KW, O) @ (O, OH*OW*N)
        if groups == 1:
            dcols = _mm_tn(w2, g2)
        else:
            dcols = np.empty(cols.shape, dtype=g.dtype)
            for s in range(groups):
                dcols[s * k : (s + 1) * k] = _mm_tn(w2[s * og : (s + 1) * og], g2[s * og : (s + 1) * og])
        dx = _col2im(dcols, x_shape, (KH, KW), stride, padding, dilation)
    if need_b:  # a sum along each row of g2 (numpy, one thread)
        db = np.add.reduce(g2, axis=1) if N else np.zeros(O, g.dtype)
    return dx, dw, db


# ---- pooling ----------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _max_pool_planes(x, y, idx, KH, KW, sh, sw, ph, pw, dh, dw, p0, p1):
    """y[p, oh, ow] = the largest x[p] in window (oh, ow), idx its place h*W + w (the first on ties,
    a NaN wins), for planes p in [p0, p1); x (P, H, W), y and idx (P, OH, OW).

    Windows wholly inside the image (all of them, without padding or ceil_mode) take a loop with
    no bounds checks; the others check each tap."""
    H, W = x.shape[1], x.shape[2]
    OH, OW = y.shape[1], y.shape[2]
    # outputs whose first and last taps are both inside: the whole window is
    ih_lo, ih_hi = _valid(OH, sh, -ph, H)
    oh_in_lo, oh_in_hi = ih_lo, min(ih_hi, _valid(OH, sh, (KH - 1) * dh - ph, H)[1])
    iw_lo, iw_hi = _valid(OW, sw, -pw, W)
    ow_in_lo, ow_in_hi = iw_lo, min(iw_hi, _valid(OW, sw, (KW - 1) * dw - pw, W)[1])
    for p in range(p0, p1):
        plane = x[p]
        for oh in range(OH):
            inside_rows = oh_in_lo <= oh < oh_in_hi
            for ow in range(OW):
                if inside_rows and ow_in_lo <= ow < ow_in_hi:
                    h0, w0 = oh * sh - ph, ow * sw - pw
                    best = plane[h0, w0]
                    where = h0 * W + w0
                    for i in range(KH):
                        row = plane[h0 + i * dh]
                        for j in range(KW):
                            v = row[w0 + j * dw]
                            if v > best or (v != v and best == best):
                                best, where = v, (h0 + i * dh) * W + w0 + j * dw
                    y[p, oh, ow] = best
                    idx[p, oh, ow] = where
                    continue
                best = x.dtype.type(-np.inf)
                where = -1
                for i in range(KH):
                    ih = oh * sh - ph + i * dh
                    if ih < 0 or ih >= H:
                        continue
                    for j in range(KW):
                        iw = ow * sw - pw + j * dw
                        if iw < 0 or iw >= W:
                            continue
                        v = plane[ih, iw]
                        if where < 0 or v > best or (v != v and best == best):
                            best, where = v, ih * W + iw
                y[p, oh, ow] = best
                idx[p, oh, ow] = where


@njit(cache=True, error_model="numpy")
def _max_pool_2x2_planes(x, y, idx, p0, p1):
    """:func:`_max_pool_planes` for the usual ``MaxPool2d(2)``: 2x2 windows side by side, no
    padding. The four taps written out, each the general loop's test (bigger, or a NaN over a
    number) as a choice rather than a branch: random data mispredicted a branch at every other
    tap (measured 2.5 ms -> 1.1 ms for the MNIST network's first layer, 64 x 16 planes of
    28 x 28, one thread)."""
    P, H, W = x.shape
    OH, OW = y.shape[1], y.shape[2]
    xf, yf, idf = x.reshape(-1), y.reshape(-1), idx.reshape(-1)  # flat: measured 2x faster than row views
    for p in range(p0, p1):
        for oh in range(OH):
            r0, r1 = 2 * oh * W, (2 * oh + 1) * W  # where the window's two rows start in the plane
            x0, y0 = p * H * W, (p * OH + oh) * OW
            for ow in range(OW):
                w0 = 2 * ow
                best, where = xf[x0 + r0 + w0], r0 + w0
                v = xf[x0 + r0 + w0 + 1]  # tap by tap in row-major order: later taps win only if bigger
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                where = r0 + w0 + 1 if take else where
                v = xf[x0 + r1 + w0]
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                where = r1 + w0 if take else where
                v = xf[x0 + r1 + w0 + 1]
                take = (v > best) | ((v != v) & (best == best))
                best = v if take else best
                where = r1 + w0 + 1 if take else where
                yf[y0 + ow] = best
                idf[y0 + ow] = where


@njit(cache=True, error_model="numpy", parallel=True)
def _max_pool_2x2_parallel(x, y, idx, chunks):
    P = x.shape[0]
    for t in prange(chunks):
        _max_pool_2x2_planes(x, y, idx, t * P // chunks, (t + 1) * P // chunks)


@njit(cache=True, error_model="numpy")
def _max_pool_backward_planes(g, idx, dx, p0, p1):
    """dx[p] = zeros plus, for each output of plane p, its gradient at its maximum's place."""
    OH, OW = g.shape[1], g.shape[2]
    for p in range(p0, p1):
        dx[p, :] = 0
        for oh in range(OH):
            for ow in range(OW):
                where = idx[p, oh, ow]
                if where >= 0:  # (-1: a window with no input pixel, which has no maximum)
                    dx[p, where] += g[p, oh, ow]


@njit(cache=True, error_model="numpy")
def _avg_pool_planes(backward, a, b, div, KH, KW, sh, sw, ph, pw, p0, p1):
    """Forward (``backward`` False): b[p, oh, ow] = (sum of a[p] in window (oh, ow)) / div[oh, ow].
    Backward: b[p] = the sum over windows of a[p, oh, ow] / div[oh, ow] at each pixel they cover.
    The input side is (P, H, W), the output side (P, OH, OW), for planes p in [p0, p1)."""
    if backward:
        H, W, OH, OW = b.shape[1], b.shape[2], a.shape[1], a.shape[2]
    else:
        H, W, OH, OW = a.shape[1], a.shape[2], b.shape[1], b.shape[2]
    for p in range(p0, p1):
        if backward:
            b[p, :, :] = 0
        for oh in range(OH):
            h0, h1 = max(oh * sh - ph, 0), min(oh * sh - ph + KH, H)
            for ow in range(OW):
                w0, w1 = max(ow * sw - pw, 0), min(ow * sw - pw + KW, W)
                if backward:
                    share = a[p, oh, ow] / div[oh, ow]
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            b[p, ih, iw] += share
                else:
                    s = a.dtype.type(0)
                    for ih in range(h0, h1):
                        for iw in range(w0, w1):
                            s += a[p, ih, iw]
                    b[p, oh, ow] = s / div[oh, ow]


@njit(cache=True, error_model="numpy", parallel=True)
def _max_pool_parallel(x, y, idx, KH, KW, sh, sw, ph, pw, dh, dw, chunks):
    P = x.shape[0]
    for t in prange(chunks):
        _max_pool_planes(x, y, idx, KH, KW, sh, sw, ph, pw, dh, dw, t * P // chunks, (t + 1) * P // chunks)


@njit(cache=True, error_model="numpy", parallel=True)
def _max_pool_backward_parallel(g, idx, dx, chunks):
    P = g.shape[0]
    for t in prange(chunks):
        _max_pool_backward_planes(g, idx, dx, t * P // chunks, (t + 1) * P // chunks)


@njit(cache=True, error_model="numpy", parallel=True)
def _avg_pool_parallel(backward, a, b, div, KH, KW, sh, sw, ph, pw, chunks):
    P = a.shape[0]
    for t in prange(chunks):
        _avg_pool_planes(backward, a, b, div, KH, KW, sh, sw, ph, pw, t * P // chunks, (t + 1) * P // chunks)


def _threads(n_numbers, planes, dtype):
    """Runs of planes to share out: 1 (this thread, no parallel region) for small work."""
    return min(threads_for(n_numbers, _PARALLEL_MIN, dtype), planes)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """The compiled :func:`max_pool2d_forward_reference` (same arguments, same result)."""
    x = kernel_array(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    OH, OW = output_size(H, KH, sh, ph, ph, dh, ceil_mode), output_size(W, KW, sw, pw, pw, dw, ceil_mode)
    x3 = x.reshape(N * C, H, W)
    y = np.empty((N * C, OH, OW), dtype=x.dtype)
    idx = np.empty((N * C, OH, OW), dtype=np.int64)
    args = (x3, y, idx, KH, KW, sh, sw, ph, pw, dh, dw)
    chunks = _threads(x.size, N * C, x.dtype)
    if (KH, KW, sh, sw, ph, pw, dh, dw) == (2, 2, 2, 2, 0, 0, 1, 1) and (OH, OW) == (H // 2, W // 2):  # MaxPool2d(2)
        if chunks > 1:
            _max_pool_2x2_parallel(x3, y, idx, chunks)
        else:
            _max_pool_2x2_planes(x3, y, idx, 0, N * C)
    elif chunks > 1:
        _max_pool_parallel(*args, chunks)
    else:
        _max_pool_planes(*args, 0, N * C)
    return y.reshape(N, C, OH, OW), idx.reshape(N, C, OH, OW)


def max_pool2d_backward(g, indices, x_shape):
    """The compiled :func:`max_pool2d_backward_reference` (same arguments, same result)."""
    g, indices = kernel_array(g), kernel_array(indices)
    N, C, H, W = x_shape
    P = N * C
    dx = np.empty((P, H * W), dtype=g.dtype)
    g3, i3 = g.reshape(P, g.shape[2], g.shape[3]), indices.reshape(P, g.shape[2], g.shape[3])
    chunks = _threads(dx.size, P, g.dtype)
    if chunks > 1:
        _max_pool_backward_parallel(g3, i3, dx, chunks)
    else:
        _max_pool_backward_planes(g3, i3, dx, 0, P)
    return dx.reshape(x_shape)


def _avg_pool(backward, a, out_shape, kernel, stride, padding, div):
    P = out_shape[0] * out_shape[1]
    a3 = kernel_array(a).reshape((P,) + a.shape[2:])
    b = np.empty((P,) + tuple(out_shape[2:]), dtype=a.dtype)
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, padding
    args = (backward, a3, b, div.astype(a.dtype), KH, KW, sh, sw, ph, pw)
    chunks = _threads(max(a.size, b.size), P, a.dtype)
    if chunks > 1:
        _avg_pool_parallel(*args, chunks)
    else:
        _avg_pool_planes(*args, 0, P)
    return b.reshape(out_shape)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """The compiled :func:`avg_pool2d_forward_reference` (same arguments, same result)."""
    N, C, H, W = x.shape
    div = _avg_divisors(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _avg_pool(False, x, (N, C) + div.shape, kernel, stride, padding, div)


def avg_pool2d_backward(g, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """The compiled :func:`avg_pool2d_backward_reference` (same arguments, same result)."""
    N, C, H, W = x_shape
    div = _avg_divisors(H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _avg_pool(True, g, x_shape, kernel, stride, padding, div)
