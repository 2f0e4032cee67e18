"""PyTorch's answers at the edges, checked without PyTorch: every expected value here is worked
out by hand (the comment beside it says how), so these run everywhere. ``test_torch_oracle.py``
checks the same places against PyTorch itself when it is installed."""

import math
import warnings
import pathlib
import re

import numpy as np
import pytest

import micrograd_plus as mp
from micrograd_plus import functional as F
from micrograd_plus._tensor import Tensor, arange, eye, full, ones_like, tensor, zeros_like


def leaf(values):
    return tensor(np.array(values, dtype=np.float64), requires_grad=True)


def grad_of(fn, x):
    x.grad = None
    fn(x).sum().backward()
    return x.grad


# ---- dtype promotion (PyTorch's table) ------------------------------------------------------------


@pytest.mark.parametrize("expr, dtype", [
    (lambda: tensor([1, 2]) / 2, np.float32),  # true division of integers: the default float
    (lambda: tensor([1, 2]) / tensor([2, 2]), np.float32),
    (lambda: tensor([1, 2]) + 0.5, np.float32),  # int tensor meets a float number
    (lambda: 0.5 * tensor([1, 2]), np.float32),
    (lambda: tensor([1, 2]) + 1, np.int64),  # an int number keeps the int dtype
    (lambda: tensor(np.array([1, 2], np.int32)) + 1, np.int32),
    (lambda: tensor(np.array([1, 2], np.int32)) + tensor(np.array(7)), np.int32),  # 0-d ranks lower
    (lambda: tensor(np.ones(2, np.float32)) + tensor(np.array(2.0)), np.float32),  # float64 0-d: stays float32
    (lambda: tensor([1, 2]) + tensor(np.array(2.0)), np.float64),  # ...but lifts an int tensor to its dtype
    (lambda: tensor([1, 2]) + Tensor(np.ones(2, np.float32)), np.float32),  # numpy would say float64
    (lambda: tensor(np.ones(2, np.float32)) * tensor(np.ones(2)), np.float64),
    (lambda: tensor([True]) + tensor([True]), np.bool_),
    (lambda: tensor([True]) + 1, np.int64),
    (lambda: tensor([True]) * 0.5, np.float32),
    (lambda: tensor([True]) / tensor([True]), np.float32),
    (lambda: tensor([1, 2]) ** 2, np.int64),
    (lambda: tensor([1, 2]) ** 0.5, np.float32),
    (lambda: 2 ** tensor([1, 2]), np.int64),
    (lambda: 2.5 ** tensor([1, 2]), np.float32),
    (lambda: tensor([1, 2]).exp(), np.float32),
    (lambda: tensor([1, 2]).sqrt(), np.float32),
    (lambda: tensor([1, 2]).sum(), np.int64),
    (lambda: tensor([True, True]).sum(), np.int64),
    (lambda: tensor([1, 2]).mean(), np.float32),  # (PyTorch refuses; see docs/pytorch-differences.md)
    (lambda: tensor([1, 2]).abs(), np.int64),
    (lambda: tensor([1, 2]).floor(), np.int64),
    (lambda: tensor([1, 2]) == tensor([1, 3]), np.bool_),
    (lambda: Tensor(np.ones(2, np.float32)) * 2.0, np.float32),
    (lambda: Tensor(np.ones(2, np.float32)) * np.float64(2.0), np.float32),
    (lambda: arange(3), np.int64),
    (lambda: arange(0, 1, 0.5), np.float32),
    (lambda: full((2,), 3), np.int64),
    (lambda: full((2,), 3.0), np.float32),
    (lambda: eye(2), np.float32),
    (lambda: zeros_like(tensor([1, 2])), np.int64),
    (lambda: ones_like(tensor(np.ones(2))), np.float64),
])
def test_dtype_promotion(expr, dtype):
    assert expr().dtype == dtype


@pytest.mark.parametrize("by", [0.0, 0, np.float32(0)])
def test_division_by_a_zero_scalar_is_inf_or_nan_without_a_warning(by):
    """As in PyTorch: x / 0 is inf, -inf or nan (0 / 0), and so is its gradient, silently, the
    same as dividing by a zero tensor (numpy would print a RuntimeWarning for each)."""
    x = tensor(np.array([1.0, -1.0, 0.0], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        y = x / by
        y.backward(ones_like(y))  # (y.sum() would add inf and -inf)
        z = x / tensor(np.zeros(3, np.float32))
    np.testing.assert_array_equal(y.data, [np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(z.data, y.data)
    np.testing.assert_array_equal(x.grad, [np.inf, np.inf, np.inf])


def test_integer_true_division_values():
    np.testing.assert_array_equal((tensor([1, 2]) / 2).data, [0.5, 1.0])
    np.testing.assert_array_equal((tensor([7, -7]) // 2).data, [3, -4])  # floor division
    np.testing.assert_array_equal((tensor([7, -7]) % 3).data, [1, 2])  # the sign of the divisor


def test_non_numbers_are_refused_with_a_clear_type_error():
    with pytest.raises(TypeError, match="tensors hold numbers"):
        Tensor("abc")
    with pytest.raises(TypeError, match="strings"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="ragged"):
        Tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="Python objects"):
        Tensor(np.array([object()]))
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'Tensor' and 'str'"):
        Tensor([1.0]) + "a"
    with pytest.raises(TypeError):
        "a" * Tensor([1.0])
    with pytest.raises(TypeError, match=r"unsupported operand"):
        Tensor([1.0]) @ "a"


def test_bool_arithmetic_that_pytorch_refuses():
    b = tensor([True, False])
    with pytest.raises(TypeError, match="use ~"):
        -b
    with pytest.raises(TypeError, match=r"\^"):
        b - b
    with pytest.raises(TypeError, match="bool"):
        tensor([1, 2]) - b  # any bool in a subtraction, as in PyTorch
    with pytest.raises(TypeError, match="bool"):
        1.5 - b
    np.testing.assert_array_equal((~b).data, [False, True])
    np.testing.assert_array_equal((b ^ tensor([True, True])).data, [False, True])


# ---- powers at the edges ------------------------------------------------------------------------


def test_pow_gradient_at_base_zero():
    x = leaf([0.0, 2.0])
    np.testing.assert_array_equal(grad_of(lambda t: t**2, x), [0.0, 4.0])  # 2x
    np.testing.assert_array_equal(grad_of(lambda t: t**3, x), [0.0, 12.0])  # 3x^2
    np.testing.assert_array_equal(grad_of(lambda t: t**1, x), [1.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda t: t**0, x), [0.0, 0.0])  # 0 * x^-1 read as 0, not 0 * inf
    g = grad_of(lambda t: t**0.5, x)
    assert g[0] == np.inf and g[1] == pytest.approx(0.5 / math.sqrt(2))


def test_pow_tensor_exponent_at_base_zero():
    a, b = leaf([0.0, 0.0, 0.0]), leaf([0.0, 2.0, 3.0])
    (a**b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 0.0])  # b a^(b-1): 0 where b == 0, else 0^(b-1) = 0
    np.testing.assert_array_equal(b.grad, [0.0, 0.0, 0.0])  # a^b log a, taken as 0 where a == 0 and b >= 0


def test_zero_and_negative_bases():
    x = leaf([0.0, 1.0, 2.0, 3.0])
    y = 0.0**x
    np.testing.assert_array_equal(y.data, [1.0, 0.0, 0.0, 0.0])  # 0^0 = 1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 0.0])
    x.grad = None
    y = (-2.0) ** x
    np.testing.assert_array_equal(y.data, [1.0, -2.0, 4.0, -8.0])
    y.sum().backward()
    assert np.isnan(x.grad).all()  # d/dx (-2)^x needs log(-2)
    assert np.isnan((Tensor([-1.0]) ** 0.5).item())
    with pytest.raises(ValueError, match="negative integer powers"):
        tensor([2, 3]) ** -1


# ---- matmul shapes ----------------------------------------------------------------------------


def test_vector_dot_vector_is_0d():
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    y = a @ b
    assert y.shape == () and y.item() == 32.0  # 4 + 10 + 18
    y.backward()
    np.testing.assert_array_equal(a.grad, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("sa, sb, out", [((3, 0), (0, 2), (3, 2)), ((0, 3), (3, 2), (0, 2)), ((3, 2), (2, 0), (3, 0)),
                                         ((0, 2, 3), (3, 4), (0, 2, 4)), ((2, 3, 0), (2, 0, 4), (2, 3, 4)), ((0,), (0,), ())])
def test_matmul_with_a_zero_size_dimension(sa, sb, out):
    a, b = tensor(np.ones(sa), requires_grad=True), tensor(np.ones(sb), requires_grad=True)
    y = a @ b
    assert y.shape == out
    np.testing.assert_array_equal(y.data, np.zeros(out))  # an empty sum is 0
    (y * 2.0).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert not a.grad.any() and not b.grad.any()


def test_batched_matmul_of_large_matrices_runs_on_the_kernels(monkeypatch, rng):
    """(2, 3, 64, 96) @ (3, 96, 80): each of the 6 products (491,520 multiply-adds) goes to the
    kernels, forward and backward, none to numpy's matmul, whose own threads would keep spinning
    beside the kernels'; the values and gradients are numpy's."""
    from micrograd_plus import kernels
    from micrograd_plus.ops import linalg

    calls = []
    for name in ("matmul", "matmul_nt", "matmul_tn"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda x, y, real=real, name=name: (calls.append(name), real(x, y))[1])
    monkeypatch.setattr(linalg.np, "matmul", None)  # any call to numpy's matmul from linalg fails
    A, B = rng.standard_normal((2, 3, 64, 96)), rng.standard_normal((3, 96, 80))
    G = rng.standard_normal((2, 3, 64, 80))
    a, b = tensor(A, requires_grad=True), tensor(B, requires_grad=True)
    y = a @ b
    (y * tensor(G)).sum().backward()
    assert calls.count("matmul") == 6 and calls.count("matmul_nt") == 6 and calls.count("matmul_tn") == 6
    np.testing.assert_allclose(y.data, np.einsum("xbmk,bkn->xbmn", A, B), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.grad, np.einsum("xbmn,bkn->xbmk", G, B), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad, np.einsum("xbmk,xbmn->bkn", A, G), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sa, sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5))])
def test_float16_matmul_works_as_in_pytorch(sa, sb, rng):
    """float16 products (which the kernels do not take) are numpy's, in float16, with gradients."""
    A, B = rng.standard_normal(sa).astype(np.float16), rng.standard_normal(sb).astype(np.float16)
    a, b = tensor(A, requires_grad=True), tensor(B, requires_grad=True)
    y = a @ b
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y.data, np.matmul(A, B))
    y.sum().backward()
    assert a.grad.dtype == np.float16 and a.grad.shape == sa and b.grad.shape == sb


# ---- softmax, reductions and shapes of 0-d and empty tensors ---------------------------------------


def test_softmax_of_0d_and_empty():
    x = leaf(2.5)
    y = F.softmax(x, dim=0)
    assert y.shape == () and y.item() == 1.0
    y.backward()
    assert x.grad == 0.0  # softmax of one element is constant
    assert F.log_softmax(leaf(2.5), dim=-1).item() == 0.0
    for shape, dim in (((2, 0), 1), ((0, 3), 1), ((0, 3), 0)):
        e = tensor(np.ones(shape), requires_grad=True)
        out = F.softmax(e, dim=dim) + F.log_softmax(e, dim=dim)
        assert out.shape == shape
        out.sum().backward()
        assert e.grad.shape == shape


def test_var_backward_when_n_is_at_most_the_correction():
    x = leaf([[3.0]])
    v = x.var()  # one element, correction 1: 0 / 0
    assert np.isnan(v.item())
    v.backward()
    assert np.isnan(x.grad).all()  # 2 (x - mean) / 0 = 0 / 0
    y = leaf([[1.0, 2.0]])
    w = y.var(dim=1, correction=2)  # 0.5 / 0
    assert w.item() == np.inf
    w.sum().backward()
    np.testing.assert_array_equal(y.grad, [[-np.inf, np.inf]])  # 2 (x - mean) / 0 = +-inf
    assert y.std(dim=1).item() == pytest.approx(math.sqrt(0.5))


def test_std_of_a_constant_has_zero_gradient():
    x = leaf([[2.0, 2.0, 2.0]])
    x.std(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0, 0.0]])


def test_reductions_of_0d_accept_dim_0_and_minus_1():
    x = leaf(4.0)
    for y in (x.sum(-1), x.sum(0), x.mean(-1), x.amax(0), x.max(-1).values, x.logsumexp(0), x.cumsum(0), x.prod(0)):
        assert y.shape == () and y.item() == 4.0
    assert x.sum(0, keepdim=True).shape == ()
    assert x.max(0).indices.item() == 0
    with pytest.raises(IndexError, match=r"expected a dim in \[-1, 0\]"):
        x.sum(1)


def test_reductions_over_empty_dims():
    e = tensor(np.ones((3, 0)))
    np.testing.assert_array_equal(e.sum(1).data, [0.0, 0.0, 0.0])  # the empty sum
    np.testing.assert_array_equal(e.prod(1).data, [1.0, 1.0, 1.0])  # the empty product
    np.testing.assert_array_equal(e.logsumexp(1).data, [-np.inf] * 3)  # log(0)
    assert np.isnan(e.mean(1).data).all()  # 0 / 0
    with pytest.raises(ValueError, match="empty"):
        e.max(1)
    with pytest.raises(ValueError, match="empty"):
        e.argmax()


def test_squeeze_and_unsqueeze_check_their_dims():
    x = tensor(np.ones((1, 2, 1, 3)))
    with pytest.raises(IndexError, match=r"dim 50 is out of range .* \[-4, 3\]"):
        x.squeeze(50)
    with pytest.raises(IndexError):
        x.squeeze(-5)
    with pytest.raises(IndexError, match=r"dim 6 is out of range .* \[-5, 4\]"):
        x.unsqueeze(6)
    assert x.unsqueeze(4).shape == (1, 2, 1, 3, 1) and x.unsqueeze(-5).shape == (1, 1, 2, 1, 3)
    assert x.squeeze(1).shape == (1, 2, 1, 3)  # size 2: left alone, as in PyTorch
    assert x.squeeze((0, 2)).shape == (2, 3) and x.squeeze(-2).shape == (1, 2, 3)
    assert tensor(np.array(1.0)).squeeze(0).shape == () and tensor(np.array(1.0)).unsqueeze(-1).shape == (1,)


def test_advanced_indexing_puts_an_int_first_as_pytorch_does():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = tensor(a, requires_grad=True)
    y = x[0, :, [3, 1]]  # PyTorch: x[0] first, then [:, [3, 1]] -> (3, 2); numpy gives (2, 3)
    assert y.shape == (3, 2)
    np.testing.assert_array_equal(y.data, [[3.0, 1.0], [7.0, 5.0], [11.0, 9.0]])
    y.sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[0, :, [1, 3]] = 1.0
    np.testing.assert_array_equal(x.grad, expected)
    assert x[1, [0, 2], [3, 1]].shape == (2,)  # adjacent index arrays: the same in both
    assert x[:, 0, [1, 2]].shape == (2, 2)
    assert x[[0, 1], :, 0].shape == (2, 3)  # PyTorch: the int first, then [[0, 1], :] -> (2, 3)
    assert x[tensor(np.array(1))].shape == (3, 4)  # a 0-d integer tensor indexes like an int


# ---- comparisons are elementwise; hashing stays by identity -------------------------------------------


def test_comparisons_are_elementwise_and_hash_is_identity():
    a, b = Tensor([1.0, 2.0, 3.0]), Tensor([1.0, 5.0, 3.0])
    np.testing.assert_array_equal((a == b).data, [True, False, True])
    np.testing.assert_array_equal((a != b).data, [False, True, False])
    np.testing.assert_array_equal((a < b).data, [False, True, False])
    np.testing.assert_array_equal((a >= 2).data, [False, True, True])
    np.testing.assert_array_equal((a == np.array([1.0, 0.0, 3.0])).data, [True, False, True])
    assert (a == "x") is False and (a != "x") is True  # not comparable: Python's identity fallback
    assert hash(a) == object.__hash__(a)
    c = Tensor([1.0, 2.0, 3.0])  # equal values, a different tensor
    assert len({a, c}) == 2 and {a: 1, c: 2}[c] == 2
    assert any(t is a for t in [b, a])  # finding a tensor in a list: compare identities
    with pytest.raises(ValueError, match="ambiguous"):
        a in [b, a]  # noqa: B015 -- `in` compares b == a elementwise first (PyTorch raises too)
    pred, y = tensor([2, 0, 1]), tensor([2, 1, 1])
    assert (pred == y).float().mean().item() == pytest.approx(2 / 3)  # the accuracy idiom works
    assert a.equal(c) and not a.equal(b)
    assert 2.0 in a and 5.0 not in a and "x" not in a  # `x in t` looks at the elements, as in PyTorch


def test_max_with_dim_returns_values_and_indices_like_pytorch():
    x = leaf([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]])
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.data, [5.0, 7.0])
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first of a tie
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # to the index found
    x.grad = None
    x.max().backward()
    assert x.max().item() == 7.0
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])  # amax splits ties
    values, indices = x.max(axis=1)  # axis is PyTorch's other name for dim: (values, indices)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]  # the same as dim=1
    assert x.max(axis=(0, 1)).shape == ()  # a tuple of axes: the values only, like amax


def test_prod_gradient_with_zeros():
    x = leaf([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0]])
    x.prod(1).sum().backward()
    # row 1: one zero, the product of the others (6) goes to it; row 2: two zeros, all 0
    np.testing.assert_array_equal(x.grad, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_norm_of_zero_vector_has_zero_gradient():
    x = leaf([[0.0, 0.0], [3.0, 4.0]])
    n = x.norm(dim=1)
    np.testing.assert_array_equal(n.data, [0.0, 5.0])
    n.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [0.6, 0.8]])  # x / |x|, 0 at |x| = 0


def test_new_op_values_by_hand():
    x = tensor(np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]))
    np.testing.assert_array_equal(x.cumsum(1).data, [[1, -1, 2], [4, 9, 3]])
    np.testing.assert_array_equal(x.clamp(-1, 4).data, [[1, -1, 3], [4, 4, -1]])
    np.testing.assert_array_equal(x.flip(1).data, [[3, -2, 1], [-6, 5, 4]])
    np.testing.assert_array_equal(x.roll(1, 1).data, [[3, 1, -2], [-6, 4, 5]])
    np.testing.assert_array_equal(x.tril().data, [[1, 0, 0], [4, 5, 0]])
    np.testing.assert_array_equal(x.triu(1).data, [[0, -2, 3], [0, 0, -6]])
    np.testing.assert_array_equal(x.repeat(1, 2).data, [[1, -2, 3, 1, -2, 3], [4, 5, -6, 4, 5, -6]])
    np.testing.assert_array_equal(x.sort(1).values.data, [[-2, 1, 3], [-6, 4, 5]])
    np.testing.assert_array_equal(x.topk(2, 1).indices.data, [[2, 0], [1, 0]])
    np.testing.assert_array_equal(x.gather(1, np.array([[2, 2], [0, 1]])).data, [[3, 3], [4, 5]])
    np.testing.assert_array_equal(x.argmin(1).data, [1, 2])
    np.testing.assert_array_equal(x.sign().data, [[1, -1, 1], [1, 1, -1]])
    np.testing.assert_array_equal(Tensor([0.5, 1.5, 2.5, -0.5]).round().data, [0, 2, 2, -0])  # halves to even
    assert x.prod().item() == 720.0 and x.all().item() and not (x > 0).all().item() and (x > 4).any().item()
    np.testing.assert_allclose(Tensor([0.0, 1.0]).logsumexp(0).item(), math.log(1 + math.e))
    np.testing.assert_allclose(tensor(np.array([0.5])).erf().item(), math.erf(0.5), rtol=1e-15)
    np.testing.assert_array_equal(F.one_hot(tensor([2, 0]), 3).data, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(F.pad(tensor(np.ones((1, 2))), (1, 0), value=9.0).data, [[9, 1, 1]])
    np.testing.assert_array_equal(mp.einsum("ij->j", x).data, [5, 3, -3])
    np.testing.assert_array_equal(mp.maximum(x, 0).data, x.relu().data)
    np.testing.assert_array_equal(mp.arange(1, 7, 2).data, [1, 3, 5])
    np.testing.assert_array_equal(mp.eye(2, 3).data, [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(x.scatter_add(1, np.array([[0, 0]]), tensor(np.array([[10.0, 20.0]]))).data,
                                  [[31, -2, 3], [4, 5, -6]])  # repeated positions sum: 1 + 10 + 20


def test_losses_by_hand():
    p, y = Tensor([0.8, 0.1]), Tensor([1.0, 0.0])
    expected = -(math.log(0.8) + math.log(0.9)) / 2
    assert F.binary_cross_entropy(p, y).item() == pytest.approx(expected, rel=1e-6)
    z = Tensor([math.log(4.0), math.log(1 / 9)])  # sigmoid gives 0.8 and 0.1
    assert F.binary_cross_entropy_with_logits(z, y).item() == pytest.approx(expected, rel=1e-6)
    lp = tensor(np.log(np.array([[0.5, 0.25, 0.25]])))
    assert F.nll_loss(lp, np.array([1])).item() == pytest.approx(math.log(4), rel=1e-6)
    # label smoothing 0.3 over 3 classes: target (0.1, 0.8, 0.1) on log-probs log(.5), log(.25), log(.25)
    logits = tensor(np.log(np.array([[0.5, 0.25, 0.25]])))
    smooth = -(0.1 * math.log(0.5) + 0.8 * math.log(0.25) + 0.1 * math.log(0.25))
    assert F.cross_entropy(logits, np.array([1]), label_smoothing=0.3).item() == pytest.approx(smooth, rel=1e-6)
    probs = Tensor(np.array([[0.1, 0.8, 0.1]], np.float32))
    assert F.cross_entropy(logits, probs).item() == pytest.approx(smooth, rel=1e-6)
    assert np.isnan(F.cross_entropy(logits, np.array([-100])).item())  # nothing to average
    assert F.binary_cross_entropy(Tensor([0.0]), Tensor([1.0])).item() == 100.0  # log clamped at -100


def test_argument_names_of_pytorch_and_numpy_both_work():
    x = tensor(np.arange(6.0).reshape(2, 3))
    for a, b in ((x.sum(dim=1, keepdim=True), x.sum(axis=1, keepdims=True)),
                 (x.mean(dim=0), x.mean(axis=0)), (x.var(dim=1), x.var(axis=1)), (x.std(dim=1), x.std(axis=1)),
                 (x.prod(dim=1), x.prod(axis=1)), (x.logsumexp(dim=1), x.logsumexp(axis=1)),
                 (x.amax(dim=1), x.amax(axis=1)), (x.argmax(dim=1), x.argmax(axis=1)), (x.all(dim=1), x.all(axis=1))):
        np.testing.assert_array_equal(a.data, b.data)


def test_the_differences_page_runs():
    """The examples on docs/pytorch-differences.md are assertions; run them (the docs tests only
    cover the chapters)."""
    page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "pytorch-differences.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, "the page lost its examples"
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})


def test_functional_takes_pytorchs_keyword_names():
    """Code that names its arguments as PyTorch's documentation does runs unchanged."""
    x = tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3))
    w, t = tensor(np.ones((4, 3))), np.array([0, 2])
    for fn in (F.relu, F.gelu, F.sigmoid, F.tanh, F.silu, F.leaky_relu, F.elu, F.softplus, F.logsigmoid):
        assert fn(input=x).shape == (2, 3)
    assert F.softmax(input=x, dim=-1).shape == (2, 3) and F.log_softmax(input=x, dim=1).shape == (2, 3)
    assert F.cross_entropy(input=x, target=t, label_smoothing=0.1).shape == ()
    assert F.nll_loss(input=x, target=t).shape == ()
    assert F.linear(input=x, weight=w).shape == (2, 4)
    assert F.layer_norm(input=x, normalized_shape=(3,)).shape == (2, 3)
    assert F.embedding(input=np.array([[0, 3]]), weight=w).shape == (1, 2, 3)
    assert F.dropout(input=x, p=0.5, training=False) is not None
    assert F.pad(input=x, pad=(1, 1)).shape == (2, 5) and F.normalize(input=x, p=2.0, dim=1).shape == (2, 3)
    assert F.one_hot(tensor=tensor([1, 0]), num_classes=2).shape == (2, 2)
