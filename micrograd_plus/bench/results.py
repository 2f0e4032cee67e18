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
    """The results file as a dict (empty if it does not exist).

    Raises ValueError (one line naming the file) if it is not a results file: not JSON, or JSON
    that is not an object with a ``"benchmarks"`` object (a list, say).
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"--json {path} exists and is not a benchmark results file (not JSON: "
                         f"{str(exc)[:80]}); choose another FILE, or pass --force to replace it") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks", {}), dict):
        kind = type(data).__name__ if not isinstance(data, dict) else "object without a 'benchmarks' object"
        raise ValueError(f"--json {path} holds a JSON {kind}, not benchmark results (an object with a "
                         "'benchmarks' object); choose another FILE, or pass --force to replace it")
    return data


def check_target(path, force=False):
    """Refuse, before any benchmark runs, a ``--json`` path that cannot take the results: a
    directory, a link, an unwritable place, or (without ``force``) a file that is not a results file."""
    from micrograd_plus._plumbing.outputs import check_output  # light

    check_output(path, force=True, flag="--json", make_parents=True)  # an existing results file is updated
    if os.path.exists(path) and not force:
        load(path)


def save(path, name, summary, printed, figures=None, force=False):
    """Replace benchmark ``name``'s entry in ``path``, keeping the others (written atomically: a
    temporary file, then a rename). A file at ``path`` that is not a results file is an error,
    or with ``force`` replaced by one holding only this entry."""
    from micrograd_plus._plumbing.outputs import output_file  # light

    try:
        data = load(path)
    except ValueError:
        if not force:
            raise
        data = {}
    data.setdefault("benchmarks", {})[name] = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": summary,
        "printed": printed,
        "figures": figures,
    }
    with output_file(path, force=True, mode="w", flag="--json", make_parents=True) as f:  # checked above
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


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
