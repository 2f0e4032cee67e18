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

    from micrograd_plus.kernels._cpu import emulated  # deferred, as above

    name, isa, _ = host_cpu()
    base = re.sub(r"[^a-z0-9]+", "", name.lower()) + "-" + re.sub(r"[^a-z0-9]+", "", isa.lower())
    host = emulated()
    return base + ("-emulated-on-" + re.sub(r"[^a-z0-9]+", "", host.lower()) if host else "")


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


def save(path, name, summary, printed, figures=None, force=False, load_average=None):
    """Replace benchmark ``name``'s entry in ``path``, keeping the others (written atomically: a
    temporary file, then a rename). A file at ``path`` that is not a results file is an error,
    or with ``force`` replaced by one holding only this entry. ``load_average``: the highest 1-minute load
    average seen while the benchmark ran (the page marks figures taken above :data:`QUIET_LOAD`)."""
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
        "load": load_average,
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


# ---- every machine side by side (the docs' performance page) -------------------------------------

#: Figures taken while the 1-minute load average was above this are marked "loaded" on the page:
#: on the 2-core development machine another busy process already disturbs two-thread timings.
QUIET_LOAD = 1.5

#: The rows of the side-by-side table: (label, benchmark, how to find the figure in what it
#: printed). A pattern's first group is the figure; a ``("matmul", label)`` pair reads the
#: ours/BLAS column of that product's row of the matmul table.
HEADLINES = [
    ("matmul, GPT shapes: ours/BLAS throughput, geometric mean", "matmul",
     r"GPT rows ours/BLAS \(median\): min [\d.]+, geometric mean ([\d.]+)"),
    ("matmul, GPT shapes: lowest ours/BLAS", "matmul", r"GPT rows ours/BLAS \(median\): min ([\d.]+)"),
    ("matmul gpt head fwd (768x128 @ 65x128ᵀ): ours/BLAS", "matmul", ("matmul", "gpt head fwd")),
    ("matmul mnist fc1 fwd (64x784 @ 128x784ᵀ): ours/BLAS", "matmul", ("matmul", "mnist fc1 fwd")),
    ("matmul mnist fc2 fwd (64x128 @ 10x128ᵀ): ours/BLAS", "matmul", ("matmul", "mnist fc2 fwd")),
    ("matmul 1024 square: ours/BLAS", "matmul", ("matmul", "square 1024")),
    ("MNIST epoch: ours/torch time", "mnist", r"ours / torch = ([\d.]+)"),
    ("MNIST epoch, one thread each: ours/torch time", "mnist", r"ours / torch = .*?([\d.]+) at 1 thread"),
    ("MNIST CNN step: ours/torch time", "cnn", r"ours / torch = ([\d.]+)"),
    ("MNIST CNN step, one thread each (CPU time): ours/torch", "cnn", r"ours / torch = .*?([\d.]+) at 1 thread"),
    ("GPT step, nanoGPT's CPU recipe: ours/torch time", "gpt", r"ours / torch = ([\d.]+)"),
    ("GPT step 6x192 (2.7M): ours/torch time", "gpt", r"^6x192 2\.7M .* ([\d.]+)x\s*$"),
    ("GPT step 6x384 (10.7M): ours/torch time", "gpt", r"^6x384 10\.7M .* ([\d.]+)x\s*$"),
    ("attention (12,4,64,32) fwd+bwd: ours/torch time", "attention",
     r"^\s*\(12, 4, 64, 32\)\s+(?:2|own)\s.* ([\d.]+)\s*$"),
    ("compile every kernel, cold: CPU s", "compile_time", r"^total\s+[\d.]+ /\s+([\d.]+)"),
]


def headline(printed, how):
    """One figure (text) from a benchmark's printed table, or None when it is not there."""
    if isinstance(how, tuple):  # a row of the matmul table: the ours/BLAS ratio
        for line in printed.splitlines():
            if line.startswith(how[1]) and line[len(how[1]):len(how[1]) + 1] in (" ", "*"):
                ratios = line.split("|")[-2].split()
                return ratios[0] if ratios else None
        return None
    found = re.search(how, printed, re.MULTILINE)
    return found.group(1) if found else None


def side_by_side(paths):
    """A text table of :data:`HEADLINES`, one column per results file (a CPU), for the docs'
    performance page: each column names the CPU and its vector instruction set, says when a file
    is an emulation (``emulate_avx2.sh``), and marks figures taken at a load average above
    :data:`QUIET_LOAD` as loaded, or says that the load was not recorded."""
    columns, notes = [], []
    paths = sorted(paths, key=lambda p: ("emulated" in Path(p).stem, Path(p).stem))  # real machines first
    for i, path in enumerate(paths):
        data = load(path)
        benchmarks = data.get("benchmarks", {})
        cpu = next((line for entry in benchmarks.values() for line in entry.get("machine", "").splitlines()
                    if line.startswith("CPU ")), f"CPU of {Path(path).stem}")
        emulated = "EMULATED" in cpu
        name = f"[{i + 1}] {Path(path).stem}" + (" (EMULATED)" if emulated else "")
        dates = sorted(entry.get("when", "")[:10] for entry in benchmarks.values() if entry.get("when"))
        notes.append(f"[{i + 1}] {cpu}" + (f"; run {dates[0]} to {dates[-1]}" if dates else ""))
        cells = []
        for _, bench, how in HEADLINES:
            entry = benchmarks.get(bench)
            value = headline(entry["printed"], how) if entry else None
            if value is None:
                cells.append("-")
                continue
            load_seen = entry.get("load")
            mark = ("" if load_seen is not None and load_seen <= QUIET_LOAD else
                    f" (loaded {load_seen:g})" if load_seen is not None else " (load ?)")
            cells.append(value + mark)
        columns.append((name, cells))
    width = max(len(label) for label, _, _ in HEADLINES)
    widths = [max(len(name), *(len(c) for c in cells)) for name, cells in columns]
    lines = [" | ".join([f"{'':<{width}}"] + [f"{name:>{w}}" for (name, _), w in zip(columns, widths)])]
    lines.append("-" * len(lines[0]))
    for row, (label, _, _) in enumerate(HEADLINES):
        lines.append(" | ".join([f"{label:<{width}}"] + [f"{cells[row]:>{w}}" for (_, cells), w in zip(columns, widths)]))
    lines += [""] + notes
    lines.append(f"(loaded: the benchmark ran at a 1-minute load average above {QUIET_LOAD}, so other work shared "
                 "the cores; load ?: not recorded. Ratios of time: below 1 ours is faster; of throughput (ours/BLAS): "
                 "above 1 ours is faster.)")
    return "\n".join(lines)
