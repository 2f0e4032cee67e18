"""``Size``: what ``t.shape`` and ``t.size()`` return, PyTorch's ``torch.Size``.

A shape is a tuple of ints, and a ``Size`` *is* a tuple (``t.shape == (2, 3)``, ``rows, cols =
t.shape``, ``t.shape[1:]``), with two things more, as in PyTorch: ``numel()``, the number of
elements a tensor of that shape holds, and slicing or concatenating gives a ``Size`` again.

Its repr is PyTorch's own, ``torch.Size([2, 3])``, not ``micrograd_plus.Size([2, 3])``. The
reason: a PyTorch program run here with ``import micrograd_plus as torch`` should print what it
prints under PyTorch, line for line -- the tutorials show ``torch.Size([...])`` in their expected
output and the dual-run suite (tests/test_pytorch_programs.py) compares printed text -- and under
that import the repr is still code that makes the same Size.
"""

import operator

__all__ = ["Size"]


class Size(tuple):
    """The shape of a tensor: a tuple of ints (``Size([2, 3]) == (2, 3)``), as ``torch.Size``.

    Args:
        sizes: an iterable of ints (anything with ``__index__``: numpy ints, 0-d integer tensors).
    """

    __slots__ = ()

    def __new__(cls, sizes=()):
        try:
            return tuple.__new__(cls, [operator.index(n) for n in sizes])
        except TypeError:
            bad = next(n for n in sizes if not hasattr(n, "__index__"))
            raise TypeError(f"Size() takes an iterable of ints, got a {type(bad).__name__} ({bad!r})") from None

    def numel(self):
        """The number of elements of a tensor of this shape: the product of the sizes (1 for ``Size([])``)."""
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return tuple.__new__(Size, item) if isinstance(key, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(other, self))

    def __mul__(self, n):
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self):
        return f"torch.Size({list(self)})"

    __str__ = __repr__

    def __reduce__(self):
        return (Size, (tuple(self),))
