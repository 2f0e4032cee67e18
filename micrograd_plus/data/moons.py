"""Two interleaving half-moons: the classic tiny dataset a linear classifier cannot separate.

Points on the upper half of a unit circle form class 0; points on a lower half-circle shifted
right by 1 and up by 0.5 form class 1. The two arcs hook into each other, so the boundary
between the classes must bend: a straight line (one neuron, no hidden layer) cannot do it,
a small MLP can. Gaussian noise makes it a little harder.
"""

import math

import numpy as np

from micrograd_plus.random import get_generator

__all__ = ["make_moons"]


def make_moons(n_samples=100, noise=0.1, generator=None):
    """Sample the two-moons dataset.

    Args:
        n_samples: total number of points (int >= 1). Class 0 gets ``ceil(n/2)`` of them,
            class 1 the rest.
        noise: standard deviation of the Gaussian noise added to each coordinate (>= 0).
        generator: a numpy Generator, an int seed, or None for the library default
            (:mod:`micrograd_plus.random`); the same seed gives the same points.

    Returns:
        ``(X, y)``: ``X`` of shape ``(n_samples, 2)``, float64, the points in shuffled order;
        ``y`` of shape ``(n_samples,)``, int64, the class of each point, **0 or 1** (the same
        convention as scikit-learn). For a max-margin (SVM) loss that wants labels -1/+1, use
        ``2 * y - 1``.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    noise = float(noise)
    if not noise >= 0.0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    rng = get_generator(generator)
    n0 = (int(n_samples) + 1) // 2
    n1 = int(n_samples) - n0

    t0 = np.linspace(0.0, math.pi, n0)  # angles along the upper arc
    t1 = np.linspace(0.0, math.pi, n1)  # angles along the lower arc
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)  # (n0, 2)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)  # (n1, 2)

    X = np.concatenate([upper, lower])  # (n, 2)
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])  # (n,)
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(y))
    return X[order], y[order]
