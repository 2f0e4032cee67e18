"""The scalar autograd engine: one number, its gradient, and how it was made.

Start reading the library here.

A :class:`Value` holds a single float, ``data``, and a second float, ``grad``: how much the
final result (the network's cost, say) would change if ``data`` were nudged up by a tiny
amount. Arithmetic on Values builds a **computation graph**::

    a = Value(2.0)
    b = Value(-3.0)
    c = a * b + a        # c.data == -4.0
    c.backward()         # fills in every grad in the graph
    a.grad               # dc/da = b + 1 = -2.0
    b.grad               # dc/db = a     =  2.0

How it works, in three ideas:

1. **Every operation remembers its inputs and its local derivatives.** ``c = a * b`` knows,
   at the very moment it multiplies, that ``dc/da = b`` and ``dc/db = a``. It stores its
   inputs in ``c._prev = (a, b)`` and those two numbers in ``c._local_grads = (b, a)``. So
   each operation below is a few lines: the forward result and the local derivatives, side by
   side.

2. **The chain rule is one line, the same for every operation.** If ``c.grad`` (how the final
   result depends on ``c``) is known, then for each input ``p`` of ``c``::

       p.grad += local * c.grad          # dL/dp += dc/dp * dL/dc

   The ``+=`` matters: a Value used in several places collects gradient from each of them.

3. **Order.** A node may pass its gradient on only when its own gradient is complete, i.e.
   after every node that *uses* it has been handled. :func:`topological_order` lists the graph
   inputs-first (an explicit stack, no recursion, so a chain of a million operations is fine);
   :meth:`Value.backward` walks that list backwards. The same function orders the tensor
   engine's backward pass, and the nodes when :mod:`micrograd_plus.viz` draws a graph.

Why store local derivatives as numbers instead of a little ``_backward`` closure per node (as
the original micrograd does)? A closure that refers to its own output node puts every node in
a reference cycle, and then Python's cyclic garbage collector spends much of the run time
looking for garbage. Plain numbers make no cycles: when you drop the last reference to a loss,
its whole graph is freed at once by reference counting. With ``__slots__`` (no per-object
dict) and *n-ary* nodes (:meth:`Value.sum` and :meth:`Value.dot` add up many terms in one node
instead of a chain of ``+``), one training step of the two-moons MLP runs more than ten times
faster than micrograd's (see ``micrograd_plus/bench/scalar.py``).

Floating point: Python raises ``OverflowError`` for ``math.exp(1000)`` and
``ZeroDivisionError`` for ``1.0 / 0.0``, while numpy and PyTorch follow the IEEE 754 rules and
return ``inf`` or ``nan``. Training code must not crash because one number overflowed, so the
operations here follow IEEE too: ``Value(1000).exp()`` is ``inf``, ``Value(-1.0).log()`` is
``nan``, ``Value(1000).tanh()`` is exactly ``1.0``. The small helpers that do this are at the
bottom of the file.

The file reads top to bottom: the :class:`Value` class with :meth:`~Value.backward`, then the
operations (binary, unary, n-ary), then :func:`topological_order`, then the float helpers.
"""

import math
import operator

__all__ = ["Value", "topological_order"]


class Value:
    """A scalar that remembers how it was computed, so that it can be differentiated.

    Args:
        data: the number (anything ``float()`` accepts: int, float, numpy scalar).
        label: an optional name, shown when the graph is drawn (:mod:`micrograd_plus.viz`).

    What a Value holds:

    * ``data`` (float): the value itself, computed in the forward pass.
    * ``grad`` (float): d(root)/d(this value) after ``root.backward()``; starts at 0.0.
    * ``_prev`` (tuple of Value): the inputs it was computed from (empty for a leaf).
    * ``_local_grads`` (tuple of float): d(this)/d(input) for each input in ``_prev``,
      computed in the forward pass.
    * ``_op`` (str): the name of the operation that produced it ('' for a leaf).

    A *leaf* is a Value you create yourself (an input, a weight); every other Value is the
    result of an operation. Plain numbers mix freely: ``2 * a``, ``a - 1``, ``1 / a`` all work.
    """

    __slots__ = ("data", "grad", "_prev", "_local_grads", "_op", "label", "__weakref__")

    def __init__(self, data, _prev=(), _local_grads=(), _op="", label=""):
        self.data = data if type(data) is float else _to_float(data)
        self.grad = 0.0
        self._prev = _prev
        self._local_grads = _local_grads
        self._op = _op
        self.label = label

    def __repr__(self):
        name = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{name})"

    # ------------------------------------------------------------------------------------
    # Backpropagation: the chain rule, applied from the result back to the leaves.
    # ------------------------------------------------------------------------------------

    def backward(self, grad=1.0):
        """Fill in ``.grad`` of every Value this one was computed from (the chain rule).

        Args:
            grad: d(final result)/d(self), 1.0 when ``self`` is the final result (a loss).

        Semantics:

        * Leaves (Values you created) **accumulate**, as in PyTorch: two calls add twice.
          Reset them with ``zero_grad()`` on the model, or set ``v.grad = 0.0``, before the
          next step.
        * Intermediate Values are recomputed from zero on each call, so they always hold
          this call's gradient and a second call never double-counts through them.
          (PyTorch doesn't keep intermediate gradients at all unless asked; here they stay
          readable, which is handy when learning and when drawing the graph.)

        The walk (:func:`topological_order`) uses an explicit stack, never recursion, so
        graphs of millions of nodes are fine.
        """
        # 1. Every node that feeds into self, inputs before the nodes made from them.
        order = topological_order(self)
        for node in order:
            if node._prev:  # an intermediate result: its gradient is this call's alone
                node.grad = 0.0

        # 2. The chain rule, one node at a time, from self back to the leaves: a node's
        #    gradient is complete by the time it is reached, because every node that uses
        #    it comes later in `order` and so was handled earlier in this loop.
        self.grad += float(grad)
        for node in reversed(order):
            g = node.grad
            for parent, local in zip(node._prev, node._local_grads):
                parent.grad += local * g

    # ------------------------------------------------------------------------------------
    # Binary operations. Each one returns
    #     Value(forward result, (inputs...), (d out / d input, ...), op name)
    # Plain numbers are wrapped into leaf Values first, so they appear in drawn graphs.
    # ------------------------------------------------------------------------------------

    def __add__(self, other):
        other = _as_value(other)
        # d(a+b)/da = 1, d(a+b)/db = 1
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __sub__(self, other):
        other = _as_value(other)
        # d(a-b)/da = 1, d(a-b)/db = -1
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __mul__(self, other):
        other = _as_value(other)
        # d(a*b)/da = b, d(a*b)/db = a
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __truediv__(self, other):
        other = _as_value(other)
        out = _div(self.data, other.data)
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b**2 = -(a/b)/b
        return Value(out, (self, other), (_div(1.0, other.data), -_div(out, other.data)), "/")

    def __pow__(self, exponent):
        """``a ** n`` for a plain number ``n``, or ``a ** b`` for a Value ``b``.

        Derivatives (with PyTorch's conventions where the formula breaks down):

        * d(a**b)/da = b * a**(b-1), taken as 0 when b == 0 (a**0 is the constant 1).
        * d(a**b)/db = a**b * ln(a): NaN for a < 0 (ln is undefined there, and so is a**b
          for most b), 0 for a == 0 and b >= 0 (0**b stays 0 nearby); never an exception.
        """
        if not isinstance(exponent, Value):
            n = _to_float(exponent)
            local = 0.0 if n == 0.0 else n * _pow(self.data, n - 1.0)
            return Value(_pow(self.data, n), (self,), (local,), f"**{exponent:g}")
        a, b = self.data, exponent.data
        out = _pow(a, b)
        d_da = 0.0 if b == 0.0 else b * _pow(a, b - 1.0)
        d_db = 0.0 if (a == 0.0 and b >= 0.0) else out * _log(a)
        return Value(out, (self, exponent), (d_da, d_db), "**")

    # Reflected forms: Python calls these for `2 + a`, `2 - a`, ... when the left operand
    # is a plain number that doesn't know about Values.
    def __radd__(self, other):
        return _as_value(other) + self

    def __rsub__(self, other):
        return _as_value(other) - self

    def __rmul__(self, other):
        return _as_value(other) * self

    def __rtruediv__(self, other):
        return _as_value(other) / self

    def __rpow__(self, other):
        return _as_value(other) ** self

    # ------------------------------------------------------------------------------------
    # Unary operations: forward result and local derivative side by side.
    # ------------------------------------------------------------------------------------

    def __neg__(self):
        # d(-a)/da = -1
        return Value(-self.data, (self,), (-1.0,), "neg")

    def exp(self):
        """e**x. Its own derivative: d(e**x)/dx = e**x. Overflows to inf, never raises."""
        out = _exp(self.data)
        return Value(out, (self,), (out,), "exp")

    def log(self):
        """Natural logarithm. d(ln x)/dx = 1/x. ln(0) = -inf, ln(x<0) = nan (IEEE)."""
        x = self.data
        return Value(_log(x), (self,), (_div(1.0, x),), "log")

    def tanh(self):
        """Hyperbolic tangent, squashing any number into (-1, 1). d(tanh x)/dx = 1 - tanh(x)**2.

        ``math.tanh`` is already stable: tanh(1000) is exactly 1.0, with derivative 0.0.
        """
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self):
        """The logistic function 1 / (1 + e**-x), squashing any number into (0, 1).

        Its derivative is s * (1 - s) with s = sigmoid(x). Computed without overflow:
        for x < 0 the textbook formula would need e**-x = e**1000 at x = -1000, so there we
        use the equal form e**x / (1 + e**x), whose exponential is tiny instead.
        """
        x = self.data
        if x >= 0.0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        return Value(s, (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self):
        """Rectified linear unit max(0, x): the usual neuron non-linearity today.

        Derivative 1 where x > 0 and 0 where x <= 0 (at the kink x = 0 we pick 0, as PyTorch
        does). A NaN input stays NaN rather than being silently turned into 0.
        """
        x = self.data
        return Value(0.0 if x <= 0.0 else x, (self,), (0.0 if x <= 0.0 else 1.0,), "relu")

    def abs(self):
        """Absolute value ``abs(x)``. Derivative sign(x): -1, 0 at the kink x = 0 (as PyTorch), or +1."""
        x = self.data
        sign = 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)
        return Value(abs(x), (self,), (sign,), "abs")

    __abs__ = abs

    # ------------------------------------------------------------------------------------
    # N-ary operations: many inputs, one node. sum(a, b, c, d) as one node has 4 edges; as
    # ((a+b)+c)+d it is 3 nodes and 6 edges. Fewer nodes means less work in backward.
    # ------------------------------------------------------------------------------------

    @staticmethod
    def sum(values):
        """Add up many Values (or numbers) in ONE node. Each local derivative is 1.

        ``Value.sum(losses)`` gives the same number as Python's ``sum(losses)``, but the
        builtin makes a chain of ``len(losses)`` additions.
        """
        values = tuple([v if isinstance(v, Value) else Value(v) for v in values])
        total = sum(v.data for v in values)
        return Value(total, values, (1.0,) * len(values), "sum")

    @staticmethod
    def dot(weights, inputs):
        """The weighted sum w[0]*x[0] + w[1]*x[1] + ... in ONE node: what a neuron computes.

        Args:
            weights, inputs: two equally long sequences of Values or numbers.

        The local derivatives are the other side's data: d/dw[i] = x[i] and d/dx[i] = w[i].
        """
        weights = [w if isinstance(w, Value) else Value(w) for w in weights]
        inputs = [x if isinstance(x, Value) else Value(x) for x in inputs]
        if len(weights) != len(inputs):
            raise ValueError(
                f"Value.dot needs equally long sequences, got {len(weights)} weights "
                f"and {len(inputs)} inputs"
            )
        w_data = [w.data for w in weights]
        x_data = [x.data for x in inputs]
        total = sum(map(operator.mul, w_data, x_data))
        return Value(total, (*weights, *inputs), (*x_data, *w_data), "dot")

def topological_order(root, children=None):
    """Every node ``root`` was computed from, and ``root`` itself, each once, inputs first.

    In the returned list a node always comes after all the nodes it was made from, so ``root``
    is last and walking the list backwards visits each node before its inputs: the order the
    chain rule needs (:meth:`Value.backward`, :meth:`Tensor.backward
    <micrograd_plus._tensor.Tensor.backward>`), and the left-to-right order of a drawn graph
    (:mod:`micrograd_plus.viz`). One walk serves both engines.

    Args:
        root: a graph node: anything whose ``_prev`` is the tuple of nodes it was computed
            from -- a :class:`Value`, or a :class:`~micrograd_plus.Tensor`.
        children: optional function ``node -> the inputs to walk into`` (default: all of
            ``node._prev``). ``Tensor.backward`` passes one that skips leaves and tensors that
            need no gradient, so the walk never enters the parts of a graph that get nothing.

    Returns:
        A list of nodes (leaves included, unless ``children`` leaves them out).

    The walk is depth-first with an explicit stack instead of recursion: each node is pushed
    once to be *expanded* (its inputs pushed above it) and once more to be *emitted*, which
    happens only after everything above it -- all its inputs -- has been emitted. A node is
    marked seen when it is expanded, not when it is pushed: pushed again by a deeper node, it
    must then come before that one.

    Nodes go in a set, so they must hash by identity, as Values and Tensors do (a Tensor's
    ``==`` is elementwise, as in PyTorch, but its hash is its identity; a set never calls ``==``
    for two distinct objects whose identity hashes differ, and live objects' always do). A set
    of the nodes themselves is twice as fast as one of their ``id()`` numbers here.
    """
    order = []
    seen = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)  # all of its inputs are already in `order`
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for parent in node._prev if children is None else children(node):
            if parent not in seen:
                stack.append((parent, False))
    return order


def _to_float(x):
    """Convert a user-given number (int, numpy scalar, ...) to a Python float, or say what's wrong."""
    if not isinstance(x, (str, bytes)):
        try:
            return float(x)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"Value holds one real number, got {type(x).__name__} {x!r:.60}")


def _as_value(x):
    """Wrap a plain number into a leaf Value; Values pass through unchanged."""
    return x if isinstance(x, Value) else Value(x)


# ----------------------------------------------------------------------------------------
# Float arithmetic that follows IEEE 754 (like numpy and PyTorch) instead of raising.
# ----------------------------------------------------------------------------------------

def _div(a, b):
    """a / b, but x/0 gives +-inf and 0/0 gives nan instead of ZeroDivisionError."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0.0 or a != a:  # 0/0 or nan/0
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _exp(x):
    """e**x, giving inf instead of OverflowError when the result exceeds the float range."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x):
    """ln(x), giving -inf at 0 and nan for x < 0 instead of ValueError."""
    if x > 0.0:
        return math.log(x)
    if x == 0.0:
        return -math.inf
    return math.nan  # x < 0, or x is nan


def _is_odd_integer(b):
    return math.isfinite(b) and abs(math.fmod(b, 2.0)) == 1.0


def _pow(a, b):
    """a ** b for floats, never raising and never returning a complex number.

    Python's ``(-8.0) ** (1/3)`` is a complex number and ``0.0 ** -1`` raises; here (as in
    IEEE 754, numpy and PyTorch) the first is nan and the second is inf.
    """
    try:
        return math.pow(a, b)
    except OverflowError:  # the true result is finite but too large for a float
        return -math.inf if (a < 0.0 and _is_odd_integer(b)) else math.inf
    except ValueError:  # 0 ** negative, or negative ** non-integer
        if a == 0.0:
            return math.copysign(math.inf, a) if _is_odd_integer(b) else math.inf
        return math.nan
