"""Helpers the kernel modules share: a blocked transpose, and whether threads will help.

Kept here, public within ``kernels``, so that no kernel module reaches into another's
private names (attention packs its operands with the same transpose that matmul uses).
"""

import os
import time

from numba import njit

from micrograd_plus.kernels._fastmath import FASTMATH

_FASTMATH = set(FASTMATH)  # IEEE NaN/inf rules kept: see kernels/_fastmath.py


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def transpose_rows(src, dst, i0, i1):
    """``dst[:, i0:i1] = src[i0:i1, :].T`` for C-contiguous src (R, C) and dst (C, R).

    Eight source rows are read side by side, left to right, and each destination row receives
    eight neighbouring numbers at a time: both sides move through memory in order, which
    measured 3-7x faster than numpy's copy of a transposed view.
    """
    n_cols = src.shape[1]
    i = i0
    while i + 8 <= i1:
        s0, s1, s2, s3 = src[i], src[i + 1], src[i + 2], src[i + 3]
        s4, s5, s6, s7 = src[i + 4], src[i + 5], src[i + 6], src[i + 7]
        for j in range(n_cols):
            d = dst[j, i : i + 8]
            d[0] = s0[j]
            d[1] = s1[j]
            d[2] = s2[j]
            d[3] = s3[j]
            d[4] = s4[j]
            d[5] = s5[j]
            d[6] = s6[j]
            d[7] = s7[j]
        i += 8
    while i < i1:  # leftover rows, one at a time
        s0 = src[i]
        for j in range(n_cols):
            dst[j, i] = s0[j]
        i += 1


def cores_are_free():
    """Whether threads will help: False while the machine is oversubscribed.

    A parallel region waits at its end for every thread. When other processes keep all cores
    busy, one of our threads is often descheduled and the whole call waits for it: measured on
    the 2-core development machine at a load average of ~6, a product that takes 0.3 ms with
    two threads and 0.7 ms with one took 16 ms (median) with two. So while the 1-minute load
    average exceeds 1.5x the number of cores (plus a margin for our own two threads), products
    run serially. The check reads /proc/loadavg at most twice a second.
    """
    now = time.monotonic()
    if now - _load_check[0] > 0.5:
        try:
            busy = os.getloadavg()[0] > 1.5 * N_CORES + 0.5
        except (AttributeError, OSError):  # no load average here (Windows): assume free
            busy = False
        _load_check[0] = now
        _load_check[1] = not busy
    return _load_check[1]


N_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_load_check = [-1.0, True]  # [time of the last check, result]
