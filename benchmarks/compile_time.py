"""How long do the numba kernels take to compile (cold) and to load from the cache (warm)?

Each kernel is compiled the first time it is called with a new type signature, then saved to
numba's on-disk cache (``cache=True``), so the first run of a fresh install pays for compilation
and every later process only loads machine code. This script measures, in fresh processes that
share an empty, temporary cache directory (``NUMBA_CACHE_DIR``):

1. **the whole set**: the first process calls every kernel the library has, in float32 and
   float64 (small shapes reach the serial paths, bigger ones the parallel paths), the second
   finds them all cached;
2. **the first MNIST run**: ``micrograd-plus mnist`` on a 2,000-image subset for one epoch,
   cold and then warm; the difference is what a new user waits for compilation.

Wall-clock seconds are printed beside CPU seconds: on a shared, busy machine the wall time of a
single-threaded compilation stretches with the load, its CPU time much less.

Usage::

    python benchmarks/compile_time.py            # both
    python benchmarks/compile_time.py --detail   # and the slowest kernels, one by one
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Runs in each child: call every kernel once per dtype and time each family.
CHILD = r"""
import json, time
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
from micrograd_plus import kernels
from micrograd_plus.kernels._compiling import ANNOUNCER
out = {"import": (time.perf_counter() - t0, time.process_time() - c0)}

def timed(name, fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    out[name] = (time.perf_counter() - t, time.process_time() - c)

for dt in (np.float32, np.float64):
    name = np.dtype(dt).name
    def mm():
        for n in (80, 512):
            a = np.ones((n + 16, n), dt)
            kernels.matmul(a, a.T); kernels.matmul_nt(a, a); kernels.matmul_tn(a, a)
        a = np.ones((64, 8), dt)  # short K: the axpy loop
        kernels.matmul(a, a.T)
    def att():
        for shape in ((4, 2, 40, 8), (8, 4, 64, 32)):
            x = np.ones(shape, dt)
            for causal in (True, False):
                o, s = kernels.attention_forward(x, x, x, 0.3, causal)
                kernels.attention_backward(x, x, x, x, o, s, 0.3, causal)
    def gelu():
        for n in (100, 100_000):
            g = np.ones(n, dt)
            kernels.gelu_backward(g, g); kernels.gelu_forward(g)
            kernels.gelu_tanh_backward(g, g, kernels.gelu_tanh_forward(g)[1])
    def rows():
        for r in (8, 1000):
            x = np.ones((r, 64), dt)
            y, m, s = kernels.layer_norm_forward(x, x[0], x[0], 1e-5)
            kernels.layer_norm_backward(x, x, x[0], m, s)
            t = np.zeros(r, np.int64)
            nll, lse = kernels.cross_entropy_forward(x, t)
            kernels.cross_entropy_backward(nll, x, t, lse)
    timed("matmul " + name, mm)
    timed("attention " + name, att)
    timed("gelu " + name, gelu)
    timed("layernorm+xent " + name, rows)
out["total"] = (time.perf_counter() - t0, time.process_time() - c0)
out["_kernels"] = [(f, d, k, s) for f, d, k, s in ANNOUNCER.log]
print(json.dumps(out))
"""


def _env(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, MICROGRAD_PLUS_QUIET_COMPILE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


def _child(cache_dir):
    done = subprocess.run([sys.executable, "-c", CHILD], env=_env(cache_dir), capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mnist(cache_dir, out_dir):
    """Wall and CPU seconds of one short `micrograd-plus mnist` run (a fresh --out each time)."""
    cmd = [sys.executable, "-m", "micrograd_plus", "mnist", "--limit", "2000", "--test-limit", "500",
           "--epochs", "1", "--no-progress", "--no-plots", "--out", out_dir]
    t = time.perf_counter()
    before = os.times()
    subprocess.run(cmd, env=_env(cache_dir), capture_output=True, text=True, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - t, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detail", action="store_true", help="list the slowest kernels too")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = _child(cache_dir)
        warm = _child(cache_dir)
    with tempfile.TemporaryDirectory() as cache_dir, tempfile.TemporaryDirectory() as runs:
        mnist_cold = _mnist(cache_dir, os.path.join(runs, "a"))
        mnist_warm = _mnist(cache_dir, os.path.join(runs, "b"))
    kernels = cold.pop("_kernels")
    warm.pop("_kernels")
    from micrograd_plus.bench import results
    from micrograd_plus.bench._process import environment_summary

    summary = environment_summary()
    print(summary)
    with results.Tee() as printed:
        _print(cold, warm, mnist_cold, mnist_warm, kernels, args.detail)
    path = results.default_path()
    if path:
        results.save(path, "compile_time", summary, printed.getvalue(),
                     {"cold": cold, "warm": warm, "mnist_cold": mnist_cold, "mnist_warm": mnist_warm})
        print(f"results written to {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cold": cold, "warm": warm, "mnist_cold": mnist_cold, "mnist_warm": mnist_warm,
                       "kernels": kernels}, f, indent=1)


def _print(cold, warm, mnist_cold, mnist_warm, kernels, detail):
    print(f"{'seconds (wall / CPU)':<22} {'cold (compile)':>16} {'warm (cached)':>16}")
    for key in cold:
        (cw, cc), (ww, wc) = cold[key], warm[key]
        print(f"{key:<22} {cw:8.2f} /{cc:6.2f} {ww:8.2f} /{wc:6.2f}")
    print(f"{'mnist, first run':<22} {mnist_cold[0]:8.2f} /{mnist_cold[1]:6.2f} "
          f"{mnist_warm[0]:8.2f} /{mnist_warm[1]:6.2f}")
    print(f"first-run compile overhead of mnist: {mnist_cold[0] - mnist_warm[0]:.2f} s wall, "
          f"{mnist_cold[1] - mnist_warm[1]:.2f} s CPU")
    if detail:
        print("\nslowest kernels to compile (wall seconds, outermost compilations):")
        for family, dtype, name, seconds in sorted(kernels, key=lambda k: -k[3])[:15]:
            print(f"  {seconds:6.2f}  {family} {dtype} {name}")


if __name__ == "__main__":
    main()
