"""
From scalars to tensors: the same network, two engines
======================================================

The scalar engine makes one :class:`~micrograd_plus.scalar.Value` per number and one graph node
per multiplication. The tensor engine makes one :class:`~micrograd_plus.Tensor` per *array* and
one node per whole operation: a layer applied to a batch is a single matrix product.

Here both engines get the same two-moons network with the **same weights**, compute the same
cost on the same batch, and backpropagate. The gradients agree to rounding; the time does not.
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus import Tensor, nn
from micrograd_plus import functional as F
from micrograd_plus.data import make_moons
from micrograd_plus.scalar import MLP, Value

X, y = make_moons(n_samples=100, noise=0.1, generator=0)   # X (100, 2) float64, y (100,) in {0, 1}
targets = 2.0 * y - 1.0                                      # the hinge loss wants -1 / +1

# %%
# One network, written twice
# --------------------------
# ``MLP(2, [16, 16, 1])`` keeps, for each neuron, a list of weights ``w`` and a bias ``b``.
# ``nn.MLP([2, 16, 16, 1])`` keeps, for each layer, a weight matrix of shape
# ``(out_features, in_features)`` -- row ``j`` is neuron ``j``'s weights -- and a bias vector.
# Copying one into the other is just stacking rows. Both use float64 here so that the
# comparison is exact to rounding.

scalar_net = MLP(2, [16, 16, 1], generator=0)
tensor_net = nn.MLP([2, 16, 16, 1], generator=0, dtype=np.float64)

linears = [m for m in tensor_net.modules() if isinstance(m, nn.Linear)]
for layer, linear in zip(scalar_net.layers, linears):
    linear.weight.data[...] = [[w.data for w in neuron.w] for neuron in layer.neurons]  # (out, in)
    linear.bias.data[...] = [neuron.b.data for neuron in layer.neurons]              # (out,)
print("weights per engine:", len(scalar_net.parameters()), tensor_net.num_parameters())

# %%
# The same cost, two ways
# -----------------------
# The max-margin loss of the moons demo: ``mean(relu(1 - target * score))``. In the scalar world
# it is a loop over the 100 points; in the tensor world it is four operations on arrays.


def scalar_loss():
    scores = [scalar_net([Value(a), Value(b)]) for a, b in X]                  # 100 Values
    losses = [(1 - t * s).relu() for t, s in zip(targets, scores)]
    return Value.sum(losses) / len(losses)


def tensor_loss():
    scores = tensor_net(Tensor(X)).reshape(-1)                                  # (100,)
    return F.relu(1 - Tensor(targets) * scores).mean()                          # 0-d


def timed(fn, zero_grad, repeats=5):
    """Median seconds of forward + backward over a few repeats (after one warm-up call)."""
    seconds = []
    for _ in range(repeats + 1):
        zero_grad()
        start = time.perf_counter()
        loss = fn()
        loss.backward()
        seconds.append(time.perf_counter() - start)
    return loss, float(np.median(seconds[1:]))


s_loss, s_time = timed(scalar_loss, scalar_net.zero_grad)
t_loss, t_time = timed(tensor_loss, tensor_net.zero_grad)
print(f"loss: scalar {s_loss.data:.12f}, tensor {t_loss.item():.12f}")

# %%
# The gradients agree
# -------------------
# Gather the scalar gradients into the tensor layout and compare.

worst = 0.0
for layer, linear in zip(scalar_net.layers, linears):
    dW = np.array([[w.grad for w in neuron.w] for neuron in layer.neurons])   # (out, in)
    db = np.array([neuron.b.grad for neuron in layer.neurons])                # (out,)
    worst = max(worst, np.abs(dW - linear.weight.grad.numpy()).max(), np.abs(db - linear.bias.grad.numpy()).max())
print(f"largest gradient difference: {worst:.1e}")

# %%
# The time does not
# -----------------
# Same arithmetic, very different bookkeeping: thousands of Python objects against a handful of
# array operations. (Exact figures depend on the machine; the ratio is what matters.)

print(f"forward + backward on 100 points: scalar {1e3 * s_time:.1f} ms, tensor {1e3 * t_time:.2f} ms "
      f"({s_time / t_time:.0f}x)")

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(["scalar engine", "tensor engine"], [1e3 * s_time, 1e3 * t_time], color=["tab:orange", "tab:blue"])
ax.set_xscale("log")
ax.set_xlabel("ms per forward + backward (log scale)")
ax.set_title("One step of the two-moons network")
fig.tight_layout()
plt.show()
