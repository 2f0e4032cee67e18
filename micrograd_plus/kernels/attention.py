"""Scaled dot-product attention (causal or not), forward and backward, as fused numba kernels.

For one head, with queries ``Q``, keys ``K`` and values ``V`` each of shape (T, D)::

    S = Q Kᵀ * scale              (T, T)  how well query t matches key s
    S[t, s] = -inf  for s > t      causal mask: position t may only look at positions 0..t
    P = softmax(S) row by row      (T, T)  each row sums to 1
    O = P V                        (T, D)  a weighted average of the values

and, given ``dO = dL/dO``, the backward pass (the chain rule through each line above, bottom-up)::

    dV = Pᵀ dO                     (T, D)
    dP = dO Vᵀ                     (T, T)
    dS = P * (dP - rowsum(P * dP)) (T, T)  the softmax's local derivative, row by row
    dQ = dS K * scale              (T, D)
    dK = dSᵀ Q * scale             (T, D)

Every array here has a leading batch of ``B`` sequences and ``H`` heads: (B, H, T, D). Heads are
independent, so the kernels hand each thread a contiguous run of whole heads
(:func:`_in_threads`) and no two threads ever write the same memory.

Two versions of each function live here:

* :func:`attention_forward_reference` / :func:`attention_backward_reference`: the lines above in
  numpy, short enough to read in a minute. They define what the kernels must compute.
* :func:`attention_forward` / :func:`attention_backward`: numba kernels that compute the same thing
  several times faster (see ``micrograd-plus bench attention``). What makes them fast:

  - **Fused**: one pass over a block of 4 query rows computes its scores, its softmax and its share
    of ``O`` while those scores are still in cache; ``S`` never exists as a separate array.
  - **Only the lower triangle**: with the causal mask, blocks above the diagonal are all zeros in
    ``P``, so they are neither computed nor read (half the work).
  - **Register blocking**: every matrix product is built from one micro-kernel,
    :func:`_block_nt`, that computes a 4x4 block of ``A Bᵀ`` with 16 scalar accumulators. Each
    value loaded from memory feeds 4 multiply-adds, and LLVM turns the loop into SIMD instructions
    (the ``reassoc`` fast-math flag lets it reorder the sums to do so).
  - **A fast exp** (:mod:`micrograd_plus.kernels._fastmath`) that vectorises; ``math.exp`` does not.

``stats`` -- what the forward hands the backward -- is ``P`` itself, padded to (B, H, Tp, Tp) with
``Tp = T`` rounded up to a multiple of 16 (zeros outside the lower triangle when causal). Storing
``P`` costs ``T*T`` floats per head (about 0.8 MB for the whole GPT training batch) but saves the
backward from recomputing ``Q Kᵀ`` and every exponential; the alternative, a (B, H, T) log-sum-exp
from which the backward rebuilds ``P``, is what flash attention does for long sequences where
``T*T`` does not fit in memory. Our sequences are short, so we spend the memory to save the time.
Treat ``stats`` as opaque: pass it from :func:`attention_forward` to :func:`attention_backward`.
(Both backward functions also accept the other forward's ``stats``.)

**NaN and inf.** The kernels follow IEEE's rules (no ``nnan``/``ninf`` fast-math assumption, no
exception on a division by zero), so a NaN in q, k or v comes out as NaN, never as a finite
number. But skipping the masked upper triangle changes *where* it comes out: numpy's ``P @ V``
multiplies every masked zero of ``P`` by a value, and ``0 * NaN`` is NaN, so in the reference one
NaN in ``v`` reaches every query, even those the mask hides it from. The kernels keep that
definition with a guard (:func:`_fast_path_is_exact`): they run only where every input is finite
and bounds made from ``sum(|x|)`` of each input prove that no intermediate can overflow, and
anything else is handed to the numpy reference. So NaN and inf come out exactly where the
reference puts them, at the cost of one pass that sums ``|x|`` over each input.
"""

import math

import numpy as np
from numba import njit

from micrograd_plus.kernels._fastmath import FASTMATH, fast_exp
from micrograd_plus.kernels._shared import INTERNAL, run_in_threads, split, threads_for, transpose_rows

_FASTMATH = set(FASTMATH)  # IEEE NaN/inf rules kept: see kernels/_fastmath.py

# Below this much work (heads x T x T x D multiply-adds) one thread does every head: handing
# heads to a second thread costs ~50 µs (kernels/_shared.py), and one thread takes ~0.4 ms for
# 1,000,000 of these (forward and backward), so from there on two threads save more than that.
_THREADS_MIN = 1_000_000

# --------------------------------------------------------------------------------------------
# Checking arguments
# --------------------------------------------------------------------------------------------


def _check_qkv(q, k, v, scale, names=("q", "k", "v")):
    """Validate q, k, v (and the scale); return them as C-contiguous arrays and the scale's value.

    Raises a ``TypeError`` naming the dtypes or a ``ValueError`` naming the shapes when they are
    not float32/float64 arrays of one shape (B, H, T, D) and one dtype.
    """
    arrays = [np.asarray(a) for a in (q, k, v)]

    def described():
        return ", ".join(f"{n}: {a.shape} {a.dtype}" for n, a in zip(names, arrays))

    for name, a in zip(names, arrays):
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"attention needs float32 or float64 arrays, got {described()}")
        if a.ndim != 4:
            raise ValueError(f"attention needs 4-D arrays of shape (B, H, T, D); {name} is "
                             f"{a.ndim}-D ({described()})")
    if len({a.dtype for a in arrays}) != 1:
        raise TypeError(f"attention needs one dtype for all arrays, got {described()}")
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"attention needs one shape (B, H, T, D) for all arrays, got {described()}")
    scale = float(scale)
    if not np.isfinite(scale):
        raise ValueError(f"attention scale must be finite, got {scale}")
    return [np.ascontiguousarray(a) for a in arrays], scale


# --------------------------------------------------------------------------------------------
# The plain-numpy definitions
# --------------------------------------------------------------------------------------------


def attention_forward_reference(q, k, v, scale, causal=True):
    """softmax(q kᵀ * scale + mask) v in numpy: the definition the kernels are tested against.

    Args:
        q, k, v: queries, keys, values, each (B, H, T, D), float32 or float64.
        scale: multiplies the scores, usually ``1 / sqrt(D)`` so they stay of order 1.
        causal: if true, query ``t`` only sees keys ``0..t`` (scores above the diagonal are -inf,
            so their probabilities are exactly 0).

    Returns:
        ``(out, p)``: out (B, H, T, D) and the attention probabilities p (B, H, T, T).
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    T = q.shape[2]
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * q.dtype.type(scale)  # (B, H, T, T)
    if causal:
        s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)  # the largest score in each row becomes 0: no overflow
    p = np.exp(s)  # (B, H, T, T)
    p /= p.sum(axis=-1, keepdims=True)
    return np.matmul(p, v), p  # (B, H, T, D), (B, H, T, T)


def attention_backward_reference(dout, q, k, v, out, stats, scale, causal=True):
    """Gradients ``(dq, dk, dv)`` of the reference attention, each (B, H, T, D), in numpy.

    ``stats`` is the ``p`` returned by the forward pass (B, H, T, T); ``causal`` is not needed
    because the mask is already in ``p`` (its masked entries are 0), and ``out`` is unused.
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    dout = _check_like(dout, q, "dout")
    T = q.shape[2]
    p = np.asarray(stats)[..., :T, :T]  # (B, H, T, T); the kernel's stats are padded
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)  # (B, H, T, D)
    dp = np.matmul(dout, np.swapaxes(v, -1, -2))  # (B, H, T, T)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))  # (B, H, T, T)
    dq = np.matmul(ds, k) * q.dtype.type(scale)  # (B, H, T, D)
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * q.dtype.type(scale)  # (B, H, T, D)
    return dq, dk, dv


def _check_like(a, q, name):
    """Check that ``a`` has q's shape and dtype; return it C-contiguous."""
    a = np.asarray(a)
    if a.shape != q.shape or a.dtype != q.dtype:
        raise ValueError(f"attention backward: {name} must match q's shape and dtype "
                         f"{q.shape} {q.dtype}, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


# --------------------------------------------------------------------------------------------
# The numba kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _block_nt(a, b, c, i, j, k0, k1, alpha):
    """c[i:i+4, j:j+4] = alpha * a[i:i+4, k0:k1] @ b[j:j+4, k0:k1]ᵀ: the register-blocked core.

    Every caller passes ``k0`` as an int64 variable, never the literal ``0``: for a literal numba
    compiles a second version with k0 the constant 0, measured 1-2.5% faster on one thread but
    ~0.45 s more compilation per dtype, which would take the whole kernel set over 20 s.

    a and b are 2-D, C-contiguous, and their rows are read along k (contiguous memory). The 16
    sums live in registers for the whole loop; each of the 8 values loaded per step feeds 4
    multiply-adds. The rows are sliced to 1-D views looping from 0, which lets LLVM vectorise
    (indexing a 2-D array from a variable start inserts checks that block it).
    """
    a0, a1, a2, a3 = a[i, k0:k1], a[i + 1, k0:k1], a[i + 2, k0:k1], a[i + 3, k0:k1]
    b0, b1, b2, b3 = b[j, k0:k1], b[j + 1, k0:k1], b[j + 2, k0:k1], b[j + 3, k0:k1]
    zero = c.dtype.type(0)
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = zero
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = zero
    for t in range(k1 - k0):
        x0, x1, x2, x3 = a0[t], a1[t], a2[t], a3[t]
        y0, y1, y2, y3 = b0[t], b1[t], b2[t], b3[t]
        c00 += x0 * y0
        c01 += x0 * y1
        c02 += x0 * y2
        c03 += x0 * y3
        c10 += x1 * y0
        c11 += x1 * y1
        c12 += x1 * y2
        c13 += x1 * y3
        c20 += x2 * y0
        c21 += x2 * y1
        c22 += x2 * y2
        c23 += x2 * y3
        c30 += x3 * y0
        c31 += x3 * y1
        c32 += x3 * y2
        c33 += x3 * y3
    c[i, j], c[i, j + 1], c[i, j + 2], c[i, j + 3] = c00 * alpha, c01 * alpha, c02 * alpha, c03 * alpha
    c[i + 1, j], c[i + 1, j + 1], c[i + 1, j + 2], c[i + 1, j + 3] = (
        c10 * alpha, c11 * alpha, c12 * alpha, c13 * alpha)
    c[i + 2, j], c[i + 2, j + 1], c[i + 2, j + 2], c[i + 2, j + 3] = (
        c20 * alpha, c21 * alpha, c22 * alpha, c23 * alpha)
    c[i + 3, j], c[i + 3, j + 1], c[i + 3, j + 2], c[i + 3, j + 3] = (
        c30 * alpha, c31 * alpha, c32 * alpha, c33 * alpha)


@njit(cache=True, error_model="numpy")
def _padded(n):
    """n rounded up to a multiple of 16 (one AVX-512 register of float32)."""
    return (n + 15) // 16 * 16


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _pack(x, rows, cols):
    """x (T, D) itself if it is already (rows, cols), else a zero-padded (rows, cols) copy.

    Padding every dimension to a multiple of 16 means every loop over it is whole SIMD
    registers, with no slow leftover iterations; the zeros add nothing to any dot product.
    """
    if x.shape[0] == rows and x.shape[1] == cols:
        return x
    out = np.zeros((rows, cols), dtype=x.dtype)
    _copy_rows(x, out, x.shape[0], x.shape[1])
    return out


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _copy_rows(src, dst, rows, cols):
    """dst[:rows, :cols] = src[:rows, :cols], written as loops over 1-D rows.

    (numba compiles a 2-D slice assignment into general broadcasting code that took several
    seconds to compile, more than all the arithmetic around it; these loops take a fraction.)
    """
    for i in range(rows):
        s, d = src[i], dst[i]
        for j in range(cols):
            d[j] = s[j]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _zero_right(a, r0, r1, c0):
    """a[r0:r1, c0:] = 0, as loops (see :func:`_copy_rows`)."""
    zero = a.dtype.type(0)
    for i in range(r0, r1):
        row = a[i]
        for j in range(c0, a.shape[1]):
            row[j] = zero


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _pack_t(x, rows, cols):
    """The transpose of x (T, D) as a zero-padded, C-contiguous (rows, cols) buffer.

    The copy is matmul's blocked transpose (eight source rows at a time, so both sides move
    through memory in order), about 3x faster than a plain double loop here.
    """
    out = np.zeros((rows, cols), dtype=x.dtype)
    transpose_rows(x, out, 0, x.shape[0])  # out[:D, :T] = x.T
    return out


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _transpose_into(src, dst, causal):
    """dst = srcᵀ for (Tp, Tp) arrays, copied in 4x4 tiles, skipping what is never read.

    The dV and dK products read row j of dst from column ``j // 16 * 16`` on when causal (only
    queries i >= j saw key j; src is zero above its diagonal), so only those tiles are copied.
    """
    n = src.shape[0]
    for j0 in range(0, n, 4):
        for i0 in range(j0 // 16 * 16 if causal else 0, n, 4):
            for j in range(j0, j0 + 4):
                for i in range(i0, i0 + 4):
                    dst[j, i] = src[i, j]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
def _softmax_rows(s, i0, n, T, causal):
    """Turn the scores s[i0:i0+4, :n] into probabilities in place.

    Row i's visible keys are 0..i (causal) or 0..T-1; every other entry of s[i, :n] (masked
    keys, padding, never-computed scores) becomes exactly 0, and padded rows (i >= T) are all 0.
    The loops run over all n entries (a multiple of 16) and mask with a select, which keeps
    them whole SIMD registers instead of ragged row lengths.
    """
    for i in range(i0, i0 + 4):
        row = s[i, :n]
        visible = min(i + 1, T) if causal else T
        if i >= T:
            visible = 0
        first = row[0]  # always a computed score: key 0 is visible to every real query
        zero = row.dtype.type(0)  # (not first - first: NaN when first is inf)
        m = first
        for j in range(n):
            m = max(m, row[j] if j < visible else first)
        total = zero
        for j in range(n):
            e = fast_exp(row[j] - m) if j < visible else zero
            row[j] = e
            total += e
        inv = row.dtype.type(1) / total if visible > 0 else total  # (a bare 1 / total is float64)
        for j in range(n):
            row[j] *= inv


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _forward_heads(q, k, v, scale, causal, out, p, h0, h1):
    """Heads h0..h1 of the forward: out (N, T, D) and p (N, Tp, Tp, padded) for q, k, v of shape
    (N, T, D), N = batch x heads, one head at a time. Releases the GIL, so threads can run
    disjoint runs of heads (:func:`_in_threads`).

    (The loop over heads and the body for one head are one function on purpose: numba compiles
    every function it calls separately and then again inside its caller, so a separate one-head
    function cost a second full optimisation of everything below it, ~0.6 s per dtype.)
    """
    T, D = q.shape[1], q.shape[2]
    Tp, Dp = p.shape[1], _padded(D)
    one = q.dtype.type(1)  # not scale - scale + 1: numba types float32 + int as float64
    exact = T == Tp and D == Dp
    k0 = T - T  # 0, as an int64 (see _block_nt)
    for h in range(h0, h1):
        qh = _pack(q[h], Tp, Dp)  # (Tp, Dp)
        kh = _pack(k[h], Tp, Dp)  # (Tp, Dp)
        vt = _pack_t(v[h], Dp, Tp)  # (Dp, Tp): Vᵀ, so O = P (Vᵀ)ᵀ reads rows
        ph = p[h]  # (Tp, Tp)
        oh = out[h] if exact else np.empty((Tp, Dp), dtype=q.dtype)  # (Tp, Dp)
        for i0 in range(0, Tp, 4):
            n = _padded(i0 + 4) if causal else Tp  # keys this block of queries can see, padded
            for j0 in range(0, min(i0 + 4, n) if causal else n, 4):
                _block_nt(qh, kh, ph, i0, j0, k0, Dp, scale)  # S block = Q Kᵀ * scale
            _softmax_rows(ph, i0, n, T, causal)  # P rows, exact zeros where masked
            for d0 in range(0, Dp, 4):
                _block_nt(ph, vt, oh, i0, d0, k0, n, one)  # O block = P V
            _zero_right(ph, i0, i0 + 4, n)  # the never-computed upper triangle, for readers of P
        if not exact:
            _copy_rows(oh, out[h], T, D)


def _in_threads(kernel, n_heads, work, *args):
    """``kernel(*args, h0, h1)`` over heads 0..n_heads, cut into one contiguous run per thread.

    Why Python threads and not numba's ``prange``: see :mod:`micrograd_plus.kernels._shared`
    (compiling a ``parallel=True`` version took as long again as the kernels themselves). The
    kernels release the GIL (``nogil=True``), so plain threads run them side by side. Below
    ``_THREADS_MIN`` multiply-adds of ``work``, or on an oversubscribed machine
    (:func:`~micrograd_plus.kernels._shared.cores_are_free`), everything runs on the calling thread.
    """
    runs = split(n_heads, threads_for(work, _THREADS_MIN))
    run_in_threads([(kernel, args + (h0, h1)) for h0, h1 in runs])


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _backward_run(dout, q, k, v, p, scale, causal, dq, dk, dv, h0, h1):
    """Heads h0..h1 of the backward, dq, dk, dv (N, T, D), given p (N, Tp, Tp) from the forward.

    One thread takes one contiguous run of heads (:func:`_in_threads`), one head at a time (one
    function, as in :func:`_forward_heads`), and allocates its (Tp, Tp) scratch buffers once for
    the run, not once per head (each is 256 KB at T = 256, big enough for the memory allocator to
    hand out fresh, page-faulting memory). Every entry of them a head reads it has written first.
    """
    N, T, D = q.shape
    Tp, Dp = p.shape[1], _padded(D)
    one = q.dtype.type(1)  # not scale - scale + 1: numba types float32 + int as float64
    exact = T == Tp and D == Dp  # no padding: write straight into the outputs
    k0 = T - T  # 0, as an int64 (see _block_nt)
    ds = np.empty((Tp, Tp), dtype=q.dtype)  # dP, then dS in place
    pt = np.empty((Tp, Tp), dtype=q.dtype)  # Pᵀ
    dst = np.empty((Tp, Tp), dtype=q.dtype)  # dSᵀ
    pad = np.empty((0 if exact else 3, Tp, Dp), dtype=q.dtype)  # a padded head's dq, dk, dv
    for h in range(h0, h1):
        ph = p[h]  # (Tp, Tp)
        doh = _pack(dout[h], Tp, Dp)  # (Tp, Dp)
        vh = _pack(v[h], Tp, Dp)  # (Tp, Dp)
        kt = _pack_t(k[h], Dp, Tp)  # (Dp, Tp)
        qt = _pack_t(q[h], Dp, Tp)  # (Dp, Tp)
        dot = _pack_t(dout[h], Dp, Tp)  # (Dp, Tp)
        dqh, dkh, dvh = (dq[h], dk[h], dv[h]) if exact else (pad[0], pad[1], pad[2])  # (Tp, Dp) each
        for i0 in range(0, Tp, 4):
            n = _padded(i0 + 4) if causal else Tp
            for j0 in range(0, min(i0 + 4, n) if causal else n, 4):
                _block_nt(doh, vh, ds, i0, j0, k0, Dp, one)  # dP block = dO Vᵀ
            for i in range(i0, i0 + 4):  # dS = P * (dP - rowsum(P * dP)); P is 0 where masked
                prow, drow = ph[i, :n], ds[i, :n]
                visible = min(i0 + 4, n) if causal else n  # dP beyond is uninitialised
                delta = one - one
                for j in range(visible):
                    delta += prow[j] * drow[j]
                for j in range(n):
                    drow[j] = prow[j] * (drow[j] - delta) if j < visible else one - one
            for d0 in range(0, Dp, 4):
                _block_nt(ds, kt, dqh, i0, d0, k0, n, scale)  # dQ block = dS K * scale
            _zero_right(ds, i0, i0 + 4, n)
        # dV = Pᵀ dO and dK = dSᵀ Q: transpose P and dS so both read contiguous rows.
        _transpose_into(ph, pt, causal)
        _transpose_into(ds, dst, causal)
        for j0 in range(0, Tp, 4):
            start = j0 // 16 * 16 if causal else 0  # causal: only queries i >= j saw key j
            for d0 in range(0, Dp, 4):
                _block_nt(pt, dot, dvh, j0, d0, start, Tp, one)
                _block_nt(dst, qt, dkh, j0, d0, start, Tp, scale)
        if not exact:
            _copy_rows(pad[0], dq[h], T, D)
            _copy_rows(pad[1], dk[h], T, D)
            _copy_rows(pad[2], dv[h], T, D)


# --------------------------------------------------------------------------------------------
# The guard: where the fused kernels are exact, and where the reference must run
# --------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _abs_sum(flat):
    """``sum(|x|)`` of a 1-D array: NaN if x holds a NaN, inf if it holds an inf (or the sum
    overflows), and otherwise an upper bound on every ``|x[i]|``. (Flattened by the caller: one
    compiled version for every shape, and no reshape for numba to compile.)"""
    total = flat.dtype.type(0)
    for i in range(flat.size):
        total += abs(flat[i])
    return total


def _bounds(*arrays):
    """``sum(|a|)`` of each array, as Python floats (inf or NaN where an array is not finite)."""
    return [float(_abs_sum(np.ascontiguousarray(a).reshape(-1))) for a in arrays]  # (a view: no copy)


def _fast_path_is_exact(*bounds, products=(), limit):
    """True if the fused kernels give what the reference gives, NaN and inf included.

    Every bound (a ``sum(|x|)`` from :func:`_bounds`) must be finite, and each product in
    ``products`` (bounds and constant factors) must stay below ``limit``, the dtype's largest
    float. Each product bounds one intermediate of the computation (a score, a dP, a gradient),
    so then nothing can overflow in any order of summation: the kernels and numpy both give
    finite numbers, and the masked entries the kernels skip are exact zeros in numpy too.
    """
    if not all(b < np.inf for b in bounds):  # (NaN fails the comparison too)
        return False
    return all(math.prod(p) < limit for p in products)  # (Python floats: overflow gives inf)


def _quietly(reference, *args):
    """Run the numpy reference without its RuntimeWarnings: the compiled path computes the same
    NaN and inf silently, and the training loop's non-finite guard is what reports them."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return reference(*args)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def attention_forward(q, k, v, scale, causal=True):
    """Fused attention forward: ``(out, stats)`` for q, k, v of shape (B, H, T, D).

    Computes the same ``out`` (B, H, T, D) as :func:`attention_forward_reference`, in the dtype of
    the inputs (float32 or float64; any strides). ``stats`` is the padded probability matrix
    (B, H, Tp, Tp) the backward needs; see the module docstring. ``causal=False`` runs the same
    kernel over every block instead of the lower triangle.
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    B, H, T, D = q.shape
    Tp = _padded(T)
    if q.size == 0:
        return np.zeros_like(q), np.zeros((B, H, Tp, Tp), dtype=q.dtype)
    # NaN or inf anywhere, or scores that might overflow (|S| <= scale sum|q| sum|k|): numpy's
    # definition decides where they go (see the module docstring). |O| <= max |v| needs no bound.
    b_q, b_k, b_v = _bounds(q, k, v)
    if not _fast_path_is_exact(b_q, b_k, b_v, products=[(abs(scale), b_q, b_k)],
                               limit=float(np.finfo(q.dtype).max)):
        return _quietly(attention_forward_reference, q, k, v, scale, causal)
    as3 = lambda a: a.reshape(B * H, T, D)  # noqa: E731  (B, H, T, D) -> (B*H, T, D), no copy
    out, p = np.empty((B * H, T, D), q.dtype), np.empty((B * H, Tp, Tp), q.dtype)
    _in_threads(_forward_heads, B * H, B * H * T * T * D, as3(q), as3(k), as3(v), q.dtype.type(scale),
                bool(causal), out, p)
    return out.reshape(B, H, T, D), p.reshape(B, H, Tp, Tp)


def attention_backward(dout, q, k, v, out, stats, scale, causal=True):
    """Fused attention backward: ``(dq, dk, dv)``, each (B, H, T, D), given ``dout = dL/dout``.

    ``stats`` comes from :func:`attention_forward` (or the reference's ``p``); ``out`` is not
    needed because ``stats`` holds P itself. ``causal`` must match the forward call.
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    dout = _check_like(dout, q, "dout")
    B, H, T, D = q.shape
    Tp = _padded(T)
    p = np.asarray(stats)
    if p.dtype != q.dtype or p.shape[:2] != (B, H) or p.shape[2:] not in ((Tp, Tp), (T, T)):
        raise ValueError(f"attention backward: stats must be the forward's probabilities, "
                         f"({B}, {H}, {Tp}, {Tp}) {q.dtype}; got {p.shape} {p.dtype}")
    if q.size == 0:
        return np.zeros_like(q), np.zeros_like(q), np.zeros_like(q)
    # The kernels skip the masked entries of dP = dO Vᵀ, which numpy computes and multiplies by
    # P's zeros: exact only if nothing can overflow. With 0 <= P <= 1:  |dP| <= sum|dO| sum|V|,
    # |dS| <= 2 max|dP|, |dQ| <= max|dS| sum|K| scale, |dK| <= max|dS| sum|Q| scale, |dV| <= sum|dO|.
    b_dout, b_q, b_k, b_v, b_p = _bounds(dout, q, k, v, p)
    s = abs(scale)
    products = [(2.0, b_dout, b_v), (2.0, b_dout, b_v, b_k, s), (2.0, b_dout, b_v, b_q, s)]
    if not _fast_path_is_exact(b_dout, b_q, b_k, b_v, b_p, products=products,
                               limit=float(np.finfo(q.dtype).max)):
        return _quietly(attention_backward_reference, dout, q, k, v, out, stats, scale, causal)
    if p.shape[2] != Tp:  # the reference's unpadded P: pad it with zeros
        padded = np.zeros((B, H, Tp, Tp), dtype=q.dtype)
        padded[:, :, :T, :T] = p
        p = padded
    p = np.ascontiguousarray(p).reshape(B * H, Tp, Tp)
    as3 = lambda a: a.reshape(B * H, T, D)  # noqa: E731
    dq, dk, dv = (np.empty((B * H, T, D), q.dtype) for _ in range(3))
    _in_threads(_backward_run, B * H, B * H * T * T * D, as3(dout), as3(q), as3(k), as3(v), p,
                q.dtype.type(scale), bool(causal), dq, dk, dv)
    return dq.reshape(B, H, T, D), dk.reshape(B, H, T, D), dv.reshape(B, H, T, D)
