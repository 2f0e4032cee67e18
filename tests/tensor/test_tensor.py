"""Tensor semantics: construction and dtypes, forward values against numpy, the backward engine
(accumulation, freeing, retain_graph, no_grad, deep graphs), and clear errors on bad input."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_plus as mp
from micrograd_plus import functional as F
from micrograd_plus._tensor import (
    Tensor,
    cat,
    enable_grad,
    is_grad_enabled,
    no_grad,
    ones,
    randn,
    stack,
    tensor,
    where,
    zeros,
)

# ---- construction and dtype rules -------------------------------------------------------------


def test_the_constructor_is_float32_and_tensor_infers():
    assert tensor(1.5).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.float32  # the constructor, as torch.Tensor([1, 2])
    assert tensor([1, 2]).dtype == np.int64  # the function infers, as torch.tensor([1, 2])
    assert Tensor(np.zeros(3)).dtype == np.float32  # as torch.Tensor (tests/tensor/test_constructor.py)
    assert tensor(np.zeros(3)).dtype == np.float64  # as torch.tensor
    assert Tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_float32_array_is_shared_but_tensor_copies():
    a = np.zeros(3, np.float32)
    assert Tensor(a).numpy() is a
    assert mp.from_numpy(np.zeros(3)).dtype == np.float64
    a = np.zeros(3)
    b = tensor(a)
    b.data[0] = 5.0  # .data shares b's memory, as in PyTorch
    assert a[0] == 0.0
    assert tensor([1.0, 2.0]).dtype == np.float32


def test_python_scalars_never_upcast_float32():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    for y in (x * 2.0, 2.0 * x, x + 1, x - np.float64(3.0), x / 7.0, 1.0 / x, x**2, x**0.5, 2.0**x, -x):
        assert y.dtype == np.float32, y
    y = (x * np.float64(2.0)).sum()
    y.backward()
    assert x.grad.dtype == np.float32


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        tensor(np.arange(3)).requires_grad_()


def test_attributes_and_repr():
    x = tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (x.shape, x.ndim, x.numel(), x.size(), x.size(-1), len(x)) == ((2, 3), 2, 6, (2, 3), 3, 2)
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)
    r = repr(x * 2)
    assert r.startswith("Tensor(") and "float64" in r and "requires_grad=True" in r and "op='mul'" in r
    assert "requires_grad" not in repr(Tensor([1.0]))
    assert Tensor([3.5]).item() == 3.5
    assert x.numpy() is x.numpy() and x.data.numpy() is x.numpy()  # one shared array
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(ValueError, match=r"exactly one element, got shape \(2, 3\)"):
        x.item()


def test_python_conversions():
    t = tensor(np.array([[2.5]]))
    assert float(t) == 2.5 and int(t) == 2 and bool(t)
    assert not bool(tensor(np.array(0.0)))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tensor(np.ones(3)))
    a = np.asarray(tensor(np.arange(3.0)))
    assert a.dtype == np.float64 and a.tolist() == [0.0, 1.0, 2.0]
    assert np.asarray(tensor(np.ones(2)), dtype=np.float32).dtype == np.float32


def test_constructors():
    assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).dtype == np.float32
    assert ones((4,), dtype=np.float64).numpy().sum() == 4.0
    a, b = randn(3, 4, generator=7), randn(3, 4, generator=7)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32 and randn(2, requires_grad=True).requires_grad
    assert mp.Tensor is Tensor and mp.no_grad is no_grad


def test_subclass_stays_subclass_but_ops_return_plain_tensor():
    class Parameter(Tensor):
        def __init__(self, data):
            super().__init__(data, requires_grad=True)

    p = Parameter(np.ones(3))
    p.name = "w"  # subclasses get a __dict__
    y = p * 2.0
    assert type(y) is Tensor
    y.sum().backward()
    np.testing.assert_array_equal(p.grad, [2.0, 2.0, 2.0])


# ---- forward values against numpy ---------------------------------------------------------------


def test_forward_values_match_numpy(rng):
    a = rng.standard_normal((2, 3, 4))
    b = rng.standard_normal((3, 1))
    A, B = tensor(a), tensor(b)
    np.testing.assert_allclose((A + B).data, a + b)
    np.testing.assert_allclose((A - B).data, a - b)
    np.testing.assert_allclose((A * B).data, a * b)
    np.testing.assert_allclose((A / (B * B + 1)).data, a / (b * b + 1))
    np.testing.assert_allclose(A.abs().data, np.abs(a))
    np.testing.assert_allclose(A.exp().data, np.exp(a))
    np.testing.assert_allclose(A.abs().log().data, np.log(np.abs(a)))
    np.testing.assert_allclose(A.abs().sqrt().data, np.sqrt(np.abs(a)))
    np.testing.assert_allclose(A.tanh().data, np.tanh(a))
    np.testing.assert_allclose(A.sigmoid().data, 1 / (1 + np.exp(-a)))
    np.testing.assert_allclose(A.relu().data, np.maximum(a, 0))
    np.testing.assert_allclose(A.sum(axis=(0, 2)).data, a.sum(axis=(0, 2)))
    np.testing.assert_allclose(A.mean(dim=1, keepdims=True).data, a.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(A.max(axis=-1).values.data, a.max(axis=-1))
    np.testing.assert_allclose(A.min().data, a.min())
    np.testing.assert_allclose(A.var(axis=2).data, a.var(axis=2, ddof=1))
    np.testing.assert_allclose(A.var(axis=2, correction=0).data, a.var(axis=2))
    np.testing.assert_allclose(A.permute(2, 0, 1).data, a.transpose(2, 0, 1))
    np.testing.assert_allclose(A.transpose(0, 2).data, a.swapaxes(0, 2))
    np.testing.assert_allclose(A[1, ::2, [0, 3]].data, a[1][::2, [0, 3]])  # PyTorch: the int goes first
    m = rng.standard_normal((4, 5))
    np.testing.assert_allclose((A @ m).data, a @ m, rtol=1e-12)
    np.testing.assert_allclose((A @ tensor(a.transpose(0, 2, 1))).data, a @ a.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_array_equal(A.argmax(axis=-1).data, a.argmax(axis=-1))


def test_gelu_values_against_independent_formulas():
    import math

    xs = np.linspace(-4, 4, 17)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in xs])
    tanh_form = 0.5 * xs * (1 + np.tanh(np.sqrt(2 / np.pi) * (xs + 0.044715 * xs**3)))
    np.testing.assert_allclose(tensor(xs).gelu().data, exact, rtol=1e-12, atol=1e-12)
    # 1 + tanh(...) cancels near x = -4, so one rounding of tanh there is 2e-16 absolute
    np.testing.assert_allclose(tensor(xs).gelu(approximate="tanh").data, tanh_form, rtol=1e-12, atol=1e-15)
    assert abs(tensor(np.array([1.0])).gelu().item() - 0.8413447460685429) < 1e-12  # 1 * Phi(1)
    with pytest.raises(ValueError, match="approximate"):
        tensor(xs).gelu(approximate="fast")


def test_sigmoid_and_tanh_are_stable_at_extremes():
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = x.sigmoid()
        t = x.tanh()
        (s.sum() + t.sum()).backward()
    np.testing.assert_allclose(s.data, [0.0, 1.9287499e-22, 0.5, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(t.data, [-1, -1, 0, 1, 1])
    assert np.isfinite(x.grad).all()


def test_max_ties_split_gradient_evenly():
    x = tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=(1,)).sum().backward()  # (a tuple of axes: the values, ties sharing the gradient)
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_split_cat_stack_where_values(rng):
    a = rng.standard_normal((4, 6))
    A = tensor(a)
    p = A.split(4, dim=1)
    assert [t.shape for t in p] == [(4, 4), (4, 2)]
    assert [t.shape for t in A.split([1, 3], dim=0)] == [(1, 6), (3, 6)]
    np.testing.assert_array_equal(cat(p, dim=1).data, a)
    np.testing.assert_array_equal(stack([A, A], dim=1).data, np.stack([a, a], axis=1))
    np.testing.assert_array_equal(where(a > 0, A, 0.0).data, np.where(a > 0, a, 0.0))
    np.testing.assert_array_equal(A.masked_fill(a < 0, -np.inf).data, np.where(a < 0, -np.inf, a))


# ---- the backward engine -----------------------------------------------------------------------


def test_backward_by_hand():
    # y = sum(a * b + a), dy/da = b + 1, dy/db = a
    a = tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    (a * b + a).sum().backward()
    np.testing.assert_array_equal(a.grad, [5.0, 6.0, 7.0])
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])


def test_broadcast_gradient_is_summed_back():
    x = tensor(np.ones((2, 3)), requires_grad=True)
    b = tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    c = tensor(np.ones((2, 1)), requires_grad=True)
    (x * b + c).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad, [[3.0], [3.0]])
    np.testing.assert_array_equal(x.grad, [[1, 2, 3], [1, 2, 3]])


def test_diamond_where_a_parent_is_also_a_grandparent():
    # x = f(p, z) with z = g(p): p must receive z's contribution before passing its gradient on
    w = tensor(np.array([2.0]), requires_grad=True)
    p = w * 3.0  # 6
    z = p * p  # 36
    x = p * z  # p^3 = 216; dx/dp = 3p^2 = 108; dx/dw = 324
    x.sum().backward()
    np.testing.assert_allclose(w.grad, [324.0])


def test_gradients_accumulate_across_backward_calls_and_reuse():
    x = tensor(np.array([2.0]), requires_grad=True)
    (x * x).sum().backward()  # 2x = 4
    (x * 3.0).sum().backward()  # + 3
    np.testing.assert_array_equal(x.grad, [7.0])
    x.zero_grad()
    y = x + x + x  # a node used three times
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0])


def test_leaf_grads_are_independent_writable_arrays():
    a = tensor(np.ones(3), requires_grad=True)
    b = tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()  # both receive the very same upstream gradient
    assert a.grad.numpy() is not b.grad.numpy() and a.grad.numpy().flags.writeable
    a.grad *= 10  # an optimizer clipping in place must not touch b
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])
    g = np.ones(3)
    c = tensor(np.ones(3), requires_grad=True)
    c.backward(g)
    assert c.grad is not g


def test_only_leaves_keep_grad_unless_retained():
    x = tensor(np.ones(2), requires_grad=True)
    h = x * 2.0
    k = (x * 3.0).retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(k.grad, [2.0, 2.0])  # d(h*k)/dk = h
    np.testing.assert_array_equal(x.grad, [12.0, 12.0])  # 2*k + 3*h = 6 + 6
    assert x.is_leaf and not h.is_leaf


def test_graph_is_freed_and_second_backward_raises():
    x = tensor(np.ones(2), requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    assert y._prev == ()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert len(y._prev) == 1 and y._op == "sum"
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_backward_with_explicit_gradient_and_errors():
    x = tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 3.0
    with pytest.raises(RuntimeError, match=r"one-element.*shape \(2, 2\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\).*\(2, 2\)"):
        y.backward(np.ones(3))
    y.backward(tensor(np.full((2, 2), 2.0)))
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 6.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_nests():
    x = tensor(np.ones(3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
        with enable_grad():
            z = x * 2
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not y.requires_grad and y._prev == () and y._op == ""
    assert z.requires_grad

    @no_grad()
    def f(t):
        return t * 3

    @no_grad
    def f2(t):
        return t * 3

    assert not f(x).requires_grad and not f2(x).requires_grad and is_grad_enabled()


def test_parents_without_grad_get_no_work():
    x = tensor(np.ones((3, 4)))  # data, no grad
    w = tensor(np.ones((5, 4)), requires_grad=True)
    F.linear(x, w).sum().backward()
    assert x.grad is None and w.grad.shape == (5, 4)


def test_backward_walks_only_recorded_results_that_need_a_gradient(monkeypatch):
    # Tensor.backward uses the scalar engine's walk, told to skip leaves and constants.
    import micrograd_plus._tensor as tensor_module

    walked = []
    real = tensor_module.topological_order

    def spy(root, children=None):
        order = real(root, children)
        walked.extend(order)
        return order

    monkeypatch.setattr(tensor_module, "topological_order", spy)
    x = tensor(np.ones(3), requires_grad=True)
    c = tensor(np.full(3, 2.0)) * 3.0 + 1.0  # (3,) computed from constants: needs no gradient
    h = x * c
    hh = h * h
    loss = hh.sum()
    loss.backward()
    assert [id(n) for n in walked] == [id(h), id(hh), id(loss)]  # inputs first; no leaf, no constant
    np.testing.assert_allclose(x.grad, 2 * 1.0 * 7.0 ** 2)  # d(sum (x c)^2)/dx = 2 x c^2


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(sys.getrecursionlimit() * 3):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_detach_cuts_the_graph():
    x = tensor(np.ones(2), requires_grad=True)
    y = (x * 2.0).detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_mixed_precision_gradient_keeps_each_leafs_dtype():
    a = Tensor(np.ones(2, np.float32), requires_grad=True)
    b = tensor(np.ones(2, np.float64), requires_grad=True)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


# ---- clear errors -------------------------------------------------------------------------------


def test_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 2\) are not aligned"):
        tensor(np.ones((3, 4))) @ tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\) \+ \(4,\)"):
        tensor(np.ones((2, 3))) + tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"reshape a tensor of shape \(2, 3\).*\(4,\)"):
        tensor(np.ones((2, 3))).reshape(4)
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        tensor(np.ones((2, 3)))[5]
    with pytest.raises(ValueError, match=r"batch dimensions of \(2, 3, 4\) and \(3, 4, 2\)"):
        tensor(np.ones((2, 3, 4))) @ tensor(np.ones((3, 4, 2)))
    with pytest.raises(ValueError, match="0-d"):
        F.cross_entropy(tensor(np.float64(1.0)), np.array(0))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ValueError, match="permute"):
        tensor(np.ones((2, 3))).permute(0, 0)
    with pytest.raises(ValueError, match="do not add up"):
        tensor(np.ones((2, 3))).split([1, 1], dim=1)
    with pytest.raises(ValueError, match="equal shape"):
        stack([tensor(np.ones(2)), tensor(np.ones(3))])
    with pytest.raises(ValueError, match="cat along dim 0"):
        cat([tensor(np.ones((2, 2))), tensor(np.ones((2, 3)))])
    with pytest.raises(TypeError, match="boolean"):
        tensor(np.ones(2)).masked_fill(np.array([1, 0]), 0.0)
    # integer matmul works, as in PyTorch (no gradient: integers cannot require one)
    assert (tensor(np.ones((2, 2), np.int64)) @ tensor(np.ones((2, 2), np.int64))).dtype == np.int64


@given(st.integers(1, 6), st.lists(st.integers(0, 5), max_size=12), st.integers(1, 3))
def test_scatter_add_rows_matches_np_add_at(n_rows, index, width):
    from micrograd_plus.ops.indexing import scatter_add_rows as _scatter_add_rows

    index = np.array([i % n_rows for i in index], dtype=np.int64)
    g = np.random.default_rng(len(index)).standard_normal((len(index), width))
    expected = np.zeros((n_rows, width))
    np.add.at(expected, index, g)  # numpy's own (slow, obviously correct) scatter-add
    np.testing.assert_allclose(_scatter_add_rows(index, g, n_rows), expected, rtol=1e-12, atol=1e-12)


def test_backward_frees_intermediate_results():
    """After backward the loss no longer holds the graph, so intermediates can be collected."""
    import gc
    import weakref

    x = tensor(np.ones((4, 4)), requires_grad=True)
    refs = []
    h = x * 2.0
    refs.append(weakref.ref(h))
    h = h.exp()
    refs.append(weakref.ref(h))
    loss = F.log_softmax(h).sum()
    del h
    kept = (x * 3.0).sum()
    kept.backward(retain_graph=True)
    loss.backward()
    gc.collect()
    assert all(r() is None for r in refs), "intermediate tensors are still referenced after backward"
    assert loss._prev == () and len(kept._prev) == 1  # retain_graph keeps its graph


def test_the_package_attribute_tensor_is_the_copying_function_as_in_pytorch():
    # The module of Tensor is micrograd_plus._tensor (PyTorch's torch/_tensor.py), so that
    # `torch.tensor(data)` with `import micrograd_plus as torch` is the function.
    import micrograd_plus as mp

    assert callable(mp.tensor) and not isinstance(mp.tensor, type(mp))
    a = np.array([1.0, 2.0])                      # float64 stays float64
    t = mp.tensor(a, requires_grad=True)
    a[0] = 9.0
    assert t.tolist() == [1.0, 2.0] and t.dtype == np.float64 and t.requires_grad
    assert mp.tensor([1.5, 2]).dtype == np.float32 and mp.tensor([1, 2]).dtype == np.int64
    assert mp.tensor(3, dtype=np.float64, device="cpu").dtype == np.float64
    with pytest.raises(RuntimeError, match="computes on the CPU"):
        mp.tensor([1.0], device="cuda")
