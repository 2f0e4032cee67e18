"""Ops along a dimension: sum, mean, max, var, std, prod, logsumexp, cumsum, softmax, sort, ...

Every reduction accepts PyTorch's ``dim``/``keepdim`` and numpy's ``axis``/``keepdims``; a 0-d
tensor accepts ``dim=0`` and ``dim=-1`` (as in PyTorch). Backward sends ``g`` back to the
elements that made each result: all of them for a sum (``g`` broadcast back), the winner for a
max, the neighbours' product for a prod.
"""

from collections import namedtuple

import numpy as np

from micrograd_plus.autograd import check_dim, differentiable, normalize_axes, pick

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
ValuesIndices.__doc__ = "What ``max(dim)``, ``min(dim)``, ``sort`` and ``topk`` return, as in PyTorch."


def _kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` set to 1 (the keepdim shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _axis_as_dim(dim, axis):
    """``max``/``min``'s ``(dim, axis)`` with an integer ``axis`` read as ``dim`` (PyTorch's alias,
    which answers ``(values, indices)``); a tuple of axes stays ``axis`` (values only)."""
    if dim is None and isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return axis, None
    return dim, axis


def _numpy_args(name, out, dtype=None):
    """numpy's ``np.sum(t)``, ``np.all(t)`` ... call the method with ``out=None`` (and ``dtype``):
    accept those, refuse a real ``out`` in one line. True when a ``dtype`` asks for a conversion."""
    if out is not None:
        raise TypeError(f"{name}(out=...) is not supported: use the returned tensor")
    return dtype is not None


class ReductionOps:
    """Reductions, scans, softmax and sorting (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    # ---- sums and averages --------------------------------------------------------------------

    @differentiable
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None, out=None):
        """Sum over ``dim`` (None: all; an int or tuple). Integers and bools sum to int64.

        Every input element contributes with slope 1, so backward broadcasts ``g`` back to the
        input shape. ``dtype`` converts first (as PyTorch's); ``out`` is only there so that
        ``np.sum(t)`` works (numpy passes ``out=None``).
        """
        if _numpy_args("sum", out, dtype):
            return self.astype(dtype).sum(axis, keepdims, dim, keepdim)
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        axes = normalize_axes(axis, self._data.ndim)
        shape = self._data.shape
        x = self._data if self._data.dtype.kind == "f" else self._data.astype(np.int64)
        y = x.sum(axis=axes, keepdims=keepdims)
        kept = _kept_shape(shape, axes)
        return self._result(y, (self,), "sum", lambda g: (np.broadcast_to(g.reshape(kept), shape),))

    @differentiable
    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None, out=None):
        """Average over ``dim`` (None: all); each input gets ``g / count`` in backward.

        Integers and bools average to float32 (PyTorch refuses them; see the differences page).
        The mean over zero elements is nan. ``dtype`` and ``out``: as in :meth:`sum`.
        """
        if _numpy_args("mean", out, dtype):
            return self.astype(dtype).mean(axis, keepdims, dim, keepdim)
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        axes = normalize_axes(axis, self._data.ndim)
        x = self._floats()
        shape = x.shape
        count = _count(shape, axes)
        with np.errstate(invalid="ignore", divide="ignore"):  # no elements: 0 / 0 = nan
            y = np.asarray(x.sum(axis=axes, keepdims=keepdims) / np.asarray(count, x.dtype), dtype=x.dtype)
        kept = _kept_shape(shape, axes)
        return self._result(y, (self,), "mean", lambda g: (np.broadcast_to(g.reshape(kept) / max(count, 1), shape),))

    def _deviations(self, axis, dim, keepdims, keepdim, correction, unbiased, from_numpy=None, name="var"):
        """What var and std share: the reduced axes, x - mean(x) over them and its square.

        Returns ``(axes, keepdims, correction, x, n, d, d * d)``; the mean of an empty slice is nan.
        ``from_numpy`` holds the keywords only numpy passes (``np.std(t)`` calls ``t.std(ddof=0,
        dtype=None, out=None)``): refused, as PyTorch refuses them, because numpy's default (ddof=0)
        is not PyTorch's (correction=1) and a silent choice of either would surprise someone.
        """
        for key in from_numpy or ():
            if key not in ("ddof", "dtype", "out", "where"):
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
        if from_numpy:
            raise TypeError(f"np.{name}(t) is refused, as in PyTorch (numpy's ddof=0 is not PyTorch's correction=1): "
                            f"write t.{name}() for PyTorch's sample {name}, or t.{name}(correction=0) for numpy's")
        axis, keepdims = pick(axis, dim, keepdims, keepdim)
        if unbiased is not None:
            correction = 1 if unbiased else 0
        axes = normalize_axes(axis, self._data.ndim)
        x = self._floats()
        n = _count(x.shape, axes)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = x.sum(axis=axes, keepdims=True) / n if n else np.full(_kept_shape(x.shape, axes), np.nan, x.dtype)
            d = x - mu
            sq = d * d
        return axes, keepdims, correction, x, n, d, sq

    @differentiable
    def var(self, axis=None, keepdims=False, correction=1, dim=None, keepdim=None, unbiased=None, **numpy_kwargs):
        """Variance over ``dim``: sum((x - mean)^2) / max(N - correction, 0).

        ``correction=1`` (the default, as in PyTorch) is the unbiased estimate; layer norm uses
        ``correction=0`` (``unbiased=False``). d var / dx_i = 2 (x_i - mean) / (N - correction).
        When N <= correction the division is by zero and the answer is nan (or inf), as in PyTorch.
        """
        axes, keepdims, correction, x, n, d, sq = self._deviations(axis, dim, keepdims, keepdim, correction, unbiased,
                                                                   numpy_kwargs, "var")
        denom = max(n - correction, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.asarray(sq.sum(axis=axes, keepdims=keepdims) / np.asarray(denom, x.dtype), dtype=x.dtype)
        kept = _kept_shape(x.shape, axes)

        def backward(g):  # PyTorch divides by N - correction here unclamped (negative if N < correction)
            with np.errstate(invalid="ignore", divide="ignore"):
                return (g.reshape(kept) * (2.0 / np.asarray(n - correction, g.dtype)) * d,)

        return self._result(y, (self,), "var", backward)

    @differentiable
    def std(self, axis=None, keepdims=False, correction=1, dim=None, keepdim=None, unbiased=None, **numpy_kwargs):
        """Standard deviation, sqrt(var) (see :meth:`var` for ``correction``).

        d std = d var / (2 std), taken as 0 where std == 0 (a constant slice), as in PyTorch.
        """
        axes, keepdims, correction, x, n, d, sq = self._deviations(axis, dim, keepdims, keepdim, correction, unbiased,
                                                                   numpy_kwargs, "std")
        denom = max(n - correction, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            s_keep = np.sqrt(sq.sum(axis=axes, keepdims=True) / np.asarray(denom, x.dtype))
        y = s_keep if keepdims else s_keep.reshape(tuple(m for i, m in enumerate(x.shape) if i not in axes))

        def backward(g):  # d std = d var / (2 std); 0 where std == 0; N - correction unclamped, as in PyTorch
            with np.errstate(invalid="ignore", divide="ignore"):
                half = np.where(s_keep == 0, 0.0, g.reshape(s_keep.shape) / (2 * s_keep))
                return ((half * (2.0 / np.asarray(n - correction, g.dtype)) * d).astype(g.dtype, copy=False),)

        return self._result(np.asarray(y, dtype=x.dtype), (self,), "std", backward)

    @differentiable
    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm over ``dim`` (None: all elements), ``sum(abs(x) ** p) ** (1 / p)``; p may be inf.

        Gradient ``sign(x) abs(x) ** (p - 1) / norm ** (p - 1)`` (``x / norm`` for p = 2), taken as
        0 where the norm is 0, as in PyTorch (so normalising an all-zero vector gives zeros, not nan).
        """
        axes = normalize_axes(dim, self._data.ndim)
        x = self._floats()
        a = np.abs(x)
        if p == np.inf:
            return self.abs().amax(dim=axes if dim is not None else None, keepdim=keepdim)
        if p == 2:
            n_keep = np.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            n_keep = (a**p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        y = n_keep if keepdim else n_keep.reshape(tuple(m for i, m in enumerate(x.shape) if i not in axes))

        def backward(g):
            gk = g.reshape(n_keep.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                if p == 2:
                    d = x / n_keep
                elif p == 1:
                    d = np.sign(x)
                else:
                    d = np.sign(x) * a ** (p - 1) / n_keep ** (p - 1)
            return (np.where(n_keep == 0, 0.0, gk * d).astype(x.dtype, copy=False),)

        return self._result(np.asarray(y, x.dtype), (self,), "norm", backward)

    @differentiable
    def prod(self, dim=None, keepdim=False, axis=None, keepdims=None):
        """Product over ``dim`` (None: all elements).

        d prod / d x_i is the product of all the *other* elements, computed from running products
        from the left and from the right, so it is exact when some x_i are 0 (no division).
        """
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        axes = normalize_axes(dim, self._data.ndim)
        x = self._data if self._data.dtype.kind == "f" else self._data.astype(np.int64)
        y = np.prod(x, axis=axes, keepdims=keepdim)
        shape = x.shape

        def backward(g):
            if x.size == 0:
                return (np.zeros(shape, dtype=g.dtype),)
            # move the reduced axes to the end and flatten them: (rest..., n)
            rest = [i for i in range(x.ndim) if i not in axes]
            xt = np.transpose(x, rest + list(axes))
            flat = xt.reshape(xt.shape[: len(rest)] + (-1,))
            ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
            left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)  # prod of x_j, j < i
            right = np.flip(np.cumprod(np.concatenate([ones, np.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
            others = (left * right).reshape(xt.shape)  # prod of x_j, j != i
            gx = np.transpose(others, np.argsort(rest + list(axes))) * g.reshape(_kept_shape(shape, axes))
            return (gx,)

        return self._result(np.asarray(y), (self,), "prod", backward)

    @differentiable
    def logsumexp(self, dim=None, keepdim=False, axis=None, keepdims=None):
        """log(sum(exp(x))) over ``dim``, computed as m + log(sum(exp(x - m))) with m the max, so
        nothing overflows. Its gradient is the softmax, exp(x - result). Over zero elements it is
        -inf, as in PyTorch."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        axes = normalize_axes(dim, self._data.ndim)
        x = self._floats()
        m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0)  # all -inf (or empty): shift by 0 instead
        with np.errstate(divide="ignore"):
            y_keep = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        y = y_keep if keepdim else y_keep.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

        def backward(g):  # softmax along dim; a slice of all -inf gives nan, as in PyTorch
            with np.errstate(invalid="ignore"):
                return (g.reshape(y_keep.shape) * np.exp(x - y_keep),)

        return self._result(np.asarray(y, x.dtype), (self,), "logsumexp", backward)

    @differentiable
    def cumsum(self, dim, dtype=None):
        """Running sum along ``dim``: y_i = x_0 + ... + x_i (integers and bools give int64).

        Each x_j feeds every y_i with i >= j, so its gradient is the sum of g_i for i >= j: a
        running sum of ``g`` taken from the other end.
        """
        d = check_dim(dim, self._data.ndim)
        x = self._data if self._data.dtype.kind == "f" else self._data.astype(np.int64)
        if dtype is not None:
            x = x.astype(dtype)
        if x.ndim == 0:
            return self._result(x.copy(), (self,), "cumsum", lambda g: (g,))
        y = np.cumsum(x, axis=d)
        return self._result(y, (self,), "cumsum", lambda g: (np.flip(np.cumsum(np.flip(g, d), axis=d), d),))

    # ---- max and min --------------------------------------------------------------------------

    def _extreme(self, axis, keepdims, np_fn, name):
        """Values only, over ``axis`` (None, int or tuple); the gradient is split evenly on ties."""
        axes = normalize_axes(axis, self._data.ndim)
        x = self._data
        if x.size == 0 or any(x.shape[a] == 0 for a in axes):
            raise ValueError(
                f"{name}() over an empty dimension of shape "
                f"{x.shape} has no answer (give a non-empty tensor)"
            )
        y_keep = np_fn(x, axis=axes, keepdims=True)
        y = y_keep if keepdims else y_keep.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

        def backward(g):  # the gradient goes to the element(s) that won, split evenly on ties
            mask = x == y_keep
            count = mask.sum(axis=axes, keepdims=True)
            return (mask * (g.reshape(y_keep.shape) / count),)

        return self._result(y, (self,), name, backward)

    def _extreme_dim(self, dim, keepdim, arg_fn, name):
        """(values, indices) along one ``dim``, as PyTorch's ``max(dim)``: the gradient goes to
        the index found (the first of tied maxima)."""
        d = check_dim(dim, self._data.ndim)
        x = self._data
        if x.ndim == 0:
            return ValuesIndices(self._result(x.copy(), (self,), name, lambda g: (g,)), self._leaf(np.asarray(0)))
        if x.shape[d] == 0:
            raise ValueError(f"{name}(dim={dim}) over an empty dimension of shape {x.shape} has no answer")
        idx = np.expand_dims(arg_fn(x, axis=d), d)
        return self._take_along(idx, d, keepdim, name)

    def _take_along(self, idx, d, keepdim, name):
        """Values of ``self`` at ``idx`` along ``d`` (a differentiable gather) and the indices."""
        x = self._data
        y = np.take_along_axis(x, idx, axis=d)

        def backward(g):
            gx = np.zeros(x.shape, dtype=g.dtype)
            np.put_along_axis(gx, idx, g if keepdim else np.expand_dims(g, d), axis=d)
            return (gx,)

        if not keepdim:
            y = np.squeeze(y, d)
        indices = idx if keepdim else np.squeeze(idx, d)
        return ValuesIndices(self._result(y, (self,), name, backward), self._leaf(indices.astype(np.int64)))

    @differentiable
    def max(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """The largest value: of all elements (``max()``), or along ``dim`` as PyTorch's
        ``(values, indices)`` pair (``x.max(dim=1).values``). ``max(other_tensor)`` is
        :meth:`maximum`.

        ``axis=1`` is another name for ``dim=1``, as in PyTorch: ``(values, indices)``. A tuple
        of axes (which PyTorch's ``max`` refuses) gives the values only, like :meth:`amax`. The
        gradient of ``max()`` and ``amax`` is split evenly among tied maxima; that of
        ``max(dim)`` goes to the index returned, as in PyTorch.
        """
        _numpy_args("max", out)
        if hasattr(dim, "data") or isinstance(dim, np.ndarray):
            return self.maximum(dim)
        dim, axis = _axis_as_dim(dim, axis)
        if dim is not None and axis is None:
            return self._extreme_dim(dim, keepdim if keepdims is None else keepdims, np.argmax, "max")
        return self._extreme(axis, keepdim if keepdims is None else keepdims, np.max, "max")

    @differentiable
    def min(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """The smallest value; see :meth:`max` for the forms and the gradient."""
        _numpy_args("min", out)
        if hasattr(dim, "data") or isinstance(dim, np.ndarray):
            return self.minimum(dim)
        dim, axis = _axis_as_dim(dim, axis)
        if dim is not None and axis is None:
            return self._extreme_dim(dim, keepdim if keepdims is None else keepdims, np.argmin, "min")
        return self._extreme(axis, keepdim if keepdims is None else keepdims, np.min, "min")

    @differentiable
    def amax(self, dim=None, keepdim=False, axis=None, keepdims=None):
        """Largest values over ``dim`` (None, int or tuple): values only, ties split the gradient."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        return self._extreme(dim, keepdim, np.max, "amax")

    @differentiable
    def amin(self, dim=None, keepdim=False, axis=None, keepdims=None):
        """Smallest values over ``dim``: values only, ties split the gradient."""
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        return self._extreme(dim, keepdim, np.min, "amin")

    def argmax(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """Index of the largest value (int64, no gradient); over the flattened tensor if dim is None.
        The first index wins on ties."""
        _numpy_args("argmax", out)
        return self._arg(dim, keepdim, axis, keepdims, np.argmax, "argmax")

    def argmin(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """Index of the smallest value (int64, no gradient); see :meth:`argmax`."""
        _numpy_args("argmin", out)
        return self._arg(dim, keepdim, axis, keepdims, np.argmin, "argmin")

    def _arg(self, dim, keepdim, axis, keepdims, fn, name):
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        if self._data.size == 0:
            raise ValueError(f"{name}() of an empty tensor of shape {self._data.shape} has no answer")
        if dim is None:
            out = np.asarray(fn(self._data))
            return self._leaf(out.reshape((1,) * self._data.ndim) if keepdim else out)
        d = check_dim(dim, self._data.ndim)
        if self._data.ndim == 0:
            return self._leaf(np.asarray(0))
        return self._leaf(np.asarray(fn(self._data, axis=d, keepdims=keepdim)))

    # ---- all / any ----------------------------------------------------------------------------

    def all(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """True where every element along ``dim`` is nonzero (a boolean tensor)."""
        _numpy_args("all", out)
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        return self._leaf(np.asarray(np.all(self._data, axis=normalize_axes(dim, self._data.ndim), keepdims=keepdim)))

    def any(self, dim=None, keepdim=False, axis=None, keepdims=None, out=None):
        """True where some element along ``dim`` is nonzero (a boolean tensor)."""
        _numpy_args("any", out)
        dim, keepdim = pick(dim, axis, keepdim, keepdims)
        return self._leaf(np.asarray(np.any(self._data, axis=normalize_axes(dim, self._data.ndim), keepdims=keepdim)))

    # ---- softmax family -----------------------------------------------------------------------

    @differentiable
    def softmax(self, dim=-1):
        """Turn scores into probabilities along ``dim``: exp(x_i) / sum_j exp(x_j).

        Shape in = shape out; each slice along ``dim`` is positive and sums to 1. The max is
        subtracted first (``softmax(x) = softmax(x - c)``), so every exponent is <= 0 and nothing
        overflows. Backward (with y the output): dx = y * (g - sum(g * y)) along ``dim``.
        A 0-d tensor gives 1; an empty tensor gives an empty one, as in PyTorch.
        """
        d = check_dim(dim, self._data.ndim)
        x = self._floats()
        x2 = x.reshape(1) if x.ndim == 0 else x
        if x2.size == 0:
            y = x2.copy()
        else:
            z = x2 - np.max(x2, axis=d, keepdims=True)  # every exponent <= 0: no overflow
            y = np.exp(z, out=z)
            y /= _sum_along(y, d)
        y = y.reshape(x.shape)

        def backward(g):
            g2, y2 = (g.reshape(1), y.reshape(1)) if y.ndim == 0 else (g, y)
            return ((y2 * (g2 - _sum_along(g2, d, y2))).reshape(y.shape),)

        return self._result(y, (self,), "softmax", backward)

    @differentiable
    def log_softmax(self, dim=-1):
        """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max))).

        Computing it directly is more accurate than taking the log of tiny probabilities.
        Backward (with y the output): dx = g - exp(y) * sum(g). A 0-d tensor gives 0.
        """
        d = check_dim(dim, self._data.ndim)
        x = self._floats()
        x2 = x.reshape(1) if x.ndim == 0 else x
        if x2.size == 0:
            y = x2.copy()
        else:
            y = x2 - np.max(x2, axis=d, keepdims=True)
            y -= np.log(_sum_along(np.exp(y), d))
        y = y.reshape(x.shape)

        def backward(g):
            g2, y2 = (g.reshape(1), y.reshape(1)) if y.ndim == 0 else (g, y)
            return ((g2 - np.exp(y2) * _sum_along(g2, d)).reshape(y.shape),)

        return self._result(y, (self,), "log_softmax", backward)

    # ---- sorting ------------------------------------------------------------------------------

    @differentiable
    def sort(self, dim=-1, descending=False, stable=False):
        """Sort along ``dim``; returns ``(values, indices)`` as PyTorch does. Equal elements keep
        their order (a stable sort); nan sorts as the largest value. The gradient of each value
        goes back to where it came from."""
        d = check_dim(dim, self._data.ndim)
        x = self._data
        if x.ndim == 0:
            return ValuesIndices(self._result(x.copy(), (self,), "sort", lambda g: (g,)), self._leaf(np.asarray(0)))
        if descending:  # stable descending order: sort the reversed array ascending, reverse back
            n = x.shape[d]
            idx = n - 1 - np.flip(np.argsort(np.flip(x, d), axis=d, kind="stable"), d)
        else:
            idx = np.argsort(x, axis=d, kind="stable")
        return self._take_along(idx, d, True, "sort")

    @differentiable
    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (or smallest) elements along ``dim``: ``(values, indices)``,
        largest first. The gradient of each value goes back to where it came from."""
        d = check_dim(dim, self._data.ndim)
        n = 1 if self._data.ndim == 0 else self._data.shape[d]
        if not 0 <= k <= n:
            raise IndexError(f"topk: k={k} is out of range for a dimension of size {n}")
        if self._data.ndim == 0:
            return self.sort(d)
        indices = self.detach().sort(d, descending=largest).indices
        idx = np.take(indices._data, np.arange(k), axis=d)
        return self._take_along(idx, d, True, "topk")


def _sum_along(a, d, b=None):
    """Sum of ``a`` (or of ``a * b``) over dim ``d``, keeping it.

    For the last dim ``np.einsum`` does this 2-4x faster than ``a.sum(axis=-1)`` on short rows
    (numpy's reduce has a per-row overhead), and the product form needs no temporary array.
    """
    if d == a.ndim - 1:
        s = np.einsum("...i->...", a) if b is None else np.einsum("...i,...i->...", a, b)
        return s[..., None]
    return (a if b is None else a * b).sum(axis=d, keepdims=True)
