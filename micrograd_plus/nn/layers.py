"""The building blocks of tensor networks: layers of neurons, activations, normalisation.

Every layer here is a :class:`~micrograd_plus.nn.Module` that owns its weights as
:class:`~micrograd_plus.nn.Parameter` objects and computes its output with a function from
:mod:`micrograd_plus.functional`. The arithmetic lives in ``functional``; a layer adds the
weights and their initialisation. Where a layer checks its input itself (Linear, LayerNorm,
the range of Embedding's indices) it is to say what *this layer* expected, in its own terms --
``Linear(in_features=784, out_features=16) expects input of shape (*, 784)``; every other check
(dtypes, weight shapes) is left to ``functional``.

Read top to bottom: the layers, then :class:`MLP` built from them, then the small helpers.

Shapes use ``*`` for "any number of leading dimensions": a Linear layer maps ``(*, in)`` to
``(*, out)``, so it works on a batch of images (B, 784) and on a batch of sequences (B, T, C) alike.
"""

import math

import numpy as np

from micrograd_plus import functional as F
from micrograd_plus._device import as_device
from micrograd_plus.nn import init
from micrograd_plus.nn.containers import Sequential
from micrograd_plus.nn.module import Module, Parameter
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor

__all__ = [
    "Linear", "Embedding", "LayerNorm", "Dropout",
    "ReLU", "Sigmoid", "Tanh", "GELU", "Identity", "Flatten", "MLP",
    "LeakyReLU", "SiLU", "ELU", "Softplus", "Softmax", "LogSoftmax",
]


class Linear(Module):
    """A fully connected layer of neurons: ``y = x @ weight.T + bias``.

    Each of the ``out_features`` neurons looks at all ``in_features`` activations of the layer
    before it, weighs each by one of its weights, adds its bias and passes the sum on. Row ``j``
    of ``weight`` holds neuron ``j``'s weights, which is why ``weight`` is (out, in) -- PyTorch's
    layout. The whole layer is one matrix multiplication.

    Args:
        in_features: number of activations coming in (784 for an MNIST image).
        out_features: number of neurons in the layer.
        bias: whether each neuron has a bias (default True).
        generator: where the initial random weights come from (Generator, int seed or None for
            the library default, see :mod:`micrograd_plus.random`).
        dtype: dtype of the weights (float32 by default; float64 for gradient checks).

    Initialisation is PyTorch's: weights and biases uniform in ``[-1/sqrt(in), 1/sqrt(in)]``,
    small enough that a neuron's weighted sum of many inputs does not start out huge.

    Shapes: input ``(*, in_features)`` -> output ``(*, out_features)``.
    """

    def __init__(self, in_features, out_features, bias=True, generator=None, dtype=None, device=None):
        super().__init__()
        as_device(device, "Linear")  # PyTorch's factory argument: the CPU, or one line
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = _float_dtype(dtype)
        gen = get_generator(generator)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))  # (out, in)
        init.uniform_(self.weight, -bound, bound, generator=gen)
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))  # (out,)
            init.uniform_(self.bias, -bound, bound, generator=gen)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        x = _as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear(in_features={self.in_features}, out_features={self.out_features}) "
                             f"expects input of shape (*, {self.in_features}), got shape {tuple(x.shape)}")
        return F.linear(x, self.weight, self.bias)  # (*, in) -> (*, out)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` is the vector that represents token ``i``.

    Looking up a row is the same as multiplying a one-hot vector by the table, but without
    building the one-hot vector. The vectors start random and are learned: tokens used in similar
    ways end up with similar vectors.

    Args:
        num_embeddings: vocabulary size (number of rows).
        embedding_dim: length of each vector.
        generator, dtype: as for :class:`Linear`. Initialised from N(0, 1), as in PyTorch.

    Shapes: integer indices ``(*)`` -> vectors ``(*, embedding_dim)``.
    """

    def __init__(self, num_embeddings, embedding_dim, generator=None, dtype=None, device=None):
        super().__init__()
        as_device(device, "Embedding")
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=_float_dtype(dtype)))
        init.normal_(self.weight, 0.0, 1.0, generator=generator)  # (num, dim)

    def forward(self, idx):
        ids = idx._data if isinstance(idx, Tensor) else np.asarray(idx)
        if ids.dtype.kind in "iu" and ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            bad = ids.max() if ids.max() >= self.num_embeddings else ids.min()
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): index {int(bad)} is "
                             f"out of range [0, {self.num_embeddings})")
        return F.embedding(idx, self.weight)  # (*) -> (*, dim)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Normalise each vector to mean 0 and variance 1 over its last dimension(s), then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with mean and variance taken over the
    trailing ``normalized_shape`` dimensions of each position separately. It keeps activations
    at a steady scale however deep the network is. ``weight`` (the gain) starts at 1 and
    ``bias`` at 0, so at first the layer only normalises.

    Args:
        normalized_shape: size of the last dimension (an int), or a tuple of trailing sizes.
        eps: added to the variance so a constant vector does not divide by zero.
        bias: whether to learn the shift (GPT configs may turn it off).
        dtype: dtype of weight and bias.

    Shapes: input ``(*, *normalized_shape)`` -> output of the same shape.
    """

    def __init__(self, normalized_shape, eps=1e-5, bias=True, dtype=None, device=None):
        super().__init__()
        as_device(device, "LayerNorm")
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        dtype = _float_dtype(dtype)
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        x = _as_tensor(x)
        n = len(self.normalized_shape)
        if x.ndim < n or tuple(x.shape[x.ndim - n:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm{self.normalized_shape} expects input of shape "
                             f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {tuple(x.shape)}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, bias={self.bias is not None}"


class Dropout(Module):
    """During training, zero each activation with probability ``p`` and scale the rest by ``1/(1-p)``.

    Randomly silencing neurons stops the network from relying on any single one (a
    regulariser). The scaling keeps the expected value of every activation unchanged, so in
    evaluation mode (``model.eval()``) the layer simply passes its input through.

    Args:
        p: probability of zeroing an activation, in [0, 1).
        generator: source of the random masks (Generator, int seed, or None for the library
            default generator at call time).

    Shapes: any -> the same.
    """

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        # Resolve an int seed once: re-seeding at every call would repeat the same mask forever.
        self.generator = None if generator is None else get_generator(generator)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return F.dropout(_as_tensor(x), self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """The rectified linear unit as a layer: ``max(0, x)`` elementwise. Shapes: any -> same."""

    def forward(self, x):
        return F.relu(_as_tensor(x))


class Sigmoid(Module):
    """The logistic sigmoid ``1 / (1 + exp(-x))`` as a layer: squashes any number into (0, 1),
    the activation of 3Blue1Brown's network. Shapes: any -> same."""

    def forward(self, x):
        return F.sigmoid(_as_tensor(x))


class Tanh(Module):
    """The hyperbolic tangent as a layer: squashes any number into (-1, 1). Shapes: any -> same."""

    def forward(self, x):
        return F.tanh(_as_tensor(x))


class GELU(Module):
    """The Gaussian error linear unit ``x * Phi(x)`` as a layer: a smooth ReLU, used in GPTs.

    Args:
        approximate: ``"none"`` for the exact form (with the error function), ``"tanh"`` for
            GPT-2's tanh approximation.

    Shapes: any -> same.
    """

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(_as_tensor(x), approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Identity(Module):
    """Returns its input unchanged: a placeholder where a layer is optional. Shapes: any -> same."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: a batch of 28x28 images (B, 28, 28)
    becomes (B, 784), the 784 input activations of an MNIST network. Shapes: (B, d1, d2, ...) ->
    (B, d1*d2*...) with the defaults ``start_dim=1, end_dim=-1``."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return _as_tensor(x).flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere (a ReLU that lets a little through).
    Shapes: any -> same."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(_as_tensor(x), self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class SiLU(Module):
    """``x * sigmoid(x)`` (also called swish). Shapes: any -> same."""

    def forward(self, x):
        return F.silu(_as_tensor(x))


class ELU(Module):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere. Shapes: any -> same."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.elu(_as_tensor(x), self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, a smooth ReLU (linear above ``threshold``). Shapes: any -> same."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        return F.softplus(_as_tensor(x), self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


def _softmax_dim(dim, ndim):
    """PyTorch's choice when ``dim`` is not given: 0 for 0-, 1- and 3-D input, else 1 (say ``dim``!)."""
    if dim is not None:
        return dim
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Scores -> probabilities along ``dim`` (they become positive and sum to 1). Shapes: any -> same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        x = _as_tensor(x)
        return F.softmax(x, _softmax_dim(self.dim, x.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, computed stably. Shapes: any -> same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        x = _as_tensor(x)
        return F.log_softmax(x, _softmax_dim(self.dim, x.ndim))

    def extra_repr(self):
        return f"dim={self.dim}"


class MLP(Module):
    """A multi-layer perceptron: layers of neurons, each fully connected to the layer before.

    ``sizes`` lists how many neurons each layer has, input first. ``MLP([784, 16, 16, 10],
    activation="sigmoid")`` is the network of 3Blue1Brown's series: 784 input activations (the
    pixels of a 28x28 image), two hidden layers of 16 neurons, 10 output neurons (one per digit).
    Between layers, every neuron's weighted sum plus bias goes through the activation function.
    That network has 784*16 + 16*16 + 16*10 = 12,960 weights and 16 + 16 + 10 = 42 biases:
    13,002 parameters.

    One list of sizes, inputs first, because that is how the network is drawn and counted
    (3Blue1Brown's 784-16-16-10). The scalar engine's :class:`micrograd_plus.scalar.MLP` takes the
    same list (``MLP([2, 16, 16, 1])``) and also micrograd's ``MLP(nin, nouts)``; here a second
    positional argument is the ``activation``, so ``nn.MLP(2, [16, 1])`` is refused with a message
    rather than misread. The transformer block's feed-forward network
    (:class:`micrograd_plus.models.gpt.MLP`, nanoGPT's ``MLP``) is a different thing.

    The last layer has no activation by default, so the outputs are *logits* (raw scores) for
    :func:`~micrograd_plus.functional.cross_entropy`; pass ``output_activation="sigmoid"`` for
    the video's (0, 1) outputs with a mean-squared-error cost.

    Args:
        sizes: ``[n_inputs, n_hidden_1, ..., n_outputs]``, at least two numbers.
        activation: between layers: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"``, ``"gelu"``
            or a Module class.
        output_activation: after the last layer (default None: none).
        bias: whether the neurons have biases.
        dropout: dropout probability after each hidden activation (0 disables).
        generator, dtype: as for :class:`Linear`.

    Attributes:
        layers: a :class:`Sequential` of Linear / activation (/ Dropout) modules, so parameters
            are named ``layers.0.weight``, ``layers.0.bias``, ``layers.2.weight``, ...

    Shapes: input ``(*, sizes[0])`` -> output ``(*, sizes[-1])``.
    """

    def __init__(self, sizes, activation="relu", output_activation=None, bias=True, dropout=0.0,
                 generator=None, dtype=None):
        super().__init__()
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            slip = "" if activation is None or isinstance(activation, (str, type)) else (
                f" (and a second positional argument {activation!r}, which is `activation`; "
                "the scalar engine's MLP(nin, nouts) takes two arguments, this one a single list)")
            raise TypeError(f"nn.MLP takes one list of layer sizes, inputs first, such as "
                            f"nn.MLP([2, 16, 16, 1]); got sizes={sizes!r}{slip}")
        if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise ValueError(f"nn.MLP layer sizes must be positive integers, got sizes={list(sizes)!r}")
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got sizes={sizes}")
        if not 0.0 <= float(dropout) < 1.0:  # checked here: with one layer no Dropout is built
            raise ValueError(f"nn.MLP dropout must be in [0, 1), got {dropout!r}")
        gen = get_generator(generator)
        self.sizes = sizes
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, bias=bias, generator=gen, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_activation(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout, generator=gen))
        if output_activation is not None:
            layers.append(_activation(output_activation))
        self.layers = Sequential(*layers)

    def forward(self, x):
        return self.layers(x)  # (*, sizes[0]) -> (*, sizes[-1])


# --- helpers ----------------------------------------------------------------------------------

_ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU, "identity": Identity}


def _activation(activation):
    """An activation Module from a name ('relu', ...), a Module class, or None (identity)."""
    if activation is None:
        return Identity()
    if isinstance(activation, str):
        if activation.lower() not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(_ACTIVATIONS)}")
        return _ACTIVATIONS[activation.lower()]()
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation()
    raise TypeError(f"activation must be a name such as 'relu', a Module class or None, got {activation!r}")


def _float_dtype(dtype):
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"layer weights need a floating dtype, got {dtype}")
    return dtype


def _positive_int(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer} needs {name} to be a positive integer, got {value!r}")
    return int(value)


def _as_tensor(x):
    """Let layers take plain numpy arrays too (wrapped without copying)."""
    return x if isinstance(x, Tensor) else Tensor(x)
