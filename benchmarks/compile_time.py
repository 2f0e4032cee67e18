"""How long do the numba kernels take to compile (cold) and to load from the cache (warm)?

Each kernel is compiled the first time it is called with a new type signature, then saved to
numba's on-disk cache (``cache=True``), so the first run of a fresh install pays for compilation
and every later process only loads machine code. This script measures both in fresh processes
that share an empty, temporary cache directory (``NUMBA_CACHE_DIR``): the first process compiles
every kernel the library uses, in float32 and float64, the second finds them all cached.

Usage::

    python benchmarks/compile_time.py
"""

import json
import os
import subprocess
import sys
import tempfile

# Runs in each child: call every kernel once per dtype (small shapes reach the serial paths,
# the 512x512 products the parallel ones) and time each family.
CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from micrograd_plus import kernels
out = {"import": time.perf_counter() - t0}
for dt in (np.float32, np.float64):
    name = np.dtype(dt).name
    t = time.perf_counter()
    for n in (80, 512):
        a = np.ones((n + 16, n), dt)
        kernels.matmul(a, a.T); kernels.matmul_nt(a, a); kernels.matmul_tn(a, a)
    out["matmul " + name] = time.perf_counter() - t
    t = time.perf_counter()
    x = np.ones((4, 2, 40, 8), dt)
    for causal in (True, False):
        o, s = kernels.attention_forward(x, x, x, 0.3, causal)
        kernels.attention_backward(x, x, x, x, o, s, 0.3, causal)
    out["attention " + name] = time.perf_counter() - t
    t = time.perf_counter()
    g = np.ones(100, dt)
    kernels.gelu_backward(g, g); kernels.gelu_forward(g)
    kernels.gelu_tanh_backward(g, g, kernels.gelu_tanh_forward(g)[1])
    out["gelu " + name] = time.perf_counter() - t
out["total"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def _child(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = _child(cache_dir)
        warm = _child(cache_dir)
    print(f"{'seconds':<20} {'cold (compile)':>15} {'warm (cached)':>14}")
    for key in cold:
        print(f"{key:<20} {cold[key]:15.2f} {warm[key]:14.2f}")


if __name__ == "__main__":
    main()
