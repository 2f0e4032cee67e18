"""``python -m micrograd_plus`` runs the same command line as ``micrograd-plus``."""

from micrograd_plus._plumbing.cli import console_main

if __name__ == "__main__":
    console_main()
