"""The one rule for every command that writes (:mod:`micrograd_plus._plumbing.outputs`), tried command by command.

Every writing command of ``micrograd-plus`` -- ``gpt export`` (both formats), ``gpt bpe``,
``gpt attention``, ``gpt next --png``, ``gpt neighbours --png``, ``moons``, ``mnist``, ``gpt train``,
``bench --json`` -- run as a user runs it (through the command line's ``main``; in a subprocess where
a signal matters), against a directory of the user's files whose SHA-256 are taken before and after:

* nothing that exists is replaced without ``--force``; ``--force`` replaces only the files the
  command writes (never a run's checkpoints beside them, never the rest of ``.`` or ``$HOME``, never
  its own input, never through a symbolic link);
* ``--out ''`` and the like are refused before any work;
* a second writer of the same file is refused while the first holds it; leftovers of a killed
  writer are cleaned by the next one; a full disk is one line and leaves the old files;
* SIGTERM and SIGHUP stop a command like Ctrl-C: exit 143 / 129, no partial file left.
"""

import errno
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from micrograd_plus._plumbing import outputs
from cli_helpers import refused, run_main

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals, links and locks")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:3000]
TRAIN = ["gpt", "train", "--preset", "tiny", "--max-iters", "2", "--eval-interval", "2", "--eval-iters", "1",
         "--warmup-iters", "1", "--batch-size", "2", "--block-size", "8", "--n-embd", "8", "--n-layer", "1",
         "--n-head", "2", "--no-progress", "--sample-chars", "0"]
HF_FILES = {"config.json", "model.safetensors", "micrograd_plus_tokenizer.json"}


def hashes(directory):
    """{relative path: sha256 or 'link -> target'} of everything under ``directory``."""
    out = {}
    for p in sorted(Path(directory).rglob("*")):
        rel = str(p.relative_to(directory))
        if p.is_symlink():
            out[rel] = f"link -> {os.readlink(p)}"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny character-level run: ``run/`` with ckpt.npz, last.npz, log.jsonl; and its text."""
    root = tmp_path_factory.mktemp("write_rule")
    (root / "little.txt").write_text(TEXT)
    from micrograd_plus._plumbing.cli import main

    assert main([*TRAIN, "--data", str(root / "little.txt"), "--out", str(root / "run")]) == 0
    return root


@pytest.fixture
def home(trained, tmp_path, monkeypatch):
    """The current directory, standing for ``$HOME``: the user's notes, a copy of the run, the text."""
    import shutil

    shutil.copytree(trained / "run", tmp_path / "run")
    (tmp_path / "little.txt").write_text(TEXT)
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "config.json").write_text('{"mine": true}')  # a name an HF export also writes
    (tmp_path / "attention.png").write_bytes(b"my picture")
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "keep.png").write_bytes(b"keep")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLCONFIGDIR", str(trained / "matplotlib"))  # matplotlib's font cache: not in "home"
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


CKPT = "run/ckpt.npz"
RUN_FILES = ("run/ckpt.npz", "run/last.npz", "run/log.jsonl")


# ---- gpt export ---------------------------------------------------------------------------------


def test_export_force_into_the_run_directory_keeps_the_run(home, capsys):
    before = hashes(home)
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", "run", "--force"], capsys)
    assert rc == 0, err
    after = hashes(home)
    for name in RUN_FILES:  # the run's own files are exactly as they were
        assert after[name] == before[name]
    assert {k for k in after if k.startswith("run/")} == {k for k in before if k.startswith("run/")} | \
        {f"run/{n}" for n in HF_FILES}


@pytest.mark.parametrize("out", [".", "~"])
def test_export_force_into_the_current_or_home_directory_replaces_only_its_own_files(home, capsys, out):
    before = hashes(home)
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", out, "--force"], capsys)
    assert rc == 0, err
    after = hashes(home)
    mine = {k: v for k, v in before.items() if k not in HF_FILES}
    assert {k: after[k] for k in mine} == mine  # every other file, and the run, untouched
    assert after["config.json"] != before["config.json"]  # the one file it writes was named by --force


def test_export_without_force_refuses_a_file_it_would_replace_and_writes_nothing(home, capsys):
    before = hashes(home)
    refused(["gpt", "export", CKPT, "--format", "hf", "--out", "."], capsys, "config.json", "already exists", "--force")
    assert hashes(home) == before


def test_export_into_a_directory_adds_its_files_and_leaves_the_others(home, capsys):
    before = hashes(home)
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", "pics"], capsys)
    assert rc == 0, err
    after = hashes(home)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {f"pics/{n}" for n in HF_FILES}


def test_export_never_writes_through_a_link(home, capsys):
    (home / "elsewhere").mkdir()
    (home / "linked").symlink_to(home / "elsewhere")
    (home / "pics" / "model.safetensors").symlink_to(home / "notes.txt")
    before = hashes(home)
    refused(["gpt", "export", CKPT, "--format", "hf", "--out", "linked", "--force"], capsys, "symbolic link")
    refused(["gpt", "export", CKPT, "--format", "hf", "--out", "pics", "--force"], capsys,
            "model.safetensors", "symbolic link")
    (home / "ckpt-link.pt").symlink_to(home / "notes.txt")
    before = hashes(home)
    refused(["gpt", "export", CKPT, "--format", "nanogpt", "--out", "ckpt-link.pt", "--force"], capsys,
            "symbolic link")
    assert hashes(home) == before


def test_export_force_never_replaces_its_own_input(home, capsys):
    pytest.importorskip("torch")
    before = hashes(home)
    refused(["gpt", "export", CKPT, "--format", "nanogpt", "--out", CKPT, "--force"], capsys,
            "the file this command reads")
    assert hashes(home) == before


@pytest.mark.parametrize("fmt", ["hf", "nanogpt"])
def test_export_out_empty_is_refused(home, capsys, fmt):
    before = hashes(home)
    refused(["gpt", "export", CKPT, "--format", fmt, "--out", ""], capsys, "--out", "must be a file or directory name")
    assert hashes(home) == before


def test_two_exports_to_one_target_one_wins_one_is_refused(home, capsys):
    before = hashes(home)
    with outputs.claim(home / "pics" / "config.json"):  # another export is writing it right now
        refused(["gpt", "export", CKPT, "--format", "hf", "--out", "pics", "--force"], capsys,
                "config.json", "being written by another command", f"pid {os.getpid()}")
    assert hashes(home) == before
    assert sorted(p.name for p in (home / "pics").iterdir()) == ["keep.png"]  # no lock, no temporary left
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", "pics"], capsys)  # once it is free
    assert rc == 0, err


def test_leftovers_of_a_killed_export_are_removed_by_the_next_one(home, capsys):
    (home / "pics" / ".config.json.x1y2z3.tmp").write_bytes(b"half")
    (home / "pics" / ".config.json.lock").write_text("999999999\n")  # its writer is dead (no flock held)
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", "pics"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (home / "pics").iterdir()) == sorted(HF_FILES | {"keep.png"})


def test_a_full_disk_during_export_is_one_line_and_keeps_the_old_files(home, capsys, monkeypatch):
    rc, _, err = run_main(["gpt", "export", CKPT, "--format", "hf", "--out", "pics"], capsys)
    assert rc == 0, err
    before = hashes(home)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", full)
    refused(["gpt", "export", CKPT, "--format", "hf", "--out", "pics", "--force"], capsys,
            "cannot write", "pics", "No space left on device")
    assert hashes(home) == before
    assert sorted(p.name for p in (home / "pics").iterdir()) == sorted(HF_FILES | {"keep.png"})  # no temporaries


# ---- pictures and the tokenizer -------------------------------------------------------------------


@pytest.mark.parametrize("argv, target", [
    (["gpt", "attention", "-c", CKPT, "--text", "ROMEO:"], "attention.png"),  # its default path
    (["gpt", "next", "-c", CKPT, "--prompt", "the", "--png", "pics/keep.png"], "pics/keep.png"),
    (["gpt", "neighbours", "-c", CKPT, "--chars", "e", "-k", "2", "--png", "pics/keep.png"], "pics/keep.png"),
    (["gpt", "bpe", "--data", "little.txt", "--vocab-size", "260", "--out", "notes.txt", "--no-progress"],
     "notes.txt"),
])
def test_pictures_and_tokenizers_replace_only_with_force_and_only_their_file(home, capsys, argv, target):
    before = hashes(home)
    refused(argv, capsys, target, "already exists", "--force")
    assert hashes(home) == before
    rc, _, err = run_main([*argv, "--force"], capsys)
    assert rc == 0, err
    after = hashes(home)
    assert after[target] != before[target]
    assert {k: v for k, v in after.items() if k != target} == {k: v for k, v in before.items() if k != target}


@pytest.mark.parametrize("argv", [
    ["gpt", "attention", "-c", CKPT, "--png", "pics/link.png", "--force"],
    ["gpt", "next", "-c", CKPT, "--png", "pics/link.png", "--force"],
    ["gpt", "neighbours", "-c", CKPT, "--png", "pics/link.png", "--force"],
    ["gpt", "bpe", "--data", "little.txt", "--vocab-size", "260", "--out", "pics/link.png", "--force"],
])
def test_force_never_writes_through_a_link(home, capsys, argv):
    (home / "pics" / "link.png").symlink_to(home / "notes.txt")
    before = hashes(home)
    refused(argv, capsys, "link.png", "symbolic link")
    assert hashes(home) == before


def test_bpe_force_never_replaces_its_own_input(home, capsys):
    before = hashes(home)
    refused(["gpt", "bpe", "--data", "little.txt", "--vocab-size", "260", "--out", "little.txt", "--force"], capsys,
            "the file this command reads")
    assert hashes(home) == before


def test_a_picture_format_matplotlib_cannot_write_is_refused_before_any_work(home, capsys):
    refused(["gpt", "next", "-c", CKPT, "--png", "notes.txt", "--force"], capsys, "--png", ".txt", "png")
    assert (home / "notes.txt").read_text() == "my notes"


@pytest.mark.parametrize("argv", [
    ["gpt", "attention", "-c", CKPT, "--png", ""],
    ["gpt", "next", "-c", CKPT, "--png", " "],
    ["gpt", "bpe", "--out", ""],
    ["moons", "--out", ""],
    ["mnist", "--out", ""],
    ["gpt", "train", "--out", ""],
    ["bench", "scalar", "--json", ""],
])
def test_empty_output_names_are_refused_before_any_work(home, capsys, argv):
    before = hashes(home)
    rc, _, err = run_main(argv, capsys)
    assert rc == 2 and "Traceback" not in err and ("must be a file or directory name" in err or
                                                   "must not be empty" in err), err
    assert hashes(home) == before


def test_moons_refuses_to_replace_its_figure_without_force(home, capsys):
    (home / "pics" / "moons_decision_boundary.png").write_bytes(b"old figure")
    before = hashes(home)
    argv = ["moons", "--steps", "1", "--samples", "10", "--out", "pics"]
    refused(argv, capsys, "moons_decision_boundary.png", "already exists", "--force")
    assert hashes(home) == before
    rc, _, err = run_main([*argv, "--force"], capsys)
    assert rc == 0, err
    after = hashes(home)
    assert after["pics/moons_decision_boundary.png"] != before["pics/moons_decision_boundary.png"]
    assert after["pics/keep.png"] == before["pics/keep.png"]


def test_mnist_refuses_to_draw_over_pictures_that_are_not_a_run(home, capsys):
    (home / "pics" / "curves.png").write_bytes(b"someone's curves")
    before = hashes(home)
    refused(["mnist", "--limit", "100", "--test-limit", "50", "--epochs", "1", "--hidden", "4", "--no-progress",
             "--out", "pics"], capsys, "curves.png", "already exists", "--force")
    assert hashes(home) == before


@pytest.mark.parametrize("content, words", [("[1, 2]", ["holds a JSON list", "--force"]),
                                            ("not json", ["not a benchmark results file", "--force"])])
def test_bench_json_refuses_a_file_that_is_not_results_before_timing_anything(home, capsys, content, words):
    (home / "notes.txt").write_text(content)
    before = hashes(home)
    refused(["bench", "scalar", "--json", "notes.txt"], capsys, "notes.txt", *words)
    refused(["bench", "scalar", "--json", "pics"], capsys, "pics", "is a directory")
    assert hashes(home) == before


# ---- gpt train --force ----------------------------------------------------------------------------


def test_train_force_that_fails_its_own_checks_touches_nothing_of_the_old_run(home, capsys):
    (home / "run" / "tokenizer.json").write_text('{"old": "tokenizer"}')  # as a BPE run leaves it
    before = hashes(home)
    # a BPE recipe whose context (block size 1000) is longer than the text: refused after its vocabulary is trained
    refused(["gpt", "train", "--preset", "shakespeare-bpe", "--data", "little.txt", "--out", "run", "--force",
             "--block-size", "1000", "--batch-size", "2", "--no-progress"], capsys, "fewer than block_size + 1")
    assert hashes(home) == before


# ---- signals: SIGTERM and SIGHUP like Ctrl-C ------------------------------------------------------------


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_DISABLE_JIT="1", MICROGRAD_PLUS_NO_PROGRESS="1",
                PYTHONUNBUFFERED="1")


SLOW_SAVE = """
import time, safetensors.numpy as st
_save = st.save
def slow(*a, **k):
    print("writing", flush=True)
    time.sleep(30)
    return _save(*a, **k)
st.save = slow
"""
SLOW_BPE = """
import time, micrograd_plus.data.bpe as bpe
_train = bpe.BPETokenizer.train.__func__
def slow(cls, *a, **k):
    tok = _train(cls, *a, **k)
    print("writing", flush=True)
    time.sleep(30)
    return tok
bpe.BPETokenizer.train = classmethod(slow)
"""


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
@pytest.mark.parametrize("what", ["export", "bpe"])
def test_sigterm_and_sighup_stop_export_and_bpe_like_ctrl_c_leaving_nothing(home, signum, code, what):
    before = hashes(home)
    if what == "export":
        patch, argv = SLOW_SAVE, ["gpt", "export", CKPT, "--format", "hf", "--out", "new/hf"]
    else:
        patch, argv = SLOW_BPE, ["gpt", "bpe", "--data", "little.txt", "--vocab-size", "260", "--out", "t.json",
                                 "--no-progress"]
    code_text = patch + "\nimport sys\nfrom micrograd_plus._plumbing.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    proc = subprocess.Popen([sys.executable, "-c", code_text, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=home)
    assert proc.stdout.readline().strip().endswith("writing")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name}" in err, err
    assert hashes(home) == before  # nothing new, nothing hidden left behind
    assert not (home / "new").exists()


def test_sigterm_stops_a_cli_training_run_after_its_step_and_resume_finishes_it(home):
    args = [sys.executable, "-m", "micrograd_plus", *TRAIN, "--max-iters", "400", "--eval-interval", "200",
            "--data", "little.txt", "--out", "term"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=home)
    t0 = time.time()
    while not (home / "term" / "log.jsonl").exists() or '"loss"' not in (home / "term" / "log.jsonl").read_text():
        assert proc.poll() is None and time.time() - t0 < 120, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (out, err)
    assert "Traceback" not in err and "stopped by SIGTERM at step" in out, out
    from micrograd_plus.train.checkpoint import load_checkpoint

    _, meta = load_checkpoint(home / "term" / "last.npz")
    assert 0 < meta["step"] < 400  # saved where it stopped, not at the last evaluation (step 0)
    done = subprocess.run([*args[:3], *TRAIN, "--max-iters", "400", "--eval-interval", "200", "--data", "little.txt",
                           "--out", "term", "--resume"], capture_output=True, text=True, env=_env(), cwd=home)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("argv", [["--help"], ["mnist", "--help"], ["gpt", "train", "--help"], ["moons", "--help"]])
def test_help_documents_the_exit_codes_of_signals_beside_ctrl_c(capsys, argv):
    rc, out, _ = run_main(argv, capsys)
    text = " ".join(out.split())
    assert rc == 0 and "130 Ctrl-C, 143 SIGTERM, 129 SIGHUP" in text, text[-400:]


def test_sighup_stops_a_cli_mnist_run_after_its_step_with_129(home):
    args = [sys.executable, "-m", "micrograd_plus", "mnist", "--limit", "2000", "--test-limit", "100", "--epochs", "20",
            "--hidden", "8", "--batch-size", "10", "--no-plots", "--no-progress", "--out", "hup"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=home)
    t0 = time.time()
    while not (home / "hup" / "log.jsonl").exists() or '"loss"' not in (home / "hup" / "log.jsonl").read_text():
        assert proc.poll() is None and time.time() - t0 < 120, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 129, (out, err)
    assert "Traceback" not in err and "stopped by SIGHUP at step" in out, out
    from micrograd_plus.train.checkpoint import load_checkpoint

    _, meta = load_checkpoint(home / "hup" / "last.npz")
    assert 0 < meta["step"] < 4000  # saved at the step where it stopped
