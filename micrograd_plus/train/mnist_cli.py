"""``micrograd-plus mnist``: backpropagation and SGD on 60,000 handwritten digits.

  micrograd-plus mnist                          784-256-10 ReLU, past 98% test accuracy
  micrograd-plus mnist --preset 3b1b            the video's 784-16-16-10 sigmoid network
  micrograd-plus mnist --preset cnn             a LeNet-like convolutional network, past 99%
  micrograd-plus mnist --loss mse               the video's cost: squared error on one-hot targets
  micrograd-plus mnist --hidden 128,64 --activation tanh --optimizer adam --learning-rate 1e-3
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

from micrograd_plus._plumbing.cli_args import add_config_flags, add_renamed_flags, add_run_arguments, config_overrides, positive_float
from micrograd_plus.train.config import MNIST_PRESETS, MNISTConfig
from micrograd_plus.train.errors import ConfigError, exit_code_for_signal

HELP = "train an MLP on MNIST handwritten digits (the main demo), with plots and experiments"

DEFAULT_OUT = "runs/mnist"
_EXPERIMENTS = ("weights", "dream", "noise", "gd-vs-sgd")
#: Flags spelled differently before each setting got one name (:mod:`micrograd_plus.train.config`):
#: each gives a one-line error naming the new flag. (``--max-steps`` was an older ``--stop-after``.)
RENAMED_FLAGS = {"--lr": "--learning-rate", "--warmup-steps": "--warmup-iters", "--max-steps": "--stop-after"}


def _experiments(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return _EXPERIMENTS
    bad = [n for n in names if n not in _EXPERIMENTS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown experiment(s) {bad}; choose from {', '.join(_EXPERIMENTS)} or all")
    return tuple(names)


def add_arguments(parser):
    """Fill the ``mnist`` subcommand's parser: a preset, the run flags, and one flag per field of
    :class:`~micrograd_plus.train.config.MNISTConfig` (:func:`add_config_flags`: name, type, help and
    the default preset's value all come from the field)."""
    parser.add_argument("--preset", choices=tuple(MNIST_PRESETS), default=None,
                        help="recipe to start from (default: default); the options below override it")
    add_run_arguments(parser, DEFAULT_OUT)
    parser.add_argument("--no-plots", action="store_true", help="do not draw curves.png and misclassified.png")
    parser.add_argument("--experiments", type=_experiments, default=(), metavar="LIST",
                        help=f"after training, run some of {','.join(_EXPERIMENTS)} (or 'all'); "
                             "each saves a PNG in --out")
    parser.add_argument("--gd-seconds", type=positive_float, default=10.0,
                        help="training time of each method in the gd-vs-sgd experiment (default: %(default)s)")
    add_config_flags(parser.add_argument_group("the run's settings (default: from the preset; shown: default's)"),
                     MNISTConfig, MNIST_PRESETS["default"])
    add_renamed_flags(parser, RENAMED_FLAGS)


def _config_from_args(args):
    """The preset with every explicitly given option applied; also returns the given overrides."""
    overrides = config_overrides(args, MNISTConfig)
    config = replace(MNIST_PRESETS[args.preset or "default"], **overrides)
    if "nesterov" not in overrides and config.momentum == 0:
        config = replace(config, nesterov=False)
    return config, overrides


def run(args):
    """Train, plot, run experiments; returns the exit code (errors are reported by the CLI's main:
    2 for bad input, 3 for a diverged loss; 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP)."""
    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train import mnist

    out = Path(args.out)
    config, overrides = _config_from_args(args)
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

    config = result.task.config
    print()
    n_test = len(result.task.x_test)
    print(f"test accuracy {100 * result.evals[-1]['test_accuracy']:.2f}% on {n_test:,} test images after "
          f"{config.epochs} epochs ({config.describe()})")
    seconds = [h["seconds"] for h in result.evals]
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
        viz.plot_training_curves(result.evals, result.step_losses, path=out / "curves.png",
                                   title=result.task.config.describe())
        probs = predict_proba(model, x_te)
        viz.plot_misclassified(x_te, y_te, probs.argmax(axis=1), path=out / "misclassified.png",
                                 probabilities=probs)
        print(f"plots: {out / 'curves.png'}, {out / 'misclassified.png'}")
    if args.experiments:
        # deferred: the command list and --help load no numba, model or training code
        from micrograd_plus.train.mnist_experiments import run_experiments

        run_experiments(model, x_te, y_te, out, which=args.experiments, x_train=x_tr, y_train=y_tr,
                        seconds=args.gd_seconds)
