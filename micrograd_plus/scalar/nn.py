"""Neurons, layers and multi-layer perceptrons built from scalar :class:`Value` objects.

In 3Blue1Brown's words: a **neuron** is a thing that holds a number, its **activation**. A
neuron in a hidden layer computes its activation from *all* the activations of the layer
before it: it weighs each one by a **weight**, adds a **bias**, and squashes the sum with a
non-linearity::

    activation = relu(w[0]*a[0] + w[1]*a[1] + ... + b)

A **layer** is a list of neurons reading the same inputs, so one layer's activations
determine the next layer's. An **MLP** (multi-layer perceptron) is layers in a row; its last
layer has no squashing, so its outputs can be any number (scores).

Every weight and bias is a leaf :class:`Value`. Calling the network builds a computation graph
from them; ``loss.backward()`` then fills in each parameter's ``grad``, and gradient descent
nudges ``p.data -= learning_rate * p.grad``::

    from micrograd_plus.scalar import MLP

    net = MLP(2, [16, 16, 1], generator=0)   # 2 inputs -> 16 -> 16 -> 1 score
    score = net([0.5, -1.0])                  # a Value
    len(net.parameters())                     # 337 weights and biases

The tensor engine's ``nn.Linear`` computes a whole layer (and a whole batch) as one matrix
product; these classes spell out the same arithmetic one neuron at a time.
"""

from numbers import Integral

from micrograd_plus.random import get_generator
from micrograd_plus.scalar.engine import Value

__all__ = ["Module", "Neuron", "Layer", "MLP"]

NONLINEARITIES = ("relu", "tanh", "sigmoid", "linear")


class Module:
    """Something with parameters: the base class of :class:`Neuron`, :class:`Layer`, :class:`MLP`.

    micrograd's two-method base class, kept that small on purpose. The tensor engine's
    :class:`micrograd_plus.nn.Module` is the full PyTorch-style one (registration by assignment,
    ``state_dict``, ``train``/``eval``); the two are separate because a Value network needs none
    of that, and chapter 1 should not have to read it.
    """

    def parameters(self):
        """All leaf Values this module learns (weights and biases), as a list."""
        return []

    def zero_grad(self):
        """Set every parameter's ``grad`` to 0.0, ready for the next ``backward()``.

        Gradients accumulate (``+=``) in backward, so without this each step would also
        carry all the previous steps' gradients. 0.0 and not None (which the tensor engine's
        ``nn.Module.zero_grad`` uses): a Value's gradient is one float that ``backward``
        always *adds* to, so it must hold a number; a Tensor's gradient is an array that
        ``backward`` can store fresh, so there None ("no gradient yet") is cheaper and clearer.
        """
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """One neuron: ``activation = nonlinearity(w . x + b)``.

    Args:
        nin: how many inputs (activations of the previous layer) it reads.
        nonlinearity: ``"relu"`` (default), ``"tanh"``, ``"sigmoid"`` or ``"linear"`` (none).
        generator: seeds the weights (a numpy Generator, an int seed, or None for the library
            default; see :mod:`micrograd_plus.random`).

    Weights start uniform in [-1, 1] and the bias at 0. After a call, ``self.activation``
    holds the Value the neuron produced for the most recent input.
    """

    def __init__(self, nin, nonlinearity="relu", generator=None):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        rng = get_generator(generator)
        self.w = [Value(float(u), label=f"w{i}") for i, u in enumerate(rng.uniform(-1.0, 1.0, nin))]
        self.b = Value(0.0, label="b")
        self.nonlinearity = nonlinearity
        self.activation = None

    def __call__(self, x):
        """Compute the activation from the inputs ``x`` (a list of ``nin`` Values or numbers)."""
        if len(x) != len(self.w):
            raise ValueError(f"this neuron reads {len(self.w)} inputs, got {len(x)}")
        z = Value.dot(self.w, x) + self.b  # the weighted sum plus bias
        if self.nonlinearity == "relu":
            z = z.relu()
        elif self.nonlinearity == "tanh":
            z = z.tanh()
        elif self.nonlinearity == "sigmoid":
            z = z.sigmoid()
        self.activation = z
        return z

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        return f"Neuron({len(self.w)}, nonlinearity={self.nonlinearity!r})"


class Layer(Module):
    """A list of ``nout`` neurons, each reading the same ``nin`` inputs.

    Calling it with ``nin`` inputs returns the list of ``nout`` activations, which are the
    next layer's inputs. ``generator`` seeds all the neurons' weights (see :class:`Neuron`).
    """

    def __init__(self, nin, nout, nonlinearity="relu", generator=None):
        rng = get_generator(generator)
        self.neurons = [Neuron(nin, nonlinearity, generator=rng) for _ in range(nout)]

    def __call__(self, x):
        """Return this layer's activations (a list of ``nout`` Values) for inputs ``x``."""
        return [neuron(x) for neuron in self.neurons]

    @property
    def activations(self):
        """The activations from the most recent call, one per neuron."""
        return [neuron.activation for neuron in self.neurons]

    def parameters(self):
        return [p for neuron in self.neurons for p in neuron.parameters()]

    def __repr__(self):
        return f"Layer({len(self.neurons[0].w) if self.neurons else 0}, {len(self.neurons)})"


class MLP(Module):
    """A multi-layer perceptron: layers in a row, each feeding its activations to the next.

    Two spellings build the same network::

        MLP(2, [16, 16, 1])      # micrograd's: number of inputs, then each layer's size
        MLP([2, 16, 16, 1])      # every size, inputs first, as nn.MLP takes them

    The first is micrograd's own signature, kept because chapter 1, micrograd's demo and its
    readers use it; the second is the one :class:`micrograd_plus.nn.MLP` (the tensor engine's,
    e.g. ``nn.MLP([784, 16, 16, 10])``) takes, so one line works in both worlds. (The ``MLP``
    inside a transformer block, :class:`micrograd_plus.models.gpt.MLP`, is a different thing:
    the position-wise feed-forward C -> 4C -> C that nanoGPT calls ``MLP``.)

    Args:
        nin: number of inputs -- or the list of all sizes, inputs first, when ``nouts`` is omitted.
        nouts: the size of each layer, e.g. ``[16, 16, 1]``.
        nonlinearity: the hidden layers' squashing function (default ``"relu"``); the last
            layer is linear, so it outputs unbounded scores.
        generator: seeds every weight (a Generator, an int seed, or None).

    Calling it with ``nin`` numbers or Values returns the last layer's outputs: a single
    Value when that layer has one neuron, otherwise a list.
    """

    def __init__(self, nin, nouts=None, nonlinearity="relu", generator=None):
        if nouts is None and isinstance(nin, (list, tuple)):
            sizes = list(nin)  # MLP([2, 16, 16, 1])
        else:
            sizes = [nin] + (list(nouts) if isinstance(nouts, (list, tuple, range)) else [nouts])
        if len(sizes) < 2 or not all(isinstance(n, Integral) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise ValueError(f"MLP needs positive integer sizes: MLP(nin, [sizes of the layers]) such as "
                             f"MLP(2, [16, 16, 1]), or MLP([2, 16, 16, 1]); got nin={nin!r}, nouts={nouts!r}")
        rng = get_generator(generator)
        n_layers = len(sizes) - 1
        self.layers = [
            Layer(int(sizes[i]), int(sizes[i + 1]),
                  nonlinearity=nonlinearity if i < n_layers - 1 else "linear",
                  generator=rng)
            for i in range(n_layers)
        ]

    def __call__(self, x):
        """Run the network forward on one input ``x`` (a list of ``nin`` numbers or Values)."""
        x = [xi if isinstance(xi, Value) else Value(xi) for xi in x]
        for layer in self.layers:
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        sizes = [len(self.layers[0].neurons[0].w)] + [len(layer.neurons) for layer in self.layers]
        return f"MLP({sizes[0]}, {sizes[1:]})"
