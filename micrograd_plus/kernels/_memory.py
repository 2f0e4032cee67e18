"""Keep the memory of freed arrays in the process, so that the next training step reuses it.

A training step allocates its activations (hundreds of MB for nanoGPT's 6 x 384 model at
context 256), and frees them all when ``backward`` is done. With its default settings the GNU C
library's ``malloc`` (Linux) hands large freed blocks straight back to the operating system, and
the next step gets fresh pages from it: the kernel zero-fills every 4 KB page at its first touch
(a *page fault*). Measured on the 2-core Zen 4 development VM (avx512f), float32, at that size:
about 21,000 page faults and 80-160 ms of kernel time per step (of a 1.2-1.8 s step), against
500 faults and 10-17 ms with the settings below; PyTorch's own step there took 7,200 faults.

:func:`keep_freed_memory` asks ``malloc`` (through its ``mallopt`` call) to keep freed memory for
reuse instead: blocks under 32 MB come from the process's heap, and the heap is not trimmed below
1 GB of free space. The price is that the process holds on to its peak memory (which a training
loop reaches again at every step anyway). Nothing changes where the C library is not glibc
(macOS, Windows, musl), or where the user has chosen with glibc's own variables
(``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_ARENA_MAX``
...), which are then left as they are.
"""

import ctypes
import os
import sys

#: ``mallopt`` parameter numbers (glibc's malloc.h) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GB of free heap before giving any back
MMAP_THRESHOLD = 1 << 25  # blocks of 32 MB or more still get pages of their own, returned when freed


def keep_freed_memory(environ=os.environ, platform=sys.platform):
    """Set glibc's trim and mmap thresholds (see the module docstring); returns whether it did.

    Leaves everything alone off Linux, without glibc's ``mallopt``, or when any ``MALLOC_*``
    variable is set in ``environ`` (the user decided).
    """
    if not platform.startswith("linux") or any(key.startswith("MALLOC_") for key in environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # no mallopt: not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold is set first, since it caps the other
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
