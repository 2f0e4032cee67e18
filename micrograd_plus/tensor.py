"""The tensor engine: :class:`Tensor`, an n-dimensional array that remembers how it was made.

This is the scalar engine (:mod:`micrograd_plus.scalar`) scaled up. A ``Value`` holds one number
and a ``Tensor`` holds a whole numpy array, but the idea is the same:

1. **Forward.** Every operation computes its result with numpy and, if any input wants a
   gradient, records a node: the result's parents (``_prev``), the operation's name (``_op``) and a
   small function, ``backward(g)``, that turns the gradient of the loss with respect to the result
   (``g``, shaped like the result) into gradients with respect to each parent. That function is
   the operation's *local* derivative rule, and it is written right beside the forward code.
2. **Backward.** :meth:`Tensor.backward` sorts the recorded graph so that every node comes after
   everything that used it (a topological order, computed with a loop, not recursion, so a graph
   of a million nodes is fine), then hands each node its gradient and sends the results on to its
   parents. A tensor used twice receives the *sum* of both gradients (the multivariable chain
   rule).

Three things make the array version different from the scalar one:

* **Broadcasting.** ``x (B, C) + b (C,)`` adds ``b`` to every row, so ``b`` influenced ``B``
  outputs and its gradient is the sum of those ``B`` rows. :func:`_unbroadcast` does that summing
  for every elementwise op.
* **Only leaves keep ``.grad``.** As in PyTorch, the tensors you created yourself (weights, inputs)
  receive ``.grad`` after ``backward``; intermediate results pass their gradient on and forget it
  (call :meth:`Tensor.retain_grad` on one to keep it). This keeps memory low.
* **The graph is freed after backward.** Each node drops its parents and its saved arrays once its
  gradient has been sent on, unless ``backward(retain_graph=True)``. A second ``backward`` through
  a freed graph raises a clear ``RuntimeError``.

dtype rule
----------
Python numbers and lists become **float32** (integers become int64, as in PyTorch); numpy arrays
keep their dtype (so a float64 array stays float64, which is what gradient checks use); ``dtype=``
overrides both. Arithmetic with a Python number never changes a tensor's dtype (``x32 * 2.0`` is
float32). Integer and boolean tensors are fine as indices and masks but cannot require gradients.

Matrix products go through :mod:`micrograd_plus.kernels` (our numba matmul), never straight to
``numpy.matmul``, except for truly batched products (both operands more than 2-D).
"""

import functools
import math

import numpy as np

from micrograd_plus import kernels

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "zeros",
    "ones",
    "randn",
    "cat",
    "stack",
    "where",
    "DIFFERENTIABLE_OPS",
]

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
# Registry of differentiable operations (tests check that each one has a gradient check)
# ----------------------------------------------------------------------------------------------

DIFFERENTIABLE_OPS = []
"""Names of the differentiable ``Tensor`` methods and module functions defined here. The test
suite fails if one of them has no gradient check (``tests/tensor/test_gradcheck_ops.py``)."""


def _differentiable(fn):
    DIFFERENTIABLE_OPS.append(fn.__name__)
    return fn


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _unbroadcast(g, shape):
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


def _float_dtype(dtype):
    return dtype.kind == "f"  # float16/32/64 (a cheap test: np.issubdtype costs a microsecond)


def _is_number(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _number(x):
    """A Python int or float (numpy scalars are 'strong' in numpy 2 and would upcast float32)."""
    return float(x) if isinstance(x, (float, np.floating)) else int(x)


def _normalize_axes(axis, ndim, what="axis"):
    """Turn ``axis`` (None, an int or a tuple of ints, negatives allowed) into a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"{what} {a} is out of range for a tensor with {ndim} dimensions")
        if ndim:
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {tuple(axis)}")
    return tuple(sorted(out))


def _as_array(data, dtype=None):
    """Convert user data to a numpy array following the dtype rule in the module docstring."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if arr.dtype == np.float64:  # Python floats -> float32, as in PyTorch
            arr = arr.astype(np.float32)
        elif arr.dtype == object:
            raise TypeError(f"cannot make a Tensor from {type(data).__name__} (ragged or non-numeric data?)")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    return arr


_new = object.__new__


def _leaf(data):
    """A plain Tensor (no graph) around an array, without the checks of ``Tensor.__init__``."""
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = False
    t._prev = ()
    t._backward = None
    t._op = ""
    t._retain = False
    return t


def _result(data, parents, op, backward):
    """Wrap an op's output ``data``; record the node if grad mode is on and a parent needs grad.

    ``backward(g)`` receives dL/d(output) (an array shaped like ``data``) and returns a tuple with
    one entry per parent: that parent's gradient (shaped like the parent) or None.
    """
    if data.__class__ is not np.ndarray:  # ufuncs on 0-d arrays return numpy scalars
        data = np.asarray(data)
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t._retain = False
    if _GradMode.enabled:
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._prev = parents
                t._backward = backward
                t._op = op
                return t
    t.requires_grad = False
    t._prev = ()
    t._backward = None
    t._op = ""
    return t


def _to_tensor(x, like=None):
    """Wrap a non-Tensor operand (array or number) as a constant Tensor."""
    if isinstance(x, Tensor):
        return x
    if _is_number(x) and like is not None:
        dtype = like.data.dtype if _float_dtype(like.data.dtype) else None
        if dtype is None and isinstance(x, (float, np.floating)):
            dtype = np.float32
        return _leaf(np.asarray(_number(x), dtype=dtype))
    return _leaf(_as_array(x))


def _freed_backward(g):
    raise RuntimeError(
        "Trying to backward through the graph a second time (or through part of a graph that was "
        "already used by an earlier backward). The saved arrays were freed after the first "
        "backward; call .backward(retain_graph=True) the first time if you need to go through "
        "the graph again."
    )


def _scatter_add_rows(index, g, n_rows):
    """``out[index[i]] += g[i]`` for every i, into a zero array of ``n_rows`` rows.

    This is the backward of a row gather (``x[index]``, an embedding lookup). Rows picked more
    than once must *sum* their gradients. ``np.add.at`` does exactly that but slowly, element by
    element; here we sort the rows by index so that equal indices sit together, sum each run
    with one ``np.add.reduceat`` and write each sum once. (About 7x faster for a GPT batch.)

    Args:
        index: (N,) integer array of row numbers in [0, n_rows).
        g: (N, *rest) gradients, one row per index.
        n_rows: number of rows of the result.

    Returns:
        (n_rows, *rest) array.
    """
    out = np.zeros((n_rows,) + g.shape[1:], dtype=g.dtype)
    if index.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]  # (N,) ascending
    starts = np.flatnonzero(np.concatenate(([True], sorted_index[1:] != sorted_index[:-1])))
    out[sorted_index[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return out


def _store_grad(t, g, stored):
    """Accumulate ``g`` into ``t.grad``.

    Backward rules never modify arrays in place and the sums in ``backward`` make new arrays, so
    while gradients flow, one array may safely be shared (``a + b`` hands the same ``g`` to both).
    What ends up in a ``.grad`` must be an array of its own, because optimizers and gradient
    clipping update it in place: views, read-only arrays (from ``broadcast_to``) and arrays
    already stored in another ``.grad`` (ids in ``stored``) are copied first.
    """
    if t.grad is None:
        if g.__class__ is not np.ndarray:  # a numpy scalar from a 0-d op
            g = np.array(g)
        elif g.base is not None or not g.flags.writeable or id(g) in stored:
            g = g.copy()
        stored.add(id(g))
        t.grad = g
    else:
        t.grad = t.grad + g


# ----------------------------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------------------------


class Tensor:
    """An n-dimensional array of numbers with automatic differentiation.

    Args:
        data: a number, (nested) list, numpy array or Tensor. Python floats/lists become float32;
            numpy arrays keep their dtype and are **not copied** when the dtype already matches
            (like ``torch.from_numpy``); use :func:`tensor` for a copy.
        requires_grad: if True, operations on this tensor are recorded, and ``backward`` fills
            its ``.grad``. Only floating-point tensors can require gradients.
        dtype: optional numpy dtype to convert to (``np.float32``, ``np.float64``, ``np.int64``...).

    Each tensor carries three public fields:

    * ``data`` -- the numpy array (writable: optimizers and gradcheck update it in place);
    * ``grad`` -- a numpy array shaped like ``data`` after ``backward``, else None;
    * ``requires_grad`` -- whether gradients flow to this tensor.

    and two graph fields, ``_prev`` (the tuple of tensors it was computed from) and ``_op``
    (the operation's name, ``""`` for a leaf), which :mod:`micrograd_plus.viz` draws.

    One difference from PyTorch: ``a == b`` compares *identity* (so tensors can live in sets and
    dicts); use ``a.eq(b)`` (or ``a.data == b.data``) for elementwise equality.

    Example::

        x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)   # (2, 2) float32
        y = (x * x).sum()                                           # () : 30.0
        y.backward()
        x.grad                                                      # 2 * x
    """

    __slots__ = ("data", "grad", "requires_grad", "_prev", "_backward", "_op", "_retain", "__weakref__")

    # Make numpy defer to our reflected operators: ``ndarray + Tensor`` calls ``Tensor.__radd__``.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        arr = _as_array(data, dtype)
        if requires_grad and not _float_dtype(arr.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {arr.dtype} "
                "(write 1.0 instead of 1, or pass dtype=np.float32)"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._prev = ()
        self._backward = None
        self._op = ""
        self._retain = False

    # ---- basic properties -------------------------------------------------------------------

    @property
    def shape(self):
        """The shape of ``data``, a tuple of ints."""
        return self.data.shape

    @property
    def dtype(self):
        """The numpy dtype of ``data``."""
        return self.data.dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self):
        """Number of elements."""
        return self.data.size

    @property
    def is_leaf(self):
        """True for tensors you created (not the result of a recorded operation)."""
        return self._backward is None

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", precision=4, threshold=50, prefix="Tensor(")
        extra = f", dtype={self.data.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        if self._op:
            extra += f", op={self._op!r}"
        return f"Tensor({body}{extra})"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements (shape {self.data.shape}) is "
                "ambiguous; use .any() on .data, or compare .item()"
            )
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        """Let ``np.asarray(t)`` (and matplotlib) see the values; the result is cut off from the graph."""
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with exactly one element, got shape {self.data.shape}")
        return self.data.item()

    def numpy(self):
        """The underlying numpy array (shared, not copied)."""
        return self.data

    def tolist(self):
        """The values as (nested) Python lists."""
        return self.data.tolist()

    def detach(self):
        """A new tensor sharing ``data`` but cut off from the graph (no gradient flows back)."""
        return _leaf(self.data)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (on a leaf) and return self."""
        if requires_grad and not _float_dtype(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate (non-leaf) tensor after ``backward``."""
        self._retain = True
        return self

    def zero_grad(self):
        """Forget the accumulated gradient (set ``.grad`` to None)."""
        self.grad = None

    # ---- backward ---------------------------------------------------------------------------

    def backward(self, grad=None, retain_graph=False):
        """Backpropagate: fill ``.grad`` of every leaf this tensor depends on.

        Args:
            grad: dL/d(self), an array or Tensor shaped like ``self``. It may be omitted only for
                a one-element tensor (a loss), where it is 1.
            retain_graph: keep the graph so that ``backward`` can be called through it again.

        Gradients *accumulate* into ``.grad`` (call ``zero_grad`` between steps), exactly as in
        PyTorch, so that a tensor used in two losses gets the sum of both contributions.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: none of its inputs had "
                "requires_grad=True, or it was computed under no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient only works for one-element outputs (a loss); "
                    f"this tensor has shape {self.data.shape}: pass grad= shaped like it, or reduce "
                    "it first (e.g. .sum() or .mean())"
                )
            grad = np.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape {self.data.shape}")
            if grad.dtype != self.data.dtype:
                grad = grad.astype(self.data.dtype)

        if self._backward is None:  # backward() on a leaf: its gradient is just `grad`
            _store_grad(self, grad, {id(grad)})
            return

        # 1) Topological order of the recorded (non-leaf) nodes, with an explicit stack instead
        #    of recursion: a node is appended after all the nodes it was computed from.
        #    (A node is marked visited when it is expanded, not when it is pushed: it may be
        #    pushed again by a deeper node, and must then come before that one.)
        order = []
        visited = set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for p in node._prev:
                if p._backward is not None and p.requires_grad and id(p) not in visited:
                    stack.append((p, False))

        # 2) Walk it from the output back towards the inputs. `grads` holds dL/d(node) for the
        #    nodes still waiting; leaves receive theirs straight into `.grad`.
        grads = {id(self): grad}
        stored = {id(grad)}  # arrays already stored in some .grad (see _store_grad)
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._retain:  # retain_grad(): keep this intermediate gradient too
                _store_grad(node, g, stored)
            parent_grads = node._backward(g)
            prev = node._prev
            if not retain_graph:  # free the saved arrays now; a second backward raises
                node._backward = _freed_backward
                node._prev = ()
            for p, pg in zip(prev, parent_grads):
                if pg is None or not p.requires_grad:
                    continue
                if pg.dtype != p.data.dtype:  # e.g. a float32 weight used in a float64 op
                    pg = pg.astype(p.data.dtype)
                if p._backward is None:
                    _store_grad(p, pg, stored)  # a leaf: accumulate into .grad
                else:
                    key = id(p)
                    old = grads.get(key)
                    grads[key] = pg if old is None else old + pg  # a reused tensor: grads add up

    # ---- casts ------------------------------------------------------------------------------

    @_differentiable
    def astype(self, dtype):
        """A copy converted to ``dtype``; the gradient is converted back."""
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        src = self.data.dtype

        def backward(g):  # dL/dx = dL/dy, in the input's dtype
            return (g.astype(src),)

        return _result(self.data.astype(dtype), (self,), "astype", backward)

    @_differentiable
    def float(self):
        """Cast to float32 (differentiable)."""
        return self.astype(np.float32)

    @_differentiable
    def double(self):
        """Cast to float64 (differentiable); gradient checks work in float64."""
        return self.astype(np.float64)

    def long(self):
        """Cast to int64 (for indices; no gradient)."""
        return _leaf(self.data.astype(np.int64))

    # ---- elementwise arithmetic -------------------------------------------------------------

    @_differentiable
    def __add__(self, other):
        if _is_number(other):  # y = x + c
            return _result(self.data + _number(other), (self,), "add", lambda g: (g,))
        other = _to_tensor(other, self)
        a, b = self, other
        a_shape, b_shape = a.data.shape, b.data.shape

        def backward(g):  # d(a+b)/da = d(a+b)/db = 1
            return (
                _unbroadcast(g, a_shape) if a.requires_grad else None,
                _unbroadcast(g, b_shape) if b.requires_grad else None,
            )

        return _result(_broadcast_op(np.add, a, b, "+"), (a, b), "add", backward)

    @_differentiable
    def __radd__(self, other):
        return self.__add__(other)

    @_differentiable
    def __sub__(self, other):
        if _is_number(other):  # y = x - c
            return _result(self.data - _number(other), (self,), "sub", lambda g: (g,))
        other = _to_tensor(other, self)
        a, b = self, other
        a_shape, b_shape = a.data.shape, b.data.shape

        def backward(g):  # d(a-b)/da = 1, d(a-b)/db = -1
            return (
                _unbroadcast(g, a_shape) if a.requires_grad else None,
                -_unbroadcast(g, b_shape) if b.requires_grad else None,
            )

        return _result(_broadcast_op(np.subtract, a, b, "-"), (a, b), "sub", backward)

    @_differentiable
    def __rsub__(self, other):
        if _is_number(other):  # y = c - x
            return _result(_number(other) - self.data, (self,), "rsub", lambda g: (-g,))
        return _to_tensor(other, self).__sub__(self)

    @_differentiable
    def __neg__(self):
        return _result(-self.data, (self,), "neg", lambda g: (-g,))

    @_differentiable
    def __mul__(self, other):
        if _is_number(other):  # y = c * x
            c = _number(other)
            return _result(self.data * c, (self,), "mul", lambda g: (g * c,))
        other = _to_tensor(other, self)
        a, b = self, other
        a_data, b_data = a.data, b.data

        def backward(g):  # d(ab)/da = b, d(ab)/db = a
            return (
                _unbroadcast(g * b_data, a_data.shape) if a.requires_grad else None,
                _unbroadcast(g * a_data, b_data.shape) if b.requires_grad else None,
            )

        return _result(_broadcast_op(np.multiply, a, b, "*"), (a, b), "mul", backward)

    @_differentiable
    def __rmul__(self, other):
        return self.__mul__(other)

    @_differentiable
    def __truediv__(self, other):
        if _is_number(other):  # y = x / c
            c = _number(other)
            return _result(self.data / c, (self,), "div", lambda g: (g / c,))
        other = _to_tensor(other, self)
        a, b = self, other
        a_data, b_data = a.data, b.data

        def backward(g):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
            ga = _unbroadcast(g / b_data, a_data.shape) if a.requires_grad else None
            gb = _unbroadcast(-g * a_data / (b_data * b_data), b_data.shape) if b.requires_grad else None
            return ga, gb

        return _result(_broadcast_op(np.true_divide, a, b, "/"), (a, b), "div", backward)

    @_differentiable
    def __rtruediv__(self, other):
        if _is_number(other):  # y = c / x, dy/dx = -c / x^2
            c = _number(other)
            x = self.data
            return _result(c / x, (self,), "rdiv", lambda g: (-g * c / (x * x),))
        return _to_tensor(other, self).__truediv__(self)

    @_differentiable
    def __pow__(self, exponent):
        """``x ** p``: a number ``p`` (any real; x must be positive for fractional p) or a tensor."""
        x = self.data
        if _is_number(exponent):  # d(x^p)/dx = p x^(p-1)
            p = _number(exponent)
            if p == 2:
                return _result(x * x, (self,), "pow", lambda g: (g * (2 * x),))
            return _result(x**p, (self,), "pow", lambda g: (g * (p * x ** (p - 1)),))
        e = _to_tensor(exponent, self)
        a, b = self, e
        out = _broadcast_op(np.power, a, b, "**")

        def backward(g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)
            ga = _unbroadcast(g * b.data * a.data ** (b.data - 1), a.data.shape) if a.requires_grad else None
            gb = _unbroadcast(g * out * np.log(a.data), b.data.shape) if b.requires_grad else None
            return ga, gb

        return _result(out, (a, b), "pow", backward)

    @_differentiable
    def __rpow__(self, base):
        """``c ** x`` for a number ``c > 0``: d/dx = c^x log(c)."""
        if not _is_number(base):
            return _to_tensor(base, self).__pow__(self)
        c = _number(base)
        if c <= 0:
            raise ValueError(f"c ** tensor needs a positive base c (its derivative uses log(c)), got {c}")
        out = c**self.data
        log_c = math.log(c)
        return _result(out, (self,), "rpow", lambda g: (g * out * log_c,))

    # comparisons give boolean tensors (no gradient); == and != are left to Python identity so
    # that tensors can sit in sets and lists; use eq()/ne() for elementwise equality.
    def __lt__(self, other):
        return _leaf(self.data < _other_data(other))

    def __le__(self, other):
        return _leaf(self.data <= _other_data(other))

    def __gt__(self, other):
        return _leaf(self.data > _other_data(other))

    def __ge__(self, other):
        return _leaf(self.data >= _other_data(other))

    def eq(self, other):
        """Elementwise ``==`` as a boolean tensor (no gradient)."""
        return _leaf(self.data == _other_data(other))

    def ne(self, other):
        """Elementwise ``!=`` as a boolean tensor (no gradient)."""
        return _leaf(self.data != _other_data(other))

    __hash__ = object.__hash__

    # ---- elementwise functions --------------------------------------------------------------

    @_differentiable
    def exp(self):
        """e**x elementwise. Its derivative is itself, so backward reuses the output."""
        y = np.exp(self.data)
        return _result(y, (self,), "exp", lambda g: (g * y,))

    @_differentiable
    def log(self):
        """Natural logarithm elementwise; d/dx log x = 1/x."""
        x = self.data
        return _result(np.log(x), (self,), "log", lambda g: (g / x,))

    @_differentiable
    def sqrt(self):
        """Square root elementwise; d/dx sqrt(x) = 1 / (2 sqrt(x)), reusing the output."""
        y = np.sqrt(self.data)
        return _result(y, (self,), "sqrt", lambda g: (g * 0.5 / y,))

    @_differentiable
    def tanh(self):
        """Hyperbolic tangent; d/dx tanh x = 1 - tanh(x)^2, reusing the output."""
        y = np.tanh(self.data)
        return _result(y, (self,), "tanh", lambda g: (g * (1 - y * y),))

    @_differentiable
    def sigmoid(self):
        """The logistic function 1 / (1 + e^-x), computed without overflow at +-1000.

        For x >= 0 we use 1/(1+e^-x), for x < 0 the equal e^x/(1+e^x); either way the exponent
        is e^-abs(x) <= 1. Derivative: s (1 - s), reusing the output s.
        """
        x = self.data
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1, e) / (1 + e)
        y = y.astype(x.dtype, copy=False)
        return _result(y, (self,), "sigmoid", lambda g: (g * y * (1 - y),))

    @_differentiable
    def relu(self):
        """max(x, 0): passes positive values, zeroes the rest. The gradient is passed where the
        output is positive, so backward needs only the output (no extra mask is stored)."""
        y = np.maximum(self.data, 0)
        return _result(y, (self,), "relu", lambda g: (g * (y > 0),))

    @_differentiable
    def abs(self):
        """The absolute value abs(x) elementwise; the derivative is sign(x) (0 at x = 0)."""
        x = self.data
        return _result(np.abs(x), (self,), "abs", lambda g: (g * np.sign(x),))

    @_differentiable
    def gelu(self, approximate="none"):
        """The GELU activation x * Phi(x), where Phi is the standard normal CDF.

        ``approximate="none"`` uses the exact erf form (PyTorch's default); ``approximate="tanh"``
        uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), which is what GPT-2 was trained with.
        Both are single compiled passes (:mod:`micrograd_plus.kernels.elementwise`); backward
        keeps only ``x`` (and, for the tanh form, the tanh values).
        """
        x = self.data
        if approximate == "tanh":
            y, t = kernels.gelu_tanh_forward(x)  # y, t: x's shape
            return _result(y, (self,), "gelu", lambda g: (kernels.gelu_tanh_backward(g, x, t),))
        if approximate != "none":
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        y = kernels.gelu_forward(x)  # x's shape: x * Phi(x)
        return _result(y, (self,), "gelu", lambda g: (kernels.gelu_backward(g, x),))

    # ---- reductions -------------------------------------------------------------------------

    @_differentiable
    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Sum over ``axis`` (None: all; an int or tuple; ``dim`` is an alias).

        Every input element contributes with slope 1, so backward broadcasts ``g`` back to the
        input shape.
        """
        keepdims = keepdims if keepdim is None else keepdim  # PyTorch spells it keepdim
        axes = _normalize_axes(dim if axis is None else axis, self.data.ndim)
        shape = self.data.shape
        y = self.data.sum(axis=axes, keepdims=keepdims)
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))

        def backward(g):
            return (np.broadcast_to(g.reshape(kept), shape),)

        return _result(np.asarray(y), (self,), "sum", backward)

    @_differentiable
    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Average over ``axis`` (None: all); each input gets ``g / count`` in backward."""
        keepdims = keepdims if keepdim is None else keepdim  # PyTorch spells it keepdim
        axes = _normalize_axes(dim if axis is None else axis, self.data.ndim)
        shape = self.data.shape
        count = 1
        for a in axes:
            count *= shape[a]
        y = self.data.mean(axis=axes, keepdims=keepdims)
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))

        def backward(g):
            return (np.broadcast_to(g.reshape(kept) / count, shape),)

        return _result(np.asarray(y, dtype=self.data.dtype), (self,), "mean", backward)

    def _extreme(self, axis, keepdims, np_fn, name):
        axes = _normalize_axes(axis, self.data.ndim)
        if self.data.size == 0:
            raise ValueError(f"{name}() of an empty tensor of shape {self.data.shape}")
        x = self.data
        y_keep = np_fn(x, axis=axes, keepdims=True)
        y = y_keep if keepdims else y_keep.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))

        def backward(g):  # the gradient goes to the element(s) that won, split evenly on ties
            mask = x == y_keep
            count = mask.sum(axis=axes, keepdims=True)
            return (mask * (g.reshape(y_keep.shape) / count),)

        return _result(y, (self,), name, backward)

    @_differentiable
    def max(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Largest value over ``axis`` (None: all). The gradient flows to the maximum; when
        several elements tie for the maximum, it is split evenly among them.

        Unlike PyTorch's ``max(dim)``, this returns only the values; use :meth:`argmax` for the
        indices. ``dim``/``keepdim`` are accepted as aliases of ``axis``/``keepdims``."""
        return self._extreme(dim if axis is None else axis, keepdims if keepdim is None else keepdim, np.max, "max")

    @_differentiable
    def min(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Smallest value over ``axis``; gradient as for :meth:`max` (ties split evenly)."""
        return self._extreme(dim if axis is None else axis, keepdims if keepdim is None else keepdim, np.min, "min")

    @_differentiable
    def var(self, axis=None, keepdims=False, correction=1, dim=None, keepdim=None):
        """Variance over ``axis``: sum((x - mean)^2) / (N - correction).

        ``correction=1`` (the default, as in PyTorch) is the unbiased estimate; layer norm uses
        ``correction=0``. d var / dx_i = 2 (x_i - mean) / (N - correction).
        """
        keepdims = keepdims if keepdim is None else keepdim  # PyTorch spells it keepdim
        axes = _normalize_axes(dim if axis is None else axis, self.data.ndim)
        x = self.data
        n = 1
        for a in axes:
            n *= x.shape[a]
        denom = max(n - correction, 0)
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        y = (d * d).sum(axis=axes, keepdims=keepdims) / denom
        kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))

        def backward(g):
            return (g.reshape(kept) * (2.0 / denom) * (x - x.mean(axis=axes, keepdims=True)),)

        return _result(np.asarray(y, dtype=x.dtype), (self,), "var", backward)

    def argmax(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Index of the largest value (an int64 tensor, no gradient)."""
        axis = dim if axis is None else axis
        keepdims = keepdims if keepdim is None else keepdim
        return _leaf(np.asarray(np.argmax(self.data, axis=axis, keepdims=keepdims)))

    # ---- shape ------------------------------------------------------------------------------

    @_differentiable
    def reshape(self, *shape):
        """The same elements in a new shape (one entry may be -1); backward reshapes back."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.data.shape
        try:
            y = self.data.reshape(shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {old} ({self.data.size} elements) into {shape}"
            ) from None
        return _result(y, (self,), "reshape", lambda g: (g.reshape(old),))

    view = reshape

    @_differentiable
    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dimensions ``start_dim..end_dim`` into one (a reshape)."""
        shape = self.data.shape
        if not shape:
            return self.reshape(1)
        s, e = start_dim % len(shape), end_dim % len(shape)
        n = 1
        for d in shape[s : e + 1]:
            n *= d
        return self.reshape(shape[:s] + (n,) + shape[e + 1 :])

    @_differentiable
    def unsqueeze(self, dim):
        """Insert a size-1 dimension at ``dim`` (a reshape)."""
        shape = list(self.data.shape)
        dim = dim if dim >= 0 else dim + len(shape) + 1
        shape.insert(dim, 1)
        return self.reshape(tuple(shape))

    @_differentiable
    def squeeze(self, dim=None):
        """Remove size-1 dimensions (all of them, or just ``dim``) (a reshape)."""
        shape = self.data.shape
        if dim is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        if not shape:
            return self
        dim = dim % len(shape)
        if shape[dim] != 1:
            return self
        return self.reshape(shape[:dim] + shape[dim + 1 :])

    @_differentiable
    def permute(self, *dims):
        """Reorder the dimensions: ``x.permute(0, 2, 1, 3)``. Backward applies the inverse order."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if sorted(d % max(self.data.ndim, 1) for d in dims) != list(range(self.data.ndim)):
            raise ValueError(
                f"permute: {dims} is not an ordering of the {self.data.ndim} dimensions of shape {self.data.shape}"
            )
        dims = tuple(d % self.data.ndim for d in dims)
        inverse = tuple(np.argsort(dims))
        return _result(self.data.transpose(dims), (self,), "permute", lambda g: (g.transpose(inverse),))

    @_differentiable
    def transpose(self, dim0=-2, dim1=-1):
        """Swap two dimensions (default: the last two, the matrix transpose)."""
        nd = self.data.ndim
        if nd < 2 and (dim0, dim1) == (-2, -1):
            return self
        y = np.swapaxes(self.data, dim0, dim1)  # a view: no copy
        return _result(y, (self,), "transpose", lambda g: (np.swapaxes(g, dim0, dim1),))

    DIFFERENTIABLE_OPS.extend(["T", "mT"])  # differentiable properties

    @property
    def T(self):
        """All dimensions reversed (the matrix transpose for 2-D), as in numpy."""
        if self.data.ndim < 2:
            return self
        return self.permute(tuple(range(self.data.ndim - 1, -1, -1)))

    @property
    def mT(self):
        """The last two dimensions swapped (a batch of matrix transposes)."""
        return self.transpose(-2, -1)

    @_differentiable
    def expand(self, *shape):
        """Broadcast to a larger ``shape`` without copying (-1 keeps a dimension); backward sums."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        old = self.data.shape
        extra = len(shape) - len(old)
        shape = tuple(old[i - extra] if (n == -1 and i >= extra) else n for i, n in enumerate(shape))
        try:
            y = np.broadcast_to(self.data, shape)
        except ValueError:
            raise ValueError(f"expand: cannot broadcast shape {old} to {shape}") from None
        return _result(y, (self,), "expand", lambda g: (_unbroadcast(g, old),))

    @_differentiable
    def __getitem__(self, index):
        """Indexing with ints, slices, None, ``...``, integer arrays (gather) and boolean masks.

        Backward writes ``g`` into a zero array at the same positions; with integer arrays the
        same element may be picked twice, so it *adds* (``np.add.at``, a scatter-add).
        """
        index = _clean_index(index)
        x = self.data
        try:
            y = x[index]
        except IndexError as e:
            raise IndexError(
                f"index {_describe_index(index)} is invalid for a tensor of shape {x.shape}: {e}"
            ) from None
        shape, dtype = x.shape, x.dtype
        advanced = _is_advanced(index)

        def backward(g):
            if advanced and isinstance(index, np.ndarray) and index.dtype.kind in "iu":
                # x[rows]: a row gather; sum the rows of g that went to the same row of x
                rows = index.reshape(-1) % shape[0]  # (negative indices count from the end)
                gx = _scatter_add_rows(rows, g.reshape((-1,) + shape[1:]), shape[0])
            else:
                gx = np.zeros(shape, dtype=dtype)
                if advanced:
                    np.add.at(gx, index, g)  # general scatter-add: repeated positions sum
                else:
                    gx[index] = g
            return (gx,)

        return _result(y, (self,), "getitem", backward)

    @_differentiable
    def split(self, split_size_or_sections, dim=0):
        """Split along ``dim`` into pieces of ``split_size`` (an int; the last may be smaller) or
        of the given list of sizes, as in PyTorch. Each piece is a slice (differentiable)."""
        n = self.data.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise ValueError(f"split: split_size must be positive, got {size}")
            sizes = [min(size, n - s) for s in range(0, n, size)]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n:
                raise ValueError(
                    f"split: sizes {sizes} do not add up to {n}, the size of dim {dim} of shape {self.data.shape}"
                )
        pieces, start = [], 0
        lead = (slice(None),) * (dim % self.data.ndim)
        for s in sizes:
            pieces.append(self[lead + (slice(start, start + s),)])
            start += s
        return tuple(pieces)

    @_differentiable
    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` nearly equal pieces along ``dim``."""
        n = self.data.shape[dim]
        return self.split(-(-n // chunks), dim)

    @_differentiable
    def masked_fill(self, mask, value):
        """Replace elements where ``mask`` (a boolean array/Tensor broadcastable to self) is True
        with ``value`` (e.g. ``-inf`` for an attention mask). No gradient flows to filled spots."""
        m = _other_data(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"masked_fill: mask must be boolean, got dtype {m.dtype}")
        x = self.data
        if isinstance(value, Tensor):  # the fill value is a constant: no gradient flows to it
            value = value.data
        try:
            y = np.where(m, np.asarray(value, dtype=x.dtype), x)
        except ValueError:
            raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast to shape {x.shape}") from None
        if y.shape != x.shape:
            raise ValueError(f"masked_fill: mask of shape {m.shape} would change shape {x.shape} to {y.shape}")
        keep = ~m
        return _result(y, (self,), "masked_fill", lambda g: (g * keep,))

    # ---- matrix multiplication --------------------------------------------------------------

    @_differentiable
    def matmul(self, other):
        """Matrix product ``self @ other`` with numpy's rules (1-D operands, batch broadcasting).

        The common cases, (..., K) @ (K, N), run on the library's matmul kernels: the leading
        dimensions are flattened into rows, so a whole batch is one big 2-D product. Backward of
        C = A B is dA = dC Bᵀ and dB = Aᵀ dC (the ``matmul_nt`` and ``matmul_tn`` kernels).
        """
        return _matmul(self, _to_tensor(other, self))

    @_differentiable
    def __matmul__(self, other):
        return self.matmul(other)

    @_differentiable
    def __rmatmul__(self, other):
        return _matmul(_to_tensor(other, self), self)

    # ---- activation / functional shortcuts ---------------------------------------------------

    @_differentiable
    def softmax(self, dim=-1):
        """See :func:`micrograd_plus.functional.softmax`."""
        from micrograd_plus import functional

        return functional.softmax(self, dim)

    @_differentiable
    def log_softmax(self, dim=-1):
        """See :func:`micrograd_plus.functional.log_softmax`."""
        from micrograd_plus import functional

        return functional.log_softmax(self, dim)


# ----------------------------------------------------------------------------------------------
# Helpers for ops above
# ----------------------------------------------------------------------------------------------


def _other_data(x):
    if isinstance(x, Tensor):
        return x.data
    return np.asarray(x)


def _broadcast_op(ufunc, a, b, symbol):
    """Apply a numpy ufunc, turning a broadcasting failure into an error that names shapes."""
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"operands could not be broadcast together: {a.data.shape} {symbol} {b.data.shape} "
            "(shapes must match from the right, or be 1 there)"
        ) from None


def _clean_index(index):
    """Replace Tensors inside an index by their arrays, and lists by int arrays."""
    if isinstance(index, tuple):
        return tuple(_clean_index_part(i) for i in index)
    return _clean_index_part(index)


def _clean_index_part(i):
    if isinstance(i, Tensor):
        return i.data
    if isinstance(i, list):
        return np.asarray(i)
    return i


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) and p.ndim > 0 for p in parts)


def _describe_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, np.ndarray):
            out.append(f"array(shape={p.shape}, dtype={p.dtype})")
        else:
            out.append(repr(p))
    return "[" + ", ".join(out) + "]"


def _common_float(a, b):
    dt = np.result_type(a.data.dtype, b.data.dtype)
    if not _float_dtype(dt):
        raise TypeError(f"matmul needs floating-point tensors, got {a.data.dtype} and {b.data.dtype}")
    return dt


def _matmul(a, b):
    """Forward and backward of ``a @ b`` (see :meth:`Tensor.matmul`)."""
    sa, sb = a.data.shape, b.data.shape
    if a.data.ndim == 0 or b.data.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {sa} and {sb} (use * for scalars)")
    if a.data.ndim == 1:  # (K,) @ (..., K, N): treat a as a (1, K) matrix, then drop that row dim
        out = _matmul(a.reshape(1, sa[0]), b)
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    if b.data.ndim == 1:  # (..., M, K) @ (K,): treat b as a (K, 1) column
        out = _matmul(a, b.reshape(sb[0], 1))
        return out.reshape(out.shape[:-1])
    if sa[-1] != sb[-2]:
        raise ValueError(
            f"matmul: shapes {sa} and {sb} are not aligned: {sa[-1]} (last dim of the first) != "
            f"{sb[-2]} (second-to-last dim of the second)"
        )
    dt = _common_float(a, b)
    A = a.data if a.data.dtype == dt else a.data.astype(dt)
    B = b.data if b.data.dtype == dt else b.data.astype(dt)

    if B.ndim == 2:
        # (..., M, K) @ (K, N): flatten all leading dims of A into rows -> one 2-D kernel call.
        K, N = sb
        A2 = A.reshape(-1, K)  # (rows, K)
        y = kernels.matmul(A2, B).reshape(sa[:-1] + (N,))  # (..., M, N)

        def backward(g):
            g2 = g.reshape(-1, N)  # (rows, N)
            ga = kernels.matmul_nt(g2, B).reshape(sa) if a.requires_grad else None  # dC Bᵀ
            gb = kernels.matmul_tn(A2, g2) if b.requires_grad else None  # Aᵀ dC  (K, N)
            return ga, gb

        return _result(y, (a, b), "matmul", backward)

    # Truly batched: (..., M, K) @ (..., K, N) with broadcasting batch dimensions.
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {sa} and {sb} do not broadcast") from None
    y = np.matmul(A, B)  # (*batch, M, N)

    def backward(g):
        ga = _unbroadcast(np.matmul(g, np.swapaxes(B, -1, -2)), sa) if a.requires_grad else None
        gb = _unbroadcast(np.matmul(np.swapaxes(A, -1, -2), g), sb) if b.requires_grad else None
        return ga, gb

    return _result(y, (a, b), "matmul", backward)


# ----------------------------------------------------------------------------------------------
# Module-level constructors and ops
# ----------------------------------------------------------------------------------------------


def tensor(data, dtype=None, requires_grad=False):
    """Make a new Tensor from ``data``, always copying (unlike ``Tensor(array)``)."""
    arr = np.array(data.data if isinstance(data, Tensor) else data, copy=True)
    if not isinstance(data, (np.ndarray, np.generic, Tensor)) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return Tensor(arr, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape, dtype=np.float32, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False, generator=None):
    """Standard-normal random numbers, drawn from ``generator`` (see :mod:`micrograd_plus.random`)."""
    from micrograd_plus.random import get_generator

    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    rng = get_generator(generator)
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=requires_grad)


@_differentiable
def cat(tensors, dim=0):
    """Concatenate tensors along an existing dimension ``dim``; backward splits ``g`` back."""
    tensors = [_to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    try:
        y = np.concatenate([t.data for t in tensors], axis=dim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise ValueError(f"cat along dim {dim}: shapes {[t.shape for t in tensors]} do not fit: {e}") from None
    sizes = [t.data.shape[dim] for t in tensors]
    bounds = np.cumsum(sizes)[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=dim))

    return _result(y, tuple(tensors), "cat", backward)


@_differentiable
def stack(tensors, dim=0):
    """Stack same-shaped tensors along a new dimension ``dim``; backward unstacks ``g``."""
    tensors = [_to_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of equal shape, got {[t.shape for t in tensors]}")
    y = np.stack([t.data for t in tensors], axis=dim)
    n = len(tensors)

    def backward(g):
        return tuple(np.take(g, i, axis=dim) for i in range(n))

    return _result(y, tuple(tensors), "stack", backward)


@_differentiable
def where(condition, x, y):
    """Pick from ``x`` where ``condition`` is True, else from ``y`` (all broadcast together).

    Gradients flow to ``x`` where the condition holds and to ``y`` elsewhere.
    """
    cond = _other_data(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    like = x if isinstance(x, Tensor) else (y if isinstance(y, Tensor) else None)
    x, y = _to_tensor(x, like), _to_tensor(y, like)
    try:
        out = np.where(cond, x.data, y.data)
    except ValueError:
        raise ValueError(f"where: shapes {cond.shape}, {x.shape}, {y.shape} do not broadcast together") from None
    xs, ys = x.data.shape, y.data.shape

    def backward(g):
        zero = np.zeros((), dtype=g.dtype)
        gx = _unbroadcast(np.where(cond, g, zero), xs) if x.requires_grad else None
        gy = _unbroadcast(np.where(cond, zero, g), ys) if y.requires_grad else None
        return gx, gy

    return _result(out, (x, y), "where", backward)
