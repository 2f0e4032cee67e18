"""The errors a training run can stop with: one class per kind of failure, one hierarchy.

Everything the loop, the checkpoints and the run directory raise on purpose is a
:class:`RunError`, so a program (the ``micrograd-plus`` command line included) can catch them all
in one place and show the message, which always names what was wrong, as one line::

    RunError                       base class; the CLI prints "error: ..." and exits 2
    |-- ConfigError                a hyperparameter or flag is impossible (NaN, negative, ...)
    |-- RunDirError                --out cannot be used: a file, read-only, full, holds another run
    |   `-- RunLockedError         another live process is training into the same directory
    |-- CheckpointError            a checkpoint cannot be read or written (names the file)
    |   `-- CheckpointNotFoundError    ... because it does not exist
    `-- DivergedError              the loss or the weights became NaN/inf; the CLI exits 3

``ConfigError`` is also a :class:`ValueError`, ``CheckpointNotFoundError`` a
:class:`FileNotFoundError` and ``DivergedError`` a :class:`FloatingPointError`, so code written
against those built-in types keeps working. Ctrl-C is not an error: the loop stops at the next
step boundary, saves, and returns a result with ``interrupted=True``.
"""

#: Process exit codes of the command line (see :mod:`micrograd_plus._plumbing.cli`).
EXIT_OK = 0
EXIT_BAD_INPUT = 2  # any RunError except DivergedError, and argparse's own errors
EXIT_DIVERGED = 3  # DivergedError: training stopped on a non-finite loss or weight
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, the shell convention)
EXIT_HANGUP = 129  # SIGHUP: the terminal was closed (128 + 1)
EXIT_TERMINATED = 143  # SIGTERM: `kill`, a batch scheduler, a container stop (128 + 15)


#: The exit codes as ``--help`` shows them (the top-level command, each subcommand, ``gpt train``).
EXIT_CODES_HELP = """\
exit codes: 0 done, 2 bad input, 3 training diverged, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
(Ctrl-C, SIGTERM and SIGHUP all stop a training run after its current step, with last.npz
saved for --resume, and leave no partial file behind).
"""


def exit_code_for_signal(signum):
    """The shell's exit code for a process stopped by signal ``signum``: 128 + its number
    (130 for Ctrl-C, 129 for SIGHUP, 143 for SIGTERM)."""
    return 128 + int(signum)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C would raise KeyboardInterrupt (it is one, so every
    ``except KeyboardInterrupt`` clean-up runs for it too). ``signum`` says which signal it was."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = int(signum)


class RunError(Exception):
    """Base class of every error a training run raises on purpose; the message names the problem."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(RunError, ValueError):
    """A hyperparameter or command-line value is impossible, e.g. ``--weight-decay nan``."""


class RunDirError(RunError):
    """The run directory (``--out``) cannot be used: it is a file, lies under a file, is not
    writable, the disk is full, or it already holds another run."""


class RunLockedError(RunDirError):
    """Another live process holds the run directory's lock (its pid is in the message)."""


class CheckpointError(RunError):
    """A checkpoint cannot be written or read; the message names the file and the problem."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (also catchable as :class:`FileNotFoundError`)."""


class DivergedError(RunError, FloatingPointError):
    """The loss (or a weight) became NaN or infinite. Training stopped before saving that state:
    the last checkpoint on disk is the last good one, and the message says which it is."""

    exit_code = EXIT_DIVERGED
