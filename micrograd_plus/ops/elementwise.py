"""Functions applied to every element: exp, log, sin, tanh, sigmoid, relu, gelu, clamp, ...

Each backward is the derivative times the incoming gradient, ``g * f'(x)``, often reusing the
output (``exp``, ``tanh``, ``sigmoid``). Integer and bool tensors go in as float32, as in
PyTorch (``Tensor([1, 2]).exp()`` is float32); rounding ops keep integers as they are.
"""

import math

import numpy as np

from micrograd_plus import kernels
from micrograd_plus.autograd import DEFAULT_FLOAT, differentiable, unbroadcast

_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf: the C library's, one element at a time
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class ElementwiseOps:
    """Elementwise functions (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    def _floats(self):
        """``data`` as floating point: floats as they are, integers and bools as float32."""
        x = self._data
        return x if x.dtype.kind == "f" else x.astype(DEFAULT_FLOAT)

    # ---- exponentials and logarithms ----------------------------------------------------------

    @differentiable
    def exp(self):
        """e**x elementwise. Its derivative is itself, so backward reuses the output."""
        with np.errstate(over="ignore"):
            y = np.exp(self._floats())
        return self._result(y, (self,), "exp", lambda g: (g * y,))

    @differentiable
    def expm1(self):
        """e**x - 1, accurate for tiny x; derivative e**x."""
        x = self._floats()
        with np.errstate(over="ignore"):
            y = np.expm1(x)
        return self._result(y, (self,), "expm1", lambda g: (g * (y + 1),))

    @differentiable
    def log(self):
        """Natural logarithm elementwise; d/dx log x = 1/x (log 0 = -inf, log of a negative = nan)."""
        x = self._floats()
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(x)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g / x,)

        return self._result(y, (self,), "log", backward)

    @differentiable
    def log2(self):
        """Base-2 logarithm; d/dx log2 x = 1 / (x ln 2)."""
        x = self._floats()
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log2(x)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g / (x * math.log(2.0)),)

        return self._result(y, (self,), "log2", backward)

    @differentiable
    def log10(self):
        """Base-10 logarithm; d/dx log10 x = 1 / (x ln 10)."""
        x = self._floats()
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log10(x)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g / (x * math.log(10.0)),)

        return self._result(y, (self,), "log10", backward)

    @differentiable
    def log1p(self):
        """log(1 + x), accurate for tiny x; derivative 1 / (1 + x)."""
        x = self._floats()
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log1p(x)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g / (1 + x),)

        return self._result(y, (self,), "log1p", backward)

    # ---- powers -------------------------------------------------------------------------------

    @differentiable
    def sqrt(self):
        """Square root elementwise; d/dx sqrt(x) = 1 / (2 sqrt(x)), reusing the output (inf at 0)."""
        with np.errstate(invalid="ignore"):
            y = np.sqrt(self._floats())

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g * 0.5 / y,)

        return self._result(y, (self,), "sqrt", backward)

    @differentiable
    def rsqrt(self):
        """1 / sqrt(x); derivative -1/2 x^(-3/2) = -y^3 / 2, reusing the output y."""
        with np.errstate(divide="ignore", invalid="ignore"):
            y = 1 / np.sqrt(self._floats())
        return self._result(y, (self,), "rsqrt", lambda g: (g * (-0.5 * y * y * y),))

    @differentiable
    def square(self):
        """x * x; derivative 2x."""
        x = self._data
        return self._result(x * x, (self,), "square", lambda g: (g * (2 * x),))

    @differentiable
    def reciprocal(self):
        """1 / x; derivative -1 / x^2 = -y^2."""
        with np.errstate(divide="ignore"):
            y = 1 / self._floats()
        return self._result(y, (self,), "reciprocal", lambda g: (-g * y * y,))

    # ---- trigonometry and the normal distribution ----------------------------------------------

    @differentiable
    def sin(self):
        """Sine; derivative cos."""
        x = self._floats()
        return self._result(np.sin(x), (self,), "sin", lambda g: (g * np.cos(x),))

    @differentiable
    def cos(self):
        """Cosine; derivative -sin."""
        x = self._floats()
        return self._result(np.cos(x), (self,), "cos", lambda g: (-g * np.sin(x),))

    @differentiable
    def erf(self):
        """The error function erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt; derivative
        2/sqrt(pi) exp(-x^2). (Computed with ``math.erf`` element by element: exact, not fast.)"""
        x = self._floats()
        y = np.asarray(_erf(x), dtype=np.float64).astype(x.dtype).reshape(x.shape)
        return self._result(y, (self,), "erf", lambda g: (g * (_TWO_OVER_SQRT_PI * np.exp(-x * x)),))

    # ---- activations --------------------------------------------------------------------------

    @differentiable
    def tanh(self):
        """Hyperbolic tangent; d/dx tanh x = 1 - tanh(x)^2, reusing the output."""
        y = np.tanh(self._floats())
        return self._result(y, (self,), "tanh", lambda g: (g * (1 - y * y),))

    @differentiable
    def sigmoid(self):
        """The logistic function 1 / (1 + e^-x), computed without overflow at +-1000.

        For x >= 0 we use 1/(1+e^-x), for x < 0 the equal e^x/(1+e^x); either way the exponent
        is e^-abs(x) <= 1. Derivative: s (1 - s), reusing the output s.
        """
        x = self._floats()
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1, e) / (1 + e)
        y = y.astype(x.dtype, copy=False)
        return self._result(y, (self,), "sigmoid", lambda g: (g * y * (1 - y),))

    @differentiable
    def relu(self):
        """max(x, 0): passes positive values, zeroes the rest. The gradient is passed where the
        output is positive (0 at x = 0, as in PyTorch), so backward needs only the output."""
        x = self._data
        if x.dtype.char not in "fd":  # integer tensors: numpy
            y = np.maximum(x, 0)
            return self._result(y, (self,), "relu", lambda g: (g * (y > 0),))
        y = kernels.relu_forward(x)  # x's shape; one pass, two threads on big arrays
        return self._result(y, (self,), "relu", lambda g: (kernels.relu_backward(g, y),))

    @differentiable
    def gelu(self, approximate="none"):
        """The GELU activation x * Phi(x), where Phi is the standard normal CDF.

        ``approximate="none"`` uses the exact erf form (PyTorch's default); ``approximate="tanh"``
        uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), which is what GPT-2 was trained with.
        Both are single compiled passes (:mod:`micrograd_plus.kernels.elementwise`); backward
        keeps only ``x`` (and, for the tanh form, the tanh values).
        """
        x = self._floats()
        if approximate == "tanh":
            y, t = kernels.gelu_tanh_forward(x)  # y, t: x's shape
            return self._result(y, (self,), "gelu", lambda g: (kernels.gelu_tanh_backward(g, x, t),))
        if approximate != "none":
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        y = kernels.gelu_forward(x)  # x's shape: x * Phi(x)
        return self._result(y, (self,), "gelu", lambda g: (kernels.gelu_backward(g, x),))

    # ---- sign, rounding, clamping -------------------------------------------------------------

    @differentiable
    def abs(self):
        """The absolute value abs(x) elementwise; the derivative is sign(x) (0 at x = 0)."""
        if self._data.dtype == np.bool_:
            return self
        x = self._data
        return self._result(np.abs(x), (self,), "abs", lambda g: (g * np.sign(x),))

    def _flat_gradient(self, y, name):
        """A piecewise-constant op: its gradient is 0 wherever it is defined (as PyTorch gives)."""
        return self._result(y, (self,), name, lambda g: (np.zeros_like(g),))

    @differentiable
    def sign(self):
        """-1, 0 or 1 by the sign of x; gradient 0."""
        return self._flat_gradient(np.sign(self._data), "sign")

    @differentiable
    def floor(self):
        """Round down to an integer value (integer tensors unchanged); gradient 0."""
        return self if self._data.dtype.kind != "f" else self._flat_gradient(np.floor(self._data), "floor")

    @differentiable
    def ceil(self):
        """Round up to an integer value; gradient 0."""
        return self if self._data.dtype.kind != "f" else self._flat_gradient(np.ceil(self._data), "ceil")

    @differentiable
    def round(self, decimals=0, out=None):
        """Round to the nearest integer (halves to even, as in PyTorch and numpy), or to
        ``decimals`` digits; gradient 0. (``out`` is there for ``np.round(t, 1)``, which calls this
        method and, as in PyTorch, gives a Tensor; only ``out=None`` is accepted.)"""
        if out is not None:
            raise TypeError("round(): out= is not supported; write y = t.round(decimals)")
        return self if self._data.dtype.kind != "f" else self._flat_gradient(np.round(self._data, decimals), "round")

    @differentiable
    def trunc(self):
        """Round towards zero; gradient 0."""
        return self if self._data.dtype.kind != "f" else self._flat_gradient(np.trunc(self._data), "trunc")

    @differentiable
    def clamp(self, min=None, max=None):
        """Limit every element to ``[min, max]`` (either may be None; numbers or tensors).

        The gradient passes where ``min <= x <= max`` (boundaries included, as in PyTorch) and is
        0 where the value was cut; a tensor bound receives the gradient where it was chosen.
        """
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min and max")
        x = self._data
        lo = None if min is None else self._operand(min, self)
        hi = None if max is None else self._operand(max, self)
        y = x
        low = high = None
        if lo is not None:
            low = x < lo._data
            y = np.where(low, lo._data.astype(x.dtype, copy=False), y)
        if hi is not None:
            high = y > hi._data
            y = np.where(high, hi._data.astype(x.dtype, copy=False), y)
        parents = tuple(t for t in (self, lo, hi) if t is not None)

        def backward(g):
            cut = np.zeros(g.shape, dtype=bool)
            low_won = None
            out = []
            if high is not None:
                cut |= high
            if low is not None:
                low_won = low if high is None else low & ~high  # (a later max bound may override)
                cut |= low_won
            out.append(unbroadcast(np.where(cut, 0, g), x.shape))
            if lo is not None:
                out.append(unbroadcast(np.where(low_won, g, 0), lo._data.shape) if lo.requires_grad else None)
            if hi is not None:
                out.append(unbroadcast(np.where(high, g, 0), hi._data.shape) if hi.requires_grad else None)
            return tuple(out)

        return self._result(y, parents, "clamp", backward)

    @differentiable
    def clip(self, min=None, max=None):
        """The same as :meth:`clamp` (numpy's and PyTorch's other name)."""
        return self.clamp(min, max)

    # ---- tests (boolean results, no gradient) -------------------------------------------------

    def isnan(self):
        """True where the value is nan."""
        return self._leaf(np.isnan(self._data))

    def isinf(self):
        """True where the value is +inf or -inf."""
        return self._leaf(np.isinf(self._data))

    def isfinite(self):
        """True where the value is neither nan nor infinite."""
        return self._leaf(np.isfinite(self._data))
