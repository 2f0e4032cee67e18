"""How long do the numba kernels take to compile (cold) and to load from the cache (warm)?

Each kernel is compiled the first time it is called with a new type signature, then saved to
numba's on-disk cache (``cache=True``), so the first run of a fresh install pays for compilation
and every later process only loads machine code. This script measures, in fresh processes that
start from an empty, temporary cache directory (``NUMBA_CACHE_DIR``):

1. **one family at a time**: for each kernel family (matmul, attention, GELU, LayerNorm,
   cross-entropy, the optimizers' updates) and dtype, a fresh process with its own empty cache calls every kernel of that
   family (small shapes reach the one-thread paths, bigger ones the threaded paths) and times
   it. A family's row includes the helpers it shares with others (the fast exp, the blocked
   transpose), so the rows add up to a little more than the whole set;
2. **the whole set**: one process calls every kernel the library runs by default, in float32 and
   float64 (float64 matmul, attention, GELU, LayerNorm, cross-entropy and SGD run on one thread unless
   ``MICROGRAD_PLUS_FLOAT64_THREADS=1``, so their threaded twins are compiled in float32 only;
   run this script with that variable set to measure them too), then a second process finds them
   all cached;
3. **the first MNIST run**: ``micrograd-plus mnist`` on a 2,000-image subset for one epoch,
   cold and then warm; the difference is what a new user waits for compilation.

Wall-clock seconds are printed beside CPU seconds: on a shared, busy machine the wall time of a
single-threaded compilation stretches with the load, its CPU time much less.

Usage::

    python -m micrograd_plus.bench.compile_time            # all three
    python -m micrograd_plus.bench.compile_time --detail   # and the slowest kernels, one by one
    python -m micrograd_plus.bench.compile_time --only families   # or: whole, mnist
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Runs in each child: call every kernel of the chosen families once per chosen dtype, time each.
# argv: comma-separated families (matmul,attention,gelu,conv,layernorm,xent,optim), comma-separated dtypes.
CHILD = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import numpy as np
from micrograd_plus import kernels
from micrograd_plus.kernels import _shared
from micrograd_plus.kernels._compiling import ANNOUNCER
_shared._load_check[:] = [float("inf"), True]  # cores_are_free(): the threaded paths compile too, whatever the load
out = {"import": (time.perf_counter() - t0, time.process_time() - c0)}

def timed(name, fn):
    t, c = time.perf_counter(), time.process_time()
    fn()
    out[name] = (time.perf_counter() - t, time.process_time() - c)

for dt in [getattr(np, d) for d in sys.argv[2].split(",")]:
    name = np.dtype(dt).name
    def mm():
        for n in (80, 512):
            a = np.ones((n + 16, n), dt)
            kernels.matmul(a, a.T); kernels.matmul_nt(a, a); kernels.matmul_tn(a, a)
        a = np.ones((64, 8), dt)  # short K: the axpy loop
        kernels.matmul(a, a.T)
        x = np.ones((1, 512), dt)  # a row of x: the dot products, on one thread and on two
        kernels.matmul_nt(x, np.ones((600, 512), dt)); kernels.matmul_nt(x, np.ones((1024, 512), dt))
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
            kernels.relu_backward(g, kernels.relu_forward(g))
    def conv():
        for stride, groups, cin in ((1, 1, 1), (1, 1, 4), (2, 2, 4)):  # im2col, direct (forward, dW, dx), grouped stride 2
            x = np.ones((2, cin, 9, 9), dt)
            w = np.ones((4, cin // groups, 3, 3), dt)
            y, cols = kernels.conv2d_forward(x, w, w[:, 0, 0, 0], (stride, stride), (1, 1, 1, 1), (1, 1), groups)
            kernels.conv2d_backward(y, x.shape, w, cols, (stride, stride), (1, 1, 1, 1), (1, 1), groups)
        x = np.ones((2, 4, 8, 8), dt)
        y, i = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
        kernels.max_pool2d_backward(y, i, x.shape)
        y, i = kernels.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1), (1, 1), False)
        kernels.max_pool2d_backward(y, i, x.shape)
        y = kernels.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, None)
        kernels.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0), False, True, None)
    def layernorm():
        for r in (8, 2000):
            x = np.ones((r, 64), dt)
            y, m, s = kernels.layer_norm_forward(x, x[0], x[0], 1e-5)
            kernels.layer_norm_backward(x, x, x[0], m, s)
    def xent():
        for r in (8, 2000):
            x = np.ones((r, 64), dt)
            t = np.zeros(r, np.int64)
            nll, lse = kernels.cross_entropy_forward(x, t)
            kernels.cross_entropy_backward(nll, x, t, lse)
    def optim():
        from micrograd_plus.kernels import optim as K
        p, g, m, v = (np.ones(4096, dt) for _ in range(4))
        K.adam_update(p, g, m, v, 1e-3, 0.9, 0.99, 1e-8, 0.1, 1)
        K.sum_of_squares(g)
        for n in (4096, K.SGD_PARALLEL_MIN):  # SGD on one thread, and its prange twin
            p, g, m = (np.ones(n, dt) for _ in range(3))
            K.sgd_update(p, g, m, 0.1, 0.9)
    families = dict(matmul=mm, attention=att, gelu=gelu, conv=conv, layernorm=layernorm, xent=xent, optim=optim)
    for family in sys.argv[1].split(","):
        timed(family + " " + name, families[family])
out["total"] = (time.perf_counter() - t0, time.process_time() - c0)
out["_kernels"] = [(f, d, k, s) for f, d, k, s in ANNOUNCER.log]
print(json.dumps(out))
"""


def _env(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, MICROGRAD_PLUS_QUIET_COMPILE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


FAMILIES = ("matmul", "attention", "gelu", "conv", "layernorm", "xent", "optim")
DTYPES = ("float32", "float64")


def _child(cache_dir, families=FAMILIES, dtypes=DTYPES):
    """Wall and CPU seconds, per family and dtype, of a fresh process calling those kernels."""
    done = subprocess.run([sys.executable, "-c", CHILD, ",".join(families), ",".join(dtypes)], env=_env(cache_dir),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _each_family():
    """{"<family> <dtype>": (wall, CPU)}: each in a fresh process with its own empty cache."""
    rows = {}
    for family in FAMILIES:
        for dtype in DTYPES:
            with tempfile.TemporaryDirectory() as cache_dir:
                rows[f"{family} {dtype}"] = _child(cache_dir, [family], [dtype])[f"{family} {dtype}"]
    return rows


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
    parser.add_argument("--only", choices=("families", "whole", "mnist"), action="append",
                        help="run only this part (repeatable); default: all three")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    args = parser.parse_args(argv)
    parts = args.only or ["families", "whole", "mnist"]
    # deferred until the arguments are good; the kernels themselves are compiled in child processes
    from micrograd_plus.bench import results
    from micrograd_plus.bench._process import environment_summary

    summary = environment_summary()
    print(summary)
    print(f"load average before: {_loadavg()}")
    figures = {}
    with results.Tee() as printed:
        if "families" in parts:
            figures["families"] = _each_family()
            _print_families(figures["families"])
        if "whole" in parts:
            with tempfile.TemporaryDirectory() as cache_dir:
                cold = _child(cache_dir)
                warm = _child(cache_dir)
            figures["kernels"] = cold.pop("_kernels")
            warm.pop("_kernels")
            figures.update(cold=cold, warm=warm)
            _print_whole(cold, warm, figures["kernels"], args.detail)
        if "mnist" in parts:
            with tempfile.TemporaryDirectory() as cache_dir, tempfile.TemporaryDirectory() as runs:
                figures["mnist_cold"] = _mnist(cache_dir, os.path.join(runs, "a"))
                figures["mnist_warm"] = _mnist(cache_dir, os.path.join(runs, "b"))
            _print_mnist(figures["mnist_cold"], figures["mnist_warm"])
        print(f"load average after: {_loadavg()}")
    path = results.default_path()
    if path and parts == ["families", "whole", "mnist"]:  # only a full run replaces the saved one
        results.save(path, "compile_time", summary, printed.getvalue(), {k: v for k, v in figures.items()
                                                                          if k != "kernels"})
        print(f"results written to {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


def _loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def _print_families(rows):
    print("each family in a fresh process, empty cache (seconds)")
    print(f"{'family':<12} {'dtype':<8} {'CPU s':>7} {'wall s':>7}")
    for key, (wall, cpu) in rows.items():
        family, dtype = key.split()
        print(f"{family:<12} {dtype:<8} {cpu:7.2f} {wall:7.2f}")
    print(f"{'sum':<21} {sum(c for _, c in rows.values()):7.2f} {sum(w for w, _ in rows.values()):7.2f}\n")


def _print_whole(cold, warm, kernels, detail):
    print("every kernel in one process (seconds, wall / CPU)")
    print(f"{'':<22} {'cold (compile)':>16} {'warm (cached)':>16}")
    for key in cold:
        (cw, cc), (ww, wc) = cold[key], warm[key]
        print(f"{key:<22} {cw:8.2f} /{cc:6.2f} {ww:8.2f} /{wc:6.2f}")
    if detail:
        print("\nslowest kernels to compile (wall seconds, outermost compilations):")
        for family, dtype, name, seconds in sorted(kernels, key=lambda k: -k[3])[:15]:
            print(f"  {seconds:6.2f}  {family} {dtype} {name}")
    print()


def _print_mnist(mnist_cold, mnist_warm):
    print(f"{'mnist (wall / CPU)':<22} {'cold':>16} {'warm':>16}")
    print(f"{'first run, one epoch':<22} {mnist_cold[0]:8.2f} /{mnist_cold[1]:6.2f} "
          f"{mnist_warm[0]:8.2f} /{mnist_warm[1]:6.2f}")
    print(f"first-run compile overhead of mnist: {mnist_cold[0] - mnist_warm[0]:.2f} s wall, "
          f"{mnist_cold[1] - mnist_warm[1]:.2f} s CPU")


if __name__ == "__main__":
    main()
