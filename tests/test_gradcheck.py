"""The gradcheck module itself: it must pass correct gradients and catch wrong ones, by name."""

import math

import numpy as np
import pytest

from micrograd_plus.gradcheck import GradcheckError, gradcheck, numerical_gradient
from micrograd_plus.scalar import Value


# -- numerical_gradient on functions whose derivative we know ----------------------------------

def test_numerical_gradient_of_known_functions():
    x = np.array([[0.5, -1.2, 2.0], [0.1, 0.0, -0.7]])
    np.testing.assert_allclose(numerical_gradient(lambda a: np.sum(a ** 3), x), 3 * x ** 2,
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(numerical_gradient(lambda a: np.sum(np.sin(a)), x), np.cos(x),
                               rtol=1e-7, atol=1e-9)
    v = np.array([0.3, 0.8])
    # f(a, b) = a * exp(b): df/da = exp(b), df/db = a * exp(b)
    g = numerical_gradient(lambda p: p[0] * math.exp(p[1]), v)
    np.testing.assert_allclose(g, [math.exp(0.8), 0.3 * math.exp(0.8)], rtol=1e-8)


def test_numerical_gradient_of_a_scalar_and_leaves_input_alone():
    x = np.float64(2.0)
    assert numerical_gradient(lambda a: float(a) ** 2, x) == pytest.approx(4.0, rel=1e-8)
    arr = np.array([1.0, 2.0])
    numerical_gradient(lambda a: a.sum(), arr)
    assert np.array_equal(arr, [1.0, 2.0])


# -- gradcheck with Values ---------------------------------------------------------------------

def wrong_exp(a):
    """exp with a deliberately wrong local derivative (2 * e**x instead of e**x)."""
    out = math.exp(a.data)
    return Value(out, (a,), (2.0 * out,), "wrong_exp")


def test_gradcheck_passes_correct_value_gradients():
    assert gradcheck(lambda a, b: (a * b).tanh() + a.exp() / b, [Value(0.4), Value(1.3)])


def test_gradcheck_catches_a_wrong_local_derivative_and_names_the_input():
    inputs = [Value(0.4), Value(1.3), Value(-0.2)]
    # only input 1 goes through the wrong rule
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b, c: a * c + wrong_exp(b), inputs)
    message = str(info.value)
    assert "input 1" in message
    assert "input 0" not in message and "input 2" not in message
    assert f"{2 * math.exp(1.3)!r}"[:8] in message  # the wrong analytic value is shown


def test_gradcheck_can_return_false_instead_of_raising():
    assert gradcheck(wrong_exp, [Value(0.5)], raise_exception=False) is False


def test_gradcheck_catches_missing_accumulation():
    def square_forgetting_one_path(a):
        return Value(a.data * a.data, (a,), (a.data,), "bad_square")  # should be 2a

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(square_forgetting_one_path, [Value(1.5)])


# -- gradcheck with Tensors --------------------------------------------------------------------

def test_gradcheck_tensor_reports_the_wrong_element():
    mp = pytest.importorskip("micrograd_plus._tensor")
    x0 = np.array([[0.5, -1.0, 1.5], [0.7, 1.2, -0.4]])

    def f(x):
        # x * c where c is a constant copy of x at element (1, 2) and 1 elsewhere: backward
        # sees c as a constant, but the numerical derivative at (1, 2) sees x[1, 2]**2.
        c = np.ones_like(x.data)
        c[1, 2] = x.data[1, 2]
        return x * mp.tensor(c)

    x = mp.tensor(x0.copy(), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, [x])
    message = str(info.value)
    assert "input 0" in message and "(1, 2)" in message
    assert "1 of 6" in message
    assert "np.float64" not in message  # plain numbers, not reprs
    assert "sum(w * output)" in message  # says which scalar was differentiated


def test_gradcheck_tensor_passes_and_validates_inputs():
    mp = pytest.importorskip("micrograd_plus._tensor")
    a = mp.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    b = mp.tensor(np.array([1.5, -0.5]), requires_grad=True)
    assert gradcheck(lambda a, b: (a * b).tanh(), [a, b])
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda a: a * 2.0, [mp.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda a: a * 2.0, [mp.tensor(np.ones(3))])
