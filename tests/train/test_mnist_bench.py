"""The MNIST benchmark's contenders must train the same network the same way, or its ratios mean
nothing: after a few identical steps, ours, the hand-written numpy reference and PyTorch agree."""

import numpy as np
import pytest

from micrograd_plus import kernels, nn
from micrograd_plus.bench import mnist as bench


@pytest.fixture
def setup(rng):
    weights = nn.MLP(list(bench.SIZES), activation="relu", generator=np.random.default_rng(0)).state_dict()
    x = rng.random((3, bench.BATCH, 784), dtype=np.float32)  # 3 batches of fake images
    y = rng.integers(0, 10, size=(3, bench.BATCH))
    return weights, x, y


def _train(step, x, y):
    for xb, yb in zip(x, y):
        step(xb, yb)
    return step.weights()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ours_matches_the_hand_written_numpy_backprop(setup, backend):
    weights, x, y = setup
    expected = _train(bench._numpy_step_fn(weights), x, y)
    with kernels.backend(backend):
        got = _train(bench._our_step_fn(weights), x, y)
    for name, value in expected.items():
        assert not np.array_equal(value, weights[name])  # training moved the weights
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_torch_contender_matches_the_hand_written_numpy_backprop(setup):
    pytest.importorskip("torch")
    weights, x, y = setup
    expected = _train(bench._numpy_step_fn(weights), x, y)
    got = _train(bench._torch_step_fn(weights), x, y)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)
