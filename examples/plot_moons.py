"""
Two moons: a tiny neural network made of scalars
================================================

A multi-layer perceptron learns to separate two interleaved half-moons. Every weight, bias and
activation here is a single :class:`~micrograd_plus.scalar.Value`, so each step of learning is
plain arithmetic you can follow: compute the cost, backpropagate, nudge every parameter a little
downhill.

This is the demo of the original micrograd, and ``micrograd-plus moons`` runs it too.
"""

# %%
# The data
# --------
# 100 points on two half-circles hooked into each other, with a little noise. No straight line
# separates them, so the network must learn a bent boundary. ``make_moons`` returns classes
# 0/1; the max-margin loss below wants labels -1/+1.
import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.data.moons import make_moons
from micrograd_plus.scalar import MLP, Value

X, classes = make_moons(100, noise=0.1, generator=0)
y = 2.0 * classes - 1.0  # -1 / +1

plt.figure(figsize=(5, 4))
plt.scatter(X[:, 0], X[:, 1], c=classes, cmap="coolwarm", edgecolors="k", s=25)
plt.title("two moons")
plt.show()

# %%
# The network
# -----------
# Two inputs (the point's coordinates), two hidden layers of 16 ReLU neurons, and one output
# neuron without squashing: its activation is a *score*, positive for one class and negative
# for the other. Each hidden neuron's activation is ``relu(w . a + b)`` over the previous
# layer's activations ``a``.
model = MLP(2, [16, 16, 1], generator=0)
print(model, "with", len(model.parameters()), "parameters")

# %%
# The cost
# --------
# The max-margin ("hinge") loss charges each point ``relu(1 - y * score)``: nothing when the
# score has the right sign with a margin of at least 1, more the more wrong it is. A tiny L2
# term ``alpha * sum(w**2)`` prefers small weights, which gives a smoother boundary.
# ``Value.sum`` adds many terms in one graph node.


def cost(model, X, y, alpha=1e-4):
    scores = [model(list(point)) for point in X]
    losses = [(1 - yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = Value.sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * Value.sum([p * p for p in model.parameters()])
    accuracy = np.mean([(yi > 0) == (s.data > 0) for yi, s in zip(y, scores)])
    return data_loss + reg_loss, accuracy


# %%
# Gradient descent
# ----------------
# Each step: compute the cost on all 100 points (building a graph of a few thousand nodes),
# reset the gradients, backpropagate, and move every parameter against its gradient. The
# learning rate shrinks from 1.0 to 0.1 as training settles.
history = []
steps = 100
for k in range(steps):
    loss, accuracy = cost(model, X, y)
    model.zero_grad()
    loss.backward()
    learning_rate = 1.0 - 0.9 * k / steps
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    history.append((loss.data, accuracy))
    if k % 20 == 0 or k == steps - 1:
        print(f"step {k:3d}  loss {loss.data:.4f}  accuracy {accuracy:.0%}")

fig, ax1 = plt.subplots(figsize=(6, 3.5))
ax1.plot([h[0] for h in history], color="C0")
ax1.set_xlabel("step")
ax1.set_ylabel("cost", color="C0")
ax2 = ax1.twinx()
ax2.plot([h[1] for h in history], color="C1")
ax2.set_ylabel("accuracy", color="C1")
ax1.set_title("the cost falls as the network learns")
fig.tight_layout()
plt.show()

# %%
# What the network learned
# ------------------------
# Ask the trained network for its score at every point of a grid: the colour shows the sign,
# and the edge between the colours is the decision boundary it has bent around the moons.
xx, yy = np.meshgrid(np.arange(-1.6, 2.6, 0.08), np.arange(-1.1, 1.6, 0.08))
scores = np.array([model([float(a), float(b)]).data for a, b in zip(xx.ravel(), yy.ravel())])

plt.figure(figsize=(6, 4.5))
plt.contourf(xx, yy, (scores > 0).reshape(xx.shape), levels=[-0.5, 0.5, 1.5],
             colors=["#b7cdf0", "#f2c0b0"], alpha=0.8)
plt.scatter(X[:, 0], X[:, 1], c=classes, cmap="coolwarm", edgecolors="k", s=25)
plt.title("decision boundary after training")
plt.show()
