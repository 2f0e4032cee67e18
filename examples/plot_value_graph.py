"""
Drawing the computation graph
=============================

Every arithmetic operation on a :class:`~micrograd_plus.scalar.Value` makes a new Value that
remembers its inputs and its *local derivative* with respect to each of them. Together these
memories form the **computation graph**, and backpropagation is nothing more than a walk back
along it, multiplying local derivatives (the chain rule).

This example builds a small expression, looks at its graph, runs ``backward()``, and checks
one gradient by hand.
"""

# %%
# A small expression
# ------------------
# Leaves are the Values we create ourselves; ``label`` only names them in drawings.
import matplotlib.pyplot as plt

from micrograd_plus.scalar import Value
from micrograd_plus.viz import plot, to_dot

a = Value(2.0, label="a")
b = Value(-3.0, label="b")
c = Value(10.0, label="c")
f = Value(-2.0, label="f")
e = a * b
e.label = "e"
d = e + c
d.label = "d"
L = d * f
L.label = "L"
print(L)  # L = (a*b + c) * f = (-6 + 10) * -2 = -8

# %%
# Each node already knows its local derivatives
# ---------------------------------------------
# ``L = d * f`` stored, at the moment it multiplied, that dL/dd = f and dL/df = d.
# They sit in ``_local_grads``, in the same order as the inputs in ``_prev``:
print("inputs of L:", [v.label for v in L._prev], " local derivatives:", L._local_grads)
print("inputs of d:", [v.label for v in d._prev], " local derivatives:", d._local_grads)

# %%
# Backward: the chain rule, from L back to the leaves
# ---------------------------------------------------
# ``L.backward()`` sets dL/dL = 1 and visits every node after all the nodes that use it,
# doing ``parent.grad += local * node.grad``. For ``a``:
# dL/da = dL/dd * dd/de * de/da = f * 1 * b = (-2) * (-3) = 6.
L.backward()
for v in (a, b, c, f, e, d):
    print(f"dL/d{v.label} = {v.grad:g}")

# %%
# Trust, but verify: nudge ``a`` by a tiny ``h`` and see how much ``L`` moves. The ratio is
# the derivative's definition, and it agrees with what backward computed.
h = 1e-6


def L_of(a_value):
    return ((a_value * b.data + c.data) * f.data)


print("numerical dL/da:", (L_of(a.data + h) - L_of(a.data - h)) / (2 * h))

# %%
# The picture
# -----------
# Boxes are values (data and grad); circles are the operations that produced them.
plot(L)
plt.title("L = (a*b + c) * f after L.backward()")
plt.show()

# %%
# A neuron's graph
# ----------------
# A neuron computes ``tanh(w1*x1 + w2*x2 + b)``. Its weighted sum is one ``dot`` node with
# four inputs (two weights, two inputs) rather than a chain of multiplications and additions:
# fewer nodes, less work in the backward pass, same gradients.
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
bias = Value(6.8813735870195432, label="b")
n = Value.dot([w1, w2], [x1, x2]) + bias
out = n.tanh()
out.label = "out"
out.backward()
plot(out)
plt.title("one neuron: tanh(w . x + b)")
plt.show()

# %%
# Graphviz
# --------
# :func:`~micrograd_plus.viz.to_dot` writes the same graph in Graphviz's DOT language (plain
# text, no extra software); :func:`~micrograd_plus.viz.draw` renders it to SVG or PNG when
# Graphviz's ``dot`` program is installed.
print(to_dot(out))
