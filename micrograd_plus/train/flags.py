"""The command-line flags every training command shares, and checked number types for the rest.

``mnist`` and ``gpt train`` take the same run flags (:func:`add_run_arguments`)::

    --out DIR         the run directory (last.npz, ckpt.npz, log.jsonl)
    --resume          continue the run saved in --out
    --force           replace the run saved in --out (kept until the new run's first checkpoint)
    --stop-after N    stop after N steps in total, as if interrupted (--resume continues)
    --no-progress     no progress bar

The types below make argparse reject a bad number with one line naming the flag, before anything
runs: ``--weight-decay nan`` gives ``error: argument --weight-decay: must be a finite number >= 0,
got 'nan'``.
"""

import argparse
import math


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {name}, got {text!r}") from None


def positive_int(text):
    """An int >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonneg_int(text):
    """An int >= 0."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text):
    """A finite float > 0 (learning rates, temperatures)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonneg_float(text):
    """A finite float >= 0 (weight decay, momentum, gradient clipping, minimum learning rate)."""
    value = _number(text, float)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def probability(text):
    """A float in [0, 1) (dropout)."""
    value = _number(text, float)
    if not (0 <= value < 1):
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def add_run_arguments(parser, default_out):
    """Add the shared run flags (``--out``, ``--resume``, ``--force``, ``--stop-after``,
    ``--no-progress``) to ``parser``."""
    g = parser.add_argument_group("the run directory")
    g.add_argument("--out", default=default_out,
                   help="run directory: last.npz, ckpt.npz (best), log.jsonl (default: %(default)s)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    mode.add_argument("--force", action="store_true",
                      help="replace the run saved in --out (its files are kept until this run's first checkpoint)")
    g.add_argument("--stop-after", type=nonneg_int, default=None, metavar="N",
                   help="stop after N steps in total, as if interrupted (continue with --resume)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
