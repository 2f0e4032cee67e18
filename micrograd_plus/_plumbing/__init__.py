"""Plumbing: what makes the library safe to run, not what it teaches. A learner can skip this package.

* :mod:`~micrograd_plus._plumbing.atomic` -- write a file so that it is the old one or the whole new
  one, never half (checkpoints, exported models, figures);
* :mod:`~micrograd_plus._plumbing.outputs` -- the one rule every command follows when it writes:
  nothing replaced without ``--force``, ``--force`` replacing only the command's own files, one
  writer at a time, no leftovers;
* :mod:`~micrograd_plus._plumbing.configs` -- rebuild a config dataclass from the dict it was saved
  as, with a one-line error naming a wrong field;
* :mod:`~micrograd_plus._plumbing.cli` -- the ``micrograd-plus`` command (each subcommand's own
  flags live beside what it runs: ``train/mnist_cli.py``, ``train/gpt_cli.py``, ``bench/cli.py``);
* :mod:`~micrograd_plus._plumbing.cli_args` -- the flags and checked number types the subcommands share.
"""
