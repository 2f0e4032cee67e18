"""The misuse suite: every way a user can get a run wrong, tried as the user would -- through
``python -m micrograd_plus`` in a subprocess -- asserting the exit code, the one-line message and
that no file of an earlier run was lost.

Exit codes (micrograd_plus._plumbing.cli): 0 done, 2 bad input, 3 diverged, 130 Ctrl-C. Runs use the numpy
kernel backend (``NUMBA_DISABLE_JIT=1``) and tiny models, so each case takes about a second.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import sigint_as_default

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals, locks and permissions")

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:3000]
GPT_BASE = ["gpt", "train", "--preset", "tiny", "--max-iters", "6", "--eval-interval", "3", "--eval-iters", "1",
            "--warmup-iters", "1", "--batch-size", "4", "--block-size", "16", "--n-embd", "16", "--n-layer", "1",
            "--no-progress"]
GPT = [*GPT_BASE, "--sample-chars", "0"]
MNIST = ["mnist", "--limit", "200", "--test-limit", "100", "--epochs", "1", "--hidden", "8", "--batch-size", "50",
         "--no-plots", "--no-progress"]


def _env():
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), NUMBA_DISABLE_JIT="1", MICROGRAD_PLUS_NO_PROGRESS="1", PYTHONUNBUFFERED="1")
    return env


def cli(*args, patch=None, timeout=120):
    """Run the command line as a user would; ``patch`` is Python run first (to simulate a full disk)."""
    args = [str(a) for a in args]
    if patch is None:
        cmd = [sys.executable, "-m", "micrograd_plus", *args]
    else:
        code = patch + "\nimport sys\nfrom micrograd_plus._plumbing.cli import main\nsys.exit(main(sys.argv[1:]))\n"
        cmd = [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout, cwd=ROOT)


def expect(proc, code, *words):
    """The exit code is ``code``, no traceback, and (for errors) one line on stderr holding ``words``."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    if code in (2, 3):
        lines = [line for line in proc.stderr.splitlines() if ": error: " in line or ": stopped: " in line]
        assert len(lines) == 1, proc.stderr
        for word in words:
            assert word in lines[0], (word, lines[0])
        return lines[0]
    return None


def expect_in_process(argv, capsys, code, *words):
    """Like :func:`expect` for errors found while parsing flags, run through ``main`` in this
    process (the same code path as the command line, without a second of interpreter start-up)."""
    from micrograd_plus._plumbing.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == code and "Traceback" not in err, (rc, err)
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])


def digest(directory):
    """{file name: sha256} of a run directory (the lock file aside: it holds the live pid)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "little.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def gpt_done(tmp_path_factory, text_file):
    out = tmp_path_factory.mktemp("runs") / "gpt"
    expect(cli(*GPT, "--data", text_file, "--out", out), 0)
    return out


@pytest.fixture(scope="module")
def mnist_done(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mnist"
    expect(cli(*MNIST, "--out", out), 0)
    return out


@pytest.fixture
def gpt_run(tmp_path, gpt_done):
    """A private copy of a finished GPT run, and its digest."""
    out = tmp_path / "gpt"
    shutil.copytree(gpt_done, out)
    return out, digest(out)


@pytest.fixture
def mnist_run(tmp_path, mnist_done):
    out = tmp_path / "mnist"
    shutil.copytree(mnist_done, out)
    return out, digest(out)


def _edit_checkpoint(path, edit_meta=None, edit_arrays=None):
    """Rewrite a checkpoint with changed metadata or arrays (as a damaged or hand-edited file)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    np.savez(path, **arrays, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


# ---- the run directory ------------------------------------------------------------------------


def test_fresh_gpt_run_into_a_finished_run_refuses_and_keeps_every_file(gpt_run, text_file):
    out, before = gpt_run
    line = expect(cli(*GPT, "--data", text_file, "--out", out), 2, "already holds a run", "--resume", "--force",
                  "--out")
    assert "step 6 of 6" in line
    assert digest(out) == before


def test_bpe_preset_refuses_before_training_its_tokenizer_into_a_finished_run(gpt_run, text_file):
    out, before = gpt_run
    expect(cli("gpt", "train", "--preset", "shakespeare-bpe", "--data", text_file, "--out", out, "--no-progress"), 2,
           "already holds a run", "--force")
    assert digest(out) == before  # no tokenizer.json written over the old run's directory


def test_fresh_mnist_run_into_a_finished_run_refuses_and_keeps_every_file(mnist_run):
    out, before = mnist_run
    expect(cli(*MNIST, "--out", out), 2, "already holds a run", "--resume", "--force", "--out")
    assert digest(out) == before


def test_out_that_is_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    expect(cli(*MNIST, "--out", target), 2, "is a file", "--out")
    assert target.read_text() == "my notes"


def test_out_under_a_file(tmp_path, text_file):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    expect(cli(*GPT, "--data", text_file, "--out", target / "run"), 2, "lies under", "is a file")
    assert target.read_text() == "my notes"


@pytest.mark.parametrize("command", ["mnist", "gpt"])
def test_read_only_out_fails_before_training(tmp_path, text_file, command):
    out = tmp_path / "ro"
    out.mkdir()
    mounted = False
    if os.geteuid() == 0:  # root writes through permissions: mount a read-only filesystem instead
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(out)],
                          capture_output=True).returncode != 0:
            pytest.skip("running as root and cannot mount a read-only filesystem")
        mounted = True
    else:
        os.chmod(out, 0o555)
    try:
        args = MNIST if command == "mnist" else [*GPT, "--data", text_file]
        proc = cli(*args, "--out", out)
        expect(proc, 2, "not writable", str(out))
        assert "epoch" not in proc.stdout and "step" not in proc.stdout  # refused before any training
        assert list(out.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(out)])
        else:
            os.chmod(out, 0o755)


@pytest.mark.parametrize("command", ["gpt", "mnist"])
def test_resume_with_nothing_to_resume(tmp_path, text_file, command):
    args = [*GPT, "--data", text_file] if command == "gpt" else MNIST
    expect(cli(*args, "--out", tmp_path / "empty", "--resume"), 2, "nothing to resume", "last.npz")


@pytest.mark.parametrize("command", ["gpt", "mnist"])
def test_resume_with_a_changed_option(gpt_run, mnist_run, text_file, command):
    out, before = gpt_run if command == "gpt" else mnist_run
    args = [*GPT, "--data", text_file] if command == "gpt" else MNIST
    expect(cli(*args, "--out", out, "--resume", "--learning-rate", "0.5"), 2, "--resume continues the saved run exactly",
           "learning_rate")
    assert digest(out) == before


def test_resume_and_force_together(gpt_run, text_file):
    out, before = gpt_run
    expect(cli(*GPT, "--data", text_file, "--out", out, "--resume", "--force"), 2, "--force", "--resume")
    assert digest(out) == before


def test_force_keeps_the_old_run_until_the_new_one_has_a_checkpoint(mnist_run):
    out, before = mnist_run
    # this new run diverges at its first step, before any checkpoint: the old run must survive
    expect(cli(*MNIST, "--out", out, "--force", "--learning-rate", "1e30"), 3, "loss became", "none was written yet")
    assert digest(out) == before


def test_force_replaces_the_old_run_once_the_new_one_has_a_checkpoint(gpt_run, text_file):
    out, before = gpt_run
    old_log = (out / "log.jsonl").read_text()
    proc = cli(*GPT, "--data", text_file, "--out", out, "--force", "--seed", "5", "--stop-after", "2")
    expect(proc, 0)
    assert "--force" in proc.stdout
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2] and (out / "log.jsonl").read_text() != old_log
    assert digest(out)["last.npz"] != before["last.npz"]


def test_a_second_live_run_into_the_same_directory_refuses(tmp_path, text_file):
    out = tmp_path / "busy"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom micrograd_plus.train.rundir import RunDir\n"
         f"with RunDir({str(out)!r}):\n    print('locked', flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        expect(cli(*GPT, "--data", text_file, "--out", out), 2, "in use by another run", f"pid {holder.pid}")
    finally:
        holder.kill()  # dies holding the lock: the kernel releases the flock, the pid stays in the file
        holder.wait()
    proc = cli(*GPT, "--data", text_file, "--out", out, "--stop-after", "1")
    expect(proc, 0)
    assert f"left by pid {holder.pid}, which is no longer running" in proc.stdout


def test_stale_lock_file_of_a_dead_pid_is_taken_over(tmp_path, text_file):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "stale"
    out.mkdir()
    (out / ".lock").write_text(f"{dead.pid}\n")
    proc = cli(*GPT, "--data", text_file, "--out", out, "--stop-after", "1")
    expect(proc, 0)
    assert f"taking over the lock of {out} left by pid {dead.pid}" in proc.stdout
    assert (out / ".lock").read_text() == ""  # released at the end


def test_full_disk_keeps_the_previous_checkpoint(gpt_run, text_file, tmp_path):
    out, _ = gpt_run
    part = tmp_path / "part"
    expect(cli(*GPT, "--data", text_file, "--out", part, "--stop-after", "2"), 0)
    before = digest(part)
    full_disk = ("import errno, os, numpy\n"
                 "def savez(*a, **k):\n    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
                 "numpy.savez = savez\n")
    expect(cli(*GPT, "--data", text_file, "--out", part, "--resume", patch=full_disk), 2, "cannot write",
           "No space left on device", "previous version of the file is kept")
    after = digest(part)
    assert after["last.npz"] == before["last.npz"] and after["ckpt.npz"] == before["ckpt.npz"]
    assert not [p for p in part.iterdir() if p.name.endswith(".tmp")]
    expect(cli(*GPT, "--data", text_file, "--out", part, "--resume"), 0)  # and it still resumes


def test_full_disk_on_a_real_tiny_filesystem(tmp_path, text_file):
    mount = tmp_path / "tiny-fs"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        expect(cli(*GPT, "--data", text_file, "--out", mount / "run"), 2, "No space left on device")
        assert not [p for p in (mount / "run").iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(mount)])


# ---- checkpoints read from disk -------------------------------------------------------------


def test_sample_missing_checkpoint(tmp_path):
    expect(cli("gpt", "sample", "-c", tmp_path / "missing.npz"), 2, "missing.npz", "not found")


@pytest.mark.parametrize("damage", ["junk", "truncated", "empty"])
def test_sample_damaged_checkpoint(gpt_run, damage):
    out, _ = gpt_run
    path = out / "ckpt.npz"
    data = path.read_bytes()
    path.write_bytes({"junk": b"not a zip at all", "truncated": data[: len(data) // 2], "empty": b""}[damage])
    expect(cli("gpt", "sample", "-c", path), 2, str(path))


@pytest.mark.parametrize("edit, words", [
    (lambda m: m.update(step="6"), ["metadata field 'step' should be an integer"]),
    (lambda m: m.pop("task"), ["no field 'task'"]),
    (lambda m: m["task"].update(model_config=[1, 2]), ["'model_config' should be an object"]),
    (lambda m: m["task"]["model_config"].update(n_layer="two"), ["'model_config' is unusable"]),
    (lambda m: m["task"].update(tokenizer={"chars": 5}), ["'tokenizer' is unusable"]),
    (lambda m: m.update(format="someone-else/1"), ["not a GPT checkpoint"]),
])
def test_checkpoint_metadata_of_the_wrong_type_or_missing(gpt_run, edit, words):
    out, _ = gpt_run
    _edit_checkpoint(out / "ckpt.npz", edit_meta=edit)
    expect(cli("gpt", "sample", "-c", out / "ckpt.npz", "--chars", "5"), 2, "ckpt.npz", *words)


def test_resume_from_metadata_of_the_wrong_type(gpt_run, text_file):
    out, _ = gpt_run
    _edit_checkpoint(out / "last.npz", edit_meta=lambda m: m.update(evals="many"))
    before = digest(out)
    expect(cli(*GPT, "--data", text_file, "--out", out, "--resume"), 2, "last.npz", "'evals' should be a list")
    assert digest(out) == before


def test_mnist_resume_from_a_broken_saved_config(mnist_run):
    out, _ = mnist_run
    _edit_checkpoint(out / "last.npz", edit_meta=lambda m: m["task"]["config"].update(learning_rate="fast"))
    expect(cli(*MNIST, "--out", out, "--resume"), 2, "last.npz", "saved configuration is unusable", "learning_rate")


def test_npz_member_claiming_terabytes(gpt_run):
    out, _ = gpt_run
    path = out / "ckpt.npz"
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    name = next(n for n in members if n.startswith("model."))
    data = members[name]
    header_len = 10 + int.from_bytes(data[8:10], "little")
    header = data[10:header_len].decode("latin1")
    start = header.index("'shape': ") + len("'shape': ")
    forged = header[:start] + "(1000000, 1000000), }" + header[header.index("}", start) + 1:]
    forged = forged.rstrip() + " " * (len(header) - len(forged.rstrip()) - 1) + "\n"
    members[name] = data[:10] + forged.encode("latin1") + data[header_len:]
    with zipfile.ZipFile(path, "w") as zf:
        for n, content in members.items():
            zf.writestr(n, content)
    expect(cli("gpt", "sample", "-c", path), 2, "claims shape (1000000, 1000000)", "bytes")


def test_checkpoint_with_nan_weights(gpt_run, text_file):
    out, _ = gpt_run

    def poison(arrays):
        name = next(k for k in arrays if k.startswith("model.") and arrays[k].ndim == 2)
        arrays[name] = arrays[name].copy()
        arrays[name][0, 0] = np.nan

    _edit_checkpoint(out / "ckpt.npz", edit_arrays=poison)
    _edit_checkpoint(out / "last.npz", edit_arrays=poison)
    expect(cli("gpt", "sample", "-c", out / "ckpt.npz"), 2, "ckpt.npz", "NaN")
    before = digest(out)
    expect(cli(*GPT, "--data", text_file, "--out", out, "--resume"), 2, "last.npz", "NaN", "cannot continue")
    assert digest(out) == before


def test_gpt_command_on_an_mnist_checkpoint(mnist_run):
    out, _ = mnist_run
    expect(cli("gpt", "next", "-c", out / "ckpt.npz"), 2, "not a GPT checkpoint")


# ---- flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, value", [
    ("--weight-decay", "nan"), ("--weight-decay", "-0.1"), ("--min-lr", "nan"), ("--min-lr", "-1"),
    ("--grad-clip", "nan"), ("--grad-clip", "-1"), ("--learning-rate", "nan"), ("--learning-rate", "inf"), ("--learning-rate", "0"),
    ("--dropout", "1.5"), ("--batch-size", "0"), ("--max-iters", "-3"), ("--warmup-iters", "x"),
    ("--stop-after", "-1"),
])
def test_gpt_train_bad_numbers(flag, value, text_file, tmp_path, capsys):
    expect_in_process([*GPT, "--data", text_file, "--out", tmp_path / "o", flag, value], capsys, 2,
                      f"argument {flag}", value)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag, value", [
    ("--momentum", "nan"), ("--momentum", "-0.5"), ("--weight-decay", "inf"), ("--learning-rate", "nan"), ("--learning-rate", "-1"),
])
def test_mnist_bad_numbers(flag, value, tmp_path, capsys):
    expect_in_process([*MNIST, "--out", tmp_path / "o", flag, value], capsys, 2, f"argument {flag}", value)
    assert not (tmp_path / "o").exists()


def test_hyperparameters_that_conflict(tmp_path, text_file):
    expect(cli(*GPT, "--data", text_file, "--out", tmp_path / "o", "--warmup-iters", "6"), 2, "warmup_iters")
    expect(cli(*MNIST, "--out", tmp_path / "m", "--momentum", "0", "--nesterov"), 2, "nesterov")


@pytest.mark.parametrize("argv, words", [
    (["gpt", "next", "--prompt", ""], ["--prompt must not be empty"]),
    (["gpt", "attention", "--text", ""], ["--text must not be empty"]),
    (["gpt", "sample", "--prompt", ""], ["--prompt must not be empty"]),
    (["gpt", "sample", "--prompt", "ROMEO: \u00e9", "--chars", "3"], ["not in the vocabulary"]),
    (["gpt", "attention", "--text", "x" * 40], ["at most 16"]),
    (["gpt", "sample", "--temperature", "0"], ["argument --temperature"]),
    (["gpt", "sample", "--chars", "-5"], ["argument --chars"]),
])
def test_pedagogy_commands_with_bad_text(gpt_done, argv, words, capsys):
    expect_in_process([*argv, "-c", gpt_done / "ckpt.npz"], capsys, 2, *words)


def test_data_file_problems(tmp_path):
    missing = tmp_path / "missing.txt"
    expect(cli(*GPT, "--data", missing, "--out", tmp_path / "a"), 2, "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xff\xfe")
    expect(cli(*GPT, "--data", bad, "--out", tmp_path / "b"), 2, "bad.txt", "UTF-8")
    short = tmp_path / "short.txt"
    short.write_text("abc " * 5)
    expect(cli(*GPT, "--data", short, "--out", tmp_path / "c"), 2, "block_size")


def test_text_without_a_newline_trains_and_samples(tmp_path):
    flat = tmp_path / "flat.txt"
    flat.write_text(" ".join(TEXT.split()))  # no line break anywhere
    out = tmp_path / "flat"
    proc = cli(*GPT_BASE, "--sample-chars", "12", "--data", flat, "--out", out)
    expect(proc, 0)
    assert "--- a sample" in proc.stdout
    proc = cli("gpt", "sample", "-c", out / "ckpt.npz", "--chars", "8")
    expect(proc, 0)
    assert len(proc.stdout.rstrip("\n")) == 1 + 8  # the default prompt (the first character) + 8


# ---- divergence and Ctrl-C ----------------------------------------------------------------------


def _loads_finite(path):
    with np.load(path, allow_pickle=False) as npz:
        return all(np.isfinite(npz[k]).all() for k in npz.files if npz[k].dtype.kind == "f")


def test_gpt_train_with_a_huge_learning_rate_diverges_cleanly(tmp_path, text_file):
    out = tmp_path / "hot"
    args = [*GPT, "--data", text_file, "--out", out, "--learning-rate", "1e6", "--max-iters", "30", "--eval-interval", "2",
            "--grad-clip", "0"]
    line = expect(cli(*args), 3, "stopped:", "the loss became", "at step", "learning rate")
    assert "try a smaller --learning-rate" in line and "last good checkpoint is" in line
    assert _loads_finite(out / "last.npz") and _loads_finite(out / "ckpt.npz")


def test_nan_loss_injected_mid_run_keeps_the_last_good_checkpoint(tmp_path, text_file):
    out = tmp_path / "nan"
    expect(cli(*GPT, "--data", text_file, "--out", out, "--stop-after", "3"), 0)
    before = digest(out)
    nan_at_step_5 = ("import numpy as np\nfrom micrograd_plus.train import gpt\nreal = gpt.GPTTask.loss\ncalls = [0]\n"
                     "def loss(self, batch):\n    value, n = real(self, batch)\n    calls[0] += 1\n"
                     "    if calls[0] == 2:\n        value.data[...] = np.nan\n    return value, n\n"
                     "gpt.GPTTask.loss = loss\n")
    expect(cli(*GPT, "--data", text_file, "--out", out, "--resume", patch=nan_at_step_5), 3,
           "the loss became nan at step 5", "last.npz (step 3)")
    assert digest(out)["last.npz"] == before["last.npz"] and _loads_finite(out / "last.npz")


def _start(args):
    return subprocess.Popen([sys.executable, "-m", "micrograd_plus", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT, preexec_fn=sigint_as_default)


def _wait_for(proc, path, timeout=60):
    t0 = time.time()
    while not Path(path).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.01)


def test_ctrl_c_during_gpt_train_exits_130_saves_and_does_not_sample(tmp_path, text_file):
    out = tmp_path / "int"
    proc = _start([*GPT_BASE, "--sample-chars", "100", "--data", text_file, "--out", out, "--max-iters", "100000",
                   "--eval-interval", "5000"])
    _wait_for(proc, out / "log.jsonl")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "interrupted at step" in stdout and "--resume" in stdout and "--- a sample" not in stdout
    assert _loads_finite(out / "last.npz")


def test_two_ctrl_c_abort_at_once_without_a_half_written_file(tmp_path, text_file):
    out = tmp_path / "int2"
    proc = _start([*GPT, "--data", text_file, "--out", out, "--max-iters", "100000", "--eval-interval", "1"])
    _wait_for(proc, out / "last.npz")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert _loads_finite(out / "last.npz")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_during_gpt_sample_exits_cleanly(gpt_done):
    proc = _start(["gpt", "sample", "-c", gpt_done / "ckpt.npz", "--chars", "1000000"])
    proc.stdout.read(20)  # it is streaming
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr


# ---- the same with the compiled kernels (numba backend) --------------------------------------------


def _kernels_propagate_non_finite():
    """Whether the compiled attention kernel returns NaN for NaN/inf input, as numpy does (rather
    than raising from inside numba)."""
    from micrograd_plus import kernels

    q = np.ones((1, 1, 4, 8), dtype=np.float32)
    k = q.copy()
    k[0, 0, 1, 0] = np.inf
    try:
        out, _ = kernels.attention_forward(q, k, q, 0.35, True)
    except Exception:
        return False
    return bool(np.isnan(out[0, 0, 1:]).all())


def _cli_numba(*args):
    env = dict(_env())
    env.pop("NUMBA_DISABLE_JIT")
    return subprocess.run([sys.executable, "-m", "micrograd_plus", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


def test_compiled_kernels_nan_hyperparameter_and_nan_checkpoint(gpt_run, text_file, tmp_path):
    expect(_cli_numba(*GPT, "--data", text_file, "--out", tmp_path / "o", "--weight-decay", "nan"), 2,
           "argument --weight-decay")
    out, _ = gpt_run

    def poison(arrays):
        name = next(k for k in arrays if k.startswith("model.") and arrays[k].ndim == 2)
        arrays[name] = np.full_like(arrays[name], np.nan)

    _edit_checkpoint(out / "last.npz", edit_arrays=poison)
    _edit_checkpoint(out / "ckpt.npz", edit_arrays=poison)
    expect(_cli_numba("gpt", "sample", "-c", out / "ckpt.npz"), 2, "NaN")
    expect(_cli_numba(*GPT, "--data", text_file, "--out", out, "--resume"), 2, "NaN", "cannot continue")


@pytest.mark.skipif(not _kernels_propagate_non_finite(),
                    reason="the compiled attention kernel does not yet propagate NaN/inf (micrograd_plus/kernels)")
def test_compiled_kernels_huge_learning_rate_diverges_cleanly(tmp_path, text_file):
    out = tmp_path / "hot"
    line = expect(_cli_numba(*GPT, "--data", text_file, "--out", out, "--learning-rate", "1e6", "--max-iters", "30",
                             "--eval-interval", "2", "--grad-clip", "0"), 3, "stopped:", "learning rate")
    assert "last good checkpoint is" in line
    assert _loads_finite(out / "last.npz")
