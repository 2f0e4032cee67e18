"""The plumbing under :mod:`micrograd_plus._tensor`: grad mode, the op registry, and the small
rules every op shares (broadcasting undone in backward, PyTorch's dtype promotion, axis checks).

Nothing here knows the ``Tensor`` class; :mod:`micrograd_plus._tensor` and the op modules in
:mod:`micrograd_plus.ops` import from here, never the other way round.
"""

import functools

import numpy as np

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "DIFFERENTIABLE_OPS", "differentiable"]

# ----------------------------------------------------------------------------------------------
# Gradient mode: is the graph being recorded?
# ----------------------------------------------------------------------------------------------


class _GradMode:
    enabled = True


def is_grad_enabled():
    """True when operations record a graph for ``backward`` (the default)."""
    return _GradMode.enabled


class no_grad:
    """Context manager (or decorator) under which no graph is recorded.

    Use it for evaluation, sampling and optimizer updates: results have
    ``requires_grad=False`` and no memory is spent on saving things for a backward pass::

        with no_grad():
            logits = model(x)          # no graph, just numbers

        @no_grad()
        def evaluate(model): ...
    """

    _target = False

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if func is not None:  # used as a bare decorator: @no_grad
            return self(func)
        return self

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = self._target
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, func):
        target = self._target

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            previous = _GradMode.enabled
            _GradMode.enabled = target
            try:
                return func(*args, **kwargs)
            finally:
                _GradMode.enabled = previous

        return wrapper


class enable_grad(no_grad):
    """The opposite of :class:`no_grad`: record the graph again inside a ``no_grad`` block."""

    _target = True


# ----------------------------------------------------------------------------------------------
# The one registry of differentiable operations
# ----------------------------------------------------------------------------------------------

DIFFERENTIABLE_OPS = []
"""Names of every differentiable operation: ``Tensor`` methods and torch-style functions by their
own name (``"exp"``, ``"cat"``), :mod:`micrograd_plus.functional` ones as ``"F.softmax"``.
``tests/tensor/test_gradcheck_ops.py`` fails when one of them has no gradient check."""


def differentiable(fn):
    """Register ``fn`` in :data:`DIFFERENTIABLE_OPS` (a decorator; returns ``fn`` unchanged)."""
    prefix = "F." if fn.__module__ == "micrograd_plus.functional" else ""
    DIFFERENTIABLE_OPS.append(prefix + fn.__name__)
    return fn


# ----------------------------------------------------------------------------------------------
# Broadcasting, axes, dtypes
# ----------------------------------------------------------------------------------------------


def unbroadcast(g, shape):
    """Sum a gradient ``g`` back down to ``shape``, undoing numpy broadcasting.

    If ``x`` of shape ``(C,)`` was broadcast to ``(B, T, C)``, each element of ``x`` was used
    ``B*T`` times, so its gradient is the sum over those leading axes. Axes where ``x`` had size 1
    but the result did not are summed too (keeping the axis).
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def normalize_axes(axis, ndim, what="dim"):
    """Turn ``axis`` (None, an int or a tuple of ints, negatives allowed) into a sorted tuple.

    As in PyTorch, a 0-d tensor accepts dims 0 and -1 (it behaves like a tensor of one element).
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(
                f"{what} {a} is out of range for a tensor with {ndim} dimensions "
                f"(expected a {what} in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])"
            )
        if ndim:
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {tuple(axis)}")
    return tuple(sorted(out))


def check_dim(dim, ndim, what="dim"):
    """One dim (an int; negatives count from the end) checked and made non-negative.

    A 0-d tensor accepts 0 and -1, as in PyTorch. Raises IndexError naming the valid range.
    """
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{what} must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(
            f"{what} {dim} is out of range for a tensor with {ndim} "
            f"dimensions (expected a {what} in [{-n}, {n - 1}])"
        )
    return int(dim) % n


def pick(axis, dim, keepdims, keepdim):
    """Merge numpy's spelling (``axis``, ``keepdims``) with PyTorch's (``dim``, ``keepdim``)."""
    return (dim if axis is None else axis), (keepdims if keepdim is None else keepdim)


DEFAULT_FLOAT = np.dtype(np.float32)
"""PyTorch's default dtype: what integers become when an op needs a floating-point result."""

_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}


def is_float(dtype):
    """float16/32/64 (a cheap test: np.issubdtype costs a microsecond)."""
    return dtype.kind == "f"


def is_number(x):
    """A Python or numpy number (bools included: they promote like PyTorch's bool scalars)."""
    return isinstance(x, (int, float, np.integer, np.floating, np.bool_))


def float_dtype(dtype):
    """The dtype an op with a floating-point result gives: floats stay, ints and bools -> float32."""
    return dtype if dtype.kind == "f" else DEFAULT_FLOAT


def result_dtype(a, b, a_dim=True, b_dim=True):
    """PyTorch's type promotion of two operands' dtypes ``a`` and ``b`` (numpy dtypes).

    Categories rank bool < integer < float. The higher category wins; within the winning
    category, operands with dimensions outrank 0-d ones (``x32 + float64 0-d`` stays float32, as
    in PyTorch), and equals combine as numpy does (float32 + float64 -> float64). A float that
    wins over integers from a 0-d operand keeps its own dtype. Python numbers are handled by
    :func:`scalar_dtype`.
    """
    ra, rb = _KIND_RANK[a.kind], _KIND_RANK[b.kind]
    if ra != rb:
        return a if ra > rb else b
    if a_dim != b_dim:
        return a if a_dim else b
    return np.result_type(a, b)


def scalar_dtype(dtype, x):
    """The dtype of ``tensor (dtype) op python_number x``, by PyTorch's rule: a number never
    changes a tensor's dtype within its category, and lifts it only to the category's default
    (an int tensor with 0.5 becomes float32, a bool tensor with 3 becomes int64)."""
    if isinstance(x, (bool, np.bool_)):
        return dtype
    if isinstance(x, (float, np.floating)):
        return dtype if dtype.kind == "f" else DEFAULT_FLOAT
    return dtype if dtype.kind in "iuf" else np.dtype(np.int64)


def check_numeric(arr, what="Tensor"):
    """Refuse arrays that are not bool, integer or float (strings, objects, dates, complex)."""
    if arr.dtype.kind not in "biuf":
        kind = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
                "M": "dates", "m": "time deltas"}.get(arr.dtype.kind, f"dtype {arr.dtype}")
        raise TypeError(
            f"cannot make a {what} from {kind} (dtype {arr.dtype}): tensors hold bool, integer or "
            "floating-point numbers (ragged nested lists also end up as Python objects)"
        )
    return arr
