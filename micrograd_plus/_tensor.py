"""The tensor engine: :class:`Tensor`, an n-dimensional array that remembers how it was made.

This is the scalar engine (:mod:`micrograd_plus.scalar`) scaled up. A ``Value`` holds one number
and a ``Tensor`` holds a whole numpy array, but the idea is the same:

1. **Forward.** Every operation computes its result with numpy and, if any input wants a
   gradient, records a node with :func:`_result`: the result's parents (``_prev``), the
   operation's name (``_op``) and a small function, ``backward(g)``, that turns the gradient of
   the loss with respect to the result (``g``, shaped like the result) into gradients with
   respect to each parent. That function is the operation's *local* derivative rule, written
   right beside the forward code.
2. **Backward.** :meth:`Tensor.backward` sorts the recorded graph so that every node comes after
   everything that used it (a topological order, computed with a loop, not recursion, so a graph
   of a million nodes is fine: the same walk as ``Value.backward``'s,
   :func:`micrograd_plus.scalar.engine.topological_order`), then hands each node its gradient and
   sends the results on to its parents. A tensor used twice receives the *sum* of both gradients (the multivariable chain
   rule).

Both are in this file, first. The operations themselves (``+``, ``exp``, ``sum``, ``reshape``,
``@`` ...) live in :mod:`micrograd_plus.ops`, one small file per family, each op its forward and
its backward rule side by side; ``Tensor`` inherits them. Grad mode, the op registry and the
dtype rules are in :mod:`micrograd_plus.autograd`.

Three things make the array version different from the scalar one:

* **Broadcasting.** ``x (B, C) + b (C,)`` adds ``b`` to every row, so ``b`` influenced ``B``
  outputs and its gradient is the sum of those ``B`` rows
  (:func:`micrograd_plus.autograd.unbroadcast`).
* **Only leaves keep ``.grad``.** As in PyTorch, the tensors you created yourself (weights, inputs)
  receive ``.grad`` after ``backward``; intermediate results pass their gradient on and forget it
  (call :meth:`Tensor.retain_grad` on one to keep it). This keeps memory low.
* **In-place changes are counted.** ``x += 1``, ``x.add_(1)`` and ``x[0] = 0`` change ``x``'s own
  memory, as in PyTorch. A backward rule often needs the values its op saw (``x * w`` needs
  ``w`` to send a gradient to ``x``); if they were changed in place since, the gradient would be
  silently wrong. So every tensor carries a *version counter* (``t._version``), which each
  in-place change bumps; each recorded op notes the versions of what it used, and ``backward``
  compares before it runs the op's rule, refusing in one line that names both ops (see
  :func:`_check_saved`). In-place changes *inside* a graph are otherwise differentiable: the
  tensor takes the place of a new node whose parent is its old self (see :func:`_inplace`).
* **The graph is freed after backward.** Each node drops its parents and its saved arrays once its
  gradient has been sent on, unless ``backward(retain_graph=True)``. A second ``backward`` through
  a freed graph raises a clear ``RuntimeError``.

dtype rule (PyTorch's)
----------------------
The function :func:`tensor` (``torch.tensor``) copies and infers: Python floats become
**float32**, ints int64, bools bool, and a numpy array keeps its dtype (a float64 array stays
float64, which is what gradient checks use). The constructor ``Tensor(data)`` (``torch.Tensor``)
is float32 whatever ``data`` holds: a float32 array is shared, any other converted (a copy).
:func:`~micrograd_plus.from_numpy` shares an array and keeps its dtype. A Python number never
changes a float tensor's dtype (``x32 * 2.0`` is float32); an integer tensor meets a float
number or a true division as float32 (``tensor([1, 2]) / 2``).
Integer and boolean tensors are fine as indices and masks but cannot require gradients.
"""

import numpy as np

from micrograd_plus.autograd import (
    DEFAULT_FLOAT,
    DIFFERENTIABLE_OPS,
    _GradMode,
    _Tensor,
    check_dim,
    check_numeric,
    differentiable,
    enable_grad,
    float_dtype,
    is_float,
    is_grad_enabled,
    is_number,
    no_grad,
    result_dtype,
    unbroadcast,
)
from micrograd_plus.ops.arithmetic import ArithmeticOps
from micrograd_plus.ops.elementwise import ElementwiseOps
from micrograd_plus.ops.indexing import IndexingOps
from micrograd_plus.ops.inplace import InplaceOps
from micrograd_plus.ops.linalg import LinalgOps
from micrograd_plus.ops.reduce import ReductionOps
from micrograd_plus.ops.shape import ShapeOps
from micrograd_plus._size import Size
from micrograd_plus._device import CPU, as_device, device as _device_class
from micrograd_plus.random import get_generator
from micrograd_plus.scalar.engine import topological_order  # the one graph walk, Value's and Tensor's

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "empty", "arange", "linspace",
    "eye", "randn", "rand", "cat", "stack", "where", "maximum", "minimum", "einsum",
    "DIFFERENTIABLE_OPS",
]


class Tensor(ArithmeticOps, ElementwiseOps, ReductionOps, ShapeOps, IndexingOps, LinalgOps, InplaceOps):
    """An n-dimensional array of numbers with automatic differentiation.

    Args:
        *args: PyTorch's ``torch.Tensor`` arguments. ``Tensor(data)``, ``data`` a (nested) list,
            tuple or numpy array, is **float32** whatever ``data`` holds: a float32 array is
            shared (not copied), any other converted; ``Tensor(t)`` of a Tensor shares ``t`` (and
            its dtype). ``Tensor(2, 3)`` (ints) is a (2, 3) tensor of zeros, ``Tensor()`` an
            empty one. A number is refused (``torch.Tensor(2.5)`` is too): write ``tensor(2.5)``.
            :func:`tensor` copies and infers the dtype (a float64 array stays float64);
            :func:`~micrograd_plus.from_numpy` shares an array and keeps its dtype.
        requires_grad: if True, operations on this tensor are recorded, and ``backward`` fills
            its ``.grad``. Only floating-point tensors can require gradients. (This keyword and
            ``dtype`` are this library's; ``torch.Tensor`` refuses both.)
        dtype: a numpy dtype to convert to instead of float32 (shared when the array has it already).
        device: only the CPU (``"cpu"``, ``device("cpu")``) is accepted.

    Each tensor carries, as in PyTorch:

    * ``grad`` -- after ``backward``, a Tensor shaped like this one (with no graph of its own:
      ``w.grad.zero_()``, ``w.grad.norm()`` and ``w.grad = None`` all work), else None;
    * ``data`` -- the same numbers as a Tensor cut off from the graph, sharing memory with this
      one: ``p.data -= lr * p.grad`` changes ``p`` without being recorded (see :attr:`data`);
    * ``requires_grad`` -- whether gradients flow to this tensor.

    Underneath, the numbers are one numpy array, ``_data`` (``t.numpy()`` hands it out, shared);
    the engine, the kernels and the optimizers work on it directly. Two graph fields, ``_prev``
    (the tuple of tensors it was computed from) and ``_op`` (the operation's name, ``""`` for a
    leaf), are what :mod:`micrograd_plus.viz` draws.

    As in PyTorch, ``a == b`` (and ``!=``, ``<`` ...) compares element by element and gives a
    boolean tensor, while ``hash(t)`` is by identity, so tensors still work as dict keys and in
    sets. To find a tensor in a list, compare identities (``any(p is t for p in params)``):
    ``t in params`` would compare elements.

    Example::

        x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)   # (2, 2) float32
        y = (x * x).sum()                                           # () : 30.0
        y.backward()
        x.grad                                                      # 2 * x
    """

    __slots__ = ("_data", "_grad", "requires_grad", "_prev", "_backward", "_op", "_retain", "_vc", "_saved",
                 "__weakref__")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """What numpy does when a ufunc meets a Tensor (``array + t``, ``np.exp(t)``, ``np.isnan(t)``).

        A ufunc that is also a Tensor op (``+ - * / ** @``, comparisons, ``exp``, ``log``,
        ``abs`` ...) runs as that op: the answer is a Tensor, in the graph, with PyTorch's dtype
        rules. Any other ufunc (or a reduction such as ``np.add.reduce``, or ``out=``) sees the
        plain arrays and answers with a numpy array, cut off from the graph.
        """
        name = _UFUNC_OPS.get(ufunc.__name__) if method == "__call__" and not kwargs else None
        if name is not None:
            first = inputs[0]
            if not isinstance(first, Tensor):  # array + t: the array as a Tensor, then t's rule
                first = _operand(first, inputs[1])
                if first is None:
                    return NotImplemented
            return getattr(first, name)(*inputs[1:])
        arrays = [x._data if isinstance(x, Tensor) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(x._data if isinstance(x, Tensor) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*arrays, **kwargs)

    def __abs__(self):
        return self.abs()
    # ``==`` is elementwise (ops/arithmetic.py), so the hash is by identity, as in PyTorch.
    __hash__ = object.__hash__

    def __init__(self, *args, requires_grad=False, dtype=None, device=None):
        # PyTorch's legacy constructor, with its sharing and dtype rules (see _constructor_array);
        # requires_grad= and dtype= are this library's additions (torch.Tensor refuses both, so no
        # PyTorch program meets them).
        as_device(device, "Tensor()")
        if len(args) == 1 and isinstance(args[0], Tensor) and dtype is None:
            _alias(self, args[0], requires_grad)
            return
        _init_leaf(self, _constructor_array(args, dtype), requires_grad)

    # ---- backward: the reason this class exists ---------------------------------------------

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
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient only works for one-element outputs (a loss); "
                    f"this tensor has shape {self._data.shape}: pass grad= shaped like it, or reduce "
                    "it first (e.g. .sum() or .mean())"
                )
            grad = np.ones_like(self._data)
        else:
            grad = grad._data if isinstance(grad, Tensor) else np.asarray(grad)
            if grad.shape != self._data.shape:
                raise ValueError(
                    f"backward(): grad has shape {grad.shape} "
                    f"but the tensor has shape {self._data.shape}"
                )
            if grad.dtype != self._data.dtype:
                grad = grad.astype(self._data.dtype)

        if self._backward is None:  # backward() on a leaf: its gradient is just `grad`
            _store_grad(self, grad, {id(grad)})
            return

        # 1) Every recorded node this one depends on, each after the nodes it was computed
        #    from: the scalar engine's walk (an explicit stack, no recursion), stepping only
        #    into results that need a gradient; leaves get theirs straight into .grad below.
        order = topological_order(self, children=_recorded_parents)

        # 2) Walk it from the output back towards the inputs. `grads` holds dL/d(node) for the
        #    nodes still waiting; leaves receive theirs straight into `.grad`.
        grads = {id(self): grad}
        stored = {id(grad)}  # arrays already stored in some .grad (see _store_grad)
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._saved is not None:  # were the values this op used changed in place since?
                _check_saved(node)
            if node._retain:  # retain_grad(): keep this intermediate gradient too
                _store_grad(node, g, stored)
            parent_grads = node._backward(g)
            prev = node._prev
            if not retain_graph:  # free the saved arrays now; a second backward raises
                node._backward = _freed_backward
                node._prev = ()
                node._saved = None
            for p, pg in zip(prev, parent_grads):
                if pg is None or not p.requires_grad:
                    continue
                if pg.__class__ is not np.ndarray:  # a numpy scalar from a 0-d rule
                    pg = np.asarray(pg)
                if pg.dtype != p._data.dtype:  # e.g. a float32 weight used in a float64 op
                    pg = pg.astype(p._data.dtype)
                if p._backward is None:
                    _store_grad(p, pg, stored)  # a leaf: accumulate into .grad
                else:
                    key = id(p)
                    old = grads.get(key)
                    grads[key] = pg if old is None else old + pg  # a reused tensor: grads add up

    # The ops (in micrograd_plus/ops/) make their results with these three:

    @staticmethod
    def _result(data, parents, op, backward):
        """See :func:`_result`."""
        return _result(data, parents, op, backward)

    @staticmethod
    def _leaf(data):
        """See :func:`_leaf`."""
        return _leaf(data)

    def _inplace(self, op, fn, *others, write=None):
        """See :func:`_inplace` (the in-place ops of :mod:`micrograd_plus.ops.inplace` end with it)."""
        return _inplace(self, op, fn, *others, write=write)

    @staticmethod
    def _operand(x, like=None):
        """``x`` as a Tensor (see :func:`_operand`), or None when it is not a number/array/Tensor."""
        return _operand(x, like)

    # ---- .data and .grad, PyTorch's two views of a parameter --------------------------------

    @property
    def data(self):
        """The values as a new Tensor that shares this one's memory but not its graph.

        This is PyTorch's ``.data``: it does not require grad, and changing it in place changes
        this tensor without autograd noticing -- which is what a hand-written update wants
        (``p.data -= lr * p.grad``) and why it is dangerous inside a graph (prefer
        ``with no_grad(): p -= lr * p.grad``). Assigning a Tensor (``p.data = new``) makes this
        tensor hold ``new``'s values (shared, any shape).
        """
        return _leaf(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f".data = ...: expected a Tensor, got {type(value).__name__} "
                            "(wrap an array with micrograd_plus.tensor(a), or write p.data.copy_(...))")
        self._data = value._data

    @property
    def grad(self):
        """dL/d(this tensor) after ``backward`` -- a Tensor shaped like this one, or None.

        It has no graph of its own (``requires_grad`` is False). Gradients *accumulate* into it:
        every ``backward`` adds to what is there, so reset it between steps (``opt.zero_grad()``,
        ``p.grad = None`` or ``p.grad.zero_()``).
        """
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: {value._data.shape}, "
                                   f"but the tensor has shape {self._data.shape}")
        self._grad = value

    # ---- basic properties -------------------------------------------------------------------

    @property
    def shape(self):
        """The shape: a :class:`~micrograd_plus.Size`, PyTorch's ``torch.Size`` (a tuple of ints:
        ``t.shape == (2, 3)``, ``B, T = t.shape``; and ``t.shape.numel()``)."""
        return _new_size(Size, self._data.shape)  # no checks: numpy's shape is already ints

    @property
    def dtype(self):
        """The numpy dtype of ``data``."""
        return self._data.dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return self._data.ndim

    def size(self, dim=None):
        """The shape, a :class:`~micrograd_plus.Size` (PyTorch's ``t.size()``); ``t.size(d)`` is the length along ``d``.

        The number of elements is :meth:`numel`.
        """
        if dim is None:
            return _new_size(Size, self._data.shape)
        return self._data.shape[check_dim(dim, self._data.ndim)]

    @property
    def device(self):
        """Where the numbers live: always ``device(type='cpu')`` here."""
        return CPU

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """PyTorch's ``to``: ``t.to(dtype)``, ``t.to("cpu")``, ``t.to(device, dtype)``, ``t.to(other)``.

        Converting the dtype is differentiable between floats (see :meth:`astype`). The only
        device is the CPU; any other raises. Returns ``self`` when nothing changes (unless
        ``copy=True``), as PyTorch does.
        """
        for a in args:
            if isinstance(a, Tensor):  # t.to(other): other's dtype (and device)
                dtype = a._data.dtype if dtype is None else dtype
            elif isinstance(a, _device_class) or (isinstance(a, str) and a.partition(":")[0] in _DEVICE_WORDS):
                device = a
            elif dtype is None:
                dtype = a
            else:
                raise TypeError(f"to(): got more than one dtype ({dtype!r} and {a!r})")
        as_device(device, "to()")
        out = self if dtype is None else self.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self):
        """This tensor (it already lives on the CPU)."""
        return self

    def cuda(self, device=None, non_blocking=False):
        """Refused: this library computes on the CPU only."""
        return as_device("cuda" if device is None else device if not isinstance(device, int) else f"cuda:{device}",
                         "cuda()")

    def type(self, dtype=None):
        """With no argument, the dtype's name (``"float32"``); with one, a copy of that dtype (as :meth:`to`)."""
        if dtype is None:
            return str(self._data.dtype)
        return self.astype(dtype)

    def pow(self, exponent):
        """``self ** exponent`` (PyTorch's method spelling)."""
        return self ** exponent

    @property
    def grad_fn(self):
        """The op that made this tensor, as PyTorch shows it (``<MulBackward0>``); None for a leaf.

        ``grad_fn.next_functions`` leads on to the ops that made its inputs: a tuple with one
        ``(node, 0)`` per input, where the node is ``AccumulateGrad`` for a leaf that requires
        grad (its gradient is stored in ``.grad``) and None for a constant.
        """
        return _Node(self) if self._backward is not None else None

    def dim(self):
        """Number of dimensions (PyTorch's spelling of :attr:`ndim`)."""
        return self._data.ndim

    def numel(self):
        """Number of elements (PyTorch's spelling)."""
        return self._data.size

    def nelement(self):
        """Number of elements: PyTorch's other name for :meth:`numel` (``sum(p.nelement() for p in params)``)."""
        return self._data.size

    @property
    def is_leaf(self):
        """True for tensors you created (not the result of a recorded operation)."""
        return self._backward is None

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        """Iterate over the first dimension (each item a differentiable slice)."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats a 0-d tensor as its number, as in PyTorch."""
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} passed to Tensor.__format__: only a 0-d tensor "
                            f"formats as a number, this one has shape {self._data.shape} (use .item() or format "
                            "the elements)")
        return str(self)

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", precision=4, threshold=50, prefix="Tensor(")
        extra = f", dtype={self._data.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        if self._op:
            extra += f", op={self._op!r}"
        return f"Tensor({body}{extra})"

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self._data.size} elements (shape {self._data.shape}) is "
                "ambiguous; use .any() or .all(), or compare .item()"
            )
        return bool(self._data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.size != 1 or self._data.dtype.kind not in "iu":
            raise TypeError(
                "only integer tensors of one element can be used as an "
                f"index, got {self._data.dtype} of shape {self._data.shape}"
            )
        return int(self._data.item())

    def __array__(self, dtype=None, copy=None):
        """Let ``np.asarray(t)`` (and matplotlib) see the values; the result is cut off from the graph."""
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with exactly one element, got shape {self._data.shape}")
        return self._data.item()

    def numpy(self):
        """The underlying numpy array (shared, not copied: changing one changes the other)."""
        return self._data

    def tolist(self):
        """The values as (nested) Python lists."""
        return self._data.tolist()

    def detach(self):
        """A new tensor sharing this one's memory but cut off from the graph (no gradient flows back).

        Unlike :attr:`data`, it also shares the version counter, as in PyTorch: changing the
        detached tensor in place is seen by a backward that saved this one.
        """
        return _leaf(self._data, self._vc)

    def clone(self):
        """A copy of the data that stays in the graph (the gradient passes through unchanged)."""
        return _result(self._data.copy(), (self,), "clone", lambda g: (g,))

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (on a leaf) and return self."""
        if requires_grad and not is_float(self._data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self._data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate (non-leaf) tensor after ``backward``."""
        self._retain = True
        return self

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has had (PyTorch's ``t._version``)."""
        return self._vc.version

    def _bumped(self, op):
        """Count an in-place change made by ``op`` (its name, for the error backward may raise)."""
        vc = self._vc
        vc.version += 1
        vc.last_op = op

    def zero_grad(self):
        """Forget the accumulated gradient (set ``.grad`` to None)."""
        self._grad = None


DIFFERENTIABLE_OPS.append("clone")
_Tensor.cls = Tensor  # what autograd.Function and autograd.grad make their results with

# the device types a string given to Tensor.to() may start with (any other string is a dtype name)
_DEVICE_WORDS = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "mtia", "hpu")


class _Node:
    """A recorded op as ``t.grad_fn`` shows it: its PyTorch-style name and ``next_functions``."""

    __slots__ = ("_tensor",)

    def __init__(self, tensor):
        self._tensor = tensor

    def name(self):
        """``"MulBackward0"`` for the node of a ``*``: the op's name, capitalised, then ``Backward0``."""
        return _backward_name(self._tensor._op)

    @property
    def next_functions(self):
        """One ``(node, 0)`` per input: its op's node, ``AccumulateGrad`` for a leaf, None for a constant."""
        out = []
        for p in self._tensor._prev:
            if not p.requires_grad:
                out.append((None, 0))
            elif p._backward is None:
                out.append((_AccumulateGrad(p), 0))
            else:
                out.append((_Node(p), 0))
        return tuple(out)

    def __eq__(self, other):
        return type(other) is type(self) and other._tensor is self._tensor

    def __hash__(self):
        return id(self._tensor)

    def __repr__(self):
        return f"<{self.name()} object>"


class _AccumulateGrad(_Node):
    """Where the gradient of a leaf ends: ``variable`` is the leaf, whose ``.grad`` receives it."""

    __slots__ = ()

    @property
    def variable(self):
        return self._tensor

    def name(self):
        return "AccumulateGrad"

    @property
    def next_functions(self):
        return ()


# numpy ufuncs that Tensor has as ops (see Tensor.__array_ufunc__): ufunc name -> Tensor method
_UFUNC_OPS = {
    "add": "__add__", "subtract": "__sub__", "multiply": "__mul__", "divide": "__truediv__",
    "true_divide": "__truediv__", "power": "__pow__", "matmul": "__matmul__", "negative": "__neg__",
    "equal": "__eq__", "not_equal": "__ne__", "less": "__lt__", "less_equal": "__le__",
    "greater": "__gt__", "greater_equal": "__ge__", "absolute": "abs", "exp": "exp", "log": "log",
    "sqrt": "sqrt", "tanh": "tanh", "sin": "sin", "cos": "cos", "maximum": "maximum", "minimum": "minimum",
}

# ----------------------------------------------------------------------------------------------
# Making result nodes and leaves
# ----------------------------------------------------------------------------------------------


class _VersionCounter:
    """How many times a tensor's memory was changed in place, and by which op last.

    Tensors that share memory because one is a view of the other share one counter.
    """

    __slots__ = ("version", "last_op")

    def __init__(self):
        self.version = 0
        self.last_op = ""


_new = object.__new__
_new_size = tuple.__new__  # Size(shape) without Size.__new__'s checks


def _result(data, parents, op, backward):
    """Wrap an op's output ``data``; record the node if grad mode is on and a parent needs grad.

    ``backward(g)`` receives dL/d(output) (an array shaped like ``data``) and returns a tuple with
    one entry per parent: that parent's gradient (shaped like the parent) or None.
    """
    if data.__class__ is not np.ndarray:  # ufuncs on 0-d arrays return numpy scalars
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t._retain = False
    # A view (reshape, transpose, a slice ...) shares its parent's memory, so it shares its
    # version counter too: changing either in place is a change of both.
    t._vc = _shared_counter(data, parents) if data.base is not None else _VersionCounter()
    t._saved = None
    if _GradMode.enabled:
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._prev = parents
                t._backward = backward
                t._op = op
                t._saved = _versions_used(t, parents, backward)
                return t
    t.requires_grad = False
    t._prev = ()
    t._backward = None
    t._op = ""
    return t


def _inplace(t, op, fn, *others, write=None):
    """Make ``t`` hold ``fn(t, *others)`` in its own memory: every in-place op (``op`` its name,
    ``"add_"``) is an ordinary op ``fn`` whose result is written back. Returns ``t``.
    ``write(array)``, when given, does the same straight into the array; it is used outside a graph.

    The rules are PyTorch's:

    * Outside a graph (under ``no_grad``, or when nothing involved requires grad) the values are
      simply overwritten -- ``with no_grad(): w -= lr * w.grad`` is a training step.
    * A leaf that requires grad (a weight) may not be changed in place while the graph is
      recorded: its old value is what the gradient is about.
    * Inside a graph the change is differentiable. ``t`` gives its place in the graph to
      ``old``, a copy of its previous values that takes over its node, and becomes the result
      of ``fn(old, ...)``: for ``y = x * 2; y.add_(1)`` the graph reads x -> mul -> old -> add_ -> y.
    * Each change bumps ``t``'s version counter, so ops that used the old values refuse to run
      their backward later (:func:`_check_saved`).
    """
    grad_on = _GradMode.enabled
    if grad_on and t.requires_grad and t._backward is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    if not (grad_on and (t.requires_grad or any(getattr(o, "requires_grad", False) for o in others))):
        if write is not None:  # straight into the array: no copy of the whole tensor
            _check_writeable(t, op)
            write(t._data)
            t._bumped(op)
            return t
        with no_grad():
            _write_into(t, fn(t, *others), op)
        return t
    if t._backward is not None and any(np.may_share_memory(t._data, p._data) for p in t._prev):
        raise RuntimeError(
            f"{op}: this tensor is a view ({t._op}) of a tensor that requires grad; changing a view in place "
            "inside the graph is not supported here: change the tensor it views (y[0] = ... rather than "
            "v = y[0]; v.fill_(...)), or .clone() the view first"
        )
    old = _new(Tensor)  # t as it was: takes over t's node, with its own copy of the old values
    old._data = t._data.copy()
    old._grad = None
    old.requires_grad = t.requires_grad
    old._prev, old._backward, old._op, old._saved = t._prev, t._backward, t._op, t._saved
    old._retain = False
    old._vc = _VersionCounter()
    others = tuple(old if o is t else o for o in others)  # y.mul_(y) uses the old y twice
    out = fn(old, *others)  # an ordinary recorded op with `old` among its parents
    _write_into(t, out, op)
    t.requires_grad = out.requires_grad
    t._prev, t._backward, t._saved = out._prev, out._backward, out._saved
    t._op = op if out._backward is not None else ""
    return t


def _write_into(t, out, op):
    """Copy ``out``'s values into ``t``'s memory (same shape; a dtype ``t`` can hold) and count it."""
    y = out._data
    if y.shape != t._data.shape:
        raise RuntimeError(f"{op}: output with shape {tuple(t._data.shape)} doesn't match the broadcast "
                           f"shape {tuple(y.shape)} (an in-place op cannot change the shape of its tensor)")
    if y.dtype != t._data.dtype and not np.can_cast(y.dtype, t._data.dtype, "same_kind"):
        raise RuntimeError(f"{op}: result type {y.dtype} can't be cast to the desired output type "
                           f"{t._data.dtype} (convert first, e.g. x = x.float())")
    _check_writeable(t, op)
    np.copyto(t._data, y, casting="unsafe")
    t._bumped(op)


def _check_writeable(t, op):
    if not t._data.flags.writeable:
        raise RuntimeError(f"{op}: this tensor's memory is read-only (a broadcast view, e.g. from expand(), "
                           "shares one element among many); .clone() it first")


def _shared_counter(data, parents):
    """The version counter of the parent whose memory ``data`` is a view of, else a new one."""
    for p in parents:
        if np.may_share_memory(data, p._data):
            return p._vc
    return _VersionCounter()


def _versions_used(t, parents, backward):
    """What a recorded op notes for :func:`_check_saved`: ``(counter, version, what)`` for each input,
    and for its output too when the backward rule reads the output array (``exp``: g * y).

    PyTorch checks only the tensors an op *saved*; here every input is noted, which is stricter:
    a tensor that an op used must not change in place before ``backward`` passes that op. The
    reason is that this engine's graph edges point at tensors, not at separate nodes: a tensor
    changed in place inside the graph becomes a new node, so an op that used its old value could
    otherwise send its gradient to the new one.
    """
    used = tuple((p._vc, p._vc.version, i) for i, p in enumerate(parents))
    for cell in backward.__closure__ or ():
        try:
            if cell.cell_contents is t._data:
                return used + ((t._vc, t._vc.version, "output"),)
        except ValueError:  # an empty cell
            pass
    return used


def _check_saved(node):
    """Refuse (one line) to run ``node``'s backward rule if something it used changed in place since."""
    for vc, version, what in node._saved:
        if vc.version != version:
            if what == "output":
                which, shape_of = "its output", node
            else:
                which, shape_of = f"its input {what}", node._prev[what]
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: {which} (shape {tuple(shape_of._data.shape)}, {shape_of._data.dtype}) of "
                f"{_backward_name(node._op)} was changed by {vc.last_op} after {node._op} used it "
                f"(it is at version {vc.version}; {node._op} saw version {version}). Make that change "
                "out of place (y = y + 1 rather than y += 1), or on a .clone()"
            )


def _backward_name(op):
    """PyTorch's name for the backward node of ``op``: ``"mul"`` -> ``"MulBackward0"``."""
    return "".join(part.capitalize() for part in op.strip("_").split("_")) + "Backward0"


def _leaf(data, vc=None):
    """A plain Tensor (no graph) around an array, without the checks of ``Tensor.__init__``.

    ``vc``: the version counter to share (:meth:`Tensor.detach` shares its tensor's), else a new one.
    """
    if data.__class__ is not np.ndarray:
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._grad = None
    t.requires_grad = False
    t._prev = ()
    t._backward = None
    t._op = ""
    t._retain = False
    t._vc = _VersionCounter() if vc is None else vc
    t._saved = None
    return t


def _init_leaf(t, arr, requires_grad=False):
    """Fill the fields of a new leaf ``t`` around ``arr`` (kept as it is: shared, its dtype)."""
    if requires_grad and not is_float(arr.dtype):
        raise TypeError(
            f"only floating-point tensors can require gradients, got dtype {arr.dtype} "
            "(write 1.0 instead of 1, or pass dtype=np.float32)"
        )
    t._data = arr
    t._grad = None
    t.requires_grad = bool(requires_grad)
    t._prev = ()
    t._backward = None
    t._op = ""
    t._retain = False
    t._vc = _VersionCounter()
    t._saved = None


def _wrap(arr, requires_grad=False):
    """A leaf Tensor around the numpy array ``arr`` as it is: not copied, its dtype kept.

    The door the creation functions (``zeros``, ``tensor``, ``randn`` ...) and the library's own
    code use; ``Tensor(arr)`` follows ``torch.Tensor`` instead (float32, copying other dtypes).
    """
    t = _new(Tensor)
    _init_leaf(t, check_numeric(arr), requires_grad)
    return t


def _alias(t, src, requires_grad):
    """Make ``t`` what ``torch.Tensor(src)`` is: ``src``'s memory and dtype, and, when ``src`` is
    in a graph, a step of that graph (gradients flow through ``t`` to ``src``)."""
    out = _result(src._data.view(), (src,), "alias", lambda g: (g,))  # a view: shares the version counter
    for slot in ("_data", "_grad", "requires_grad", "_prev", "_backward", "_op", "_retain", "_vc", "_saved"):
        setattr(t, slot, getattr(out, slot))
    if requires_grad and not t.requires_grad:
        _init_leaf(t, t._data, True)
        t._vc = out._vc


def _is_size(x):
    """An int as ``torch.Tensor`` reads it: a size (``Tensor(2, 3)``), numpy's ints included."""
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, np.ndarray):
        return x.ndim == 0 and x.dtype.kind in "iu"
    return isinstance(x, (int, np.integer))


def _constructor_array(args, dtype):
    """The array ``Tensor(*args)`` holds, by ``torch.Tensor``'s rules.

    * ``Tensor()`` is empty, ``Tensor(2, 3)`` (ints: sizes) is a (2, 3) tensor -- of zeros here, where
      PyTorch leaves the memory uninitialised (see :func:`empty`).
    * ``Tensor(data)``, ``data`` a list, tuple or numpy array, is **float32** whatever ``data`` holds
      (int64, bool and float64 arrays included): a float32 array is *shared* (changing one changes
      the other, as in PyTorch), any other is converted, which copies. A number is refused, as
      ``torch.Tensor(2.5)`` is: write ``tensor(2.5)``.
    * ``dtype=`` (this library's addition) converts to that dtype instead of float32 (shared when the
      array already has it).

    ``tensor(data)`` copies and infers the dtype (a float64 array stays float64); ``from_numpy(a)``
    shares and keeps the dtype: the other two doors.
    """
    target = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
    if not args:
        return np.zeros(0, dtype=target)
    if len(args) == 1 and isinstance(args[0], Tensor):  # Tensor(t, dtype=...): t converted
        return args[0]._data.astype(target, copy=False)
    if all(_is_size(a) for a in args) or (len(args) == 1 and _is_size_tuple(args[0])):
        shape = tuple(int(a) for a in (args[0] if len(args) == 1 and _is_size_tuple(args[0]) else args))
        if any(n < 0 for n in shape):
            raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
        return np.zeros(shape, dtype=target)
    if len(args) > 1:
        raise TypeError(f"Tensor(*sizes) takes ints (Tensor(2, 3)), got {', '.join(type(a).__name__ for a in args)}; "
                        "for a tensor of these values write tensor([...])")
    data = args[0]
    if isinstance(data, (float, bool, complex, np.generic)):
        raise TypeError(f"Tensor(data) needs a sequence or an array, got the number {data!r} (as torch.Tensor does: "
                        f"an int there is read as a size); for a 0-d tensor write tensor({data!r})")
    if isinstance(data, (str, bytes)):
        raise TypeError(f"cannot make a Tensor from a {type(data).__name__} ({data!r:.40}): tensors hold numbers")
    if isinstance(data, np.ndarray):
        return check_numeric(data).astype(target, copy=False)
    try:
        arr = np.asarray(data)
    except ValueError:  # numpy refuses ragged nested lists
        raise TypeError("cannot make a Tensor from ragged nested lists (every row must have the same length)") from None
    return check_numeric(arr).astype(target, copy=False)


def _is_size_tuple(x):
    """A ``Size`` (``t.shape``) given whole: ``Tensor(t.shape)`` reads it as sizes, as PyTorch does."""
    return isinstance(x, Size)


def _as_array(data, dtype=None):
    """Convert user data to a numpy array following the dtype rule in the module docstring."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        if isinstance(data, (str, bytes)):
            raise TypeError(
                f"cannot make a Tensor from a {type(data).__name__} "
                f"({data!r:.40}): tensors hold numbers"
            )
        try:
            arr = np.asarray(data)
        except ValueError:  # numpy refuses ragged nested lists
            raise TypeError(
                "cannot make a Tensor from ragged nested "
                "lists (every row must have the same length)"
            ) from None
        if arr.dtype == np.float64 and dtype is None:  # Python floats -> float32, as in PyTorch
            arr = arr.astype(np.float32)  # (with a dtype given, they go to it straight, never via float32)
    check_numeric(arr)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
    return arr


def _operand(x, like=None):
    """The other operand of a binary op as a Tensor, or None if it is not a number/array/Tensor.

    A Python number next to ``like`` takes the dtype PyTorch would give the result
    (:func:`micrograd_plus.autograd.scalar_dtype`), so ``x32 * 2.0`` stays float32.
    """
    if isinstance(x, Tensor):
        return x
    if is_number(x):
        if like is not None:
            from_scalar = np.asarray(x.item() if isinstance(x, np.generic) else x)
            dt = like._data.dtype
            if isinstance(x, (float, np.floating)) and dt.kind != "f":
                dt = float_dtype(dt)
            elif isinstance(x, (bool, np.bool_)):
                dt = dt if dt.kind != "b" else np.dtype(bool)
            elif dt.kind == "b":
                dt = np.dtype(np.int64)
            return _leaf(from_scalar.astype(dt))
        return _leaf(_as_array(x))
    if isinstance(x, (np.ndarray, list, tuple)):
        try:
            return _leaf(_as_array(x))
        except TypeError:
            return None
    return None


def _recorded_parents(node):
    """The inputs of ``node`` that :meth:`Tensor.backward` walks into: recorded results that need
    a gradient. Leaves are not walked (they receive theirs straight into ``.grad``), nor are
    tensors that need none (constants, results computed under ``no_grad``)."""
    return [p for p in node._prev if p._backward is not None and p.requires_grad]


def _freed_backward(g):
    raise RuntimeError(
        "Trying to backward through the graph a second time (or through part of a graph that was "
        "already used by an earlier backward). The saved arrays were freed after the first "
        "backward; call .backward(retain_graph=True) the first time if you need to go through "
        "the graph again."
    )


def _store_grad(t, g, stored):
    """Accumulate ``g`` (an array) into ``t.grad`` (a Tensor).

    Backward rules never modify arrays in place and the sums in ``backward`` make new arrays, so
    while gradients flow, one array may safely be shared (``a + b`` hands the same ``g`` to both).
    What ends up in a ``.grad`` must be an array of its own, because optimizers and gradient
    clipping update it in place: views, read-only arrays (from ``broadcast_to``) and arrays
    already stored in another ``.grad`` (ids in ``stored``) are copied first.
    """
    old = t._grad
    if old is None:
        if g.__class__ is not np.ndarray:  # a numpy scalar from a 0-d op
            g = np.array(g)
        elif g.base is not None or not g.flags.writeable or id(g) in stored:
            g = g.copy()
        stored.add(id(g))
        t._grad = _leaf(g)
    elif old._data.flags.writeable and old._data.dtype == g.dtype:
        np.add(old._data, g, out=old._data)  # in place, as PyTorch accumulates
    else:  # a read-only gradient set by hand: a new array
        t._grad = _leaf(old._data + g)


# ----------------------------------------------------------------------------------------------
# Creating tensors (torch.zeros, torch.arange, ...)
# ----------------------------------------------------------------------------------------------


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new Tensor holding a copy of ``data`` (PyTorch's ``torch.tensor``).

    ``data`` is a number, a (nested) list, a numpy array or a Tensor. Python floats give float32,
    Python ints int64, bools bool; numpy arrays keep their dtype (a float64 array stays float64:
    how gradient checks make their inputs); ``dtype=`` overrides. ``device`` may only name the CPU.
    The result never shares memory with ``data``, so changing one leaves the other alone. (The
    other two doors: ``Tensor(data)``, PyTorch's legacy constructor, always float32; and
    ``from_numpy(array)``, which shares the array and keeps its dtype.)
    """
    as_device(device, "tensor()")
    src = data._data if isinstance(data, Tensor) else data
    arr = _as_array(np.array(src) if isinstance(src, np.ndarray) else src, dtype)  # np.array copies
    return _wrap(arr, requires_grad)


def zeros(*shape, dtype=np.float32, device=None, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``. ``device`` may only name the CPU (as for
    every creation function here)."""
    as_device(device, "zeros()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    return _wrap(np.zeros(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, device=None, requires_grad=False):
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    as_device(device, "ones()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    return _wrap(np.ones(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)


def empty(*shape, dtype=np.float32, device=None, requires_grad=False):
    """An uninitialised tensor (here: zeros, so nothing random leaks in)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def _fill_dtype(fill_value, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(fill_value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(fill_value, (int, np.integer)):
        return np.dtype(np.int64)
    return np.dtype(np.float32)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` (a tuple) filled with ``fill_value``; an int fill gives int64, a float
    fill float32, as in PyTorch."""
    as_device(device, "full()")
    shape = (int(size),) if isinstance(size, (int, np.integer)) else tuple(size)
    return _wrap(np.full(shape, fill_value, dtype=_fill_dtype(fill_value, dtype)), requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    """Zeros shaped like ``input`` (a Tensor or array), with its dtype unless ``dtype`` is given."""
    as_device(device, "zeros_like()")
    x = _as_array(input)
    return _wrap(np.zeros(x.shape, dtype=dtype or x.dtype), requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    """Ones shaped like ``input``, with its dtype unless ``dtype`` is given."""
    as_device(device, "ones_like()")
    x = _as_array(input)
    return _wrap(np.ones(x.shape, dtype=dtype or x.dtype), requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` everywhere, shaped like ``input``, with its dtype unless ``dtype`` is given."""
    as_device(device, "full_like()")
    x = _as_array(input)
    return _wrap(np.full(x.shape, fill_value, dtype=dtype or x.dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """``start, start + step, ...`` up to but excluding ``end`` (``arange(5)`` is 0..4), 1-D.

    As in PyTorch: all-integer arguments give int64, any float argument gives float32.
    """
    as_device(device, "arange()")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dtype = np.int64 if ints else np.float32
    n = max(int(np.ceil((end - start) / step)), 0)  # computed in float64, then cast, as torch does
    return _wrap((start + step * np.arange(n, dtype=np.float64)).astype(dtype)
                  if np.dtype(dtype).kind == "f" else np.arange(start, end, step, dtype=dtype),
                  requires_grad=requires_grad)


def linspace(start, end, steps, dtype=np.float32, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, 1-D."""
    as_device(device, "linspace()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    return _wrap(np.linspace(start, end, steps).astype(dtype), requires_grad=requires_grad)


def eye(n, m=None, dtype=np.float32, device=None, requires_grad=False):
    """The (n, m) identity matrix: ones on the diagonal, zeros elsewhere (m defaults to n)."""
    as_device(device, "eye()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    return _wrap(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None):
    """Standard-normal random numbers, drawn from ``generator`` (a :class:`~micrograd_plus.Generator`,
    see :mod:`micrograd_plus.random`): ``randn(2, 3)`` or ``randn((2, 3))``."""
    as_device(device, "randn()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    rng = get_generator(generator)
    return _wrap(rng.standard_normal(_shape_args(shape)).astype(dtype), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None):
    """Uniform random numbers in [0, 1), drawn from ``generator``."""
    as_device(device, "rand()")
    dtype = np.float32 if dtype is None else dtype  # dtype=None means the default, as in PyTorch
    rng = get_generator(generator)
    return _wrap(rng.random(_shape_args(shape)).astype(dtype), requires_grad=requires_grad)


# ----------------------------------------------------------------------------------------------
# Ops of several tensors (torch.cat, torch.where, torch.einsum, ...)
# ----------------------------------------------------------------------------------------------


def _tensors(tensors, what):
    out = []
    for t in tensors:
        o = _operand(t)
        if o is None:
            raise TypeError(f"{what}: expected Tensors, got a {type(t).__name__}")
        out.append(o)
    if not out:
        raise ValueError(f"{what} needs at least one tensor")
    return _promote(out)


def _promote(tensors):
    """Cast a list of tensors to their common (PyTorch-promoted) dtype; the casts are differentiable."""
    dt = tensors[0]._data.dtype
    for t in tensors[1:]:
        dt = result_dtype(dt, t._data.dtype)
    return [t if t._data.dtype == dt else t.astype(dt) for t in tensors]


@differentiable
def cat(tensors, dim=0):
    """Concatenate tensors along an existing dimension ``dim``; backward splits ``g`` back.

    Shapes must agree except along ``dim``: (2, 3) and (4, 3) along dim 0 give (6, 3).
    """
    tensors = _tensors(tensors, "cat")
    nd = tensors[0]._data.ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    dim = check_dim(dim, nd)
    try:
        y = np.concatenate([t._data for t in tensors], axis=dim)
    except ValueError as e:
        raise ValueError(
            f"cat along dim {dim}: shapes "
            f"{[t.shape for t in tensors]} do not fit: {e}"
        ) from None
    bounds = np.cumsum([t._data.shape[dim] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=dim))

    return _result(y, tuple(tensors), "cat", backward)


@differentiable
def stack(tensors, dim=0):
    """Stack same-shaped tensors along a new dimension ``dim``; backward unstacks ``g``.

    n tensors of shape (3, 4) stacked at dim 1 give (3, n, 4).
    """
    tensors = _tensors(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of equal shape, got {[t.shape for t in tensors]}")
    dim = check_dim(dim, tensors[0]._data.ndim + 1)
    y = np.stack([t._data for t in tensors], axis=dim)
    n = len(tensors)

    def backward(g):
        return tuple(np.take(g, i, axis=dim) for i in range(n))

    return _result(y, tuple(tensors), "stack", backward)


@differentiable
def where(condition, input, other):
    """Pick from ``input`` where ``condition`` is True, else from ``other`` (all broadcast together).

    Gradients flow to ``input`` where the condition holds and to ``other`` elsewhere.
    """
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    like = input if isinstance(input, Tensor) else (other if isinstance(other, Tensor) else None)
    x, y = _operand(input, like), _operand(other, like)
    if x is None or y is None:
        raise TypeError(
            "where: input and other must be Tensors, arrays or numbers, "
            f"got {type(input).__name__} and {type(other).__name__}"
        )
    x, y = _promote([x, y])
    try:
        out = np.where(cond, x._data, y._data)
    except ValueError:
        raise ValueError(
            f"where: shapes {cond.shape}, {x.shape}, "
            f"{y.shape} do not broadcast together"
        ) from None
    xs, ys = x._data.shape, y._data.shape

    def backward(g):
        zero = np.zeros((), dtype=g.dtype)
        gx = unbroadcast(np.where(cond, g, zero), xs) if x.requires_grad else None
        gy = unbroadcast(np.where(cond, zero, g), ys) if y.requires_grad else None
        return gx, gy

    return _result(out, (x, y), "where", backward)


def maximum(input, other):
    """Elementwise larger of two tensors (broadcast). See :meth:`Tensor.maximum`."""
    return _operand(input, other if isinstance(other, Tensor) else None).maximum(other)


def minimum(input, other):
    """Elementwise smaller of two tensors (broadcast). See :meth:`Tensor.minimum`."""
    return _operand(input, other if isinstance(other, Tensor) else None).minimum(other)


def _explicit_einsum(equation, shapes):
    """Spell out an einsum equation: ``...`` replaced by letters, the implicit output made explicit.

    Returns (inputs, output), e.g. ``"...ij,jk"`` on shapes (2, 3, 4), (4, 5) gives
    (["Aij", "jk"], "Aik").
    """
    eq = equation.replace(" ", "")
    lhs, rhs = eq.split("->") if "->" in eq else (eq, None)
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum {equation!r} names {len(ins)} operands but got {len(shapes)}")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    lead = max((len(s) - len(sub.replace("...", "")) for sub, s in zip(ins, shapes) if "..." in sub), default=0)
    dots = "".join(free[:lead])
    ins = [sub.replace("...", dots[lead - (len(s) - len(sub.replace("...", ""))):] if lead else "")
           for sub, s in zip(ins, shapes)]
    if rhs is None:  # implicit output: the letters used once, in alphabetical order, after the dots
        letters = "".join(ins)
        rhs = dots + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in dots))
    else:
        rhs = rhs.replace("...", dots)
    return ins, rhs


@differentiable
def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: ``einsum("bij,bjk->bik", a, b)`` is a batched matmul.

    Each operand's dimensions are named by letters; letters missing from the output (after
    ``->``) are summed over; ``...`` stands for leading batch dimensions. The gradient for
    operand i is again an einsum: the output gradient combined with every *other* operand,
    written in operand i's letters; a letter found only in operand i was summed in forward, so
    its gradient is the same along it (broadcast back).
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = _tensors(operands, "einsum")
    ins, out = _explicit_einsum(equation, [t.shape for t in ops])
    spec = ",".join(ins) + "->" + out
    try:
        y = np.asarray(np.einsum(spec, *[t._data for t in ops]))
    except ValueError as e:
        raise ValueError(f"einsum {equation!r} with shapes {[t.shape for t in ops]}: {e}") from None

    def backward(g):
        grads = []
        for i, t in enumerate(ops):
            sub = ins[i]
            if not t.requires_grad:
                grads.append(None)
                continue
            if len(set(sub)) != len(sub):
                raise NotImplementedError(
                    "einsum backward: a letter repeated within one "
                    f"operand ({sub!r}, a diagonal) is not supported"
                )
            others = [ins[j] for j in range(len(ops)) if j != i]
            seen = set(out).union(*others)
            kept = "".join(c for c in sub if c in seen)
            gi = np.einsum(",".join([out] + others) + "->" + kept, g, *[ops[j]._data for j in range(len(ops)) if j != i])
            if kept != sub:  # broadcast along the letters that only operand i had
                gi = np.broadcast_to(gi[tuple(slice(None) if c in seen else None for c in sub)], t._data.shape)
            grads.append(gi)
        return tuple(grads)

    return _result(y, tuple(ops), "einsum", backward)
