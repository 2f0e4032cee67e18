"""Benchmark results as a JSON file per machine, which the docs' performance page reads.

``micrograd-plus bench`` writes every benchmark it runs into one file, by default (in a source
checkout) ``micrograd_plus/bench/machines/<cpu>-<isa>.json``, e.g. ``znver4-avx512.json``: for each
benchmark, when it ran, the machine summary, the table exactly as printed, and, where the
benchmark returns them, its figures as numbers. Running a benchmark again replaces its entry and
keeps the others. ``docs/chapters/performance.md`` renders these files at build time, so the
figures on that page are always ones a benchmark printed, never typed by hand.
"""

import datetime
import io
import json
import os
import re
import sys
from pathlib import Path

# One file per machine, beside the benchmarks, in a source checkout only (setup.cfg does not ship
# this directory, so an installed package has no such folder and writes nowhere by default).
REPO_RESULTS = Path(__file__).resolve().parent / "machines"


def machine_name():
    """``<cpu>-<isa>``, e.g. ``znver4-avx512``: the file name of this machine's results."""
    from micrograd_plus.kernels._cpu import host_cpu  # deferred: llvmlite loads only when results are saved

    name, isa, _ = host_cpu()
    return re.sub(r"[^a-z0-9]+", "", name.lower()) + "-" + re.sub(r"[^a-z0-9]+", "", isa.lower())


def default_path():
    """This machine's results file in a source checkout, or None in an installed package."""
    if REPO_RESULTS.is_dir():
        return str(REPO_RESULTS / f"{machine_name()}.json")
    return None


def load(path):
    """The results file as a dict (empty if it does not exist)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save(path, name, summary, printed, figures=None):
    """Replace benchmark ``name``'s entry in ``path`` (written atomically: a temp file, then rename)."""
    data = load(path)
    data.setdefault("benchmarks", {})[name] = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": summary,
        "printed": printed,
        "figures": figures,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


class Tee(io.StringIO):
    """Context manager: what is printed goes to the screen and is also kept (``getvalue()``)."""

    def __enter__(self):
        self._stdout = sys.stdout
        sys.stdout = self
        return self

    def __exit__(self, *exc):
        sys.stdout = self._stdout

    def write(self, text):
        self._stdout.write(text)
        return super().write(text)

    def flush(self):
        self._stdout.flush()
