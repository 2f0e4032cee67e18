"""Module bookkeeping: registration, naming, modes, gradients, state dicts."""

import numpy as np
import pytest

from micrograd_plus import Tensor, nn, tensor


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.ones((2, 3)))
        self.b = nn.Parameter(np.zeros(2))

    def forward(self, x):
        return x @ self.w.T + self.b


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Inner()
        self.scale = nn.Parameter(np.array([2.0]))
        self.blocks = nn.ModuleList([Inner(), Inner()])
        self.not_registered = [Inner()]  # a plain list hides its modules (use ModuleList)
        self.note = "just an attribute"


def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 2), dtype=np.float64))
    assert isinstance(p, Tensor) and p.requires_grad and p.grad is None and p.is_leaf
    assert p.data.dtype == np.float64  # float arrays keep their dtype
    assert nn.Parameter([1.0, 2.0]).data.dtype == np.float32  # Python floats -> float32
    assert nn.Parameter(np.arange(3)).data.dtype == np.float32  # integers become float32
    assert "Parameter containing" in repr(p)


def test_named_parameters_dotted_in_registration_order():
    names = [n for n, _ in Outer().named_parameters()]
    assert names == ["scale", "first.w", "first.b", "blocks.0.w", "blocks.0.b", "blocks.1.w", "blocks.1.b"]


def test_parameters_and_modules_are_found():
    m = Outer()
    assert len(list(m.parameters())) == 7
    assert [n for n, _ in m.named_children()] == ["first", "blocks"]
    assert [n for n, _ in m.named_modules()] == ["", "first", "blocks", "blocks.0", "blocks.1"]
    assert len(list(m.modules())) == 5
    assert m.num_parameters() == 1 + 3 * (6 + 2)


def test_shared_parameter_is_listed_once():
    m = Outer()
    m.blocks[1].w = m.first.w  # tie two weights
    named = list(m.named_parameters())
    assert [n for n, _ in named].count("blocks.1.w") == 0
    assert len(named) == 6
    assert len({id(p) for _, p in named}) == 6
    assert "blocks.1.w" not in m.state_dict()


def test_shared_module_is_visited_once():
    m = nn.Module()
    inner = Inner()
    m.a = inner
    m.b = inner
    assert len(list(m.modules())) == 2
    assert [n for n, _ in m.named_parameters()] == ["a.w", "a.b"]


def test_reassignment_and_deletion_update_registration():
    m = Outer()
    m.scale = nn.Parameter(np.array([3.0]))
    assert m.scale.data[0] == 3.0
    m.first = nn.Identity()
    assert "first.w" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="Parameter"):
        m.scale = np.array([1.0])  # a bare array into a parameter slot: refuse, don't silently unregister
    m.scale = None  # an absent parameter, like bias=False
    assert "scale" not in dict(m.named_parameters())
    del m.blocks
    assert not hasattr(m, "blocks")
    assert all(not n.startswith("blocks") for n, _ in m.named_parameters())


def test_forgetting_super_init_gets_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_missing_attribute_error_names_the_class():
    with pytest.raises(AttributeError, match="'Outer' object has no attribute 'nope'"):
        Outer().nope


def test_call_runs_forward():
    m = Inner()
    x = tensor(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(m(x).data, [[6.0, 6.0]])
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(x)


def test_train_eval_recursive():
    m = Outer()
    assert m.training and m.blocks[1].training
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())


def test_zero_grad_none_or_zeros():
    m = Inner()
    m.w.grad = Tensor(np.ones((2, 3), dtype=np.float32))
    m.b.grad = Tensor(np.ones(2, dtype=np.float32))
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m.w.grad, np.zeros((2, 3)))
    m.zero_grad()
    assert m.w.grad is None and m.b.grad is None


def test_repr_is_nested_and_readable():
    text = repr(nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Dropout(0.1)))
    assert text == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1)\n"
        ")"
    )


def test_sequential_and_modulelist_containers():
    seq = nn.Sequential(nn.Linear(2, 3, generator=0), nn.ReLU(), nn.Linear(3, 1, generator=1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq[:2]) == 2
    x = Tensor(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_allclose(seq(x).data, seq[2](seq[1](seq[0](x))).data)
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    assert len(ml) == 2 and isinstance(ml[1], nn.Tanh)
    with pytest.raises(NotImplementedError):
        ml(x)


def test_sequential_and_modulelist_share_their_list_methods():
    seq = nn.Sequential([nn.Linear(2, 3, generator=0), nn.ReLU()])  # one list works too
    seq.extend([nn.Linear(3, 1, generator=1)])
    head = seq[:2]
    assert type(head) is nn.Sequential and list(head) == [seq[0], seq[1]]
    x = Tensor(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_allclose(seq(x).data, seq[2](head(x)).data)
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh) and [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh(), nn.GELU()])
    assert type(ml[1:]) is nn.ModuleList and isinstance(ml[1:][0], nn.Tanh)
    ml[-1] = nn.Sigmoid()
    assert isinstance(ml[2], nn.Sigmoid)
    with pytest.raises(TypeError, match="ModuleList takes Modules, got function"):
        ml[0] = lambda x: x
    with pytest.raises(TypeError, match="Sequential takes Modules, got int"):
        seq.append(3)


def test_nn_is_a_plain_package_below_the_models():
    # No lazily loaded names (a module-level __getattr__ hid an import cycle once), and nothing
    # of the models above it: `import micrograd_plus.nn` says everything it needs at its top.
    import subprocess
    import sys

    code = ("import sys, micrograd_plus.nn as nn; "
            "assert not hasattr(nn, '__getattr__'); "
            "assert not [m for m in sys.modules if m.startswith(('micrograd_plus.models', 'micrograd_plus.train'))]; "
            "assert nn.Sequential.__module__ == 'micrograd_plus.nn.containers'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_apply_visits_every_module():
    seen = []
    Outer().apply(lambda mod: seen.append(type(mod).__name__))
    assert sorted(seen) == ["Inner", "Inner", "Inner", "ModuleList", "Outer"]
    assert seen[-1] == "Outer"


def test_to_double_converts_parameters_and_buffers():
    m = nn.Linear(2, 2, generator=0)
    m.register_buffer("running", np.zeros(2, dtype=np.float32))
    m.weight.grad = Tensor(np.ones((2, 2), dtype=np.float32))
    w = m.weight.numpy().astype(np.float64)
    m.double()
    assert m.weight.data.dtype == np.float64 and m.bias.data.dtype == np.float64
    assert m.running.dtype == np.float64 and m.weight.grad is None
    np.testing.assert_array_equal(m.weight.data, w)
    assert m.float().weight.data.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ---------------------------------------------------------------------------------------------


def test_state_dict_shares_memory_as_pytorchs_and_deepcopy_keeps_a_snapshot():
    import copy

    m = Inner()
    sd, snapshot = m.state_dict(), copy.deepcopy(m.state_dict())
    assert list(sd) == ["w", "b"] and not sd["w"].requires_grad
    m.w.data += 1
    np.testing.assert_array_equal(sd["w"], np.full((2, 3), 2.0))  # detached, same memory
    np.testing.assert_array_equal(snapshot["w"], np.ones((2, 3)))


def test_state_dict_includes_buffers():
    m = Inner()
    m.register_buffer("count", np.array([5.0]))
    assert list(m.state_dict()) == ["w", "b", "count"]
    m.load_state_dict({"w": np.zeros((2, 3)), "b": np.zeros(2), "count": np.array([7.0])})
    np.testing.assert_array_equal(m.count, [7.0])


def test_load_state_dict_round_trip_through_npz(tmp_path):
    a = nn.MLP([4, 8, 3], generator=0)
    b = nn.MLP([4, 8, 3], generator=1)
    x = Tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    assert not np.allclose(a(x).data, b(x).data)
    np.savez(tmp_path / "m.npz", **a.state_dict())
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        result = b.load_state_dict(f)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_copies_in_place_and_keeps_dtype():
    m = nn.Linear(2, 2, generator=0)
    w = m.weight.numpy()
    m.load_state_dict({"weight": np.full((2, 2), 0.5), "bias": np.zeros(2)})  # float64 in, float32 kept
    assert m.weight.numpy() is w and w.dtype == np.float32
    np.testing.assert_array_equal(w, 0.5)


def test_load_state_dict_lists_every_problem_and_loads_nothing():
    m = nn.MLP([4, 8, 3], generator=0)
    before = m.state_dict()
    sd = {k: v + 1 for k, v in before.items()}
    sd["layers.0.weight"] = np.zeros((8, 5))  # wrong shape
    del sd["layers.2.bias"]  # missing
    sd["layers.9.weight"] = np.zeros(3)  # unexpected
    with pytest.raises(nn.StateDictError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "'layers.0.weight'" in msg and "(8, 5)" in msg and "(8, 4)" in msg
    assert "'layers.2.bias'" in msg and "missing" in msg
    assert "'layers.9.weight'" in msg and "unexpected" in msg
    assert "nothing was loaded" in msg
    assert info.value.missing_keys == ["layers.2.bias"]
    assert info.value.unexpected_keys == ["layers.9.weight"]
    assert [k for k, _ in info.value.mismatches] == ["layers.0.weight"]
    # the valid entries (layers.0.bias, layers.2.weight) were NOT loaded either
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_reports_keys_but_still_checks_shapes():
    m = nn.MLP([4, 8, 3], generator=0)
    sd = m.state_dict()
    del sd["layers.2.bias"]
    sd["extra"] = np.zeros(1)
    sd["layers.0.bias"] = sd["layers.0.bias"] + 1
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["layers.2.bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(m.layers[0].bias.data, sd["layers.0.bias"])
    sd["layers.0.bias"] = np.zeros(9)
    with pytest.raises(nn.StateDictError, match=r"\(9,\)"):
        m.load_state_dict(sd, strict=False)


def test_load_state_dict_rejects_uncastable_dtype():
    m = nn.Linear(1, 1, generator=0)
    with pytest.raises(nn.StateDictError, match="complex128"):
        m.load_state_dict({"weight": np.zeros((1, 1), dtype=complex), "bias": np.zeros(1)})


def test_deepcopy_gives_an_independent_model():
    import copy

    m = nn.MLP([3, 4, 2], generator=0)
    m2 = copy.deepcopy(m)
    assert [n for n, _ in m2.named_parameters()] == [n for n, _ in m.named_parameters()]
    assert isinstance(m2.layers[0].weight, nn.Parameter)
    m2.layers[0].weight.data += 1
    assert not np.array_equal(m.layers[0].weight.data, m2.layers[0].weight.data)


def test_load_state_dict_needs_a_mapping():
    with pytest.raises(TypeError, match="mapping"):
        Inner().load_state_dict([np.ones((2, 3)), np.zeros(2)])


def test_forgetting_parameter_wrapper_warns():
    m = nn.Module()
    with pytest.warns(UserWarning, match=r"nn.Parameter"):
        m.w = tensor(np.zeros(2), requires_grad=True)
    assert list(m.parameters()) == []
    x = tensor(np.ones(2), requires_grad=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.activation = x * 2  # an intermediate result (not a leaf) is a fine thing to keep
        m.constant = tensor(np.ones(2))  # and so is a constant
