"""ModuleDict, ParameterList/Dict, Sequential from an OrderedDict, Module.to(device/dtype)."""

from collections import OrderedDict

import numpy as np
import pytest

import micrograd_plus as torch
from micrograd_plus import nn


def test_sequential_from_ordered_dict_keeps_names():
    m = nn.Sequential(OrderedDict([("hidden", nn.Linear(3, 4)), ("act", nn.ReLU()), ("out", nn.Linear(4, 2))]))
    assert [n for n, _ in m.named_parameters()] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert m(torch.randn(5, 3)).shape == (5, 2) and isinstance(m[1], nn.ReLU) and m.hidden is m[0]


def test_module_dict_behaves_like_a_dict_and_registers():
    d = nn.ModuleDict({"a": nn.Linear(2, 2)})
    d["b"] = nn.Linear(2, 3)
    d.update([("c", nn.ReLU())])
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert list(d.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert d.pop("c") is not None and list(d.keys()) == ["a", "b"]
    del d["a"]
    assert [n for n, _ in d.named_parameters()] == ["b.weight", "b.bias"]
    with pytest.raises(TypeError, match="takes Modules"):
        d["x"] = 3
    with pytest.raises(KeyError, match="without '.'"):
        d["x.y"] = nn.ReLU()
    with pytest.raises(NotImplementedError, match="ModuleDict has no forward"):
        d(torch.ones(2))


def test_parameter_list_and_dict_wrap_tensors():
    pl = nn.ParameterList([torch.randn(2), nn.Parameter(np.zeros(3, np.float32))])
    pl.append(torch.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"] and all(p.requires_grad for p in pl)
    assert isinstance(pl[0], nn.Parameter) and len(pl) == 3
    pd = nn.ParameterDict({"w": torch.randn(2)})
    assert list(pd.state_dict()) == ["w"] and isinstance(pd["w"], nn.Parameter)
    with pytest.raises(TypeError, match="holds Parameters"):
        pd["v"] = 3.0

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterList([torch.ones(2) for _ in range(2)])

    assert len(list(Net().parameters())) == 2


def test_module_to_accepts_pytorchs_spellings():
    m = nn.Linear(2, 2)
    assert m.to("cpu") is m and m.cpu() is m and m.weight.dtype == np.float32
    m.to(torch.float64)
    assert m.weight.dtype == np.float64
    m.to("cpu", torch.float32)
    assert m.weight.dtype == np.float32
    m.to(device="cpu", dtype=torch.double)
    assert m.bias.dtype == np.float64
    m.to(torch.zeros(1))  # a tensor's dtype
    assert m.weight.dtype == np.float32
    m.double().float()
    with pytest.raises(RuntimeError, match="CPU only"):
        m.to("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        m.cuda()
    with pytest.raises(TypeError, match="floating dtype"):
        m.to(torch.long)
