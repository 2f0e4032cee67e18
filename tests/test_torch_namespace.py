"""PyTorch's top-level names: dtypes, devices, Generator and the random functions, grad modes,
from_numpy, save/load, autograd.grad, and the nn.functional alias."""

import importlib.util
import io
import zipfile

import numpy as np
import pytest

import micrograd_plus as torch
from micrograd_plus import nn

HAVE_TORCH = importlib.util.find_spec("torch") is not None


# ---- dtypes and devices ---------------------------------------------------------------------------


def test_dtype_names_are_numpy_dtypes_that_compare_equal():
    assert torch.randn(2).dtype == torch.float32 == torch.float
    assert torch.float64 == torch.double == np.float64
    assert torch.long == torch.int64 and torch.int == torch.int32 and torch.half == torch.float16
    assert torch.bool == np.bool_ and torch.uint8 == np.uint8 and torch.int8 == np.int8 and torch.int16 == np.int16
    assert torch.zeros(2, dtype=torch.long).dtype == np.int64
    assert torch.get_default_dtype() == torch.float32


def test_missing_dtypes_and_default_dtype_refuse_in_one_line():
    with pytest.raises(AttributeError, match="bfloat16: numpy has no bfloat16"):
        torch.bfloat16
    with pytest.raises(AttributeError, match="complex"):
        torch.complex64
    torch.set_default_dtype(torch.float32)  # the default: accepted
    with pytest.raises(NotImplementedError, match="fixed at float32"):
        torch.set_default_dtype(torch.float64)


def test_star_import_does_not_shadow_builtins():
    names = {}
    exec("from micrograd_plus import *", names)
    assert "float" not in names and "int" not in names and "bool" not in names


def test_only_the_cpu():
    assert torch.cuda.is_available() is False and torch.cuda.device_count() == 0
    assert torch.backends.mps.is_available() is False
    torch.set_default_device("cpu")
    with pytest.raises(RuntimeError, match="computes on the CPU only"):
        torch.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="computes on the CPU only"):
        torch.Generator(device="mps")


def test_nn_functional_is_functional():
    import micrograd_plus.nn.functional as F

    assert F is torch.functional and nn.functional is F
    assert F.relu(torch.Tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_from_numpy_shares_memory_and_dtype():
    a = np.arange(3.0)
    t = torch.from_numpy(a)
    a[0] = 7.0
    assert t.dtype == np.float64 and t.tolist() == [7.0, 1.0, 2.0]
    assert torch.is_tensor(t) and not torch.is_tensor(a)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        torch.from_numpy([1, 2])


# ---- Generator and the random functions ------------------------------------------------------------


def test_generator_seeds_reproduce_and_match_numpy():
    g = torch.Generator().manual_seed(5)
    assert isinstance(g, torch.Generator) and g.initial_seed() == 5
    assert np.array_equal(g.standard_normal(4), np.random.default_rng(5).standard_normal(4))
    a = torch.randn(3, generator=torch.Generator().manual_seed(1))
    b = torch.randn(3, generator=torch.Generator().manual_seed(1))
    assert np.array_equal(a.numpy(), b.numpy())
    assert torch.Generator().manual_seed(-1).initial_seed() == 2**64 - 1  # PyTorch wraps negatives
    with pytest.raises(TypeError, match="seed must be an int"):
        torch.Generator().manual_seed(1.5)


def test_manual_seed_returns_and_reseeds_the_default_generator():
    g = torch.manual_seed(3)
    assert g is torch.default_generator
    first = torch.rand(4).numpy().copy()
    torch.manual_seed(3)
    assert np.array_equal(torch.rand(4).numpy(), first)
    assert torch.initial_seed() == 3


def test_generator_state_round_trip():
    g = torch.Generator().manual_seed(0)
    g.standard_normal()  # leaves a buffered half-word in some generators: the state holds it
    state = g.get_state()
    assert state.dtype == np.uint8 and state.shape == (37,)
    x = torch.randperm(10, generator=g).tolist()
    g.set_state(state)
    assert torch.randperm(10, generator=g).tolist() == x
    s = g.seed()
    assert g.initial_seed() == s
    with pytest.raises(ValueError, match="37 bytes"):
        g.set_state(np.zeros(3, np.uint8))


def test_randint_signatures_and_dtype():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(10, (1000,), generator=g)
    assert a.dtype == torch.int64 and a.shape == (1000,) and 0 <= a.min().item() and a.max().item() == 9
    b = torch.randint(5, 8, (2, 3), generator=g)
    assert b.shape == (2, 3) and set(b.numpy().ravel()) <= {5, 6, 7}
    c = torch.randint(low=-2, high=0, size=(50,), dtype=torch.int32, generator=g)
    assert c.dtype == np.int32 and set(c.numpy()) == {-2, -1}
    assert torch.randint(3, size=(200,), generator=g).numpy().max() == 2
    with pytest.raises(TypeError, match="size must be a tuple"):
        torch.randint(0, 10, 3)
    with pytest.raises(ValueError, match="low must be smaller than high"):
        torch.randint(5, 5, (2,))
    with pytest.raises(RuntimeError, match="CPU only"):
        torch.randint(0, 10, (2,), device="cuda")


def test_randperm_is_a_permutation():
    p = torch.randperm(50, generator=torch.Generator().manual_seed(2))
    assert p.dtype == torch.int64 and sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    assert torch.randperm(0).shape == (0,)


def test_multinomial_with_and_without_replacement():
    g = torch.Generator().manual_seed(0)
    probs = torch.Tensor([0.1, 0.0, 0.6, 0.3])
    draws = torch.multinomial(probs, 20000, replacement=True, generator=g).numpy()
    freq = np.bincount(draws, minlength=4) / draws.size
    assert np.allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)  # 20000 draws: sd of each ~0.0035
    rows = torch.multinomial(torch.Tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 5.0]]), 2, generator=g)
    assert rows.shape == (2, 2) and rows.dtype == torch.int64
    assert sorted(rows[0].tolist()) == [0, 1] and sorted(rows[1].tolist()) == [1, 2]  # each index once
    with pytest.raises(ValueError, match="without replacement"):
        torch.multinomial(probs, 4)
    with pytest.raises(ValueError, match="non-negative"):
        torch.multinomial(torch.Tensor([0.5, -0.1]), 1)


def test_dropout_and_init_accept_a_generator():
    x = torch.ones(100)
    a = nn.functional.dropout(x, 0.5, generator=torch.Generator().manual_seed(4))
    b = nn.functional.dropout(x, 0.5, generator=torch.Generator().manual_seed(4))
    assert np.array_equal(a.numpy(), b.numpy()) and 0 < (a.numpy() == 0).sum() < 100


# ---- grad modes and autograd.grad ---------------------------------------------------------------------


def test_inference_mode_and_set_grad_enabled():
    w = torch.Tensor([1.0], requires_grad=True)
    with torch.inference_mode():
        assert not (w * 2).requires_grad

    @torch.inference_mode()
    def f():
        return (w * 2).requires_grad

    @torch.inference_mode
    def g():
        return (w * 2).requires_grad

    assert f() is False and g() is False and (w * 2).requires_grad
    with torch.inference_mode(False):
        assert (w * 2).requires_grad
    torch.set_grad_enabled(False)
    try:
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    with torch.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert torch.is_grad_enabled()


def test_autograd_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = torch.Tensor([1.0, 2.0], requires_grad=True)
    w = torch.Tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    y = (h * h).sum()
    gx, gh = torch.autograd.grad(y, [x, h])
    assert gx.tolist() == [18.0, 64.0] and gh.tolist() == [6.0, 16.0]  # 2 h w and 2 h
    assert x.grad is None and w.grad is None  # nothing stored
    unused = torch.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        torch.autograd.grad((x * 2).sum(), [unused])
    assert torch.autograd.grad((x * 2).sum(), [unused], allow_unused=True) == (None,)
    with pytest.raises(NotImplementedError, match="double backward"):
        torch.autograd.grad((x * 2).sum(), x, create_graph=True)


def test_function_errors_name_the_function():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return torch.ones(5)

    x = torch.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="Wrong.backward returned a gradient of shape"):
        Wrong.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="apply"):
        Wrong()


def test_function_needs_input_grad_and_non_differentiable_outputs():
    seen = {}

    class ArgMaxAndValue(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            seen["needs"] = ctx.needs_input_grad
            i = x.argmax()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(x, i)
            return x.max(), i

        @staticmethod
        def backward(ctx, g, g_index):
            x, i = ctx.saved_tensors
            out = torch.zeros_like(x)
            out.numpy()[i.item()] = g.item()
            return out, None

    x = torch.Tensor([1.0, 5.0, 2.0], requires_grad=True)
    value, index = ArgMaxAndValue.apply(x, 3)
    assert seen["needs"] == (True, False) and not index.requires_grad and value.requires_grad
    value.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


# ---- save / load ---------------------------------------------------------------------------------------


def test_save_load_round_trips_nested_objects(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    obj = {"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3, "loss": float("nan"),
           "history": [1.5, 2, None, "text", True], "pair": (torch.Tensor([1.0], requires_grad=True), np.int32(7)),
           0: torch.arange(3), "rng": torch.Generator().manual_seed(1).get_state()}
    path = tmp_path / "ckpt.pt"
    torch.save(obj, path)
    back = torch.load(path, map_location="cpu", weights_only=True)
    assert back["epoch"] == 3 and np.isnan(back["loss"]) and back["history"] == [1.5, 2, None, "text", True]
    assert isinstance(back["pair"], tuple) and back["pair"][0].requires_grad and back["pair"][1] == 7
    assert back["pair"][1].dtype == np.int32 and back[0].tolist() == [0, 1, 2] and back[0].dtype == np.int64
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(back["model"])
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert np.array_equal(a, b), name
    opt2 = torch.optim.Adam(fresh.parameters())
    opt2.load_state_dict(back["optim"])
    buf = io.BytesIO()
    torch.save([torch.ones(2)], buf)
    buf.seek(0)
    assert torch.load(buf)[0].tolist() == [1.0, 1.0]


def test_save_refuses_what_would_need_pickle_and_writes_nothing(tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(TypeError, match=r"cannot store a Linear at the top level.*state_dict\(\)"):
        torch.save(nn.Linear(2, 2), path)
    with pytest.raises(TypeError, match=r"cannot store a set at the top level\['a'\]\[1\]"):
        torch.save({"a": [1, {2}]}, path)
    assert not path.exists()
    with pytest.raises(RuntimeError, match="CPU only"):
        torch.load(path, map_location="cuda")


def test_load_refuses_pickles_in_one_line(tmp_path):
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(b"\x80\x02}q\x00.")  # a pickled empty dict
    with pytest.raises(ValueError, match="is a pickle.*never unpickles.*safetensors"):
        torch.load(legacy)
    zipped = tmp_path / "zipped.pt"
    with zipfile.ZipFile(zipped, "w") as z:  # the layout of PyTorch's torch.save
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3\n")
    with pytest.raises(ValueError, match="written by PyTorch's torch.save.*data.pkl"):
        torch.load(zipped)


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
def test_load_refuses_a_real_pytorch_file(tmp_path):
    import torch as real_torch

    path = tmp_path / "real.pt"
    real_torch.save({"w": real_torch.ones(2)}, path)
    with pytest.raises(ValueError, match="written by PyTorch's torch.save"):
        torch.load(path)


def test_load_reads_plain_npz_and_safetensors(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.ones(2, np.float32))
    assert torch.load(tmp_path / "a.npz")["w"].tolist() == [1.0, 1.0]
    from safetensors.numpy import save_file

    save_file({"w": np.arange(3, dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    assert torch.load(tmp_path / "m.safetensors")["w"].tolist() == [0.0, 1.0, 2.0]


def test_every_creation_function_takes_device_and_refuses_cuda():
    calls = {
        "zeros": lambda **kw: torch.zeros(2, 3, **kw), "ones": lambda **kw: torch.ones((2,), **kw),
        "empty": lambda **kw: torch.empty(2, **kw), "full": lambda **kw: torch.full((2,), 1.5, **kw),
        "zeros_like": lambda **kw: torch.zeros_like(torch.ones(2), **kw),
        "ones_like": lambda **kw: torch.ones_like(torch.ones(2), **kw),
        "full_like": lambda **kw: torch.full_like(torch.ones(2), 3.0, **kw),
        "arange": lambda **kw: torch.arange(3, **kw), "linspace": lambda **kw: torch.linspace(0, 1, 3, **kw),
        "eye": lambda **kw: torch.eye(2, **kw), "randn": lambda **kw: torch.randn(2, **kw),
        "rand": lambda **kw: torch.rand(2, **kw), "tensor": lambda **kw: torch.tensor([1.0], **kw),
        "randint": lambda **kw: torch.randint(0, 3, (2,), **kw), "randperm": lambda **kw: torch.randperm(3, **kw),
        "randn_like": lambda **kw: torch.randn_like(torch.ones(2), **kw),
    }
    for name, call in calls.items():
        assert call(device="cpu").shape[0] >= 1 and call(device=torch.device("cpu")).shape[0] >= 1, name
        with pytest.raises(RuntimeError, match="computes on the CPU only"):
            call(device="cuda")
    for make in (torch.zeros, torch.ones, torch.randn, torch.rand):
        assert make(2, dtype=None).dtype == torch.float32  # None means the default dtype


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_class_dimension_one_gives_pytorchs_answer_or_one_line(loss):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5))  # PyTorch's (N, C, L): 3 classes, length 5
    t = rng.integers(0, 3, (2, 5))
    f = getattr(nn.functional, loss)
    mine = f(torch.tensor(x).permute(0, 2, 1), t).item()  # the same numbers, classes last
    assert f(torch.tensor(x), t).item() == pytest.approx(mine, rel=1e-12)
    if HAVE_TORCH:
        import torch as real_torch

        assert f(torch.tensor(x), t).item() == pytest.approx(
            getattr(real_torch.nn.functional, loss)(real_torch.from_numpy(x), real_torch.from_numpy(t)).item(),
            rel=1e-12)
    with pytest.raises(ValueError, match="fits both layouts"):
        f(torch.tensor(rng.standard_normal((2, 3, 3))), rng.integers(0, 3, (2, 3)))
    if loss == "cross_entropy":
        with pytest.raises(ValueError, match="probability targets.*ambiguous"):
            f(torch.tensor(x), rng.random((2, 3, 5)))


def test_small_namespace_functions():
    a = np.arange(3.0)
    shared = torch.as_tensor(a)
    a[0] = 9.0
    assert shared.tolist() == [9.0, 1.0, 2.0]  # no conversion needed: shares
    assert torch.as_tensor([1, 2]).dtype == torch.int64 and torch.as_tensor(a, dtype=torch.float32).dtype == np.float32
    assert torch.equal(torch.ones(2), torch.ones(2)) and not torch.equal(torch.ones(2), torch.ones(3))
    assert torch.allclose(torch.ones(2), torch.ones(2) + 1e-9) and not torch.allclose(torch.ones(2), torch.zeros(2))
    assert torch.isclose(torch.ones(2), torch.Tensor([1.0, 2.0])).tolist() == [True, False]
    assert torch.numel(torch.ones(2, 3)) == 6
    assert torch.mm(torch.ones(2, 3), torch.ones(3, 1)).shape == (2, 1)
    assert torch.bmm(torch.ones(4, 2, 3), torch.ones(4, 3, 5)).shape == (4, 2, 5)
    with pytest.raises(ValueError, match="mm multiplies two 2-D"):
        torch.mm(torch.ones(2, 3, 4), torch.ones(4, 1))


# ---- found by the dual-run programs (tests/pytorch_programs/) ------------------------------------


def test_tensor_of_python_floats_with_float64_goes_straight_to_float64():
    """torch.tensor([0.1], dtype=torch.float64) is the double nearest 0.1, not 0.1 rounded to float32 first."""
    assert torch.tensor([[0.1, -0.00767]], dtype=torch.float64).tolist() == [[0.1, -0.00767]]
    assert torch.tensor(0.1, dtype=torch.float64).item() == 0.1
    assert torch.Tensor([0.1], dtype=torch.float64).tolist() == [0.1]
    assert torch.tensor([0.1]).dtype == torch.float32 and torch.tensor([0.1]).item() != 0.1  # no dtype: float32
    assert torch.tensor([1.7, -1.7], dtype=torch.long).tolist() == [1, -1]  # truncated, as PyTorch does


def test_nelement_is_numel():
    params = [torch.zeros(27, 10), torch.zeros(30, 64), torch.zeros(64)]
    assert sum(p.nelement() for p in params) == 270 + 1920 + 64


def test_legacy_typed_constructors():
    """torch.LongTensor([...]) copies data with the type's dtype; ints are a shape; isinstance asks the dtype."""
    a = torch.LongTensor([3, 1, 2])
    assert a.dtype == torch.int64 and a.tolist() == [3, 1, 2]
    assert isinstance(a, torch.LongTensor) and not isinstance(a, torch.FloatTensor)
    f = torch.FloatTensor([1, 2])
    assert f.dtype == torch.float32 and f.tolist() == [1.0, 2.0]
    assert torch.FloatTensor(2, 3).shape == (2, 3) and torch.DoubleTensor(4).dtype == torch.float64
    assert torch.FloatTensor().shape == (0,)
    assert torch.BoolTensor([1, 0]).tolist() == [True, False] and torch.ByteTensor([255]).dtype == np.uint8
    with pytest.raises(TypeError, match="either sizes"):
        torch.FloatTensor([1, 2], [3, 4])
    with pytest.raises(RuntimeError, match="cuda"):
        torch.FloatTensor([1.0], device="cuda")


def test_out_argument_of_the_function_forms():
    """torch.matmul(a, b, out=c) writes into c (resizing it if needed, keeping its dtype) and returns it."""
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    c = torch.zeros(2, 2)
    assert torch.matmul(a, a.T, out=c) is c and c.tolist() == [[5.0, 11.0], [11.0, 25.0]]
    empty = torch.tensor([])
    torch.mul(a, 2, out=empty)  # an empty out is resized without a word
    assert empty.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    small = torch.zeros(3)
    with pytest.warns(UserWarning, match="resized"):
        torch.exp(torch.zeros(2, 2), out=small)
    assert small.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    d = torch.zeros(2, dtype=torch.float64)
    torch.sum(a, 0, out=d)
    assert d.dtype == torch.float64 and d.tolist() == [4.0, 6.0]
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.mul(a, 2, out=torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(RuntimeError, match="out=.*automatic differentiation"):
        torch.mul(torch.ones(2, requires_grad=True), 2, out=torch.zeros(2))
    with torch.no_grad():
        torch.mul(torch.ones(2, requires_grad=True), 2, out=torch.zeros(2))


def test_add_sub_mul_div_methods_and_functions():
    a = torch.tensor([7, -7])
    assert a.add(1, alpha=2).tolist() == [9, -5] and a.sub(a, alpha=2).tolist() == [-7, 7]
    assert torch.mul(a, 3).tolist() == [21, -21] and torch.add(a, a).tolist() == [14, -14]
    assert a.div(2).tolist() == [3.5, -3.5] and a.div(2).dtype == torch.float32
    assert a.div(2, rounding_mode="trunc").tolist() == [3, -3] and a.div(2, rounding_mode="trunc").dtype == torch.int64
    assert torch.div(a, 2, rounding_mode="floor").tolist() == [3, -4]
    assert torch.tensor([7.0, -7.0]).div(2, rounding_mode="trunc").tolist() == [3.0, -3.0]
    with pytest.raises(ValueError, match="rounding_mode"):
        a.div(2, rounding_mode="round")
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    w.mul(torch.tensor([3.0, 4.0])).add(w, alpha=2).sum().backward()  # d/dw (3w + 2w, 4w + 2w)
    assert w.grad.tolist() == [5.0, 6.0]


def test_accelerator_says_there_is_none():
    """The official tutorials' device line picks the CPU."""
    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    assert device == "cpu" and torch.accelerator.device_count() == 0


def test_bincount():
    x = torch.tensor([0, 2, 2, 5])
    assert torch.bincount(x).tolist() == [1, 0, 2, 0, 0, 1] and torch.bincount(x).dtype == torch.int64
    assert torch.bincount(x, minlength=8).tolist() == [1, 0, 2, 0, 0, 1, 0, 0]
    weighted = torch.bincount(x, weights=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert weighted.tolist() == [1.0, 0.0, 5.0, 0.0, 0.0, 4.0] and weighted.dtype == torch.float32
    assert torch.bincount(x, weights=torch.tensor([1, 2, 3, 4])).dtype == torch.float64  # PyTorch's rule
    assert torch.bincount(torch.tensor([], dtype=torch.long)).tolist() == []
    for bad in (torch.tensor([-1, 2]), torch.tensor([[1, 2]]), torch.tensor([1.0, 2.0])):
        with pytest.raises(RuntimeError, match="1-d non-negative integral"):
            torch.bincount(bad)
