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

Every array here has a leading batch of ``B`` sequences and ``H`` heads: (B, H, T, D) (or a
GPT's packed (B, T, 3C), see below). Heads are independent, so the kernels hand each thread a contiguous run of whole heads
(:func:`_heads_parallel`) and no two threads ever write the same memory.

Two versions of each function live here:

* :func:`attention_forward_reference` / :func:`attention_backward_reference`: the lines above in
  numpy, short enough to read in a minute. They define what the kernels must compute.
* :func:`attention_forward` / :func:`attention_backward`: numba kernels that compute the same thing
  several times faster (see ``micrograd-plus bench attention``). What makes them fast:

  - **Fused**: one pass over a block of 6 queries computes their scores, their softmax and their
    rows of ``O`` while those scores are still in cache.
  - **Only the lower triangle**: with the causal mask, a block of queries i0..i0+5 sees keys
    0..i0+5 only; everything to the right is zero in ``P``, so it is neither computed nor read
    (half the work).
  - **Register blocking**: every matrix product (Q Kᵀ, P V, dO Vᵀ, dS K, Pᵀ dO, dSᵀ Q) goes
    through matmul's micro-kernel (:mod:`micrograd_plus.kernels._microkernel`): a block of 6 rows
    by up to 4 vectors of C stays in vector registers while the sum runs, each step an outer
    product of 6 numbers of A with a row of B. It needs B's rows contiguous, so Kᵀ and Vᵀ are
    copied once per head; A is read through two strides, so Pᵀ and dSᵀ need no copy at all. The
    block follows matmul's choice for this CPU (6 x 4 vectors with 32 vector registers, 6 x 2 on
    AVX2's 16; :func:`micrograd_plus.kernels.matmul.use_blocking`).
  - **A fast exp** (:mod:`micrograd_plus.kernels._fastmath`) that vectorises; ``math.exp`` does not.

Blocks of 6 need T >= 6: shorter sequences (T < 6, a few microseconds of work) go to the numpy
reference. When T is not a multiple of 6 the last block starts at T - 6 and overlaps the one
before, recomputing a few rows, so no block reads or writes past the last row. Columns are whole
vectors: ``stats`` and the scores are padded to ``Tc`` columns (T rounded up to 16), and when D
is not a whole number of vectors (D = 24, 65, ...) the inputs are copied with zero columns first.

``stats`` -- what the forward hands the backward -- is ``P`` itself, (B, H, T, Tc), exactly zero
outside the lower triangle (when causal) and in the padding. Storing ``P`` costs ``T*T`` floats per
head (about 1 MB for the GPT's recipe batch) but saves the backward from recomputing ``Q Kᵀ`` and
every exponential; the alternative, a (B, H, T) log-sum-exp from which the backward rebuilds
``P``, is what flash attention does for long sequences where ``T*T`` does not fit in memory. Our
sequences are short, so we spend the memory to save the time. Treat ``stats`` as opaque: pass it
from :func:`attention_forward` to :func:`attention_backward`. (Both backward functions also accept
the other forward's ``stats``.)

**A GPT's packed layout.** A GPT computes every token's queries, keys and values in one
(B, T, 3C) array, head j's in columns j*hs..(j+1)*hs of each third, and wants the heads' outputs
side by side again, (B, T, C). Copying the heads out into (B, H, T, D) and back costs four passes
over that memory per layer and step; :func:`attention_qkv_forward` and :func:`attention_qkv_backward`
skip them: the kernels take flat arrays and a layout (where head (b, j) starts and how far apart
its rows are, :class:`Layout`), so the same loops read q, k and v in place and write y and the
gradient dqkv where the linear layers want them, the same numbers bit for bit.

**NaN and inf.** The kernels follow IEEE's rules (no ``nnan``/``ninf`` fast-math assumption, no
exception on a division by zero), so a NaN in q, k or v comes out as NaN, never as a finite
number. But skipping the masked upper triangle changes *where* it comes out: numpy's ``P @ V``
multiplies every masked zero of ``P`` by a value, and ``0 * NaN`` is NaN, so in the reference one
NaN in ``v`` reaches every query, even those the mask hides it from. The kernels keep that
definition with a guard (:func:`_fast_path_is_exact`): they run only where every input is finite
and bounds made from ``sum(|x|)`` of each input prove that no intermediate can overflow, and
anything else is handed to the numpy reference. So NaN and inf come out exactly where the
reference puts them, at the cost of one pass that sums ``|x|`` over each input.

**How this file reads**, top-down: the numpy definitions and the public functions; what the
kernels are handed (:class:`Operands`: where every head's q, k and v are; :class:`Problem`: the
sizes and settings of a call, each a named tuple that numba takes as one argument); running runs
of heads on threads; checking arguments and the guard; and last the compiled kernels.
"""

import importlib
import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._cpu import has_fma
from micrograd_plus.kernels._fastmath import FASTMATH, fast_exp
from micrograd_plus.kernels._microkernel import MR, make_microkernel
from micrograd_plus.kernels._shared import INTERNAL, kernel_array, split, threads_for

_FASTMATH = set(FASTMATH)  # IEEE NaN/inf rules kept: see kernels/_fastmath.py
# matmul's module, whose register blocking attention follows (imported by name: the package's
# attribute ``micrograd_plus.kernels.matmul`` is the function, not the module)
_matmul = importlib.import_module("micrograd_plus.kernels.matmul")

# Below this much work (heads x T x T x D multiply-adds) one thread does every head. Measured,
# causal forward + backward, float32, one thread / two (2-core Zen 4, quiet): (2, 2, 32, 16),
# 65,536 of them, 64.9 / 65.7 µs; (4, 4, 32, 16), 262,144, 127 / 111 µs; (12, 4, 64, 32), a GPT
# layer's, 976 / 658 µs.
_THREADS_MIN = 131_072

# --------------------------------------------------------------------------------------------
# The plain-numpy definitions, then the public functions
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


def attention_forward(q, k, v, scale, causal=True):
    """Fused attention forward: ``(out, stats)`` for q, k, v of shape (B, H, T, D).

    Computes the same ``out`` (B, H, T, D) as :func:`attention_forward_reference`, in the dtype of
    the inputs (float32 or float64; any strides). ``stats`` is the probability matrix the backward
    needs, (B, H, T, Tc) with its columns padded (see the module docstring). ``causal=False`` runs
    the same kernel over every key instead of the lower triangle. Sequences shorter than one
    block of 6 queries (T < 6) go to the numpy reference, whose ``stats`` is (B, H, T, T).
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    B, H, T, D = q.shape
    Tc = _stats_columns(T)
    if q.size == 0:
        return np.zeros_like(q), np.zeros((B, H, T, Tc), dtype=q.dtype)
    if T < MR:  # shorter than one block of queries: a few microseconds of numpy
        return _quietly(attention_forward_reference, q, k, v, scale, causal)
    # NaN or inf anywhere, or scores that might overflow (|S| <= scale sum|q| sum|k|): numpy's
    # definition decides where they go (see the module docstring). |O| <= max |v| needs no bound.
    b_q, b_k, b_v = _bounds(q, k, v)
    if not _fast_path_is_exact(b_q, b_k, b_v, products=[(b_q, b_k), (abs(scale), b_q, b_k)],
                               limit=float(np.finfo(q.dtype).max)):
        return _quietly(attention_forward_reference, q, k, v, scale, causal)
    problem = _problem(T, D, q.dtype, scale, causal)
    Dc = problem.D  # D rounded up to whole vectors
    out, p = np.empty((B * H, T, Dc), q.dtype), np.empty((B * H, T, Tc), q.dtype)
    _run_forward(_split_heads_operands(q, k, v, Dc), problem, out, p)
    return _unpadded(out, D).reshape(B, H, T, D), p.reshape(B, H, T, Tc)


def attention_backward(dout, q, k, v, out, stats, scale, causal=True):
    """Fused attention backward: ``(dq, dk, dv)``, each (B, H, T, D), given ``dout = dL/dout``.

    ``stats`` comes from :func:`attention_forward` (or the reference's ``p``); ``out`` is not
    needed because ``stats`` holds P itself. ``causal`` must match the forward call. As in the
    forward, T < 6 goes to the numpy reference.
    """
    (q, k, v), scale = _check_qkv(q, k, v, scale)
    dout = _check_like(dout, q, "dout")
    B, H, T, D = q.shape
    Tc = _stats_columns(T)
    p = _check_stats(stats, q, (B, H, T), "attention backward")
    if q.size == 0:
        return np.zeros_like(q), np.zeros_like(q), np.zeros_like(q)
    if T < MR:
        return _quietly(attention_backward_reference, dout, q, k, v, out, p, scale, causal)
    # The kernels skip the masked entries of dP = dO Vᵀ, which numpy computes and multiplies by
    # P's zeros: exact only if nothing can overflow. With 0 <= P <= 1:  |dP| <= sum|dO| sum|V|,
    # |dS| <= 2 max|dP| (and the kernel's dS * scale), |dQ| <= max|dS| sum|K| scale,
    # |dK| <= max|dS| sum|Q| scale, |dV| <= sum|dO|.
    b_dout, b_q, b_k, b_v, b_p = _bounds(dout, q, k, v, p)
    s = abs(scale)
    products = [(2.0, b_dout, b_v), (2.0, b_dout, b_v, s), (2.0, b_dout, b_v, b_k, s), (2.0, b_dout, b_v, b_q, s)]
    if not _fast_path_is_exact(b_dout, b_q, b_k, b_v, b_p, products=products,
                               limit=float(np.finfo(q.dtype).max)):
        return _quietly(attention_backward_reference, dout, q, k, v, out, stats, scale, causal)
    if p.shape[3] != Tc:  # the reference's P (B, H, T, T): pad its columns with zeros
        padded = np.zeros((B, H, T, Tc), dtype=q.dtype)
        padded[..., :T] = p
        p = padded
    p = np.ascontiguousarray(p).reshape(B * H, T, Tc)
    problem = _problem(T, D, q.dtype, scale, causal)
    Dc = problem.D
    dq, dk, dv = (np.empty((B * H, T, Dc), q.dtype) for _ in range(3))
    _run_backward(_split_heads_operands(q, k, v, Dc), problem, _heads(dout, Dc), p, (dq, dk, dv))
    return tuple(_unpadded(g, D).reshape(B, H, T, D) for g in (dq, dk, dv))


def split_heads(qkv, n_head):
    """qkv (B, T, 3C) -> q, k, v, each (B, nh, T, hs) with hs = C / nh: views, no copy.

    A GPT's ``c_attn`` layer computes a token's queries, keys and values as one row of 3C
    numbers; head j's query is columns j*hs..(j+1)*hs of the first C, its key and value the same
    columns of the second and third C."""
    B, T, C3 = qkv.shape
    hs = C3 // 3 // n_head
    heads = qkv.reshape(B, T, 3, n_head, hs).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
    return heads[0], heads[1], heads[2]


def merge_heads(a):
    """(B, nh, T, hs) -> (B, T, nh * hs), C-contiguous: each head's output side by side again."""
    B, nh, T, hs = a.shape
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3)).reshape(B, T, nh * hs)


def attention_qkv_forward_reference(qkv, n_head, scale, causal=True):
    """Attention from the packed layout, in numpy: :func:`split_heads`, then
    :func:`attention_forward_reference`, then :func:`merge_heads`. Returns ``(y, p)``: y (B, T, C),
    the probabilities p (B, nh, T, T)."""
    x, _ = _check_packed(qkv, n_head, "attention_qkv_forward")
    out, p = attention_forward_reference(*split_heads(x, int(n_head)), scale, causal)
    return merge_heads(out), p


def attention_qkv_backward_reference(dy, qkv, n_head, stats, scale, causal=True):
    """The gradient dL/dqkv (B, T, 3C) given dy = dL/dy (B, T, C), in numpy:
    :func:`attention_backward_reference` on the heads, whose three gradients are laid side by side
    as qkv's columns are."""
    x, (B, T, C, nh, hs) = _check_packed(qkv, n_head, "attention_qkv_backward")
    g = _check_dy(dy, x, (B, T, C), "attention_qkv_backward")
    p = _check_stats(stats, x, (B, nh, T), "attention_qkv_backward")
    return _backward_by_heads(attention_backward_reference, g, x, nh, p, scale, causal)


def attention_qkv_forward(qkv, n_head, scale, causal=True):
    """Fused attention straight from a GPT's packed qkv (B, T, 3C): ``(y, stats)``.

    The same numbers, bit for bit, as :func:`split_heads`, :func:`attention_forward` and
    :func:`merge_heads`, without their copies: the kernel reads each head's q, k and v where
    ``c_attn`` wrote them (rows 3C apart) and writes a new y (B, T, C) in the layout ``c_proj``
    reads, each head's columns side by side. ``stats`` is (B, nh, T, Tc), as
    :func:`attention_forward`'s. Heads that are not a whole number of vectors wide (hs = 24 in
    float32, ...), T < 6, and inputs the guard rejects (NaN, inf, huge values) take that
    three-step path instead, copies included (so does a non-contiguous or read-only qkv, after
    one copy of it).
    """
    x, (B, T, C, nh, hs) = _check_packed(qkv, n_head, "attention_qkv_forward")
    scale = float(scale)
    bound = _bounds(x)[0]  # sum|x| bounds sum|q|, sum|k| and sum|v| alike
    if not (np.isfinite(scale) and _packed_fast_path(x, T, hs) and _fast_path_is_exact(
            bound, products=[(bound, bound), (abs(scale), bound, bound)], limit=float(np.finfo(x.dtype).max))):
        out, stats = attention_forward(*split_heads(x, nh), scale, causal)
        return merge_heads(out), stats
    Tc = _stats_columns(T)
    y, p = np.empty((B, T, C), x.dtype), np.empty((B * nh, T, Tc), x.dtype)
    _run_forward(_packed_operands(x, T, C, nh), _problem(T, hs, x.dtype, scale, causal), y, p)
    return y, p.reshape(B, nh, T, Tc)


def attention_qkv_backward(dy, qkv, n_head, stats, scale, causal=True):
    """dL/dqkv (B, T, 3C) of :func:`attention_qkv_forward`, given dy = dL/dy (B, T, C) and its
    ``stats``: each head's dq, dk and dv written straight into their columns of one array (the
    same numbers, bit for bit, as :func:`attention_backward` on the split heads)."""
    x, (B, T, C, nh, hs) = _check_packed(qkv, n_head, "attention_qkv_backward")
    g = _check_dy(dy, x, (B, T, C), "attention_qkv_backward")
    p = _check_stats(stats, x, (B, nh, T), "attention_qkv_backward")
    scale = float(scale)
    Tc = _stats_columns(T)
    fast = np.isfinite(scale) and _packed_fast_path(x, T, hs) and p.shape == (B, nh, T, Tc)
    if fast:
        b_dy, b_x, b_p = _bounds(g, x, p)
        s = abs(scale)
        products = [(2.0, b_dy, b_x), (2.0, b_dy, b_x, s), (2.0, b_dy, b_x, b_x, s)]
        fast = _fast_path_is_exact(b_dy, b_x, b_p, products=products, limit=float(np.finfo(x.dtype).max))
    if not fast:  # the heads copied out; attention_backward pads the reference's P or runs numpy
        return _backward_by_heads(attention_backward, g, x, nh, p, scale, causal)
    p = np.ascontiguousarray(p).reshape(B * nh, T, Tc)
    dx = np.empty((B, T, 3 * C), x.dtype)  # every entry is written: each head's rows of dq, dk, dv
    _run_backward(_packed_operands(x, T, C, nh), _problem(T, hs, x.dtype, scale, causal), g, p, (dx, dx, dx))
    return dx


# --------------------------------------------------------------------------------------------
# What the kernels are handed: where each head is, and the problem's sizes
# --------------------------------------------------------------------------------------------


class Layout(NamedTuple):
    """Where a kernel finds head h = (b, j) of an array, ``b = h // heads``: at element
    ``b * batch_stride + j * head_stride`` (plus the part's offset, see :class:`Operands`), its
    rows ``row_stride`` apart. (B, H, T, D) stored head after head is
    ``Layout(T * D, 0, D, 1)``; a GPT's packed (B, T, 3C) is ``Layout(T * 3C, hs, 3C, nh)``."""

    batch_stride: int
    head_stride: int
    row_stride: int
    heads: int  # heads per batch entry


class Operands(NamedTuple):
    """q, k and v as the kernels read them (and dq, dk, dv as the backward writes them), and where
    the output's heads go (``out``, or ``dout`` in the backward).

    Every array is one row, (1, size) (:func:`_row`): with every operand 2-D (as P, Kᵀ and dS
    are) numba compiles :func:`_block_rows` and its micro-kernel once, not once per mix of 1-D
    and 2-D arrays (that cost 0.6-0.8 s more compilation per dtype). numba takes a named tuple
    as one typed argument and unpacks it at no run-time cost.
    """

    q: np.ndarray  # (1, size)
    k: np.ndarray
    v: np.ndarray
    parts: tuple  # (q's, k's, v's) element offsets: (0, 0, 0), or (0, C, 2C) in a packed row
    inp: Layout  # head h of q, k, v (and of dq, dk, dv)
    out: Layout  # head h of out (forward) and of dout (backward)


class Problem(NamedTuple):
    """The sizes and settings every kernel call shares (one argument, not six)."""

    T: int  # sequence length, at least MR
    D: int  # head width, a whole number of vectors
    scale: float  # in the inputs' dtype
    causal: bool
    vbytes: int  # the register blocking: a block row is up to nv vectors of vbytes bytes
    nv: int


def _problem(T, D, dtype, scale, causal):
    """The :class:`Problem` of heads T x D in ``dtype``, D rounded up to whole vectors of
    matmul's register blocking for this CPU (:func:`_blocking`)."""
    vbytes, nv = _blocking()
    return Problem(T, _whole_vectors(D, vbytes // dtype.itemsize), dtype.type(scale), bool(causal), vbytes, nv)


def _split_heads_operands(q, k, v, Dc):
    """:class:`Operands` for q, k, v (B, H, T, D): each head after the other, rows Dc apart."""
    T = q.shape[2]
    heads = Layout(T * Dc, 0, Dc, 1)  # (B*H, T, Dc)
    return Operands(*(_row(_heads(a, Dc)) for a in (q, k, v)), (0, 0, 0), heads, heads)


def _packed_operands(x, T, C, nh):
    """:class:`Operands` reading a GPT's qkv (B, T, 3C) in place: q, k and v start 0, C and 2C
    into a row, head j at column j*hs, rows 3C apart; y and dy (B, T, C) have head j at column
    j*hs, rows C apart."""
    hs = C // nh
    row = _row(x)
    return Operands(row, row, row, (0, C, 2 * C), Layout(T * 3 * C, hs, 3 * C, nh), Layout(T * C, hs, C, nh))


def _row(a):
    """A C-contiguous array as one row, (1, a.size): the kernels address every operand by element
    offsets from its start (see :class:`Operands`)."""
    return a.reshape(1, -1)


def _blocking():
    """``(vector bytes, vectors per block row)`` of the register blocking matmul uses on this CPU
    (:func:`micrograd_plus.kernels.matmul.use_blocking`): 6 x 4 vectors with 32 vector registers,
    6 x 2 with AVX2's 16. Read at every call, so forcing a blocking there forces it here too."""
    return _matmul.register_blocking()


def _whole_vectors(D, lanes):
    """D rounded up to a whole number of vectors of ``lanes`` numbers: the micro-kernel reads and
    writes rows of whole vectors."""
    return (D + lanes - 1) // lanes * lanes


def _heads(a, Dc):
    """a (B, H, T, D) as the kernels take it, (B*H, T, Dc): a view when Dc == D, else a copy
    with zero columns D..Dc (they add nothing to any sum)."""
    B, H, T, D = a.shape
    if Dc == D:
        return a.reshape(B * H, T, D)  # no copy
    padded = np.zeros((B * H, T, Dc), dtype=a.dtype)
    padded[:, :, :D] = a.reshape(B * H, T, D)
    return padded


def _unpadded(a, D):
    """The first D columns of a kernel's (N, T, Dc) output, C-contiguous (a itself if Dc == D)."""
    return a if a.shape[2] == D else np.ascontiguousarray(a[:, :, :D])


def _stats_columns(T):
    """Columns of the forward's ``stats``: T rounded up to a multiple of 16, so that every row of
    scores is whole vectors of any width the micro-kernel uses (16 float32s at most)."""
    return (T + 15) // 16 * 16


def _packed_fast_path(x, T, hs):
    """Whether the kernels can read the packed layout in place: T at least one block of queries,
    each head a whole number of vectors wide (the micro-kernel reads and writes whole vectors),
    and something to do. Otherwise the heads are copied out and :func:`attention_forward` or
    :func:`attention_backward` decides (padding, the numpy reference)."""
    vbytes, _ = _blocking()
    return T >= MR and hs % (vbytes // x.itemsize) == 0 and x.size > 0


def _backward_by_heads(backward, g, x, nh, stats, scale, causal):
    """dL/dqkv (B, T, 3C) through the heads copied out: ``backward`` (the kernel or the reference)
    on q, k, v (B, nh, T, hs) and dL/dy g (B, T, C) split the same way, the three gradients then
    laid side by side as qkv's columns are."""
    q, k, v = split_heads(x, nh)
    B, _, T, hs = q.shape
    dout = g.reshape(B, T, nh, hs).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
    grads = backward(dout, q, k, v, None, stats, scale, causal)
    return np.concatenate([merge_heads(d) for d in grads], axis=2)  # (B, T, 3C)


# --------------------------------------------------------------------------------------------
# Runs of heads side by side on threads
# --------------------------------------------------------------------------------------------


def _run_forward(operands, problem, out, p):
    """:func:`_forward_heads` over every head of ``p`` (N, T, Tc), writing ``out`` (as
    ``operands.out`` lays it out) and p, in runs of heads side by side on threads."""
    n_heads, T, Tc = p.shape
    runs = _runs(n_heads, n_heads * T * T * problem.D, p.dtype)
    kt = np.zeros((len(runs) - 1, problem.D, Tc), p.dtype)  # each run's Kᵀ (D, Tc); columns T..Tc stay 0
    out = _row(out)
    if len(runs) == 2:
        _forward_heads(operands, problem, out, p, kt[0], 0, n_heads)
    else:
        _heads_parallel(False, *_flat_operands(operands), problem, out, p, out, out, out, kt, kt, runs)


def _run_backward(operands, problem, dout, p, grads):
    """:func:`_backward_heads` over every head of ``p``: ``grads = (dq, dk, dv)`` (laid out as
    q, k and v, possibly one array three times) from ``dout`` (laid out as the forward's out)."""
    n_heads, T, Tc = p.shape
    runs = _runs(n_heads, n_heads * T * T * problem.D, p.dtype)
    vt = np.zeros((len(runs) - 1, problem.D, Tc), p.dtype)  # each run's Vᵀ (D, Tc); columns T..Tc stay 0
    ds = np.empty((len(runs) - 1, T, Tc), p.dtype)  # each run's dP, then dS (T, Tc)
    dout, grads = _row(dout), tuple(_row(g) for g in grads)
    if len(runs) == 2:
        _backward_heads(operands, problem, dout, p, grads, vt[0], ds[0], 0, n_heads)
    else:
        _heads_parallel(True, *_flat_operands(operands), problem, dout, p, *grads, vt, ds, runs)


def _runs(n_heads, work, dtype):
    """Where each thread's run of heads starts, and the end: ``[0, ..., n_heads]`` (int64), one
    run per thread :func:`~micrograd_plus.kernels._shared.threads_for` gives ``work`` multiply-adds
    (one run below ``_THREADS_MIN`` of them, or on a busy machine)."""
    return np.array([0] + [h1 for _, h1 in split(n_heads, threads_for(work, _THREADS_MIN, dtype))], np.int64)


def _flat_operands(x):
    """An :class:`Operands` as :func:`_heads_parallel` takes it: q, k, v, the three part offsets,
    then the two layouts (numba cannot hand a tuple nested in a tuple to a ``prange`` loop)."""
    return (x.q, x.k, x.v, *x.parts, x.inp, x.out)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _heads_parallel(backward, q, k, v, q_part, k_part, v_part, inp, out_layout, pr, out, p, dq, dk, dv,
                    scratch_a, scratch_b, runs):
    """The forward (:func:`_forward_heads`) or backward (:func:`_backward_heads`, when
    ``backward``) over runs of heads side by side on numba's threads: run r is heads
    ``runs[r]..runs[r+1]``, with scratch buffers ``scratch_a[r]`` (and ``scratch_b[r]``) of its own.

    The operands come flat (:func:`_flat_operands`) and are put back together in the loop. Each
    head is computed by the same loop whichever run it falls in, so the result is the same bits
    on any number of threads. ``out`` is the forward's out or the backward's dout; the forward
    ignores dq, dk, dv and ``scratch_b``.

    Why numba's threads (OpenMP's), when plain Python threads can run these GIL-free loops too and
    cost no compilation: in a training step attention runs right after products, whose OpenMP
    threads keep spinning on the cores for a while (kernels/_shared.py), and a Python worker has to
    wait for them. Measured in the GPT recipe's training step (2-core Zen 4, float32, median per
    call): forward 695-751 µs and backward 708-917 µs on Python threads, 412-512 and 490-624 µs
    here (alone, one call after another, here: 264-326 and 289-374 µs). The price is compilation:
    the attention family's float32 kernels took 6.9 s to compile instead of 2.6 s (once; numba
    caches them; float64 has threads only when asked, see ``use_float64_threads``).
    """
    for r in prange(runs.shape[0] - 1):
        x = Operands(q, k, v, (q_part, k_part, v_part), inp, out_layout)
        h0, h1 = runs[r], runs[r + 1]
        if backward:
            _backward_heads(x, pr, out, p, (dq, dk, dv), scratch_a[r], scratch_b[r], h0, h1)
        else:
            _forward_heads(x, pr, out, p, scratch_a[r], h0, h1)


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


def _check_like(a, q, name):
    """Check that ``a`` has q's shape and dtype; return it C-contiguous."""
    a = np.asarray(a)
    if a.shape != q.shape or a.dtype != q.dtype:
        raise ValueError(f"attention backward: {name} must match q's shape and dtype "
                         f"{q.shape} {q.dtype}, got {a.shape} {a.dtype}")
    return np.ascontiguousarray(a)


def _check_packed(qkv, n_head, name):
    """qkv as a C-contiguous, writeable (B, T, 3C) float array, and (B, T, C, nh, hs); a
    ``TypeError`` or ``ValueError`` in one line otherwise."""
    x = np.asarray(qkv)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: qkv must be float32 or float64, got {x.dtype}")
    if x.ndim != 3 or x.shape[2] % 3 != 0:
        raise ValueError(f"{name}: qkv must be (B, T, 3C), got shape {x.shape}")
    if isinstance(n_head, (bool, np.bool_)) or not isinstance(n_head, (int, np.integer)):
        raise TypeError(f"{name}: n_head must be an integer, got {n_head!r}")
    nh = int(n_head)
    C = x.shape[2] // 3
    if nh < 1:
        raise ValueError(f"{name}: n_head must be at least 1, got {n_head}")
    if C % nh != 0:
        raise ValueError(f"{name}: C = {C} (qkv's last dim / 3) must be a multiple of n_head = {n_head}")
    return kernel_array(x), (x.shape[0], x.shape[1], C, nh, C // nh)


def _check_dy(dy, x, shape, name):
    """dy, the gradient of y, as a C-contiguous writeable array of ``shape`` and x's dtype."""
    g = np.asarray(dy)
    if g.dtype != x.dtype:
        raise TypeError(f"{name}: dy must be {x.dtype} like qkv, got {g.dtype}")
    if g.shape != shape:
        raise ValueError(f"{name}: dy must be {shape} (B, T, C), got {g.shape}")
    return kernel_array(g)


def _check_stats(stats, x, shape, name):
    """The forward's stats: (B, nh, T, Tc) from the kernels, or (B, nh, T, T) from the reference."""
    p = np.asarray(stats)
    B, nh, T = shape
    if p.dtype != x.dtype or p.shape not in ((B, nh, T, _stats_columns(T)), (B, nh, T, T)):
        raise ValueError(f"{name}: stats must be the forward's probabilities, ({B}, {nh}, {T}, "
                         f"{_stats_columns(T)}) {x.dtype}; got {p.shape} {p.dtype}")
    return p


# --------------------------------------------------------------------------------------------
# The guard: where the fused kernels are exact, and where the reference must run
# --------------------------------------------------------------------------------------------


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


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _abs_sum(flat):
    """``sum(|x|)`` of a 1-D array: NaN if x holds a NaN, inf if it holds an inf (or the sum
    overflows), and otherwise an upper bound on every ``|x[i]|``. (Flattened by the caller: one
    compiled version for every shape, and no reshape for numba to compile.)"""
    total = flat.dtype.type(0)
    for i in range(flat.size):
        total += abs(flat[i])
    return total


# --------------------------------------------------------------------------------------------
# The numba kernels: one run of heads, forward and backward, then the pieces they share
# --------------------------------------------------------------------------------------------

#: The micro-kernel matmul uses (see :mod:`~micrograd_plus.kernels._microkernel`), built here once
#: more: numba's cache stores the compiled loop with the function that calls it, in this file.
_microkernel = make_microkernel(_matmul.VECTOR_BYTES, fma=has_fma(), wide=_matmul._WIDE)  # 512 marked on Intel


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _forward_heads(x, pr, out, p, kt, h0, h1):
    """Heads h0..h1 of the forward: each head's rows of O (T, D) into ``out`` and its P into
    p (N, T, Tc), N = batch x heads. ``x`` is an :class:`Operands` (q, k, v and where every head
    is), ``pr`` a :class:`Problem` (T >= 6, D a whole number of vectors); ``Tc`` is T rounded up
    to a multiple of 16, and kt a (D, Tc) scratch buffer of zeros. Threads run disjoint runs of
    heads (:func:`_heads_parallel`); it also releases the GIL, for a user's own threads.

    **Where the rows are.** q, k, v and out are one row each, (1, size), read and written through
    a :class:`Layout`: head h = (b, j) of the input starts at element ``b * batch_stride +
    j * head_stride + part``, its rows ``row_stride`` apart; ``x.out`` does the same for ``out``.
    So one kernel serves heads stored one after another, (B, H, T, D), and a GPT's packed
    (B, T, 3C), where a token's q, k and v sit side by side and head j is columns j*D..(j+1)*D of
    each: no copy is made of either.

    For each block of 6 queries: its scores S = Q Kᵀ (6, n) through the micro-kernel, their
    softmax in place, and its 6 rows of O = P V, while those probabilities are still in cache.
    Causal: the block sees keys 0..i0+5 only, so only those columns are computed (n rounded up to
    whole vectors), O sums over those keys only, and the rest of P is set to zeros. When T is not
    a multiple of 6 the last block starts at T - 6, overlapping the one before: it recomputes a
    few rows (the same numbers), and no block ever reads or writes past row T.

    (The loop over heads and the body for one head are one function on purpose: numba compiles
    every function it calls separately and then again inside its caller, so a separate one-head
    function cost a second full optimisation of everything below it.)
    """
    T, D, scale, causal, vbytes, nv_max = pr
    q, k, v = x.q, x.k, x.v
    Tc = p.shape[2]
    lanes = vbytes // q.itemsize
    rs, o_rs = x.inp.row_stride, x.out.row_stride
    zero, one = T - T, T // T  # 0 and 1 as int64 variables (see _block_rows)
    for h in range(h0, h1):
        qo, ko, vo = _head_starts(x, h)  # where head h's q, k, v start
        oo = _head_start(x.out, h)  # ... and its rows of out
        ph = p[h]  # (T, Tc)
        for t in range(T):  # kt[:, :T] = Kᵀ  (D, Tc); columns T..Tc stay 0
            for d in range(D):
                kt[d, t] = k[0, ko + t * rs + d]
        for b in range((T + MR - 1) // MR):
            i0 = min(b * MR, T - MR)  # queries i0..i0+5
            seen = i0 + MR if causal else T  # keys they can see
            n = (seen + lanes - 1) // lanes * lanes  # ... rounded up to whole vectors
            _block_rows(q, qo + i0 * rs, rs, one, kt, zero, Tc, ph, i0 * Tc, Tc, D, n, vbytes, nv_max)  # S = Q Kᵀ
            _softmax_rows(ph, i0, n, T, causal, scale)  # P rows, exact zeros where masked
            _block_rows(ph, i0 * Tc, Tc, one, v, vo, rs, out, oo + i0 * o_rs, o_rs, seen, D, vbytes, nv_max)  # O = P V


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _backward_heads(x, pr, dout, p, grads, vt, ds, h0, h1):
    """Heads h0..h1 of the backward: ``grads = (dq, dk, dv)`` given dout and p (N, T, Tc) from the
    forward; vt (D, Tc) zeros and ds (T, Tc) are scratch buffers. dq, dk and dv are rows (1, size)
    laid out as q, k and v (``x.parts`` and ``x.inp``), dout as the forward's out (``x.out``): see
    :func:`_forward_heads`.

    Two passes over each head, both in blocks of 6 rows (the last block overlapping, as in
    :func:`_forward_heads`):

    1. blocks of 6 *queries*: dP = dO Vᵀ (6, n), then dS * scale in place, then dQ = dS K;
    2. blocks of 6 *keys*: dV = Pᵀ dO and dK = dSᵀ Q. The micro-kernel reads Pᵀ and dSᵀ straight
       from P and dS (its A operand takes any two strides), so nothing is transposed; causal,
       only queries i >= j0 saw keys j0..j0+5, so the sums start there.

    One thread takes one contiguous run of heads (:func:`_heads_parallel`) and reuses its scratch
    buffers for every head (at T = 256 a (T, Tc) buffer is 256 KB, big enough for the memory
    allocator to hand out fresh, page-faulting memory each time). Every entry of ds a head reads
    it has written first: pass 2 reads columns j0..j0+5 of rows i >= j0, inside what pass 1 wrote.
    """
    T, D, scale, causal, vbytes, nv_max = pr
    q, k, v = x.q, x.k, x.v
    dq, dk, dv = grads
    Tc = p.shape[2]
    lanes = vbytes // q.itemsize
    rs, o_rs = x.inp.row_stride, x.out.row_stride
    zero, one = T - T, T // T  # 0 and 1 as int64 variables (see _block_rows)
    for h in range(h0, h1):
        qo, ko, vo = _head_starts(x, h)  # head h's q, k, v (and dq, dk, dv)
        go = _head_start(x.out, h)  # ... and its rows of dout
        ph = p[h]  # (T, Tc)
        for t in range(T):  # vt[:, :T] = Vᵀ  (D, Tc); columns T..Tc stay 0
            for d in range(D):
                vt[d, t] = v[0, vo + t * rs + d]
        for b in range((T + MR - 1) // MR):  # 1. blocks of queries i0..i0+5
            i0 = min(b * MR, T - MR)
            seen = i0 + MR if causal else T
            n = (seen + lanes - 1) // lanes * lanes
            _block_rows(dout, go + i0 * o_rs, o_rs, one, vt, zero, Tc, ds, i0 * Tc, Tc, D, n, vbytes, nv_max)  # dP = dO Vᵀ
            _softmax_backward_rows(ph, ds, i0, n, scale)  # dS * scale
            _block_rows(ds, i0 * Tc, Tc, one, k, ko, rs, dq, qo + i0 * rs, rs, seen, D, vbytes, nv_max)  # dQ = dS K
        for b in range((T + MR - 1) // MR):  # 2. blocks of keys j0..j0+5
            j0 = min(b * MR, T - MR)
            i0 = j0 if causal else zero  # the first query that saw them
            _block_rows(ph, i0 * Tc + j0, one, Tc, dout, go + i0 * o_rs, o_rs, dv, vo + j0 * rs, rs, T - i0, D,
                        vbytes, nv_max)  # dV = Pᵀ dO
            _block_rows(ds, i0 * Tc + j0, one, Tc, q, qo + i0 * rs, rs, dk, ko + j0 * rs, rs, T - i0, D,
                        vbytes, nv_max)  # dK = dSᵀ Q


@njit(cache=True, error_model="numpy", inline="always", **INTERNAL)
def _head_start(layout, h):
    """Element offset of head h's first row in an array laid out as ``layout``."""
    return (h // layout.heads) * layout.batch_stride + (h % layout.heads) * layout.head_stride


@njit(cache=True, error_model="numpy", inline="always", **INTERNAL)
def _head_starts(x, h):
    """Element offsets of head h's q, k and v (and of its dq, dk, dv) in the :class:`Operands` x."""
    base = _head_start(x.inp, h)
    return base + x.parts[0], base + x.parts[1], base + x.parts[2]


@njit(cache=True, error_model="numpy", **INTERNAL)
def _block_rows(a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, n, vbytes, nv_max):
    """``C[0:6, 0:n] = A[0:6, 0:kc] @ B[0:kc, 0:n]``: one block of 6 rows of a product.

    Addressing as in the micro-kernel (in elements from each array's first one)::

        A[r, k] = a[a_off + r * a_rs + k * a_ks]    (a_rs = 1, a_ks = row stride reads Aᵀ: no copy)
        B[k, j] = b[b_off + k * b_ks + j]           (rows contiguous)
        C[r, j] = c[c_off + r * c_rs + j]

    ``n`` must be a whole number of vectors (``vbytes // itemsize`` numbers each): the columns are
    cut into panels of ``nv_max`` vectors, the last one narrower, and each panel is one call of
    the micro-kernel (6 x up to 4 vectors of accumulators in registers for the whole sum).

    All the products of attention go through this one function, so the micro-kernel's loops are
    compiled once per dtype instead of once per product. Its arguments are the micro-kernel's own
    (an offset and strides per operand), kept flat so that each call line reads as the product it
    computes. Callers pass 0 and 1 as int64 variables, never as literals: numba compiles a
    separate version of a function for each literal argument (it did here: a second copy of the
    micro-kernel in the backward, ~0.3 s more per dtype).
    """
    lanes = vbytes // c.itemsize
    for j in range(0, n, nv_max * lanes):
        nv = min(nv_max, (n - j) // lanes)
        _microkernel(vbytes, nv, a, a_off, a_rs, a_ks, b, b_off + j, b_ks, c, c_off + j, c_rs, kc, False)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always", **INTERNAL)
def _softmax_rows(s, i0, n, T, causal, scale):
    """Turn the raw scores s[i0:i0+6, :n] (Q Kᵀ) into probabilities in place: softmax(s * scale).

    Row i's visible keys are 0..i (causal) or 0..T-1; every other entry of s[i] (masked keys,
    padding, and the columns from n on that no block computed) becomes exactly 0. The loops run
    over all n entries (whole vectors) and mask with a select, which keeps them whole SIMD
    registers instead of ragged row lengths.

    The row's maximum is the one loop LLVM cannot vectorise: without fast-math's ``nnan`` (which
    the kernels do not assume, see :mod:`~micrograd_plus.kernels._fastmath`) a floating-point max
    is an order-dependent chain of compare-and-selects. So it runs over the visible keys only,
    with four running maxima side by side (four independent chains instead of one, each waiting
    on the one before): the same maximum, bit for bit, and the softmax 13-20% faster (48 heads,
    T = 64 and 256, float32, one thread, Zen 4).

    ``inline="always"`` (here and in :func:`_softmax_backward_rows`): each has one caller, so numba
    copies its body there instead of compiling it on its own and then again inside the caller
    (measured ~0.3 s less compilation per dtype for the two).
    """
    for i in range(i0, i0 + MR):
        row = s[i, :n]
        visible = i + 1 if causal else T
        zero = row.dtype.type(0)  # (not row[0] - row[0]: NaN when that is inf)
        for j in range(n):
            row[j] *= scale
        m = _row_max(row, visible)
        total = zero
        for j in range(n):
            e = fast_exp(row[j] - m) if j < visible else zero
            row[j] = e
            total += e
        inv = row.dtype.type(1) / total  # (a bare 1 / total is float64)
        for j in range(n):
            row[j] *= inv
        rest = s[i]
        for j in range(n, rest.shape[0]):  # the never-computed upper triangle, for readers of P
            rest[j] = zero


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always", **INTERNAL)
def _row_max(row, visible):
    """``max(row[:visible])`` (visible >= 1) as four interleaved running maxima (see
    :func:`_softmax_rows`); max is exact, so the order does not change the result."""
    m0 = m1 = m2 = m3 = row[0]  # key 0 is visible to every query
    top = visible - visible % 4
    for j in range(0, top, 4):
        m0 = max(m0, row[j])
        m1 = max(m1, row[j + 1])
        m2 = max(m2, row[j + 2])
        m3 = max(m3, row[j + 3])
    for j in range(top, visible):
        m0 = max(m0, row[j])
    return max(max(m0, m1), max(m2, m3))


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", inline="always", **INTERNAL)
def _softmax_backward_rows(p, ds, i0, n, scale):
    """dS * scale = scale * P * (dP - rowsum(P * dP)) for rows i0..i0+5, in place of dP in ds[:, :n].

    The softmax's local derivative, row by row. The masked entries need no test: P is exactly 0
    there, and dP finite (the guard in :func:`attention_backward` makes sure), so they come out 0.
    The scale that the forward put on the scores is folded in here, once, so that
    dQ = dS K * scale and dK = dSᵀ Q * scale become plain products.
    """
    for i in range(i0, i0 + MR):
        prow, drow = p[i, :n], ds[i, :n]
        delta = prow.dtype.type(0)
        for j in range(n):
            delta += prow[j] * drow[j]
        for j in range(n):
            drow[j] = scale * (prow[j] * (drow[j] - delta))
