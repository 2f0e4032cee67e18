"""Train a tiny scalar-autograd MLP to separate two interleaved half-moons, and plot what it learned.

Every number in this network is a single ``Value``: 337 weights and biases in an
MLP(2, [16, 16, 1]), 100 points, a max-margin (hinge) loss with a little L2 regularisation,
and plain full-batch gradient descent -- micrograd's classic demo. After training it saves a
picture of the decision boundary: the curve where the network's score changes sign.

Example:

  micrograd-plus moons                      # 100 steps, figure in ./moons_output/
  micrograd-plus moons --steps 30 --seed 3 --out /tmp/moons
"""

import argparse
import os

import numpy as np

from micrograd_plus._plumbing.cli_args import bounded_int, path_text, positive_int
from micrograd_plus.data.moons import make_moons
from micrograd_plus.scalar import MLP, Value
from micrograd_plus.viz import pyplot, save_figure

HELP = "train a tiny scalar-autograd MLP on two half-moons and plot its decision boundary"

FIGURE_NAME = "moons_decision_boundary.png"


def add_arguments(parser):
    """Add the ``moons`` options to an :class:`argparse.ArgumentParser`."""
    parser.add_argument("--steps", type=positive_int, default=100,
                        help="gradient descent steps, each on all points (default: 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the data and the initial weights; same seed, same run (default: 0)")
    parser.add_argument("--out", type=path_text, default="moons_output",
                        help=f"directory for the figure {FIGURE_NAME} (default: ./moons_output)")
    parser.add_argument("--force", action="store_true", help=f"replace {FIGURE_NAME} in --out if it exists")
    parser.add_argument("--samples", type=bounded_int(1, MAX_SAMPLES, _samples_memory()), default=100,
                        help=f"number of two-moons points, at most {MAX_SAMPLES:,} (default: 100)")
    parser.add_argument("--noise", type=_noise, default=0.1,
                        help=f"standard deviation of the noise on each point, 0 to {MAX_NOISE} (default: 0.1)")


#: Each point is pushed through MLP(2, [16, 16, 1]) as hundreds of scalar Values per step, kept
#: until backward, and costs ~5 ms a step in pure Python: 10,000 points are ~0.5 GB and ~1 minute
#: a step already; more is refused (10^8 would need ~5 TB).
MAX_SAMPLES = 10_000
BYTES_PER_SAMPLE = 50_000  # measured: peak RSS grows ~46 KB per point (2,000 points vs 100, 2 steps)
#: Beyond a noise of 2 the two moons are one cloud; the figure's extent grows with it.
MAX_NOISE = 2.0


def _samples_memory():
    return (f"each point holds ~{BYTES_PER_SAMPLE // 1000} KB of scalar Values per step: "
            f"{MAX_SAMPLES:,} need ~{MAX_SAMPLES * BYTES_PER_SAMPLE / 1e9:.1f} GB, 100,000,000 would need "
            f"~{1e8 * BYTES_PER_SAMPLE / 1e12:.0f} TB")


def _noise(text):
    """``--noise``: a finite number from 0 to :data:`MAX_NOISE`."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= MAX_NOISE:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to {MAX_NOISE} (beyond it the two moons "
                                         f"are one cloud), got {text!r}")
    return value


def hinge_loss(model, X, y, alpha=1e-4):
    """The max-margin cost of ``model`` on points ``X`` with labels ``y`` in {-1, +1}.

    Each point costs ``relu(1 - y * score)``: nothing when its score has the right sign with a
    margin of at least 1, more the more wrong it is. Plus ``alpha * sum(w**2)``, which prefers
    small weights (a smoother boundary).

    Returns:
        ``(loss, accuracy)``: the cost as a Value (call ``backward()`` on it) and the fraction
        of points whose score has the right sign.
    """
    scores = [model(row) for row in X]
    losses = [(1 - yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = Value.sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * Value.sum([p * p for p in model.parameters()])
    accuracy = sum(bool(yi > 0) == (score.data > 0) for yi, score in zip(y, scores)) / len(y)
    return data_loss + reg_loss, accuracy


def train(model, X, y, steps=100, log=print):
    """Full-batch gradient descent with micrograd's schedule (learning rate 1.0 down to 0.1).

    Returns the list of ``(loss, accuracy)`` after each step's forward pass.
    """
    history = []
    for k in range(steps):
        loss, accuracy = hinge_loss(model, X, y)
        model.zero_grad()
        loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        history.append((loss.data, accuracy))
        if log and (k % 10 == 0 or k == steps - 1):
            log(f"step {k:4d}   loss {loss.data:.4f}   accuracy {accuracy:.0%}")
    return history


def decision_boundary_figure(model, X, labels, resolution=0.05):
    """A matplotlib figure: the model's score sign over the plane, with the points on top.

    ``X`` is an (n, 2) array, ``labels`` an (n,) array of 0/1 classes.
    """
    plt = pyplot()  # matplotlib is imported only now: optional, and slow to import

    x_min, x_max = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
    y_min, y_max = X[:, 1].min() - 0.5, X[:, 1].max() + 0.5
    resolution = max(resolution, (x_max - x_min) / 200, (y_max - y_min) / 200)  # at most ~200 x 200 points
    xx, yy = np.meshgrid(np.arange(x_min, x_max, resolution), np.arange(y_min, y_max, resolution))
    scores = np.array([model([a, b]).data for a, b in zip(xx.ravel(), yy.ravel())])
    zz = (scores > 0).reshape(xx.shape)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.contourf(xx, yy, zz, levels=[-0.5, 0.5, 1.5], colors=["#b7cdf0", "#f2c0b0"], alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=25)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_title("Decision boundary of MLP(2, [16, 16, 1])")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    fig.tight_layout()
    return fig


def run(args):
    """Generate the data, train, report, and save the figure. Returns the exit code."""
    from micrograd_plus._plumbing.outputs import check_output, check_output_dir  # light

    check_output_dir(args.out)  # before training: a figure that could not be saved is known now
    path = os.path.join(args.out, FIGURE_NAME)
    check_output(path, args.force, make_parents=True)
    X, labels = make_moons(args.samples, noise=args.noise, generator=args.seed)
    y = [2.0 * float(c) - 1.0 for c in labels]  # classes 0/1 -> labels -1/+1 for the hinge loss
    model = MLP(2, [16, 16, 1], generator=args.seed)
    print(f"two moons: {args.samples} points, noise {args.noise}; {model} "
          f"with {len(model.parameters())} parameters")
    history = train(model, X.tolist(), y, steps=args.steps)

    save_figure(decision_boundary_figure(model, X, labels), path, force=args.force, flag="--out")  # whole or not at all
    loss, accuracy = history[-1]
    print(f"final loss {loss:.4f}, accuracy {accuracy:.0%}; decision boundary saved to {path}")
    return 0
