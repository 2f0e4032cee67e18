"""The plumbing under :mod:`micrograd_plus._tensor`: grad mode, the op registry, and the small
rules every op shares (broadcasting undone in backward, PyTorch's dtype promotion, axis checks).

Nothing here knows the ``Tensor`` class; :mod:`micrograd_plus._tensor` and the op modules in
:mod:`micrograd_plus.ops` import from here, never the other way round.
"""

import functools

import numpy as np

__all__ = ["no_grad", "enable_grad", "inference_mode", "set_grad_enabled", "is_grad_enabled", "DIFFERENTIABLE_OPS",
           "differentiable", "Function", "FunctionCtx", "grad"]

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


class inference_mode(no_grad):
    """PyTorch's ``inference_mode``: here the same as :class:`no_grad` (a context manager or a
    decorator, ``@inference_mode`` or ``@inference_mode()``). ``inference_mode(False)`` records
    the graph as usual. PyTorch's extra speed-ups of inference mode have nothing to act on here:
    ``no_grad`` already saves nothing for backward."""

    def __new__(cls, mode=True):
        self = object.__new__(cls)
        if callable(mode):  # used as a bare decorator: @inference_mode
            self._target = False
            return self(mode)
        self._target = not bool(mode)
        return self


class set_grad_enabled(no_grad):
    """Turn graph recording on (``True``) or off (``False``) -- at once when called as a function,
    ``set_grad_enabled(False)``, or for a block, ``with set_grad_enabled(is_train): ...``, as in
    PyTorch."""

    def __new__(cls, mode):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self = object.__new__(cls)
        self._target = bool(mode)
        self._before_call = _GradMode.enabled
        _GradMode.enabled = self._target  # takes effect now, as PyTorch's does
        return self

    def __enter__(self):
        self._previous = self._before_call
        return self


# ----------------------------------------------------------------------------------------------
# The one registry of differentiable operations
# ----------------------------------------------------------------------------------------------

DIFFERENTIABLE_OPS = []
"""Names of every differentiable operation: ``Tensor`` methods and torch-style functions by their
own name (``"exp"``, ``"cat"``), :mod:`micrograd_plus.functional` ones as ``"F.softmax"`` (and
``"F.conv2d"``: :mod:`micrograd_plus.functional_conv` is part of ``F``).
``tests/tensor/test_gradcheck_ops.py`` fails when one of them has no gradient check."""


def differentiable(fn):
    """Register ``fn`` in :data:`DIFFERENTIABLE_OPS` (a decorator; returns ``fn`` unchanged)."""
    # functional and functional_conv (its image half, re-exported by it) are both ``F``
    prefix = "F." if fn.__module__.startswith("micrograd_plus.functional") else ""
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


# ----------------------------------------------------------------------------------------------
# Your own differentiable op: Function (torch.autograd.Function), and grad (torch.autograd.grad)
# ----------------------------------------------------------------------------------------------
#
# Every op in micrograd_plus.ops is a forward computation and, right beside it, a local backward
# rule. Function lets you write one of those pairs yourself, in PyTorch's form:
#
#     class Cube(torch.autograd.Function):
#         @staticmethod
#         def forward(ctx, x):                 # x: a Tensor; runs without recording a graph
#             ctx.save_for_backward(x)
#             return x ** 3
#
#         @staticmethod
#         def backward(ctx, grad_output):      # dL/d(output), shaped like the output
#             (x,) = ctx.saved_tensors
#             return grad_output * 3 * x ** 2  # dL/dx, one result per input of forward
#
#     y = Cube.apply(x)                         # never Cube()(x): apply records the node
#
# Cube.apply runs forward under no_grad and records one node whose local rule is your backward --
# what a built-in op does with its backward(g) closure -- and micrograd_plus.gradcheck checks it
# against numerical derivatives, as the test suite does for every built-in op.


class _Tensor:
    """The Tensor class, for Function and grad. This module sits below ``micrograd_plus._tensor``
    and must not import it, so ``micrograd_plus._tensor`` puts its class here when it is imported
    (before any Tensor, hence any Function call, can exist)."""

    cls = None


class FunctionCtx:
    """The ``ctx`` that ``forward`` and ``backward`` of a :class:`Function` share.

    * ``ctx.save_for_backward(*tensors)`` in ``forward``; ``ctx.saved_tensors`` (a tuple) in
      ``backward``. Anything else can be kept as an attribute (``ctx.p = p``).
    * ``ctx.needs_input_grad``: one bool per argument of ``forward``, True where that argument is a
      Tensor that requires grad -- ``backward`` may skip the work for the others and return None.
    * ``ctx.mark_non_differentiable(*outputs)``: those outputs (e.g. indices) get no gradient.
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._non_differentiable = set()

    def save_for_backward(self, *tensors):
        """Keep ``tensors`` (Tensors or None) for ``backward``, where ``ctx.saved_tensors`` returns them."""
        for t in tensors:
            if t is not None and not isinstance(t, _Tensor.cls):
                raise TypeError(f"save_for_backward takes Tensors (or None), got {type(t).__name__}; "
                                "keep other values as attributes: ctx.name = value")
        self._saved = tensors

    @property
    def saved_tensors(self):
        """The tensors given to :meth:`save_for_backward`, in the same order (a tuple)."""
        return self._saved

    def mark_non_differentiable(self, *outputs):
        """Declare outputs of ``forward`` that have no gradient (integer indices, masks)."""
        self._non_differentiable.update(id(o) for o in outputs)

    def set_materialize_grads(self, value):
        """Accepted for PyTorch's interface: ``backward`` always receives zeros (never None)
        for outputs that received no gradient."""


class Function:
    """Base class of a user-defined differentiable operation (PyTorch's ``torch.autograd.Function``).

    Subclass it with two static methods:

    * ``forward(ctx, *args, **kwargs)`` computes the output(s) -- a Tensor or a tuple of them -- from
      the arguments (Tensors, numbers, anything). It runs under ``no_grad``: only the node that
      ``apply`` records is in the graph, not the ops inside ``forward``.
    * ``backward(ctx, *grad_outputs)`` receives one gradient per output (a Tensor shaped like it)
      and returns one gradient per positional argument of ``forward`` (a Tensor, an array or None;
      None for non-Tensor arguments and for arguments that need no gradient). A gradient may have
      the broadcast shape; it is summed back to the input's shape, as in PyTorch.

    Then call ``MyFunction.apply(*args)``. With several outputs, ``backward`` is given zeros for
    the outputs the loss did not use.
    """

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"call {type(self).__name__}.apply(...) instead of making an instance: "
                           "apply runs forward and records the backward rule in the graph")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output(s). Every subclass defines it."""
        raise NotImplementedError("a Function subclass must define @staticmethod forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Turn the outputs' gradients into the inputs' gradients. Every subclass defines it."""
        raise NotImplementedError("a Function subclass must define @staticmethod backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` and record one graph node whose backward rule is ``cls.backward``."""
        needs = tuple(isinstance(a, _Tensor.cls) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outputs = (out,) if single else out
        parents = tuple(a for a in args if isinstance(a, _Tensor.cls))
        results = []
        for i, o in enumerate(outputs):
            if not isinstance(o, _Tensor.cls) or id(o) in ctx._non_differentiable or not o.data.dtype.kind == "f":
                results.append(_Tensor.cls._leaf(o.data) if isinstance(o, _Tensor.cls) else o)
                continue
            results.append(_Tensor.cls._result(o.data, parents, cls.__name__, _backward_rule(cls, ctx, args, outputs, i)))
        return results[0] if single else tuple(results)


def _backward_rule(cls, ctx, args, outputs, index):
    """The local rule of output ``index``: ``cls.backward`` with this output's gradient and zeros
    for the other outputs. When several outputs are used, the engine adds the parents' gradients
    of each call -- the same as one call with every gradient, because backward is linear in them."""
    positions = [k for k, a in enumerate(args) if isinstance(a, _Tensor.cls)]

    def backward(g):
        grads_out = [_Tensor.cls._leaf(g) if k == index else
                     (_Tensor.cls._leaf(np.zeros_like(o.data)) if isinstance(o, _Tensor.cls) else None)
                     for k, o in enumerate(outputs)]
        with no_grad():
            grads_in = cls.backward(ctx, *grads_out)
        if not isinstance(grads_in, tuple):
            grads_in = (grads_in,)
        if len(grads_in) < len(args):
            raise RuntimeError(f"{cls.__name__}.backward returned {len(grads_in)} gradient(s), but forward took "
                               f"{len(args)} argument(s): return one per argument (None where there is none)")
        return tuple(_input_grad(cls, grads_in[k], args[k], k) for k in positions)

    return backward


def _input_grad(cls, g, x, k):
    """Backward's result for argument ``k`` as an array shaped like ``x`` (or None)."""
    if g is None or not x.requires_grad:
        return None
    arr = np.asarray(g.data if isinstance(g, _Tensor.cls) else g)
    if arr.shape != x.data.shape:
        try:
            fits = np.broadcast_shapes(arr.shape, x.data.shape) == arr.shape  # x broadcast to arr's shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{cls.__name__}.backward returned a gradient of shape {arr.shape} for argument {k}, "
                             f"which has shape {x.data.shape}")
        arr = unbroadcast(arr, x.data.shape)
    return arr


DIFFERENTIABLE_OPS.append("autograd.Function")  # the mechanism; tests check it with example Functions


def _leaves_of(outputs):
    """Every leaf tensor that requires grad in the graphs behind ``outputs`` (an explicit stack)."""
    seen, stack, leaves = set(), list(outputs), []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._backward is None:
            if t.requires_grad:
                leaves.append(t)
        else:
            stack.extend(t._prev)
    return leaves


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None):
    """The gradients of ``outputs`` with respect to ``inputs``, returned instead of stored in ``.grad``.

    Args:
        outputs: a Tensor (a loss), or a sequence of Tensors whose gradients add up.
        inputs: a Tensor or a sequence of Tensors (leaves or intermediate results) to differentiate by.
        grad_outputs: dL/d(output) for each output (None: 1 for a one-element output).
        retain_graph: keep the graph for another backward (default: False, as ``create_graph``).
        create_graph: PyTorch's double backward; not supported here (one-line error).
        allow_unused: if True, an input the outputs do not depend on gets None; otherwise an error.

    Returns:
        A tuple with one gradient Tensor per input, shaped like it. No ``.grad`` anywhere changes.
    """
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): gradients of gradients (double backward) "
                                  "are not supported by micrograd_plus; the backward rules work on numpy arrays")
    outputs = (outputs,) if isinstance(outputs, _Tensor.cls) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, _Tensor.cls) else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, _Tensor.cls):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, _Tensor.cls) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} is not a Tensor that requires grad")
    # Backward stores into .grad; keep every leaf's .grad aside and put it back afterwards.
    watched = {id(t): t for t in _leaves_of(outputs) + list(inputs)}
    kept = {key: (t.grad, t._retain) for key, t in watched.items()}
    try:
        for t in watched.values():
            t.grad = None
        for t in inputs:
            t._retain = True
        retain = bool(retain_graph)
        for n, (out, g) in enumerate(zip(outputs, grad_outputs)):
            out.backward(g, retain_graph=retain or n < len(outputs) - 1)
        result = []
        for i, t in enumerate(inputs):
            if t.grad is None and not allow_unused:
                raise RuntimeError(f"autograd.grad: input {i} was not used to compute the outputs "
                                   "(pass allow_unused=True to get None for it)")
            result.append(None if t.grad is None else _Tensor.cls._leaf(np.asarray(getattr(t.grad, "data", t.grad))))
        return tuple(result)
    finally:
        for key, t in watched.items():
            t.grad, t._retain = kept[key]

