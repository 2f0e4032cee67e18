"""Loss modules and Flatten, against numpy."""

import numpy as np
import pytest

from micrograd_plus import Tensor, nn, tensor


def test_cross_entropy_loss_matches_numpy(rng):
    logits = rng.standard_normal((6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    z = logits - logits.max(axis=1, keepdims=True)
    nll = -(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(6), y]
    assert nn.CrossEntropyLoss()(tensor(logits), y).item() == pytest.approx(nll.mean(), rel=1e-12)
    assert nn.CrossEntropyLoss(reduction="sum")(tensor(logits), y).item() == pytest.approx(nll.sum(), rel=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(tensor(logits), y).data, nll, rtol=1e-12)


def test_uniform_guess_costs_ln_of_classes():
    assert nn.CrossEntropyLoss()(tensor(np.zeros((5, 10))), np.arange(5)).item() == pytest.approx(np.log(10))


def test_mse_loss_matches_numpy(rng):
    a, b = rng.standard_normal((3, 10)), rng.standard_normal((3, 10))
    assert nn.MSELoss()(tensor(a), tensor(b)).item() == pytest.approx(((a - b) ** 2).mean(), rel=1e-12)
    assert nn.MSELoss(reduction="sum")(tensor(a), tensor(b)).item() == pytest.approx(((a - b) ** 2).sum(), rel=1e-12)


def test_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


def test_flatten_images_to_activations(rng):
    images = rng.random((4, 28, 28)).astype(np.float32)
    out = nn.Flatten()(Tensor(images))
    assert out.shape == (4, 784)
    np.testing.assert_array_equal(out.data, images.reshape(4, 784))
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10, generator=0))
    assert net(Tensor(images)).shape == (4, 10)
