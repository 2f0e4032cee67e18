"""Configuration for the kernel tests.

Float64 kernels run on one thread by default (:func:`micrograd_plus.kernels.use_float64_threads`
says why). The tests here force each thread path in float32 and float64 alike, so float64 threads
are switched on for every test in this folder; ``test_threads.py`` checks the default itself.
Likewise tiny products, which the library hands to numpy's BLAS, run on our kernels here.
"""

import pytest

import importlib

from micrograd_plus.kernels import _shared

_matmul = importlib.import_module("micrograd_plus.kernels.matmul")  # (the package exports a function of that name)


@pytest.fixture(autouse=True)
def float64_threads_on(monkeypatch):
    """float64 may use threads, as float32 does, for the duration of each kernel test."""
    monkeypatch.setattr(_shared, "_float64_threads", [True])


@pytest.fixture(autouse=True)
def our_kernels_at_every_size(monkeypatch):
    """Tiny products are handed to numpy's BLAS by default (``matmul.BLAS_MAX_MNK``); the kernel
    tests hold *our* kernels to their definition at every size, so that handoff is off here
    (``test_matmul.py`` checks the handoff itself)."""
    monkeypatch.setattr(_matmul, "_small_to_blas", [False])
