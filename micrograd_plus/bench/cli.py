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
import os
import platform
import sys
import time

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


def _start_torch_threads_first():
    """Start PyTorch's OpenMP thread pool (if torch is installed) before numba starts its own.

    numba and torch each bring an OpenMP runtime. Measured on the 2-core machine: when numba's
    pool starts first, torch's later two-thread calls ran 60-250x slower (its threads waiting
    on cores that numba's idle workers held); started in the other order, both run at speed.
    ``numba.get_num_threads()`` below starts numba's pool, so this must run before it.
    """
    try:
        import torch
    except ImportError:
        return
    torch.ones(64, 64) @ torch.ones(64, 64)  # a parallel op: the pool exists from here on


def in_child(module, function, *args, env_defaults=None, torch_first=False):
    """Run ``module.function(*args)`` in a fresh Python process; return its JSON-printed result.

    A fresh process decides which thread pools exist, in which order they start, and what the
    memory allocator has seen, whatever the calling process has already loaded or run.

    Args:
        module, function: dotted module name and the name of a function in it whose result is
            JSON-serialisable; ``args`` are passed through their ``repr``.
        env_defaults: environment variables to set in the child unless already set (OpenMP reads
            e.g. ``OMP_WAIT_POLICY`` once, when its runtime starts).
        torch_first: start PyTorch's thread pool before anything else (see
            :func:`_start_torch_threads_first`).
    """
    import json
    import subprocess

    env = dict(os.environ)
    for key, value in (env_defaults or {}).items():
        env.setdefault(key, value)
    code = "import json\n"
    if torch_first:
        code += "from micrograd_plus.bench.cli import _start_torch_threads_first\n_start_torch_threads_first()\n"
    code += f"from {module} import {function}\nprint(json.dumps({function}(*{list(args)!r})))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child process {module}.{function} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def environment_summary():
    """A few lines describing the machine and the libraries, printed above every benchmark table."""
    import numpy as np

    lines = [f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs"]
    _start_torch_threads_first()
    try:
        import numba

        lines.append(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
                     f"NUMBA_DISABLE_JIT={os.environ.get('NUMBA_DISABLE_JIT', '0')}")
    except Exception as exc:  # pragma: no cover - numba is a hard dependency
        lines.append(f"numba unavailable: {exc}")
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS: {info.get('internal_api')} {info.get('version')}, "
                             f"{info.get('num_threads')} threads, core {info.get('architecture')}")
    except ImportError:
        lines.append("BLAS: (install threadpoolctl to see which BLAS numpy uses)")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(f"note: {var}={os.environ[var]} is set (it slows numpy's BLAS on this CPU)")
    try:
        import torch

        lines.append(f"torch {torch.__version__}")
    except ImportError:
        lines.append("torch not installed: PyTorch columns are skipped (pip install torch==2.13.0)")
    return "\n".join(lines)


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
