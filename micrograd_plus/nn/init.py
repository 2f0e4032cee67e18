"""Initialisers: fill a weight tensor in place with the numbers training starts from.

Where a network starts matters. All-zero weights would make every neuron of a layer compute
the same thing forever (they would all get the same gradient); weights that are too large
saturate sigmoids and blow up activations layer after layer. So weights start as small random
numbers whose scale depends on how many inputs a neuron has.

Each function takes a :class:`~micrograd_plus.Tensor` (or a numpy array), overwrites its values
in place keeping its dtype, and returns it. Randomness comes only from ``generator`` (a
``numpy.random.Generator``, an int seed, or None for the library default; see
:mod:`micrograd_plus.random`), so the same seed gives the same network.
"""

import numpy as np

from micrograd_plus.random import get_generator

__all__ = ["uniform_", "normal_", "zeros_", "ones_", "constant_"]


def _array(tensor):
    arr = getattr(tensor, "data", tensor)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected a Tensor or numpy array to initialise, got {type(tensor).__name__}")
    return arr


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with numbers drawn uniformly from ``[a, b)``. PyTorch's ``nn.Linear`` starts this way,
    with ``a = -b = 1/sqrt(in_features)``."""
    arr = _array(tensor)
    if not a <= b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    arr[...] = get_generator(generator).uniform(a, b, size=arr.shape)
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with numbers from a normal (Gaussian) distribution. GPT-2 starts with std 0.02."""
    arr = _array(tensor)
    if std < 0:
        raise ValueError(f"normal_ needs std >= 0, got {std}")
    arr[...] = get_generator(generator).normal(mean, std, size=arr.shape)
    return tensor


def constant_(tensor, value):
    """Fill with one value (a LayerNorm's gains start at 1, biases often at 0)."""
    _array(tensor)[...] = value
    return tensor


def zeros_(tensor):
    """Fill with zeros (the usual start for biases)."""
    return constant_(tensor, 0.0)


def ones_(tensor):
    """Fill with ones (the usual start for LayerNorm gains)."""
    return constant_(tensor, 1.0)
