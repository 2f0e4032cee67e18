"""Layer normalisation, forward and backward, each as one compiled pass over the rows.

For one row ``x`` of ``n`` numbers (a token's ``C`` features in a transformer)::

    mean = sum(x) / n
    var  = sum((x - mean)^2) / n          the biased variance, as in PyTorch
    rstd = 1 / sqrt(var + eps)
    x̂    = (x - mean) * rstd              mean 0, variance 1
    y    = x̂ * weight + bias

and, given ``g = dL/dy``, the backward pass (``dx̂ = g * weight``)::

    dx      = (dx̂ - mean(dx̂) - x̂ * mean(dx̂ * x̂)) * rstd
    dweight = sum over rows of g * x̂
    dbias   = sum over rows of g

Why a kernel? In numpy each line is a pass over the whole (rows, n) array with a temporary
array between passes, eight or so passes in all; a row of the GPT's activations (128-384
floats) fits in the L1 cache, so the compiled loop reads each row from memory once, computes
everything on it while it is in cache, and writes the output once.

The two ``*_reference`` functions are the numpy definitions the kernels are tested against (and
what the ``"numpy"`` backend runs). Every function takes 2-D (rows, n) float32 or float64 arrays.
"""

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._fastmath import FASTMATH
from micrograd_plus.kernels._shared import INTERNAL, kernel_array, threads_for

# IEEE NaN/inf rules kept (see kernels/_fastmath.py). Sums may be reordered (that is what makes
# them SIMD); the elementwise formulas may not, so they are numpy's operations, in numpy's order.
_SUMS = set(FASTMATH)
_FASTMATH = False  # not even fused multiply-adds: g*w - mean(g*w) must be 0 where numpy's is

# Below this many numbers a parallel region (~1.5 µs to start) costs more than it saves.
_PARALLEL_MIN = 32_768


# ---- the definitions in numpy (readable), then the public functions ---------------------------------------

def layer_norm_forward_reference(x, weight, bias, eps):
    """``(y, mean, rstd)`` for x (rows, n), weight and bias (n,) or None: y is (rows, n),
    mean and rstd (rows,), what the backward needs."""
    mean = x.mean(axis=1)  # (rows,)
    xc = x - mean[:, None]  # (rows, n)
    var = (xc * xc).mean(axis=1)  # (rows,)
    rstd = (1 / np.sqrt(var + eps)).astype(x.dtype)  # (rows,)
    y = xc * rstd[:, None]  # x̂
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False), mean, rstd


def layer_norm_backward_reference(g, x, weight, mean, rstd):
    """``(dx, dweight, dbias)`` given ``g = dL/dy`` (rows, n) and the forward's mean and rstd;
    dweight and dbias are (n,) (computed whether or not the layer has them)."""
    xh = (x - mean[:, None]) * rstd[:, None]  # (rows, n)
    dxh = g * weight if weight is not None else g
    m1 = dxh.mean(axis=1, keepdims=True)  # (rows, 1)
    m2 = (dxh * xh).mean(axis=1, keepdims=True)  # (rows, 1)
    dx = (dxh - m1 - xh * m2) * rstd[:, None]
    return dx.astype(x.dtype, copy=False), (g * xh).sum(axis=0), g.sum(axis=0)


def layer_norm_forward(x, weight, bias, eps):
    """LayerNorm over the last axis in one compiled pass: ``(y, mean, rstd)``.

    x is (rows, n); weight and bias are (n,) or None; y is (rows, n), mean and rstd (rows,).
    Same results as :func:`layer_norm_forward_reference`.
    """
    x, weight, bias = _check(x, "layer_norm_forward", ("weight", weight, x.shape[1:]),
                             ("bias", bias, x.shape[1:]))
    rows, n = x.shape
    w = np.ones(n, x.dtype) if weight is None else weight
    b = np.zeros(n, x.dtype) if bias is None else bias
    y = np.empty_like(x)
    mean, rstd = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    eps = x.dtype.type(eps)
    threads = threads_for(x.size, _PARALLEL_MIN, x.dtype)  # chunks of rows; 1: no parallel region
    # No sum crosses rows here, so the chunks can follow the threads: one chunk each.
    chunks = np.empty((threads, 0), x.dtype)  # (chunks, 0): only its length is used
    if threads > 1:
        _rows_parallel(False, x, x, w, b, eps, y, mean, rstd, chunks, chunks)
    else:
        _rows(False, x, x, w, b, eps, y, mean, rstd, chunks, chunks, 0, 1)
    return y, mean, rstd


def layer_norm_backward(g, x, weight, mean, rstd):
    """``(dx, dweight, dbias)`` of LayerNorm in one compiled pass over the rows.

    g and x are (rows, n), weight (n,) or None, mean and rstd (rows,) from the forward;
    dx is (rows, n), dweight and dbias (n,). Same results as :func:`layer_norm_backward_reference`.
    """
    x, g, weight, mean, rstd = _check(x, "layer_norm_backward", ("g", g, x.shape),
                                      ("weight", weight, x.shape[1:]), ("mean", mean, x.shape[:1]),
                                      ("rstd", rstd, x.shape[:1]))
    if g is None or mean is None or rstd is None:
        raise ValueError("layer_norm_backward: g, mean and rstd are required")
    rows, n = x.shape
    w = np.ones(n, x.dtype) if weight is None else weight
    dx = np.empty_like(x)
    chunks = sum_chunks(rows)  # fixed by the rows alone, whoever computes them (see SUM_CHUNKS)
    dw_parts = np.zeros((chunks, n), x.dtype)  # one row of partial sums per chunk
    db_parts = np.zeros((chunks, n), x.dtype)
    zero = x.dtype.type(0)
    if threads_for(x.size, _PARALLEL_MIN, x.dtype) > 1:
        _rows_parallel(True, x, g, w, w, zero, dx, mean, rstd, dw_parts, db_parts)
    else:
        _rows(True, x, g, w, w, zero, dx, mean, rstd, dw_parts, db_parts, 0, chunks)
    # the chunks' partial sums, added in chunk order (numpy adds the rows of an axis-0 sum one
    # after another): the same order on one thread or many
    return dx, dw_parts.sum(axis=0), db_parts.sum(axis=0)


# ---- the compiled row loops -------------------------------------------------------------------

@njit(cache=True, fastmath=_SUMS, error_model="numpy", **INTERNAL)
def _mean_and_rstd(xr, eps):
    """mean and 1/sqrt(var + eps) of one row (n,): two vectorised sums while the row is in L1."""
    n = xr.shape[0]
    s = xr.dtype.type(0)
    for j in range(n):
        s += xr[j]
    mu = s / xr.dtype.type(n)
    ss = xr.dtype.type(0)
    for j in range(n):
        d = xr[j] - mu
        ss += d * d
    return mu, xr.dtype.type(1) / np.sqrt(ss / xr.dtype.type(n) + eps)


@njit(cache=True, fastmath=_SUMS, error_model="numpy", **INTERNAL)
def _row_means(gr, xr, w, mu, rs):
    """mean(dx̂) and mean(dx̂ x̂) of one row, with dx̂ = g * weight and x̂ = (x - mean) * rstd."""
    n = xr.shape[0]
    m1 = xr.dtype.type(0)
    m2 = xr.dtype.type(0)
    for j in range(n):
        dxh = gr[j] * w[j]
        m1 += dxh
        m2 += dxh * ((xr[j] - mu) * rs)
    return m1 / xr.dtype.type(n), m2 / xr.dtype.type(n)


# One compiled function does the rows of either pass, and one parallel twin shares its chunks
# among threads: numba compiles every function on its own (and a ``parallel=True`` one compiles the
# machine code of what it calls again), and a serial and a parallel function for each pass took
# 1.9-2.0 CPU s to compile per dtype against 1.5 s for these two (2-core Zen 4, avx512f).
#
# **Same bits on one thread or many.** dweight and dbias are sums over rows. Adding rows in a
# different order rounds differently, so if each thread summed "its" rows, the answer would depend
# on how many threads ran -- which depends on the machine's load (:func:`threads_for`), so the same
# seed would give a different run on a busy machine. Instead the rows are always cut into the same
# chunks (:func:`sum_chunks`: a number fixed by the row count alone), each chunk's partial sums go
# to a row of their own, and the partial sums are added in chunk order at the end. Threads only
# decide *who* computes each chunk, never *what* is added to what.

#: Chunks of rows whose dweight/dbias partial sums are added up at the end: fixed, so the result
#: is the same whatever the thread count (more threads than this would sit idle in the backward).
SUM_CHUNKS = 8


def sum_chunks(rows):
    """How many chunks the backward pass cuts ``rows`` rows into: ``SUM_CHUNKS``, or one per row
    when there are fewer rows, and at least one."""
    return max(1, min(SUM_CHUNKS, rows))


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _rows(backward, x, g, w, b, eps, out, mean, rstd, dw_parts, db_parts, c0, c1):
    """Chunks c0..c1 of ``len(dw_parts)`` equal chunks of rows of one pass, x (rows, n), each
    row while it is in L1.

    Forward (``backward`` False): ``out`` = y, and each row's mean and rstd are written;
    g, dw_parts and db_parts are unused. Backward: ``out`` = dx from g and the forward's mean and
    rstd, and chunk c's share of dweight and dbias is added into row c of dw_parts and db_parts
    (chunks, n); b and eps are unused.
    """
    rows, n = x.shape
    chunks = dw_parts.shape[0]
    for c in range(c0, c1):
        r0, r1 = c * rows // chunks, (c + 1) * rows // chunks
        if not backward:
            for r in range(r0, r1):
                xr, yr = x[r], out[r]  # (n,) each
                mu, rs = _mean_and_rstd(xr, eps)
                for j in range(n):
                    yr[j] = (xr[j] - mu) * rs * w[j] + b[j]
                mean[r] = mu
                rstd[r] = rs
            continue
        dw, db = dw_parts[c], db_parts[c]  # (n,) each: this chunk's partial sums
        for r in range(r0, r1):
            gr, xr, dxr = g[r], x[r], out[r]  # (n,) each
            mu, rs = mean[r], rstd[r]
            m1, m2 = _row_means(gr, xr, w, mu, rs)
            for j in range(n):
                xh = (xr[j] - mu) * rs
                dxr[j] = (gr[j] * w[j] - m1 - xh * m2) * rs
                dw[j] += gr[j] * xh
                db[j] += gr[j]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _rows_parallel(backward, x, g, w, b, eps, out, mean, rstd, dw_parts, db_parts):
    """:func:`_rows` over all ``len(dw_parts)`` chunks, side by side: each chunk writes only its
    own rows of ``out`` and its own row of ``dw_parts``/``db_parts``, so no thread writes where
    another does."""
    for c in prange(dw_parts.shape[0]):
        first = np.int64(c)  # (prange's index is unsigned: another type would compile _rows twice)
        _rows(backward, x, g, w, b, eps, out, mean, rstd, dw_parts, db_parts, first, first + 1)


# ---- what the public functions share ----------------------------------------------------------

def _check(x, name, *others):
    """x must be a 2-D float32/float64 array; each of ``others`` (label, array, shape) None or
    that shape and dtype. Returns x and the others C-contiguous and writeable (``_shared.kernel_array``)."""
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64) or x.ndim != 2:
        raise TypeError(f"{name}: x must be a 2-D float32 or float64 array (rows, n), got "
                        f"{getattr(x, 'shape', type(x).__name__)} {getattr(x, 'dtype', '')}")
    out = [kernel_array(x)]
    for label, a, shape in others:
        if a is not None:
            a = np.asarray(a)
            if a.shape != shape or a.dtype != x.dtype:
                raise ValueError(f"{name}: {label} must be {shape} {x.dtype}, got {a.shape} {a.dtype}")
            a = kernel_array(a)
        out.append(a)
    return out


