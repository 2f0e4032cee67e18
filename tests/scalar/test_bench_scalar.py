"""A smoke run of the scalar benchmark (speed itself is never asserted in tests)."""

import pytest

from micrograd_plus.bench import scalar as bench


def test_benchmark_runs_and_reports_a_ratio(capsys):
    pytest.importorskip("micrograd")
    text = bench.run(repeats=1, quick=True)
    assert "micrograd_plus" in text and "micrograd " in text
    assert "faster per step" in text  # also means the two engines' losses agreed every step
    assert text in capsys.readouterr().out


def test_learning_rate_schedule_is_micrograds():
    assert bench._learning_rate(0) == 1.0
    assert bench._learning_rate(50) == pytest.approx(0.55)
