"""``state_dict()`` as PyTorch's: a module's maps names to detached Tensors that share the
parameters' memory; an optimiser's is ``{"state": {0: {...}}, "param_groups": [{..., "params": [0, 1]}]}``.
``save``/``load`` keep that layout (int keys included), and ``load_state_dict`` still reads the
flat layout of older checkpoints (``"state.0.exp_avg"``), so earlier runs resume.

The expected layouts are written out (the tests run without PyTorch);
``test_the_layouts_are_pytorchs`` asks PyTorch itself where it is installed.
"""

import copy

import numpy as np
import pytest

import micrograd_plus as mp
from micrograd_plus import nn, optim

# optimiser -> (its keyword arguments, the entries of each parameter's state after one step)
OPTIMIZERS = {
    "SGD": (dict(lr=0.1), set()),
    "SGD momentum": (dict(lr=0.1, momentum=0.9), {"momentum_buffer"}),
    "Adam": (dict(lr=0.01), {"step", "exp_avg", "exp_avg_sq"}),
    "AdamW amsgrad": (dict(lr=0.01, amsgrad=True), {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
    "RMSprop": (dict(lr=0.01, momentum=0.5, centered=True), {"step", "square_avg", "momentum_buffer", "grad_avg"}),
}


def _class(name, lib):
    return getattr(lib.optim, name.split()[0])


def _model(lib=mp):
    """Two parameters, (3, 2) and (3,), with fixed values, in either library."""
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 2)), rng.standard_normal(3)
    return [lib.nn.Parameter(lib.tensor(w)), lib.nn.Parameter(lib.tensor(b))]


def _steps(params, opt, n, lib=mp, start=0):
    """``n`` steps of a fixed quadratic loss."""
    for i in range(start, start + n):
        opt.zero_grad()
        x = lib.tensor(np.linspace(-1, 1, 2) * (i + 1))  # (2,)
        loss = ((params[0] @ x + params[1]) ** 2).sum()
        loss.backward()
        opt.step()


def _one_step(name, lib=mp):
    params = _model(lib)
    kwargs, _ = OPTIMIZERS[name]
    opt = _class(name, lib)(params, **kwargs)
    _steps(params, opt, 1, lib)
    return params, opt


# ---- Module.state_dict ------------------------------------------------------------------------


def test_module_state_dict_holds_detached_tensors_sharing_the_parameters():
    lin = nn.Linear(2, 3, generator=0)
    sd = lin.state_dict()
    assert list(sd) == ["weight", "bias"]
    assert all(isinstance(v, mp.Tensor) and not v.requires_grad and v.grad_fn is None for v in sd.values())
    with mp.no_grad():
        lin.weight.add_(1.0)  # a training step changes what the state dict shows, as in PyTorch
    np.testing.assert_array_equal(sd["weight"].numpy(), lin.weight.numpy())
    snapshot = copy.deepcopy(lin.state_dict())  # how to keep the values of a moment
    with mp.no_grad():
        lin.weight.add_(1.0)
    np.testing.assert_array_equal(snapshot["weight"].numpy() + 1, lin.weight.numpy())
    fresh = nn.Linear(2, 3, generator=1)
    fresh.load_state_dict(snapshot)
    np.testing.assert_array_equal(fresh.weight.numpy() + 1, lin.weight.numpy())


# ---- Optimizer.state_dict: PyTorch's nested layout ----------------------------------------------


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_state_dict_has_pytorchs_layout(name):
    params, opt = _one_step(name)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    group = sd["param_groups"][0]
    assert group["params"] == [0, 1] and group["lr"] == OPTIMIZERS[name][0]["lr"]
    entries = OPTIMIZERS[name][1]
    assert sd["state"] == {} if not entries else set(sd["state"]) == {0, 1}
    for i, state in sd["state"].items():
        assert set(state) == entries
        for key, value in state.items():
            assert isinstance(value, mp.Tensor), key
            if key == "step":
                assert value.shape == () and value.dtype == np.float32 and value.item() == 1.0
            else:
                assert value.shape == params[i].shape and value.dtype == params[i].dtype


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_save_load_resumes_bit_for_bit(name, tmp_path):
    params, opt = _one_step(name)
    mp.save({"optim": opt.state_dict(), "params": [p.detach() for p in params]}, tmp_path / "ckpt.pt")
    _steps(params, opt, 3, start=1)  # the run that was not interrupted
    ckpt = mp.load(tmp_path / "ckpt.pt")
    assert list(ckpt["optim"]["state"]) == ([0, 1] if OPTIMIZERS[name][1] else [])  # int keys come back ints
    resumed = [nn.Parameter(t) for t in ckpt["params"]]
    opt2 = _class(name, mp)(resumed, **OPTIMIZERS[name][0])
    opt2.load_state_dict(ckpt["optim"])
    _steps(resumed, opt2, 3, start=1)
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_the_old_flat_layout_still_loads():
    """A checkpoint written before the nested layout: its dict built by hand, key by key."""
    params, opt = _one_step("Adam")
    m0, v0 = opt.state[id(params[0])]["exp_avg"].copy(), opt.state[id(params[0])]["exp_avg_sq"].copy()
    m1, v1 = opt.state[id(params[1])]["exp_avg"].copy(), opt.state[id(params[1])]["exp_avg_sq"].copy()
    flat = {
        "param_groups.0.lr": 0.01, "param_groups.0.betas": np.array([0.9, 0.999]), "param_groups.0.eps": 1e-8,
        "param_groups.0.weight_decay": 0.0, "param_groups.0.amsgrad": False,
        "param_groups.0.params": np.array([0, 1]),
        "state.0.step": 1, "state.0.exp_avg": m0, "state.0.exp_avg_sq": v0,
        "state.1.step": np.array(1), "state.1.exp_avg": m1, "state.1.exp_avg_sq": v1,
    }
    resumed = [nn.Parameter(p.detach().clone()) for p in params]
    opt2 = optim.Adam(resumed, lr=0.5)
    opt2.load_state_dict(flat)
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    _steps(params, opt, 2, start=1)
    _steps(resumed, opt2, 2, start=1)
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_bad_state_dict_changes_nothing_and_says_what_is_wrong():
    params, opt = _one_step("Adam")
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][1]["exp_avg"] = mp.zeros(4)
    sd["param_groups"][0]["lr"] = 0.5
    before = opt.state[id(params[1])]["exp_avg"].copy()
    with pytest.raises(ValueError, match=r"state 1 'exp_avg' has shape \(4,\), but parameter 1 has shape \(3,\)"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(opt.state[id(params[1])]["exp_avg"], before)
    with pytest.raises(ValueError, match="2 parameter group"):
        opt.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(ValueError, match="neither PyTorch's layout"):
        opt.load_state_dict({"lr": 0.1})


def test_the_layouts_are_pytorchs():
    """The expectations above, asked of PyTorch itself (skipped without it)."""
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(2, 3)
    sd = lin.state_dict()
    assert list(sd) == ["weight", "bias"] and not sd["weight"].requires_grad
    with torch.no_grad():
        lin.weight.add_(1.0)
    assert torch.equal(sd["weight"], lin.weight)  # shared
    for name, (kwargs, entries) in OPTIMIZERS.items():
        params, opt = _one_step(name, torch)
        tsd = opt.state_dict()
        assert set(tsd) == {"state", "param_groups"}
        assert tsd["param_groups"][0]["params"] == [0, 1]
        ours = _one_step(name)[1].state_dict()
        assert set(ours["param_groups"][0]) <= set(tsd["param_groups"][0]), name  # no key PyTorch lacks
        assert set(tsd["state"]) == set(ours["state"]), name
        for i, state in tsd["state"].items():
            assert set(state) == entries, name
            if "step" in state:
                assert state["step"].dtype == torch.float32 and state["step"].shape == () and state["step"].item() == 1
            for key, value in state.items():
                np.testing.assert_allclose(ours["state"][i][key].numpy(), value.numpy(), rtol=1e-6, err_msg=f"{name} {key}")
