"""Training: one loop for every model, and runs that never lose a user's work.

* :mod:`~micrograd_plus.train.loop` -- the loop (steps, evaluation, checkpoints, resume, Ctrl-C,
  the non-finite guard) and the :class:`~micrograd_plus.train.loop.Task` a model fills in;
* :mod:`~micrograd_plus.train.mnist`, :mod:`~micrograd_plus.train.gpt` -- the two tasks;
* :mod:`~micrograd_plus.train.config` -- every training setting, one name each (nanoGPT's), the
  presets, and the table of old names that keeps older checkpoints loading;
* :mod:`~micrograd_plus.train.rundir` -- the run directory: layout, lock, no silent overwrite;
* :mod:`~micrograd_plus.train.checkpoint` -- atomic ``.npz`` + JSON checkpoints, loaded without pickle;
* :mod:`~micrograd_plus.train.errors` -- the one hierarchy of errors, and the CLI's exit codes;
* :mod:`~micrograd_plus.train.progress` -- progress bars (the shared flags are in
  :mod:`micrograd_plus._plumbing.cli_args`, with the CLI).
"""
