"""``micrograd-plus mnist``: backpropagation and SGD on 60,000 handwritten digits.

  micrograd-plus mnist                          784-256-10 ReLU, past 98% test accuracy
  micrograd-plus mnist --preset 3b1b            the video's 784-16-16-10 sigmoid network
  micrograd-plus mnist --preset cnn             a LeNet-like convolutional network, past 99%
  micrograd-plus mnist --loss mse               the video's cost: squared error on one-hot targets
  micrograd-plus mnist --hidden 128,64 --activation tanh --optimizer adam --lr 1e-3
  micrograd-plus mnist --limit 5000 --epochs 1  a quick run on a subset
  micrograd-plus mnist --experiments all        then answer the video's questions with pictures
  micrograd-plus mnist --resume                 continue an interrupted run (Ctrl-C saves one)
  micrograd-plus mnist --force                  start again, replacing the run in --out

Everything goes to --out (default runs/mnist): last.npz (the latest state, what --resume continues),
ckpt.npz (the lowest test loss), log.jsonl (a line per step and per epoch), curves.png (loss and
accuracy), misclassified.png, and the experiments' pictures. A directory holding a run is never
replaced without --force. Options not given come from the preset; the same seed gives the same
numbers. Exit codes: 0 done, 2 bad input, 3 diverged (NaN loss), 130 Ctrl-C, 143
SIGTERM, 129 SIGHUP (each saves last.npz first).
"""

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from micrograd_plus._plumbing.cli_args import (add_run_arguments, nonneg_float, nonneg_int, path_text, positive_float,
                                    positive_int, probability)
from micrograd_plus.train.errors import ConfigError, exit_code_for_signal

HELP = "train an MLP on MNIST handwritten digits (the main demo), with plots and experiments"

DEFAULT_OUT = "runs/mnist"
# kept in step with micrograd_plus.train.mnist (which is imported only inside run, to keep --help light)
_PRESETS = ("default", "3b1b", "cnn")
_EXPERIMENTS = ("weights", "dream", "noise", "gd-vs-sgd")

# CLI option -> MNISTConfig field
_CONFIG_OPTIONS = {
    "hidden": "hidden", "model": "model", "channels": "channels", "activation": "activation", "dropout": "dropout", "loss": "loss",
    "optimizer": "optimizer", "lr": "lr", "momentum": "momentum", "nesterov": "nesterov",
    "weight_decay": "weight_decay", "schedule": "schedule", "warmup_steps": "warmup_steps",
    "batch_size": "batch_size", "epochs": "epochs", "seed": "seed", "limit": "limit",
    "test_limit": "test_limit", "data_dir": "data_dir",
}


def _hidden(text):
    """'16,16' -> (16, 16); '' or 'none' -> () (no hidden layer: logistic regression)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.replace("-", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden expects sizes like 16,16 or 256, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _channels(text):
    """'16,32' -> (16, 32): the cnn's two convolutions' filter counts."""
    try:
        sizes = tuple(int(part) for part in text.replace("-", ",").split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--channels expects two positive counts like 16,32, got {text!r}")
    return sizes


def _loss(text):
    name = text.strip().lower().replace("-", "_")
    if name not in ("cross_entropy", "mse"):
        raise argparse.ArgumentTypeError(f"--loss must be cross-entropy or mse, got {text!r}")
    return name


def _experiments(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return _EXPERIMENTS
    bad = [n for n in names if n not in _EXPERIMENTS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown experiment(s) {bad}; choose from {', '.join(_EXPERIMENTS)} or all")
    return tuple(names)


def add_arguments(parser):
    """Fill the ``mnist`` subcommand's parser."""
    parser.add_argument("--preset", choices=_PRESETS, default=None,
                        help="recipe to start from (default: default); the options below override it")
    add_run_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--max-steps", type=nonneg_int, dest="stop_after", help=argparse.SUPPRESS)  # older name
    parser.add_argument("--no-plots", action="store_true", help="do not draw curves.png and misclassified.png")
    parser.add_argument("--experiments", type=_experiments, default=(), metavar="LIST",
                        help=f"after training, run some of {','.join(_EXPERIMENTS)} (or 'all'); "
                             "each saves a PNG in --out")
    parser.add_argument("--gd-seconds", type=positive_float, default=10.0,
                        help="training time of each method in the gd-vs-sgd experiment (default: %(default)s)")

    g = parser.add_argument_group("model (default: from the preset)")
    g.add_argument("--model", choices=("mlp", "cnn"), default=None,
                   help="mlp (pixels straight into fully connected layers) or cnn (two conv + pool blocks first)")
    g.add_argument("--channels", type=_channels, default=None, metavar="C1,C2",
                   help="the cnn's filter counts, e.g. 16,32 (the cnn preset)")
    g.add_argument("--hidden", type=_hidden, default=None, metavar="SIZES",
                   help="hidden layer sizes, e.g. 16,16 (3b1b) or 256 (default); the cnn's head")
    g.add_argument("--activation", choices=("relu", "sigmoid", "tanh", "gelu"), default=None)
    g.add_argument("--loss", type=_loss, default=None, metavar="{cross-entropy,mse}",
                   help="cost function: cross-entropy, or mse on one-hot targets as in the video")
    g.add_argument("--dropout", type=probability, default=None, help="dropout probability after hidden layers")

    g = parser.add_argument_group("training (default: from the preset)")
    g.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default=None)
    g.add_argument("--lr", type=positive_float, default=None, help="(peak) learning rate")
    g.add_argument("--momentum", type=nonneg_float, default=None, help="SGD momentum (0 for plain SGD)")
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None, help="Nesterov momentum")
    g.add_argument("--weight-decay", type=nonneg_float, default=None)
    g.add_argument("--schedule", choices=("cosine", "constant"), default=None, help="learning-rate schedule")
    g.add_argument("--warmup-steps", type=nonneg_int, default=None)
    g.add_argument("--batch-size", type=positive_int, default=None)
    g.add_argument("--epochs", type=positive_int, default=None)
    g.add_argument("--seed", type=nonneg_int, default=None, help="weights, dropout and shuffling (default: 0)")

    g = parser.add_argument_group("data")
    g.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (quick runs)")
    g.add_argument("--test-limit", type=positive_int, default=None, metavar="N",
                   help="evaluate on the first N test images only")
    g.add_argument("--data-dir", type=path_text, default=None, help="directory holding the MNIST files (default: bundled copy)")


def _config_from_args(args, mnist):
    """The preset with every explicitly given option applied; also returns the given overrides."""
    overrides = {field: getattr(args, opt) for opt, field in _CONFIG_OPTIONS.items() if getattr(args, opt) is not None}
    config = replace(mnist.PRESETS[args.preset or "default"], **overrides)
    if "nesterov" not in overrides and config.momentum == 0:
        config = replace(config, nesterov=False)
    return config, overrides


def run(args):
    """Train, plot, run experiments; returns the exit code (errors are reported by the CLI's main:
    2 for bad input, 3 for a diverged loss; 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP)."""
    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train import mnist

    out = Path(args.out)
    config, overrides = _config_from_args(args, mnist)
    if args.experiments and config.model != "mlp":
        raise ConfigError("--experiments look inside an MLP's layers; they need --model mlp (this run is a "
                          f"{config.model})")
    if not args.resume:
        mnist.check_training_fits(config)  # an absurd --hidden or --batch-size, refused before the data loads
    if args.resume and (out / mnist.CHECKPOINT_NAME).is_file():  # (if missing, train() says so)
        _, saved, _, _ = mnist.read_checkpoint(out / mnist.CHECKPOINT_NAME)
        wanted = config if args.preset is not None else replace(saved, **overrides)
        differ = [f for f in saved.to_dict() if getattr(wanted, f) != getattr(saved, f)]
        if differ:
            raise ConfigError(f"--resume continues the saved run exactly, but {', '.join(differ)} differ(s) from "
                              f"{out / mnist.CHECKPOINT_NAME}; drop those options (or choose another --out for "
                              "a new run)")
    _check_pictures(args, out)
    if args.resume:
        config = None
    result = mnist.train(config, out_dir=out, resume=args.resume, force=args.force, stop_after=args.stop_after,
                         progress=False if args.no_progress else None)
    if not result.finished:
        return (exit_code_for_signal(result.signal or 2) if result.interrupted else 0)

    config = result.config
    print()
    n_test = len(result.task.x_test)
    print(f"test accuracy {100 * result.test_accuracy:.2f}% on {n_test:,} test images after "
          f"{config.epochs} epochs ({config.describe()})")
    seconds = [h["seconds"] for h in result.history]
    if seconds:
        print(f"training time per epoch {statistics.median(seconds):.2f} s (median), {sum(seconds):.1f} s in all "
              f"(evaluation excluded)")
    print(f"log: {out / mnist.METRICS_NAME}   checkpoints: {out / mnist.CHECKPOINT_NAME}, {out / 'ckpt.npz'}")

    if not args.no_plots or args.experiments:
        try:
            _pictures(args, result, out, mnist)
        except ImportError as exc:
            print(f"(no pictures: {exc}; pip install matplotlib)", file=sys.stderr)
    return 0


#: The pictures a run draws into --out (curves, mistakes, and those of --experiments).
PICTURES = ("curves.png", "misclassified.png", "first_layer_weights.png", "hidden_activations.png", "dreams.png",
            "noise_confidence.png", "gd_vs_sgd.png")


def _check_pictures(args, out):
    """Before training: a picture the run would draw over a file already in --out that is not this
    run's own (a fresh run without --force) is refused, and so is one that is a symbolic link."""
    from micrograd_plus._plumbing.outputs import check_output  # light

    for name in PICTURES:
        path = out / name
        if path.exists() or path.is_symlink():
            check_output(path, force=args.force or args.resume, flag="--out")


def _pictures(args, result, out, mnist):
    import matplotlib  # noqa: F401  (fail early with ImportError if it is missing)

    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus import viz
    from micrograd_plus.models.mlp import predict_proba  # deferred too

    task = result.task
    x_tr, y_tr, x_te, y_te = task.x_train, task.y_train, task.x_test, task.y_test
    model = result.model
    if not args.no_plots:
        viz.plot_training_curves(result.history, result.step_losses, path=out / "curves.png",
                                   title=result.config.describe())
        probs = predict_proba(model, x_te)
        viz.plot_misclassified(x_te, y_te, probs.argmax(axis=1), path=out / "misclassified.png",
                                 probabilities=probs)
        print(f"plots: {out / 'curves.png'}, {out / 'misclassified.png'}")
    if args.experiments:
        # deferred: the command list and --help load no numba, model or training code
        from micrograd_plus.train.mnist_experiments import run_experiments

        run_experiments(model, x_te, y_te, out, which=args.experiments, x_train=x_tr, y_train=y_tr,
                        seconds=args.gd_seconds)
