"""RMSprop: PyTorch's defaults and update rule, checked by hand and against torch.optim.RMSprop;
and the lr_scheduler module."""

import importlib.util
import inspect
import math

import numpy as np
import pytest

from micrograd_plus import Tensor, nn, optim, tensor
from micrograd_plus.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, MultiStepLR, StepLR

HAVE_TORCH = importlib.util.find_spec("torch") is not None

CASES = [{}, dict(momentum=0.9), dict(centered=True, weight_decay=0.1),
         dict(centered=True, momentum=0.5, alpha=0.9, lr=0.05, eps=1e-6)]


def test_defaults_are_pytorchs():
    defaults = {k: v.default for k, v in inspect.signature(optim.RMSprop).parameters.items() if k != "params"}
    assert defaults == dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)


def test_first_step_by_hand():
    p = nn.Parameter(np.array([1.0, -2.0]))
    p.grad = tensor(np.array([0.5, -4.0]))
    optim.RMSprop([p]).step()
    # v = 0.01 g^2, step = lr g / (sqrt(v) + eps) = 0.01 * sign(g) / 0.1 (eps negligible)
    assert np.allclose(p.data, [1.0 - 0.1, -2.0 + 0.1], atol=1e-9)


@pytest.mark.parametrize("kw", CASES)
def test_state_dict_round_trip(kw):
    rng = np.random.default_rng(0)
    a, b = nn.Parameter(rng.standard_normal(3)), nn.Parameter(np.zeros(3))
    b.data[...] = a.data
    oa = optim.RMSprop([a], **kw)
    for _ in range(2):
        a.grad = tensor(rng.standard_normal(3))
        oa.step()
    ob = optim.RMSprop([b], **kw)
    ob.load_state_dict(oa.state_dict())
    b.data[...] = a.data
    g = rng.standard_normal(3)
    a.grad, b.grad = tensor(g), tensor(g.copy())
    oa.step()
    ob.step()
    assert np.array_equal(a.data, b.data)


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("kw", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(kw, dtype):
    import torch

    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 4)).astype(dtype)
    p, tp = nn.Parameter(w0.copy()), torch.nn.Parameter(torch.from_numpy(w0.copy()))
    ours, theirs = optim.RMSprop([p], **kw), torch.optim.RMSprop([tp], **kw)
    for _ in range(10):
        g = rng.standard_normal((3, 4)).astype(dtype)
        p.grad, tp.grad = tensor(g.copy()), torch.from_numpy(g.copy())
        ours.step()
        theirs.step()
    # float32: a few ulps of the weights' size (~1) after 10 steps; float64: rounding only
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert np.abs(p.data - tp.detach().numpy()).max() < tol


def test_schedulers_follow_pytorchs_formulas():
    def lrs(make, n=12):
        opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        assert sched.last_epoch == n
        return out

    assert lrs(lambda o: StepLR(o, 5, 0.5))[:11] == [1.0] * 5 + [0.5] * 5 + [0.25]
    assert lrs(lambda o: MultiStepLR(o, [2, 4], 0.1))[:5] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert lrs(lambda o: ExponentialLR(o, 0.9))[3] == pytest.approx(0.729)
    cos = lrs(lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.1))
    assert cos[0] == 1.0 and cos[10] == pytest.approx(0.1) and cos[5] == pytest.approx(0.55)
    assert cos[3] == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 0.3)) / 2)
