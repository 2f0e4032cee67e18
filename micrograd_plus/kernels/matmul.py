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

The file reads top-down: the numpy references (the definitions), the three public functions,
the Python driver that prepares the operands (:func:`_gemm`), then the compiled loops. How the
fast kernels work, from the inside out:

1. **The micro-kernel** (:mod:`micrograd_plus.kernels._microkernel`, read it last) computes a
   block of C, 6 rows by ``NR`` columns, as a sum of outer products: for each step ``k`` it loads
   ``B[k, j:j+NR]`` as a few vectors, broadcasts ``A[i+r, k]`` for each of the 6 rows, and does
   fused multiply-adds into accumulators that stay in vector registers for the whole sum. ``NR``
   is 4 vectors on CPUs with 32 vector registers (AVX-512, arm64's NEON: 24 accumulators) and 2
   on CPUs with 16 (x86 with AVX2: 12), chosen at import from what LLVM reports about the CPU
   (:func:`~micrograd_plus.kernels._cpu.host_cpu`); :func:`use_blocking` or the environment
   variable ``MICROGRAD_PLUS_VECTOR_REGISTERS=16`` forces either, and the tests run both.
2. **Operands as they come.** The kernel reads A through two strides, so A is used in place
   whether it is (M, K) or, for ``a.T @ b``, stored as (K, M). It needs each ``B[k, j:j+NR]``
   contiguous: true of a (K, N) array, which is used in place (except for products of enough
   rows, where panels are one cache line wide or on Intel: see ``_CACHE_LINE``); a weight stored
   as (N, K), as in ``x @ W.T``, is first
   *packed* into panels of NR columns (:func:`_pack_panels`), once per call.
3. **Edges.** Blocks that would cross the last row or column read zero-padded copies of the last
   rows of A and the last columns of B (built once per call with numpy, small), and write through a small
   scratch block, so the kernel itself only ever does full blocks.
4. **Cache blocking.** C is cut into tiles of ``mc`` rows by ``nc`` columns, and K into slices of
   ``kc``, so the piece of B a tile reuses stays in the L2 cache while rows of A stream past.
5. **Tiny products go to numpy's BLAS.** Below :data:`BLAS_MAX_MNK` multiply-adds (an MNIST
   classifier's 64 x 128 x 10 output layer) the Python work around a call costs more than the
   product itself, so :func:`_gemm` hands those to ``np.matmul`` (the reference), decided by
   shape alone; :func:`use_blas_for_small` turns it off.
6. **Few rows: dot products.** Packing W for ``x @ W.T`` is one pass over all of W, and with few
   rows of x there is little arithmetic to pay for it: a single row (a GPT sampling one token with
   its KV cache) took 245 µs for (1, 384) @ (1536, 384)ᵀ, almost all of it packing. When A has at
   most :func:`_few_rows` rows, :func:`_dot_rows` computes each number of C as a dot product of a
   row of A with a row of W, both read where they lie (41 µs for that product, called again and
   again with W in cache; in a GPT sampling tokens W comes from memory, and the same product takes
   ~120-230 µs), four rows of each at a time.
7. **Threads.** Tiles write disjoint parts of C, so they run in parallel with ``prange``
   without locks. Launching threads costs microseconds, so small products run serially, and
   so does everything while other processes keep the machine's cores busy
   (:func:`~micrograd_plus.kernels._shared.cores_are_free`), and float64 unless asked
   (:func:`~micrograd_plus.kernels._shared.use_float64_threads`). Why ``prange`` and not Python
   threads, which would compile in 1.5 s less per dtype (``parallel=True`` compiles the tile
   code twice more): handing a product to a Python thread costs ~70 µs here, so a (768, 128) @
   (128, 128)ᵀ product took 218 µs against 133 µs with ``prange`` (235 µs on one thread).

See ``micrograd_plus/bench/matmul.py`` (``micrograd-plus bench matmul``) for figures against BLAS.
"""

import math
import os
import threading
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._cpu import has_fma, host_cpu, host_variant
from micrograd_plus.kernels._fastmath import FASTMATH
from micrograd_plus.kernels._microkernel import MR, VARIANTS, make_microkernel, make_wide_marker
from micrograd_plus.kernels._shared import INTERNAL, cut, threads_for, transpose_rows

# ---------------------------------------------------------------------------------------------
# Plain-numpy references (the definitions the kernels are tested against), then the kernels
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


def matmul(a, b):
    """Matrix product ``a @ b``: (M, K) @ (K, N) -> (M, N), a new C-contiguous array.

    float32 or float64 (both the same), any strides. The plain product (``Tensor @ Tensor``), and
    the input gradient of a linear layer, ``dx = dy @ W`` for W of (out, in). Both operands are
    used in place when C-contiguous.
    """
    _check("matmul", a, b, 1, 0)
    return _gemm(a, b)


def matmul_nt(a, b):
    """``a @ b.T``: (M, K), (N, K) -> (M, N), a new C-contiguous array.

    The forward pass of a linear layer, ``y = x @ W.T`` for W of (out, in) as PyTorch stores it.
    W is packed into panels of columns of ``W.T`` (one pass over W); ``a`` is used in place. With
    few rows of ``a`` (:func:`_few_rows`) nothing is packed: each number is a dot product of a row
    of ``a`` with a row of W.
    """
    _check("matmul_nt", a, b, 1, 1)
    return _gemm(a, b.T)


def matmul_tn(a, b):
    """``a.T @ b``: (K, M), (K, N) -> (M, N), a new C-contiguous array.

    The weight gradient of a linear layer, ``dW = dy.T @ x`` (out, in): K is the batch
    dimension. Both operands are used in place when C-contiguous (the kernel reads ``a`` down
    its columns).
    """
    _check("matmul_tn", a, b, 0, 0)
    return _gemm(a.T, b)


# ---------------------------------------------------------------------------------------------
# The driver, in Python: check, lay the operands out, choose one thread or several
# ---------------------------------------------------------------------------------------------


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


def _gemm(A, B):
    """A (M, K) @ B (K, N) -> a new C-contiguous (M, N); operands any strides."""
    M, K = A.shape
    N = B.shape[1]
    dtype = A.dtype.newbyteorder("=")
    if M == 0 or N == 0 or K == 0:
        return np.zeros((M, N), dtype=dtype)  # empty sums are 0
    if matmul_goes_to_blas(M, N, K):  # tiny: numpy's BLAS, see BLAS_MAX_MNK
        return np.matmul(A, B).astype(dtype, copy=False)
    vbytes, nv = _VBYTES, _NV
    NR = nv * vbytes // A.itemsize  # columns of a full block
    a, a_t = _as_rows(A)  # (M, K), or (K, M) when a_t
    w, b_t = _as_rows(B.T)  # B stored as (N, K) [b_t False], or as (K, N) [b_t True]
    if not a_t and not b_t and _few_rows(M, K):  # x @ W.T with few rows of x: no packing (see 6. above)
        C = np.empty((M, N), dtype=dtype)
        x_rows = 4 if _NV >= 4 else 2  # rows of x per block: 2 where 16 vector registers must hold it
        # W is read once whatever M is, from memory when it is big: count a row of W as at least
        # four rows' multiply-adds, so that a single row takes two threads from 384 x 1152 numbers of
        # W on (a GPT sampling with its KV cache: (1, 384) @ (1536, 384)ᵀ 233 -> 121 µs a call)
        parts = threads_for(2 * max(M, 4) * N * K, _PARALLEL_MIN_FLOPS, dtype)
        if parts > 1:
            _dot_rows_parallel(a, w, C, parts, x_rows)
        else:
            _dot_rows(a, w, C, 0, N, x_rows)
        return C
    a_edge, b_edge, b_cols = _edge_copies(a, a_t, w, b_t, NR)  # flattened
    to_pack = _NONE_2D[dtype.char]  # what to pack into panels, if anything (done by the compiled code)
    if b_t and M < _pack_from_rows(NR * A.itemsize):
        b, b_panel, b_ks = w.reshape(-1), NR, N  # B (K, N): panels used in place
    else:  # B's full panels are packed (below) so that each panel's rows are adjacent:
        # W (N, K) of x @ W.T always; B (K, N) with enough rows of C, when its panels are narrow or on Intel
        b, b_panel, b_ks = _scratch((N // NR, K, NR), dtype).reshape(-1), K * NR, NR  # (panels, K, NR)
        to_pack = w
    C = np.empty((M, N), dtype=dtype)  # every block is written on K's first slice
    layout = Layout(a.reshape(-1), a_t, a_edge, b, b_panel, b_ks, b_edge, b_cols, K, _KC, vbytes, nv)
    if threads_for(2 * M * N * K, _PARALLEL_MIN_FLOPS, dtype) > 1:
        row_tiles, col_tiles = _tiles_for_threads(M, N, K, NR)
        by_columns = N > M and to_pack.size > 0  # each thread reads the panels it packed: see _gemm_parallel
        _gemm_parallel(layout, C, row_tiles, col_tiles, by_columns, to_pack, b_t)  # the threads pack B's panels, then share C's tiles
    else:  # on this thread: pack B, then the whole of C is one tile
        if to_pack.size:
            _pack_panels(to_pack, b_t, b.reshape(-1, K, NR))
        _tile(layout, C, 0, M, 0, N)
    return C


# ---------------------------------------------------------------------------------------------
# The compiled loops: cut C into blocks and hand each to the micro-kernel
# ---------------------------------------------------------------------------------------------

_FASTMATH = set(FASTMATH)  # for the dot products' sums; IEEE NaN/inf rules kept: see kernels/_fastmath.py

#: The widest vectors of this CPU in bytes: 64 with AVX-512, 32 with AVX2, 16 with NEON or SSE.
VECTOR_BYTES = {"AVX-512": 64, "AVX2": 32, "AVX": 32}.get(host_cpu()[1], 16)
#: The variant LLVM's report of the CPU selects (_cpu.choose_variant); the Intel one also marks the
#: compiled functions as using 512-bit vectors. Decided by the CPU alone (not by the environment
#: variable below), because numba's cache keys compiled code to the CPU, not to our variables.
HOST_VARIANT = host_variant()
_WIDE = HOST_VARIANT == "intel" and VECTOR_BYTES == 64
_microkernel = make_microkernel(VECTOR_BYTES, fma=has_fma(), wide=_WIDE)
_prefer_wide_vectors = make_wide_marker(_WIDE)


class Layout(NamedTuple):
    """Where the compiled loops find A and B, and how they block the product: one argument, not 12.

    numba takes a named tuple as one typed argument and unpacks it at no run-time cost. Measured
    before choosing it: the matmul family's cold compile took the same CPU time either way
    (float32 4.0-4.4 s, float64 1.9-2.1 s, three interleaved cold compiles each, avx512f, a
    loaded machine).
    """

    a: np.ndarray  # A flattened: (M, K) row by row, or (K, M) when a_t
    a_t: bool
    a_edge: np.ndarray  # A's last M % MR rows, zero-padded to (MR, K), flattened (empty if none)
    b: np.ndarray  # B's full panels of NR columns, flattened: panel p starts at p * b_panel,
    b_panel: int
    b_ks: int  # and its rows are b_ks apart
    b_edge: np.ndarray  # B's last N % NR columns, zero-padded to (K, NR), flattened
    b_cols: np.ndarray  # the same columns as rows, (N % NR, K), flattened, for _dot_columns
    K: int  # the length of the sum
    kc: int  # K is summed in slices of kc (cache blocking)
    vbytes: int  # the register blocking: a block row is nv vectors of vbytes bytes
    nv: int


@njit(cache=True, error_model="numpy")
def _tile(layout, C, i0, i1, j0, j1):
    """Compute ``C[i0:i1, j0:j1] = A[i0:i1] @ B[:, j0:j1]`` block by block (i0, j0 on block edges),
    with A and B as ``layout`` (a :class:`Layout`) describes them."""
    a, a_t, a_edge, b, b_panel, b_ks, b_edge, b_cols, K, kc, vbytes, nv_max = layout
    M, N = C.shape
    lanes = vbytes // C.itemsize
    NR = nv_max * lanes  # columns of a full block
    m_full = M - M % MR  # rows covered by full blocks
    n_full = N - N % NR  # columns covered by full panels
    scratch = np.empty((MR, NR), dtype=C.dtype)  # where edge blocks are written
    for k0 in range(0, K, kc):  # a slice of the sum
        n_k = min(kc, K - k0)
        add = k0 > 0  # the first slice writes C, the others add to it
        for j in range(j0, j1, NR):  # a panel of B
            if j < n_full:
                nv, nr = nv_max, NR
                bs, b_off, ks = b, (j // NR) * b_panel + k0 * b_ks, b_ks
            else:
                nr = N - j
                if nr <= _DOT_COLUMNS and not a_t:  # a few last columns: dot products are cheaper
                    _dot_columns(a, K, b_cols, C, i0, i1, j, nr, k0, n_k, add)
                    continue
                nv = (nr + lanes - 1) // lanes
                bs, b_off, ks = b_edge, k0 * NR, NR
            for i in range(i0, i1, MR):  # a block of rows of A
                mr = MR
                if i >= m_full:
                    mr = M - i
                    src, a_off, a_rs, a_ks = a_edge, k0, K, 1
                elif a_t:
                    src, a_off, a_rs, a_ks = a, k0 * M + i, 1, M
                else:
                    src, a_off, a_rs, a_ks = a, i * K + k0, K, 1
                full = mr == MR and nr == nv * lanes  # a full block goes straight into C,
                dst, d_off, d_rs = (C, i * N + j, N) if full else (scratch, 0, NR)  # an edge one via scratch
                _microkernel(vbytes, nv, src, a_off, a_rs, a_ks, bs, b_off, ks, dst, d_off, d_rs, n_k, add and full)
                if not full:  # the part of the scratch block inside C
                    for r in range(mr):
                        row = C[i + r]
                        for q in range(nr):
                            row[j + q] = row[j + q] + scratch[r, q] if add else scratch[r, q]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _dot_columns(a, K, b_cols, C, i0, i1, j, nr, k0, n_k, add):
    """``C[i0:i1, j:j+nr] (+)= A[i0:i1, k0:k0+n_k] @ B[k0:k0+n_k, j:j+nr]`` as dot products.

    For the last one to four columns of C (the 65th of a 65-character output layer), a whole
    micro-kernel block would be almost empty and, with one short chain of multiply-adds per row,
    waits on each one's latency. Dot products along K (A's rows, and ``b_cols`` holding each
    column of B as a row) vectorise instead, four rows at a time.
    """
    _prefer_wide_vectors()  # 512-bit vectors on Intel's AVX-512 cores (their tuning prefers 256)
    for q in range(nr):
        bq = b_cols[q * K + k0 : q * K + k0 + n_k]  # (n_k,): column j + q of B
        i = i0
        while i < i1:
            rows = min(4, i1 - i)
            s0 = s1 = s2 = s3 = C.dtype.type(0)
            a0 = a[i * K + k0 : i * K + k0 + n_k]
            a1 = a[(i + 1) * K + k0 : (i + 1) * K + k0 + n_k] if rows > 1 else a0
            a2 = a[(i + 2) * K + k0 : (i + 2) * K + k0 + n_k] if rows > 2 else a0
            a3 = a[(i + 3) * K + k0 : (i + 3) * K + k0 + n_k] if rows > 3 else a0
            for k in range(n_k):
                y = bq[k]
                s0 += a0[k] * y
                s1 += a1[k] * y
                s2 += a2[k] * y
                s3 += a3[k] * y
            for r, v in enumerate((s0, s1, s2, s3)):
                if r < rows:
                    C[i + r, j + q] = C[i + r, j + q] + v if add else v
            i += 4


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always")
def _dots_4x4(a0, a1, a2, a3, b0, b1, b2, b3, n):
    """The 16 dot products of 4 rows by 4 rows over their first ``n`` numbers, as 4 tuples of 4
    (row of a, then row of b): one pass that loads each number once and keeps 16 sums in
    registers (numba vectorises each over SIMD lanes: reassociation allowed, in a fixed order).
    Inlined where it is called (:func:`_dot_rows` here; the convolutions' weight gradients,
    :func:`~micrograd_plus.kernels.conv._direct_dw_tasks` and ``_dots_rows``)."""
    zero = a0.dtype.type(0)
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
    for k in range(n):
        x0, x1, x2, x3 = a0[k], a1[k], a2[k], a3[k]
        y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
        s20 += x2 * y0
        s21 += x2 * y1
        s22 += x2 * y2
        s23 += x2 * y3
        s30 += x3 * y0
        s31 += x3 * y1
        s32 += x3 * y2
        s33 += x3 * y3
    return (s00, s01, s02, s03), (s10, s11, s12, s13), (s20, s21, s22, s23), (s30, s31, s32, s33)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always")
def _dots_2x4(a0, a1, b0, b1, b2, b3, n):
    """:func:`_dots_4x4` for 2 rows by 4: 8 sums, as 2 tuples of 4 (for 16 vector registers)."""
    zero = a0.dtype.type(0)
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    for k in range(n):
        x0, x1 = a0[k], a1[k]
        y0, y1, y2, y3 = b0[k], b1[k], b2[k], b3[k]
        s00 += x0 * y0
        s01 += x0 * y1
        s02 += x0 * y2
        s03 += x0 * y3
        s10 += x1 * y0
        s11 += x1 * y1
        s12 += x1 * y2
        s13 += x1 * y3
    return (s00, s01, s02, s03), (s10, s11, s12, s13)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always")
def _dots_1x4(a0, b0, b1, b2, b3, n):
    """:func:`_dots_4x4` for 1 row by 4: 4 sums, as a tuple."""
    zero = a0.dtype.type(0)
    s0 = s1 = s2 = s3 = zero
    for k in range(n):
        x0 = a0[k]
        s0 += x0 * b0[k]
        s1 += x0 * b1[k]
        s2 += x0 * b2[k]
        s3 += x0 * b3[k]
    return s0, s1, s2, s3


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _dot_rows(a, w, C, j0, j1, x_rows):
    """``C[:, j0:j1] = a @ w[j0:j1].T`` for a (M, K) and w (N, K), both C-contiguous: every number of
    C is the dot product of a row of ``a`` with a row of ``w``, read where they lie (nothing packed).

    Four rows of ``w`` at a time (one block of C's columns) meet every row of ``a`` in turn,
    ``x_rows`` rows at a time: with 4 (CPUs with 32 vector registers), 16 sums, each LLVM's vectors
    along K, from 8 loads per 16 multiply-adds; with 2 (AVX2's 16 registers, where 16 sums and 8
    loads do not fit), 8 sums from 6 loads. The few rows of ``a`` stay in cache while ``w`` streams
    past once. A last block of fewer than four columns repeats the first one's row (and drops the
    surplus sums); rows left over after the blocks take a loop of their own. Which sums a number
    of C gets depends only on where it sits in C, never on ``j0``/``j1``, so threads that split
    the columns change no bits.
    """
    _prefer_wide_vectors()  # 512-bit vectors on Intel's AVX-512 cores (their tuning prefers 256)
    M, K = a.shape
    N = C.shape[1]
    for j in range(j0, j1, 4):
        nc = min(4, N - j)  # columns in this block
        w0 = w[j]
        w1 = w[j + 1] if nc > 1 else w0
        w2 = w[j + 2] if nc > 2 else w0
        w3 = w[j + 3] if nc > 3 else w0
        i = 0
        while x_rows == 2 and i + 2 <= M:
            r0, r1 = _dots_2x4(a[i], a[i + 1], w0, w1, w2, w3, K)
            _put4(C[i], j, nc, r0)
            _put4(C[i + 1], j, nc, r1)
            i += 2
        while x_rows == 4 and i + 4 <= M:
            r0, r1, r2, r3 = _dots_4x4(a[i], a[i + 1], a[i + 2], a[i + 3], w0, w1, w2, w3, K)
            _put4(C[i], j, nc, r0)
            _put4(C[i + 1], j, nc, r1)
            _put4(C[i + 2], j, nc, r2)
            _put4(C[i + 3], j, nc, r3)
            i += 4
        while i < M:  # the rows left over, one at a time
            _put4(C[i], j, nc, _dots_1x4(a[i], w0, w1, w2, w3, K))
            i += 1


@njit(cache=True, error_model="numpy", inline="always", **INTERNAL)
def _put4(row, j, nc, sums):
    """``row[j : j + nc] = sums[:nc]`` for a tuple of 4 sums."""
    row[j] = sums[0]
    if nc > 1:
        row[j + 1] = sums[1]
    if nc > 2:
        row[j + 2] = sums[2]
    if nc > 3:
        row[j + 3] = sums[3]


@njit(cache=True, error_model="numpy", parallel=True)
def _dot_rows_parallel(a, w, C, parts, x_rows):
    """:func:`_dot_rows` with C's blocks of four columns dealt out to ``parts`` threads, a
    contiguous run each (each thread reads its own share of ``w``)."""
    N = C.shape[1]
    blocks = (N + 3) // 4
    for p in prange(parts):
        _dot_rows(a, w, C, 4 * (p * blocks // parts), min(4 * ((p + 1) * blocks // parts), N), x_rows)


@njit(cache=True, error_model="numpy", parallel=True)
def _gemm_parallel(layout, C, row_tiles, col_tiles, by_columns, w, w_kn):
    """C = A @ B with C cut into ``row_tiles`` x ``col_tiles`` tiles shared out among threads
    (tiles never overlap). Tiles are whole blocks, as equal as whole blocks allow: each thread
    takes a contiguous run of tiles, so a short last tile would leave the other thread more work.

    The tiles are numbered down C's columns when ``by_columns``, else along its rows. The driver
    asks for columns when the threads pack B here and B is the larger operand (N > M): then a
    thread's run of tiles reads the very panels it packed, still in its own core's cache.
    (64, 784) @ (128, 784)ᵀ, an MNIST layer's ``x @ W.T`` before such products became dot products
    (:func:`_few_rows`), took 90 µs that way against 105 µs along the rows, where half of each
    thread's tiles read panels the other core packed (two threads, Zen 4, quiet); under
    ``bench/emulate_avx2.sh``, (16, 384) @ (1536, 384)ᵀ 386 -> 208 µs. Tall products (a GPT's 768 or 2,048 rows of activations) keep the rows, and so
    do products that read B in place ((768, 128)ᵀ @ (768, 512) measured 470 µs along the rows,
    507-522 down the columns).

    When ``w`` is not empty the threads first pack B's full panels into ``layout.b`` (as
    :func:`_pack_panels`, a panel each; ``w`` is W (N, K) of ``x @ W.T``, or B itself (K, N)
    when ``w_kn``): one pass over B that would otherwise run on one thread before the other
    wakes. The second loop starts when the first has ended everywhere, so every tile reads
    whole panels.
    """
    if w.size:
        K, NR = layout.K, layout.b_ks
        packed = layout.b.reshape((layout.b.size // (K * NR), K, NR))  # layout.b is exactly the panels
        for p in prange(packed.shape[0]):
            _pack_panel(w, w_kn, packed[p], p * NR)
    M, N = C.shape
    NR = layout.nv * (layout.vbytes // C.itemsize)
    m_blocks, n_panels = (M + MR - 1) // MR, (N + NR - 1) // NR  # C in blocks of rows, and panels
    for t in prange(row_tiles * col_tiles):
        if by_columns:
            c, r = t // row_tiles, t % row_tiles
        else:
            r, c = t // col_tiles, t % col_tiles
        i0, i1 = cut(r, row_tiles, m_blocks, MR, M)
        j0, j1 = cut(c, col_tiles, n_panels, NR, N)
        if i0 < i1 and j0 < j1:
            _tile(layout, C, i0, i1, j0, j1)


@njit(cache=True, error_model="numpy")
def _pack_panels(w, w_kn, out):
    """Pack B's full panels of NR columns: ``out[p] (K, NR) = B[:, p*NR : (p+1)*NR]``, with B
    given as W (N, K) (``x @ W.T``: B = W.T) or, when ``w_kn``, as B (K, N) itself.

    Then each ``B[k, j:j+NR]`` is contiguous and a panel's K rows are adjacent, as the
    micro-kernel wants. Only full panels are packed (the edge columns go to a zero-padded copy).
    On one thread: it is one pass over B, small beside the product, and a parallel region would
    add a second of compilation.
    """
    NR = out.shape[2]
    for p in range(out.shape[0]):
        _pack_panel(w, w_kn, out[p], p * NR)


@njit(cache=True, error_model="numpy", **INTERNAL)
def _pack_panel(w, w_kn, panel, j):
    """``panel (K, NR) = B[:, j : j + NR]``, B given as W (N, K) or, when ``w_kn``, as (K, N).

    From (K, N) it is K short row copies: for a (128, 512) B in 16-column panels, 9.5 µs against
    24 µs for numpy's copy of the same transposed 3-D view (one thread, Zen 4); from (N, K), a
    transpose.
    """
    K, NR = panel.shape
    if w_kn:
        for k in range(K):
            src, dst = w[k, j : j + NR], panel[k]  # (NR,) each
            for q in range(NR):  # (indices from 0 up: no negative-index wrap-around to test)
                dst[q] = src[q]
    else:
        transpose_rows(w[j : j + NR], panel, 0, NR)


# ---------------------------------------------------------------------------------------------
# Edges, cache blocking, layouts
# ---------------------------------------------------------------------------------------------


def _edge_copies(a, a_t, w, b_t, NR):
    """Zero-padded copies of what full blocks cannot cover, flattened: ``(a_edge, b_edge, b_cols)``.

    ``a`` is A (M, K), or stored as (K, M) when ``a_t``; ``w`` is B stored as (N, K), or as
    (K, N) when ``b_t``. ``a_edge`` (MR, K) holds A's last ``M % MR`` rows then zeros;
    ``b_edge`` (K, NR) B's last ``N % NR`` columns then zeros; ``b_cols`` (N % NR, K) the same
    columns as rows. Each is empty when there is no such edge (a GPT's shapes have none). Built
    with numpy, not compiled: they are small, and a compiled version cost 0.6 s of compilation
    per dtype for about 2 µs a call.
    """
    K = a.shape[0] if a_t else a.shape[1]
    M = a.shape[1] if a_t else a.shape[0]
    N = w.shape[1] if b_t else w.shape[0]
    m_edge, n_edge = M % MR, N % NR  # rows and columns left over
    a_edge = b_edge = b_cols = _NONE[a.dtype.char]
    if m_edge:
        a_edge = np.zeros((MR, K), dtype=a.dtype)
        a_edge[:m_edge] = a[:, M - m_edge :].T if a_t else a[M - m_edge :]
        a_edge = a_edge.reshape(-1)
    if n_edge:
        b_cols = np.ascontiguousarray(w[:, N - n_edge :].T if b_t else w[N - n_edge :])  # (n_edge, K)
        b_edge = np.zeros((K, NR), dtype=a.dtype)
        b_edge[:, :n_edge] = b_cols.T
        b_edge, b_cols = b_edge.reshape(-1), b_cols.reshape(-1)
    return a_edge, b_edge, b_cols


_NONE = {"f": np.zeros(0, np.float32), "d": np.zeros(0, np.float64)}  # an edge that is not there
_NONE_2D = {"f": np.zeros((0, 0), np.float32), "d": np.zeros((0, 0), np.float64)}  # no W to pack


#: Packed panels up to this many bytes are written into a buffer kept from one call to the next
#: (one per thread and dtype) instead of a fresh array: see :func:`_scratch`.
SCRATCH_MAX_BYTES = 16 * 2**20
_scratch_buffers = threading.local()


def _scratch(shape, dtype):
    """An aligned (:func:`_empty_aligned`) array of ``shape`` for B's packed panels, which live
    only during one product: the same memory every call on this thread, grown when a product
    needs more (up to :data:`SCRATCH_MAX_BYTES`; larger ones get a fresh array).

    A fresh 400 KB array for a (128, 784) weight costs more than its packing's arithmetic: numpy
    takes memory above 128 KiB straight from the system, which hands it back zeroed page by page
    (measured in an MNIST step: ~15 µs of page faults and ~10 µs of allocation per call, on
    products of ~150 µs). Per thread, so that products on different threads never share one.
    """
    dtype = np.dtype(dtype)
    count = shape[0] * shape[1] * shape[2]
    if count * dtype.itemsize > SCRATCH_MAX_BYTES:
        return _empty_aligned(shape, dtype)
    buffer = getattr(_scratch_buffers, dtype.char, None)
    if buffer is None or buffer.size < count:
        buffer = _empty_aligned((max(count, 4096),), dtype)
        setattr(_scratch_buffers, dtype.char, buffer)
    return buffer[:count].reshape(shape)


def _empty_aligned(shape, dtype, align=64):
    """``np.empty(shape, dtype)`` whose data starts on an ``align``-byte boundary (a cache line).

    numpy starts large arrays 16 bytes past a page boundary (measured here), so each 64-byte
    vector load from a packed panel would straddle two cache lines; Intel's cores pay for such
    loads twice (see _cpu.py). Same values either way: only where the panel sits changes.
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    raw = np.empty(count + align // dtype.itemsize, dtype=dtype)
    start = (-raw.__array_interface__["data"][0] % align) // dtype.itemsize  # (ctypes.data: 4x slower)
    return raw[start : start + count].reshape(shape)


# Cache blocking, in elements. A tile is at most _MC rows by _NC_PANELS panels of B; K is cut
# into slices of _KC, the variant's (use_variant): 512, so that a tile's slice of B
# (_KC x _NC_PANELS * NR) stays in L2 (shorter slices measured slower: see kernels/_cpu.py).
_MC = 16 * MR
_NC_PANELS = 4

# Panels this narrow (bytes a row: NR = 16 float32s with AVX2's 6 x 2 blocking) are read fastest
# packed: a slice of kc rows then fits L1, unless N's row stride maps the rows onto the same few
# cache sets. Measured under micrograd_plus/bench/emulate_avx2.sh at 1024^2: 0.56-0.60x BLAS used in place,
# 0.85-0.88x packed; wide panels (AVX-512's 64 float32s) gained nothing from packing. Packing
# pays for itself only when each packed number is reused by enough rows of A (C's rows, M).
# Measured there, ``matmul_tn`` (a GPT's weight gradients, gᵀ x), µs in place -> packed, one
# thread / two (the threads pack side by side): M = 32, (32, 768, 1536) 1,031-1,049 -> 1,196-1,231
# / 557-575 -> 563-645; M = 64, 1,643-1,683 -> 1,900-2,139 / 864-1,034 -> 885-945; M = 128, an
# MNIST layer's (128, 784, 64) 151 -> 167 / 78-80 -> 85; M = 192, a 2.7M GPT's (192, 768, 1536)
# 5,687-5,959 -> 5,371-5,657 / 2,593-2,832 -> 2,541-2,549; (256, 1024, 256) 1,704-1,717 -> 1,413-1,423
# / 836-1,091 -> 678-689; M = 384, a 10.7M GPT's (384, 1536, 2048) 38,477-38,516 -> 30,343-30,951 /
# 20,046-20,080 -> 14,514-14,825. Wide panels are read in place on Zen 4 (packing them lost at
# every M tried); the Intel variant packs them from 512 rows (for aligned loads: see _cpu.py).
# Measured with float32 on AVX2; the rule follows the panel's shape, one cache line a row, so it
# also covers AVX2's float64 panels (8 numbers) and 16-byte vectors (NEON, SSE), not measured.
_CACHE_LINE = 64
_PACK_MIN_ROWS_NARROW = 192
_PACK_MIN_ROWS = 512


def _pack_from_rows(panel_row_bytes):
    """From how many rows of C a (K, N) B is packed into panels rather than read in place."""
    if panel_row_bytes <= _CACHE_LINE:  # narrow panels: one cache line a row
        return _PACK_MIN_ROWS_NARROW
    if _PACK_WIDE:  # Intel's variant: wide panels too, into 64-byte-aligned scratch
        return _PACK_MIN_ROWS
    return math.inf  # wide panels on Zen 4 and the rest: always in place

#: Products of at most this many multiply-adds (M * N * K) are handed to numpy's BLAS instead of
#: our kernels: a decision by shape alone, so the same shapes always take the same path, whatever
#: the load or the thread count. Why: a call of ours costs 7-10 µs before the first multiply-add
#: (checks, edge copies, the compiled driver's dispatch), numpy's 1-3 µs, and at these sizes that
#: is most of the time. Measured (2-core Zen 4, avx512f, one thread, CPU µs ours / BLAS, the
#: three layouts nn, nt, tn): (64, 10, 128) -- an MNIST classifier's output layer -- 12.9/3.3,
#: 11.4/2.9, 12.9/2.8; (64, 64, 64) 10.8/5.6, 12.6/8.5, 11.4/5.7; (64, 128, 64), twice the
#: limit, 15.8/10.3, 18.6/15.7, 16.4/10.5; from (64, 128, 784) on ours is faster (126/136,
#: 158/180, 132/137). The limit stops at 262,144 rather than at that crossover because OpenBLAS
#: multiplies products up to 65,536 x 4 multiply-adds on the calling thread: its worker threads,
#: which spin for a while after each call, then never wake to take the cores from our kernels'
#: threads. Tests call :func:`use_blas_for_small` to hold our kernels to their definition at
#: every size.
BLAS_MAX_MNK = 262_144
_small_to_blas = [True]


def matmul_goes_to_blas(M, N, K):
    """Whether an (M, K) @ (K, N) product is handed to numpy's BLAS (:data:`BLAS_MAX_MNK`
    multiply-adds or fewer, unless :func:`use_blas_for_small` turned that off): decided by shape
    alone."""
    return M * N * K <= BLAS_MAX_MNK and _small_to_blas[0]


def use_blas_for_small(on=True):
    """Hand products of at most :data:`BLAS_MAX_MNK` multiply-adds to numpy's BLAS (``on``, the
    default) or compute every product with our kernels (``False``: what the kernel tests do, so
    that the kernels are checked at small sizes too). Returns the previous setting."""
    if not isinstance(on, (bool, np.bool_)):
        raise TypeError(f"use_blas_for_small: on must be True or False, got {on!r}")
    previous = _small_to_blas[0]
    _small_to_blas[0] = bool(on)
    return previous


# Below this many flops a parallel region (about 1.5 µs to launch, and a thread that may be
# descheduled on a shared machine) costs more than it saves. Measured, not derived.
_PARALLEL_MIN_FLOPS = 3_000_000


def _few_rows(M, K):
    """Whether ``x @ W.T`` with ``M`` rows of x and sums of length ``K`` runs as dot products
    (:func:`_dot_rows`) rather than on packed panels: at most 64 rows, and at most one row for
    every 10 numbers of a sum (dot products end in a sum across a vector's lanes, paid once per
    number of C, so short sums favour the panels). Crossovers measured, not derived. Decided by
    shape and layout alone, never by the load: a row of C may round differently as one of 64 rows
    than as one of 65 (as in PyTorch, whose CPU products also choose their kernel by shape), but
    never between one thread and two.

    Measured (2-core Zen 4, one thread, float32, N = 512; time of the dot products over the packed
    path's), rows 1 / 4 / 8 / 16 / 32 / 64 / 96: at K = 784 0.16 / 0.22 / 0.35 / 0.54 / 0.72 / 0.88
    / 1.04; at K = 384 - / 0.26 / 0.36 / 0.65 / 0.80 / 1.12 / 1.16; at K = 128 - / - / 0.51 / 0.81
    / 1.03 / 1.67 / 1.71. Under ``bench/emulate_avx2.sh`` (16 registers: blocks of two rows of x,
    see :func:`_dot_rows`), at K = 784 with 8 / 16 / 32 / 64 rows: 0.35 / 0.54 / 0.74 / 0.83; K = 384
    with 16 / 32 rows 0.43 / 0.91 (blocks of four rows there: 0.87 at 16 rows, 1.2-1.3 from 32 on).
    """
    return M <= 64 and 10 * M <= K


# Up to this many last columns, :func:`_dot_columns` beats a nearly empty micro-kernel block
# (measured at (768, 128) @ (65, 128)ᵀ: 88 µs with a block for the 65th column, as slow as 80 columns).
_DOT_COLUMNS = 4


def _as_rows(x):
    """``(array, transposed)``: ``x`` as a C-contiguous array, or its transpose's when that one
    already is (``w.T``), so that no copy is made; other layouts get numpy's copy.

    Read-only and byte-swapped arrays are copied too: numba would compile a separate kernel
    for each (read-only) or could not use them (byte order).
    """
    if _plain(x):
        return x, False
    if _plain(x.T):
        return x.T, True
    return np.array(x, dtype=x.dtype.newbyteorder("="), order="C"), False  # always a fresh copy


def _plain(x):
    """True if the compiled kernels take ``x`` as it is: C-contiguous, writeable, native."""
    flags = x.flags
    return flags.c_contiguous and flags.writeable and x.dtype.isnative


# ---------------------------------------------------------------------------------------------
# Blocking that fits the CPU: chosen at import from what LLVM reports about it.
# ---------------------------------------------------------------------------------------------


def use_variant(name):
    """Run the products with the variant ``name`` (:data:`~micrograd_plus.kernels._microkernel.VARIANTS`):
    ``"zen4"`` (6 x 4 vectors, for 32 vector registers), ``"avx2"`` (6 x 2, for 16), ``"intel"``
    (6 x 4 vectors, B always packed into 64-byte-aligned panels for 512 rows or more).

    Called once at import with the host CPU's variant (:func:`~micrograd_plus.kernels._cpu.choose_variant`);
    tests and benchmarks call it to force one (each runs on any CPU, with the same bits on one
    thread or two; only speed differs). Returns the block shape, ``"6x4"`` or ``"6x2"``.
    """
    global VARIANT, BLOCKING, _VBYTES, _NV, _KC, _PACK_WIDE
    if name not in VARIANTS:
        raise ValueError(f"use_variant: name must be one of {', '.join(VARIANTS)}, got {name!r}")
    variant = VARIANTS[name]
    VARIANT, _NV, _KC, _PACK_WIDE = name, variant.nv, variant.kc, variant.pack_wide
    _VBYTES = min(VECTOR_BYTES, variant.max_vector_bytes)
    BLOCKING = f"{MR}x{_NV}"
    return BLOCKING


def use_blocking(registers):
    """Choose the register blocking for a CPU with ``registers`` vector registers (16 or 32):
    the variant ``"zen4"`` (6 x 4 vectors) or ``"avx2"`` (6 x 2); see :func:`use_variant`.
    Returns the block shape chosen: ``"6x4"`` (6 rows by 4 vectors) or ``"6x2"``.
    """
    if registers not in (16, 32):
        raise ValueError(f"use_blocking: registers must be 16 or 32, got {registers!r}")
    return use_variant("zen4" if registers == 32 else "avx2")


def register_blocking():
    """``(vector_bytes, vectors)``: the register blocking in use, 6 rows of C by ``vectors``
    vectors of ``vector_bytes`` bytes (``(64, 4)`` on AVX-512, ``(32, 2)`` on AVX2, ``(16, 4)`` on
    NEON). Attention's products follow it too, so :func:`use_blocking` steers both."""
    return _VBYTES, _NV


def _tiles_for_threads(M, N, K, NR):
    """How many tiles the parallel path cuts C into, ``(row_tiles, col_tiles)``: cache-sized, but
    at least 8 tiles if possible; :func:`_gemm_parallel` makes them as equal as whole blocks allow
    (threads take tiles in contiguous runs: 2,048 rows cut as 21 tiles of 96 and one of 32 left
    one thread 6% more rows than the other).

    A tile's columns are sized so that its slice of B (``min(K, kc)`` rows by ``nc`` columns)
    fills the same share of the L2 cache whatever K is: with a short sum the tile is widened.
    Each tile costs a call and a scratch block, so thin tiles of a short sum are mostly overhead:
    a convolution's (16, 25) @ (25, 50176) on two threads took 0.57-0.71 ms in 196 tiles of 4
    panels, 0.37-0.40 ms in tiles of 16 to 196 panels (one thread: 1.3-1.6 ms; Zen 4, quiet);
    GPT-sized (768, 128) @ (128, 384) 349 µs in tiles of 6 panels, 385 µs in tiles of 3. From
    half a slice of K on, tiles stay 4 panels wide ((32, 400) @ (400, 12544): 5-panel tiles
    measured 2-15% slower).
    """
    row_tiles = max(1, -(-M // _MC))
    panels = _NC_PANELS  # per tile; a short sum (at most half a slice) gets B's slice the same size in L2
    if K <= _KC // 2:
        panels = _NC_PANELS * _KC // max(1, K)
    col_tiles = max(1, -(-N // (panels * NR)))
    while row_tiles * col_tiles < 8 and col_tiles * NR < N:  # more column tiles, down to one panel each
        col_tiles += 1
    while row_tiles * col_tiles < 8 and row_tiles * MR < M:
        row_tiles += 1
    return min(row_tiles, -(-M // MR)), min(col_tiles, -(-N // NR))


def _registers_from_environment():
    """``MICROGRAD_PLUS_VECTOR_REGISTERS`` as 16 or 32, or None when it is not set."""
    value = os.environ.get("MICROGRAD_PLUS_VECTOR_REGISTERS", "").strip()
    if not value:
        return None
    if value not in ("16", "32"):
        raise ValueError(f"MICROGRAD_PLUS_VECTOR_REGISTERS must be 16 or 32 (or unset), got {value!r}")
    return int(value)


def _variant_from_environment():
    """``MICROGRAD_PLUS_MATMUL_VARIANT`` (a name in VARIANTS), or None when it is not set."""
    value = os.environ.get("MICROGRAD_PLUS_MATMUL_VARIANT", "").strip()
    if value and value not in VARIANTS:
        raise ValueError(f"MICROGRAD_PLUS_MATMUL_VARIANT must be one of {', '.join(VARIANTS)} "
                         f"(or unset), got {value!r}")
    return value or None


def _variant_at_import():
    """The variant the environment forces (``MICROGRAD_PLUS_MATMUL_VARIANT``, or
    ``MICROGRAD_PLUS_VECTOR_REGISTERS`` 32 -> zen4, 16 -> avx2), else the host CPU's."""
    registers = _registers_from_environment()
    return _variant_from_environment() or {32: "zen4", 16: "avx2", None: HOST_VARIANT}[registers]


use_variant(_variant_at_import())
