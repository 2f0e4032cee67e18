"""Helpers the kernel modules share: a blocked transpose, whether threads will help, and the
threads themselves.

Kept here, public within ``kernels``, so that no kernel module reaches into another's
private names (attention packs its operands with the same transpose that matmul uses).

**Two ways to use both cores.** Matmul, attention, GELU, LayerNorm and cross-entropy run ``prange``
loops (numba's ``parallel=True``, on GNU OpenMP's threads) over contiguous chunks, each with a
one-thread twin for small arrays and busy machines (:func:`threads_for`); so does SGD's update,
which splits a big parameter (``kernels.optim._sgd_parallel``). Adam instead hands its parameters
to compiled loops that release the GIL (``nogil=True``) and runs them side by side on plain
Python threads (:func:`run_in_threads`): a ``parallel=True`` twin costs a second compilation of
everything it calls, and Adam's one call a step is long enough. Python threads cost more per
call, though. Waking a sleeping worker took ~50 µs on the idle 2-core
development VM (``prange``'s threads spin and start in ~1.5 µs), and right after a ``prange``
call (a matmul, in a training step) the spinning OpenMP threads hold the cores, so a Python
worker gains nothing for a while: measured after a matmul, a Python-thread GELU over (768, 512)
took 319 µs against 161 µs with ``prange`` (LayerNorm over (768, 128): 193 against 136 µs), and
attention, on Python threads until it moved to ``prange``, took 1.5-2x its time alone inside a
GPT step (figures in ``attention._heads_parallel``). No numba parallel region ever runs on one of
the optimizer's worker threads (numba's ``workqueue`` threading layer aborts on concurrent
parallel regions; see :func:`cores_are_free`).
"""

import os
import queue
import sys
import threading
import time

import numba
import numpy as np
from numba import njit

from micrograd_plus.kernels._fastmath import FASTMATH

#: How long (in spins) an idle OpenMP thread waits for the next parallel region before it
#: sleeps, unless the user chose (``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` set): see
#: :func:`short_openmp_spin`.
OPENMP_SPINS = 30_000


def short_openmp_spin(environ=os.environ):
    """Make idle OpenMP threads sleep sooner than GNU OpenMP's default (``GOMP_SPINCOUNT=30000``,
    a tenth of it) unless the user decided.

    numba's ``omp`` threading layer runs on GNU OpenMP, whose idle threads by default spin for
    300,000 iterations after every parallel region before they sleep. Two costs pull against
    each other. A thread that spins holds a core that something else may need (attention's
    Python worker threads, another process); a thread that sleeps must be woken for the next
    parallel region, tens of microseconds each time, and a small model's step is many short
    products with a little Python between them. GNU OpenMP reads the variable once, when it
    starts (at the first parallel region), so this runs when the kernels are imported.

    Measured (2-core Zen 4, avx512f, quiet; three fresh processes per setting, interleaved;
    the medians of each): the MNIST benchmark's epoch with 1,000 spins 0.65 / 0.69 / 0.69 s,
    30,000 spins 0.51 / 0.51 / 0.55 s, the default 0.94 / 0.64 / 0.51 s; the GPT recipe's step
    41.6 / 42.3 / 40.7 ms, 43.2 / 38.9 / 33.9 ms, 40.4 / 41.9 / 33.1 ms; the 6 x 192 GPT's
    212 / 206 / 187, 222 / 206 / 178, 202 / 235 / 208 ms; the MNIST CNN's 19.8 / 20.2 / 16.5,
    18.0 / 21.2 / 14.2, 14.4 / 18.3 / 19.6 ms. Beside two busy processes the short spin is
    better (the recipe's step 118 / 90 ms with 1,000 spins, 147 / 112 ms with 30,000), but
    while other processes use half a core or more the kernels run on one thread anyway
    (:func:`cores_are_free`). A user's own ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is left as
    it is.

    Returns True when it set the variable (the user had chosen nothing).
    """
    if "GOMP_SPINCOUNT" not in environ and "OMP_WAIT_POLICY" not in environ:
        environ["GOMP_SPINCOUNT"] = str(OPENMP_SPINS)
        return True
    return False


#: Whether importing the kernels set ``GOMP_SPINCOUNT`` (so it is this library's default, not the
#: user's choice): the benchmarks then start PyTorch, a peer with defaults of its own, without it.
SPIN_SET_HERE = short_openmp_spin()

#: glibc's malloc settings :func:`keep_freed_memory` applies: allocations up to 32 MiB (glibc's
#: largest allowed threshold) come from the heap rather than from fresh ``mmap`` pages, and up to
#: 1 GiB of freed memory at the top of the heap is kept for reuse rather than handed back.
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 * 2**20, 2**30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (glibc's malloc.h)
_GLIBC_MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")
_memory_kept = []  # [True] once keep_freed_memory has run in this process


def keep_freed_memory(environ=os.environ, libc=None):
    """Let a training loop reuse the memory it freed the step before, instead of page-faulting it
    in afresh every step (glibc on Linux only; elsewhere nothing is done).

    A step allocates and frees the same large arrays again and again (activations, their
    gradients, attention's probabilities: 3-13 MB each at the 10.7M-parameter GPT). glibc serves
    such sizes with ``mmap`` or, once a free has raised its threshold, from the heap, but it hands
    freed memory at the top of the heap back to the system as soon as more than twice that
    threshold is free; so every step took thousands of fresh pages, each a page fault and a page
    of zeros (5,000 a step at 10.7M). With :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` set
    through ``mallopt``, 250 a step. Measured on the GPT training step, one thread, CPU time,
    fresh processes taking turns (2-core Zen 4, load 8-11): 10.7M 1610 -> 1546 ms, 2.7M 359 ->
    333 ms. The price: the process keeps up to 1 GiB of freed memory for its own reuse.

    Called by :class:`micrograd_plus.optim.Optimizer` (a process that trains), not on import, so
    that a process which only imports the library (a benchmark's PyTorch peer, say) keeps glibc's
    defaults. A user who set any of glibc's own ``MALLOC_*`` variables or a ``glibc.malloc``
    tunable (``GLIBC_TUNABLES``) has decided, and is left alone. Runs once per process; returns
    True if it changed the settings.
    """
    if _memory_kept:
        return False
    _memory_kept.append(True)
    if any(name in environ for name in _GLIBC_MALLOC_VARIABLES) or "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""):
        return False
    if libc is None:
        import ctypes
        import platform

        if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
            return False
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:
            return False
    mmap_set = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)  # 1 on success
    trim_set = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_set and trim_set)


_FASTMATH = set(FASTMATH)  # IEEE NaN/inf rules kept: see kernels/_fastmath.py

#: Options for a compiled helper that only other compiled functions call: numba then builds no
#: wrapper to call it from Python (nor a C-callable one), which saved ~0.25 s of compilation per
#: dtype across attention's helpers. Calling such a helper from Python raises a TypeError; under
#: NUMBA_DISABLE_JIT=1 it is a plain Python function as usual.
INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


@njit(cache=True, error_model="numpy")
def cut(part, parts, units, unit, size):
    """Piece ``part`` of ``parts`` of ``range(size)`` cut on multiples of ``unit`` (``units`` of them,
    the last maybe short), as ``(start, stop)``: every piece whole units, the pieces' counts of
    units differing by at most one. How the matmul's threads share C's tiles and SGD's threads a
    parameter."""
    return (part * units // parts) * unit, min(((part + 1) * units // parts) * unit, size)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", **INTERNAL)
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


def kernel_array(a, dtype=None):
    """``a`` as the compiled kernels take it: a C-contiguous, writeable numpy array (in ``dtype``
    if given), the same array when it already is one, else a copy.

    numba compiles a kernel again for every new type of argument, and a read-only array (from
    ``np.broadcast_to``, a memory-mapped file, a frozen buffer) is a different type from a
    writeable one: a copy costs far less than a second compilation of a kernel family.
    """
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


def cores_are_free():
    """Whether threads will help: False while other processes keep the machine's cores busy.

    A parallel region waits at its end for every thread. When another process holds a core, one
    of our threads is often descheduled and the whole call waits for it. Measured on the 2-core
    development machine (Zen 4, KVM): beside ONE other busy process the GPT recipe's training
    step took 176 ms with two threads against 35-40 ms alone; at a load average of ~6 a product
    that takes 0.3 ms with two threads and 0.7 ms with one took 16 ms (median) with two. So
    products run serially while either

    * other processes used at least :data:`OTHERS_MAX_CORES` cores' worth of CPU time since the
      last check (Linux: the machine's busy time from ``/proc/stat`` minus this process's own
      CPU time, all its threads included -- :func:`others_cores`), or
    * the 1-minute load average exceeds 1.5x the number of cores (plus a margin for our own two
      threads): the only sign on systems without ``/proc/stat``.

    The check runs at most twice a second.

    Also False on any thread but the main one when numba's threading layer is ``workqueue``
    (what numba falls back to without OpenMP or TBB): it aborts the whole process when two
    threads run parallel regions at once, which a user's own threads calling the library would do.
    """
    if threading.current_thread() is not threading.main_thread() and not _parallel_regions_threadsafe():
        return False
    if _IGNORE_LOAD:
        return True
    now = time.monotonic()
    if now - _load_check[0] > 0.5:
        try:
            busy = os.getloadavg()[0] > 1.5 * N_CORES + 0.5
        except (AttributeError, OSError):  # no load average here (Windows): assume free
            busy = False
        others = others_cores()
        busy = busy or (others is not None and others >= OTHERS_MAX_CORES)
        _load_check[0] = now
        _load_check[1] = not busy
    return _load_check[1]


def others_cores():
    """How many cores' worth of CPU time other processes used since the last call: the machine's
    busy time (``/proc/stat``'s first line: user, nice, system, irq, softirq and steal, summed over
    every CPU) minus this process's own CPU time (``time.process_time``: every thread of ours,
    OpenMP's spinning ones included), divided by the wall time between the two calls.

    None when it cannot be known: no ``/proc/stat`` (not Linux), or the first call, or calls
    less than 50 ms apart (the counters tick 100 times a second).
    """
    busy = _machine_busy_seconds()
    if busy is None:
        return None
    reading = (time.monotonic(), busy, time.process_time())
    last, _cpu_reading[0] = _cpu_reading[0], reading
    if last is None or reading[0] - last[0] < 0.05:
        return None
    return max(0.0, (reading[1] - last[1]) - (reading[2] - last[2])) / (reading[0] - last[0])


def _machine_busy_seconds():
    """CPU seconds every CPU of the machine has spent busy since boot (``/proc/stat``'s first line:
    all but idle and iowait), or None without ``/proc/stat``."""
    try:
        with open("/proc/stat", "rb") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    if len(ticks) < 8:
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / _CLOCK_TICKS


def _parallel_regions_threadsafe():
    """Whether numba's threading layer lets several threads run parallel regions at once
    (``omp`` and ``tbb`` do, ``workqueue`` does not)."""
    try:
        numba.get_num_threads()  # starts numba's threads, which chooses the layer, if nothing has yet
        return numba.threading_layer() != "workqueue"
    except (ValueError, ImportError):  # no layer could be chosen: take no risk
        return False


def _ignore_load_from_environment(environ=os.environ):
    """``MICROGRAD_PLUS_IGNORE_LOAD``: "1" makes :func:`cores_are_free` always say yes (threads
    whenever an array is big enough, whatever else the machine runs: for a machine of your own,
    or a test that must take the threaded path); "0" or unset: look at the load. The answer is
    the same either way (every kernel gives the same bits on one thread or several); only the
    speed differs."""
    value = environ.get("MICROGRAD_PLUS_IGNORE_LOAD", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"MICROGRAD_PLUS_IGNORE_LOAD must be 0 or 1 (or unset), got {value!r}")
    return value == "1"


_IGNORE_LOAD = _ignore_load_from_environment()
N_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_load_check = [-1.0, True]  # [time of the last check, result]
_cpu_reading = [None]  # others_cores' last (wall time, machine busy seconds, our CPU seconds)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: Other processes using this many cores' worth of CPU (or more) send the kernels to one thread:
#: half a core on a 2-core machine, a quarter of the cores on bigger ones.
OTHERS_MAX_CORES = max(0.5, N_CORES / 4)


def threads_for(work, min_work, dtype=None):
    """How many threads a kernel call should use: ``numba.get_num_threads()`` (what the user set
    with ``numba.set_num_threads``, by default every core), or 1 when ``work`` (a count of numbers
    or multiply-adds, each kernel says which) is below ``min_work``, where starting threads costs
    more than it saves, or while other processes keep the cores busy (:func:`cores_are_free`).

    The kernels with a ``prange`` twin (matmul, attention, GELU, LayerNorm, cross-entropy, the SGD
    update) pass their ``dtype``: float64 work then gets 1 unless float64 threads are on
    (:func:`use_float64_threads`).
    """
    if work < min_work or not cores_are_free():
        return 1
    if dtype is not None and np.dtype(dtype).char == "d" and not _float64_threads[0]:
        return 1
    return numba.get_num_threads()


def use_float64_threads(on=True):
    """Let float64 matmul, attention, GELU, LayerNorm, cross-entropy and SGD use threads (``on``), or not (the
    default). Returns the previous setting. ``MICROGRAD_PLUS_FLOAT64_THREADS=1`` turns them on
    for a whole process.

    Why off: float64 is this library's checking precision -- gradcheck, the tests that hold each
    kernel to its numpy reference at 1e-12, the comparison with nanoGPT at 1e-15 -- while
    training runs in float32, as it does in PyTorch (and JAX goes further: no float64 unless asked).
    Each of those families has a ``parallel=True`` twin, and numba compiles a parallel
    function's callees once more inside it, so the twin costs about as much compilation as the
    rest of the family: in float64, 4.2-5.0 CPU s of the whole set's 21-26 s for four of them
    (2-core Zen 4, avx512f, ``python -m micrograd_plus.bench.compile_time``; attention's twin, added
    since, costs 4.3 s more in float32), for threads a checking run rarely needs.
    float64 still runs the same compiled loops, on one thread; Adam, whose threads are
    Python threads and cost no compilation, uses them in float64 too. With threads on,
    a float64 run pays that compilation once (numba caches it) and runs as the float32 one does.
    """
    if not isinstance(on, (bool, np.bool_)):  # ("0" or "off" would be truthy)
        raise TypeError(f"use_float64_threads: on must be True or False, got {on!r}")
    previous = _float64_threads[0]
    _float64_threads[0] = bool(on)
    return previous


def _float64_threads_from_environment(environ=os.environ):
    """``MICROGRAD_PLUS_FLOAT64_THREADS``: "1" on, "0" or unset off, anything else an error."""
    value = environ.get("MICROGRAD_PLUS_FLOAT64_THREADS", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"MICROGRAD_PLUS_FLOAT64_THREADS must be 0 or 1 (or unset), got {value!r}")
    return value == "1"


_float64_threads = [_float64_threads_from_environment()]


def split(n, parts):
    """``range(n)`` cut into ``parts`` contiguous runs ``[(lo, hi), ...]`` of near-equal length
    (never more runs than items, at least one)."""
    parts = max(1, min(parts, n))
    return [(r * n // parts, (r + 1) * n // parts) for r in range(parts)]


def run_in_threads(tasks):
    """Run ``[(function, args), ...]`` side by side and return their results, in order.

    The first task runs on the calling thread, every other on a worker thread; the call returns
    when all have finished, and an exception in any of them is raised here. The functions are
    compiled kernels that release the GIL (``nogil=True``) and write disjoint parts of their
    outputs. One task runs directly, with no thread involved.
    """
    if len(tasks) == 1:
        function, args = tasks[0]
        return [function(*args)]
    replies = [queue.SimpleQueue() for _ in tasks[1:]]
    inbox = _workers(len(tasks) - 1)
    for (function, args), reply in zip(tasks[1:], replies):
        inbox.put((function, args, reply))
    function, args = tasks[0]
    try:
        results = [function(*args)]
    finally:  # the workers write into the caller's arrays: wait for them, whatever happens here
        answers = [reply.get() for reply in replies]
    for ok, value in answers:
        if not ok:
            raise value
        results.append(value)
    return results


def _worker(inbox):
    """A worker thread's life: run tasks from ``inbox``, put ``(ok, result or exception)`` on
    each task's own reply queue (so two callers never receive each other's answers)."""
    while True:
        function, args, reply = inbox.get()
        try:
            reply.put((True, function(*args)))
        except BaseException as error:  # noqa: BLE001  (handed to the caller, which raises it)
            reply.put((False, error))


def _workers(count):
    """The queue the worker threads read, with at least ``count`` of them started (daemon
    threads: they never keep the interpreter alive)."""
    with _pool["lock"]:
        while _pool["threads"] < count:
            threading.Thread(target=_worker, args=(_pool["inbox"],), daemon=True,
                             name=f"micrograd_plus-kernels-{_pool['threads'] + 1}").start()
            _pool["threads"] += 1
    return _pool["inbox"]


def _new_pool():
    """No workers yet; also what a forked child starts from (it inherits no threads)."""
    _pool.update(inbox=queue.SimpleQueue(), threads=0, lock=threading.Lock())


_pool = {}
_new_pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pool)
