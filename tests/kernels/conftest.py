"""Configuration for the kernel tests.

Float64 kernels run on one thread by default (:func:`micrograd_plus.kernels.use_float64_threads`
says why). The tests here force each thread path in float32 and float64 alike, so float64 threads
are switched on for every test in this folder; ``test_threads.py`` checks the default itself.
"""

import pytest

from micrograd_plus.kernels import _shared


@pytest.fixture(autouse=True)
def float64_threads_on(monkeypatch):
    """float64 may use threads, as float32 does, for the duration of each kernel test."""
    monkeypatch.setattr(_shared, "_float64_threads", [True])
