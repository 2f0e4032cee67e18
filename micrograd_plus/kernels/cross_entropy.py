"""Softmax + cross-entropy, forward and backward, each as one compiled pass over the rows.

For one row of logits ``x`` (C classes) and its target class ``t``::

    m    = max(x)                       subtracted first, so no exp overflows
    lse  = m + log(sum(exp(x - m)))     log-sum-exp: log of softmax's denominator
    nll  = lse - x[t]                   -log(softmax(x)[t]), the cost of this row

and, given the upstream gradient ``w`` of this row's cost, the famous backward::

    dx = (softmax(x) - onehot(t)) * w   with softmax(x) = exp(x - lse)

Rows whose target is ``ignore_index`` cost 0 and get a zero gradient. The forward keeps only
``lse`` (one number per row), and the backward recomputes ``exp(x - lse)``: one more exp per
logit instead of writing and reading back a (rows, C) array of probabilities.

The exp is :func:`~micrograd_plus.kernels._fastmath.fast_exp` (it vectorises; ``math.exp`` does
not). The two ``*_reference`` functions are the numpy definitions the kernels are tested
against, and what the ``"numpy"`` backend runs.
"""

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._fastmath import FASTMATH, fast_exp
from micrograd_plus.kernels._shared import INTERNAL, kernel_array, threads_for

# IEEE NaN/inf rules kept (see kernels/_fastmath.py). The sum of exponentials may be reordered
# (that makes it SIMD); the elementwise formulas are numpy's operations, in numpy's order.
_SUMS = set(FASTMATH)
_FASTMATH = False  # not even fused multiply-adds: g*w - mean(g*w) must be 0 where numpy's is

_PARALLEL_MIN = 32_768  # logits; below this a parallel region costs more than it saves


# ---- the definitions in numpy (readable), then the public functions ---------------------------------------

def cross_entropy_forward_reference(logits, target, ignore_index=-100):
    """``(nll, lse)``: each row's cost -log softmax(logits)[target] and its log-sum-exp, (rows,).

    logits is (rows, C), target (rows,) integer classes; rows whose target is ``ignore_index``
    cost exactly 0.
    """
    _check_targets(target, logits.shape[1], ignore_index)
    valid = target != ignore_index  # (rows,)
    t = np.where(valid, target, 0)
    m = logits.max(axis=1)  # (rows,)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=1))  # (rows,)
    nll = np.where(valid, lse - logits[np.arange(len(t)), t], 0)
    return nll.astype(logits.dtype, copy=False), lse.astype(logits.dtype, copy=False)


def cross_entropy_backward_reference(w, logits, target, lse, ignore_index=-100):
    """dL/dlogits (rows, C) = (softmax(logits) - onehot(target)) * w[:, None], 0 on ignored rows.

    ``w`` (rows,) is the upstream gradient of each row's cost (``g / count`` for a mean).
    """
    valid = target != ignore_index
    dx = np.exp(logits - lse[:, None])  # softmax, (rows, C)
    dx[np.arange(len(target)), np.where(valid, target, 0)] -= 1
    dx = np.where(valid[:, None], dx * w[:, None], 0)
    return dx.astype(logits.dtype, copy=False)


def cross_entropy_forward(logits, target, ignore_index=-100):
    """``(nll, lse)`` in one compiled pass: logits (rows, C), target (rows,) -> two (rows,) arrays.

    nll is each row's cost ``-log softmax(logits)[target]`` (0 where target == ignore_index),
    lse its log-sum-exp, which :func:`cross_entropy_backward` needs. An out-of-range target
    raises ``IndexError``. Same results as :func:`cross_entropy_forward_reference`.
    """
    x, t = _check(logits, target, "cross_entropy_forward")
    rows, C = x.shape
    nll, lse = np.empty(rows, x.dtype), np.empty(rows, x.dtype)
    if rows and C == 0:
        raise ValueError("cross_entropy_forward: logits have no classes (C = 0)")
    threads = threads_for(x.size, _PARALLEL_MIN, x.dtype)  # chunks of rows; 1: no parallel region
    cost = nll.reshape(rows, 1)  # the kernel's output is 2-D in both passes
    if threads > 1:
        bad = np.zeros(threads, np.int64)
        _rows_parallel(False, x, t, int(ignore_index), lse, lse, cost, bad)
        bad = bad.sum()
    else:
        bad = _rows(False, x, t, int(ignore_index), lse, lse, cost, 0, rows)
    if bad:
        _check_targets(t, C, ignore_index)
    return nll, lse


def cross_entropy_backward(w, logits, target, lse, ignore_index=-100):
    """dL/dlogits (rows, C) = (softmax(logits) - onehot(target)) * w[:, None] in one pass.

    ``w`` (rows,) is the upstream gradient of each row's cost, ``lse`` the forward's; ignored
    rows get zeros. Same results as :func:`cross_entropy_backward_reference`.
    """
    x, t = _check(logits, target, "cross_entropy_backward")
    rows = x.shape[0]
    w = np.asarray(w, dtype=x.dtype)
    if w.shape != (rows,):  # a scalar (or (1,)) weight for every row; broadcast_to costs ~5 us
        if w.size != 1:
            raise ValueError(f"cross_entropy_backward: w must be ({rows},) or one number, got {w.shape}")
        w = np.broadcast_to(w.reshape(()), (rows,))
    w = kernel_array(w)
    lse = kernel_array(lse, x.dtype)
    if lse.shape != (rows,):
        raise ValueError(f"cross_entropy_backward: lse must be ({rows},), got {lse.shape}")
    dx = np.empty_like(x)
    threads = threads_for(x.size, _PARALLEL_MIN, x.dtype)  # chunks of rows; 1: no parallel region
    if threads > 1:
        _rows_parallel(True, x, t, int(ignore_index), w, lse, dx, np.zeros(threads, np.int64))
    else:
        _rows(True, x, t, int(ignore_index), w, lse, dx, 0, rows)
    return dx


def _check_targets(target, C, ignore_index):
    bad = (target != ignore_index) & ((target < 0) | (target >= C))
    if bad.any():
        raise IndexError(f"cross_entropy: target class {target[bad][0]} is out of range for {C} classes "
                         f"(valid: 0..{C - 1}, or ignore_index {ignore_index})")


# ---- the compiled row loops -------------------------------------------------------------------

@njit(cache=True, fastmath=_SUMS, error_model="numpy", **INTERNAL)
def _logsumexp(xr):
    """log(sum(exp(xr))) of one row (C,), with its max subtracted first so nothing overflows."""
    m = xr[0]
    for j in range(xr.shape[0]):
        m = max(m, xr[j])
    s = xr.dtype.type(0)
    for j in range(xr.shape[0]):
        s += fast_exp(xr[j] - m)  # NaN anywhere in the row makes s NaN
    return m + np.log(s)


# One compiled function does the rows of either pass, and one parallel twin shares its rows among
# threads: numba compiles every function on its own (and a ``parallel=True`` one compiles the
# machine code of what it calls again), and a serial and a parallel function for each pass took
# 2.0-2.1 CPU s to compile per dtype against 1.3-1.5 s for these two (2-core Zen 4, avx512f).

@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _rows(backward, x, t, ignore, w, lse, out, r0, r1):
    """Rows r0..r1 of one pass over the logits x (rows, C) and targets t (rows,).

    Forward (``backward`` False): writes each row's log-sum-exp into ``lse`` and its cost into
    ``out[r, 0]`` (``out`` is the (rows,) costs seen as (rows, 1)); w is unused. Returns how
    many targets were out of range (their rows' costs are left NaN; the caller raises).
    Backward: ``out`` = dlogits (rows, C) from the upstream gradients w (rows,) and the
    forward's lse; returns 0.
    """
    C = x.shape[1]
    zero, one = x.dtype.type(0), x.dtype.type(1)
    bad = 0
    for r in range(r0, r1):
        xr, outr = x[r], out[r]  # (C,) each; (1,) for the forward's cost
        tr = t[r]
        if not backward:
            lse[r] = _logsumexp(xr)
            if tr == ignore:
                outr[0] = zero
            elif tr < 0 or tr >= C:
                outr[0] = np.nan
                bad += 1
            else:
                outr[0] = lse[r] - xr[tr]
        elif tr == ignore:
            for j in range(C):
                outr[j] = zero
        else:
            wr, lr = w[r], lse[r]
            for j in range(C):  # (softmax - onehot) * w, in numpy's order: inf * (p - 1) is -inf, not NaN
                outr[j] = (fast_exp(xr[j] - lr) - (one if j == tr else zero)) * wr
    return bad


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _rows_parallel(backward, x, t, ignore, w, lse, out, bad):
    """:func:`_rows` over ``len(bad)`` chunks of rows, side by side; ``bad[c]`` receives chunk
    c's count of out-of-range targets (an array rather than a ``prange`` sum across threads,
    which numba compiles into extra reduction code)."""
    rows = x.shape[0]
    chunks = bad.shape[0]
    for c in prange(chunks):
        bad[c] = _rows(backward, x, t, ignore, w, lse, out, c * rows // chunks, (c + 1) * rows // chunks)


# ---- what the public functions share ----------------------------------------------------------

def _check(logits, target, name):
    if not isinstance(logits, np.ndarray) or logits.dtype not in (np.float32, np.float64) or logits.ndim != 2:
        raise TypeError(f"{name}: logits must be a 2-D float32 or float64 array (rows, C), got "
                        f"{getattr(logits, 'shape', type(logits).__name__)} {getattr(logits, 'dtype', '')}")
    target = np.asarray(target)
    if target.dtype.kind not in "iu" or target.shape != logits.shape[:1]:
        raise ValueError(f"{name}: target must be {logits.shape[:1]} integer classes, got "
                         f"{target.shape} {target.dtype}")
    return kernel_array(logits), kernel_array(target, np.int64)


