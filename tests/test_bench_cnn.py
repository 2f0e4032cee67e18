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


def test_kernel_table_has_every_product_of_every_layer(monkeypatch):
    """Forward, dW and dX of both layers, each ours / BLAS / numpy layer as positive GFLOP/s; the
    first layer's dX marked as one the network does not use. (Rates, not timings, are checked.)"""
    from micrograd_plus.kernels import conv as K

    monkeypatch.setattr(cnn, "LAYERS", {"tiny": ((2, 3, 6, 6), (4, 3, 5, 5), True),
                                        "first": ((2, 1, 6, 6), (4, 1, 5, 5), False)})
    calls = []
    real = K.conv2d_backward
    monkeypatch.setattr(K, "conv2d_backward", lambda *a: (calls.append(a[-3:]), real(*a))[1])
    rates = cnn.kernel_table(repeats=1)
    assert list(rates) == ["tiny forward", "tiny dW", "tiny dX", "first forward", "first dW",
                           "first dX (unused: the image needs none)"]
    assert all(len(v) == 3 and all(r > 0 for r in v) for v in rates.values())
    assert (False, True, False) in calls and (True, False, False) in calls  # dW alone, dX alone
