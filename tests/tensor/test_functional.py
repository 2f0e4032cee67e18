"""Forward values of micrograd_plus.functional against independent numpy formulas, numerical
stability at extreme inputs, and clear errors on bad input."""

import numpy as np
import pytest

from micrograd_plus import functional as F
from micrograd_plus._tensor import Tensor, tensor


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_and_log_softmax_values(rng):
    x = rng.standard_normal((3, 4, 5))
    for dim in (-1, 0, 1):
        p = F.softmax(tensor(x), dim=dim).data
        np.testing.assert_allclose(p, np_softmax(x, dim), rtol=1e-12)
        np.testing.assert_allclose(p.sum(axis=dim), 1.0)
        np.testing.assert_allclose(F.log_softmax(tensor(x), dim=dim).data, np.log(np_softmax(x, dim)), atol=1e-12)


def test_softmax_family_is_stable_for_huge_inputs():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        p = F.softmax(x)
        lp = F.log_softmax(x)
        loss = F.cross_entropy(x, np.array([2, 0]))
        loss.backward()
    np.testing.assert_allclose(p.data[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p.data[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(lp.data[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(loss.item(), (2000.0 + np.log(3)) / 2, rtol=1e-6)
    assert np.isfinite(x.grad).all()


def test_cross_entropy_matches_the_definition(rng):
    logits = rng.standard_normal((2, 3, 5))
    t = rng.integers(0, 5, size=(2, 3))
    nll = -np.log(np_softmax(logits))[np.arange(2)[:, None], np.arange(3)[None, :], t]  # (2, 3)
    np.testing.assert_allclose(F.cross_entropy(tensor(logits), t).item(), nll.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(tensor(logits), t, reduction="sum").item(), nll.sum(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(tensor(logits), tensor(t), reduction="none").data, nll, rtol=1e-12)
    t2 = t.copy()
    t2[0, 1] = -100
    keep = t2 != -100
    np.testing.assert_allclose(F.cross_entropy(tensor(logits), t2).item(), nll[keep].mean(), rtol=1e-12)
    t2[0, 1] = t[0, 1]
    t2[0, 2] = 7
    np.testing.assert_allclose(F.cross_entropy(tensor(logits), t2, ignore_index=7).item(),
                               nll[(t2 != 7)].mean(), rtol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot(rng):
    logits = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    x = tensor(logits, requires_grad=True)
    F.cross_entropy(x, t).backward()
    np.testing.assert_allclose(x.grad, (np_softmax(logits) - np.eye(3)[t]) / 4, rtol=1e-12)


def test_cross_entropy_errors():
    x = tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"target shape \(4, 1\).*logits shape \(4, 3\)"):
        F.cross_entropy(x, np.zeros((4, 1), np.int64))
    with pytest.raises(IndexError, match="target class 3 is out of range for 3 classes"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]))
    with pytest.raises(IndexError, match="target class -1"):
        F.cross_entropy(x, np.array([0, 1, 2, -1]))
    with pytest.raises(TypeError, match="integer class indices.*float64"):
        F.cross_entropy(x, np.zeros(4))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.zeros(4, np.int64), reduction="avg")


def test_mse_loss_values():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert F.mse_loss(tensor(a), tensor(b)).item() == pytest.approx(10 / 3)
    assert F.mse_loss(tensor(a), b, reduction="sum").item() == pytest.approx(10.0)
    np.testing.assert_array_equal(F.mse_loss(tensor(a), b, reduction="none").data, [1.0, 0.0, 9.0])
    with pytest.raises(ValueError, match=r"input shape \(3,\) and target shape \(2,\)"):
        F.mse_loss(tensor(a), tensor(b[:2]))


def test_linear_values_and_errors(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    np.testing.assert_allclose(F.linear(tensor(x), tensor(w), tensor(b)).data, x @ w.T + b, rtol=1e-12)
    np.testing.assert_allclose(F.linear(tensor(x), tensor(w)).data, x @ w.T, rtol=1e-12)
    x32 = Tensor(x.astype(np.float32))
    assert F.linear(x32, Tensor(w.astype(np.float32))).dtype == np.float32
    with pytest.raises(ValueError, match=r"input of shape \(2, 3, 4\) does not fit weight of shape \(4, 5\)"):
        F.linear(tensor(x), tensor(w.T))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        F.linear(tensor(x), tensor(w), tensor(b[:3]))


def test_layer_norm_values(rng):
    x = rng.standard_normal((2, 3, 4)) * 3 + 1
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    mu = x.mean(-1, keepdims=True)
    sd = np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(tensor(x), 4, tensor(w), tensor(b)).data, (x - mu) / sd * w + b, rtol=1e-10)
    y = F.layer_norm(tensor(x), (3, 4)).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-4)
    with pytest.raises(ValueError, match=r"input shape \(2, 3, 4\) does not end with normalized_shape \(3,\)"):
        F.layer_norm(tensor(x), 3)
    with pytest.raises(ValueError, match=r"weight has shape \(3,\), expected \(4,\)"):
        F.layer_norm(tensor(x), 4, tensor(w[:3]))


def test_embedding_values_and_errors(rng):
    w = rng.standard_normal((6, 3))
    idx = np.array([[0, 5, 5], [2, 1, 0]])
    out = F.embedding(idx, tensor(w))
    np.testing.assert_array_equal(out.data, w[idx])
    W = tensor(w, requires_grad=True)
    F.embedding(idx, W).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=6)[:, None]  # rows used twice get 2
    np.testing.assert_array_equal(W.grad, np.broadcast_to(counts, (6, 3)))
    with pytest.raises(IndexError, match="index 6 is out of range for a table of 6 rows"):
        F.embedding(np.array([1, 6]), W)
    with pytest.raises(IndexError, match="index -1"):
        F.embedding(np.array([-1]), W)
    with pytest.raises(TypeError, match="integers"):
        F.embedding(np.array([1.0]), W)


def test_dropout_behaviour():
    x = Tensor(np.ones((200, 100), np.float32), requires_grad=True)
    y = F.dropout(x, 0.3, generator=0)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02  # about 70% kept
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)  # inverted scaling
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(F.dropout(x, 0.3, generator=0).data, y.data)  # same seed, same mask
    assert F.dropout(x, 0.3, training=False) is x
    assert (F.dropout(x, 1.0).data == 0).all()
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        F.dropout(x, 1.5)


def np_attention(q, k, v, mask=None, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return np_softmax(s) @ v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_paths_agree_with_numpy(rng, dtype):
    B, H, T, D = 2, 3, 7, 4
    q, k, v = (rng.standard_normal((B, H, T, D)).astype(dtype) for _ in range(3))
    causal = np.tril(np.ones((T, T), bool))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    fused = F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), is_causal=True)
    assert fused._op == "" and fused.dtype == dtype
    np.testing.assert_allclose(fused.data, np_attention(q, k, v, causal), **tol)
    masked = F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), attn_mask=causal)
    np.testing.assert_allclose(masked.data, np_attention(q, k, v, causal), **tol)
    plain = F.scaled_dot_product_attention(tensor(q), tensor(k), tensor(v), scale=0.3)
    np.testing.assert_allclose(plain.data, np_attention(q, k, v, None, 0.3), **tol)


def test_attention_fused_and_composed_gradients_agree(rng):
    B, H, T, D = 2, 2, 6, 3
    arrays = [rng.standard_normal((B, H, T, D)) for _ in range(3)]
    g = rng.standard_normal((B, H, T, D))
    grads = []
    for fused in (True, False):
        q, k, v = (tensor(a.copy(), requires_grad=True) for a in arrays)
        if fused:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            assert out._op == "attention"
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=np.tril(np.ones((T, T), bool)))
        out.backward(g)
        grads.append([q.grad, k.grad, v.grad])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_attention_errors():
    q = tensor(np.ones((1, 1, 4, 3)))
    with pytest.raises(ValueError, match=r"q \(1, 1, 4, 3\), k \(1, 1, 4, 2\)"):
        F.scaled_dot_product_attention(q, tensor(np.ones((1, 1, 4, 2))), q)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool), is_causal=True)
