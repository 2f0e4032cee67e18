"""A small convolutional network for MNIST, LeNet's shape: two convolution + pooling blocks, then
a small MLP head.

The MLP of :mod:`micrograd_plus.models.mlp` sees an image as 784 unrelated numbers. This network
assumes two things about pictures instead: what matters is local (each neuron of a convolution
looks at a 5x5 window), and a pattern means the same thing wherever it appears (a filter's 25
weights are shared by every position). Pooling then keeps the strongest response of each 2x2
neighbourhood, so a stroke moved by a pixel still lights up the same neuron::

    (B, 784) -> (B, 1, 28, 28)                              the pixels, as an image again
    Conv2d(1, c1, 5, padding=2) + ReLU -> (B, c1, 28, 28)    c1 feature maps: edges, strokes
    MaxPool2d(2)                       -> (B, c1, 14, 14)
    Conv2d(c1, c2, 5, padding=2) + ReLU -> (B, c2, 14, 14)   features of features: curves, loops
    MaxPool2d(2)                       -> (B, c2, 7, 7)
    Flatten, Linear(c2*49, hidden) + ReLU, Linear(hidden, 10) -> (B, 10) logits

It takes the same (B, 784) batches as the MLP (or (B, 1, 28, 28) images), so training, evaluation
and the CLI treat both alike.
"""

import numpy as np

from micrograd_plus import nn
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor

__all__ = ["MNISTConvNet", "mnist_cnn"]


class MNISTConvNet(nn.Module):
    """The network drawn in the module docstring.

    Attributes:
        features: a :class:`~micrograd_plus.nn.Sequential` of the two conv + ReLU + max-pool
            blocks; ``features[0]`` is the first convolution, whose ``c1`` filters (5x5) can be
            drawn as images.
        classifier: Flatten, the hidden Linear layer(s) with ReLU (and Dropout), the output layer.
    """

    def __init__(self, channels=(16, 32), hidden=(128,), dropout=0.0, generator=None, dtype=None):
        super().__init__()
        channels, hidden = tuple(int(c) for c in channels), tuple(int(h) for h in hidden)
        if len(channels) != 2 or min(channels) < 1:
            raise ValueError(f"MNISTConvNet needs two positive channel counts, got channels={channels!r}")
        gen = get_generator(generator)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2, generator=gen, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2, generator=gen, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.MLP([c2 * 7 * 7, *hidden, 10], activation="relu",
                                                            dropout=dropout, generator=gen, dtype=dtype))

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float32))
        if x.ndim == 2:
            x = x.reshape(x.shape[0], 1, 28, 28)  # (B, 784) -> (B, 1, 28, 28)
        return self.classifier(self.features(x))  # (B, 1, 28, 28) -> (B, c2, 7, 7) -> (B, 10)


def mnist_cnn(channels=(16, 32), hidden=(128,), dropout=0.0, generator=None):
    """Build :class:`MNISTConvNet`: (B, 784) or (B, 1, 28, 28) images -> (B, 10) logits."""
    return MNISTConvNet(channels, hidden, dropout=dropout, generator=generator)
