"""
The cost, its slope, and the learning rate
==========================================

Training needs two things: one number that says how wrong the model is (the **cost**), and the
direction in which to change the weights so that number goes down (minus the **gradient**).
Here the model is as small as it can be -- a single neuron with no squashing function,
``prediction = w * x + b`` -- so that its whole cost landscape fits on one page.

We compute the cost with :class:`~micrograd_plus.scalar.Value` scalars, let ``backward()`` find
the slope, and walk downhill with three different learning rates.
"""

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.scalar import Value

# %%
# Data, a model, and a cost
# -------------------------
# Twenty points near the line ``y = 2x + 0.5``. The cost is the mean squared error: the average,
# over the points, of ``(prediction - target) ** 2``. It is one number for the whole data set.

rng = np.random.default_rng(0)
xs = rng.uniform(-1.0, 1.0, size=20)
ys = 2.0 * xs + 0.5 + 0.1 * rng.standard_normal(20)


def cost(w, b):
    """Mean squared error of ``w * x + b`` over the data; ``w`` and ``b`` are Values."""
    errors = [(w * float(x) + b - float(y)) ** 2 for x, y in zip(xs, ys)]
    return Value.sum(errors) / len(errors)


w, b = Value(-1.0), Value(0.0)
c = cost(w, b)
c.backward()
print(f"at w = {w.data}, b = {b.data}: cost = {c.data:.3f}, dC/dw = {w.grad:.3f}, dC/db = {b.grad:.3f}")

# %%
# The gradient is the slope of the cost
# -------------------------------------
# Hold ``b`` at its best value and vary ``w`` alone: the cost is a parabola. At a few points we
# ask the engine for ``dC/dw`` and draw the tangent line with that slope. A negative slope means
# "increase w to go down", a positive one "decrease w"; the further from the bottom, the steeper.

b_best = float(np.mean(ys - 2.0 * xs))  # close to 0.5
w_grid = np.linspace(-2.0, 6.0, 200)
cost_curve = [cost(Value(wv), Value(b_best)).data for wv in w_grid]

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(w_grid, cost_curve, color="black", label="cost C(w)")
for w0 in (-1.0, 0.5, 4.5):
    wv = Value(w0)
    c0 = cost(wv, Value(b_best))
    c0.backward()
    span = np.linspace(w0 - 0.8, w0 + 0.8, 2)
    ax.plot(span, c0.data + wv.grad * (span - w0), color="tab:red")
    ax.annotate(f"slope {wv.grad:.2f}", (w0, c0.data), textcoords="offset points", xytext=(5, 8))
ax.set_xlabel("weight w")
ax.set_ylabel("cost")
ax.set_title("The gradient is the slope of the cost")
ax.legend()
fig.tight_layout()

# %%
# Gradient descent with three learning rates
# ------------------------------------------
# One step is ``w -= lr * dC/dw`` (and the same for ``b``). With a tiny learning rate the walk
# crawls; with a good one it reaches the bottom in a few steps; with one that is too large each
# step overshoots the valley by more than it started, and the cost grows without bound.


def descend(lr, steps=25):
    """Run gradient descent from (w, b) = (-1, 0); return the list of (w, b, cost) per step."""
    w, b = Value(-1.0), Value(0.0)
    path = []
    for _ in range(steps):
        c = cost(w, b)
        w.grad = b.grad = 0.0       # forget the previous step's gradient
        c.backward()                # dC/dw and dC/db
        path.append((w.data, b.data, c.data))
        w.data -= lr * w.grad       # a step downhill
        b.data -= lr * b.grad
    return path


runs = {lr: descend(lr) for lr in (0.05, 0.5, 1.1)}
for lr, path in runs.items():
    print(f"lr = {lr:4}: cost {path[0][2]:.3f} -> {path[-1][2]:.3g} after {len(path)} steps, "
          f"w = {path[-1][0]:.3g}, b = {path[-1][1]:.3g}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
W, B = np.meshgrid(np.linspace(-2, 6, 120), np.linspace(-3, 4, 120))
C = ((W[..., None] * xs + B[..., None] - ys) ** 2).mean(axis=-1)  # the same cost, in numpy
left.contour(W, B, C, levels=np.geomspace(C.min() + 1e-3, C.max(), 15), cmap="Greys")
for lr, path in runs.items():
    p = np.array(path)
    left.plot(p[:, 0], p[:, 1], marker=".", label=f"lr = {lr}")
    right.semilogy(p[:, 2], label=f"lr = {lr}")
left.set_xlim(-2, 6)
left.set_ylim(-3, 4)
left.set_xlabel("w")
left.set_ylabel("b")
left.set_title("Paths on the cost landscape")
left.legend()
right.set_xlabel("step")
right.set_ylabel("cost (log scale)")
right.set_title("Cost per step")
right.legend()
fig.tight_layout()

# %%
# The middle learning rate finds ``w`` close to 2 and ``b`` close to 0.5, the line the data came
# from. The largest one is instructive: the cost is much more curved along ``b`` than along ``w``
# (the contours are ellipses), so it is along ``b`` that the walk zig-zags further out at every
# step: the green path runs up and down, not sideways. A learning rate must suit the most curved direction, which is why optimisers such as
# Adam scale the step of each weight separately. The same loop, with the gradient of a much bigger cost, is all that training an MNIST
# classifier or a GPT does; :class:`micrograd_plus.optim.SGD` is this update for tensors.
