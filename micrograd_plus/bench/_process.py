"""What every benchmark shares: fresh child processes, thread-pool order, the machine's description.

The benchmark modules import this (never ``bench.cli``, which imports them by name), so the
imports flow one way: ``cli -> attention, gpt, ... -> _process``.
"""

import os
import platform
import sys


def start_torch_threads_first():
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


def in_child(module, function, *args, env_defaults=None, torch_first=False, unset=()):
    """Run ``module.function(*args)`` in a fresh Python process; return its JSON-printed result.

    A fresh process decides which thread pools exist, in which order they start, and what the
    memory allocator has seen, whatever the calling process has already loaded or run.

    Args:
        module, function: dotted module name and the name of a function in it whose result is
            JSON-serialisable; ``args`` are passed through their ``repr``.
        env_defaults: environment variables to set in the child unless already set (OpenMP reads
            e.g. ``OMP_WAIT_POLICY`` once, when its runtime starts).
        torch_first: start PyTorch's thread pool before anything else (see
            :func:`start_torch_threads_first`).
        unset: environment variables the child must not inherit (e.g. this library's own
            ``GOMP_SPINCOUNT``, which a peer's users never have).
    """
    import json
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in unset}
    for key, value in (env_defaults or {}).items():
        env.setdefault(key, value)
    code = "import json\n"
    if torch_first:
        code += "from micrograd_plus.bench._process import start_torch_threads_first\nstart_torch_threads_first()\n"
    code += f"from {module} import {function}\nprint(json.dumps({function}(*{list(args)!r})))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child process {module}.{function} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def settings_of_ours():
    """Environment variables that importing micrograd_plus set in *this* process, as opposed to
    ones the user set: today only ``GOMP_SPINCOUNT`` (see
    :func:`micrograd_plus.kernels._shared.short_openmp_spin`), when the user had chosen no OpenMP
    spin of their own."""
    from micrograd_plus.kernels._shared import SPIN_SET_HERE  # deferred: numba loads only when needed

    return ("GOMP_SPINCOUNT",) if SPIN_SET_HERE else ()


def as_users_run_it(module, function, *args):
    """Run ``module.function(*args)`` alone in a fresh process with the user's environment, and
    return its JSON-printed result: how every contender of a benchmark -- ours or a peer's -- is
    timed (``bench gpt``, ``bench mnist``, ``bench matmul``; ``bench cnn`` can use it too).

    Why: a library is run by its users alone, with its own defaults. A peer sharing our process,
    or given an OpenMP setting of ours, is not measured as its users see it: with this library's
    ``GOMP_SPINCOUNT`` (then 1000) or ``OMP_WAIT_POLICY=PASSIVE`` PyTorch ran about 1.5x slower on an
    Intel Xeon (issue 26), which flattered us. So what importing micrograd_plus set here
    (:func:`settings_of_ours`) is not passed on; our own contender's child sets it again when it
    imports the library, exactly as a user's process does. Settings the user made are passed to
    every contender alike. No thread count is chosen for anyone.
    """
    return in_child(module, function, *args, unset=settings_of_ours())


def environment_summary():
    """A few lines describing the machine and the libraries, printed above every benchmark table."""
    import numpy as np

    from micrograd_plus.kernels._cpu import describe  # deferred: llvmlite loads only when the summary is printed

    import importlib  # (micrograd_plus.kernels.matmul the module; the package exports a function of that name)

    matmul = importlib.import_module("micrograd_plus.kernels.matmul")
    from micrograd_plus.kernels._microkernel import VARIANTS  # deferred: as describe above
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs",
             describe(),
             f"variant that ran: matmul {matmul.VARIANT}, micro-kernel {matmul.BLOCKING} (6 rows of C x vectors), "
             f"K in slices of {matmul._KC}, chosen from the CPU's LLVM name and features "
             f"(this CPU's own: {matmul.HOST_VARIANT}); tuned for {VARIANTS[matmul.VARIANT].tuned_for}"]
    start_torch_threads_first()
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
