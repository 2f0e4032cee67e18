"""nn.init initialisers and nn.utils.clip_grad_norm_."""

import math

import numpy as np
import pytest

from micrograd_plus import Tensor, nn, tensor


class G(Tensor):
    """A parameter with a given gradient, which may be set from (and is read back as) an array."""

    def __init__(self, grad):
        super().__init__(np.zeros_like(np.asarray(grad, dtype=np.float32)), requires_grad=True)
        self.grad = None if grad is None else np.array(grad, dtype=np.float32)

    @property
    def grad(self):
        return None if self._grad is None else self._grad.numpy()

    @grad.setter
    def grad(self, g):
        self._grad = None if g is None else tensor(g)


def test_clip_grad_norm_scales_down_by_hand():
    a, b = G([3.0, 4.0]), G([12.0])
    total = nn.clip_grad_norm_([a, b], max_norm=6.5)
    assert total.item() == pytest.approx(13.0)  # sqrt(9 + 16 + 144)
    assert total.shape == () and total.dtype == np.float32  # a 0-d Tensor of the gradients' dtype, as PyTorch's
    coef = 6.5 / (13.0 + 1e-6)  # every gradient scaled by the same factor: direction kept
    np.testing.assert_allclose(a.grad, [3.0 * coef, 4.0 * coef], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [12.0 * coef], rtol=1e-6)
    assert a.grad.dtype == np.float32


def test_clip_grad_norm_leaves_small_gradients_alone():
    a = G([0.3, 0.4])
    assert nn.utils.clip_grad_norm_([a, G(None)], max_norm=1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, np.array([0.3, 0.4], dtype=np.float32))


def test_clip_grad_norm_inf_norm_and_single_parameter():
    a = G([-8.0, 2.0])
    assert nn.clip_grad_norm_(a, max_norm=2.0, norm_type=float("inf")).item() == 8.0
    np.testing.assert_allclose(a.grad, [-2.0, 0.5], rtol=1e-6)


def test_clip_grad_norm_nonfinite():
    a = G([np.inf, 1.0])
    assert math.isinf(nn.clip_grad_norm_([a], 1.0).item())
    assert nn.clip_grad_norm_([G(None)], 1.0).item() == 0.0  # no gradients at all: a norm of 0
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    grads = [rng.standard_normal((4, 5)) * 3, rng.standard_normal(7)]
    ours = [G(g) for g in grads]
    for p, g in zip(ours, grads):
        p.grad = g.copy()
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g.copy())
    total = nn.clip_grad_norm_(ours, 1.5)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, 1.5)
    assert total == pytest.approx(float(t_total), rel=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_init_uniform_normal_constant():
    p = nn.Parameter(np.empty((100, 100), dtype=np.float32))
    assert nn.init.uniform_(p, -0.5, 0.5, generator=0) is p
    assert p.data.dtype == np.float32 and -0.5 <= p.numpy().min() and p.numpy().max() < 0.5
    nn.init.normal_(p, mean=1.0, std=0.02, generator=0)
    assert p.numpy().mean() == pytest.approx(1.0, abs=1e-3) and p.numpy().std() == pytest.approx(0.02, rel=0.03)
    q = nn.Parameter(np.empty((100, 100), dtype=np.float32))
    nn.init.normal_(q, mean=1.0, std=0.02, generator=0)
    np.testing.assert_array_equal(p.data, q.data)  # same seed, same numbers
    nn.init.zeros_(p)
    assert not p.numpy().any()
    nn.init.ones_(p)
    assert (p.data == 1).all()
    nn.init.constant_(p, 0.25)
    assert (p.data == 0.25).all()


def test_init_rejects_bad_arguments():
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="std"):
        nn.init.normal_(p, std=-1.0)
    with pytest.raises(ValueError, match="a <= b"):
        nn.init.uniform_(p, 1.0, 0.0)
    with pytest.raises(TypeError, match="Tensor or numpy array"):
        nn.init.zeros_([0.0, 1.0])


def test_clip_grad_norm_p_norm_by_hand():
    a = G([1.0, -2.0])
    # 1-norm: |1| + |-2| = 3
    assert nn.clip_grad_norm_([a], max_norm=10.0, norm_type=1.0) == pytest.approx(3.0)
    # 3-norm: (1 + 8) ** (1/3)
    assert nn.clip_grad_norm_([a], max_norm=10.0, norm_type=3.0) == pytest.approx(9.0 ** (1 / 3))
