"""In-place operations: ``x += 1``, ``x.add_(1)``, ``x[0] = 0``, ``x.zero_()`` ... as in PyTorch.

Each one changes the tensor's own memory (so a view of it, or ``x.numpy()``, sees the change)
and returns the tensor itself. Each is the ordinary op of the same name whose result is written
back (``x.add_(y)`` is ``x + y`` written into ``x``), by :meth:`Tensor._inplace
<micrograd_plus._tensor.Tensor._inplace>`, which applies PyTorch's rules:

* under ``no_grad`` (or when nothing involved requires grad) the values are just overwritten --
  the manual training step ``with no_grad(): w -= lr * w.grad`` changes ``w`` itself;
* a leaf that requires grad (a weight) cannot be changed in place while the graph is recorded;
* inside a graph the change is differentiable, and the tensor's *version counter* lets
  ``backward`` refuse, in one line, an op whose input was changed in place after it was used.

A trailing underscore is PyTorch's mark of an in-place method; ``x += y`` calls ``x.add_(y)``.
"""

import numpy as np

from micrograd_plus.autograd import differentiable
from micrograd_plus.ops.indexing import _clean_index, _put
from micrograd_plus.random import get_generator


class InplaceOps:
    """In-place methods (mixed into :class:`micrograd_plus.Tensor`); each returns ``self``."""

    __slots__ = ()

    # ---- arithmetic ---------------------------------------------------------------------------

    @differentiable
    def add_(self, other, alpha=1):
        """``self += alpha * other`` (``other`` broadcast to self's shape)."""
        if alpha == 1:
            return self._inplace("add_", lambda t, o: t + o, other)
        return self._inplace("add_", lambda t, o: t + o * alpha, other)

    @differentiable
    def sub_(self, other, alpha=1):
        """``self -= alpha * other``."""
        if alpha == 1:
            return self._inplace("sub_", lambda t, o: t - o, other)
        return self._inplace("sub_", lambda t, o: t - o * alpha, other)

    @differentiable
    def mul_(self, other):
        """``self *= other``."""
        return self._inplace("mul_", lambda t, o: t * o, other)

    @differentiable
    def div_(self, other):
        """``self /= other`` (true division: an integer tensor cannot hold the result)."""
        return self._inplace("div_", lambda t, o: t / o, other)

    @differentiable
    def pow_(self, exponent):
        """``self **= exponent``."""
        return self._inplace("pow_", lambda t, e: t ** e, exponent)

    @differentiable
    def addcmul_(self, tensor1, tensor2, value=1):
        """``self += value * tensor1 * tensor2`` (Adam's second-moment update is one)."""
        return self._inplace("addcmul_", lambda t, a, b: t + value * (a * b), tensor1, tensor2)

    @differentiable
    def addcdiv_(self, tensor1, tensor2, value=1):
        """``self += value * tensor1 / tensor2``."""
        return self._inplace("addcdiv_", lambda t, a, b: t + value * (a / b), tensor1, tensor2)

    @differentiable
    def lerp_(self, end, weight):
        """``self += weight * (end - self)``: move a fraction ``weight`` of the way to ``end``."""
        return self._inplace("lerp_", lambda t, e, w: t + w * (e - t), end, weight)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    # ---- functions of one tensor ---------------------------------------------------------------

    @differentiable
    def neg_(self):
        """``self = -self``."""
        return self._inplace("neg_", lambda t: -t)

    @differentiable
    def abs_(self):
        """``self = |self|``."""
        return self._inplace("abs_", lambda t: t.abs())

    @differentiable
    def exp_(self):
        """``self = e ** self``."""
        return self._inplace("exp_", lambda t: t.exp())

    @differentiable
    def log_(self):
        """``self = ln(self)``."""
        return self._inplace("log_", lambda t: t.log())

    @differentiable
    def sqrt_(self):
        """``self = sqrt(self)``."""
        return self._inplace("sqrt_", lambda t: t.sqrt())

    @differentiable
    def tanh_(self):
        """``self = tanh(self)``."""
        return self._inplace("tanh_", lambda t: t.tanh())

    @differentiable
    def sigmoid_(self):
        """``self = sigmoid(self)``."""
        return self._inplace("sigmoid_", lambda t: t.sigmoid())

    @differentiable
    def relu_(self):
        """``self = max(self, 0)``."""
        return self._inplace("relu_", lambda t: t.relu())

    @differentiable
    def clamp_(self, min=None, max=None):
        """Limit every element to ``[min, max]`` in place (either bound may be None)."""
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    def clip_(self, min=None, max=None):
        """The same as :meth:`clamp_` (numpy's word)."""
        return self.clamp_(min, max)

    @differentiable
    def masked_fill_(self, mask, value):
        """Write ``value`` where ``mask`` (boolean, broadcastable to self) is True."""
        return self._inplace("masked_fill_", lambda t: t.masked_fill(mask, value))

    # ---- writing values ----------------------------------------------------------------------

    @differentiable
    def __setitem__(self, index, value):
        """``t[index] = value``: ints, slices, ``...``, integer index arrays and boolean masks, as
        in reading; ``value`` (a number, array or Tensor) is broadcast to the picked elements.

        Outside a graph this is a plain numpy assignment into the tensor's memory (``losses[i] =
        loss.item()`` in a loop costs nothing more). Inside one, ``value``'s gradient is the
        gradient of the places it went to, and the overwritten elements pass none back.
        """
        def write(data):
            v = value._data if hasattr(value, "_backward") else np.asarray(value)
            _put(data, _clean_index(index), v, data.shape)

        return self._inplace("setitem", lambda t, v: t._index_put(index, v), value, write=write)

    @differentiable
    def copy_(self, src):
        """Copy ``src``'s values (broadcast, converted to self's dtype) into self; gradients flow to ``src``."""
        return self._inplace("copy_", lambda t, s: t._index_put(Ellipsis, s), src)

    @differentiable
    def fill_(self, value):
        """Set every element to ``value`` (a number, or a one-element Tensor)."""
        return self._inplace("fill_", lambda t, v: t._index_put(Ellipsis, v), value)

    def zero_(self):
        """Set every element to 0 (``w.grad.zero_()`` between steps)."""
        return self.fill_(0)

    # ---- changing the shape -------------------------------------------------------------------

    def _reshaped_in_place(self, op, view):
        """Make self hold ``view`` (a reshaping of its own memory, from the out-of-place op) and
        count the change. A tensor that requires grad is refused: its gradient and the graph's
        recorded shapes are those of its old shape, and making the graph follow a shape change
        is not worth its complexity here (PyTorch does it)."""
        if self.requires_grad:
            raise RuntimeError(f"{op}: changing the shape in place of a tensor that requires grad is not "
                               f"supported here; write x = x.{op[:-1]}(...) instead")
        self._data = view._data
        self._bumped(op)
        return self

    def unsqueeze_(self, dim):
        """In-place :meth:`unsqueeze`: insert a size-1 dimension at ``dim`` (``(3,) -> (3, 1)`` for -1)."""
        return self._reshaped_in_place("unsqueeze_", self.detach().unsqueeze(dim))

    def squeeze_(self, dim=None):
        """In-place :meth:`squeeze`: drop size-1 dimensions (all, or those of ``dim``)."""
        return self._reshaped_in_place("squeeze_", self.detach().squeeze(dim))

    def transpose_(self, dim0, dim1):
        """In-place :meth:`transpose`: swap two dimensions of self."""
        return self._reshaped_in_place("transpose_", self.detach().transpose(dim0, dim1))

    def t_(self):
        """In-place :meth:`t`: transpose a matrix (a 0-d or 1-d tensor stays as it is)."""
        return self._reshaped_in_place("t_", self.detach().t())

    def normal_(self, mean=0.0, std=1.0, generator=None):
        """Fill with numbers drawn from a normal distribution (``generator``: see :mod:`micrograd_plus.random`)."""
        draw = get_generator(generator).normal(mean, std, size=self.shape).astype(self.dtype)
        return self._inplace("normal_", lambda t: t._index_put(Ellipsis, draw))

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill with numbers drawn uniformly from ``[a, b)`` (PyTorch calls the bounds ``from``, ``to``)."""
        draw = get_generator(generator).uniform(a, b, size=self.shape).astype(self.dtype)
        return self._inplace("uniform_", lambda t: t._index_put(Ellipsis, draw))
