"""One line on stderr while a kernel family compiles for the first time.

numba compiles a kernel the first time it is called with new argument types, and saves the
machine code to its on-disk cache (``cache=True``), so only a fresh install's first run pays.
That first run would otherwise stall for seconds with nothing on screen. numba announces every
real compilation (not a load from the cache) as a ``"numba:compile"`` event; the listener here
prints, once per family and dtype and process::

    compiling the attention kernels for float32 (first run only, ~2 s)...

Nothing is printed when the kernels come from the cache, nor under ``NUMBA_DISABLE_JIT=1``.
Set ``MICROGRAD_PLUS_QUIET_COMPILE=1`` to silence it.
"""

import os
import sys
import time

from numba.core import event, types

# module of the kernel -> (name in the message, CPU seconds a cold compile of the family took on
# the 2-core Zen 4 development machine in float32 and in float64, rounded up; float64 compiles no
# threaded twins by default (kernels/_shared.py's use_float64_threads: with them on, float64
# takes about as long as float32);
# `python -m micrograd_plus.bench.compile_time --only families` measures them)
FAMILIES = {
    "matmul": ("matmul", (8, 3)),
    "_shared": ("matmul", (8, 3)),
    "attention": ("attention", (7, 3)),
    "elementwise": ("GELU/ReLU", (3, 1)),
    "conv": ("convolution", (3, 7)),  # beyond the matmul family, which its products also compile
    "layer_norm": ("LayerNorm", (2, 1)),
    "cross_entropy": ("cross-entropy", (2, 2)),
    "_fastmath": ("exp", (1, 1)),
    "optim": ("optimizer", (2, 1)),
}


class _Announcer(event.Listener):
    """Prints one line when the outermost compilation of a new (family, dtype) starts."""

    def __init__(self, stream=None):
        self.stream = stream
        self.announced = set()
        self.depth = 0
        self.log = []  # (family, dtype, kernel, seconds) of every outermost compilation

    def on_start(self, ev):
        self.depth += 1
        if self.depth != 1:
            return  # a callee compiled as part of the outer kernel
        family, dtype, name = _describe(ev.data)
        self._started = (family, dtype, name, time.perf_counter())
        if family is None or (family, dtype) in self.announced:
            return
        self.announced.add((family, dtype))
        if os.environ.get("MICROGRAD_PLUS_QUIET_COMPILE"):
            return
        label, (seconds32, seconds64) = family
        seconds = seconds64 if dtype == "float64" else seconds32
        stream = self.stream or sys.stderr
        print(f"compiling the {label} kernels for {dtype} (first run only, ~{seconds} s)...",
              file=stream, flush=True)

    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0 and getattr(self, "_started", None):
            family, dtype, name, t0 = self._started
            self.log.append((family[0] if family else None, dtype, name, time.perf_counter() - t0))
            self._started = None


def _describe(data):
    """(family, dtype name, kernel name) of a compile event's dispatcher and argument types."""
    dispatcher = data.get("dispatcher")
    func = getattr(dispatcher, "py_func", None)
    module = getattr(func, "__module__", "") or ""
    if not module.startswith("micrograd_plus.kernels."):
        return None, None, getattr(func, "__name__", "?")
    family = FAMILIES.get(module.rsplit(".", 1)[-1])
    dtype = next((str(a.dtype) for a in data.get("args", ()) if isinstance(a, types.Array)), None)
    if dtype is None:
        dtype = next((str(a) for a in data.get("args", ()) if isinstance(a, types.Float)), "float")
    return family, dtype, func.__name__


ANNOUNCER = _Announcer()
event.register("numba:compile", ANNOUNCER)
