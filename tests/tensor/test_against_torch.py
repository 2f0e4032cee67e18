"""PyTorch as an independent oracle: the same computation in both libraries gives the same
values and gradients (float64). Skipped cleanly when torch is not installed."""

import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from micrograd_plus import functional as F  # noqa: E402
from micrograd_plus.tensor import Tensor, cat, stack, where  # noqa: E402

RNG = np.random.default_rng(0)
MASK = RNG.random((3, 4)) > 0.5
IDX = np.array([2, 0, 2, 1])
TARGETS = np.array([[1, 4, 0], [3, -100, 2]])
TOKENS = np.array([[0, 5, 5, 1], [2, 2, 3, 4]])
CAUSAL = np.tril(np.ones((5, 5), bool))

# name -> (input shapes, ours(*tensors), theirs(*torch tensors))
CASES = {
    "broadcast arithmetic": (
        [(2, 3, 4), (3, 1)],
        lambda a, b: (a * b - a / (b * b + 1.0) + 2.0 ** (a * 0.1)) ** 2 - 3.0 * b,
        lambda a, b: (a * b - a / (b * b + 1.0) + 2.0 ** (a * 0.1)) ** 2 - 3.0 * b,
    ),
    "unary": (
        [(3, 4)],
        lambda a: a.exp() + (a * a + 1.0).log() + (a * a + 0.5).sqrt() + a.tanh() + a.sigmoid() + a.abs() + a.relu(),
        lambda a: a.exp() + (a * a + 1.0).log() + (a * a + 0.5).sqrt() + a.tanh() + a.sigmoid() + a.abs() + a.relu(),
    ),
    "gelu both forms": (
        [(3, 4)],
        lambda a: F.gelu(a) + F.gelu(a * 2.0, approximate="tanh"),
        lambda a: TF.gelu(a) + TF.gelu(a * 2.0, approximate="tanh"),
    ),
    "reductions": (
        [(2, 3, 4)],
        lambda a: a.sum(dim=(0, 2)) + a.mean(dim=2, keepdim=True).sum((0, 2)) + a.max(dim=2).values.mean(0) + a.var(dim=(0, 2)),
        lambda a: a.sum(dim=(0, 2)) + a.mean(dim=2, keepdim=True).sum((0, 2)) + a.max(dim=2).values.mean(0) + a.var(dim=(0, 2)),
    ),
    "shapes and indexing": (
        [(2, 3, 4)],
        lambda a: a.permute(2, 0, 1).reshape(4, 6)[IDX, 1:5].transpose(0, 1)[::2] * 2.0,
        lambda a: a.permute(2, 0, 1).reshape(4, 6)[torch.from_numpy(IDX), 1:5].transpose(0, 1)[::2] * 2.0,
    ),
    "cat stack split where masked_fill": (
        [(3, 4), (3, 4)],
        lambda a, b: cat([stack([a, b], 1).sum(1), where(MASK, a, b * 2.0), a.masked_fill(MASK, 0.5)], 0).split(5, 0)[1],
        lambda a, b: torch.cat(
            [torch.stack([a, b], 1).sum(1), torch.where(torch.from_numpy(MASK), a, b * 2.0),
             a.masked_fill(torch.from_numpy(MASK), 0.5)], 0).split(5, 0)[1],
    ),
    "matmul kinds": (
        [(2, 1, 3, 4), (3, 4, 5), (4, 5)],
        lambda a, b, c: (a @ b).sum(0) + (a[0, 0] @ c) + (b[0].T @ c[:, 0]).sum(),
        lambda a, b, c: (a @ b).sum(0) + (a[0, 0] @ c) + (b[0].T @ c[:, 0]).sum(),
    ),
    "softmax family": (
        [(2, 3, 5)],
        lambda a: F.softmax(a * 3.0, dim=1) + F.log_softmax(a, dim=-1),
        lambda a: TF.softmax(a * 3.0, dim=1) + TF.log_softmax(a, dim=-1),
    ),
    "cross_entropy (B, T, C) with ignore_index": (
        [(2, 3, 5)],
        lambda a: F.cross_entropy(a, TARGETS) + F.cross_entropy(a, TARGETS, reduction="none").sum(),
        lambda a: TF.cross_entropy(a.reshape(6, 5), torch.from_numpy(TARGETS).reshape(6))
        + TF.cross_entropy(a.reshape(6, 5), torch.from_numpy(TARGETS).reshape(6), reduction="none").sum(),
    ),
    "mse_loss": (
        [(3, 4), (3, 4)],
        lambda a, b: F.mse_loss(a, b) + F.mse_loss(a, b, reduction="sum"),
        lambda a, b: TF.mse_loss(a, b) + TF.mse_loss(a, b, reduction="sum"),
    ),
    "linear": (
        [(2, 3, 4), (5, 4), (5,)],
        lambda x, w, b: F.linear(x, w, b),
        lambda x, w, b: TF.linear(x, w, b),
    ),
    "layer_norm": (
        [(2, 3, 4), (4,), (4,)],
        lambda x, w, b: F.layer_norm(x, (4,), w, b) + F.layer_norm(x, (3, 4)),
        lambda x, w, b: TF.layer_norm(x, (4,), w, b) + TF.layer_norm(x, (3, 4)),
    ),
    "embedding": (
        [(6, 3)],
        lambda w: F.embedding(TOKENS, w),
        lambda w: TF.embedding(torch.from_numpy(TOKENS), w),
    ),
    "attention causal (fused)": (
        [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
    ),
    "attention with masks": (
        [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=CAUSAL)
        + F.scaled_dot_product_attention(q, k, v, attn_mask=Tensor(np.where(CAUSAL, 0.0, -1.5)), scale=0.3),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.from_numpy(CAUSAL))
        + TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.from_numpy(np.where(CAUSAL, 0.0, -1.5)), scale=0.3),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    shapes, ours, theirs = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # the same numbers in every run
    arrays = [rng.standard_normal(s) for s in shapes]
    mine = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_ref = ours(*mine), theirs(*ref)
    np.testing.assert_allclose(out.data, out_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(out.shape)
    out.backward(w)
    out_ref.backward(torch.from_numpy(w))
    for i, (m, r) in enumerate(zip(mine, ref)):
        np.testing.assert_allclose(m.grad, r.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=f"input {i}")


def test_float32_training_ops_match_torch_closely():
    """The float32 path (kernels included) agrees with torch to float32 accuracy."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 16, 32)).astype(np.float32)
    w = (rng.standard_normal((24, 32)) * 0.2).astype(np.float32)
    t = rng.integers(0, 24, (4, 16))
    X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    loss = F.cross_entropy(F.gelu(F.linear(F.layer_norm(X, 32), W), approximate="tanh"), t)
    loss.backward()
    Xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    lt = TF.cross_entropy(TF.gelu(TF.linear(TF.layer_norm(Xt, (32,)), Wt), approximate="tanh").reshape(-1, 24),
                          torch.from_numpy(t).reshape(-1))
    lt.backward()
    assert loss.dtype == np.float32 and X.grad.dtype == np.float32
    assert loss.item() == pytest.approx(lt.item(), rel=1e-5)
    np.testing.assert_allclose(X.grad, Xt.grad.numpy(), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(W.grad, Wt.grad.numpy(), rtol=1e-3, atol=1e-6)
