"""The ``micrograd-plus`` subcommands' shared flags and checked number types (``type=`` of argparse).

Each type turns the text a user typed into a value, or raises
:class:`argparse.ArgumentTypeError`, which argparse prints as a one-line usage error naming the
option, before anything runs -- never a traceback: ``--weight-decay nan`` gives ``error:
argument --weight-decay: must be a finite number >= 0, got 'nan'``.

``mnist`` and ``gpt train`` take the same run flags (:func:`add_run_arguments`)::

    --out DIR         the run directory (last.npz, ckpt.npz, log.jsonl)
    --resume          continue the run saved in --out
    --force           replace the run saved in --out (kept until the new run's first checkpoint)
    --stop-after N    stop after N steps in total, as if interrupted (--resume continues)
    --no-progress     no progress bar
"""

import argparse
import math

__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "probability", "path_text",
           "bounded_int", "add_run_arguments"]


def _checked(text, kind, ok, what):
    """``kind(text)`` if it parses and ``ok(value)``; otherwise the usage error ``must be WHAT, got 'TEXT'``."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text):
    """``"16"`` -> 16: an int >= 1 (steps, sizes, batch sizes)."""
    return _checked(text, int, lambda v: v >= 1, "a positive integer")


def nonneg_int(text):
    """An int >= 0 (warm-up steps, seeds, ``--stop-after``)."""
    return _checked(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    """A finite float > 0 (learning rates, temperatures)."""
    return _checked(text, float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def nonneg_float(text):
    """A finite float >= 0 (weight decay, momentum, gradient clipping, minimum learning rate)."""
    return _checked(text, float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def probability(text):
    """A float in [0, 1) (dropout)."""
    return _checked(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def path_text(text):
    """A file or directory name: any text but an empty one (``--out ''`` would silently mean the
    current directory) or one with a NUL byte (no file system takes it)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a file or directory name, got {text!r}")
    return text


def bounded_int(low, high, why=""):
    """A type for ints in ``[low, high]``: ``bounded_int(1, 10**6, "...")``; ``why`` ends the error
    (for instance the memory such a value would need)."""

    def parse(text):
        return _checked(text, int, lambda v: low <= v <= high,
                        f"an integer from {low:,} to {high:,}" + (f" ({why})" if why else ""))

    parse.__name__ = f"int_{low}_{high}"
    return parse


def add_run_arguments(parser, default_out):
    """Add the shared run flags (``--out``, ``--resume``, ``--force``, ``--stop-after``,
    ``--no-progress``) to ``parser``."""
    g = parser.add_argument_group("the run directory")
    g.add_argument("--out", type=path_text, default=default_out,
                   help="run directory: last.npz, ckpt.npz (best), log.jsonl (default: %(default)s)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    mode.add_argument("--force", action="store_true",
                      help="replace the run saved in --out (its files are kept until this run's first checkpoint)")
    g.add_argument("--stop-after", type=nonneg_int, default=None, metavar="N",
                   help="stop after N steps in total, as if interrupted (continue with --resume)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
