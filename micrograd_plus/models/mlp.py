"""The MNIST classifier: a multi-layer perceptron from 784 pixels to 10 digit scores.

This is 3Blue1Brown's network, made of :mod:`micrograd_plus.nn` parts::

    input layer      784 neurons, one per pixel of a 28x28 image (brightness 0..1)
    hidden layers    e.g. 16 and 16 neurons (the video), or 256 (our fast default)
    output layer     10 neurons, one per digit; the biggest one is the network's answer

Each layer computes ``activation(W a + b)`` of the layer before. The output layer has no
activation: its 10 numbers are *logits*, which :func:`~micrograd_plus.functional.softmax` turns
into probabilities and :func:`~micrograd_plus.functional.cross_entropy` turns into a cost.

Besides building the network, this module lets you look inside it: :func:`layer_activations`
returns what every layer "sees" for a batch of images, and :func:`predict_proba` the network's
confidence in each digit.
"""

import numpy as np

from micrograd_plus import nn
from micrograd_plus.functional import softmax
from micrograd_plus._tensor import Tensor, no_grad

#: Pixels per image (28 x 28) and digits to tell apart.
N_INPUTS = 784
N_CLASSES = 10

def mnist_classifier(hidden=(16, 16), activation="sigmoid", dropout=0.0, generator=None):
    """Build an MLP ``784 -> hidden... -> 10`` for MNIST.

    Args:
        hidden: sizes of the hidden layers, e.g. ``(16, 16)`` for the video's network or
            ``(256,)``. An empty tuple gives plain multinomial logistic regression.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"gelu"``, applied after every
            hidden layer (not after the output layer, whose outputs are logits).
        dropout: probability of zeroing each hidden activation during training (0: off).
        generator: a seeded :class:`numpy.random.Generator` (or an int seed) for the initial
            weights and the dropout masks; the same seed gives the same network.

    Returns:
        an :class:`~micrograd_plus.nn.MLP` mapping ``(B, 784)`` images to ``(B, 10)`` logits.
        Its Linear layers are ``model.layers[0]``, ``model.layers[2]``, ... (every other module;
        the ones between are activations).
    """
    # The sizes, the activation's name and the dropout probability are checked once, where they
    # are used (nn.MLP, nn.Dropout), with messages that name the bad value.
    return nn.MLP([N_INPUTS, *hidden, N_CLASSES], activation=activation, dropout=dropout, generator=generator)


def linear_layers(model):
    """The model's :class:`~micrograd_plus.nn.Linear` layers, input side first."""
    return [m for m in model.layers if isinstance(m, nn.Linear)]


def layer_activations(model, x):
    """Run ``x`` through ``model`` and keep every hidden layer's activations.

    Args:
        model: a network built by :func:`mnist_classifier`.
        x: images as a float array or Tensor, ``(B, 784)``.

    Returns:
        a list of numpy arrays: ``[(B, h1), (B, h2), ..., (B, 10)]`` -- the activations after
        each hidden layer's activation function, then the output logits. No graph is recorded.
    """
    acts = []
    with no_grad():
        h = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        mods = list(model.layers)
        for i, module in enumerate(mods):
            h = module(h)
            # an activation module (not a Linear) ends a hidden layer; Dropout is skipped in eval
            if not isinstance(module, (nn.Linear, nn.Dropout)):
                acts.append(h.numpy().copy())
        acts.append(h.numpy().copy())  # (B, 10) logits
    return acts


def predict_proba(model, x, batch_size=2000):
    """The network's probability for each digit: softmax of the logits, ``(B, 784) -> (B, 10)``.

    Runs in evaluation mode without recording a graph, ``batch_size`` images at a time.
    """
    x = np.asarray(x, dtype=np.float32)
    was_training = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                out.append(softmax(model(Tensor(x[i : i + batch_size])), dim=-1).numpy())  # (b, 10)
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, N_CLASSES), np.float32)
