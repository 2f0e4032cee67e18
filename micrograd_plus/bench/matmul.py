"""Benchmark: our numba matmul kernels against numpy's BLAS and (if installed) PyTorch.

For every shape the library really multiplies (a GPT layer's forward and both backward products,
the MNIST classifier's, one large square), it times each contender **alone in a fresh process of
its own, with its own defaults** (:func:`~micrograd_plus.bench._process.as_users_run_it`): ours
with what importing micrograd_plus sets, numpy's BLAS with no numba loaded beside it, PyTorch with
its own thread count and OpenMP settings -- never a setting we chose for it (this library's
``GOMP_SPINCOUNT``, a thread count): that is how each one's users run it, and a peer sharing our
process or our OpenMP policy ran up to 1.5x slower (issue 26), which flattered us. The contenders
take three turns (ours, BLAS, torch, ours, ...), each turn a new process timing every shape, so a
burst of load from elsewhere spoils a third of a contender's rounds rather than all of them. It
reports the median over rounds, in milliseconds and GFLOPS (2·M·N·K floating point operations per
product), and the throughput ratios ours/BLAS and ours/torch (above 1 means ours is faster).

Products of at most ``BLAS_MAX_MNK`` multiply-adds are handed to numpy's BLAS by our own
``matmul`` (see :mod:`micrograd_plus.kernels.matmul`); their rows are marked, and the ours column
then shows what a user of the library gets there: BLAS plus our checks.

Run it with ``micrograd-plus bench matmul``. numpy's OpenBLAS is slowed by the
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` variables if they are set; unset both
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``) to compare against BLAS at its best. The
header says which was in effect.
"""

import importlib
import os
import statistics
import time

import numpy as np

# (label, op, shape of a, shape of b). op: "nn" a @ b, "nt" a @ b.T, "tn" a.T @ b.
# The library's linear layer (``F.linear``) stores W as (out, in) like PyTorch: its forward is
# ``matmul_nt(x, W)``, dx is ``matmul(g, W)`` and dW is ``matmul_tn(g, x)``. The GPT rows are
# those products for the MLP of the default GPT (768 tokens per batch, width 128, hidden 512) and
# its 65-character output head. The MNIST rows are the classifier's (batch 64, 784-128-10), both
# as the library runs it (W out x in) and in the x @ W form (W in x out).
SHAPES = [
    ("gpt fc fwd", "nt", (768, 128), (512, 128)),
    ("gpt fc dX", "nn", (768, 512), (512, 128)),
    ("gpt fc dW", "tn", (768, 512), (768, 128)),
    ("gpt proj fwd", "nt", (768, 512), (128, 512)),
    ("gpt proj dX", "nn", (768, 128), (128, 512)),
    ("gpt proj dW", "tn", (768, 128), (768, 512)),
    ("gpt head fwd", "nt", (768, 128), (65, 128)),
    ("gpt head dX", "nn", (768, 65), (65, 128)),
    ("gpt head dW", "tn", (768, 65), (768, 128)),
    ("mnist fc1 fwd", "nt", (64, 784), (128, 784)),
    ("mnist fc1 dX", "nn", (64, 128), (128, 784)),
    ("mnist fc1 dW", "tn", (64, 128), (64, 784)),
    ("mnist fc2 fwd", "nt", (64, 128), (10, 128)),
    ("mnist fc2 dX", "nn", (64, 10), (10, 128)),
    ("mnist fc2 dW", "tn", (64, 10), (64, 128)),
    ("mnist x@W fc1 fwd", "nn", (64, 784), (784, 128)),
    ("mnist x@W fc1 dX", "nt", (64, 128), (784, 128)),
    ("mnist x@W fc1 dW", "tn", (64, 784), (64, 128)),
    ("mnist x@W fc2 fwd", "nn", (64, 128), (128, 10)),
    ("mnist x@W fc2 dX", "nt", (64, 10), (128, 10)),
    ("mnist x@W fc2 dW", "tn", (64, 128), (64, 10)),
    ("square 1024", "nn", (1024, 1024), (1024, 1024)),
]


def _flops(op, a_shape, b_shape):
    """2·M·N·K for the product; K is the summed axis of ``a``."""
    k = a_shape[0] if op == "tn" else a_shape[1]
    m = a_shape[1] if op == "tn" else a_shape[0]
    n = b_shape[0] if op == "nt" else b_shape[1]
    return 2 * m * n * k


def _contender(name, op, a, b):
    """A zero-argument callable computing the product the way contender ``name`` does: ``"ours"``
    (the library's kernels), ``"blas"`` (numpy's ``@``) or ``"torch"``."""
    if name == "ours":
        # (the package's ``kernels.matmul`` attribute is the dispatching function, not this module)
        ours_mod = importlib.import_module("micrograd_plus.kernels.matmul")
        ours = {"nn": ours_mod.matmul, "nt": ours_mod.matmul_nt, "tn": ours_mod.matmul_tn}[op]
        return lambda: ours(a, b)
    if name == "blas":
        return {"nn": lambda: a @ b, "nt": lambda: a @ b.T, "tn": lambda: a.T @ b}[op]
    import torch

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return {"nn": lambda: ta @ tb, "nt": lambda: ta @ tb.T, "tn": lambda: ta.T @ tb}[op]


def _contender_samples(name, rounds, quick):
    """(Child process) seconds per call of contender ``name`` at every shape: ``{label: [sample,
    ...]}``, ``rounds`` samples each after a warm-up, and the threads it ran with."""
    if name == "torch":
        import torch  # first, with nothing of ours loaded: its thread pool as its users get it

        threads = torch.get_num_threads()
    elif name == "ours":
        import numba

        threads = numba.get_num_threads()
    else:
        from threadpoolctl import threadpool_info

        threads = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)
    rng = np.random.default_rng(0)
    out = {}
    for label, op, a_shape, b_shape in _shapes(quick):
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        out[label] = _time_rounds(_contender(name, op, a, b), rounds)
    return {"samples": out, "threads": threads}


def _shapes(quick):
    return [s for s in SHAPES if not (quick and s[0].startswith("square"))]


def _time_rounds(fn, rounds, min_seconds=0.002, warmup_seconds=0.1):
    """``rounds`` samples of seconds per call of ``fn``, timed back to back after a warm-up.

    Tiny products take microseconds, below the timer's resolution and the noise, so each sample
    times ``n`` back-to-back calls, with ``n`` chosen in the warm-up so a sample lasts about
    ``min_seconds``. The warm-up also lets the process's first products page-fault as its heap
    grows, and starts the contender's worker threads.
    """
    fn()  # compile (ours), start thread pools
    t = time.perf_counter()
    fn()
    n = max(1, int(min_seconds / max(time.perf_counter() - t, 1e-7)))
    t = time.perf_counter()
    while time.perf_counter() - t < warmup_seconds:
        fn()
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n)
    return samples


def _samples_alone(repeats, quick, turns=3):
    """Every contender's samples at every shape, each contender in a fresh process of its own per
    turn, taking ``turns`` turns: ``({name: {label: [seconds, ...]}}, {name: threads})``."""
    from micrograd_plus.bench._process import as_users_run_it  # deferred: the CLI imports this module for its docstring

    names = ["ours", "blas"] + (["torch"] if _have_torch() else [])
    samples, threads = {n: {} for n in names}, {}
    for turn in range(turns):
        rounds = repeats // turns + (turn < repeats % turns)
        if rounds == 0:
            continue
        for name in names:
            got = as_users_run_it(__name__, "_contender_samples", name, rounds, quick)
            threads[name] = got["threads"]
            for label, values in got["samples"].items():
                samples[name].setdefault(label, []).extend(values)
    return samples, threads


def _have_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _header(repeats, threads, load_before):
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    blas_max = importlib.import_module("micrograd_plus.kernels.matmul").BLAS_MAX_MNK
    load = f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"
    return [
        f"matmul benchmark: float32, median seconds per call over {repeats} rounds; each contender alone in a "
        "fresh process of its own with its own defaults (3 turns: ours, BLAS, torch, ours, ...)",
        "threads (each library's own default): " + ", ".join(f"{n} {t}" for n, t in threads.items())
        + f"; numpy {np.__version__}; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}",
        f"1-minute load average before/after: {load_before} / {load} (ours uses threads only while it is "
        "below 1.5 x cores + 0.5 and other processes use less than half a core: kernels._shared.cores_are_free)",
        f"* products of at most {blas_max:,} multiply-adds: our matmul hands them to numpy's BLAS (BLAS_MAX_MNK)",
    ]


def run(repeats=None, quick=False):
    """Run the benchmark and return (and print) the table as plain text.

    ``repeats``: timed rounds per shape and contender (default 21, or 6 with ``quick``). ``quick`` also
    skips the large square product. Besides the median ratios, the last column gives ours/BLAS
    from each contender's best round: on a shared machine, where a busy neighbour can stall a
    two-thread call for milliseconds, it shows what the code does when it gets the cores.
    """
    if repeats is None:
        repeats = 6 if quick else 21
    load_before = f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"
    samples, threads = _samples_alone(repeats, quick)
    have_torch = "torch" in samples
    blas_max = importlib.import_module("micrograd_plus.kernels.matmul").BLAS_MAX_MNK
    rows = []
    for label, op, a_shape, b_shape in _shapes(quick):
        med = {n: statistics.median(samples[n][label]) for n in samples}
        best = {n: min(samples[n][label]) for n in samples}
        rows.append((label, op, a_shape, b_shape, _flops(op, a_shape, b_shape), med, best))

    lines = _header(repeats, threads, load_before)
    head = f"{'product':<18} {'op':<3} {'a':>12} {'b':>12} | {'ours ms':>8} {'GF/s':>6} | {'BLAS ms':>8} {'GF/s':>6}"
    if have_torch:
        head += f" | {'torch ms':>8} {'GF/s':>6}"
    head += f" | {'ours/BLAS':>9}"
    if have_torch:
        head += f" {'ours/torch':>10}"
    head += f" | {'best o/B':>8}"
    lines += ["", head, "-" * len(head)]
    for label, op, a_shape, b_shape, flops, med, best in rows:
        mark = "*" if flops // 2 <= blas_max else " "
        line = (
            f"{label + mark:<18} {op:<3} {str(a_shape):>12} {str(b_shape):>12} | "
            f"{med['ours'] * 1e3:8.3f} {flops / med['ours'] / 1e9:6.1f} | "
            f"{med['blas'] * 1e3:8.3f} {flops / med['blas'] / 1e9:6.1f}"
        )
        if have_torch:
            line += f" | {med['torch'] * 1e3:8.3f} {flops / med['torch'] / 1e9:6.1f}"
        line += f" | {med['blas'] / med['ours']:9.2f}"
        if have_torch:
            line += f" {med['torch'] / med['ours']:10.2f}"
        line += f" | {best['blas'] / best['ours']:8.2f}"
        lines.append(line)
    gpt = [(med["blas"] / med["ours"], best["blas"] / best["ours"])
           for label, *_, med, best in rows if label.startswith("gpt")]
    if gpt:
        lines.append("")
        for name, values in (("median", [g[0] for g in gpt]), ("best", [g[1] for g in gpt])):
            geo = float(np.exp(np.mean(np.log(values))))
            lines.append(f"GPT rows ours/BLAS ({name}): min {min(values):.2f}, geometric mean {geo:.2f}")
    lines.append("")
    lines.append("ratios are throughput ours/peer (time of peer / time of ours): above 1.00 means ours is faster")
    if not have_torch:
        lines.append("torch not installed: torch column skipped")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    run()
