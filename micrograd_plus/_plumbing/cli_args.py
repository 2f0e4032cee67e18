"""The ``micrograd-plus`` subcommands' shared flags, and the flags made from a config's fields.

A training command's settings are not written here a second time: :func:`add_config_flags` makes
one flag per field of a config dataclass (``learning_rate`` -> ``--learning-rate``, its type from
the field's annotation, its help from the field's documentation), :func:`config_overrides` reads
back the ones given, and :func:`add_renamed_flags` answers a flag's old spelling with its new
name. The checked types (``positive_int``, ...) live with the configs, in
:mod:`micrograd_plus._plumbing.configs`, and are re-exported here: ``--weight-decay nan`` gives
``error: argument --weight-decay: must be a finite number >= 0, got 'nan'``.

``mnist`` and ``gpt train`` take the same run flags (:func:`add_run_arguments`)::

    --out DIR         the run directory (last.npz, ckpt.npz, log.jsonl)
    --resume          continue the run saved in --out
    --force           replace the run saved in --out (kept until the new run's first checkpoint)
    --stop-after N    stop after N steps in total, as if interrupted (--resume continues)
    --no-progress     no progress bar
"""

import argparse
import dataclasses
import re
import typing

from micrograd_plus._plumbing.configs import (Choice, bounded_int, field_docs, flag_type, nonneg_float, nonneg_int,  # noqa: F401
                                              path_text, positive_float, positive_int, probability)  # (re-exported)

__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "probability", "path_text",
           "bounded_int", "add_run_arguments", "add_config_flags", "add_renamed_flags", "config_overrides"]


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


def add_config_flags(group, cls, defaults=None, only=None):
    """Add one flag per field of the config dataclass ``cls`` to ``group``: the flag *is* the field.

    Its name is the field's with dashes (``learning_rate`` -> ``--learning-rate``), it stores under
    the field's name, its type is the field's annotation (:func:`~micrograd_plus._plumbing.configs.flag_type`;
    a bool field is ``--bias`` / ``--no-bias``), its help is the field's documentation
    (:func:`~micrograd_plus._plumbing.configs.field_docs`) and the value it has in ``defaults``
    (a config instance, e.g. the default preset's; default: ``cls()``). Every flag defaults to None,
    "not given", so that :func:`config_overrides` can tell what the user set (a preset or a saved run
    fills in the rest). ``only``: the fields to give flags (default: all of them).
    """
    docs, plain = field_docs(cls), typing.get_type_hints(cls)  # (annotations without their Annotated[...] extras)
    defaults = cls() if defaults is None else defaults
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        value = getattr(defaults, f.name)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        # "%(default).0s" prints nothing: it only tells ArgumentDefaultsHelpFormatter that the default
        # is already shown (the flag's own default is None, "not given"; the one shown is the config's)
        text = _ROLE.sub(lambda m: m.group(1).split(".")[-1], docs.get(f.name, "")).replace("``", "")
        help_ = f"{text.rstrip('.')} (default: {shown})".replace("%", "%%") + "%(default).0s"
        flag = "--" + f.name.replace("_", "-")
        if f.type is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
            continue
        kind = flag_type(cls, f.name)
        choices = kind.words if isinstance(kind, Choice) else None
        group.add_argument(flag, type=kind, default=None, help=help_, choices=choices,
                           metavar="{" + ",".join(choices) + "}" if choices else _METAVARS.get(plain[f.name], f.name.upper()))


_ROLE = re.compile(r":\w+:`~?([\w.]+)`")  # a Sphinx cross-reference in a docstring: only its last name is shown
_METAVARS = {int: "N", float: "X"}  # by the field's plain annotation; others show the field's name


def config_overrides(args, cls):
    """The fields of ``cls`` given on the command line, ``{field: value}`` (flags made by
    :func:`add_config_flags` store under the field's own name, so no second list of names is needed)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


class _Renamed(argparse.Action):
    """An old flag's spelling: using it is a one-line usage error naming the flag it became."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.help_new}")


def add_renamed_flags(parser, renamed):
    """Answer each old spelling of ``renamed`` (``{"--lr": "--learning-rate"}``) with a usage error
    naming the new flag (never a silent ignore, never a bare "unrecognized arguments"). The old
    spellings are listed once at the end of ``--help``."""
    for old, new in renamed.items():
        action = parser.add_argument(old, action=_Renamed, nargs="?", help=argparse.SUPPRESS)
        action.help_new = new
    note = "renamed flags: " + ", ".join(f"{old} is now {new}" for old, new in renamed.items())
    parser.epilog = f"{parser.epilog}\n\n{note}" if parser.epilog else note
