"""Run the benchmarks from a source checkout: ``python benchmarks/run.py [NAME ...] [--quick]``.

The same as ``micrograd-plus bench``; the benchmarks themselves live in
``micrograd_plus/bench/`` so that an installed package can run them too.
"""

import sys

from micrograd_plus.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
