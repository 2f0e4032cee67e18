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


def test_more_activation_and_loss_modules_match_functional():
    x = torch.Tensor(np.linspace(-2, 2, 12).reshape(3, 4))
    F = nn.functional
    assert np.allclose(nn.LeakyReLU(0.2)(x).numpy(), F.leaky_relu(x, 0.2).numpy())
    assert np.allclose(nn.SiLU()(x).numpy(), (x * x.sigmoid()).numpy())
    assert np.allclose(nn.ELU()(x).numpy(), F.elu(x).numpy()) and np.allclose(nn.Softplus()(x).numpy(),
                                                                            F.softplus(x).numpy())
    assert np.allclose(nn.Softmax(dim=1)(x).numpy().sum(1), 1.0)
    assert np.allclose(nn.Softmax()(x).numpy().sum(1), 1.0)  # dim=None on 2-D input: dim 1, PyTorch's rule
    assert np.allclose(nn.LogSoftmax(dim=-1)(x).numpy(), F.log_softmax(x, -1).numpy())
    y = np.array([0, 3, 1])
    assert nn.NLLLoss()(F.log_softmax(x, -1), y).item() == pytest.approx(nn.CrossEntropyLoss()(x, y).item())
    assert nn.L1Loss()(x, torch.zeros(3, 4)).item() == pytest.approx(np.abs(x.numpy()).mean())
    p = torch.Tensor([0.2, 0.9])
    t = torch.Tensor([0.0, 1.0])
    assert nn.BCELoss()(p, t).item() == pytest.approx(-(np.log(0.8) + np.log(0.9)) / 2, rel=1e-6)
    assert nn.BCEWithLogitsLoss()(torch.Tensor([0.0]), torch.Tensor([1.0])).item() == pytest.approx(np.log(2))


def test_xavier_and_kaiming_use_pytorchs_scales():
    w = nn.Parameter(np.zeros((200, 300), np.float32))
    nn.init.xavier_uniform_(w, generator=0)
    assert abs(np.abs(w.numpy()).max() - np.sqrt(6 / 500)) < 1e-3 and w.numpy().std() == pytest.approx(
        np.sqrt(2 / 500), rel=0.02)
    nn.init.kaiming_normal_(w, nonlinearity="relu", generator=1)
    assert w.numpy().std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    nn.init.kaiming_uniform_(w, a=np.sqrt(5), generator=2)  # nn.Linear's own init in PyTorch: U(+-1/sqrt(in))
    assert np.abs(w.numpy()).max() == pytest.approx(1 / np.sqrt(300), rel=1e-3)
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5, generator=3)
    assert np.abs(w.numpy()).max() <= 0.5
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3, np.float32)))
