"""``micrograd-plus bench``: time our engines and kernels against numpy's BLAS and PyTorch.

Every benchmark that has a peer (numpy's BLAS, PyTorch) runs each library alone in fresh
processes of its own, with its own defaults, as its users run it (the contenders taking turns):
matmul, attention, mnist, cnn and gpt (``bench._process.as_users_run_it``). Comparisons with our
own numpy references (the CNN's kernel table) stay in one process. All report medians and ratios. Each table's header says which way its ratio reads:
time ratios (ours / reference seconds) are faster below 1.0, throughput ratios (ours / reference
GFLOP/s, the matmul table) are faster above 1.0.
PyTorch is optional: install exactly ``pip install torch==2.13.0`` to get its column.

The environment on some machines sets OPENBLAS_CORETYPE, which slows numpy's BLAS; the runner
prints which BLAS numpy uses so the figures can be read honestly.
"""

import importlib
import sys
import time

from micrograd_plus.bench import results
from micrograd_plus._plumbing.cli_args import bounded_int, path_text
from micrograd_plus.bench._process import environment_summary

HELP = "time kernels and training steps against numpy's BLAS and PyTorch"

# name -> (module, what it measures)
BENCHMARKS = {
    "scalar": ("micrograd_plus.bench.scalar", "scalar engine vs the micrograd package (two-moons MLP step)"),
    "matmul": ("micrograd_plus.bench.matmul", "numba matmul forward and backward products vs BLAS / torch"),
    "attention": ("micrograd_plus.bench.attention", "fused causal attention fwd+bwd vs torch SDPA"),
    "rows": ("micrograd_plus.bench.rows", "LayerNorm and softmax + cross-entropy fwd+bwd vs torch"),
    "mnist": ("micrograd_plus.bench.mnist", "784-128-10 MLP, seconds per epoch vs torch"),
    "cnn": ("micrograd_plus.bench.cnn", "MNIST CNN training step vs torch (own processes); conv kernels vs BLAS"),
    "gpt": ("micrograd_plus.bench.gpt", "mini-GPT training step, ms per iteration vs torch"),
}


def add_arguments(parser):
    """Fill the ``bench`` subcommand's parser."""
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller runs (a smoke test)")
    parser.add_argument("--repeats", type=bounded_int(1, 10_000), default=None,
                        help="timed repeats per measurement (median reported; default: each benchmark's own)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--json", metavar="FILE", type=path_text, default=None,
                        help="also write the results to FILE (default in a source checkout: "
                             "micrograd_plus/bench/machines/<cpu>-<isa>.json, which the docs' performance page reads); "
                             "an existing results file gets these benchmarks' entries replaced, the others kept")
    parser.add_argument("--force", action="store_true",
                        help="replace a --json FILE that exists but is not a benchmark results file")


def run(args):
    """Run the chosen benchmarks one after another and print their tables."""
    if args.list:
        for name, (_, what) in BENCHMARKS.items():
            print(f"{name:10s} {what}")
        return 0
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    path = args.json or results.default_path()
    if path and not args.quick:  # before minutes of timing: a results file that cannot be written
        results.check_target(path, force=args.force)
    summary = environment_summary()
    print(summary)
    for name in names:
        module_name, what = BENCHMARKS[name]
        print(f"\n== {name}: {what}")
        start, load = time.perf_counter(), _load()
        module = importlib.import_module(module_name)
        with results.Tee() as printed:
            value = module.run(repeats=args.repeats, quick=args.quick)
        seconds = time.perf_counter() - start
        print(f"({name} took {seconds:.1f} s)")
        if path and not args.quick:  # a smoke test's figures are not worth keeping
            results.save(path, name, summary, printed.getvalue(), value if isinstance(value, dict) else None,
                         force=args.force, load_average=load)  # as it started: others' work (see below)
    if path and not args.quick:
        print(f"\nresults written to {path}")
    return 0


def _load():
    """The 1-minute load average (0.0 where the system has none, e.g. Windows).

    Read as a benchmark starts, and that is the figure kept: by its end the benchmark's own threads
    (two on a two-core machine) have pushed the average up by themselves, so the end figure would
    call every multithreaded benchmark "loaded" however quiet the machine was."""
    import os

    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0
