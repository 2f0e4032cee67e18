"""PyTorch's function spellings of the tensor methods: ``micrograd_plus.exp(x)`` is ``x.exp()``.

PyTorch code writes both ``torch.exp(x)`` and ``x.exp()``; here the rule of each op lives once,
as a :class:`~micrograd_plus.Tensor` method (in :mod:`micrograd_plus.ops`), and this module makes
the function form of each name in :data:`micrograd_plus.ops.METHODS_AS_FUNCTIONS`. The first
argument may also be an array or a number. (Not to be confused with :mod:`micrograd_plus.functional`,
PyTorch's ``torch.nn.functional``: ``F.relu``, ``F.cross_entropy`` ...)
Creation functions and ops of several tensors (``zeros``, ``arange``, ``cat``, ``where``,
``einsum`` ...) are real functions in :mod:`micrograd_plus._tensor`.
"""

from micrograd_plus._tensor import Tensor, _operand
from micrograd_plus.ops import METHODS_AS_FUNCTIONS


def _function(name):
    method = getattr(Tensor, name)

    def function(input, *args, **kwargs):
        x = _operand(input)
        if x is None:
            raise TypeError(f"{name}: expected a Tensor, array or number, got {type(input).__name__}")
        return method(x, *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``{name}(input, ...)`` is ``input.{name}(...)``: see :meth:`micrograd_plus.Tensor.{name}`."
    return function


def pow(input, exponent):
    """``input ** exponent`` (either may be a number)."""
    x = _operand(input, exponent if isinstance(exponent, Tensor) else None)
    return x ** exponent


globals().update({_name: _function(_name) for _name in METHODS_AS_FUNCTIONS})
__all__ = list(METHODS_AS_FUNCTIONS) + ["pow"]
