"""Picking elements: ``t[...]``, masked_fill, gather, scatter_add, index_select, split, chunk.

The backward of picking is putting back: the gradient goes into a zero array at the positions
that were picked, and positions picked more than once *add up* (a scatter-add).
"""

import numpy as np

from micrograd_plus.autograd import check_dim, differentiable, unbroadcast


def scatter_add_rows(index, g, n_rows):
    """``out[index[i]] += g[i]`` for every i, into a zero array of ``n_rows`` rows.

    This is the backward of a row gather (``x[index]``, an embedding lookup). Rows picked more
    than once must *sum* their gradients. ``np.add.at`` does exactly that but slowly, element by
    element; here we sort the rows by index so that equal indices sit together, sum each run
    with one ``np.add.reduceat`` and write each sum once. (About 7x faster for a GPT batch.)

    Args:
        index: (N,) integer array of row numbers in [0, n_rows).
        g: ``(N, *rest)`` gradients, one row per index.
        n_rows: number of rows of the result.

    Returns:
        ``(n_rows, *rest)`` array.
    """
    out = np.zeros((n_rows,) + g.shape[1:], dtype=g.dtype)
    if index.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]  # (N,) ascending
    starts = np.flatnonzero(np.concatenate(([True], sorted_index[1:] != sorted_index[:-1])))
    out[sorted_index[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return out


def _clean_index(index):
    """Replace Tensors inside an index by their arrays, and lists by arrays."""
    if isinstance(index, tuple):
        return tuple(_clean_index_part(i) for i in index)
    return _clean_index_part(index)


def _clean_index_part(i):
    if hasattr(i, "_backward"):  # a Tensor
        i = i._data
    if isinstance(i, list):
        i = np.asarray(i)
    if isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu":
        return int(i)  # a 0-d integer tensor indexes like an int, as in PyTorch
    if isinstance(i, np.ndarray) and i.dtype.kind not in "biu":
        raise IndexError(f"tensors used as indices must be integer or bool, got dtype {i.dtype}")
    return i


def _is_array(p):
    return isinstance(p, np.ndarray) and p.ndim > 0


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(_is_array(p) for p in parts)


def _torch_split(index):
    """PyTorch's order for an index mixing ints with index arrays: ints first, then the arrays.

    numpy treats an int like an index array, so in ``x[0, :, [1, 2]]`` the int and the array
    are "separated by a slice" and the picked dimension moves to the front: shape (2, n1).
    PyTorch removes the int's dimension first and then indexes ``[:, [1, 2]]``: shape (n1, 2).
    We do what PyTorch does, as two plain numpy indexings; returns None when they agree.
    """
    if not isinstance(index, tuple):
        return None
    ints = [isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in index]
    if not any(ints) or not any(_is_array(p) for p in index):
        return None
    first, second = [], []
    for p, is_int in zip(index, ints):
        if is_int:
            first.append(p)
        elif _is_array(p):
            k = p.ndim if p.dtype == np.bool_ else 1
            first += [slice(None)] * k
            second.append(p)
        elif p is None:
            first.append(None)
            second.append(slice(None))
        elif p is Ellipsis:
            first.append(Ellipsis)
            second.append(Ellipsis)
        else:
            first.append(p)
            second.append(slice(None))
    return tuple(first), tuple(second)


def _pick(x, index):
    """``x[index]`` with PyTorch's placement of dimensions (see :func:`_torch_split`)."""
    split = _torch_split(index)
    return x[index] if split is None else x[split[0]][split[1]]


def _put(x, index, value, shape):
    """``x[index] = value`` in place, with PyTorch's placement, and errors that name the shapes."""
    split = _torch_split(index)
    try:
        if split is None:
            x[index] = value
        else:
            x[split[0]][split[1]] = value  # the first indexing is basic, so a view: writes reach x
    except IndexError as e:
        raise IndexError(f"t[index] = value: index {_describe_index(index)} is invalid for a tensor of "
                         f"shape {shape}: {e}") from None
    except ValueError:
        raise ValueError(f"t[index] = value: a value of shape {np.shape(value)} does not fit the "
                         f"{np.shape(_pick(np.empty(shape, np.bool_), index))} elements that index "
                         f"{_describe_index(index)} picks from shape {shape}") from None


def _describe_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        out.append(f"array(shape={p.shape}, dtype={p.dtype})" if isinstance(p, np.ndarray) else repr(p))
    return "[" + ", ".join(out) + "]"


def _grid(index, dim):
    """The full numpy index that picks ``x[..., index[...], ...]`` along ``dim`` elementwise:
    ``index`` in position ``dim`` and an ``arange`` broadcast grid everywhere else."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


class IndexingOps:
    """Indexing ops (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    @differentiable
    def __getitem__(self, index):
        """Indexing with ints, slices, None, ``...``, integer arrays (gather) and boolean masks.

        Backward writes ``g`` into a zero array at the same positions; with integer arrays the
        same element may be picked twice, so it *adds* (a scatter-add). An int mixed with index
        arrays follows PyTorch's axis placement (see :func:`_torch_split`).
        """
        index = _clean_index(index)
        split = _torch_split(index)
        if split is not None:
            return self[split[0]][split[1]]
        x = self._data
        try:
            y = x[index]
        except IndexError as e:
            raise IndexError(
                f"index {_describe_index(index)} is invalid "
                f"for a tensor of shape {x.shape}: {e}"
            ) from None
        shape, dtype = x.shape, x.dtype
        advanced = _is_advanced(index)

        def backward(g):
            if advanced and isinstance(index, np.ndarray) and index.dtype.kind in "iu":
                # x[rows]: a row gather; sum the rows of g that went to the same row of x
                rows = index.reshape(-1) % shape[0]  # (negative indices count from the end)
                gx = scatter_add_rows(rows, g.reshape((-1,) + shape[1:]), shape[0])
            else:
                gx = np.zeros(shape, dtype=dtype)
                if advanced:
                    np.add.at(gx, index, g)  # general scatter-add: repeated positions sum
                else:
                    gx[index] = g
            return (gx,)

        return self._result(np.asarray(y) if not isinstance(y, np.ndarray) else y, (self,), "getitem", backward)

    def _index_put(self, index, value):
        """``self`` with the elements that ``index`` picks replaced by ``value`` (broadcast): a new
        tensor, the out-of-place half of ``self[index] = value`` (see :meth:`__setitem__`).

        Backward: the replaced elements of ``self`` no longer matter (gradient 0 there); ``value``
        gets the gradient of the places it went to, summed over the broadcast.
        """
        index = _clean_index(index)
        v = self._operand(value, self)
        if v is None:
            raise TypeError(f"t[index] = value: value must be a number, array or Tensor, got {type(value).__name__}")
        y = self._data.copy()
        _put(y, index, v._data, self._data.shape)
        shape, v_shape = self._data.shape, v._data.shape

        def backward(g):
            gx = g.copy()
            _put(gx, index, np.zeros((), g.dtype), shape)  # the overwritten values had no effect
            gv = unbroadcast(_pick(g, index), v_shape) if v.requires_grad else None
            return gx, gv

        return self._result(y, (self, v), "setitem", backward)

    @differentiable
    def masked_fill(self, mask, value):
        """Replace elements where ``mask`` (a boolean array/Tensor broadcastable to self) is True
        with ``value`` (e.g. ``-inf`` for an attention mask). No gradient flows to filled spots."""
        m = mask._data if hasattr(mask, "_backward") else np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"masked_fill: mask must be boolean, got dtype {m.dtype}")
        x = self._data
        if hasattr(value, "_backward"):  # the fill value is a constant: no gradient flows to it
            value = value._data
        try:
            y = np.where(m, np.asarray(value, dtype=x.dtype), x)
        except ValueError:
            raise ValueError(
                f"masked_fill: mask of shape {m.shape} "
                f"does not broadcast to shape {x.shape}"
            ) from None
        if y.shape != x.shape:
            raise ValueError(
                f"masked_fill: mask of shape {m.shape} "
                f"would change shape {x.shape} to {y.shape}"
            )
        keep = ~m
        return self._result(y, (self,), "masked_fill", lambda g: (g * keep,))

    def _index_array(self, index, what):
        idx = index._data if hasattr(index, "_backward") else np.asarray(index)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{what}: index must be an integer tensor, got dtype {idx.dtype}")
        return idx

    @differentiable
    def gather(self, dim, index):
        """``out[i][j] = self[i][index[i][j]]`` for dim=1 (and likewise for any dim), as
        ``torch.gather``: ``index`` has self's number of dims and picks one element along ``dim``
        for every output position. Backward scatter-adds ``g`` to the picked positions."""
        d = check_dim(dim, self._data.ndim)
        idx = self._index_array(index, "gather")
        x = self._data
        if idx.ndim != x.ndim:
            raise ValueError(
                f"gather: index has {idx.ndim} dims but "
                f"the input has {x.ndim} (they must match)"
            )
        for i, (a, b) in enumerate(zip(idx.shape, x.shape)):
            if i != d and a > b:
                raise ValueError(
                    f"gather: index shape {idx.shape} is larger "
                    f"than input shape {x.shape} in dim {i}"
                )
        n = x.shape[d] if x.ndim else 1
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(
                f"gather: index {int(idx.max() if idx.max() >= n else idx.min())} "
                f"is out of range for dim {d} of size {n}"
            )
        if x.ndim == 0:
            return self._result(x.copy(), (self,), "gather", lambda g: (g,))
        where = _grid(idx % n, d)
        y = x[where]

        def backward(g):
            gx = np.zeros(x.shape, dtype=g.dtype)
            np.add.at(gx, where, g)
            return (gx,)

        return self._result(y, (self,), "gather", backward)

    @differentiable
    def scatter_add(self, dim, index, src):
        """A copy of self with ``src`` added at the positions ``index`` names along ``dim``:
        ``out[i][index[i][j]] += src[i][j]`` for dim=1, as ``torch.scatter_add``. Repeated
        positions sum. Gradients: self gets ``g``; src gets ``g`` gathered at ``index``."""
        d = check_dim(dim, self._data.ndim)
        idx = self._index_array(index, "scatter_add")
        src = self._operand(src, self)
        x = self._data
        if idx.ndim != x.ndim or src._data.ndim != x.ndim:
            raise ValueError(
                f"scatter_add: self {x.shape}, index {idx.shape} and "
                f"src {src._data.shape} need the same number of dims"
            )
        n = x.shape[d]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"scatter_add: index out of range for dim {d} of size {n}")
        where = _grid(idx, d)
        sl = tuple(slice(0, s) for s in idx.shape)  # src may be larger than index: use its corner
        y = x.astype(np.result_type(x.dtype, src._data.dtype), copy=True)
        np.add.at(y, where, src._data[sl])

        def backward(g):
            gs = None
            if src.requires_grad:
                gs = np.zeros(src._data.shape, dtype=g.dtype)
                gs[sl] = g[where]
            return (g if self.requires_grad else None, gs)

        return self._result(y, (self, src), "scatter_add", backward)

    @differentiable
    def index_select(self, dim, index):
        """The slices at ``index`` (a 1-D integer tensor) along ``dim``; repeated ones add up in backward."""
        d = check_dim(dim, self._data.ndim)
        idx = self._index_array(index, "index_select").reshape(-1)
        return self[(slice(None),) * d + (idx,)]

    @differentiable
    def split(self, split_size_or_sections, dim=0):
        """Split along ``dim`` into pieces of ``split_size`` (an int; the last may be smaller) or
        of the given list of sizes, as in PyTorch. Each piece is a slice (differentiable)."""
        d = check_dim(dim, self._data.ndim)
        n = self._data.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split_size must be positive, got {size}")
            sizes = [min(size, n - s) for s in range(0, n, size)]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n:
                raise ValueError(
                    f"split: sizes {sizes} do not add up to {n}, the "
                    f"size of dim {dim} of shape {self._data.shape}"
                )
        pieces, start = [], 0
        lead = (slice(None),) * d
        for s in sizes:
            pieces.append(self[lead + (slice(start, start + s),)])
            start += s
        return tuple(pieces)

    @differentiable
    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` nearly equal pieces along ``dim`` (each ceil(n / chunks) long)."""
        n = self._data.shape[check_dim(dim, self._data.ndim)]
        return self.split(max(-(-n // chunks), 1), dim)

    @differentiable
    def unbind(self, dim=0):
        """The slices along ``dim`` as a tuple (each without that dim)."""
        d = check_dim(dim, self._data.ndim)
        return tuple(self[(slice(None),) * d + (i,)] for i in range(self._data.shape[d]))
