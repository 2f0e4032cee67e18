"""Argument types the ``micrograd-plus`` subcommands share (``type=`` of ``argparse``).

Each turns the text a user typed into a value, or raises :class:`argparse.ArgumentTypeError`,
which argparse prints as a one-line usage error naming the option -- never a traceback.
"""

import argparse

__all__ = ["positive_int"]


def positive_int(text):
    """``"16"`` -> 16; anything that is not a whole number >= 1 is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
