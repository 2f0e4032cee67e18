"""Rebuilding a configuration dataclass from the plain dict it was saved as (JSON, checkpoints).

Every config of the package (:class:`~micrograd_plus.models.gpt.GPTConfig`,
:class:`~micrograd_plus.train.gpt.TrainConfig`, :class:`~micrograd_plus.train.mnist.MNISTConfig`)
is a frozen dataclass saved with ``to_dict`` and read back with ``from_dict``, which is
:func:`config_from_dict`: the dict must name only fields the class has (a missing one takes its
default, so a file written before a field existed still loads), and each value must have its
field's type -- a one-line error naming the field otherwise, before the class's own checks
(ranges, combinations) in ``__post_init__`` run::

    >>> config_from_dict(TrainConfig, {"batch_size": "12"})
    ConfigError: TrainConfig.batch_size must be an integer, got '12'
"""

import dataclasses
import json
import math
import re
import types
import typing

import numpy as np

__all__ = ["config_from_dict", "json_depth", "loads_bounded", "MAX_JSON_DEPTH"]

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
