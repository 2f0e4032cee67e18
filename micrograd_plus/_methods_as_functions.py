"""PyTorch's function spellings of the tensor methods: ``micrograd_plus.exp(x)`` is ``x.exp()``.

PyTorch code writes both ``torch.exp(x)`` and ``x.exp()``; here the rule of each op lives once,
as a :class:`~micrograd_plus.Tensor` method (in :mod:`micrograd_plus.ops`), and this module makes
the function form of each name in :data:`micrograd_plus.ops.METHODS_AS_FUNCTIONS`. The first
argument may also be an array or a number. (Not to be confused with :mod:`micrograd_plus.functional`,
PyTorch's ``torch.nn.functional``: ``F.relu``, ``F.cross_entropy`` ...)
Creation functions and ops of several tensors (``zeros``, ``arange``, ``cat``, ``where``,
``einsum`` ...) are real functions in :mod:`micrograd_plus._tensor`.
"""

import warnings

import numpy as np

from micrograd_plus._tensor import Tensor, _operand, is_grad_enabled
from micrograd_plus.ops import METHODS_AS_FUNCTIONS


def write_out(out, result, name):
    """PyTorch's ``out=``: write ``result`` into the Tensor ``out`` and return ``out``.

    As in PyTorch: ``out`` keeps its dtype (the result must cast to it within its kind: a float
    result into an int ``out`` is refused), an ``out`` of another shape is resized (with a warning
    unless it was empty), and ``out=`` refuses to record a graph -- with an input that requires
    grad and grad mode on, it raises, since ``out`` cannot be both a leaf and a result.
    """
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): out= must be a Tensor, got {type(out).__name__}")
    if result.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad (drop out=, or compute under no_grad())")
    y = result._data
    if not np.can_cast(y.dtype, out._data.dtype, "same_kind"):
        raise RuntimeError(f"{name}(): result type {y.dtype} can't be cast to the desired output type {out._data.dtype}")
    if out._data.shape != y.shape:
        if out._data.size:
            warnings.warn(f"{name}(): an out= tensor of shape {out._data.shape} was resized to {y.shape}, "
                          "as PyTorch does (and warns)", UserWarning, stacklevel=3)
        out._data = np.empty(y.shape, dtype=out._data.dtype)
    np.copyto(out._data, y, casting="unsafe")
    out._bumped(f"{name}(out=)")
    return out


def _function(name):
    method = getattr(Tensor, name)

    def function(input, *args, out=None, **kwargs):
        x = _operand(input)
        if x is None:
            raise TypeError(f"{name}: expected a Tensor, array or number, got {type(input).__name__}")
        result = method(x, *args, **kwargs)
        return result if out is None else write_out(out, result, name)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``{name}(input, ...)`` is ``input.{name}(...)``: see :meth:`micrograd_plus.Tensor.{name}`."
    return function


def pow(input, exponent):
    """``input ** exponent`` (either may be a number)."""
    x = _operand(input, exponent if isinstance(exponent, Tensor) else None)
    return x ** exponent


globals().update({_name: _function(_name) for _name in METHODS_AS_FUNCTIONS})
__all__ = list(METHODS_AS_FUNCTIONS) + ["pow"]
