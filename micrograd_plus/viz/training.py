"""Pictures of training and of what a trained network does, drawn with matplotlib.

matplotlib is imported only when a function here is called (it is an optional dependency:
``pip install micrograd_plus[plot]``). If pyplot has not been imported yet, the non-interactive
``Agg`` backend is selected, so plotting works on servers and in CI without a display.

Every function returns the :class:`matplotlib.figure.Figure`. With ``path`` it also saves a PNG
there and closes the figure (so long runs don't pile up open figures); without ``path`` the figure
stays open, for notebooks and the documentation's example gallery.

Images are MNIST-shaped: ``(N, 784)`` or ``(N, 28, 28)`` arrays with values in [0, 1].
"""

import sys
import textwrap
from pathlib import Path

import numpy as np

from micrograd_plus._plumbing.atomic import atomic_write

__all__ = [
    "pyplot", "save_figure", "plot_digits", "plot_training_curves", "plot_misclassified", "plot_weight_images",
    "plot_hidden_activations", "plot_dreams", "plot_confidence_histogram", "plot_loss_vs_time",
]


def pyplot():
    """``matplotlib.pyplot``, with the non-interactive Agg backend (files, no window) unless the
    user already picked a backend by importing pyplot first."""
    import matplotlib  # deferred: optional, and slow to import

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after the backend is chosen, above

    return plt


def save_figure(fig, path, dpi=100, force=None, flag="--png"):
    """Lay out ``fig``, write it to ``path`` and close it. The format comes from the suffix
    (``.png``, ``.svg``, ``.pdf``; PNG if there is none), and the file appears whole or not at all
    (:func:`~micrograd_plus._plumbing.atomic.atomic_write`); missing directories are made.

    ``force=None`` (a program saving its own figure) replaces a file at ``path``. A command passes
    its ``--force`` (True or False) instead, and the figure is then written under the rule of
    :mod:`micrograd_plus._plumbing.outputs`: an existing file is replaced only with ``force=True``, never
    through a link, and never while another command writes it (``flag`` names the option in errors).
    """
    fig.tight_layout()
    try:
        fmt = Path(path).suffix.lstrip(".") or "png"
        if force is None:
            with atomic_write(path) as f:
                fig.savefig(f, format=fmt, dpi=dpi)
        else:
            from micrograd_plus._plumbing.outputs import output_file  # light: the standard library only

            with output_file(path, force, flag=flag, make_parents=True) as f:
                fig.savefig(f, format=fmt, dpi=dpi)
    finally:
        pyplot().close(fig)


def _finish(fig, path):
    """Save and close ``fig`` if a ``path`` is given (:func:`save_figure`); return it either way."""
    if path is None:
        fig.tight_layout()
    else:
        save_figure(fig, path)
    return fig


def _as_images(images):
    """(N, 784) or (N, 28, 28) -> (N, 28, 28)."""
    images = np.asarray(images)
    if images.ndim == 2 and images.shape[1] == 784:
        return images.reshape(-1, 28, 28)
    if images.ndim == 3 and images.shape[1:] == (28, 28):
        return images
    raise ValueError(f"expected MNIST images shaped (N, 784) or (N, 28, 28), got {images.shape}")


def _grid(n, ncols):
    ncols = max(1, min(ncols, n))
    return -(-n // ncols), ncols  # (rows, cols)


def plot_digits(images, titles=None, path=None, ncols=10, title=None, cmap="gray_r", symmetric=False):
    """A grid of 28x28 images with an optional caption above each one.

    Args:
        images: ``(N, 784)`` or ``(N, 28, 28)``.
        titles: N short strings (or None).
        path: where to save the PNG (None: keep the figure open).
        ncols: images per row. title: a heading for the whole grid.
        cmap: colour map; ``symmetric=True`` centres it on 0 (for weights, which can be negative).
    """
    plt = pyplot()
    images = _as_images(images)
    n = len(images)
    if n == 0:
        raise ValueError("plot_digits: no images to draw")
    rows, cols = _grid(n, ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if symmetric:
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim)
        else:
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=1.0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_training_curves(history, step_losses=None, path=None, title=None):
    """Loss and accuracy against epochs: the two plots to look at after every run.

    Args:
        history: a list of per-epoch dicts with ``epoch``, ``step``, ``train_loss``,
            ``test_loss`` and ``test_accuracy`` (what :func:`micrograd_plus.train.mnist.train`
            records; its ``eval`` rows in ``log.jsonl``).
        step_losses: optional per-step training losses, drawn faintly (with a running mean)
            behind the per-epoch points on the loss plot.
    """
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [h["epoch"] for h in history]
    if step_losses is not None and len(step_losses):
        step_losses = np.asarray(step_losses, dtype=np.float64)
        steps_per_epoch = history[0]["step"] / history[0]["epoch"] if history else len(step_losses)
        x = (np.arange(len(step_losses)) + 1) / steps_per_epoch  # in epochs
        ax_loss.plot(x, step_losses, color="tab:blue", alpha=0.15, lw=0.5, label="train loss per step")
        k = max(1, len(step_losses) // 100)
        if k > 1:
            smooth = np.convolve(step_losses, np.ones(k) / k, mode="valid")
            ax_loss.plot(x[k - 1 :], smooth, color="tab:blue", lw=1, label=f"running mean of {k} steps")
    if history:
        ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", color="tab:blue", label="train loss (epoch mean)")
        ax_loss.plot(epochs, [h["test_loss"] for h in history], "s-", color="tab:orange", label="test loss")
        acc = [100 * h["test_accuracy"] for h in history]
        ax_acc.plot(epochs, acc, "s-", color="tab:orange", label="test accuracy")
        best = int(np.argmax(acc))
        ax_acc.annotate(f"best {acc[best]:.2f}%", (epochs[best], acc[best]), textcoords="offset points",
                        xytext=(-6, 8), ha="right")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss (cost)")
    ax_loss.set_yscale("log")
    ax_loss.set_title("loss")
    ax_loss.legend(fontsize=8)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy on the test images (%)")
    ax_acc.set_title("test accuracy")
    ax_acc.grid(alpha=0.3)
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=10)
    return _finish(fig, path)


def plot_misclassified(images, labels, predictions, path=None, max_images=40, probabilities=None, ncols=10):
    """The test digits the network got wrong, captioned ``predicted (true)``.

    Args:
        images: all test images, ``(N, 784)``. labels, predictions: ``(N,)`` ints.
        max_images: draw at most this many (the first ones, in test-set order).
        probabilities: optional ``(N, 10)`` softmax outputs, to show the confidence of each answer.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    wrong = np.flatnonzero(labels != predictions)
    total = len(labels)
    shown = wrong[:max_images]
    titles = []
    for i in shown:
        conf = f" {100 * probabilities[i, predictions[i]]:.0f}%" if probabilities is not None else ""
        titles.append(f"says {predictions[i]}{conf}\n(is {labels[i]})")
    heading = f"{len(wrong)} of {total:,} test digits misclassified ({100 * len(wrong) / max(total, 1):.2f}%)"
    if len(shown) == 0:
        plt = pyplot()
        fig = plt.figure(figsize=(5, 1.5))
        fig.text(0.5, 0.5, heading, ha="center", va="center")
        return _finish(fig, path)
    images = _as_images(images)[shown]
    return plot_digits(images, titles, path=path, ncols=ncols,
                       title=heading + (f"; the first {len(shown)}" if len(wrong) > len(shown) else ""))


def plot_weight_images(weights, path=None, max_neurons=32, ncols=8, title=None):
    """Each first-layer neuron's 784 incoming weights, drawn as a 28x28 image.

    Red pixels push the neuron's activation up when they are lit, blue ones push it down: the
    picture is the pattern the neuron "looks for" (3Blue1Brown's edge-and-loop detectors hope).

    Args:
        weights: the first Linear layer's weight matrix, ``(hidden, 784)``.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != 784:
        raise ValueError(f"expected first-layer weights shaped (hidden, 784), got {weights.shape}")
    n = min(len(weights), max_neurons)
    titles = [f"neuron {i}" for i in range(n)]
    return plot_digits(weights[:n], titles, path=path, ncols=ncols, cmap="bwr", symmetric=True,
                       title=title or "what each first-layer neuron looks for (its weights; red +, blue -)")


def plot_hidden_activations(mean_activations, path=None, layer_names=None, title=None):
    """Mean activation of every hidden neuron for each digit, one heatmap per hidden layer.

    Args:
        mean_activations: a list with one ``(10, hidden)`` array per hidden layer: row ``d`` is
            the average activation of each neuron over the test images of digit ``d``.
    """
    plt = pyplot()
    n = len(mean_activations)
    if n == 0:
        raise ValueError("plot_hidden_activations: the network has no hidden layer")
    widths = [max(3.0, 0.3 * a.shape[1] + 1.5) for a in mean_activations]
    fig, axes = plt.subplots(1, n, figsize=(min(sum(widths), 18), 4.2), squeeze=False)
    for k, (ax, acts) in enumerate(zip(axes.flat, mean_activations)):
        im = ax.imshow(acts, aspect="auto", cmap="viridis")
        ax.set_yticks(range(acts.shape[0]))
        ax.set_ylabel("digit")
        ax.set_xlabel("neuron")
        ax.set_title(layer_names[k] if layer_names else f"hidden layer {k + 1}")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(title or "mean activation of each hidden neuron, per digit")
    return _finish(fig, path)


def plot_dreams(images, confidences, path=None, title=None):
    """The inputs found by gradient ascent for each digit, with the network's confidence in them.

    Args:
        images: ``(10, 784)``: image ``d`` maximises output neuron ``d``.
        confidences: ``(10,)`` softmax probability of digit ``d`` for image ``d``.
    """
    titles = [f"'{d}': {100 * c:.1f}%" for d, c in enumerate(confidences)]
    return plot_digits(images, titles, path=path, ncols=10,
                       title=title or "images that maximise each output neuron (gradient ascent on the input)")


def plot_confidence_histogram(noise_confidence, test_confidence=None, path=None, title=None):
    """How sure the network is of its top answer: for random noise versus for real digits.

    Args:
        noise_confidence: ``(N,)`` top softmax probability for each noise image.
        test_confidence: optional ``(M,)`` the same for test images, for comparison.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0.0, 1.0, 41)
    if test_confidence is not None:
        ax.hist(test_confidence, bins=bins, alpha=0.6, density=True, color="tab:green", label="real test digits")
    ax.hist(noise_confidence, bins=bins, alpha=0.6, density=True, color="tab:red", label="random noise")
    ax.set_xlabel("the network's confidence in its top answer (max softmax probability)")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title(title or "shown nonsense, the network still answers, often confidently")
    return _finish(fig, path)


def plot_loss_vs_time(curves, path=None, title=None):
    """Training loss against wall-clock seconds for several runs on one plot.

    Args:
        curves: ``{label: (seconds, losses)}``, each a pair of equal-length 1-D arrays.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, (seconds, losses) in curves.items():
        ax.plot(seconds, losses, "-", marker=".", markersize=3, label=label)
    ax.set_xlabel("wall-clock time (s)")
    ax.set_ylabel("loss on the training set")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or "gradient descent versus stochastic gradient descent")
    return _finish(fig, path)
