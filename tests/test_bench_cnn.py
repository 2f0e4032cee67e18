"""The CNN benchmark's two contenders compute the same training step (so its ratio compares like
with like), and its kernel table measures what it says."""

import numpy as np
import pytest

from micrograd_plus.bench import cli, cnn


def test_cnn_benchmark_is_listed():
    assert "cnn" in cli.BENCHMARKS and cli.BENCHMARKS["cnn"][0] == "micrograd_plus.bench.cnn"


def test_ours_and_torch_take_the_same_steps():
    pytest.importorskip("torch")
    from micrograd_plus.models.cnn import mnist_cnn

    weights = mnist_cnn(cnn.CHANNELS, cnn.HIDDEN, generator=np.random.default_rng(0)).state_dict()
    rng = np.random.default_rng(1)
    batches = [(rng.random((16, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 16)) for _ in range(3)]
    ours, theirs = cnn._ours(weights), cnn._torch(weights)
    losses = np.array([[ours(*b), theirs(*b)] for b in batches])  # three SGD steps each, same batches
    assert losses[0, 0] == pytest.approx(np.log(10), rel=0.2)  # a fresh network: about chance
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], rtol=2e-4)  # float32, two libraries
