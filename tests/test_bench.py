"""The benchmark runner's plumbing: the results file, the machine's description, the table list.

(No timing here: speed lives in the benchmarks themselves.)
"""

import json

import pytest

from micrograd_plus.bench import cli, results
from micrograd_plus.bench._process import environment_summary
from micrograd_plus.kernels._cpu import host_cpu


def test_results_file_keeps_other_benchmarks_and_replaces_a_rerun(tmp_path):
    path = str(tmp_path / "sub" / "m.json")
    results.save(path, "gpt", "machine A", "table 1\n", {"ratio": 1.2})
    results.save(path, "matmul", "machine A", "table 2\n")
    results.save(path, "gpt", "machine A", "table 3\n", {"ratio": 0.9}, load_average=0.7)
    data = json.loads(open(path).read())
    assert data["benchmarks"]["gpt"]["load"] == 0.7 and data["benchmarks"]["matmul"]["load"] is None
    assert sorted(data["benchmarks"]) == ["gpt", "matmul"]
    assert data["benchmarks"]["gpt"]["printed"] == "table 3\n"
    assert data["benchmarks"]["gpt"]["figures"] == {"ratio": 0.9}
    assert not list((tmp_path / "sub").glob("*.tmp*"))  # written atomically, nothing left over


def test_tee_prints_and_keeps(capsys):
    with results.Tee() as kept:
        print("a line")
    assert kept.getvalue() == "a line\n"
    assert capsys.readouterr().out == "a line\n"


def test_machine_is_named_by_cpu_and_isa():
    name, isa, registers = host_cpu()
    assert registers in (16, 32)
    assert isa.lower().replace("-", "") in results.machine_name()
    summary = environment_summary()
    assert f"CPU {name}" in summary and isa in summary
    import importlib

    from micrograd_plus.kernels._microkernel import VARIANTS

    matmul = importlib.import_module("micrograd_plus.kernels.matmul")  # what runs, env override included
    assert matmul.BLOCKING in ("6x2", "6x4") and matmul.VARIANT in VARIANTS
    assert f"variant that ran: matmul {matmul.VARIANT}, micro-kernel {matmul.BLOCKING}" in summary
    assert f"tuned for {VARIANTS[matmul.VARIANT].tuned_for}" in summary
    previous = matmul.VARIANT
    try:  # the line follows a forced variant: it names what ran, not what the CPU would choose
        matmul.use_variant("intel")
        summary = environment_summary()
        assert "variant that ran: matmul intel, micro-kernel 6x4" in summary and "Intel AVX-512" in summary
    finally:
        matmul.use_variant(previous)


def test_every_listed_benchmark_is_importable():
    import importlib

    assert {"gpt", "matmul", "attention", "rows", "mnist", "scalar"} <= set(cli.BENCHMARKS)
    for module, _ in cli.BENCHMARKS.values():
        assert callable(importlib.import_module(module).run)


def test_a_child_process_does_not_inherit_what_it_is_told_to_unset(monkeypatch):
    from micrograd_plus.bench import _process

    monkeypatch.setenv("MICROGRAD_PLUS_TEST_VARIABLE", "set by the parent")
    assert _process.in_child("os", "getenv", "MICROGRAD_PLUS_TEST_VARIABLE") == "set by the parent"
    assert _process.in_child("os", "getenv", "MICROGRAD_PLUS_TEST_VARIABLE",
                             unset=("MICROGRAD_PLUS_TEST_VARIABLE",)) is None


@pytest.mark.parametrize("set_here", [True, False])
def test_a_contender_starts_without_the_librarys_own_openmp_spin(monkeypatch, set_here):
    """Every contender is timed as its users run it: the GOMP_SPINCOUNT that importing
    micrograd_plus put in this process's environment does not reach the child; one the user set does."""
    from micrograd_plus.bench import _process
    from micrograd_plus.kernels import _shared

    monkeypatch.setattr(_shared, "SPIN_SET_HERE", set_here)
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    seen = _process.as_users_run_it("os", "getenv", "GOMP_SPINCOUNT")  # a real child process
    assert seen == (None if set_here else "1000")


def _start_children(bench_name):
    """Make ``bench_name`` start its contenders' children once, the quickest way it can."""
    import importlib

    bench = importlib.import_module(f"micrograd_plus.bench.{bench_name}")
    if bench_name == "gpt":
        bench._in_child("_contender_samples", "torch", 1, 1)
    elif bench_name == "matmul":
        bench._samples_alone(repeats=1, quick=True, turns=1)
    elif bench_name == "attention":
        bench._measure_in_child((1, 1, 4, 4), None, 1)
    elif bench_name == "cnn":
        bench.run(repeats=1, quick=True)


@pytest.mark.parametrize("bench_name", ["gpt", "matmul", "attention", "cnn"])
def test_bench_children_go_through_the_users_environment(monkeypatch, bench_name):
    """Every benchmark that times a peer starts each contender's process with the user's
    environment (``as_users_run_it``: what importing micrograd_plus set here is not passed on).
    ``bench mnist``'s own test is in tests/train/test_mnist_bench.py."""
    from micrograd_plus.bench import _process
    from micrograd_plus.kernels import _shared

    seen = []

    class Stop(Exception):
        pass

    def child(module, function, *args, **kwargs):
        seen.append(kwargs)
        raise Stop  # enough: the child was asked for

    monkeypatch.setattr(_shared, "SPIN_SET_HERE", True)
    monkeypatch.setattr(_process, "in_child", child)
    with pytest.raises(Stop):
        _start_children(bench_name)
    assert seen and all(kwargs.get("unset") == ("GOMP_SPINCOUNT",) and not kwargs.get("env_defaults")
                        for kwargs in seen)


_SPY = """
import builtins, importlib, json, os, sys
seen = {}
real_import = builtins.__import__

def spy(name, *args, **kwargs):
    if name == "torch" and "torch" not in seen:  # what PyTorch's OpenMP runtime reads when it loads
        seen["torch"] = os.environ.get("GOMP_SPINCOUNT")
    return real_import(name, *args, **kwargs)

builtins.__import__ = spy
getattr(importlib.import_module(sys.argv[1]), sys.argv[2])(*json.loads(sys.argv[3]))
print(json.dumps(seen))
"""


@pytest.mark.parametrize("module, function, args", [
    ("micrograd_plus.bench.mnist", "_torch_epochs", [0, 1, None]),
    ("micrograd_plus.bench.cnn", "time_steps", ["torch", 0]),
])
def test_a_peers_child_loads_torch_before_anything_of_ours(module, function, args):
    """In a peer's child process (started as as_users_run_it starts it: no GOMP_SPINCOUNT), torch
    is imported before anything of ours could set GOMP_SPINCOUNT: its OpenMP runtime starts as its
    users' does. (Importing our kernels first would hand it this library's spin.)"""
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", _SPY, module, function, json.dumps(args)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "torch" in seen and seen["torch"] is None


def test_an_emulated_cpu_is_named_as_such(monkeypatch):
    """Under emulate_avx2.sh (numba told to compile for another CPU) the machine summary and the
    results file's name say it is an emulation on this host, never a real machine of that kind."""
    from numba.core import config

    from micrograd_plus.kernels import _cpu

    host = _cpu._name_and_features()[0] if not config.CPU_NAME else None
    if host is None:
        pytest.skip("already running under an emulation")
    try:
        for cached in (_cpu.host_cpu, _cpu._name_and_features):
            cached.cache_clear()
        monkeypatch.setattr(config, "CPU_NAME", "haswell")
        monkeypatch.setattr(config, "CPU_FEATURES", "+avx,+avx2,+fma,-avx512f")
        assert _cpu.host_cpu() == ("haswell", "AVX2", 16)
        assert results.machine_name() == f"haswell-avx2-emulated-on-{host.lower()}"
        assert f"AVX2, 16 vector registers -- EMULATED on a {host}" in _cpu.describe()
    finally:
        monkeypatch.undo()
        for cached in (_cpu.host_cpu, _cpu._name_and_features):
            cached.cache_clear()
    assert "EMULATED" not in _cpu.describe() and "emulated" not in results.machine_name()


_MATMUL_PRINTED = """product            op             a            b |  ours ms   GF/s |  BLAS ms   GF/s | torch ms   GF/s | ours/BLAS ours/torch | best o/B
gpt head fwd       nt    (768, 128)    (65, 128) |    0.085   75.1 |    0.178   35.9 |    0.090   70.9 |      2.09       1.06 |     1.80
mnist fc2 fwd*     nt     (64, 128)    (10, 128) |    0.005   31.4 |    0.003   55.3 |    0.004   40.0 |      0.57       0.80 |     0.73

GPT rows ours/BLAS (median): min 0.81, geometric mean 1.02
"""


def _results_file(path, cpu_line, entries):
    data = {"benchmarks": {name: {"when": "2026-12-07T16:00:00+00:00", "machine": f"python 3.11\n{cpu_line}\nnumba",
                                  "printed": printed, "figures": None, "load": load}
                           for name, (printed, load) in entries.items()}}
    path.write_text(json.dumps(data))
    return str(path)


def test_the_performance_page_shows_every_cpu_side_by_side(tmp_path):
    real = _results_file(tmp_path / "znver4-avx512.json", "CPU znver4 (AMD EPYC), AVX-512, 32 vector registers", {
        "matmul": (_MATMUL_PRINTED, 0.8),
        "mnist": ("ours / torch = 0.74 with each library's defaults (best epochs: 0.70), 0.66 at 1 thread", 7.5)})
    emulated = _results_file(tmp_path / "haswell-avx2-emulated-on-znver4.json",
                             "CPU haswell (AMD EPYC), AVX2, 16 vector registers -- EMULATED on a znver4 (...)",
                             {"gpt": ("ours / torch = 1.10 (medians; target <= 1.0)\n"
                                      "6x192 2.7M            6 x 192, 128, 12     268.6     276.0   0.97x\n", None)})
    table = results.side_by_side([real, emulated])
    header = table.splitlines()[0]
    assert "[1] znver4-avx512" in header and "[2] haswell-avx2-emulated-on-znver4 (EMULATED)" in header
    assert "[1] CPU znver4 (AMD EPYC), AVX-512" in table and "[2] CPU haswell (AMD EPYC), AVX2" in table

    def row(label):
        line = next(line for line in table.splitlines() if line.startswith(label))
        return [cell.strip() for cell in line.split("|")[1:]]

    assert row("matmul, GPT shapes: ours/BLAS throughput, geometric mean") == ["1.02", "-"]
    assert row("matmul gpt head fwd") == ["2.09", "-"]
    assert row("matmul mnist fc2 fwd") == ["0.57", "-"]  # the row our matmul hands to BLAS (marked *)
    assert row("MNIST epoch: ours/torch time") == ["0.74 (loaded 7.5)", "-"]
    assert row("MNIST epoch, one thread each") == ["0.66 (loaded 7.5)", "-"]
    assert row("GPT step, nanoGPT's CPU recipe") == ["-", "1.10 (load ?)"]
    assert row("GPT step 6x192 (2.7M)") == ["-", "0.97 (load ?)"]


def test_the_side_by_side_table_reads_the_repositorys_results_files():
    """Every headline is found in at least one of the results files kept in the repository (a
    benchmark's printed format and the page's reading of it must not drift apart)."""
    files = sorted(results.REPO_RESULTS.glob("*.json"))
    if not files:
        pytest.skip("no results files in this checkout")
    table = results.side_by_side(files)
    for label, bench, _ in results.HEADLINES:
        if any(bench in results.load(f).get("benchmarks", {}) for f in files):
            line = next(line for line in table.splitlines() if line.startswith(label))
            assert any(cell.strip() != "-" for cell in line.split("|")[1:]), label
