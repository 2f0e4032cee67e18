"""In-place operations, the version counter, ``.grad`` / ``.data`` as Tensors, and the Tensor surface
PyTorch programs use (``size()``, ``device``, ``to``, ``f"{t:.4f}"``, ``grad_fn``).

Expected values are written out by hand; where torch is installed, the same cases are also run
through PyTorch and compared. Gradients of in-place ops inside a graph are checked numerically
in ``test_gradcheck_ops.py``.
"""

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_plus as mp
from micrograd_plus import Tensor, nn, no_grad, optim, tensor

try:
    import torch
except ImportError:  # PyTorch is an extra oracle, never a requirement
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

X0 = [1.0, -2.0, 3.0, 0.5]

# name -> (call, expected), each on a fresh float32 tensor X0; expected values by hand
CASES = {
    "add_": (lambda t, T: t.add_(T([1.0, 1.0, 1.0, 1.0]), alpha=2), [3.0, 0.0, 5.0, 2.5]),
    "sub_": (lambda t, T: t.sub_(1.0), [0.0, -3.0, 2.0, -0.5]),
    "mul_": (lambda t, T: t.mul_(T([2.0, 2.0, -1.0, 4.0])), [2.0, -4.0, -3.0, 2.0]),
    "div_": (lambda t, T: t.div_(2.0), [0.5, -1.0, 1.5, 0.25]),
    "pow_": (lambda t, T: t.pow_(2), [1.0, 4.0, 9.0, 0.25]),
    "neg_": (lambda t, T: t.neg_(), [-1.0, 2.0, -3.0, -0.5]),
    "abs_": (lambda t, T: t.abs_(), [1.0, 2.0, 3.0, 0.5]),
    "relu_": (lambda t, T: t.relu_(), [1.0, 0.0, 3.0, 0.5]),
    "clamp_": (lambda t, T: t.clamp_(-1.0, 2.0), [1.0, -1.0, 2.0, 0.5]),
    "clamp_ min only": (lambda t, T: t.clamp_(min=0.75), [1.0, 0.75, 3.0, 0.75]),
    "zero_": (lambda t, T: t.zero_(), [0.0, 0.0, 0.0, 0.0]),
    "fill_": (lambda t, T: t.fill_(7.0), [7.0, 7.0, 7.0, 7.0]),
    "copy_": (lambda t, T: t.copy_(T([4.0, 3.0, 2.0, 1.0])), [4.0, 3.0, 2.0, 1.0]),
    "masked_fill_": (lambda t, T: t.masked_fill_(T([1.0, 0.0, 1.0, 0.0]) > 0, -9.0), [-9.0, -2.0, -9.0, 0.5]),
    "addcmul_": (lambda t, T: t.addcmul_(T([1.0, 2.0, 3.0, 4.0]), T([2.0, 2.0, 2.0, 2.0]), value=0.5),
                 [2.0, 0.0, 6.0, 4.5]),
    "addcdiv_": (lambda t, T: t.addcdiv_(T([1.0, 2.0, 3.0, 4.0]), T([2.0, 2.0, 2.0, 2.0])), [1.5, -1.0, 4.5, 2.5]),
    "lerp_": (lambda t, T: t.lerp_(T([3.0, 2.0, 3.0, 1.5]), 0.5), [2.0, 0.0, 3.0, 1.0]),
    "+=": (lambda t, T: t.__iadd__(10.0), [11.0, 8.0, 13.0, 10.5]),
    "-=": (lambda t, T: t.__isub__(T([1.0, 1.0, 1.0, 1.0])), [0.0, -3.0, 2.0, -0.5]),
    "*=": (lambda t, T: t.__imul__(-2.0), [-2.0, 4.0, -6.0, -1.0]),
    "/=": (lambda t, T: t.__itruediv__(T([1.0, 2.0, 3.0, 0.5])), [1.0, -1.0, 1.0, 1.0]),
    "**=": (lambda t, T: t.__ipow__(3), [1.0, -8.0, 27.0, 0.125]),
    "setitem int": (lambda t, T: t.__setitem__(1, 5.0), [1.0, 5.0, 3.0, 0.5]),
    "setitem slice": (lambda t, T: t.__setitem__(slice(1, 3), T([7.0, 8.0])), [1.0, 7.0, 8.0, 0.5]),
    "setitem index array": (lambda t, T: t.__setitem__(T([3, 0]).long(), 0.0), [0.0, -2.0, 3.0, 0.0]),
    "setitem mask": (lambda t, T: t.__setitem__(t < 0.75, -float("inf")), [1.0, -np.inf, 3.0, -np.inf]),
}
# ops whose value has a closed form we check too, not by hand above: exp, log, sqrt, tanh, sigmoid
FUNCTIONS = {"exp_": np.exp, "tanh_": np.tanh, "sigmoid_": lambda a: 1 / (1 + np.exp(-a)),
             "sqrt_": lambda a: np.sqrt(np.abs(a)), "log_": lambda a: np.log(np.abs(a))}


def _fresh():
    return Tensor(np.array(X0, dtype=np.float32))


@pytest.mark.parametrize("name", CASES)
def test_each_inplace_op_changes_the_tensor_itself_by_hand(name):
    call, expected = CASES[name]
    t = _fresh()
    view = t.numpy()  # the tensor's own memory: must see the change
    out = call(t, Tensor)
    assert out is t or out is None  # methods return self; __setitem__ returns nothing
    np.testing.assert_allclose(view, np.array(expected, dtype=np.float32), rtol=1e-6)
    assert t._version == 1 and t.dtype == np.float32


@pytest.mark.parametrize("name", FUNCTIONS)
def test_inplace_functions_match_their_formula(name):
    t = _fresh().abs() if name in ("sqrt_", "log_") else _fresh()
    before = t.numpy().copy()
    getattr(t, name)()
    np.testing.assert_allclose(t.numpy(), FUNCTIONS[name](before), rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("name", list(CASES) + list(FUNCTIONS))
def test_each_inplace_op_matches_pytorch(name):
    def run(T):
        t = T(np.array(X0, dtype=np.float32))
        if name in FUNCTIONS:
            t = t.abs() if name in ("sqrt_", "log_") else t
            getattr(t, name)()
        else:
            CASES[name][0](t, T)
        return np.asarray(t.numpy() if T is Tensor else t.numpy())

    def torch_tensor(data):
        data = np.asarray(data)
        return torch.tensor(data) if data.dtype.kind != "f" else torch.tensor(data, dtype=torch.float32)

    theirs = run(torch_tensor)
    ours = run(lambda data: tensor(np.asarray(data)) if np.asarray(data).dtype.kind != "f"
               else Tensor(np.asarray(data, dtype=np.float32)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_item_assignment_as_learning_code_writes_it():
    logits = Tensor(np.zeros((2, 3), dtype=np.float32))
    mask = tensor(np.array([[True, False, False], [False, False, True]]))
    logits[mask] = -float("inf")  # the attention / top-k mask
    assert logits.tolist() == [[-np.inf, 0.0, 0.0], [0.0, 0.0, -np.inf]]
    idx = mp.tensor([[1, 2], [3, 4]])
    idx[:, 0] = 7  # an int tensor, one column
    assert idx.tolist() == [[7, 2], [7, 4]] and idx.dtype == np.int64
    losses = mp.zeros(3)
    for k in range(3):
        losses[k] = tensor(np.float32(k) * 2).item()
    assert losses.tolist() == [0.0, 2.0, 4.0]
    grid = mp.zeros(2, 3)
    grid[1] = Tensor([1.0, 2.0, 3.0])  # a row from a tensor
    grid[:, 2] = 9.0  # a column, broadcast
    assert grid.tolist() == [[0.0, 0.0, 9.0], [1.0, 2.0, 9.0]]


@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_setitem_with_any_mask_or_slice_is_numpy_assignment(shape, data):
    a = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-5, 5, width=32)))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    value = data.draw(st.floats(-5, 5, width=32))
    t = Tensor(a.copy())
    t[tensor(mask)] = value
    expected = a.copy()
    expected[mask] = value
    np.testing.assert_array_equal(t.numpy(), expected)
    t[..., :1] = Tensor(a[..., :1])  # put the first column back: a tensor value
    expected[..., :1] = a[..., :1]
    np.testing.assert_array_equal(t.numpy(), expected)


def test_bad_inplace_use_gets_one_clear_line():
    t = _fresh()
    with pytest.raises(ValueError, match=r"a value of shape \(3,\) does not fit the \(2,\) elements"):
        t[[0, 1]] = Tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match=r"boolean index did not match"):
        t[mp.tensor([True, False])] = 0.0
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        mp.tensor([1, 2]).add_(0.5)
    with pytest.raises(RuntimeError, match=r"output with shape \(4,\) doesn't match the broadcast shape \(2, 4\)"):
        t.add_(mp.zeros(2, 4))
    with pytest.raises(RuntimeError, match="read-only"):
        Tensor([1.0]).expand(3).add_(1.0)


# ---- the rules of autograd ---------------------------------------------------------------------

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."


@pytest.mark.parametrize("change", [lambda w: w.__iadd__(1.0), lambda w: w.mul_(2.0), lambda w: w.__setitem__(0, 0.0),
                                    lambda w: w.zero_()])
def test_a_leaf_that_requires_grad_is_refused_outside_no_grad(change):
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF_ERROR):
        change(w)
    assert w.tolist() == [1.0, 2.0] and w._version == 0
    with no_grad():
        change(w)  # a training step: allowed
    assert w._version == 1 and w.requires_grad and w.is_leaf


@needs_torch
def test_the_leaf_error_is_pytorchs():
    w = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as theirs:
        w += 1
    assert str(theirs.value) == LEAF_ERROR


def test_the_version_counter_counts_inplace_changes_and_is_shared_by_views():
    x = Tensor(np.zeros((2, 3), dtype=np.float32))
    assert x._version == 0
    x += 1
    x[0, 0] = 5.0
    x.zero_()
    assert x._version == 3
    v = x.reshape(3, 2)  # a view: one memory, one counter
    d = x.detach()  # shares memory and counter, as in PyTorch
    v.add_(1.0)
    d.mul_(2.0)
    assert x._version == v._version == d._version == 5 and x.tolist() == [[2.0] * 3] * 2
    data = x.data  # .data shares memory, not the counter: autograd does not see changes through it
    data.add_(1.0)
    assert x._version == 5 and data._version == 1 and x.tolist() == [[3.0] * 3] * 2


@pytest.mark.parametrize("forward, op, used", [
    (lambda x: x.exp(), lambda y: y.add_(1.0), "its output"),  # exp's gradient is its output
    (lambda x: x.sigmoid(), lambda y: y.__setitem__(0, 0.0), "its output"),
    (lambda x: x * 3.0, lambda y: y.mul_(2.0), "input 0"),  # y was used by the next op
])
def test_backward_refuses_values_changed_in_place_after_use_naming_both_ops(forward, op, used):
    x = Tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = forward(x)
    z = y.exp() if used == "input 0" else y
    op(y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
        z.sum().backward()
    line = str(e.value)
    assert "\n" not in line and used in line and op.__name__ != "" and "Backward0" in line
    assert ("changed by add_" in line or "changed by setitem" in line or "changed by mul_" in line)


def test_the_version_error_names_the_ops():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"its output \(shape \(2,\), float32\) of ExpBackward0 was changed by "
                                           r"add_ after exp used it \(it is at version 1; exp saw version 0\)"):
        y.sum().backward()


def test_a_step_between_forward_and_backward_is_refused():
    w = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    loss = (w * w).sum()
    with no_grad():
        w -= 0.1  # the weight the product saw is gone
    with pytest.raises(RuntimeError, match="changed by sub_ after mul used it"):
        loss.backward()


@pytest.mark.parametrize("program, expected", [
    # y = 2x; y[0] = 0; sum -> d/dx = [0, 2, 2]
    (lambda x: _set0(x * 2.0).sum(), [0.0, 2.0, 2.0]),
    # y = 2x + 1 (in place); sum(y^2) -> 4 (2x + 1)
    (lambda x: (lambda y: (y * y).sum())((x * 2.0).add_(1.0)), [12.0, 20.0, 28.0]),
    # h = x^2 (kept), h *= 3 in place: the old h is only needed for its shape
    (lambda x: (lambda h: h.sum())((x * x).mul_(3.0)), [6.0, 12.0, 18.0]),
    # a buffer without grad receives x: buf = 0; buf[1:] = x[:2] * x[1:]; sum
    (lambda x: _buffer(x).sum(), [2.0, 4.0, 2.0]),
    # y = x.exp() changed by a clone, then in place
    (lambda x: x.exp().clone().mul_(0.0).sum(), [0.0, 0.0, 0.0]),
])
def test_legal_inplace_programs_keep_exact_gradients(program, expected):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    program(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def _set0(y):
    y[0] = 0.0
    return y


def _buffer(x):
    buf = mp.zeros(3)
    buf[1:] = x[:2] * x[1:]
    return buf


@needs_torch
def test_legal_inplace_programs_match_pytorch():
    def program(lib, x):
        h = x * 2.0
        h[0] = -1.0
        h.add_(x)
        h.mul_(x)
        mask = h.detach() > 5.0
        h.masked_fill_(mask, 0.5)
        out = (h.tanh() * x).sum()
        return out

    x_np = np.array([0.5, 1.5, 2.5, -1.0], dtype=np.float64)
    ours = tensor(x_np.copy(), requires_grad=True)
    theirs = torch.tensor(x_np.copy(), requires_grad=True)
    a, b = program(mp, ours), program(torch, theirs)
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_changing_a_view_of_a_graph_tensor_in_place_is_refused():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = (x * 2.0)[0:2]
    with pytest.raises(RuntimeError, match=r"this tensor is a view \(getitem\) of a tensor that requires grad"):
        v.zero_()


# ---- .grad and .data ----------------------------------------------------------------------------


def test_grad_is_a_tensor_without_a_graph():
    w = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (w * w).sum().backward()
    g = w.grad
    assert isinstance(g, Tensor) and not g.requires_grad and g.grad_fn is None
    assert g.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    assert g.std().item() == pytest.approx(np.std([2, 4, 6, 8], ddof=1))  # PyTorch's correction=1
    assert g.norm().item() == pytest.approx(np.sqrt(4 + 16 + 36 + 64))
    (w * w).sum().backward()  # accumulates, into the same Tensor
    assert w.grad is g and g.tolist() == [[4.0, 8.0], [12.0, 16.0]]
    w.grad.zero_()
    assert w.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    w.grad = None
    assert w.grad is None
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
        w.grad = np.zeros((2, 2))
    with pytest.raises(RuntimeError, match="assigned grad has data of a different size"):
        w.grad = mp.zeros(3)


def test_data_shares_memory_and_not_the_graph():
    p = Tensor([1.0, 2.0], requires_grad=True)
    d = p.data
    assert isinstance(d, Tensor) and not d.requires_grad
    p.data += Tensor([10.0, 10.0])  # p.data += -lr * p.grad: changes p, outside autograd
    assert p.tolist() == [11.0, 12.0] and p._version == 0 and p.requires_grad
    assert p.data.norm().item() == pytest.approx(np.hypot(11.0, 12.0))
    p.data = Tensor([0.5, 0.25, 0.125])  # assigning .data replaces the values (any shape)
    assert p.tolist() == [0.5, 0.25, 0.125] and p.requires_grad
    with pytest.raises(TypeError, match="expected a Tensor"):
        p.data = [1.0]


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((64, 3)).astype(np.float32))
    y = x @ Tensor(np.array([[2.0], [-1.0], [0.5]], dtype=np.float32)) + 0.3
    w = Tensor(np.zeros((3, 1), dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(1, dtype=np.float32), requires_grad=True)
    return x, y, w, b


@pytest.mark.parametrize("update", ["p -= lr * p.grad", "p.data += -lr * p.grad", "p.sub_(p.grad, alpha=lr)"])
def test_the_manual_sgd_loop_of_the_tutorials_trains(update):
    # The silent failure: `p -= lr * p.grad` under no_grad rebound the loop variable and
    # nothing trained (the loss stayed where it started). Now it changes the parameter itself.
    x, y, w, b = _regression()
    lr, losses = 0.1, []
    for _ in range(60):
        loss = ((x @ w + b - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with no_grad():
            for p in (w, b):
                if update == "p -= lr * p.grad":
                    p -= lr * p.grad
                elif update == "p.data += -lr * p.grad":
                    p.data += -lr * p.grad
                else:
                    p.sub_(p.grad, alpha=lr)
                p.grad.zero_()
    assert losses[-1] < 0.01 * losses[0], (losses[0], losses[-1])
    np.testing.assert_allclose(w.numpy().ravel(), [2.0, -1.0, 0.5], atol=0.05)


def test_an_optimizer_step_counts_as_an_inplace_change():
    w = nn.Parameter(np.ones(2, dtype=np.float32))
    opt = optim.SGD([w], lr=0.5)
    (w * 3.0).sum().backward()
    opt.step()
    assert w.tolist() == [-0.5, -0.5] and w._version == 1


# ---- grad_fn, size, device, to, format, dtypes --------------------------------------------------


def test_grad_fn_and_next_functions_show_the_graph_as_pytorch():
    w = Tensor([1.0, 2.0], requires_grad=True)
    x = Tensor([3.0, 4.0])
    y = (w * x).sum()
    assert w.grad_fn is None and x.grad_fn is None
    assert y.grad_fn.name() == "SumBackward0" and repr(y.grad_fn) == "<SumBackward0 object>"
    (mul, index), = y.grad_fn.next_functions
    assert mul.name() == "MulBackward0" and index == 0
    (acc, _), (const, _) = mul.next_functions
    assert acc.name() == "AccumulateGrad" and acc.variable is w and const is None
    z = w * 2.0
    z.add_(1.0)
    assert z.grad_fn.name() == "AddBackward0"  # the in-place op took z's place in the graph
    assert z.grad_fn.next_functions[0][0].name() == "MulBackward0"


def test_size_device_to_and_friends():
    t = Tensor(np.zeros((2, 3), dtype=np.float32))
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-2) == 2 and t.numel() == 6
    assert str(t.device) == "cpu" and t.device == mp.device("cpu")
    assert t.to("cpu") is t and t.cpu() is t and t.to(mp.device("cpu")) is t
    assert t.to(np.float64).dtype == np.float64 and t.to("cpu", np.float64).dtype == np.float64
    assert t.to(tensor(np.zeros(1))).dtype == np.float64 and t.to(np.float32, copy=True) is not t
    assert t.pow(2).tolist() == [[0.0] * 3] * 2 and t.type() == "float32" and t.type(np.int64).dtype == np.int64
    for call in (lambda: t.cuda(), lambda: t.to("cuda"), lambda: t.to(mp.device("mps"))):
        with pytest.raises(RuntimeError, match="micrograd_plus computes on the CPU only"):
            call()


def test_format_and_the_default_dtype_of_the_constructor():
    loss = Tensor([0.5, 0.25]).sum()
    assert f"{loss:.4f}" == "0.7500"
    assert f"{mp.tensor(3):d}" == "3" and f"{Tensor([1.0])}" == str(Tensor([1.0]))
    with pytest.raises(TypeError, match=r"only a 0-d tensor formats as a number, this one has shape \(2,\)"):
        f"{Tensor([1.0, 2.0]):.2f}"
    assert Tensor([1, 2, 3]).dtype == np.float32 and Tensor(np.arange(3)).dtype == np.float32  # torch.Tensor
    assert mp.tensor([1, 2, 3]).dtype == np.int64 and mp.tensor(np.arange(3)).dtype == np.int64
    assert (Tensor([1, 2]).long().dtype, Tensor([1, 2]).int().dtype, Tensor([0, 2]).bool().tolist()) == \
        (np.int64, np.int32, [False, True])


@needs_torch
def test_the_constructor_default_and_format_match_pytorch():
    assert torch.Tensor([1, 2, 3]).dtype == torch.float32 and Tensor([1, 2, 3]).dtype == np.float32
    assert f"{torch.tensor(0.75):.4f}" == f"{mp.tensor(0.75):.4f}"


def test_matmul_assignment_rebinds_as_in_pytorch():
    # PyTorch's Tensor has no __imatmul__: `a @= m` is `a = a @ m`, a new tensor; so here too.
    a = Tensor(np.ones((2, 2), dtype=np.float32))
    before = a
    a @= Tensor(np.eye(2, dtype=np.float32) * 3)
    assert a is not before and before.tolist() == [[1.0, 1.0], [1.0, 1.0]] and a.tolist() == [[3.0, 3.0]] * 2
    if torch is not None:
        assert not hasattr(torch.Tensor, "__imatmul__")


def test_numpy_reductions_of_a_grad_still_work():
    # .grad used to be a numpy array; np.sum(w.grad), np.all(...) must keep working on the Tensor
    w = Tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    (w * w).sum().backward()
    g = w.grad
    assert float(np.sum(g)) == 12.0 and float(np.mean(g)) == 3.0 and float(np.max(g)) == 8.0
    assert bool(np.all(g == 2 * w.detach())) and not bool(np.any(g > 8.0)) and int(np.argmin(g)) == 1
    np.testing.assert_array_equal(np.sum(g, axis=0).numpy(), [8.0, 4.0])
    with pytest.raises(TypeError, match=r"sum\(out=...\) is not supported"):
        g.sum(out=np.zeros(()))


def test_in_place_shape_changes():
    """unsqueeze_/squeeze_/transpose_/t_ change the tensor itself (its memory stays shared); a tensor
    that requires grad is refused in one line (write the out-of-place op)."""
    t = mp.LongTensor([4, 5, 6])
    view = t[:2]
    assert t.unsqueeze_(-1) is t and t.shape == (3, 1)
    t[0, 0] = 9
    assert view.tolist() == [9, 5]  # the same memory
    assert t.t_().shape == (1, 3) and t.squeeze_().shape == (3,) and t.tolist() == [9, 5, 6]
    m = mp.zeros(2, 3)
    assert m.transpose_(0, 1).shape == (3, 2)
    with pytest.raises(RuntimeError, match="unsqueeze_: .*requires grad.*x = x.unsqueeze"):
        mp.zeros(3, requires_grad=True).unsqueeze_(0)


def test_t_is_the_matrix_transpose():
    m = mp.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert m.t().tolist() == [[1.0], [2.0], [3.0]]
    (m.t() * mp.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    assert m.grad.tolist() == [[1.0, 2.0, 3.0]]
    v = mp.arange(3)
    assert v.t() is v
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        mp.zeros(2, 2, 2).t()
