"""The ``micrograd-plus`` command line: one subcommand per thing you can run and watch.

Each subcommand lives in its own module, which provides three names:

* ``HELP`` -- one line for the command list,
* ``add_arguments(parser)`` -- fills an :class:`argparse.ArgumentParser`,
* ``run(args) -> int`` -- does the work and returns the process exit code.

The modules are imported only when their command runs (or when ``--help`` lists them), so
``micrograd-plus moons`` never pays for compiling numba kernels it doesn't use.
"""

import argparse
import importlib
import sys

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


def build_parser():
    """Build the top-level parser with one subparser per available command."""
    parser = argparse.ArgumentParser(
        prog="micrograd-plus",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from micrograd_plus import __version__

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
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    """Entry point of ``micrograd-plus``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_unavailable", None):
        parser.error(f"command {args.command!r} is unavailable: {args._unavailable}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
