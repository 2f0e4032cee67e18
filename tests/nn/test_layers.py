"""Layers against plain numpy, their gradients against central differences, their errors."""

import math

import numpy as np
import pytest

from micrograd_plus import Tensor, nn, tensor
from micrograd_plus.gradcheck import gradcheck


def f64(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Linear
# ---------------------------------------------------------------------------------------------


def test_linear_shapes_and_pytorch_init_range():
    lin = nn.Linear(400, 30, generator=0)
    assert lin.weight.shape == (30, 400) and lin.bias.shape == (30,)
    assert lin.weight.data.dtype == np.float32
    bound = 1 / math.sqrt(400)  # U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    # a uniform on [-b, b] has standard deviation b / sqrt(3); 12,000 samples pin it to ~1%
    assert lin.weight.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert abs(lin.weight.numpy().mean()) < 0.05 * bound


def test_linear_init_is_seeded():
    a, b, c = nn.Linear(5, 3, generator=7), nn.Linear(5, 3, generator=7), nn.Linear(5, 3, generator=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_linear_init_uses_library_default_generator():
    import micrograd_plus as mp

    mp.manual_seed(3)
    a = nn.Linear(4, 4)
    mp.manual_seed(3)
    b = nn.Linear(4, 4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


def test_linear_forward_matches_numpy(rng):
    lin = nn.Linear(5, 3, generator=0)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    expected = x @ lin.weight.numpy().T + lin.bias.data
    np.testing.assert_allclose(lin(Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)
    x3 = rng.standard_normal((2, 4, 5)).astype(np.float32)  # (B, T, C) inputs work too
    np.testing.assert_allclose(lin(Tensor(x3)).data, x3 @ lin.weight.numpy().T + lin.bias.data, rtol=1e-5, atol=1e-6)


def test_linear_without_bias(rng):
    lin = nn.Linear(4, 2, bias=False, generator=0)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(lin(Tensor(x)).data, x @ lin.weight.numpy().T, rtol=1e-5, atol=1e-6)
    assert "bias=False" in repr(lin)


def test_linear_wrong_input_size_names_expected_and_got():
    lin = nn.Linear(784, 16, generator=0)
    with pytest.raises(ValueError, match=r"\(\*, 784\).*\(32, 783\)"):
        lin(Tensor(np.zeros((32, 783), dtype=np.float32)))


def test_linear_gradcheck_float64(rng):
    lin = nn.Linear(4, 3, generator=0, dtype=np.float64)
    x = f64(rng, 5, 4)
    assert gradcheck(lambda x, w, b: lin(x), [x, lin.weight, lin.bias])


def test_linear_gradient_by_hand():
    # y = x W^T + b summed: dL/dW[j, i] = sum over the batch of x[:, i]; dL/db[j] = batch size
    lin = nn.Linear(2, 2, generator=0, dtype=np.float64)
    x = tensor(np.array([[1.0, 2.0], [3.0, -1.0]]))
    lin(x).sum().backward()
    np.testing.assert_allclose(lin.weight.grad, [[4.0, 1.0], [4.0, 1.0]])
    np.testing.assert_allclose(lin.bias.grad, [2.0, 2.0])


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------


def test_mlp_3blue1brown_network(rng):
    net = nn.MLP([784, 16, 16, 10], activation="sigmoid", generator=0)
    assert net.num_parameters() == 784 * 16 + 16 * 16 + 16 * 10 + 16 + 16 + 10 == 13002
    assert [type(m).__name__ for m in net.layers] == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    x = rng.random((3, 784)).astype(np.float32)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    W = [net.layers[i].weight.data for i in (0, 2, 4)]
    b = [net.layers[i].bias.data for i in (0, 2, 4)]
    a1 = sigmoid(x @ W[0].T + b[0])
    a2 = sigmoid(a1 @ W[1].T + b[1])
    np.testing.assert_allclose(net(Tensor(x)).data, a2 @ W[2].T + b[2], rtol=1e-5, atol=1e-5)


def test_mlp_options():
    net = nn.MLP([3, 4, 2], activation="tanh", output_activation="sigmoid", dropout=0.5, generator=0)
    assert [type(m).__name__ for m in net.layers] == ["Linear", "Tanh", "Dropout", "Linear", "Sigmoid"]
    assert isinstance(nn.MLP([2, 2, 2], activation=nn.GELU).layers[1], nn.GELU)
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 2, 2], activation="swish")
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([5])


def test_mlp_gradcheck_float64(rng):
    net = nn.MLP([3, 4, 2], activation="tanh", generator=0, dtype=np.float64)
    x = f64(rng, 2, 3)
    params = list(net.parameters())
    assert gradcheck(lambda x, *ps: net(x), [x, *params])


# ---------------------------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, ref", [
    (nn.ReLU(), lambda z: np.maximum(z, 0)),
    (nn.Sigmoid(), lambda z: 1 / (1 + np.exp(-z))),
    (nn.Tanh(), np.tanh),
    (nn.GELU(), lambda z: z * 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))),
    (nn.GELU(approximate="tanh"),
     lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))),
    (nn.Identity(), lambda z: z),
])
def test_activations_match_numpy(layer, ref, rng):
    z = rng.standard_normal((4, 5)) * 3
    np.testing.assert_allclose(layer(Tensor(z, dtype=np.float64)).data, ref(z), rtol=1e-10, atol=1e-12)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU(approximate="fast")


# ---------------------------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------------------------


def test_embedding_looks_up_rows_and_accumulates_gradients():
    emb = nn.Embedding(5, 3, generator=0, dtype=np.float64)
    idx = np.array([[1, 4, 1], [0, 1, 2]])  # (B, T); token 1 appears three times
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    out.sum().backward()
    # each row's gradient counts how often the token was used (times dL/dout = 1 per element)
    np.testing.assert_array_equal(emb.weight.grad, np.array([1, 3, 1, 0, 1])[:, None] * np.ones((1, 3)))


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(200, 50, generator=0).weight.data
    assert w.std() == pytest.approx(1.0, rel=0.03) and abs(w.mean()) < 0.03


def test_embedding_bad_indices():
    emb = nn.Embedding(5, 3, generator=0)
    with pytest.raises(IndexError, match=r"index 5 is out of range \[0, 5\)"):
        emb(np.array([0, 5]))
    with pytest.raises(IndexError, match="index -1"):
        emb(np.array([-1, 2]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.0, 1.0]))


# ---------------------------------------------------------------------------------------------
# LayerNorm
# ---------------------------------------------------------------------------------------------


def test_layernorm_matches_numpy(rng):
    ln = nn.LayerNorm(6, dtype=np.float64)
    ln.weight.data[...] = rng.standard_normal(6)
    ln.bias.data[...] = rng.standard_normal(6)
    x = rng.standard_normal((2, 3, 6)) * 4 + 1
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)  # biased variance, as LayerNorm uses
    expected = (x - mean) / np.sqrt(var + 1e-5) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(tensor(x)).data, expected, rtol=1e-10, atol=1e-10)


def test_layernorm_starts_as_pure_normalisation():
    ln = nn.LayerNorm(4)
    np.testing.assert_array_equal(ln.weight.data, np.ones(4))
    np.testing.assert_array_equal(ln.bias.data, np.zeros(4))
    assert nn.LayerNorm(4, bias=False).bias is None


def test_layernorm_gradcheck_float64(rng):
    ln = nn.LayerNorm(5, dtype=np.float64)
    ln.weight.data[...] = rng.standard_normal(5)
    ln.bias.data[...] = rng.standard_normal(5)
    x = f64(rng, 3, 5)
    assert gradcheck(lambda x, w, b: ln(x), [x, ln.weight, ln.bias])


def test_layernorm_wrong_shape():
    with pytest.raises(ValueError, match=r"\(\*, 8\).*\(2, 7\)"):
        nn.LayerNorm(8)(Tensor(np.zeros((2, 7), dtype=np.float32)))


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------


def test_dropout_eval_is_identity_and_train_masks_and_rescales():
    x = Tensor(np.ones((200, 50), dtype=np.float32))
    drop = nn.Dropout(0.25, generator=0)
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    drop.train()
    y = drop(x).data
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.02)  # 10,000 coin flips
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)  # survivors scaled by 1/(1-p)


def test_dropout_is_seeded_and_masks_differ_between_calls():
    x = Tensor(np.ones((20, 20), dtype=np.float32))
    a, b = nn.Dropout(0.5, generator=1), nn.Dropout(0.5, generator=1)
    ya1, ya2 = a(x).data, a(x).data
    np.testing.assert_array_equal(ya1, b(x).data)
    assert not np.array_equal(ya1, ya2)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="Dropout probability"):
        nn.Dropout(1.0)


def test_mlp_with_sgd_learns_xor_like_clusters():
    """End to end: an MLP, cross-entropy and SGD separate four clusters in an XOR pattern,
    which no single layer can (a linear classifier is stuck near 50%)."""
    from micrograd_plus import functional as F
    from micrograd_plus import optim

    rng = np.random.default_rng(0)
    centres = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    pick = rng.integers(0, 4, size=256)
    x = (centres[pick] + 0.3 * rng.standard_normal((256, 2))).astype(np.float32)
    y = labels[pick]
    net = nn.MLP([2, 16, 2], activation="tanh", generator=0)
    opt = optim.SGD(net.parameters(), lr=0.3, momentum=0.9)
    for _ in range(100):
        loss = F.cross_entropy(net(tensor(x)), tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (net(Tensor(x)).numpy().argmax(axis=1) == y).mean()
    assert accuracy > 0.95 and loss.item() < 0.2


def test_dropout_without_generator_follows_manual_seed():
    import micrograd_plus as mp

    x = Tensor(np.ones((10, 10), dtype=np.float32))
    drop = nn.Dropout(0.5)
    mp.manual_seed(11)
    a = drop(x).data
    mp.manual_seed(11)
    np.testing.assert_array_equal(drop(x).data, a)


def test_mlp_called_the_scalar_way_explains_itself():
    with pytest.raises(TypeError, match=r"one list of layer sizes.*nn.MLP\(\[2, 16, 16, 1\]\).*sizes=2.*\[16, 16, 1\].*activation"):
        nn.MLP(2, [16, 16, 1])
    with pytest.raises(ValueError, match="positive integers"):
        nn.MLP([2, 0, 1])
    with pytest.raises(ValueError, match="positive integers"):
        nn.MLP([2.5, 3])


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Linear(0, 3), "in_features"),
    (lambda: nn.Linear(3, 2.5), "out_features"),
    (lambda: nn.Embedding(10, -1), "embedding_dim"),
])
def test_layer_sizes_must_be_positive_integers(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_mlp_refuses_a_dropout_outside_0_1_even_without_hidden_layers(dropout):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        nn.MLP([4, 16, 2], dropout=dropout)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        nn.MLP([4, 2], dropout=dropout)  # no hidden layer, so no Dropout module to refuse it
