"""The `micrograd-plus moons` command: help text and a short real run."""

import subprocess
import sys

import pytest

from micrograd_plus._plumbing.cli import main


def test_moons_help_lists_its_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["moons", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--steps", "--seed", "--out", "--samples", "--noise"):
        assert option in text


def test_moons_help_via_python_m():
    result = subprocess.run([sys.executable, "-m", "micrograd_plus", "moons", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "decision" in result.stdout


def test_short_moons_run_saves_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "out"
    code = main(["moons", "--steps", "3", "--samples", "20", "--seed", "1", "--out", str(out_dir)])
    assert code == 0
    figure = out_dir / "moons_decision_boundary.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out_dir.iterdir()] == [figure.name]  # no temporary file left
    text = capsys.readouterr().out
    assert "step    0" in text and "step    2" in text and str(figure) in text


def test_moons_run_is_reproducible(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    outputs = []
    for i in range(2):
        main(["moons", "--steps", "2", "--samples", "10", "--seed", "4", "--out", str(tmp_path / str(i))])
        outputs.append(capsys.readouterr().out.replace(str(tmp_path / str(i)), "DIR"))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("bad, said", [(["--steps", "0"], "positive integer"), (["--steps", "x"], "positive integer"),
                                       (["--samples", "-3"], "an integer from 1 to 10,000"),
                                       (["--samples", "100000000"], "would need ~5 TB"),
                                       (["--noise", "inf"], "a number from 0 to 2.0"),
                                       (["--noise", "nan"], "a number from 0 to 2.0"),
                                       (["--out", ""], "must be a file or directory name")])
def test_moons_rejects_bad_arguments(bad, said, capsys):
    with pytest.raises(SystemExit) as info:
        main(["moons", *bad])
    assert info.value.code == 2
    assert said in capsys.readouterr().err
