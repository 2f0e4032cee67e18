"""The one-line notice while a kernel family compiles for the first time (kernels/_compiling.py)."""

import importlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from numba.core import config

from micrograd_plus.kernels import _compiling

pytestmark = pytest.mark.skipif(config.DISABLE_JIT, reason="nothing compiles under NUMBA_DISABLE_JIT=1")

CHILD = "import numpy as np; from micrograd_plus import kernels; a = np.ones((128, 128), np.float32); kernels.matmul(a, a)"  # above BLAS_MAX_MNK: our kernel runs


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("MICROGRAD_PLUS_QUIET_COMPILE", None)
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)


def test_one_line_on_first_compile_and_nothing_from_the_cache(tmp_path):
    """A fresh cache: one line naming the family and dtype on stderr; the same cache again: none.
    Compiles only the float32 matmul kernels used here (a few seconds)."""
    cold = _run(tmp_path)
    lines = [line for line in cold.stderr.splitlines() if line.startswith("compiling")]
    assert lines == [lines[0]] and "the matmul kernels for float32 (first run only" in lines[0], cold.stderr
    assert cold.stdout == ""
    warm = _run(tmp_path)
    assert "compiling" not in warm.stderr, warm.stderr


def test_announcer_names_family_and_dtype_once(monkeypatch):
    """Driven directly with fake events: the outermost compile of a new (family, dtype) prints,
    nested ones and repeats do not."""
    monkeypatch.delenv("MICROGRAD_PLUS_QUIET_COMPILE", raising=False)  # (a user's setting would silence it)
    from numba.core import event, types

    from micrograd_plus.kernels import attention

    stream = io.StringIO()
    a = _compiling._Announcer(stream)
    data = {"dispatcher": attention._forward_heads, "args": (types.Array(types.float64, 3, "C"),)}
    for _ in range(2):
        a.notify(event.Event("numba:compile", event.EventStatus.START, data))
        a.notify(event.Event("numba:compile", event.EventStatus.START, data))  # a callee
        a.notify(event.Event("numba:compile", event.EventStatus.END, data))
        a.notify(event.Event("numba:compile", event.EventStatus.END, data))
    assert stream.getvalue().splitlines() == [
        "compiling the attention kernels for float64 (first run only, ~3 s)..."]
    assert [entry[:3] for entry in a.log] == [("attention", "float64", "_forward_heads")] * 2


def test_announcer_gives_each_dtype_its_own_estimate(monkeypatch):
    """float64 compiles no threaded twins by default, so its matmul estimate is the smaller one."""
    monkeypatch.delenv("MICROGRAD_PLUS_QUIET_COMPILE", raising=False)
    from numba.core import event, types

    mm = importlib.import_module("micrograd_plus.kernels.matmul")
    stream = io.StringIO()
    a = _compiling._Announcer(stream)
    for dtype in (types.float32, types.float64):
        data = {"dispatcher": mm._tile, "args": (types.Array(dtype, 1, "C"),)}
        a.notify(event.Event("numba:compile", event.EventStatus.START, data))
        a.notify(event.Event("numba:compile", event.EventStatus.END, data))
    assert stream.getvalue().splitlines() == [
        "compiling the matmul kernels for float32 (first run only, ~8 s)...",
        "compiling the matmul kernels for float64 (first run only, ~3 s)..."]


def test_no_eager_compilation_at_import():
    """Importing the kernels compiles nothing: every dispatcher starts without a signature."""
    code = ("import micrograd_plus.kernels as K, importlib\n"
            "from numba.core.registry import CPUDispatcher\n"
            "mods = [importlib.import_module('micrograd_plus.kernels.' + m) for m in "
            "('matmul', 'attention', 'elementwise', 'layer_norm', 'cross_entropy', '_shared', '_fastmath')]\n"
            "print(sum(len(d.signatures) for m in mods for d in vars(m).values() if isinstance(d, CPUDispatcher)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


# Every call the library makes of GELU, LayerNorm and cross-entropy, on both thread paths (float64,
# the cheaper to compile), and again with read-only arrays.
CALL_EVERYTHING = """
import json, numpy as np
from numba.core.registry import CPUDispatcher
from micrograd_plus.kernels import _shared, cross_entropy as CE, elementwise as E, layer_norm as LN
_shared.use_float64_threads(True)  # float64's threaded path too (off by default)
for module in (E, LN, CE):
    module._PARALLEL_MIN = 0
E._RELU_PARALLEL_MIN = 0
for free, writeable in ((False, True), (True, True), (False, False), (True, False)):
    _shared.cores_are_free = lambda: free
    x = np.linspace(-3, 3, 64).reshape(8, 8)
    target = np.arange(8) % 8
    w = np.full(8, 0.1)
    for a in (x, target, w):
        a.flags.writeable = writeable
    E.gelu_forward(x); E.gelu_backward(x, x)
    y, t = E.gelu_tanh_forward(x); E.gelu_tanh_backward(x, x, t)
    E.relu_backward(x, E.relu_forward(x))
    y, m, s = LN.layer_norm_forward(x, x[0], x[1], 1e-5); LN.layer_norm_backward(x, x, x[0], m, s)
    LN.layer_norm_forward(x, None, None, 1e-5)
    nll, lse = CE.cross_entropy_forward(x, target)
    CE.cross_entropy_backward(w, x, target, lse)
print(json.dumps({f"{m.__name__.rsplit('.', 1)[1]}.{n}": len(d.signatures) for m in (E, LN, CE)
                  for n, d in vars(m).items() if isinstance(d, CPUDispatcher) and d.signatures}))
"""


def test_each_family_compiles_one_loop_and_one_parallel_twin_per_dtype(tmp_path):
    """Each family compiles one serial loop and one parallel twin per dtype (plus LayerNorm's and
    cross-entropy's small row helpers, and ReLU's loop beside GELU's, which the twin also runs), whatever the formula, pass or thread path: a function per
    formula and path took about twice as long to compile. A read-only array is another type to
    numba, hence another compilation: the entry points must not pass one on. Fresh cache, so
    this compiles (~4 s)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), MICROGRAD_PLUS_QUIET_COMPILE="1")
    done = subprocess.run([sys.executable, "-c", CALL_EVERYTHING], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    assert compiled == {
        "elementwise._gelu_loop": 1, "elementwise._relu_loop": 1, "elementwise._gelu_parallel": 1,
        "layer_norm._mean_and_rstd": 1, "layer_norm._row_means": 1, "layer_norm._rows": 1,
        "layer_norm._rows_parallel": 1,
        "cross_entropy._logsumexp": 1, "cross_entropy._rows": 1, "cross_entropy._rows_parallel": 1,
    }, compiled
    assert "Warning" not in done.stderr, done.stderr[-2000:]  # e.g. numba's NumbaIRAssumptionWarning
