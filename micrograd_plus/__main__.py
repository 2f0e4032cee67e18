"""``python -m micrograd_plus`` runs the same command line as ``micrograd-plus``."""

import sys

from micrograd_plus.cli import main

if __name__ == "__main__":
    sys.exit(main())
