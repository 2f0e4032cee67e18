"""Matrix multiplication kernels: ``a @ b``, ``a @ b.T`` and ``a.T @ b`` compiled with numba.

A linear layer stores its weight as (out_features, in_features), as PyTorch does, and computes
``y = x @ weight.T``. Its forward and its two backward products are the three kernels here::

    y  = x @ W.T      matmul_nt(x, W)     (M, K) @ (N, K)ᵀ -> (M, N)   "nt": second one transposed
    dx = dy @ W       matmul(dy, W)       (M, N) @ (N, K)  -> (M, K)
    dW = dy.T @ x     matmul_tn(dy, x)    (M, N)ᵀ @ (M, K) -> (N, K)   "tn": first one transposed

(see ``F.linear`` in :mod:`micrograd_plus.functional`). ``matmul`` is the plain product
``a @ b``, which is also what ``Tensor.__matmul__`` uses.

Each has a plain-numpy ``*_reference`` beside it: that is the definition, and the tests hold the
fast kernel equal to it.

How the fast kernels work (read :func:`_tile` first, it is the heart):

1. **One shape for every product.** Every output element is a dot product of a row of the left
   matrix with a column of the right one. If both are laid out as rows that are contiguous along
   K, i.e. ``lhs`` of shape (M, K) and ``rhs`` of shape (N, K), then ``C[i, j] = lhs[i] · rhs[j]``
   reads memory strictly left to right, which is what SIMD units and caches like. So each of
   the three products first *packs* its operands into that form (a transposed copy where needed,
   nothing at all where the operand already is), and one kernel computes ``lhs @ rhs.T``.
2. **Register blocking.** Computing one dot product at a time loads two numbers per
   multiply-add and the CPU spends its time loading. :func:`_tile` computes a 4x4 block of C at
   once: per step along K it loads 4 numbers of lhs and 4 of rhs and does 16 multiply-adds into
   16 accumulators that live in registers. With fast-math's ``reassoc`` LLVM vectorises the K loop, so
   each accumulator is really a SIMD register of 8 or 16 partial sums.
3. **Cache blocking.** The work is cut into tiles of C (``mc`` rows by ``nc`` columns) and
   slices of K (``kc``), sized so that the rhs rows a tile reuses stay in the L2 cache and the
   8 rows a 4x4 block streams stay in L1.
4. **Threads.** Tiles write disjoint parts of C, so they run in parallel with ``prange``
   without locks. Launching threads costs microseconds, so small products run serially, and
   so does everything while other processes keep the machine's cores busy
   (:func:`~micrograd_plus.kernels._shared.cores_are_free`).
5. **Blocking that fits the CPU.** 16 accumulators plus 8 loaded values need 24 vector
   registers: AVX-512 and arm64's NEON have 32, x86 with AVX2 only 16, where LLVM would spill
   registers to memory inside the loop. So at import the module asks LLVM what the CPU is
   (:func:`~micrograd_plus.kernels._cpu.host_cpu`) and uses 4x2 blocks (:func:`_tile_4x2`,
   8 accumulators) on 16-register CPUs; :func:`use_blocking` (or the environment variable
   ``MICROGRAD_PLUS_VECTOR_REGISTERS=16``) forces either, and the tests run both.
6. **Short sums.** When K is at most 32 (e.g. the backward of a 10-class output layer), dot
   products are too short to vectorise well, and :func:`_axpy_rows` instead adds multiples of
   rows of the right operand to rows of C.

Measured on a 2-core AMD Zen 4 machine (float32, two threads, against OpenBLAS at ~190 GFLOPS):
K of 512 runs at 0.75-1.04x BLAS (e.g. 0.51 ms = 198 GFLOPS for (768, 512) @ (128, 512)ᵀ); K = 128
at 0.64-0.80x (the fixed per-block cost above); the 65-wide products of a GPT's output layer at
0.5-0.9x, worst where K itself is 65. See ``micrograd_plus/bench/matmul.py``.
"""

import os

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._cpu import host_cpu
from micrograd_plus.kernels._fastmath import FASTMATH
from micrograd_plus.kernels._shared import cores_are_free, transpose_rows

_FASTMATH = set(FASTMATH)  # IEEE NaN/inf rules kept: see kernels/_fastmath.py

# ---------------------------------------------------------------------------------------------
# Plain-numpy references: the definitions the kernels are tested against.
# ---------------------------------------------------------------------------------------------


def matmul_reference(a, b):
    """(M, K) @ (K, N) -> (M, N) with numpy: ``C[i, j] = sum over k of a[i, k] * b[k, j]``."""
    return np.matmul(a, b)


def matmul_nt_reference(a, b):
    """(M, K) @ (N, K)ᵀ -> (M, N) with numpy: ``C[i, j] = sum over k of a[i, k] * b[j, k]``."""
    return np.matmul(a, b.T)


def matmul_tn_reference(a, b):
    """(K, M)ᵀ @ (K, N) -> (M, N) with numpy: ``C[i, j] = sum over k of a[k, i] * b[k, j]``."""
    return np.matmul(a.T, b)


# ---------------------------------------------------------------------------------------------
# The compiled kernel: C += lhs @ rhs.T with lhs (M, K) and rhs (N, K), both C-contiguous.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _tile(lhs, rhs, C, i0, i1, j0, j1, k0, k1, first):
    """Add ``lhs[i0:i1, k0:k1] @ rhs[j0:j1, k0:k1].T`` into ``C[i0:i1, j0:j1]``.

    With ``first`` (the first slice of K) the sums are written instead of added, so C can start
    uninitialised: zeroing a (768, 512) output and reading it back cost about 10% of a K = 128
    product.

    The main loop computes 4x4 blocks of C with 16 scalar accumulators; the edges of a matrix
    whose sizes are not multiples of 4 are finished by 4x1, 1x4 and 1x1 versions of the same
    loop. Rows are taken as 1-D slices and indexed from 0: numba then knows indices are never
    negative and LLVM can vectorise the K loop (indexing a 2-D array from a variable start
    blocks that).

    Cost model (measured): each 4x4 block costs a fixed ~12 ns (summing each of the 16 SIMD
    accumulators across its lanes, and the loop set-up) plus ~0.16 ns per step of K. So at
    K = 128 about a third of the time is that fixed cost, and the kernel is at its best for
    K of several hundred.
    """
    zero = C.dtype.type(0)
    n = k1 - k0  # length of every dot product in this call
    i = i0
    while i + 4 <= i1:
        a0 = lhs[i, k0:k1]
        a1 = lhs[i + 1, k0:k1]
        a2 = lhs[i + 2, k0:k1]
        a3 = lhs[i + 3, k0:k1]
        j = j0
        while j + 4 <= j1:  # 4x4 block: the fast path
            b0 = rhs[j, k0:k1]
            b1 = rhs[j + 1, k0:k1]
            b2 = rhs[j + 2, k0:k1]
            b3 = rhs[j + 3, k0:k1]
            c00 = c01 = c02 = c03 = zero
            c10 = c11 = c12 = c13 = zero
            c20 = c21 = c22 = c23 = zero
            c30 = c31 = c32 = c33 = zero
            for k in range(n):
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
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
            C[i, j] = c00 if first else C[i, j] + c00
            C[i, j + 1] = c01 if first else C[i, j + 1] + c01
            C[i, j + 2] = c02 if first else C[i, j + 2] + c02
            C[i, j + 3] = c03 if first else C[i, j + 3] + c03
            C[i + 1, j] = c10 if first else C[i + 1, j] + c10
            C[i + 1, j + 1] = c11 if first else C[i + 1, j + 1] + c11
            C[i + 1, j + 2] = c12 if first else C[i + 1, j + 2] + c12
            C[i + 1, j + 3] = c13 if first else C[i + 1, j + 3] + c13
            C[i + 2, j] = c20 if first else C[i + 2, j] + c20
            C[i + 2, j + 1] = c21 if first else C[i + 2, j + 1] + c21
            C[i + 2, j + 2] = c22 if first else C[i + 2, j + 2] + c22
            C[i + 2, j + 3] = c23 if first else C[i + 2, j + 3] + c23
            C[i + 3, j] = c30 if first else C[i + 3, j] + c30
            C[i + 3, j + 1] = c31 if first else C[i + 3, j + 1] + c31
            C[i + 3, j + 2] = c32 if first else C[i + 3, j + 2] + c32
            C[i + 3, j + 3] = c33 if first else C[i + 3, j + 3] + c33
            j += 4
        while j < j1:  # leftover columns: 4x1
            b0 = rhs[j, k0:k1]
            c0 = c1 = c2 = c3 = zero
            for k in range(n):
                y0 = b0[k]
                c0 += a0[k] * y0
                c1 += a1[k] * y0
                c2 += a2[k] * y0
                c3 += a3[k] * y0
            C[i, j] = c0 if first else C[i, j] + c0
            C[i + 1, j] = c1 if first else C[i + 1, j] + c1
            C[i + 2, j] = c2 if first else C[i + 2, j] + c2
            C[i + 3, j] = c3 if first else C[i + 3, j] + c3
            j += 1
        i += 4
    while i < i1:  # leftover rows: 1x4, then 1x1
        a0 = lhs[i, k0:k1]
        j = j0
        while j + 4 <= j1:
            b0 = rhs[j, k0:k1]
            b1 = rhs[j + 1, k0:k1]
            b2 = rhs[j + 2, k0:k1]
            b3 = rhs[j + 3, k0:k1]
            c0 = c1 = c2 = c3 = zero
            for k in range(n):
                x0 = a0[k]
                c0 += x0 * b0[k]
                c1 += x0 * b1[k]
                c2 += x0 * b2[k]
                c3 += x0 * b3[k]
            C[i, j] = c0 if first else C[i, j] + c0
            C[i, j + 1] = c1 if first else C[i, j + 1] + c1
            C[i, j + 2] = c2 if first else C[i, j + 2] + c2
            C[i, j + 3] = c3 if first else C[i, j + 3] + c3
            j += 4
        while j < j1:
            b0 = rhs[j, k0:k1]
            c0 = zero
            for k in range(n):
                c0 += a0[k] * b0[k]
            C[i, j] = c0 if first else C[i, j] + c0
            j += 1
        i += 1


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _tile_4x2(lhs, rhs, C, i0, i1, j0, j1, k0, k1, first):
    """:func:`_tile` for CPUs with 16 vector registers (x86 with AVX2): 4x2 blocks of C.

    The 4x4 block keeps 16 accumulators plus the 8 values loaded per step in registers, 24 in
    all: on a CPU with 16 vector registers LLVM must spill some to memory on every step. A 4x2
    block needs 8 accumulators plus 6 loaded values, 14, which fit. The edges (a last odd column,
    leftover rows) are the 4x1 and 1x1 loops of :func:`_tile`, here inline.
    """
    zero = C.dtype.type(0)
    n = k1 - k0
    i = i0
    while i + 4 <= i1:
        a0 = lhs[i, k0:k1]
        a1 = lhs[i + 1, k0:k1]
        a2 = lhs[i + 2, k0:k1]
        a3 = lhs[i + 3, k0:k1]
        j = j0
        while j + 2 <= j1:  # 4x2 block
            b0 = rhs[j, k0:k1]
            b1 = rhs[j + 1, k0:k1]
            c00 = c01 = c10 = c11 = zero
            c20 = c21 = c30 = c31 = zero
            for k in range(n):
                x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
                y0, y1 = b0[k], b1[k]
                c00 += x0 * y0
                c01 += x0 * y1
                c10 += x1 * y0
                c11 += x1 * y1
                c20 += x2 * y0
                c21 += x2 * y1
                c30 += x3 * y0
                c31 += x3 * y1
            C[i, j] = c00 if first else C[i, j] + c00
            C[i, j + 1] = c01 if first else C[i, j + 1] + c01
            C[i + 1, j] = c10 if first else C[i + 1, j] + c10
            C[i + 1, j + 1] = c11 if first else C[i + 1, j + 1] + c11
            C[i + 2, j] = c20 if first else C[i + 2, j] + c20
            C[i + 2, j + 1] = c21 if first else C[i + 2, j + 1] + c21
            C[i + 3, j] = c30 if first else C[i + 3, j] + c30
            C[i + 3, j + 1] = c31 if first else C[i + 3, j + 1] + c31
            j += 2
        while j < j1:  # a last column: 4x1
            b0 = rhs[j, k0:k1]
            c0 = c1 = c2 = c3 = zero
            for k in range(n):
                y0 = b0[k]
                c0 += a0[k] * y0
                c1 += a1[k] * y0
                c2 += a2[k] * y0
                c3 += a3[k] * y0
            C[i, j] = c0 if first else C[i, j] + c0
            C[i + 1, j] = c1 if first else C[i + 1, j] + c1
            C[i + 2, j] = c2 if first else C[i + 2, j] + c2
            C[i + 3, j] = c3 if first else C[i + 3, j] + c3
            j += 1
        i += 4
    while i < i1:  # leftover rows: 1x1
        a0 = lhs[i, k0:k1]
        for j in range(j0, j1):
            b0 = rhs[j, k0:k1]
            c0 = zero
            for k in range(n):
                c0 += a0[k] * b0[k]
            C[i, j] = c0 if first else C[i, j] + c0
        i += 1


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _task(lhs, rhs, C, t, mc, nc, kc):
    """Compute tile number ``t`` of C (all of K): ``C[i0:i1, j0:j1] = lhs[i0:i1] @ rhs[j0:j1].T``.

    C is cut into a grid of ``ceil(M/mc)`` x ``ceil(N/nc)`` tiles of at most mc x nc, numbered
    row by row; ``t`` picks one. K is walked in slices of ``kc`` so the rows being streamed
    stay in L1.
    """
    M, K = lhs.shape
    N = rhs.shape[0]
    n_col_tiles = (N + nc - 1) // nc
    i0 = (t // n_col_tiles) * mc
    j0 = (t % n_col_tiles) * nc
    i1 = min(i0 + mc, M)
    j1 = min(j0 + nc, N)
    for k0 in range(0, K, kc):
        _tile(lhs, rhs, C, i0, i1, j0, j1, k0, min(k0 + kc, K), k0 == 0)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _gemm_parallel(lhs, rhs, C, mc, nc, kc):
    """C = lhs @ rhs.T with the tiles shared out among threads (tiles never overlap)."""
    M = lhs.shape[0]
    N = rhs.shape[0]
    n_tiles = ((M + mc - 1) // mc) * ((N + nc - 1) // nc)
    for t in prange(n_tiles):
        _task(lhs, rhs, C, t, mc, nc, kc)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _gemm_serial(lhs, rhs, C, mc, nc, kc):
    """C = lhs @ rhs.T on the calling thread, for products too small to be worth threads."""
    M = lhs.shape[0]
    N = rhs.shape[0]
    n_tiles = ((M + mc - 1) // mc) * ((N + nc - 1) // nc)
    for t in range(n_tiles):
        _task(lhs, rhs, C, t, mc, nc, kc)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _task_4x2(lhs, rhs, C, t, mc, nc, kc):
    """:func:`_task` with :func:`_tile_4x2` blocks."""
    M, K = lhs.shape
    N = rhs.shape[0]
    n_col_tiles = (N + nc - 1) // nc
    i0 = (t // n_col_tiles) * mc
    j0 = (t % n_col_tiles) * nc
    i1 = min(i0 + mc, M)
    j1 = min(j0 + nc, N)
    for k0 in range(0, K, kc):
        _tile_4x2(lhs, rhs, C, i0, i1, j0, j1, k0, min(k0 + kc, K), k0 == 0)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _gemm_parallel_4x2(lhs, rhs, C, mc, nc, kc):
    """:func:`_gemm_parallel` with :func:`_tile_4x2` blocks."""
    M = lhs.shape[0]
    N = rhs.shape[0]
    n_tiles = ((M + mc - 1) // mc) * ((N + nc - 1) // nc)
    for t in prange(n_tiles):
        _task_4x2(lhs, rhs, C, t, mc, nc, kc)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _gemm_serial_4x2(lhs, rhs, C, mc, nc, kc):
    """:func:`_gemm_serial` with :func:`_tile_4x2` blocks."""
    M = lhs.shape[0]
    N = rhs.shape[0]
    n_tiles = ((M + mc - 1) // mc) * ((N + nc - 1) // nc)
    for t in range(n_tiles):
        _task_4x2(lhs, rhs, C, t, mc, nc, kc)


# ---------------------------------------------------------------------------------------------
# Short sums (small K): a different loop order wins.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _axpy_rows(lhs, rhs_kn, C, i0, i1):
    """``C[i0:i1] += lhs[i0:i1] @ rhs_kn`` with lhs (M, K) and rhs_kn (K, N), row by row.

    When K is short (say 10, a classifier's output layer), a 4x4 block of dot products barely
    enters its vector loop. This loop instead adds ``lhs[i, k] * rhs_kn[k, :]`` to row i of C
    ("axpy": a times x plus y), vectorised along N, for 4 rows of C at a time so each row of
    ``rhs_kn`` is loaded once per 4 rows.
    """
    K = lhs.shape[1]
    N = C.shape[1]
    i = i0
    while i + 4 <= i1:
        c0, c1, c2, c3 = C[i], C[i + 1], C[i + 2], C[i + 3]  # (N,) each
        a0, a1, a2, a3 = lhs[i], lhs[i + 1], lhs[i + 2], lhs[i + 3]  # (K,) each
        for k in range(K):
            x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
            r = rhs_kn[k]  # (N,)
            for j in range(N):
                y = r[j]
                c0[j] += x0 * y
                c1[j] += x1 * y
                c2[j] += x2 * y
                c3[j] += x3 * y
        i += 4
    while i < i1:  # leftover rows
        c0 = C[i]
        a0 = lhs[i]
        for k in range(K):
            x0 = a0[k]
            r = rhs_kn[k]
            for j in range(N):
                c0[j] += x0 * r[j]
        i += 1


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _axpy_serial(lhs, rhs_kn, C):
    """C += lhs @ rhs_kn on the calling thread."""
    _axpy_rows(lhs, rhs_kn, C, 0, lhs.shape[0])


# ---------------------------------------------------------------------------------------------
# Packing: a transposed, C-contiguous copy of an operand.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _transpose_serial(src, dst):
    """dst (C, R) = src (R, C).T, both C-contiguous."""
    transpose_rows(src, dst, 0, src.shape[0])


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _transpose_parallel(src, dst):
    """dst (C, R) = src (R, C).T, both C-contiguous, in chunks of 64 rows shared among threads."""
    n_rows = src.shape[0]
    for c in prange((n_rows + 63) // 64):
        transpose_rows(src, dst, 64 * c, min(64 * c + 64, n_rows))


# Cache blocking. Tiles of C are _MC x _NC; K is walked in slices of _KC_BYTES per row, so the
# 8 rows a 4x4 block streams take 32 KB of the 48 KB L1 and an (_NC, kc) slice of rhs at most
# 512 KB of the 1 MB L2. Measured: slices of 1024 floats beat 256 and 512 by 10-25% at K = 768,
# and _NC barely mattered.
_MC, _NC = 64, 128
_KC_BYTES = 4096

# Below these sizes a parallel region (about 1.5 µs to launch, and a thread that may be
# descheduled on a shared machine) costs more than it saves. Measured, not derived.
_PARALLEL_MIN_FLOPS = 3_000_000
_PARALLEL_MIN_TRANSPOSE = 150_000
# Up to this K the row-by-row axpy loop beats the 4x4 dot-product blocks (measured: 2-3x
# faster at K = 10, even at K = 32, 2x slower at K = 64).
_SHORT_K = 32


def _rows(x):
    """Return ``x`` (R, K) as a C-contiguous array, copying only when needed.

    The kernel wants every row contiguous along K. A C-contiguous ``x`` is used as is; the
    transpose of a C-contiguous array (e.g. ``w.T``) gets a fast transpose; anything else
    (slices with steps, read-only or byte-swapped arrays) gets numpy's general copy. Read-only
    arrays are copied because numba would compile a separate kernel for them.
    """
    if _plain(x):
        return x
    src = x.T
    if _plain(src):
        out = np.empty(x.shape, dtype=x.dtype)  # (R, K)
        if x.size >= _PARALLEL_MIN_TRANSPOSE and cores_are_free():
            _transpose_parallel(src, out)
        else:
            _transpose_serial(src, out)
        return out
    return np.array(x, dtype=x.dtype.newbyteorder("="), order="C")  # always a fresh copy


def _plain(x):
    """True if the compiled kernels take ``x`` as it is: C-contiguous, writeable, native."""
    flags = x.flags
    return flags.c_contiguous and flags.writeable and x.dtype.isnative



# ---------------------------------------------------------------------------------------------
# Blocking that fits the CPU: chosen at import from what LLVM reports about it.
# ---------------------------------------------------------------------------------------------

#: vector registers -> (serial, parallel) drivers: 4x4 blocks where 32 registers hold them
#: (AVX-512, arm64's NEON), 4x2 blocks where there are only 16 (AVX2).
_BLOCKINGS = {32: ("4x4", "_gemm_serial", "_gemm_parallel"), 16: ("4x2", "_gemm_serial_4x2", "_gemm_parallel_4x2")}


def use_blocking(registers):
    """Choose the register blocking for a CPU with ``registers`` vector registers (16 or 32).

    Called once at import with the host CPU's count (:func:`~micrograd_plus.kernels._cpu.host_cpu`);
    tests and benchmarks call it to force a variant (both run on any CPU; only speed differs).
    Returns the block shape chosen, ``"4x4"`` or ``"4x2"``.
    """
    global _serial, _parallel, BLOCKING
    if registers not in _BLOCKINGS:
        raise ValueError(f"use_blocking: registers must be 16 or 32, got {registers!r}")
    BLOCKING, serial, parallel = _BLOCKINGS[registers]
    _serial, _parallel = globals()[serial], globals()[parallel]
    return BLOCKING


def _tiles_for_threads(M, N):
    """Tile sizes (mc, nc) for the parallel path: cache-sized, but at least 8 tiles if possible.

    Two threads need several tiles each to share the work evenly, so for smaller products the
    default 64 x 128 tiles are halved (columns first) until there are 8 of them, then evened out
    (:func:`_even_split`).
    """
    mc, nc = _MC, _NC
    while ((M + mc - 1) // mc) * ((N + nc - 1) // nc) < 8 and nc > 16:
        nc //= 2
    while ((M + mc - 1) // mc) * ((N + nc - 1) // nc) < 8 and mc > 16:
        mc //= 2
    return _even_split(M, mc), _even_split(N, nc)


def _even_split(size, block):
    """The block size that cuts ``size`` into as many tiles as ``block`` does, but of about equal
    size (a multiple of 4, for the 4x4 blocks). Threads take tiles in contiguous runs, so
    65 rows cut as 64 + 1 left one thread nearly idle (the GPT's 65-character output layer)."""
    n_tiles = (size + block - 1) // block
    return min(block, ((size + n_tiles - 1) // n_tiles + 3) // 4 * 4)


def _check(name, a, b, a_inner_axis, b_inner_axis):
    """Validate dtypes and shapes, raising an error that names what was wrong.

    ``a_inner_axis``/``b_inner_axis`` say which axis of each operand is the summed one (K).
    This runs on every call, so the happy path only compares; messages are built on failure.
    """
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        raise TypeError(
            f"{name}: expected numpy arrays, got {type(a).__name__} and {type(b).__name__}"
        )
    if a.dtype.char != b.dtype.char:  # (char ignores byte order: ">f4" and "<f4" are both "f")
        raise TypeError(
            f"{name}: both arrays must have the same dtype, got {a.dtype} and {b.dtype}"
        )
    if a.dtype.char not in "fd":  # float32, float64
        raise TypeError(f"{name}: only float32 and float64 are supported, got {a.dtype}")
    if a.ndim != 2 or b.ndim != 2 or a.shape[a_inner_axis] != b.shape[b_inner_axis]:
        # How the product reads, e.g. "(3, 4) @ (5, 2)", or "(3, 4) @ (5, 2)ᵀ" for matmul_nt.
        product = f"{a.shape}{'ᵀ' if a_inner_axis == 0 else ''} @ "
        product += f"{b.shape}{'ᵀ' if b_inner_axis == 1 else ''}"
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"{name}: expected 2-D arrays, got {product}")
        ka, kb = a.shape[a_inner_axis], b.shape[b_inner_axis]
        raise ValueError(f"{name}: {product} — inner dimensions {ka} and {kb} differ")


def _gemm(lhs, rhs):
    """lhs (M, K) @ rhs (N, K).T -> new C-contiguous (M, N); operands any strides."""
    M, K = lhs.shape
    N = rhs.shape[0]
    dtype = lhs.dtype.newbyteorder("=")
    if M == 0 or N == 0 or K == 0:
        return np.zeros((M, N), dtype=dtype)  # empty sums are 0
    lhs = _rows(lhs)  # (M, K) C-contiguous
    if K <= _SHORT_K:  # short sums: row-by-row axpy (memory-bound, so no threads)
        C = np.zeros((M, N), dtype=dtype)  # axpy accumulates into C
        rhs_kn = _rows(rhs.T)  # (K, N) C-contiguous
        _axpy_serial(lhs, rhs_kn, C)
    else:  # everything else: 4x4 blocks of dot products
        C = np.empty((M, N), dtype=dtype)  # every tile writes its block on the first slice of K
        rhs = _rows(rhs)  # (N, K) C-contiguous
        kc = _KC_BYTES // lhs.itemsize
        if 2 * M * N * K >= _PARALLEL_MIN_FLOPS and cores_are_free():
            mc, nc = _tiles_for_threads(M, N)
            _parallel(lhs, rhs, C, mc, nc, kc)
        else:
            _serial(lhs, rhs, C, _MC, _NC, kc)
    return C


def matmul(a, b):
    """Matrix product ``a @ b``: (M, K) @ (K, N) -> (M, N), a new C-contiguous array.

    float32 or float64 (both the same), any strides. The plain product (``Tensor @ Tensor``), and
    the input gradient of a linear layer, ``dx = dy @ W`` for W of (out, in). ``b`` is packed
    into rows of length K (a transposed copy).
    """
    _check("matmul", a, b, 1, 0)
    return _gemm(a, b.T)


def matmul_nt(a, b):
    """``a @ b.T``: (M, K), (N, K) -> (M, N), a new C-contiguous array.

    The forward pass of a linear layer, ``y = x @ W.T`` for W of (out, in) as PyTorch stores it.
    Both operands are already rows of length K, so nothing is copied when they are C-contiguous.
    """
    _check("matmul_nt", a, b, 1, 1)
    return _gemm(a, b)


def matmul_tn(a, b):
    """``a.T @ b``: (K, M), (K, N) -> (M, N), a new C-contiguous array.

    The weight gradient of a linear layer, ``dW = dy.T @ x`` (out, in): K is the batch
    dimension. Both operands are packed into rows of length K (transposed copies).
    """
    _check("matmul_tn", a, b, 0, 0)
    return _gemm(a.T, b.T)


use_blocking(int(os.environ.get("MICROGRAD_PLUS_VECTOR_REGISTERS", 0)) or host_cpu()[2])
