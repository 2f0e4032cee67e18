"""Optimisers and learning-rate schedules.

Expected values are written out by hand (the arithmetic of 2-3 steps on two-element arrays) or
come from torch.optim when torch is installed; never from running our own optimiser.
"""

import math

import numpy as np
import pytest

from micrograd_plus import Tensor, kernels, optim, tensor


class P(Tensor):
    """A parameter whose ``.data`` reads as, and ``.grad`` may be set from, a numpy array: the
    by-hand arithmetic below stays short. The optimiser sees an ordinary Tensor."""

    def __init__(self, data, dtype=np.float64):
        super().__init__(np.array(data, dtype=dtype), requires_grad=True, dtype=dtype)  # dtype kept

    @property
    def data(self):
        return self._data

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, g):
        self._grad = None if g is None else tensor(np.asarray(g))


P0 = [1.0, -2.0]
GRADS = [[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]]  # the gradient fed at steps 1, 2, 3


def run(opt_cls, steps, **kwargs):
    """Feed GRADS[0..steps-1] to a fresh optimiser over one parameter starting at P0."""
    p = P(P0)
    opt = opt_cls([p], **kwargs)
    history = []
    for g in GRADS[:steps]:
        p.grad = np.array(g)
        opt.step()
        history.append(p.data.copy())
    return history


# ---------------------------------------------------------------------------------------------
# SGD, by hand
# ---------------------------------------------------------------------------------------------


def test_sgd_plain_by_hand():
    h = run(optim.SGD, 2, lr=0.1)
    # p1 = [1, -2] - 0.1 * [1, -1] = [0.9, -1.9]
    np.testing.assert_allclose(h[0], [0.9, -1.9], rtol=0, atol=1e-15)
    # p2 = [0.9, -1.9] - 0.1 * [0.5, 2] = [0.85, -2.1]
    np.testing.assert_allclose(h[1], [0.85, -2.1], rtol=0, atol=1e-15)


def test_sgd_momentum_by_hand():
    h = run(optim.SGD, 3, lr=0.1, momentum=0.9)
    # step 1: buf = g1 = [1, -1];                           p = [1, -2] - 0.1*[1, -1] = [0.9, -1.9]
    # step 2: buf = 0.9*[1, -1] + [0.5, 2] = [1.4, 1.1];    p = [0.9 - 0.14, -1.9 - 0.11] = [0.76, -2.01]
    # step 3: buf = 0.9*[1.4, 1.1] + [-1, 0] = [0.26, 0.99]; p = [0.76 - 0.026, -2.01 - 0.099]
    np.testing.assert_allclose(h[0], [0.9, -1.9], atol=1e-14)
    np.testing.assert_allclose(h[1], [0.76, -2.01], atol=1e-14)
    np.testing.assert_allclose(h[2], [0.734, -2.109], atol=1e-14)


def test_sgd_nesterov_by_hand():
    h = run(optim.SGD, 2, lr=0.1, momentum=0.9, nesterov=True)
    # step 1: buf = [1, -1]; g = g1 + 0.9*buf = [1.9, -1.9];            p = [0.81, -1.81]
    # step 2: buf = [1.4, 1.1]; g = [0.5, 2] + 0.9*[1.4, 1.1] = [1.76, 2.99]; p = [0.81 - 0.176, -1.81 - 0.299]
    np.testing.assert_allclose(h[0], [0.81, -1.81], atol=1e-14)
    np.testing.assert_allclose(h[1], [0.634, -2.109], atol=1e-14)


def test_sgd_weight_decay_by_hand():
    h = run(optim.SGD, 2, lr=0.1, weight_decay=0.1)
    # step 1: g = [1, -1] + 0.1*[1, -2] = [1.1, -1.2];          p = [0.89, -1.88]
    # step 2: g = [0.5, 2] + 0.1*[0.89, -1.88] = [0.589, 1.812]; p = [0.89 - 0.0589, -1.88 - 0.1812]
    np.testing.assert_allclose(h[0], [0.89, -1.88], atol=1e-14)
    np.testing.assert_allclose(h[1], [0.8311, -2.0612], atol=1e-14)


def test_sgd_dampening_by_hand():
    h = run(optim.SGD, 2, lr=0.1, momentum=0.9, dampening=0.5)
    # step 1: buf = g1 (no dampening on the first step);      p = [0.9, -1.9]
    # step 2: buf = 0.9*[1, -1] + 0.5*[0.5, 2] = [1.15, 0.1]; p = [0.9 - 0.115, -1.9 - 0.01]
    np.testing.assert_allclose(h[1], [0.785, -1.91], atol=1e-14)


def test_sgd_leaves_grad_untouched_with_weight_decay():
    p = P(P0)
    p.grad = np.array([1.0, 1.0])
    optim.SGD([p], lr=0.1, weight_decay=0.5, momentum=0.9).step()
    np.testing.assert_array_equal(p.grad, [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Adam / AdamW, by hand
# ---------------------------------------------------------------------------------------------


def _adam_step2_updates():
    # m2 = 0.9*[0.1, -0.1] + 0.1*[0.5, 2] = [0.14, 0.11]
    # v2 = 0.999*[0.001, 0.001] + 0.001*[0.25, 4] = [0.001249, 0.004999]
    # bias corrections: 1 - 0.9**2 = 0.19, 1 - 0.999**2 = 0.001999
    return np.array([
        0.1 * (0.14 / 0.19) / (math.sqrt(0.001249 / 0.001999) + 1e-8),
        0.1 * (0.11 / 0.19) / (math.sqrt(0.004999 / 0.001999) + 1e-8),
    ])


def test_adam_by_hand():
    h = run(optim.Adam, 2, lr=0.1)
    # step 1: m = 0.1*g1 = [0.1, -0.1], v = 0.001*g1^2 = [0.001, 0.001];
    # corrected: m^ = m / 0.1 = [1, -1], v^ = v / 0.001 = [1, 1]; step = 0.1 * m^ / (sqrt(v^) + 1e-8)
    step1 = 0.1 / (1 + 1e-8)
    np.testing.assert_allclose(h[0], [1 - step1, -2 + step1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(h[1], h[0] - _adam_step2_updates(), rtol=0, atol=1e-12)
    # the numbers, for a reader checking by calculator: about [0.80678, -1.93661]
    np.testing.assert_allclose(h[1], [0.806782, -1.936610], atol=1e-6)


def test_adam_l2_weight_decay_by_hand():
    h = run(optim.Adam, 1, lr=0.1, weight_decay=0.1)
    # g = [1, -1] + 0.1*[1, -2] = [1.1, -1.2]; m^ = g, v^ = g^2, so the step is 0.1 * sign(g) (up to eps)
    np.testing.assert_allclose(h[0], [1 - 0.1 * 1.1 / (1.1 + 1e-8), -2 + 0.1 * 1.2 / (1.2 + 1e-8)], atol=1e-13)


def test_adamw_by_hand():
    h = run(optim.AdamW, 2, lr=0.1, weight_decay=0.1)
    # step 1: decay first, p = [1, -2] * (1 - 0.1*0.1) = [0.99, -1.98]; then the Adam step of 0.1/(1+1e-8)
    step1 = 0.1 / (1 + 1e-8)
    np.testing.assert_allclose(h[0], [0.99 - step1, -1.98 + step1], atol=1e-13)
    # step 2: decay p1 by 0.99 again; the Adam part does not see the decay (same as plain Adam)
    np.testing.assert_allclose(h[1], h[0] * 0.99 - _adam_step2_updates(), atol=1e-12)


def test_adamw_default_weight_decay_is_pytorchs():
    assert optim.AdamW([P(P0)]).param_groups[0]["weight_decay"] == 0.01
    assert optim.Adam([P(P0)]).param_groups[0]["weight_decay"] == 0.0
    g = optim.Adam([P(P0)]).param_groups[0]
    assert (g["lr"], g["betas"], g["eps"]) == (1e-3, (0.9, 0.999), 1e-8)


def test_amsgrad_uses_running_max_by_hand():
    # g1 = [1, -1], g2 = [0, 0]: v2 = 0.999 * v1 < v1, so AMSGrad divides by the corrected max(v1, v2) = v1
    p = P(P0)
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = np.array([1.0, -1.0])
    opt.step()
    p1 = p.data.copy()
    p.grad = np.array([0.0, 0.0])
    opt.step()
    # m2 = 0.9*[0.1, -0.1]; m^ = m2 / 0.19; v_max = 0.001; v^ = 0.001 / 0.001999
    upd = 0.1 * (0.09 / 0.19) / (math.sqrt(0.001 / 0.001999) + 1e-8)
    np.testing.assert_allclose(p.data, p1 - [upd, -upd], atol=1e-13)


# ---------------------------------------------------------------------------------------------
# general behaviour
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1),
])
def test_float32_stays_float32_in_place(make):
    p = P(np.ones((3, 2)), dtype=np.float32)
    buffer = p.data
    opt = make([p])
    for _ in range(2):
        p.grad = np.full((3, 2), 0.5, dtype=np.float32)
        opt.step()
    assert p.data is buffer and p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))
    assert not np.allclose(p.data, 1.0)


def test_parameters_without_grad_are_skipped():
    a, b = P(P0), P(P0)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, 1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, P0)
    assert id(b) not in opt.state


def test_zero_grad():
    a, b = P(P0), P(P0)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_param_groups_have_their_own_hyperparameters():
    a, b = P(P0), P(P0)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = np.array([1.0, 1.0])
    opt.step()
    np.testing.assert_allclose(a.data, [0.9, -2.1])
    np.testing.assert_allclose(b.data, [0.0, -3.0])
    # AdamW: decay only where asked (the GPT's no-decay group)
    c, d = P(P0), P(P0)
    opt = optim.AdamW([{"params": [c], "weight_decay": 0.5}, {"params": [d], "weight_decay": 0.0}], lr=0.1)
    c.grad = d.grad = np.zeros(2)  # zero gradient: only weight decay can move a weight
    opt.step()
    np.testing.assert_allclose(c.data, np.array(P0) * (1 - 0.1 * 0.5))
    np.testing.assert_array_equal(d.data, P0)


@pytest.mark.parametrize("bad, match", [
    (lambda: optim.SGD([], lr=0.1), "empty"),
    (lambda: optim.SGD([P(P0)], lr=-1.0), "^lr must be"),
    (lambda: optim.SGD([P(P0)], lr=0.1, nesterov=True), "Nesterov"),
    (lambda: optim.Adam([P(P0)], betas=(0.9, 1.0)), "betas"),
    (lambda: optim.SGD([{"params": [P(P0)], "betas": (0.9, 0.9)}], lr=0.1), "betas"),
    (lambda: optim.SGD([np.zeros(3)], lr=0.1), "can only optimise Tensors"),
])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad()


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("make, name", [
    (lambda v: optim.SGD([P(P0)], lr=v), "lr"),
    (lambda v: optim.SGD([P(P0)], lr=0.1, momentum=v), "momentum"),
    (lambda v: optim.SGD([P(P0)], lr=0.1, dampening=v), "dampening"),
    (lambda v: optim.SGD([P(P0)], lr=0.1, weight_decay=v), "weight_decay"),
    (lambda v: optim.Adam([P(P0)], lr=v), "lr"),
    (lambda v: optim.Adam([P(P0)], eps=v), "eps"),
    (lambda v: optim.AdamW([P(P0)], weight_decay=v), "weight_decay"),
    (lambda v: optim.AdamW([P(P0)], betas=(v, 0.99)), "betas"),
    (lambda v: optim.AdamW([{"params": [P(P0)], "lr": v}], lr=0.1), "lr"),
    (lambda v: optim.CosineWithWarmup(optim.SGD([P(P0)], lr=0.1), 1, 10, min_lr=v), "min_lr"),
    (lambda v: optim.StepLR(optim.SGD([P(P0)], lr=0.1), 2, gamma=v), "gamma"),
])
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_nan_and_inf_hyperparameters_are_refused_naming_them(make, name, value):
    # NaN fails every comparison: without an explicit check `lr < 0` lets it through and the first
    # step turns every weight into NaN
    with pytest.raises(ValueError, match=rf"^{name}"):
        make(value)


def test_a_schedule_that_yields_nan_is_refused():
    opt = optim.SGD([P(P0)], lr=0.1)
    with pytest.raises(ValueError, match="LambdaLR gave learning rate nan"):
        optim.LambdaLR(opt, lambda step: NAN)


def test_same_parameter_twice_is_an_error():
    p = P(P0)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_gradient_of_wrong_shape_is_an_error():
    p = P(P0)
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        optim.SGD([p], lr=0.1).step()


def test_optimises_a_linear_layer_with_real_gradients():
    """End to end with nn.Parameter and the tensor engine: least squares fits y = 3x - 1."""
    from micrograd_plus import Tensor, nn

    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(32, 1)
    y = 3 * x - 1
    layer = nn.Linear(1, 1, generator=0)
    opt = optim.SGD(layer.parameters(), lr=0.5, momentum=0.5)
    for _ in range(100):
        err = layer(Tensor(x)) - Tensor(y)
        loss = (err * err).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(layer.weight.data, [[3.0]], atol=1e-3)
    np.testing.assert_allclose(layer.bias.data, [-1.0], atol=1e-3)


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def _make(opt_name, params):
    if opt_name == "sgd":
        return optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)
    if opt_name == "adam":
        return optim.Adam(params, lr=0.01, amsgrad=True)
    return optim.AdamW([{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}],
                       lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adamw"])
def test_state_dict_round_trip_through_npz_resumes_identically(opt_name, tmp_path):
    rng = np.random.default_rng(0)
    grads = [[rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
             for _ in range(6)]
    params = [P(rng.standard_normal((3, 4)), np.float32), P(rng.standard_normal(5), np.float32)]
    opt = _make(opt_name, params)

    def steps(opt, params, gs):
        for g in gs:
            for p, gi in zip(params, g):
                p.grad = gi.copy()
            opt.step()

    steps(opt, params, grads[:3])
    np.savez(tmp_path / "opt.npz", **optim.flat_state_dict(opt.state_dict()))  # a training checkpoint's layout
    saved = [p.data.copy() for p in params]

    # an uninterrupted run...
    steps(opt, params, grads[3:])
    # ...and a resumed one, from the file, with fresh parameter objects and a fresh optimiser
    params2 = [P(s, np.float32) for s in saved]
    opt2 = _make(opt_name, params2)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        opt2.load_state_dict(dict(f))
    steps(opt2, params2, grads[3:])
    for p, p2 in zip(params, params2):
        np.testing.assert_array_equal(p.data, p2.data)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert type(opt2.param_groups[0]["lr"]) is float


def test_state_dict_shares_the_buffers_and_its_flat_form_copies():
    p = P(P0)
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    flat = optim.flat_state_dict(sd)
    before = flat["state.0.exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], opt.state[id(p)]["exp_avg"])  # the live buffer, as in PyTorch
    assert not np.array_equal(sd["state"][0]["exp_avg"], before)
    np.testing.assert_array_equal(flat["state.0.exp_avg"], before)  # the flat form is a copy
    assert flat["state.0.step"] == 1 and sd["state"][0]["step"].item() == 1.0
    np.testing.assert_array_equal(flat["param_groups.0.betas"], [0.9, 0.999])
    np.testing.assert_array_equal(flat["param_groups.0.params"], [0])
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert all(isinstance(k, str) for k in flat)


def test_load_state_dict_rejects_mismatches_and_changes_nothing():
    p = P(P0)
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(2)
    opt.step()
    good = opt.state_dict()

    other = optim.Adam([P(np.zeros(3))], lr=0.5)
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        other.load_state_dict(good)
    assert other.state == {} and other.param_groups[0]["lr"] == 0.5  # untouched

    two_groups = optim.Adam([{"params": [P(P0)]}, {"params": [P(P0)]}], lr=0.5)
    with pytest.raises(ValueError, match="1 parameter group"):
        two_groups.load_state_dict(good)

    extra = dict(optim.flat_state_dict(good), **{"state.0.bogus_extra": np.zeros(2), "state.7.exp_avg": np.zeros(2)})
    with pytest.raises(ValueError, match="refers to no parameter"):
        optim.Adam([P(P0)], lr=0.5).load_state_dict(extra)


# ---------------------------------------------------------------------------------------------
# learning-rate schedules
# ---------------------------------------------------------------------------------------------


def lrs_over(sched, n):
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return out


def test_lambda_lr():
    opt = optim.SGD([P(P0)], lr=0.1)
    sched = optim.LambdaLR(opt, lambda step: 1.0 / (step + 1))
    np.testing.assert_allclose(lrs_over(sched, 4), [0.1, 0.05, 0.1 / 3, 0.025])


def test_lambda_lr_per_group():
    opt = optim.SGD([{"params": [P(P0)]}, {"params": [P(P0)], "lr": 1.0}], lr=0.1)
    sched = optim.LambdaLR(opt, [lambda s: 1.0, lambda s: 0.5 ** s])
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.1, 0.25]


def test_step_lr():
    opt = optim.SGD([P(P0)], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    np.testing.assert_allclose(lrs_over(sched, 6), [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])


def test_cosine_with_warmup_at_known_steps():
    opt = optim.AdamW([P(P0)], lr=1e-3)
    sched = optim.CosineWithWarmup(opt, warmup_steps=10, total_steps=110, min_lr=1e-4)
    lrs = lrs_over(sched, 201)
    assert lrs[0] == pytest.approx(1e-3 * 1 / 11)  # warm-up: base * (step + 1) / (warmup + 1)
    assert lrs[9] == pytest.approx(1e-3 * 10 / 11)
    assert lrs[10] == pytest.approx(1e-3)  # warm-up done: the full rate
    assert lrs[60] == pytest.approx(1e-4 + 0.5 * 0.9e-3)  # half way down the cosine: cos(pi/2) = 0
    assert lrs[35] == pytest.approx(1e-4 + 0.9e-3 * (1 + math.cos(math.pi / 4)) / 2)
    assert lrs[110] == pytest.approx(1e-4) and lrs[200] == pytest.approx(1e-4)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rising
    assert all(a > b for a, b in zip(lrs[10:110], lrs[11:111]))  # falling


def test_scheduler_sets_the_lr_the_optimiser_uses():
    p = P([0.0])
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=1, gamma=0.1)
    for _ in range(3):
        p.grad = np.array([1.0])
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [-(1.0 + 0.1 + 0.01)])


def test_scheduler_state_dict_resumes():
    opt = optim.SGD([P(P0)], lr=1e-3)
    sched = optim.CosineWithWarmup(opt, 5, 50, min_lr=1e-5)
    for _ in range(17):
        sched.step()
    sd = sched.state_dict()
    opt2 = optim.SGD([P(P0)], lr=1e-3)
    sched2 = optim.CosineWithWarmup(opt2, 5, 50, min_lr=1e-5)
    sched2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert lrs_over(sched2, 5) == lrs_over(sched, 5)


def test_cosine_with_warmup_rejects_bad_steps():
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        optim.CosineWithWarmup(optim.SGD([P(P0)], lr=1.0), warmup_steps=10, total_steps=10)


# ---------------------------------------------------------------------------------------------
# against torch.optim (when installed)
# ---------------------------------------------------------------------------------------------

TORCH_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("name, kwargs", TORCH_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torch_optim(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (5,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [P(a, dtype) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(5):
        for p, t, s in zip(ours, theirs, shapes):
            g = rng.standard_normal(s).astype(dtype)
            p.grad = g
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for p, t in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, t.detach().numpy(), **tol)


def test_param_groups_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    init = [rng.standard_normal((4, 3)), rng.standard_normal(4)]
    ours = [P(a) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = optim.AdamW([{"params": ours[:1]}, {"params": ours[1:], "weight_decay": 0.0, "lr": 3e-3}],
                      lr=1e-2, weight_decay=0.1)
    topt = torch.optim.AdamW([{"params": theirs[:1]}, {"params": theirs[1:], "weight_decay": 0.0, "lr": 3e-3}],
                             lr=1e-2, weight_decay=0.1)
    for _ in range(4):
        for p, t in zip(ours, theirs):
            g = rng.standard_normal(p.data.shape)
            p.grad, t.grad = g, torch.tensor(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_step_lr_matches_torch():
    torch = pytest.importorskip("torch")
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    o_opt = optim.SGD([P([0.0])], lr=0.3)
    pairs = [
        (torch.optim.lr_scheduler.StepLR(t_opt, step_size=3, gamma=0.5), optim.StepLR(o_opt, step_size=3, gamma=0.5)),
    ]
    for t_sched, o_sched in pairs:
        for _ in range(10):
            assert o_sched.get_last_lr()[0] == pytest.approx(t_sched.get_last_lr()[0], rel=1e-12)
            t_opt.step()
            t_sched.step()
            o_sched.step()


# hypothesis: random hyperparameters, 3 steps, against torch in float64
try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    given = None

if given is not None:
    unit = st.floats(0.0, 0.95)

    @given(lr=st.floats(1e-4, 1.0), momentum=unit, dampening=unit, weight_decay=st.floats(0.0, 0.5),
           nesterov=st.booleans(), seed=st.integers(0, 2**16))
    def test_sgd_matches_torch_for_any_hyperparameters(lr, momentum, dampening, weight_decay, nesterov, seed):
        torch = pytest.importorskip("torch")
        if nesterov:
            momentum, dampening = max(momentum, 0.1), 0.0
        kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        _compare_with_torch("SGD", kw, seed, torch)

    @given(lr=st.floats(1e-4, 0.5), beta1=unit, beta2=st.floats(0.5, 0.999), eps=st.floats(1e-10, 1e-3),
           weight_decay=st.floats(0.0, 0.5), amsgrad=st.booleans(), name=st.sampled_from(["Adam", "AdamW"]),
           seed=st.integers(0, 2**16))
    def test_adam_matches_torch_for_any_hyperparameters(lr, beta1, beta2, eps, weight_decay, amsgrad, name, seed):
        torch = pytest.importorskip("torch")
        kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        _compare_with_torch(name, kw, seed, torch)


def _compare_with_torch(name, kwargs, seed, torch, steps=3):
    rng = np.random.default_rng(seed)
    init = rng.standard_normal((3, 2))
    p, t = P(init), torch.tensor(init.copy(), requires_grad=True)
    opt, topt = getattr(optim, name)([p], **kwargs), getattr(torch.optim, name)([t], **kwargs)
    for _ in range(steps):
        g = rng.standard_normal((3, 2))
        p.grad, t.grad = g, torch.tensor(g.copy())
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_lambda_lr_matches_torch():
    torch = pytest.importorskip("torch")

    def fn(step):
        return 0.95 ** step if step % 3 else 0.5

    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    t_sched = torch.optim.lr_scheduler.LambdaLR(t_opt, fn)
    o_sched = optim.LambdaLR(optim.SGD([P([0.0])], lr=0.2), fn)
    for _ in range(8):
        assert o_sched.get_last_lr()[0] == pytest.approx(t_sched.get_last_lr()[0], rel=1e-12)
        t_opt.step()
        t_sched.step()
        o_sched.step()


def test_optimizer_load_state_dict_needs_a_mapping():
    with pytest.raises(TypeError, match="the dict made by state_dict"):
        optim.SGD([P(P0)], lr=0.1).load_state_dict([1, 2])


if given is not None:

    @given(warmup=st.integers(0, 50), extra=st.integers(1, 200), base=st.floats(1e-5, 1.0),
           frac=st.floats(0.0, 1.0))
    def test_cosine_with_warmup_invariants(warmup, extra, base, frac):
        total, min_lr = warmup + extra, base * frac
        lrs = [optim.cosine_with_warmup_lr(s, base, warmup, total, min_lr) for s in range(total + 5)]
        assert all(0 < lr <= base * (1 + 1e-12) for lr in lrs[:warmup])  # warm-up never hits 0
        assert lrs[warmup] == pytest.approx(base)  # the peak, right after warm-up
        assert lrs[total] == pytest.approx(min_lr) and lrs[-1] == pytest.approx(min_lr)
        after = lrs[warmup:]
        assert all(b <= a * (1 + 1e-12) for a, b in zip(after, after[1:]))  # never rises again
        assert all(min_lr * (1 - 1e-12) <= lr for lr in after)


def test_load_state_dict_rejects_incomplete_or_foreign_state():
    p = P(P0)
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(2)
    opt.step()
    sd = optim.flat_state_dict(opt.state_dict())
    broken = {k: v for k, v in sd.items() if k != "state.0.step"}
    with pytest.raises(ValueError, match=r"entries \['exp_avg', 'exp_avg_sq'\]"):
        optim.Adam([P(P0)], lr=0.1).load_state_dict(broken)
    wrong_type = dict(sd, **{"param_groups.0.lr": np.array("fast")})
    with pytest.raises(ValueError, match="parameter group 0: lr"):
        optim.Adam([P(P0)], lr=0.1).load_state_dict(wrong_type)
    sgd = optim.SGD([P(P0)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError):  # an Adam checkpoint is not an SGD one
        sgd.load_state_dict(sd)
    assert sgd.state == {}


def test_reduce_lr_on_plateau_by_hand():
    """patience=1: the lr is cut after the second call in a row without a 1e-4 relative improvement;
    cooldown=1 lets one call pass before bad calls count again; min_lr is a floor."""
    import micrograd_plus as mp

    opt = mp.optim.SGD([mp.zeros(1, requires_grad=True)], lr=1.0)
    sched = mp.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    lrs = []
    for loss in [1.0, 0.9, 0.9, 0.89995, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        sched.step(mp.tensor(loss))
        lrs.append(sched.get_last_lr()[0])
    #          better bad  bad->cut cool  bad  bad->cut cool bad  bad->floor
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    state = sched.state_dict()
    again = mp.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    again.load_state_dict(state)
    assert again.best == pytest.approx(0.9) and again.num_bad_epochs == sched.num_bad_epochs and again.last_epoch == 10
    up = mp.optim.lr_scheduler.ReduceLROnPlateau(mp.optim.SGD([mp.zeros(1, requires_grad=True)], lr=1.0),
                                                 mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    up.step(1.0)
    up.step(1.05)  # not more than 0.1 better: a cut (factor 0.1 by default)
    assert up.get_last_lr() == [pytest.approx(0.1)]
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        mp.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.AdamW(ps, lr=0.1)], ids=["SGD", "AdamW"])
def test_step_records_which_parameters_it_wrote_finite(make):
    """``_checked_finite`` (what the training loop's guard trusts instead of re-reading the weights)
    holds a parameter only when this very step's compiled update wrote it and found every value
    finite: not one whose update wrote NaN/inf, not one without a gradient, not one the numpy
    reference updated (a byte-swapped one), and nothing left over from the step before."""
    finite, poisoned, no_grad = (Tensor(np.ones(40_000 if i == 0 else 5, np.float32), requires_grad=True)
                                 for i in range(3))
    swapped = tensor(np.ones(5, ">f4"), requires_grad=True)  # the numpy reference updates it
    params = [finite, poisoned, no_grad, swapped]
    opt = make(params)
    for p in (finite, poisoned, swapped):
        p.grad = Tensor(np.full(p.shape, 0.5, np.float32))
    poisoned.grad.numpy()[2] = np.inf
    opt.step()
    # without numba (NUMBA_DISABLE_JIT=1) the numpy reference updates everything and vouches for nothing
    assert opt._checked_finite == ({id(finite)} if kernels.get_backend() == "numba" else set())
    assert not np.isfinite(poisoned.numpy()).all()
    finite.grad = None  # the next step updates nothing: nothing may be vouched for
    poisoned.grad = swapped.grad = None
    opt.step()
    assert opt._checked_finite == set()


def test_only_the_library_s_own_steps_are_trusted_to_have_counted():
    """``optim.checked_finite`` (what the training loop's guard skips) is empty for a subclass that
    overrides ``step`` -- it may change the weights after the compiled update counted them -- and
    for an object that is not an Optimizer at all; SGD and AdamW themselves are trusted."""

    class ScalesAfterwards(optim.SGD):
        def step(self):
            super().step()
            for group in self.param_groups:
                for p in group["params"]:
                    p.numpy()[...] *= np.inf  # after the count: the count no longer describes p

    for make, trusted in ((optim.SGD, True), (optim.AdamW, True), (ScalesAfterwards, False)):
        p = Tensor(np.ones(5, np.float32), requires_grad=True)
        opt = make([p], lr=0.1)
        p.grad = Tensor(np.full(5, 0.5, np.float32))
        opt.step()
        compiled = kernels.get_backend() == "numba"
        assert optim.checked_finite(opt) == ({id(p)} if trusted and compiled else set())
    assert optim.checked_finite(object()) == set()
