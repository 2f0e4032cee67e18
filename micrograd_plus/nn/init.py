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

import math

import math

import numpy as np

from micrograd_plus.random import get_generator

__all__ = ["uniform_", "normal_", "zeros_", "ones_", "constant_", "calculate_gain", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_"]


def _array(tensor):
    """The array to overwrite: a Tensor's own (counted as an in-place change of it), or ``tensor``."""
    arr = getattr(tensor, "_data", tensor)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected a Tensor or numpy array to initialise, got {type(tensor).__name__}")
    if hasattr(tensor, "_bumped"):
        tensor._bumped("nn.init")
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


# --- scaled by the layer's size: Glorot (Xavier) and He (Kaiming), with PyTorch's formulas ----------


def calculate_gain(nonlinearity, param=None):
    """The factor by which an activation shrinks (or grows) the spread of what passes through it,
    PyTorch's table: 1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2))
    for leaky_relu (``param`` is the slope, default 0.01), 3/4 for selu."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fans(tensor, what):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): how many numbers feed one output,
    and how many outputs one input feeds."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"{what} needs a weight with at least 2 dimensions (out, in, ...), got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot's uniform start: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``, which keeps
    the spread of activations and of gradients about the same from layer to layer."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot's normal start: ``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


def _kaiming_std(tensor, a, mode, nonlinearity, what):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{what}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, what)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He's uniform start for layers followed by a ReLU-like activation: ``U(-b, b)`` with
    ``b = sqrt(3) * gain / sqrt(fan)`` (``a`` is the leaky slope). PyTorch's defaults."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, generator=generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He's normal start: ``N(0, std^2)`` with ``std = gain / sqrt(fan)``. PyTorch's defaults."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"), generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """A normal start with every value inside ``[a, b]`` (values outside are drawn again)."""
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    arr = _array(tensor)
    rng = get_generator(generator)
    values = rng.normal(mean, std, size=arr.shape)
    bad = (values < a) | (values > b)
    while bad.any():  # redraw only the values that fell outside
        values[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (values < a) | (values > b)
    arr[...] = values
    return tensor
