"""
Checking a gradient: why central differences, why float64, why epsilon = 1e-6
=============================================================================

Backpropagation gives exact derivatives -- if every local rule is right. The way to check a rule
is the definition of the derivative itself: nudge the input by a small ``eps`` and watch the
output. How small? Too large and the nudge sees the curvature of the function; too small and
the subtraction ``f(x + eps) - f(x - eps)`` cancels almost every digit the computer has. This page
measures both effects, then uses :func:`micrograd_plus.gradcheck.gradcheck` the way the tests do.
"""

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus import Tensor, tensor
from micrograd_plus.gradcheck import GradcheckError, gradcheck
from micrograd_plus.scalar import Value

# %%
# The exact derivative, from backpropagation
# ------------------------------------------
# Take ``f(x) = x * tanh(x)`` at ``x = 0.7``. The scalar engine's ``backward()`` gives
# ``f'(x) = tanh(x) + x * (1 - tanh(x)**2)``, which we also write out by hand.

x0 = 0.7
x = Value(x0)
y = x * x.tanh()
y.backward()
by_hand = np.tanh(x0) + x0 * (1 - np.tanh(x0) ** 2)
print(f"backward: {x.grad:.15f}\nby hand:  {by_hand:.15f}")

# %%
# Two numerical estimates, over twelve orders of magnitude of eps
# ---------------------------------------------------------------
# The *forward* difference ``(f(x + eps) - f(x)) / eps`` is off by about ``eps * f''(x) / 2``;
# the *central* difference ``(f(x + eps) - f(x - eps)) / (2 eps)`` cancels that term and is off
# by about ``eps**2 * f'''(x) / 6``. Both also suffer rounding: each ``f`` is only known to about
# one unit in the last place (``1e-16`` relative in float64, ``6e-8`` in float32), and dividing by
# ``eps`` magnifies that error by ``1 / eps``.


def f(v, dtype):
    v = dtype(v)
    return v * np.tanh(v)


eps_values = np.logspace(-12, -1, 45)
errors = {}
for dtype in (np.float64, np.float32):
    fwd = [abs(float((f(x0 + e, dtype) - f(x0, dtype)) / dtype(e)) - by_hand) for e in eps_values]
    ctr = [abs(float((f(x0 + e, dtype) - f(x0 - e, dtype)) / dtype(2 * e)) - by_hand) for e in eps_values]
    errors[dtype.__name__] = (np.maximum(fwd, 1e-17), np.maximum(ctr, 1e-17))

for name, (fwd, ctr) in errors.items():
    i = int(np.argmin(ctr))
    print(f"{name} central difference: smallest error {ctr[i]:.1e}, at eps = {eps_values[i]:.0e}; "
          f"at eps = 1e-6: {np.interp(-6, np.log10(eps_values), ctr):.1e}")

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, style in (("float64", "-"), ("float32", ":")):
    fwd, ctr = errors[name]
    ax.loglog(eps_values, fwd, style, color="tab:orange", label=f"forward difference, {name}")
    ax.loglog(eps_values, ctr, style, color="tab:blue", label=f"central difference, {name}")
ax.axvline(1e-6, color="gray", lw=0.8, label="eps = 1e-6, gradcheck's default")
ax.set_xlabel("eps")
ax.set_ylabel("|numerical - exact| derivative")
ax.set_title("Truncation error falls with eps, rounding error rises")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Reading the plot: on the right, the error falls as ``eps`` shrinks -- with slope 1 for the
# forward difference and slope 2 for the central one. On the left, rounding takes over and the
# error *grows* as ``eps`` shrinks (at the far left, ``x + eps`` rounds back to ``x`` in float32
# and the estimate is simply 0). In float64 the central difference is right to ten digits or
# more around ``eps = 1e-6``: that is why gradient checks run in float64 with that ``eps``, and a
# tolerance of ``1e-5`` leaves a wide margin. In float32 no ``eps`` does better than about
# four or five digits -- too coarse to tell a small bug from rounding.
#
# gradcheck on tensors
# --------------------
# :func:`~micrograd_plus.gradcheck.gradcheck` does this for every element of every input that
# requires a gradient, and compares with what ``backward()`` says. A correct function passes:

rng = np.random.default_rng(0)
a = tensor(rng.standard_normal((3, 4)), requires_grad=True)   # float64, (3, 4)
b = tensor(rng.standard_normal((4,)), requires_grad=True)     # (4,): broadcast over the rows
print(gradcheck(lambda a, b: (a * b).tanh().sum(axis=0), [a, b]))

# %%
# A function whose gradient is wrong does not. Here the value is ``a**3`` but only the ``a**2``
# part carries a gradient (the rest is detached from the graph), so backward says ``2a`` where
# the truth is ``3a**2`` -- the kind of mistake a hand-written backward rule makes. (To check a
# function with many outputs in one backward pass, gradcheck differentiates a random weighted
# sum of the outputs, ``sum(w * out)``; the numbers it reports are derivatives of that sum.)


def bad_cube(t):
    square = t * t
    return square + (square * t - square).detach()


try:
    gradcheck(bad_cube, [a])
except GradcheckError as err:
    print(err)
