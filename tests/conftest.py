"""Shared pytest configuration.

Hypothesis profiles: ``fast`` (default, used by CI) and ``thorough``, selected with
``MICROGRAD_PLUS_HYPOTHESIS_PROFILE=thorough pytest``. Deadlines are off in both: the first call
of a numba kernel compiles it, which can take seconds and says nothing about the code under test.
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fast",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("MICROGRAD_PLUS_HYPOTHESIS_PROFILE", "fast"))



@pytest.fixture
def rng():
    """A seeded numpy Generator, so every test is reproducible."""
    return np.random.default_rng(0)


def pytest_report_header(config):
    return [
        f"hypothesis profile: {settings._current_profile}",
        f"NUMBA_DISABLE_JIT={os.environ.get('NUMBA_DISABLE_JIT', '0')}",
    ]
