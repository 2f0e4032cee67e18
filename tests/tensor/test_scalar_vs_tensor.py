"""The two engines agree: the same small MLP, built from scalar ``Value``s (one neuron at a time)
and from float64 ``Tensor``s (one matrix product per layer), gives the same outputs, loss and
gradients for every weight and bias."""

import numpy as np
import pytest

from micrograd_plus import functional as F
from micrograd_plus.scalar import MLP, Value
from micrograd_plus._tensor import tensor


def tensor_copy(mlp):
    """The scalar MLP's weights as tensors: per layer W (nout, nin) and b (nout,)."""
    params = []
    for layer in mlp.layers:
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        params.append((tensor(W, requires_grad=True), tensor(b, requires_grad=True)))
    return params


def tensor_forward(params, x, nonlinearity):
    h = tensor(x)  # (N, nin)
    for i, (W, b) in enumerate(params):
        h = F.linear(h, W, b)  # (N, nout)
        if i < len(params) - 1:
            h = getattr(h, nonlinearity)()
    return h


def scalar_loss(outs, targets, kind):
    terms = []
    for out, t in zip(outs, targets):
        if kind == "mse":
            terms.append(sum(((o - float(y)) ** 2 for o, y in zip(out, t)), Value(0.0)) * (1.0 / len(out)))
        else:  # cross-entropy with class index t: log(sum(exp(o))) - o[t]
            m = max(o.data for o in out)  # a constant shift, for stability (no gradient needed)
            lse = sum(((o - m).exp() for o in out), Value(0.0)).log() + m
            terms.append(lse - out[int(t)])
    return sum(terms, Value(0.0)) * (1.0 / len(outs))


@pytest.mark.parametrize("nonlinearity", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss_kind", ["mse", "cross_entropy"])
def test_same_mlp_same_outputs_and_gradients(nonlinearity, loss_kind):
    rng = np.random.default_rng(1)
    sizes = [4, 5, 3]
    mlp = MLP(3, sizes, nonlinearity=nonlinearity, generator=7)
    params = tensor_copy(mlp)
    x = rng.standard_normal((6, 3))
    if loss_kind == "mse":
        targets = rng.standard_normal((6, 3))
    else:
        targets = rng.integers(0, 3, size=6)

    # scalar engine: one sample at a time, one neuron at a time
    outs = [mlp([float(v) for v in row]) for row in x]
    loss_s = scalar_loss(outs, targets, loss_kind)
    mlp.zero_grad()
    loss_s.backward()

    # tensor engine: the whole batch at once
    out_t = tensor_forward(params, x, nonlinearity)
    if loss_kind == "mse":
        loss_t = F.mse_loss(out_t, tensor(targets))
    else:
        loss_t = F.cross_entropy(out_t, targets)
    loss_t.backward()

    np.testing.assert_allclose(out_t.data, [[o.data for o in out] for out in outs], rtol=1e-12, atol=1e-12)
    assert loss_t.item() == pytest.approx(loss_s.data, rel=1e-12, abs=1e-12)
    for layer, (W, b) in zip(mlp.layers, params):
        gW = np.array([[w.grad for w in n.w] for n in layer.neurons])
        gb = np.array([n.b.grad for n in layer.neurons])
        np.testing.assert_allclose(W.grad, gW, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.grad, gb, rtol=1e-10, atol=1e-12)
    # the comparison is not vacuous: some gradients are clearly nonzero
    assert max(np.abs(W.grad).max() for W, _ in params) > 1e-3


def test_one_sgd_step_moves_both_engines_the_same_way():
    rng = np.random.default_rng(2)
    mlp = MLP(2, [3, 1], nonlinearity="tanh", generator=3)
    params = tensor_copy(mlp)
    x, y = rng.standard_normal((4, 2)), rng.standard_normal((4, 1))
    for _ in range(3):
        outs = [[mlp([float(v) for v in row])] for row in x]
        loss_s = scalar_loss(outs, y, "mse")
        mlp.zero_grad()
        loss_s.backward()
        for p in mlp.parameters():
            p.data -= 0.1 * p.grad
        for W, b in params:
            W.zero_grad()
            b.zero_grad()
        loss_t = F.mse_loss(tensor_forward(params, x, "tanh"), tensor(y))
        loss_t.backward()
        for W, b in params:
            W.data -= 0.1 * W.grad
            b.data -= 0.1 * b.grad
        assert loss_t.item() == pytest.approx(loss_s.data, rel=1e-12)
    for layer, (W, _) in zip(mlp.layers, params):
        np.testing.assert_allclose(W.data, [[w.data for w in n.w] for n in layer.neurons], rtol=1e-12)
