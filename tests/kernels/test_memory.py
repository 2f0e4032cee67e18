"""kernels/_memory.py: freed arrays' memory stays in the process (glibc), unless the user chose."""

import subprocess
import sys

import pytest

from micrograd_plus.kernels import _memory

# In a fresh process: allocate and touch 36 MB in three arrays (a training step's activations in
# miniature), free them, four times over, and count the page faults of each round (each fault is
# fresh zero-filled memory from the kernel).
CHILD = """
import resource, sys
import numpy as np
from micrograd_plus.kernels import _memory
done = _memory.keep_freed_memory() if sys.argv[1] == "keep" else False
faults = []
for round in range(4):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a, b, c = np.ones(4 << 20, np.float32), np.ones(4 << 20, np.float32), np.ones(1 << 20, np.float32)
    del a, b, c
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(done, *faults)
"""


def _faults(mode, env):
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env)
    done, *faults = out.stdout.split()
    return done == "True", [int(f) for f in faults]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is a Linux thing")
def test_freed_memory_is_reused_without_new_page_faults():
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done, kept = _faults("keep", env)
    if not done:
        pytest.skip("this C library has no mallopt (not glibc)")
    _, default = _faults("default", env)
    # glibc's defaults give the freed memory back, so every round faults it in again (measured
    # here: ~1,500 faults a round); kept, only the first round does
    assert min(default[1:]) > 300, f"glibc's default did not re-fault ({default}): is this test still meaningful?"
    assert sum(kept[1:]) < 100, f"page faults per round with the memory kept: {kept}"


def test_left_alone_where_the_user_chose_or_off_linux():
    assert _memory.keep_freed_memory(environ={"MALLOC_TRIM_THRESHOLD_": "0"}, platform="linux") is False
    assert _memory.keep_freed_memory(environ={}, platform="darwin") is False
    assert _memory.keep_freed_memory(environ={}, platform="win32") is False
