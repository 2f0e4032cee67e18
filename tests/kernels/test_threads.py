"""Threads in the kernels: when they are used, and that every path agrees with the reference.

Attention hands runs of heads to numba's threads (``_heads_parallel``); GELU, LayerNorm,
cross-entropy and the SGD update cut their arrays into one slice per thread inside a ``prange``
(``*_parallel``); Adam hands its parameters to Python threads
(:func:`~micrograd_plus.kernels._shared.run_in_threads`). All of them
use threads only above a size threshold and while the machine's cores are free
(:func:`~micrograd_plus.kernels._shared.threads_for`). Each test here forces one path -- threads
(thresholds set to 0, the cores declared free, three threads) or the calling thread alone (the
cores declared busy) -- checks that the path was really taken, and holds the result equal to the
numpy reference. Shapes are small so this also runs under ``NUMBA_DISABLE_JIT=1``.
"""

import importlib
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

from micrograd_plus.kernels import _shared
from micrograd_plus.kernels import attention as A
from micrograd_plus.kernels import cross_entropy as CE
from micrograd_plus.kernels import elementwise as E
from micrograd_plus.kernels import layer_norm as LN
from micrograd_plus.kernels import optim as OPT

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]
# the prange twins, called from Python only (so a Python spy can stand in front of them)
PARALLEL = {E: ("_gelu_parallel",), LN: ("_rows_parallel",), CE: ("_rows_parallel",), A: ("_heads_parallel",)}


def _chunks(name, last):
    """How many chunks a prange twin was given, from its last argument: a number of chunks, an
    array with one row (or element) per chunk (LayerNorm's partial sums, cross-entropy's counts of
    bad targets), or, for attention, where each run of heads starts and the end."""
    if name == "_heads_parallel":
        return last.shape[0] - 1
    return last if isinstance(last, int) else last.shape[0]


@pytest.fixture(params=["threads", "one thread"])
def path(request, monkeypatch):
    """Force one path through every kernel; record the ``chunks`` each call of a prange twin was
    given (a call that stays serial records nothing)."""
    calls = []
    for module, names in PARALLEL.items():
        for name in names:
            real = getattr(module, name)
            monkeypatch.setattr(module, name, lambda *args, real=real, name=name: (
                calls.append((name, _chunks(name, args[-1]))), real(*args))[1])
    if request.param == "threads":
        monkeypatch.setattr(A, "_THREADS_MIN", 0)
        for module in (E, LN, CE):
            monkeypatch.setattr(module, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
        monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 3)
    else:
        monkeypatch.setattr(_shared, "cores_are_free", lambda: False)
    yield request.param, calls
    if request.param == "threads":  # one chunk per thread, except LayerNorm's backward, whose
        # chunks are fixed by its rows (sum_chunks) so that its sums are the same on any thread count
        assert calls and all(n == 3 or n == LN.sum_chunks(10) for what, n in calls) and all(
            n > 1 for _, n in calls), calls
    else:  # no prange twin at all
        assert not calls, calls


def _close(actual, expected, dtype, what):
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("shape", [(7, 1, 9, 5), (5, 1, 64, 32)])
def test_attention_both_paths_match_reference(path, dtype, causal, shape, rng):
    """7 or 5 heads (uneven runs over 3 threads): T = 9 and D = 5 (the last block of queries
    overlapping, D padded to whole vectors), and a GPT head (T = 64, D = 32: no padding)."""
    q, k, v, dout = ((rng.standard_normal(shape)).astype(dtype) for _ in range(4))
    out, stats = A.attention_forward(q, k, v, 0.4, causal)
    out_ref, p_ref = A.attention_forward_reference(q, k, v, 0.4, causal)
    _close(out, out_ref, dtype, "out")
    grads = A.attention_backward(dout, q, k, v, out, stats, 0.4, causal)
    grads_ref = A.attention_backward_reference(dout, q, k, v, out_ref, p_ref, 0.4, causal)
    for name, g, g_ref in zip(("dq", "dk", "dv"), grads, grads_ref):
        _close(g, g_ref, dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
def test_attention_packed_layout_both_paths_match_reference(path, dtype, causal, rng):
    """GPT's packed qkv (B, T, 3C) read in place (heads one vector wide), 3 batch entries x 2 heads
    shared out among threads: runs of heads end in the middle of a token's row of qkv."""
    vbytes, _ = A._blocking()
    hs = vbytes // np.dtype(dtype).itemsize
    x = rng.standard_normal((3, 9, 3 * 2 * hs)).astype(dtype)
    dy = rng.standard_normal((3, 9, 2 * hs)).astype(dtype)
    y, stats = A.attention_qkv_forward(x, 2, 0.3, causal)
    y_ref, p_ref = A.attention_qkv_forward_reference(x, 2, 0.3, causal)
    _close(y, y_ref, dtype, "y")
    _close(A.attention_qkv_backward(dy, x, 2, stats, 0.3, causal),
           A.attention_qkv_backward_reference(dy, x, 2, p_ref, 0.3, causal), dtype, "dqkv")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_both_paths_match_reference(path, dtype, rng):
    """11 elements in a (11,) and a (2, 3, 5)-shaped array: slices of uneven length."""
    for shape in ((11,), (2, 3, 5)):
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        _close(E.gelu_forward(x), E.gelu_forward_reference(x), dtype, "gelu")
        _close(E.gelu_backward(g, x), E.gelu_backward_reference(g, x), dtype, "gelu backward")
        y, t = E.gelu_tanh_forward(x)
        y_ref, t_ref = E.gelu_tanh_forward_reference(x)
        _close(y, y_ref, dtype, "gelu tanh")
        _close(E.gelu_tanh_backward(g, x, t), E.gelu_tanh_backward_reference(g, x, t_ref), dtype,
               "gelu tanh backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_both_paths_match_reference(path, dtype, rng):
    """10 rows over 3 threads; dweight and dbias are sums over every thread's rows."""
    x = rng.standard_normal((10, 7)).astype(dtype)
    w, b = rng.standard_normal(7).astype(dtype), rng.standard_normal(7).astype(dtype)
    g = rng.standard_normal((10, 7)).astype(dtype)
    y, mean, rstd = LN.layer_norm_forward(x, w, b, 1e-5)
    for got, want, what in zip((y, mean, rstd), LN.layer_norm_forward_reference(x, w, b, 1e-5),
                               ("y", "mean", "rstd")):
        _close(got, want, dtype, what)
    for got, want, what in zip(LN.layer_norm_backward(g, x, w, mean, rstd),
                               LN.layer_norm_backward_reference(g, x, w, mean, rstd),
                               ("dx", "dweight", "dbias")):
        _close(got, want, dtype, what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_both_paths_match_reference(path, dtype, rng):
    """10 rows over 3 threads, one row ignored; an out-of-range target in any thread's rows
    still raises."""
    logits = (rng.standard_normal((10, 6)) * 2).astype(dtype)
    target = rng.integers(0, 6, 10)
    target[3] = -100
    nll, lse = CE.cross_entropy_forward(logits, target)
    nll_ref, lse_ref = CE.cross_entropy_forward_reference(logits, target)
    _close(nll, nll_ref, dtype, "nll")
    _close(lse, lse_ref, dtype, "lse")
    w = rng.standard_normal(10).astype(dtype)
    _close(CE.cross_entropy_backward(w, logits, target, lse), CE.cross_entropy_backward_reference(
        w, logits, target, lse_ref), dtype, "dlogits")
    target[9] = 6  # in the last run
    with pytest.raises(IndexError, match="target class 6 is out of range for 6 classes"):
        CE.cross_entropy_forward(logits, target)


# ---- the helpers themselves --------------------------------------------------------------------

def test_split_covers_the_range_in_order():
    assert _shared.split(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert _shared.split(2, 4) == [(0, 1), (1, 2)]  # never more runs than items
    assert _shared.split(0, 2) == [(0, 0)]  # at least one (an empty call)
    assert _shared.split(5, 1) == [(0, 5)]


def test_threads_for_follows_size_and_load(monkeypatch):
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
    assert _shared.threads_for(100, 100) == 2
    assert _shared.threads_for(99, 100) == 1
    monkeypatch.setattr(_shared, "cores_are_free", lambda: False)
    assert _shared.threads_for(10**9, 100) == 1


def test_float64_uses_one_thread_unless_switched_on(monkeypatch):
    """By default a kernel with a prange twin runs float64 on the calling thread, whatever its
    size, while float32 gets every thread; use_float64_threads(True) gives float64 them too."""
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
    assert _shared.use_float64_threads(False) is True  # this folder's tests switch them on
    assert _shared.threads_for(10**9, 100, np.float64) == 1
    assert _shared.threads_for(10**9, 100, np.float32) == 2
    assert _shared.threads_for(10**9, 100) == 2  # no dtype (attention, Adam): threads
    assert _shared.use_float64_threads(True) is False
    assert _shared.threads_for(10**9, 100, np.float64) == 2


def test_float64_default_calls_no_parallel_twin(monkeypatch, rng):
    """With float64 threads off (the default), big float64 arrays never reach a prange twin,
    while the same float32 arrays do: every twin is replaced by a spy that records its calls."""
    MM = importlib.import_module("micrograd_plus.kernels.matmul")  # (the package's `matmul` is the function)

    monkeypatch.setattr(_shared, "_float64_threads", [False])
    monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 2)
    calls = []
    spied = [(MM, "_gemm_parallel"), (E, "_gelu_parallel"), (LN, "_rows_parallel"), (CE, "_rows_parallel"),
             (OPT, "_sgd_parallel")]
    for module, name in spied:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, module=module: (
            calls.append(module.__name__.rsplit(".", 1)[1]), real(*a))[1])
    for dtype in (np.float64, np.float32):
        calls.clear()
        x = rng.standard_normal((256, 256)).astype(dtype)  # 65,536 numbers, 33.5M flops: over every threshold
        MM.matmul(x, x)
        E.gelu_forward(x)
        _, mean, rstd = LN.layer_norm_forward(x, None, None, 1e-5)
        LN.layer_norm_backward(x, x, None, mean, rstd)
        CE.cross_entropy_forward(x, np.zeros(256, np.int64))
        OPT.sgd_update(x.copy(), x, x.copy(), 0.1, 0.9)
        expected = [] if dtype == np.float64 else ["matmul", "elementwise", "layer_norm", "layer_norm",
                                                   "cross_entropy", "optim"]
        assert calls == expected, (np.dtype(dtype).name, calls)


@pytest.mark.parametrize("on", ["0", "off", 1, None])
def test_use_float64_threads_takes_only_a_bool(on):
    with pytest.raises(TypeError, match="use_float64_threads: on must be True or False"):
        _shared.use_float64_threads(on)


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True), (" 1 ", True)])
def test_float64_threads_from_the_environment(value, expected):
    assert _shared._float64_threads_from_environment({"MICROGRAD_PLUS_FLOAT64_THREADS": value}) is expected
    assert _shared._float64_threads_from_environment({}) is False


def test_float64_threads_environment_rejects_other_values():
    with pytest.raises(ValueError, match="MICROGRAD_PLUS_FLOAT64_THREADS must be 0 or 1 .* got 'yes'"):
        _shared._float64_threads_from_environment({"MICROGRAD_PLUS_FLOAT64_THREADS": "yes"})


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True)])
def test_ignore_load_from_the_environment(value, expected):
    assert _shared._ignore_load_from_environment({"MICROGRAD_PLUS_IGNORE_LOAD": value}) is expected
    with pytest.raises(ValueError, match="MICROGRAD_PLUS_IGNORE_LOAD must be 0 or 1 .* got 'on'"):
        _shared._ignore_load_from_environment({"MICROGRAD_PLUS_IGNORE_LOAD": "on"})


def test_ignore_load_says_the_cores_are_free_on_a_busy_machine(monkeypatch):
    monkeypatch.setattr(_shared.os, "getloadavg", lambda: (1000.0, 1000.0, 1000.0))
    monkeypatch.setattr(_shared, "others_cores", lambda: None)  # only the load average speaks
    monkeypatch.setattr(_shared, "_load_check", [-1.0, True])
    monkeypatch.setattr(_shared, "_IGNORE_LOAD", False)
    assert _shared.cores_are_free() is False
    monkeypatch.setattr(_shared, "_IGNORE_LOAD", True)
    assert _shared.cores_are_free() is True


def test_run_in_threads_results_in_order_on_other_threads():
    """The first task runs on the calling thread, the others elsewhere; results keep task order."""
    caller = threading.get_ident()
    results = _shared.run_in_threads([(lambda i: (i, threading.get_ident()), (i,)) for i in range(3)])
    assert [i for i, _ in results] == [0, 1, 2]
    assert results[0][1] == caller and results[1][1] != caller and results[2][1] != caller


def test_run_in_threads_raises_a_workers_error_after_all_finish():
    """An exception on a worker comes out of the call, and only once every task has finished
    (they write into the caller's arrays)."""
    done = []

    def slow(i):
        threading.Event().wait(0.05)
        done.append(i)

    def fail():
        raise ValueError("worker says no")

    with pytest.raises(ValueError, match="worker says no"):
        _shared.run_in_threads([(slow, (0,)), (fail, ()), (slow, (2,))])
    assert sorted(done) == [0, 2]


def test_workqueue_layer_keeps_parallel_regions_on_the_main_thread(monkeypatch):
    """Under numba's workqueue layer only the main thread may run parallel regions (two at once
    abort the process): cores_are_free() says False on any other thread, True on the main one."""
    monkeypatch.setattr(_shared, "_load_check", [float("inf"), True])  # the load: free
    monkeypatch.setattr(_shared.numba, "threading_layer", lambda: "workqueue")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_shared.cores_are_free()))
    worker.start()
    worker.join()
    assert seen == [False]
    assert _shared.cores_are_free() is True
    monkeypatch.setattr(_shared.numba, "threading_layer", lambda: "omp")
    worker = threading.Thread(target=lambda: seen.append(_shared.cores_are_free()))
    worker.start()
    worker.join()
    assert seen == [False, True]


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no parallel regions under NUMBA_DISABLE_JIT=1")
def test_two_user_threads_under_workqueue_do_not_abort():
    """The library called from two Python threads at once, with numba's workqueue threading layer
    forced: the process used to abort (exit code 134) in matmul's parallel regions."""
    code = (
        "import threading, numpy as np\n"
        "from micrograd_plus import kernels\n"
        "a = np.arange(512 * 512, dtype=np.float32).reshape(512, 512) % 7\n"
        "want = a @ a\n"
        "kernels.matmul(a, a)\n"
        "bad = []\n"
        "def work():\n"
        "    for _ in range(10):\n"
        "        if not np.allclose(kernels.matmul(a, a), want, rtol=1e-5): bad.append(1)\n"
        "ts = [threading.Thread(target=work) for _ in range(2)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "import numba; print(numba.threading_layer(), len(bad))\n")
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", MICROGRAD_PLUS_QUIET_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["workqueue", "0"]


# ---- the OpenMP spin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [({}, "30000"), ({"GOMP_SPINCOUNT": "5"}, "5"), ({"OMP_WAIT_POLICY": "ACTIVE"}, None)],
)
def test_short_openmp_spin_unless_the_user_chose(given, expected):
    """Idle OpenMP threads get a short spin by default; a user's own setting is left alone."""
    environ = dict(given)
    _shared.short_openmp_spin(environ)
    assert environ.get("GOMP_SPINCOUNT") == expected
    assert environ.get("OMP_WAIT_POLICY") == given.get("OMP_WAIT_POLICY")


def test_importing_the_kernels_sets_the_spin():
    """In a fresh process the variable is set as soon as the kernels are imported, so it is in
    the environment when numba's OpenMP runtime starts, at the first parallel region."""
    code = "import os\nimport micrograd_plus.kernels\nprint(os.environ.get('GOMP_SPINCOUNT'))\n"
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "30000"


# ---- other processes' CPU time ------------------------------------------------------------------


class _Clock:
    """Stand-ins for time.monotonic / time.process_time that the test moves by hand."""

    def __init__(self):
        self.wall, self.ours = 100.0, 5.0

    def monotonic(self):
        return self.wall

    def process_time(self):
        return self.ours


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    busy = [1000.0]
    monkeypatch.setattr(_shared, "time", c)
    monkeypatch.setattr(_shared, "_machine_busy_seconds", lambda: busy[0])
    monkeypatch.setattr(_shared, "_cpu_reading", [None])
    c.machine = busy
    return c


def test_others_cores_is_the_machines_busy_time_minus_ours(clock):
    """Over 1 s of wall time the machine was busy 1.8 CPU-seconds, 0.7 of them ours (all our
    threads): other processes used 1.1 cores. Nothing known on the first call or 10 ms later."""
    assert _shared.others_cores() is None  # first reading
    clock.wall += 1.0
    clock.machine[0] += 1.8
    clock.ours += 0.7
    assert _shared.others_cores() == pytest.approx(1.1)
    clock.wall += 0.01
    assert _shared.others_cores() is None  # too soon to tell (the counters tick every 10 ms)
    clock.wall += 2.0
    clock.machine[0] += 1.0
    clock.ours += 1.0  # all of it ours: a quiet machine while we ran two threads
    assert _shared.others_cores() == pytest.approx(0.0)


@pytest.mark.parametrize("others, free", [(None, True), (0.0, True), (0.3, True), (0.6, False), (1.0, False)])
def test_one_busy_process_sends_the_kernels_to_one_thread(monkeypatch, others, free):
    """At a low load average the cores are free unless other processes keep half a core (on this
    2-core scale) busy: beside one busy process two threads ran the GPT step 5x slower."""
    monkeypatch.setattr(_shared, "_IGNORE_LOAD", False)
    monkeypatch.setattr(_shared.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    monkeypatch.setattr(_shared, "others_cores", lambda: others)
    monkeypatch.setattr(_shared, "OTHERS_MAX_CORES", 0.5)
    monkeypatch.setattr(_shared, "_load_check", [-1.0, not free])  # the opposite, so the check must run
    assert _shared.cores_are_free() is free


def test_machine_busy_seconds_reads_proc_stat():
    """On Linux the first line of /proc/stat gives a non-negative count that never goes down."""
    first = _shared._machine_busy_seconds()
    if not os.path.exists("/proc/stat"):
        assert first is None
        return
    assert first is not None and first >= 0
    assert _shared._machine_busy_seconds() >= first
