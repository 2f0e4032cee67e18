"""The one-line notice while a kernel family compiles for the first time (kernels/_compiling.py)."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from numba.core import config

from micrograd_plus.kernels import _compiling

pytestmark = pytest.mark.skipif(config.DISABLE_JIT, reason="nothing compiles under NUMBA_DISABLE_JIT=1")

CHILD = "import numpy as np; from micrograd_plus import kernels; a = np.ones((8, 8), np.float32); kernels.matmul(a, a)"


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


def test_announcer_names_family_and_dtype_once():
    """Driven directly with fake events: the outermost compile of a new (family, dtype) prints,
    nested ones and repeats do not."""
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
        f"compiling the attention kernels for float64 (first run only, ~{_compiling.FAMILIES['attention'][1]} s)..."]
    assert [entry[:3] for entry in a.log] == [("attention", "float64", "_forward_heads")] * 2


def test_no_eager_compilation_at_import():
    """Importing the kernels compiles nothing: every dispatcher starts without a signature."""
    code = ("import micrograd_plus.kernels as K, importlib\n"
            "from numba.core.registry import CPUDispatcher\n"
            "mods = [importlib.import_module('micrograd_plus.kernels.' + m) for m in "
            "('matmul', 'attention', 'elementwise', 'layer_norm', 'cross_entropy', '_shared', '_fastmath')]\n"
            "print(sum(len(d.signatures) for m in mods for d in vars(m).values() if isinstance(d, CPUDispatcher)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
