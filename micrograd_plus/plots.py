"""The old name of :mod:`micrograd_plus.viz.training` (pictures of MNIST training), kept so that
``from micrograd_plus import plots`` goes on working. New code: ``from micrograd_plus import viz``."""

from micrograd_plus.viz.training import (  # noqa: F401 -- re-exported under the old name
    __all__,
    plot_confidence_histogram,
    plot_digits,
    plot_dreams,
    plot_hidden_activations,
    plot_loss_vs_time,
    plot_misclassified,
    plot_training_curves,
    plot_weight_images,
)
