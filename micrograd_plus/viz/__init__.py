"""Pictures: the computation graph backpropagation walks, and what training did.

Two files, one per kind of picture:

* :mod:`micrograd_plus.viz.graph` -- a computation graph of Values or Tensors, every node with
  its data and grad: :func:`to_dot` (Graphviz text, needs nothing), :func:`draw` (an SVG/PNG
  through Graphviz's ``dot``), :func:`plot` (matplotlib).
* :mod:`micrograd_plus.viz.training` -- MNIST pictures with matplotlib: digit grids, loss and
  accuracy curves, misclassified digits, first-layer weights, hidden activations, "dreams",
  confidence on noise, loss against time; and :func:`save_figure`, how every command writes a
  figure (whole or not at all).

matplotlib is optional (``pip install micrograd_plus[plot]``) and imported only when a picture
is drawn, so ``import micrograd_plus.viz`` is cheap.
"""

from micrograd_plus.viz.graph import draw, plot, to_dot
from micrograd_plus.viz.training import (
    plot_confidence_histogram,
    plot_digits,
    plot_dreams,
    plot_hidden_activations,
    plot_loss_vs_time,
    plot_misclassified,
    plot_training_curves,
    plot_weight_images,
    pyplot,
    save_figure,
)

__all__ = [
    "to_dot", "draw", "plot",
    "plot_digits", "plot_training_curves", "plot_misclassified", "plot_weight_images",
    "plot_hidden_activations", "plot_dreams", "plot_confidence_histogram", "plot_loss_vs_time",
    "pyplot", "save_figure",
]
