"""The costs' ``weight=`` (per class for cross_entropy/nll_loss, per element for the binary ones and
mse/l1), PyTorch's positional order (``F.cross_entropy(x, y, w)``) and its deprecated
``size_average``/``reduce``. Expected values written out by hand; PyTorch, where installed, agrees."""

import math

import numpy as np
import pytest

import micrograd_plus as mp
from micrograd_plus import nn
from micrograd_plus import functional as F

try:
    import torch
except ImportError:  # PyTorch is an extra oracle, never a requirement
    torch = None

LOGP = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]]))
TARGET = np.array([0, 2, 1])
W = np.array([1.0, 2.0, 3.0])


def test_nll_loss_weight_is_a_weighted_mean_by_hand():
    x = mp.tensor(LOGP, requires_grad=True)
    loss = F.nll_loss(x, mp.tensor(TARGET), weight=mp.tensor(W))
    expected = -(1 * LOGP[0, 0] + 3 * LOGP[1, 2] + 2 * LOGP[2, 1]) / (1 + 3 + 2)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    g = np.zeros_like(LOGP)
    g[0, 0], g[1, 2], g[2, 1] = -1 / 6, -3 / 6, -2 / 6
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-12)
    assert F.nll_loss(x, mp.tensor(TARGET), mp.tensor(W), reduction="sum").item() == pytest.approx(expected * 6)
    ignored = F.nll_loss(x, mp.tensor([0, 2, -100]), weight=mp.tensor(W))  # ignored entries weigh nothing
    assert ignored.item() == pytest.approx(-(LOGP[0, 0] + 3 * LOGP[1, 2]) / 4, rel=1e-12)


def test_cross_entropy_weight_positional_and_module():
    logits = mp.tensor(LOGP * 1.5 + 0.2)
    by_nll = F.nll_loss(logits.log_softmax(-1), mp.tensor(TARGET), weight=mp.tensor(W)).item()
    assert F.cross_entropy(logits, mp.tensor(TARGET), mp.tensor(W)).item() == pytest.approx(by_nll, rel=1e-12)
    assert nn.CrossEntropyLoss(weight=mp.tensor(W))(logits, mp.tensor(TARGET)).item() == pytest.approx(by_nll, rel=1e-12)
    assert "weight" in nn.CrossEntropyLoss(weight=mp.tensor(W)).state_dict()  # a buffer, as in PyTorch
    assert nn.NLLLoss(mp.tensor(W))(logits.log_softmax(-1), mp.tensor(TARGET)).item() == pytest.approx(by_nll, rel=1e-12)
    with pytest.raises(ValueError, match=r"one number per class, shape \(3,\)"):
        F.cross_entropy(logits, mp.tensor(TARGET), weight=mp.ones(4))
    with pytest.raises(NotImplementedError, match="label_smoothing"):
        F.cross_entropy(logits, mp.tensor(TARGET), weight=mp.tensor(W), label_smoothing=0.1)


def test_binary_costs_weight_per_element():
    p = mp.tensor([0.9, 0.2, 0.6], dtype=mp.float64)
    t = mp.tensor([1.0, 0.0, 1.0], dtype=mp.float64)
    w = mp.tensor([2.0, 1.0, 0.5], dtype=mp.float64)
    per = -np.array([math.log(0.9), math.log(0.8), math.log(0.6)])
    expected = (per * [2.0, 1.0, 0.5]).mean()  # "mean" still divides by the number of elements
    assert F.binary_cross_entropy(p, t, weight=w).item() == pytest.approx(expected, rel=1e-12)
    assert F.binary_cross_entropy(p, t, w).item() == pytest.approx(expected, rel=1e-12)  # positional, as PyTorch's
    assert nn.BCELoss(weight=w)(p, t).item() == pytest.approx(expected, rel=1e-12)
    logits = mp.tensor(np.log([0.9 / 0.1, 0.2 / 0.8, 0.6 / 0.4]))
    assert F.binary_cross_entropy_with_logits(logits, t, w).item() == pytest.approx(expected, rel=1e-9)
    assert nn.BCEWithLogitsLoss(w)(logits, t).item() == pytest.approx(expected, rel=1e-9)
    # mse and l1: "mean" divides by the sum of the weights (PyTorch's rule for these two)
    assert F.mse_loss(p, t, weight=w).item() == pytest.approx((0.01 * 2 + 0.04 * 1 + 0.16 * 0.5) / 3.5)
    assert F.l1_loss(p, t, weight=w).item() == pytest.approx((0.1 * 2 + 0.2 * 1 + 0.4 * 0.5) / 3.5)
    assert F.l1_loss(p, t, weight=w, reduction="sum").item() == pytest.approx(0.1 * 2 + 0.2 * 1 + 0.4 * 0.5)
    with pytest.raises(ValueError, match="weight must have the input's shape"):
        F.mse_loss(p, t, weight=w[:1])


def test_deprecated_size_average_and_reduce_become_reduction():
    a, b = mp.tensor([1.0, 2.0]), mp.tensor([0.0, 0.0])
    assert F.mse_loss(a, b, size_average=False).item() == 5.0  # "sum"
    assert F.mse_loss(a, b, reduce=False).tolist() == [1.0, 4.0]  # "none"
    assert F.mse_loss(a, b, size_average=True).item() == 2.5
    assert nn.MSELoss(size_average=False)(a, b).item() == 5.0
    assert nn.L1Loss(reduce=False)(a, b).tolist() == [1.0, 2.0]
    assert nn.CrossEntropyLoss(size_average=False).reduction == "sum"


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
def test_weighted_costs_agree_with_pytorch():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    w = rng.random(4) + 0.5
    ours = mp.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    a = F.cross_entropy(ours, mp.tensor(y), mp.tensor(w))
    b = torch.nn.functional.cross_entropy(theirs, torch.tensor(y), torch.tensor(w))
    a.backward()
    b.backward()
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)
    p, t, ew = rng.random((3, 2)), (rng.random((3, 2)) > 0.5) * 1.0, rng.random((3, 2))
    assert F.binary_cross_entropy(mp.tensor(p), mp.tensor(t), mp.tensor(ew), reduction="sum").item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t), torch.tensor(ew), reduction="sum").item())
    for ours_fn, their_fn in [(F.mse_loss, torch.nn.functional.mse_loss), (F.l1_loss, torch.nn.functional.l1_loss)]:
        assert ours_fn(mp.tensor(p), mp.tensor(t), weight=mp.tensor(ew)).item() == pytest.approx(
            their_fn(torch.tensor(p), torch.tensor(t), weight=torch.tensor(ew)).item())
