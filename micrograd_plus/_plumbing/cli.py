"""The ``micrograd-plus`` command line: one subcommand per thing you can run and watch.

Each subcommand lives in its own module, which provides three names:

* ``HELP`` -- one line for the command list,
* ``add_arguments(parser)`` -- fills an :class:`argparse.ArgumentParser`,
* ``run(args) -> int`` -- does the work and returns the process exit code.

Every command's module is imported to build the parser (argparse needs all the flags), so each
keeps what is slow to load -- numba and its kernels, the tensor engine, the models -- inside the
functions that run: ``micrograd-plus moons`` and every ``--help`` never load numba
(``tests/test_layout.py`` holds this).

Errors reach the user as one line, never as a traceback. Exit codes:

* ``0`` -- done;
* ``2`` -- bad input: a flag, a file, a checkpoint, the output directory (argparse's errors too);
* ``3`` -- training diverged: the loss became NaN or infinite (the last good checkpoint is kept);
* ``130`` -- interrupted by Ctrl-C (a training run saved ``last.npz`` first; ``--resume`` continues);
* ``143`` / ``129`` -- stopped by SIGTERM (``kill``, a batch scheduler, a container stop) / SIGHUP
  (the terminal closed), handled exactly like Ctrl-C: a training run finishes its step, saves
  ``last.npz`` and stops; ``gpt export``, ``gpt bpe`` and every other command remove their
  unfinished files.
"""

import _thread
import argparse
import importlib
import signal
import sys
import threading

from micrograd_plus import __version__
from micrograd_plus.data import DataError  # numpy and the loaders: light, no numba
from micrograd_plus.train.errors import EXIT_CODES_HELP, EXIT_INTERRUPTED, RunError, Terminated, exit_code_for_signal

# Subcommands in the order of the learning path: a few neurons, then MNIST, then a GPT.
COMMANDS = {
    "moons": "micrograd_plus.scalar.demo",
    "mnist": "micrograd_plus.train.mnist_cli",
    "gpt": "micrograd_plus.train.gpt_cli",
    "bench": "micrograd_plus.bench.cli",
}

DESCRIPTION = """\
micrograd_plus: learn how neural networks work by running them.

  moons   a tiny scalar-autograd MLP learns to separate two interleaved half-moons
  mnist   backpropagation + SGD on 60,000 handwritten digits (the main demo)
  gpt     train and sample a character-level GPT on Tiny Shakespeare
  bench   time our numba kernels against numpy's BLAS and (if installed) PyTorch

Run `micrograd-plus COMMAND --help` for what each one can do.
"""

EPILOG = EXIT_CODES_HELP


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``PROG: error: ...``), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """Build the top-level parser with one subparser per available command."""
    parser = ArgumentParser(
        prog="micrograd-plus",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"micrograd_plus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # a command whose optional dependency is missing
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(_unavailable=str(exc))
            continue
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=(module.__doc__ or module.HELP),
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def _redeliver_interrupts(previous):
    """A ``sys.unraisablehook`` that hands a Ctrl-C back to the main thread.

    When Ctrl-C lands while Python runs a ``__del__`` (a progress bar being closed, say), the
    KeyboardInterrupt cannot propagate: Python prints "Exception ignored in ..." with a traceback
    and carries on, as if Ctrl-C had never been pressed. This hook prints nothing for it and has
    Ctrl-C delivered to the main thread again a millisecond later, from a helper thread
    (``_thread.interrupt_main``; delivered from here, it would land inside this hook), so the run
    stops the way any Ctrl-C stops it. Every other unraisable error goes to ``previous``.
    """

    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            again = threading.Timer(0.001, _thread.interrupt_main)
            again.daemon = True
            again.start()
            return
        previous(unraisable)

    return hook


def _raise_terminated(signum, frame):
    """SIGTERM / SIGHUP outside a training loop: stop the way Ctrl-C stops (clean-ups run)."""
    raise Terminated(signum)


def _terminate_like_ctrl_c():
    """Install :func:`_raise_terminated` for SIGTERM and SIGHUP (main thread only); returns the
    handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, _raise_terminated)
    return previous


def main(argv=None):
    """Entry point of ``micrograd-plus``; returns the exit code (see the module docstring)."""
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver_interrupts(previous_hook)
    previous_handlers = _terminate_like_ctrl_c()
    try:
        return _main(argv)
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _main(argv):
    """:func:`main`'s work: parse, run the command, turn its errors into one line and an exit code."""
    prog = "micrograd-plus"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "_unavailable", None):
            parser.error(f"command {args.command!r} is unavailable: {args._unavailable}")
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0
        prog = " ".join(["micrograd-plus", args.command, getattr(args, "gpt_command", None) or ""]).strip()
        return int(args._run(args) or 0)
    except RunError as exc:
        print(f"{prog}: {'stopped' if exc.exit_code == 3 else 'error'}: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except (DataError, ValueError, OSError) as exc:  # a missing or unusable file, a bad value
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, SystemError) as exc:
        # Ctrl-C outside a training loop (which handles the first one itself), or a second Ctrl-C
        # (numba reports one that lands in a kernel as a SystemError caused by it): nothing
        # half-written is left behind, every file is written atomically.
        if isinstance(exc, SystemError) and not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        if isinstance(exc, Terminated):
            print(f"\n{prog}: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
            return exit_code_for_signal(exc.signum)
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def console_main():
    """What ``micrograd-plus`` and ``python -m micrograd_plus`` run: :func:`main`, then exit.

    Once :func:`main` has returned, every file is saved and the exit code is decided, so a Ctrl-C
    that lands while the interpreter shuts down (numba's and OpenMP's threads stopping) is
    ignored instead of killing the process with no message and a signal exit status.
    """
    code = main()
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    console_main()
