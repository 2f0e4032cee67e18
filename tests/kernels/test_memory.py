"""keep_freed_memory: glibc's malloc keeps a training step's freed memory for the next step."""

import platform
import subprocess
import sys

import pytest

from micrograd_plus.kernels import _shared


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


@pytest.mark.parametrize("environ, applied", [
    ({}, True),
    ({"MALLOC_TRIM_THRESHOLD_": "131072"}, False),  # the user chose: left alone
    ({"MALLOC_ARENA_MAX": "2"}, False),
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}, False),
    ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"}, True),  # not a malloc tunable
])
def test_keep_freed_memory_sets_both_thresholds_unless_the_user_chose(monkeypatch, environ, applied):
    monkeypatch.setattr(_shared, "_memory_kept", [])
    libc = _FakeLibc()
    assert _shared.keep_freed_memory(environ, libc) is applied
    assert libc.calls == ([(-3, 32 * 2**20), (-1, 2**30)] if applied else [])
    assert _shared.keep_freed_memory(environ, libc) is False  # once per process
    assert len(libc.calls) == (2 if applied else 0)


# A child process: rounds of eight 12 MB arrays allocated and freed (a training step's pattern),
# minor page faults counted (after a first round) when the library is merely imported, then when
# an optimizer has been made.
_CHILD = """
import resource, numpy as np
import micrograd_plus as mp

def faults():
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        arrays = [np.ones(3 * 2**20, np.float32) for _ in range(8)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0

faults()
imported = faults()
mp.optim.SGD([mp.nn.Parameter(mp.zeros(3))], lr=0.1)
faults()  # the first round fills the heap once
print(imported, faults())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_an_optimizer_stops_the_page_faults_of_repeated_large_arrays():
    """Importing changes nothing (a peer's process keeps glibc's defaults: thousands of fresh pages
    a round); from the first optimizer on, freed memory is reused (almost no faults)."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported, training = map(int, done.stdout.split()[-2:])
    assert imported > 10_000, (imported, training)  # 4 rounds x 8 arrays x 3,072 pages, most of them fresh
    assert training < imported / 10, (imported, training)
