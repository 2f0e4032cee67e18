"""``+ - * / **`` with broadcasting, comparisons, casts, and elementwise maximum/minimum.

Every binary op first brings its operands to PyTorch's common dtype (:meth:`ArithmeticOps._pair`:
an int tensor plus 0.5 is float32, float32 plus a float64 0-d tensor stays float32), then calls
numpy; the backward rule undoes broadcasting with :func:`~micrograd_plus.autograd.unbroadcast`.
An operand that is not a number, array or Tensor (a string, say) makes the op return
``NotImplemented``, so Python raises its usual ``TypeError: unsupported operand type(s)``.
"""

import numpy as np

from micrograd_plus.autograd import (
    DEFAULT_FLOAT,
    DIFFERENTIABLE_OPS,
    differentiable,
    is_number,
    result_dtype,
    scalar_dtype,
    unbroadcast,
)


def _plain(c):
    """A numpy scalar as a Python number (numpy 2 scalars are 'strong' and would upcast float32)."""
    return c.item() if isinstance(c, np.generic) else c


def _broadcast_op(ufunc, a, b, symbol):
    """Apply a numpy ufunc, turning a broadcasting failure into an error that names shapes."""
    try:
        return ufunc(a._data, b._data)
    except ValueError:
        raise ValueError(
            f"operands could not be broadcast together: {a._data.shape} {symbol} {b._data.shape} "
            "(shapes must match from the right, or be 1 there)"
        ) from None


def _divided(x, c):
    """``x / c`` for a scalar ``c``. Dividing by 0, inf or nan gives infs and nans silently, as in
    PyTorch (numpy would warn); only then is numpy's error state touched (it costs ~1 µs a call)."""
    if c == 0 or c - c != 0:  # (c - c is nan for an infinite or nan c)
        with np.errstate(divide="ignore", invalid="ignore"):
            return x / c
    return x / c


class ArithmeticOps:
    """Arithmetic operators, comparisons and casts (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    # ---- operands and dtypes ----------------------------------------------------------------

    def _pair(self, other, true_divide=False):
        """``(a, b)``: self and ``other`` as Tensors of PyTorch's common dtype, or None.

        The casts are differentiable (:meth:`astype`), so a float64 0-d tensor meeting a float32
        one gets its gradient back in float64. ``true_divide`` lifts integers to float32.
        """
        o = self._operand(other, self)
        if o is None:
            return None
        # a Python number already has the dtype it would give (see Tensor._operand); 0-d tensors
        # rank below tensors with dimensions, as in PyTorch
        dt = result_dtype(self._data.dtype, o._data.dtype, self._data.ndim > 0, o._data.ndim > 0 and not is_number(other))
        if true_divide and dt.kind != "f":
            dt = DEFAULT_FLOAT
        a = self if self._data.dtype == dt else self.astype(dt)
        b = o if o._data.dtype == dt else o.astype(dt)
        return a, b

    def _scalar_fast(self, other, true_divide=False):
        """``other`` as a Python number when it keeps self's dtype (the common ``x * 2.0``), else None."""
        if not is_number(other):
            return None
        dt = scalar_dtype(self._data.dtype, other)
        if true_divide and dt.kind != "f":
            return None
        return _plain(other) if dt == self._data.dtype else None

    def _no_bool_subtraction(self, other):
        """PyTorch refuses ``-`` whenever a bool is involved (tensor or number): say so clearly."""
        other_dtype = getattr(other, "dtype", None)
        if self._data.dtype == np.bool_ or other_dtype == np.bool_ or isinstance(other, bool):
            raise TypeError("subtraction with a bool tensor or bool is not supported (as in PyTorch); "
                            "use ^ (logical xor) for masks, or convert with .long() / .float() first")

    # ---- + - * / ----------------------------------------------------------------------------

    @differentiable
    def __add__(self, other):
        c = self._scalar_fast(other)
        if c is not None:  # y = x + c
            return self._result(self._data + c, (self,), "add", lambda g: (g,))
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        a, b = pair
        a_shape, b_shape = a._data.shape, b._data.shape

        def backward(g):  # d(a+b)/da = d(a+b)/db = 1
            return (
                unbroadcast(g, a_shape) if a.requires_grad else None,
                unbroadcast(g, b_shape) if b.requires_grad else None,
            )

        return self._result(_broadcast_op(np.add, a, b, "+"), (a, b), "add", backward)

    @differentiable
    def __radd__(self, other):
        return self.__add__(other)

    @differentiable
    def __sub__(self, other):
        self._no_bool_subtraction(other)
        c = self._scalar_fast(other)
        if c is not None:  # y = x - c
            return self._result(self._data - c, (self,), "sub", lambda g: (g,))
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        a, b = pair
        a_shape, b_shape = a._data.shape, b._data.shape

        def backward(g):  # d(a-b)/da = 1, d(a-b)/db = -1
            return (
                unbroadcast(g, a_shape) if a.requires_grad else None,
                -unbroadcast(g, b_shape) if b.requires_grad else None,
            )

        return self._result(_broadcast_op(np.subtract, a, b, "-"), (a, b), "sub", backward)

    @differentiable
    def __rsub__(self, other):
        self._no_bool_subtraction(other)
        c = self._scalar_fast(other)
        if c is not None and self._data.dtype != np.bool_:  # y = c - x
            return self._result(c - self._data, (self,), "rsub", lambda g: (-g,))
        o = self._operand(other, self)
        return NotImplemented if o is None else o.__sub__(self)

    @differentiable
    def __neg__(self):
        if self._data.dtype == np.bool_:
            raise TypeError(
                "negation (-) of a bool tensor is not supported "
                "(as in PyTorch); use ~ to invert a mask"
            )
        return self._result(-self._data, (self,), "neg", lambda g: (-g,))

    def __pos__(self):
        return self

    @differentiable
    def __mul__(self, other):
        c = self._scalar_fast(other)
        if c is not None:  # y = c * x
            return self._result(self._data * c, (self,), "mul", lambda g: (g * c,))
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        a, b = pair
        a_data, b_data = a._data, b._data

        def backward(g):  # d(ab)/da = b, d(ab)/db = a
            return (
                unbroadcast(g * b_data, a_data.shape) if a.requires_grad else None,
                unbroadcast(g * a_data, b_data.shape) if b.requires_grad else None,
            )

        return self._result(_broadcast_op(np.multiply, a, b, "*"), (a, b), "mul", backward)

    @differentiable
    def __rmul__(self, other):
        return self.__mul__(other)

    @differentiable
    def __truediv__(self, other):
        """``a / b``; integers divide as float32 (PyTorch's true division)."""
        c = self._scalar_fast(other, true_divide=True)
        if c is not None:  # y = x / c
            return self._result(_divided(self._data, c), (self,), "div", lambda g: (_divided(g, c),))
        pair = self._pair(other, true_divide=True)
        if pair is None:
            return NotImplemented
        a, b = pair
        a_data, b_data = a._data, b._data

        def backward(g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
            ga = unbroadcast(g / b_data, a_data.shape) if a.requires_grad else None
            gb = unbroadcast(-g * a_data / (b_data * b_data), b_data.shape) if b.requires_grad else None
            return ga, gb

        with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 is inf or nan, as in PyTorch
            return self._result(_broadcast_op(np.true_divide, a, b, "/"), (a, b), "div", backward)

    @differentiable
    def __rtruediv__(self, other):
        o = self._operand(other, self)
        return NotImplemented if o is None else o.__truediv__(self)

    def __floordiv__(self, other):
        """``a // b`` rounded down (integers stay integers); no gradient (it is flat almost everywhere)."""
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        return self._leaf(_broadcast_op(np.floor_divide, pair[0], pair[1], "//"))

    def __rfloordiv__(self, other):
        o = self._operand(other, self)
        return NotImplemented if o is None else o.__floordiv__(self)

    # ---- the method spellings (x.add(y), torch.mul(x, y, out=z)): each is the operator above ----

    def _other(self, other, name):
        o = self._operand(other, self)
        if o is None:
            raise TypeError(f"{name}(): expected a Tensor, array or number, got {type(other).__name__}")
        return o

    def add(self, other, alpha=1):
        """``self + alpha * other`` (PyTorch's ``x.add(y, alpha=1)``, ``torch.add``)."""
        o = self._other(other, "add")
        return self + (o if alpha == 1 else o * alpha)

    def sub(self, other, alpha=1):
        """``self - alpha * other`` (PyTorch's ``x.sub(y, alpha=1)``, ``torch.sub``)."""
        o = self._other(other, "sub")
        return self - (o if alpha == 1 else o * alpha)

    def mul(self, other):
        """``self * other`` (PyTorch's ``x.mul(y)``, ``torch.mul``)."""
        return self * self._other(other, "mul")

    def div(self, other, rounding_mode=None):
        """``self / other`` (true division, ``torch.div``); ``rounding_mode="floor"`` rounds the
        quotient down, ``"trunc"`` towards zero (both: integers stay integers, as in PyTorch)."""
        o = self._other(other, "div")
        if rounding_mode is None:
            return self / o
        if rounding_mode == "floor":
            return self // o
        if rounding_mode == "trunc":
            q = (self / o).trunc()
            if self.dtype.kind in "iub" and o.dtype.kind in "iub":  # integers stay integers, as with //
                q = q.type(result_dtype(self.dtype, o.dtype, self.ndim > 0, o.ndim > 0))
            return q
        raise ValueError(f"div(): rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")

    @differentiable
    def __mod__(self, other):
        """``a % b`` with the sign of ``b`` (Python's and PyTorch's remainder).

        a % b = a - floor(a / b) b, so d/da = 1 and d/db = -floor(a / b).
        """
        pair = self._pair(other)
        if pair is None:
            return NotImplemented
        a, b = pair
        y = _broadcast_op(np.remainder, a, b, "%")

        def backward(g):
            ga = unbroadcast(g, a._data.shape) if a.requires_grad else None
            gb = unbroadcast(-g * np.floor_divide(a._data, b._data), b._data.shape) if b.requires_grad else None
            return ga, gb

        return self._result(y, (a, b), "mod", backward)

    # ---- powers -----------------------------------------------------------------------------

    @differentiable
    def __pow__(self, exponent):
        """``x ** p`` for a number or tensor ``p``, with PyTorch's answers at the edges.

        d(x^p)/dx = p x^(p-1), taken as 0 where p == 0 (so ``x ** 0`` has gradient 0 even at
        x = 0, where the formula reads 0 * inf). d(x^p)/dp = x^p log(x), taken as 0 where x == 0
        and p >= 0. A negative base with a non-integer power is nan, as in PyTorch; integer
        tensors raised to negative integers are refused, as in PyTorch.
        """
        x = self._data
        if is_number(exponent):
            p = _plain(exponent)
            dt = scalar_dtype(x.dtype, p)
            if dt.kind in "iub" and p < 0:
                raise ValueError(
                    "integers to negative integer powers are not "
                    "allowed (as in PyTorch); use x.float() ** p"
                )
            if dt != x.dtype:
                return self.astype(dt) ** p
            if dt.kind == "b":  # bool ** bool stays bool, as in PyTorch: x ** True = x, x ** False = True
                return self._leaf(x.copy() if p else np.ones_like(x))
            if p == 2:
                return self._result(x * x, (self,), "pow", lambda g: (g * (2 * x),))
            with np.errstate(divide="ignore", invalid="ignore"):
                y = x**p

            def backward(g):  # p x^(p-1), 0 where p == 0
                if p == 0:
                    return (np.zeros_like(g),)
                with np.errstate(divide="ignore", invalid="ignore"):
                    return (g * (p * x ** (p - 1)),)

            return self._result(y, (self,), "pow", backward)
        pair = self._pair(exponent)
        if pair is None:
            return NotImplemented
        a, b = pair
        if a._data.dtype.kind == "b":
            raise TypeError(
                "** of two bool tensors is not supported "
                "(as in PyTorch); convert one with .long()"
            )
        if a._data.dtype.kind in "iu" and (b._data < 0).any():
            raise ValueError(
                "integers to negative integer powers are not "
                "allowed (as in PyTorch); use x.float() ** p"
            )
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = _broadcast_op(np.power, a, b, "**")

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                A, B = a._data, b._data
                ga = gb = None
                if a.requires_grad:  # b a^(b-1), 0 where b == 0
                    ga = unbroadcast(np.where(B == 0, 0.0, g * B * A ** (B - 1)).astype(g.dtype), A.shape)
                if b.requires_grad:  # a^b log(a), 0 where a == 0 and b >= 0
                    gb = unbroadcast(np.where((A == 0) & (B >= 0), 0.0, g * out * np.log(A)).astype(g.dtype), B.shape)
                return ga, gb

        return self._result(out, (a, b), "pow", backward)

    @differentiable
    def __rpow__(self, base):
        """``c ** x`` for a number ``c``: d/dx = c^x log(c) (0 where c == 0 and x >= 0).

        ``0 ** x`` and ``(-2) ** x`` work as in PyTorch: (-2) ** 3.0 is -8 (the gradient, which
        needs log(-2), is nan), (-2) ** 0.5 is nan.
        """
        o = self._operand(base, self)
        if o is None:
            return NotImplemented
        return o.__pow__(self)  # a number becomes a 0-d tensor of the right dtype

    # ---- comparisons and logic: boolean tensors, no gradient ---------------------------------

    def _compare(self, other, ufunc, symbol):
        o = self._operand(other, self)
        if o is None:
            return NotImplemented
        return self._leaf(_broadcast_op(ufunc, self, o, symbol))

    def __eq__(self, other):
        """Elementwise ``==`` as a boolean tensor, as in PyTorch (``hash`` stays by identity)."""
        return self._compare(other, np.equal, "==")

    def __ne__(self, other):
        return self._compare(other, np.not_equal, "!=")

    def __lt__(self, other):
        return self._compare(other, np.less, "<")

    def __le__(self, other):
        return self._compare(other, np.less_equal, "<=")

    def __gt__(self, other):
        return self._compare(other, np.greater, ">")

    def __ge__(self, other):
        return self._compare(other, np.greater_equal, ">=")

    def __contains__(self, element):
        """``x in t``: True if some element of ``t`` equals ``x`` (PyTorch's meaning)."""
        equal = self._compare(element, np.equal, "==")
        return equal is not NotImplemented and bool(np.any(equal._data))

    def eq(self, other):
        """Elementwise ``==`` as a boolean tensor (no gradient); the same as ``self == other``."""
        return self == other

    def ne(self, other):
        """Elementwise ``!=`` as a boolean tensor (no gradient)."""
        return self != other

    def lt(self, other):
        """Elementwise ``<`` as a boolean tensor."""
        return self < other

    def le(self, other):
        """Elementwise ``<=`` as a boolean tensor."""
        return self <= other

    def gt(self, other):
        """Elementwise ``>`` as a boolean tensor."""
        return self > other

    def ge(self, other):
        """Elementwise ``>=`` as a boolean tensor."""
        return self >= other

    def equal(self, other):
        """True if ``other`` has the same shape and the same values (``torch.equal``)."""
        o = self._operand(other)
        return o is not None and self._data.shape == o._data.shape and bool(np.array_equal(self._data, o._data))

    def _logic(self, other, ufunc, symbol):
        o = self._operand(other, self)
        if o is None:
            return NotImplemented
        if self._data.dtype.kind not in "biu" or o._data.dtype.kind not in "biu":
            raise TypeError(
                f"{symbol} needs bool or integer tensors, "
                f"got {self._data.dtype} and {o._data.dtype}"
            )
        return self._leaf(_broadcast_op(ufunc, self, o, symbol))

    def __and__(self, other):
        return self._logic(other, np.bitwise_and, "&")

    def __or__(self, other):
        return self._logic(other, np.bitwise_or, "|")

    def __xor__(self, other):
        return self._logic(other, np.bitwise_xor, "^")

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        """``~mask``: logical not of a bool tensor (bitwise not of an integer one)."""
        if self._data.dtype.kind not in "biu":
            raise TypeError(f"~ needs a bool or integer tensor, got {self._data.dtype}")
        return self._leaf(~self._data)

    def logical_not(self):
        """Elementwise not, as a boolean tensor (nonzero counts as True)."""
        return self._leaf(np.logical_not(self._data))

    def logical_and(self, other):
        """Elementwise and, as a boolean tensor."""
        return self._leaf(np.logical_and(self._data, self._operand(other)._data))

    def logical_or(self, other):
        """Elementwise or, as a boolean tensor."""
        return self._leaf(np.logical_or(self._data, self._operand(other)._data))

    # ---- elementwise maximum / minimum --------------------------------------------------------

    def _extreme2(self, other, pick, name):
        pair = self._pair(other)
        if pair is None:
            raise TypeError(f"{name}: expected a Tensor, array or number, got {type(other).__name__}")
        a, b = pair
        y = _broadcast_op(pick, a, b, name)

        def backward(g):  # the larger (smaller) one gets g; on a tie each gets half, as in PyTorch
            A, B = a._data, b._data
            wins_a = (A > B) if pick is np.maximum else (A < B)
            share = np.where(A == B, 0.5, wins_a.astype(g.dtype))
            ga = unbroadcast(g * share, A.shape) if a.requires_grad else None
            gb = unbroadcast(g * np.where(A == B, 0.5, 1.0 - share), B.shape) if b.requires_grad else None
            return ga, gb

        return self._result(y, (a, b), name, backward)

    @differentiable
    def maximum(self, other):
        """Elementwise larger of ``self`` and ``other`` (broadcast); ties split the gradient."""
        return self._extreme2(other, np.maximum, "maximum")

    @differentiable
    def minimum(self, other):
        """Elementwise smaller of ``self`` and ``other`` (broadcast); ties split the gradient."""
        return self._extreme2(other, np.minimum, "minimum")

    # ---- casts ------------------------------------------------------------------------------

    @differentiable
    def astype(self, dtype):
        """A copy converted to ``dtype``; the gradient is converted back."""
        dtype = np.dtype(dtype)
        if dtype == self._data.dtype:
            return self
        src = self._data.dtype

        def backward(g):  # dL/dx = dL/dy, in the input's dtype
            return (g.astype(src),)

        return self._result(self._data.astype(dtype), (self,), "astype", backward)

    def type_as(self, other):
        """Cast to ``other``'s dtype."""
        return self.astype(other.dtype)

    @differentiable
    def float(self):
        """Cast to float32 (differentiable)."""
        return self.astype(np.float32)

    @differentiable
    def double(self):
        """Cast to float64 (differentiable); gradient checks work in float64."""
        return self.astype(np.float64)

    def long(self):
        """Cast to int64 (for indices; no gradient)."""
        return self._leaf(self._data.astype(np.int64))

    def int(self):
        """Cast to int32 (no gradient)."""
        return self._leaf(self._data.astype(np.int32))

    def bool(self):
        """Cast to bool: nonzero is True (no gradient)."""
        return self._leaf(self._data.astype(np.bool_))


DIFFERENTIABLE_OPS.extend(["to", "type_as"])  # casts: the gradient converts back
