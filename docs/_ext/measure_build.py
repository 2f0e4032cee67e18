"""Measure how long the docs site takes to build, and write ``docs/build_time.json``.

    python docs/_ext/measure_build.py            # two from-scratch builds, then a cached rebuild
    python docs/_ext/measure_build.py --runs 1

"From scratch" is what a fresh clone gets: ``docs/`` and ``examples/`` are copied into a
temporary directory (so no cached gallery output, executed notebook or trained weights of yours
is used or touched) and built with the README's command, ``python -m sphinx -W -b html``. The
"cached" figure is the same command run again on that tree, with nothing changed. The home page
quotes this file (``docs/conf.py`` turns it into MyST substitutions), so the build time on the
site is a measurement, never a typed number. Other processes sharing the CPU make it noisy: the
file keeps every run, and the page quotes the median.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "build_time.json"


def _isa():
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown ISA"
    return "AVX-512" if re.search(r"\bavx512f\b", flags) else ("AVX2" if re.search(r"\bavx2\b", flags) else "no AVX2")


def build(tree, outdir):
    """One ``sphinx -W -b html`` of ``tree/docs`` into ``outdir``.

    Returns ``(wall seconds, CPU seconds, load average at the start)``: the CPU time (user +
    system, of sphinx and the kernels it ran) depends far less on other processes than the wall time.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tree / "docs"), str(outdir)],
                   check=True, env=env, cwd=tree)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def fresh_tree(base):
    tree = Path(base)
    for name in ("docs", "examples"):
        shutil.copytree(REPO / name, tree / name,
                        ignore=shutil.ignore_patterns("_build", "auto_examples", "gen_modules",
                                                      "sg_execution_times.rst", "__pycache__"))
    return tree


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="from-scratch builds to time (default 2)")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="build the last run in DIR (a new directory) and keep it, site and caches")
    args = parser.parse_args(argv)
    if args.keep and Path(args.keep).exists():
        parser.error(f"--keep {args.keep}: that path exists; give a new directory")
    scratch, cpu, loads, cached = [], [], [], None
    for i in range(args.runs):
        last = i == args.runs - 1
        with tempfile.TemporaryDirectory(prefix="micrograd_plus-docs-") as tmp:
            if last and args.keep:
                Path(args.keep).mkdir(parents=True)
            tree = fresh_tree(args.keep if last and args.keep else tmp)
            wall, cpu_s, load = build(tree, tree / "html")
            scratch.append(wall); cpu.append(cpu_s); loads.append(load)
            print(f"from scratch, run {i + 1}: {wall:.0f} s ({cpu_s:.0f} s of CPU, load {load:.1f})", flush=True)
            if last:
                cached = build(tree, tree / "html")[0]
                print(f"cached rebuild: {cached:.0f} s", flush=True)
    record = {
        "from_scratch_seconds": [round(s, 1) for s in scratch],
        "from_scratch_cpu_seconds": [round(c, 1) for c in cpu],
        "load_average_at_start": [round(x, 1) for x in loads],
        "cached_seconds": round(cached, 1),
        "cores": os.cpu_count(),
        "isa": _isa(),
        "machine": platform.machine(),
        "date": datetime.date.today().isoformat(),
        "command": "python -m sphinx -W -b html docs docs/_build/html",
    }
    OUT.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: median {statistics.median(scratch):.0f} s from scratch")


if __name__ == "__main__":
    main()
