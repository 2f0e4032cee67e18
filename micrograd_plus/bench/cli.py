"""``micrograd-plus bench``: time our engines and kernels against numpy's BLAS and PyTorch.

Each benchmark runs ours and the reference side by side in one process, interleaved, after a
warm-up, and reports medians and ratios. Each table's header says which way its ratio reads:
time ratios (ours / reference seconds) are faster below 1.0, throughput ratios (ours / reference
GFLOP/s, the matmul table) are faster above 1.0.
PyTorch is optional: install exactly ``pip install torch==2.13.0`` to get its column.

The environment on some machines sets OPENBLAS_CORETYPE, which slows numpy's BLAS; the runner
prints which BLAS numpy uses so the figures can be read honestly.
"""

import importlib
import sys
import time

from micrograd_plus.bench._process import environment_summary

HELP = "time kernels and training steps against numpy's BLAS and PyTorch"

# name -> (module, what it measures)
BENCHMARKS = {
    "scalar": ("micrograd_plus.bench.scalar", "scalar engine vs the micrograd package (two-moons MLP step)"),
    "matmul": ("micrograd_plus.bench.matmul", "numba matmul forward and backward products vs BLAS / torch"),
    "attention": ("micrograd_plus.bench.attention", "fused causal attention fwd+bwd vs torch SDPA"),
    "rows": ("micrograd_plus.bench.rows", "LayerNorm and softmax + cross-entropy fwd+bwd vs torch"),
    "mnist": ("micrograd_plus.bench.mnist", "784-128-10 MLP, seconds per epoch vs torch"),
    "gpt": ("micrograd_plus.bench.gpt", "mini-GPT training step, ms per iteration vs torch"),
}


def add_arguments(parser):
    """Fill the ``bench`` subcommand's parser."""
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller runs (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median reported)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")


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
    print(environment_summary())
    for name in names:
        module_name, what = BENCHMARKS[name]
        print(f"\n== {name}: {what}")
        start = time.perf_counter()
        module = importlib.import_module(module_name)
        module.run(repeats=args.repeats, quick=args.quick)
        print(f"({name} took {time.perf_counter() - start:.1f} s)")
    return 0
