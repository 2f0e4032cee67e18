"""Rebuilding a configuration dataclass from the plain dict it was saved as (JSON, checkpoints).

Every config of the package (:class:`~micrograd_plus.models.gpt_config.GPTConfig`, and those of
:mod:`micrograd_plus.train.config`: ``TrainConfig``, ``MNISTConfig``, ``RewardConfig``, ``PolicyConfig``)
is a frozen dataclass saved with ``to_dict`` and read back with ``from_dict``, which is
:func:`config_from_dict`: the dict must name only fields the class has (a missing one takes its
default, so a file written before a field existed still loads), and each value must have its
field's type -- a one-line error naming the field otherwise, before the class's own checks
(ranges, combinations) in ``__post_init__`` run::

    >>> config_from_dict(TrainConfig, {"batch_size": "12"})
    ConfigError: TrainConfig.batch_size must be an integer, got '12'

A field's annotation also says which values the command line accepts for it (``max_iters:
PositiveInt = 2000``), and its line in the class's ``Attributes:`` documentation is its ``--help``:
:func:`flag_type` and :func:`field_docs` are what
:func:`~micrograd_plus._plumbing.cli_args.add_config_flags` makes each flag from.
"""

import argparse
import dataclasses
import json
import math
import re
import types
import typing

import numpy as np

__all__ = ["config_from_dict", "json_depth", "loads_bounded", "MAX_JSON_DEPTH", "field_docs", "flag_type", "Choice",
           "PositiveInt", "NonNegInt", "PositiveFloat", "NonNegFloat", "Probability", "OptionalPositiveInt",
           "positive_int", "nonneg_int", "positive_float", "nonneg_float", "probability", "path_text", "bounded_int"]

# What each annotated type accepts from JSON. An int is a fine float (JSON writes 1.0 as 1.0, but a
# hand-written file may say 1); a bool is not an int here, although Python says it is.
_ACCEPTS = {
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
            "a finite number"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    str: (lambda v: isinstance(v, str), "a string"),
    tuple: (lambda v: isinstance(v, (list, tuple)), "a list"),
}


def _kinds(annotation, default):
    """The plain types a field accepts, and whether it accepts None (``int | None``, or a None default)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    kinds = [typing.get_origin(a) or a for a in args if a is not type(None)]
    return kinds, (type(None) in args or default is None)


def config_from_dict(cls, d, error=ValueError):
    """Build the dataclass ``cls`` from ``d``, a dict of (some of) its fields, checking names and types.

    Args:
        cls: a dataclass whose fields are annotated ``int``, ``float``, ``bool``, ``str`` or
            ``tuple`` (optionally ``| None``); other annotations are not checked here.
        d: the dict, as ``to_dict`` wrote it and JSON read it back (tuples come back as lists).
        error: the exception class to raise (``ConfigError`` for the training configs).

    Returns:
        ``cls(**d)``. Raises ``error`` with one line naming the class and the field when ``d`` is
        not a dict, names a field ``cls`` does not have, or holds a value of the wrong type.
    """
    what = cls.__name__
    if not isinstance(d, dict):
        raise error(f"{what} must be read from a dict of its fields, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise error(f"{what}.from_dict: unknown keys {unknown} (the fields are {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    for name, value in d.items():
        kinds, none_ok = _kinds(hints.get(name), fields[name].default)
        if value is None and none_ok:
            continue
        checks = [_ACCEPTS[k] for k in kinds if k in _ACCEPTS]
        if len(checks) == len(kinds) and checks and not any(ok(value) for ok, _ in checks):
            expected = " or ".join(name_ for _, name_ in checks) + (" (or null)" if none_ok else "")
            raise error(f"{what}.{name} must be {expected}, got {value!r}")
    return cls(**d)


#: How deep JSON read from a file may nest its objects and lists (configs and metadata use < 10).
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(text):
    """How deeply the JSON ``text`` nests its ``[`` and ``{`` (0 for a number or a string),
    counted without parsing it (strings are skipped), so that a hostile depth is measured, not recursed into."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8"), dtype=np.uint8)
    if skeleton.size == 0:
        return 0
    step = np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64) - np.isin(skeleton, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def loads_bounded(text, where, max_depth=MAX_JSON_DEPTH):
    """``json.loads(text)``, refusing first (ValueError naming ``where``) JSON nested deeper than ``max_depth``."""
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"{where}: the JSON nests {depth:,} levels deep, more than the {max_depth} allowed")
    return json.loads(text)


# ---- the values a field accepts, as command-line types --------------------------------------------
# A config field's annotation says which values it takes, ``max_iters: PositiveInt = 2000``; the
# command line reads its flag's type from there (:func:`flag_type`), so a flag cannot accept what
# its field refuses, nor drift from it. Each type turns the text a user typed into a value, or
# raises :class:`argparse.ArgumentTypeError`, which argparse prints as one usage line naming the
# flag: ``--weight-decay nan`` gives ``error: argument --weight-decay: must be a finite number >= 0, got 'nan'``.

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


class Choice:
    """The annotation marker of a field that takes one of a few words: ``Annotated[str, Choice("sgd", "adam")]``.

    Called on a user's text it returns the word (``-`` read as ``_``: ``cross-entropy`` is
    ``cross_entropy``), or raises the usage error listing the words.
    """

    def __init__(self, *words):
        self.words = words
        self.__name__ = "choice"

    def __call__(self, text):
        word = text.strip().lower().replace("-", "_")
        if word not in self.words:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(self.words)}, got {text!r}")
        return word


PositiveInt = typing.Annotated[int, positive_int]  # steps, sizes, batch sizes
NonNegInt = typing.Annotated[int, nonneg_int]  # warm-up steps, seeds
PositiveFloat = typing.Annotated[float, positive_float]  # learning rates
NonNegFloat = typing.Annotated[float, nonneg_float]  # weight decay, momentum, clipping, minimum learning rate
Probability = typing.Annotated[float, probability]  # dropout
OptionalPositiveInt = typing.Annotated[typing.Optional[int], positive_int]  # None: no limit
_PLAIN = {int: lambda text: _checked(text, int, lambda v: True, "an integer"),
          float: lambda text: _checked(text, float, math.isfinite, "a finite number"), str: str}


def flag_type(cls, name):
    """The command-line type of field ``name`` of the dataclass ``cls``: the checked type in its
    ``Annotated[...]`` annotation (a :class:`Choice` too), or a plain int / float / str reader."""
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    if typing.get_origin(hint) is typing.Annotated:
        return hint.__metadata__[0]
    kinds, _ = _kinds(hint, None)
    return _PLAIN[kinds[0]]


_ATTRIBUTE = re.compile(r"^(\w+(?:, \w+)*): (.*)$")


def field_docs(cls):
    """``{field: its documentation}`` from the ``Attributes:`` section of ``cls``'s docstring, where a
    line ``name: text`` (or ``a, b: text`` for fields documented together) starts a field's text
    and more deeply indented lines continue it. This is what ``--help`` prints beside each flag."""
    lines = (cls.__doc__ or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Attributes:"), None)
    docs, names, indent = {}, [], None
    for line in lines[start + 1:] if start is not None else ():
        if not line.strip():
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        match = _ATTRIBUTE.match(line.strip()) if depth == indent else None
        if match:
            names = match.group(1).split(", ")
            for name in names:
                docs[name] = match.group(2)
        elif depth > indent and names:
            for name in names:
                docs[name] += " " + line.strip()
        else:
            break
    return docs
