"""Benchmark: our numba matmul kernels against numpy's BLAS and (if installed) PyTorch.

For every shape the library really multiplies (a GPT layer's forward and both backward products,
the MNIST classifier's, one large square), it times the three contenders in one process, one
after another, in three turns (each contender's rounds of a turn back to back, after a pause that
lets the previous library's spinning worker threads go to sleep: see :func:`_time_rounds`). It
reports the median over rounds, in milliseconds and GFLOPS
(2·M·N·K floating point operations per product), and the throughput ratios ours/BLAS and
ours/torch (above 1 means ours is faster).

Run it with ``micrograd-plus bench matmul`` or ``micrograd-plus bench matmul``. numpy's
OpenBLAS is slowed by the ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` variables set on the
development machine; unset both (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``) to compare
against BLAS at its best. The header says which was in effect.
"""

import importlib
import os
import statistics
import time

import numpy as np

THREADS = 2

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


def _contenders(op, a, b):
    """name -> zero-argument callable computing the product, for each available contender."""
    # (the package's ``kernels.matmul`` attribute is the dispatching function, not this module)
    ours_mod = importlib.import_module("micrograd_plus.kernels.matmul")
    ours = {"nn": ours_mod.matmul, "nt": ours_mod.matmul_nt, "tn": ours_mod.matmul_tn}[op]
    blas = {"nn": lambda: a @ b, "nt": lambda: a @ b.T, "tn": lambda: a.T @ b}[op]
    out = {"ours": lambda: ours(a, b), "blas": blas}
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(THREADS)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    out["torch"] = {
        "nn": lambda: ta @ tb,
        "nt": lambda: ta @ tb.T,
        "tn": lambda: ta.T @ tb,
    }[op]
    return out


def _time_rounds(fns, repeats, passes=3, min_seconds=0.002, phase_settle=0.3, warmup_seconds=0.1):
    """Median and best seconds per call of each callable, over ``repeats`` rounds each, taken in
    ``passes`` turns: a few rounds of one contender back to back, then of the next, and round again.

    Tiny products take microseconds, below the timer's resolution and the noise, so each sample
    times ``n`` back-to-back calls, with ``n`` chosen in the warm-up so a sample lasts about
    ``min_seconds``.

    Why phases and not rounds interleaved call by call: each library keeps worker threads that
    busy-wait after a call, and a contender timed while another library's threads spin is timed
    fighting them for the two cores. OpenBLAS's threads spin for about 2^28 cycles (~0.1 s)
    after every call; interleaved with it, our (768, 128) @ (512, 128)ᵀ product ran at 32
    GFLOP/s instead of 120-130, and interleaved with torch at 84. So each contender runs its
    rounds of a turn back to back, after a ``phase_settle`` pause in which the previous one's
    threads go to sleep. Why several turns: on a shared virtual machine a neighbour's burst can
    slow everything for a tenth of a second, which is a whole turn here; with all the rounds of a
    contender in one turn, such a burst moved one product's ratio between 0.61x and 1.66x in two
    runs (2-core Zen 4, avx512f). Spread over three turns, a burst spoils a third of a
    contender's rounds, and the median of all of them stays with the undisturbed ones.
    """
    samples = {name: [] for name in fns}
    calls = {}
    per_pass = -(-repeats // passes)  # rounds a turn (ceil)
    for turn in range(passes):
        for name, fn in fns.items():
            time.sleep(phase_settle)  # the previous contender's threads stop spinning
            fn()  # compile (first turn), wake this contender's threads
            if name not in calls:
                t = time.perf_counter()
                fn()
                calls[name] = max(1, int(min_seconds / max(time.perf_counter() - t, 1e-7)))
            n = calls[name]
            t = time.perf_counter()
            while time.perf_counter() - t < warmup_seconds:
                fn()  # the process's first products page-fault thousands of times as its heap grows
            for _ in range(min(per_pass, repeats - len(samples[name]))):
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - t) / n)
    return ({name: statistics.median(v) for name, v in samples.items()},
            {name: min(v) for name, v in samples.items()})


def _header():
    import numba

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    lines = [
        "matmul benchmark: float32, median seconds per call over rounds (each contender's rounds back to back, in 3 turns)",
        f"numba {numba.__version__}, threads={numba.get_num_threads()}, "
        f"threading layer={_threading_layer()}; numpy {np.__version__}; "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}",
    ]
    try:
        import torch

        lines.append(f"torch {torch.__version__}, threads={THREADS}")
    except ImportError:
        lines.append("torch not installed: torch column skipped")
    return lines


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "not yet chosen"


def run(repeats=None, quick=False):
    """Run the benchmark and return (and print) the table as plain text.

    ``repeats``: timed rounds per shape and contender (default 21, or 5 with ``quick``). ``quick`` also
    skips the large square product. Besides the median ratios, the last column gives ours/BLAS
    from each contender's best round: on a shared machine, where a busy neighbour can stall a
    two-thread call for milliseconds, it shows what the code does when it gets the cores.
    """
    if repeats is None:
        repeats = 5 if quick else 21
    shapes = [s for s in SHAPES if not (quick and s[0].startswith("square"))]
    rng = np.random.default_rng(0)
    rows = []
    have_torch = False
    load_before = os.getloadavg()[0]
    for label, op, a_shape, b_shape in shapes:
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        fns = _contenders(op, a, b)
        have_torch = "torch" in fns
        med, best = _time_rounds(fns, repeats)
        rows.append((label, op, a_shape, b_shape, _flops(op, a_shape, b_shape), med, best))

    lines = _header()
    lines[0] += f", {repeats} rounds"
    _shared = importlib.import_module("micrograd_plus.kernels._shared")
    lines.append(
        f"1-minute load average before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        f"(ours uses threads only while it is below {1.5 * _shared.N_CORES + 0.5:.1f})"
    )
    head = f"{'product':<17} {'op':<3} {'a':>12} {'b':>12} | {'ours ms':>8} {'GF/s':>6} | {'BLAS ms':>8} {'GF/s':>6}"
    if have_torch:
        head += f" | {'torch ms':>8} {'GF/s':>6}"
    head += f" | {'ours/BLAS':>9}"
    if have_torch:
        head += f" {'ours/torch':>10}"
    head += f" | {'best o/B':>8}"
    lines += ["", head, "-" * len(head)]
    for label, op, a_shape, b_shape, flops, med, best in rows:
        line = (
            f"{label:<17} {op:<3} {str(a_shape):>12} {str(b_shape):>12} | "
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
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    run()
