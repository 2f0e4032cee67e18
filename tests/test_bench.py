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
    results.save(path, "gpt", "machine A", "table 3\n", {"ratio": 0.9})
    data = json.loads(open(path).read())
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

    running = importlib.import_module("micrograd_plus.kernels.matmul").BLOCKING  # what runs, env override included
    assert running in ("6x2", "6x4")
    assert f"variant that ran: matmul micro-kernel {running}" in summary


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


@pytest.mark.parametrize("bench_name", ["gpt"])
def test_bench_children_go_through_the_users_environment(monkeypatch, bench_name):
    """The benchmarks start their contenders through ``as_users_run_it`` (which drops our settings)."""
    import importlib

    from micrograd_plus.kernels import _shared

    from micrograd_plus.bench import _process

    bench = importlib.import_module(f"micrograd_plus.bench.{bench_name}")
    seen = {}
    monkeypatch.setattr(_shared, "SPIN_SET_HERE", True)
    monkeypatch.setattr(_process, "in_child", lambda *args, **kwargs: seen.update(kwargs))
    bench._in_child("_contender_samples", "torch", 1, 1)
    assert seen["unset"] == ("GOMP_SPINCOUNT",)
