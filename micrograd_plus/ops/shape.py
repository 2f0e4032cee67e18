"""Ops that move elements around without changing them: reshape, permute, transpose, expand,
repeat, flip, roll, tril/triu.

Backward moves the gradient back the same way: reshape it back, apply the inverse permutation,
sum the copies a repeat or expand made, flip or roll it back, mask it like the forward.
"""

import numpy as np

from micrograd_plus.autograd import DIFFERENTIABLE_OPS, check_dim, differentiable, unbroadcast


def _sizes(args):
    """``f(2, 3)`` and ``f((2, 3))`` both mean the tuple (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class ShapeOps:
    """Shape and layout ops (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    @differentiable
    def reshape(self, *shape):
        """The same elements in a new shape (one entry may be -1); backward reshapes back."""
        shape = _sizes(shape)
        old = self._data.shape
        try:
            y = self._data.reshape(shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {old} ({self._data.size} elements) into {shape}"
            ) from None
        return self._result(y, (self,), "reshape", lambda g: (g.reshape(old),))

    view = reshape

    def view_as(self, other):
        """Reshape to ``other``'s shape."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def contiguous(self):
        """Returns self (numpy arrays need no separate contiguous step here)."""
        return self

    @differentiable
    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dimensions ``start_dim..end_dim`` into one (a reshape); a 0-d tensor becomes (1,)."""
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        s, e = check_dim(start_dim, len(shape)), check_dim(end_dim, len(shape))
        n = 1
        for d in shape[s : e + 1]:
            n *= d
        return self.reshape(shape[:s] + (n,) + shape[e + 1 :])

    @differentiable
    def unsqueeze(self, dim):
        """Insert a size-1 dimension at ``dim``, in [-ndim-1, ndim] as in PyTorch (a reshape)."""
        nd = self._data.ndim
        if not -nd - 1 <= dim <= nd:
            raise IndexError(
                f"unsqueeze: dim {dim} is out of range for a tensor with "
                f"{nd} dimensions (expected a dim in [{-nd - 1}, {nd}])"
            )
        dim = dim if dim >= 0 else dim + nd + 1
        shape = list(self._data.shape)
        shape.insert(dim, 1)
        return self.reshape(tuple(shape))

    @differentiable
    def squeeze(self, dim=None):
        """Remove size-1 dimensions: all of them, or those of ``dim`` (an int or tuple) that have
        size 1 (others are left alone, as in PyTorch). A dim out of range is an IndexError."""
        shape = self._data.shape
        if dim is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        dims = {check_dim(d, len(shape)) for d in dims}
        if not shape:
            return self
        return self.reshape(tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1)))

    @differentiable
    def permute(self, *dims):
        """Reorder the dimensions: ``x.permute(0, 2, 1, 3)``. Backward applies the inverse order."""
        dims = _sizes(dims)
        nd = self._data.ndim
        if len(dims) != nd or sorted(check_dim(d, nd) for d in dims) != list(range(nd)):
            raise ValueError(
                f"permute: {dims} is not an ordering of the "
                f"{nd} dimensions of shape {self._data.shape}"
            )
        dims = tuple(d % nd for d in dims) if nd else ()
        inverse = tuple(np.argsort(dims))
        return self._result(self._data.transpose(dims), (self,), "permute", lambda g: (g.transpose(inverse),))

    @differentiable
    def transpose(self, dim0=-2, dim1=-1):
        """Swap two dimensions (default: the last two, the matrix transpose)."""
        nd = self._data.ndim
        if nd < 2 and (dim0, dim1) == (-2, -1):
            return self
        dim0, dim1 = check_dim(dim0, nd), check_dim(dim1, nd)
        if nd == 0:
            return self
        y = np.swapaxes(self._data, dim0, dim1)  # a view: no copy
        return self._result(y, (self,), "transpose", lambda g: (np.swapaxes(g, dim0, dim1),))

    def swapaxes(self, axis0, axis1):
        """numpy's name for :meth:`transpose`."""
        return self.transpose(axis0, axis1)

    @property
    def T(self):
        """All dimensions reversed (the matrix transpose for 2-D), as in numpy."""
        if self._data.ndim < 2:
            return self
        return self.permute(tuple(range(self._data.ndim - 1, -1, -1)))

    def t(self):
        """The transpose of a matrix, ``(n, m) -> (m, n)`` (PyTorch's ``x.t()``); a 0-d or 1-d tensor
        comes back as it is, and more than 2 dimensions is refused, as in PyTorch (use ``transpose``)."""
        if self._data.ndim > 2:
            raise ValueError(f"t() expects a tensor of at most 2 dimensions, got shape {self._data.shape} "
                             "(use transpose(dim0, dim1) or .mT)")
        return self if self._data.ndim < 2 else self.transpose(0, 1)

    @property
    def mT(self):
        """The last two dimensions swapped (a batch of matrix transposes)."""
        return self.transpose(-2, -1)

    @differentiable
    def expand(self, *shape):
        """Broadcast to a larger ``shape`` without copying (-1 keeps a dimension); backward sums."""
        shape = _sizes(shape)
        old = self._data.shape
        extra = len(shape) - len(old)
        shape = tuple(old[i - extra] if (n == -1 and i >= extra) else n for i, n in enumerate(shape))
        try:
            y = np.broadcast_to(self._data, shape)
        except ValueError:
            raise ValueError(f"expand: cannot broadcast shape {old} to {shape}") from None
        return self._result(y, (self,), "expand", lambda g: (unbroadcast(g, old),))

    def expand_as(self, other):
        """Expand to ``other``'s shape."""
        return self.expand(other.shape)

    @differentiable
    def repeat(self, *sizes):
        """Tile the tensor ``sizes[i]`` times along each dim (PyTorch's ``repeat``, numpy's ``tile``):
        (2, 3).repeat(2, 1, 2) is (2, 2, 6). Each input element appears in several places, so its
        gradient is the sum over its copies."""
        sizes = _sizes(sizes)
        if len(sizes) < self._data.ndim:
            raise ValueError(f"repeat: give at least one size per dimension ({self._data.ndim}), got {sizes}")
        x = self._data.reshape((1,) * (len(sizes) - self._data.ndim) + self._data.shape)
        y = np.tile(x, sizes)
        old = self._data.shape

        def backward(g):  # view g as (r0, s0, r1, s1, ...) and sum over the r's
            split = []
            for r, s in zip(sizes, x.shape):
                split += [r, s]
            return (g.reshape(split).sum(axis=tuple(range(0, 2 * len(sizes), 2))).reshape(old),)

        return self._result(y, (self,), "repeat", backward)

    @differentiable
    def flip(self, *dims):
        """Reverse the order of elements along ``dims``; backward flips the gradient back."""
        dims = tuple(check_dim(d, self._data.ndim) for d in _sizes(dims))
        if self._data.ndim == 0:
            return self._result(self._data.copy(), (self,), "flip", lambda g: (g,))
        return self._result(np.flip(self._data, dims), (self,), "flip", lambda g: (np.flip(g, dims),))

    @differentiable
    def roll(self, shifts, dims=None):
        """Shift elements along ``dims`` by ``shifts``, wrapping around (over the flattened
        tensor when ``dims`` is None); backward rolls the gradient back by ``-shifts``."""
        if dims is not None:
            one = isinstance(dims, (int, np.integer))
            dims = (check_dim(dims, self._data.ndim),) if one else tuple(check_dim(d, self._data.ndim) for d in dims)
            shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
            if len(shifts) != len(dims):
                raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
            back = tuple(-s for s in shifts)
        else:
            back = -shifts
        if self._data.ndim == 0:
            return self._result(self._data.copy(), (self,), "roll", lambda g: (g,))
        y = np.roll(self._data, shifts, dims)
        return self._result(y, (self,), "roll", lambda g: (np.roll(g, back, dims),))

    def _triangle(self, diagonal, np_fn, name):
        if self._data.ndim < 2:
            raise ValueError(f"{name} needs a tensor with at least 2 dimensions, got shape {self._data.shape}")
        return self._result(np_fn(self._data, diagonal), (self,), name, lambda g: (np_fn(g, diagonal),))

    @differentiable
    def tril(self, diagonal=0):
        """Keep the lower triangle of the last two dims (j <= i + diagonal), zero the rest; the
        gradient is masked the same way. ``tril`` of ones is the causal attention mask."""
        return self._triangle(diagonal, np.tril, "tril")

    @differentiable
    def triu(self, diagonal=0):
        """Keep the upper triangle (j >= i + diagonal), zero the rest."""
        return self._triangle(diagonal, np.triu, "triu")


DIFFERENTIABLE_OPS.extend(["T", "mT"])  # differentiable properties
