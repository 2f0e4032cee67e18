"""Neuron, Layer, MLP: the arithmetic (checked with numpy), seeding, parameters and gradients."""

import numpy as np
import pytest

from micrograd_plus.gradcheck import numerical_gradient
from micrograd_plus.scalar import MLP, Layer, Neuron, Value


def weights(neuron):
    return np.array([w.data for w in neuron.w]), neuron.b.data


@pytest.mark.parametrize(
    "nonlinearity, f",
    [("relu", lambda z: np.maximum(z, 0.0)), ("tanh", np.tanh),
     ("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("linear", lambda z: z)],
)
def test_neuron_computes_activation_of_weighted_sum(nonlinearity, f):
    neuron = Neuron(3, nonlinearity, generator=5)
    neuron.b.data = 0.25
    x = [0.5, -1.0, 2.0]
    w, b = weights(neuron)
    out = neuron(x)
    assert out.data == pytest.approx(float(f(w @ np.array(x) + b)), rel=1e-12)
    assert neuron.activation is out  # the neuron holds its activation


def test_neuron_init_is_seeded_uniform_and_bias_zero():
    a, b = Neuron(1000, generator=3), Neuron(1000, generator=3)
    wa, ba = weights(a)
    assert np.array_equal(wa, weights(b)[0]) and ba == 0.0
    assert wa.min() >= -1.0 and wa.max() <= 1.0 and abs(wa.mean()) < 0.1
    assert not np.array_equal(wa, weights(Neuron(1000, generator=4))[0])


def test_layer_activations_feed_the_next_layer():
    net = MLP(2, [4, 3, 1], generator=0)
    x = np.array([0.3, -0.7])
    # the same network in numpy, one weight matrix (rows = neurons) per layer
    a = x
    for k, layer in enumerate(net.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])  # (nout, nin)
        bias = np.array([n.b.data for n in layer.neurons])  # (nout,)
        z = W @ a + bias
        a = z if k == len(net.layers) - 1 else np.maximum(z, 0.0)
    out = net(list(x))
    assert isinstance(out, Value)
    assert out.data == pytest.approx(float(a[0]), rel=1e-12)
    hidden = [v.data for v in net.layers[1].activations]
    assert len(hidden) == 3 and all(h >= 0.0 for h in hidden)


def test_mlp_with_several_outputs_returns_a_list():
    out = MLP(3, [5, 2], generator=1)([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 2


def test_parameter_count_and_zero_grad():
    net = MLP(2, [16, 16, 1], generator=0)
    params = net.parameters()
    assert len(params) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1) == 337
    assert len({id(p) for p in params}) == 337
    assert len(Layer(3, 4).parameters()) == 16
    net([1.0, 1.0]).backward()
    net.zero_grad()
    assert all(p.grad == 0.0 for p in params)


def test_same_seed_same_network():
    a, b = MLP(2, [8, 1], generator=42), MLP(2, [8, 1], generator=42)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    gen = np.random.default_rng(7)
    c, d = MLP(2, [8, 1], generator=gen), MLP(2, [8, 1], generator=gen)
    assert [p.data for p in c.parameters()] != [p.data for p in d.parameters()]


def test_mlp_gradients_match_central_differences():
    net = MLP(2, [5, 4, 1], nonlinearity="tanh", generator=2)
    X = [[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]
    y = [1.0, -1.0, 1.0]
    params = net.parameters()

    def loss():
        return Value.sum([(net(x) - t) ** 2 for x, t in zip(X, y)])

    net.zero_grad()
    loss().backward()
    analytic = np.array([p.grad for p in params])
    theta0 = np.array([p.data for p in params])

    def f(theta):
        for p, v in zip(params, theta):
            p.data = float(v)
        return loss().data

    numeric = numerical_gradient(f, theta0)
    f(theta0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_gradients_match_micrograd():
    """An independent implementation as oracle: the original micrograd, same weights."""
    pytest.importorskip("micrograd")
    from micrograd.engine import Value as TheirValue
    from micrograd.nn import MLP as TheirMLP

    ours = MLP(2, [6, 4, 1], generator=9)
    theirs = TheirMLP(2, [6, 4, 1])
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        pb.data = pa.data
    X = [[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8], [2.0, 2.0]]
    y = [1.0, -1.0, 1.0, -1.0]
    loss_a = Value.sum([(1 - t * ours(x)).relu() for x, t in zip(X, y)])
    loss_b = sum((1 + -t * theirs([TheirValue(v) for v in x])).relu() for x, t in zip(X, y))
    loss_a.backward()
    loss_b.backward()
    assert loss_a.data == pytest.approx(loss_b.data, rel=1e-12)
    np.testing.assert_allclose([p.grad for p in ours.parameters()],
                               [p.grad for p in theirs.parameters()], rtol=1e-12, atol=1e-15)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="reads 2 inputs, got 3"):
        Neuron(2)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        Neuron(2, nonlinearity="softplus")
    with pytest.raises(TypeError, match="generator"):
        MLP(2, [1], generator="seed")


def test_mlp_learns_two_moons():
    """End to end: the hinge-loss training loop of the demo separates the moons."""
    from micrograd_plus.data.moons import make_moons
    from micrograd_plus.scalar.demo import train

    X, classes = make_moons(40, noise=0.1, generator=0)
    y = [2.0 * float(c) - 1.0 for c in classes]
    history = train(MLP(2, [16, 16, 1], generator=0), X.tolist(), y, steps=50, log=None)
    (first_loss, first_acc), (last_loss, last_acc) = history[0], history[-1]
    assert isinstance(last_acc, float)
    assert last_loss < 0.1 * first_loss
    assert last_acc >= 0.95 > first_acc


def test_mlp_takes_micrograds_signature_and_the_sizes_list_alike():
    a = MLP(2, [5, 3, 1], generator=4)
    b = MLP([2, 5, 3, 1], generator=4)  # the spelling nn.MLP takes
    assert repr(a) == repr(b) == "MLP(2, [5, 3, 1])"
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert [layer.neurons[0].nonlinearity for layer in b.layers] == ["relu", "relu", "linear"]
    assert a([0.5, -1.0]).data == b([0.5, -1.0]).data


@pytest.mark.parametrize("args", [(2, []), ([2],), (2, [0, 1]), (2, [1.5]), (True, [1]), ("2", [1])])
def test_mlp_refuses_sizes_that_are_not_positive_integers(args):
    with pytest.raises(ValueError, match=r"MLP needs positive integer sizes.*MLP\(2, \[16, 16, 1\]\)"):
        MLP(*args)
