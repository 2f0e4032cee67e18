"""Exact resume at any interrupt point, and checkpoints that survive ``kill -9``.

* Ctrl-C (a real SIGINT) pressed at many moments of a step -- before the batch is drawn, in the
  forward pass, in backward, in gradient clipping, in the optimiser step, during an evaluation,
  just before a checkpoint is written -- then ``resume``, possibly interrupted again: the run ends
  with the same weights, optimiser state, losses and log, bit for bit, as one never interrupted.
  For MNIST and for the GPT, in process (fast, moments chosen by the loop's ``on_phase`` hook).
* The same through the command line, with SIGINT sent at random times (so it also lands inside
  compiled kernels).
* ``kill -9`` at random times of a run that writes a checkpoint every step: after every kill the
  previous checkpoint loads, and the run resumed after all the kills ends exactly where an
  uninterrupted run does.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import sigint_as_default

from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train import gpt, mnist
from micrograd_plus.train.checkpoint import load_checkpoint
from micrograd_plus.train.loop import PHASES

pytestmark = pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:3000]
TIMING = ("ms", "seconds")


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "little.txt"
    path.write_text(TEXT)
    return path


def _no_timing(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _state(out):
    """Everything that must agree between two runs: the arrays of last.npz and ckpt.npz, the
    metadata without wall-clock times, and the log without them."""
    arrays, meta = load_checkpoint(out / "last.npz")
    best, _ = load_checkpoint(out / "ckpt.npz")
    meta = dict(meta, evals=_no_timing(meta["evals"]), recent={**meta["recent"], "seconds": 0})
    log = _no_timing([json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()])
    return arrays, {f"best.{k}": v for k, v in best.items()}, meta, log


def _assert_same_run(a, b):
    arrays_a, best_a, meta_a, log_a = _state(a)
    arrays_b, best_b, meta_b, log_b = _state(b)
    assert arrays_a.keys() == arrays_b.keys() and best_a.keys() == best_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    for name in best_a:
        np.testing.assert_array_equal(best_a[name], best_b[name], err_msg=name)
    assert meta_a == meta_b
    assert log_a == log_b


def _ctrl_c_at(moment, signum=signal.SIGINT):
    """An on_phase hook that sends this process a real SIGINT (or ``signum``) at ``(phase, step)``."""

    def hook(phase, step, task):
        if (phase, step) == moment:
            os.kill(os.getpid(), signum)

    return hook


def _moments(rng, count, max_steps, eval_steps):
    """``count`` increasing-step (phase, step) pairs: any phase of any step, evaluation phases at
    evaluation steps."""
    moments = []
    for _ in range(count):
        phase = str(rng.choice(PHASES))
        step = int(rng.choice(eval_steps)) if phase == "eval" else int(rng.integers(0, max_steps))
        moments.append((phase, step))
    return sorted(moments, key=lambda m: (m[1], PHASES.index(m[0])))


def _interrupted_run(start, resume, out, moments):
    """Start, press Ctrl-C at each moment in turn (resuming after each), then run to the end."""
    result = start(out, _ctrl_c_at(moments[0]))
    for moment in moments[1:]:
        if result.finished:
            break
        result = resume(out, _ctrl_c_at(moment))
    while not result.finished:
        result = resume(out, None)
    return result


# ---- in process, moments chosen precisely ----------------------------------------------------------

MC = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.1)  # dropout: model_rng matters
TC = gpt.TrainConfig(batch_size=4, max_iters=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=2,
                     eval_interval=4, eval_iters=1, seed=3)


def test_gpt_resume_is_exact_after_ctrl_c_at_many_moments(tmp_path, text_file):
    quiet = dict(data=text_file, progress=False, log=None)
    gpt.train(MC, TC, out_dir=tmp_path / "full", **quiet)

    def start(out, hook):
        return gpt.train(MC, TC, out_dir=out, on_phase=hook, **quiet)

    def resume(out, hook):
        return gpt.train(out_dir=out, resume=True, on_phase=hook, **quiet)

    rng = np.random.default_rng(0)
    seen = set()
    for k in range(5):
        moments = _moments(rng, 3, TC.max_iters, [0, 4, 8, 12])
        seen.update(phase for phase, _ in moments)
        out = tmp_path / f"run{k}"
        result = _interrupted_run(start, resume, out, moments)
        assert result.finished and result.step == TC.max_iters
        _assert_same_run(tmp_path / "full", out)
    assert len(seen) >= 5  # the moments covered most phases of a step


MNIST_TINY = mnist.MNISTConfig(hidden=(16,), activation="relu", dropout=0.2, learning_rate=0.1, batch_size=100, epochs=2,
                               limit=400, test_limit=100)


def test_mnist_resume_is_exact_after_ctrl_c_at_many_moments(tmp_path):
    quiet = dict(progress=False, log=None)
    mnist.train(MNIST_TINY, out_dir=tmp_path / "full", **quiet)

    def start(out, hook):
        return mnist.train(MNIST_TINY, out_dir=out, on_phase=hook, **quiet)

    def resume(out, hook):
        return mnist.train(None, out_dir=out, resume=True, on_phase=hook, **quiet)

    rng = np.random.default_rng(1)
    for k in range(5):
        out = tmp_path / f"run{k}"
        result = _interrupted_run(start, resume, out, _moments(rng, 2, 8, [4, 8]))
        assert result.finished and result.step == 8
        _assert_same_run(tmp_path / "full", out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_resume_is_exact(tmp_path, text_file, signum):
    """SIGTERM / SIGHUP at several moments of a step: the step finishes, last.npz holds it, the
    result says which signal, and the run resumed after each ends bit for bit as one never stopped."""
    quiet = dict(data=text_file, progress=False, log=None)
    handler = signal.getsignal(signum)
    gpt.train(MC, TC, out_dir=tmp_path / "full", **quiet)
    out = tmp_path / "run"
    moments = [("forward", 1), ("optimizer", 5), ("eval", 8)]
    result = gpt.train(MC, TC, out_dir=out, on_phase=_ctrl_c_at(moments[0], signum), **quiet)
    for moment in moments[1:] + [None]:
        assert result.interrupted and result.signal == signum and not result.finished
        _, meta = load_checkpoint(out / "last.npz")
        assert meta["step"] == result.step  # saved where it stopped
        hook = None if moment is None else _ctrl_c_at(moment, signum)
        result = gpt.train(out_dir=out, resume=True, on_phase=hook, **quiet)
    assert result.finished and result.signal is None
    _assert_same_run(tmp_path / "full", out)
    assert signal.getsignal(signum) == handler  # the run's handler is gone again


def test_ctrl_c_inside_the_checkpoint_write_twice_aborts_and_leaves_the_old_file(tmp_path, monkeypatch):
    import micrograd_plus.train.checkpoint as ckpt

    out = tmp_path / "run"
    mnist.train(MNIST_TINY, out_dir=out, stop_after=2, progress=False, log=None)
    before = (out / "last.npz").read_bytes()
    real_savez = np.savez

    def savez_pressed_twice(f, **arrays):
        real_savez(f, **arrays)
        f.truncate(f.tell() // 2)  # half-way through the write...
        os.kill(os.getpid(), signal.SIGINT)  # ...Ctrl-C (a request)...
        os.kill(os.getpid(), signal.SIGINT)  # ...and Ctrl-C again: abort now

    monkeypatch.setattr(ckpt.np, "savez", savez_pressed_twice)
    with pytest.raises(KeyboardInterrupt):
        mnist.train(None, out_dir=out, resume=True, progress=False, log=None)
    monkeypatch.undo()
    assert (out / "last.npz").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [".lock", "ckpt.npz", "last.npz", "log.jsonl"] or \
        sorted(p.name for p in out.iterdir()) == [".lock", "last.npz", "log.jsonl"]
    assert mnist.train(None, out_dir=out, resume=True, progress=False, log=None).finished


# ---- through the command line: random moments, Ctrl-C and kill -9 ------------------------------------

CLI_ARGS = ["--preset", "tiny", "--block-size", "16", "--n-embd", "16", "--n-layer", "1", "--batch-size", "4",
            "--eval-iters", "1", "--warmup-iters", "1", "--no-progress", "--sample-chars", "0"]


def _reference(tmp_path, text_file, max_iters, eval_interval, backend=None):
    """The uninterrupted run the command line below would do, trained in this process."""
    from micrograd_plus import kernels

    preset = gpt.PRESETS["tiny"]
    mc = replace(preset.model, block_size=16, n_embd=16, n_layer=1)
    tc = replace(preset.train, batch_size=4, eval_iters=1, warmup_iters=1, max_iters=max_iters,
                 eval_interval=eval_interval)
    out = tmp_path / "reference"
    with kernels.backend(backend or kernels.get_backend()):
        gpt.train(mc, tc, out_dir=out, data=text_file, progress=False, log=None)
    return out


def _start(text_file, out, max_iters, eval_interval, *extra, numpy_backend=False, env=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
    if numpy_backend:
        env["NUMBA_DISABLE_JIT"] = "1"  # no kernels to load: a second less per start
    args = ["gpt", "train", *CLI_ARGS, "--data", str(text_file), "--out", str(out), "--max-iters", str(max_iters),
            "--eval-interval", str(eval_interval), *extra]
    return subprocess.Popen([sys.executable, "-m", "micrograd_plus", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, preexec_fn=sigint_as_default)


def _steps_logged(out):
    try:
        return sum(1 for line in (out / "log.jsonl").read_text().splitlines() if '"loss"' in line)
    except FileNotFoundError:
        return 0


def _until(proc, condition, timeout=120):
    t0 = time.time()
    while not condition() and proc.poll() is None:
        assert time.time() - t0 < timeout
        time.sleep(0.005)


def test_cli_resume_is_exact_after_ctrl_c_at_random_times(tmp_path, text_file):
    max_iters, eval_interval = 40, 10
    reference = _reference(tmp_path, text_file, max_iters, eval_interval)
    out = tmp_path / "run"
    rng = np.random.default_rng(2)
    interrupts = 0
    for attempt in range(3):
        resume = ["--resume"] if (out / "last.npz").exists() else ["--force"]
        proc = _start(text_file, out, max_iters, eval_interval, *resume)
        done = _steps_logged(out)
        _until(proc, lambda: _steps_logged(out) > done)  # training has started
        time.sleep(float(rng.uniform(0.0, 0.05)))  # then somewhere in a step: a kernel, the optimiser...
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr
        assert proc.returncode in (0, 130), (proc.returncode, stderr)
        if proc.returncode == 0:
            break
        interrupts += 1
        assert "interrupted at step" in stdout
    if proc.returncode != 0:
        proc = _start(text_file, out, max_iters, eval_interval, "--resume")
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    assert interrupts >= 2
    _assert_same_run(reference, out)


def test_kill_9_during_checkpoint_writes_never_loses_the_previous_checkpoint(tmp_path, text_file):
    max_iters, eval_interval = 40, 1  # a checkpoint (two files) after every step
    reference = _reference(tmp_path, text_file, max_iters, eval_interval, backend="numpy")
    out = tmp_path / "run"
    rng = np.random.default_rng(3)
    kills = 0
    for attempt in range(6):
        resume = ["--resume"] if (out / "last.npz").exists() else ["--force"]
        proc = _start(text_file, out, max_iters, eval_interval, *resume, numpy_backend=True)
        done = _steps_logged(out)
        _until(proc, lambda: _steps_logged(out) > done)
        time.sleep(float(rng.uniform(0.0, 0.03)))
        proc.kill()  # SIGKILL: no handler, no cleanup, possibly mid-write
        proc.communicate()
        if proc.returncode == 0:
            break
        kills += 1
        arrays, meta = load_checkpoint(out / "last.npz")  # the previous checkpoint always loads
        assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")
        load_checkpoint(out / "ckpt.npz")
        model, _, info = gpt.load_model(out / "last.npz")
        assert info["step"] == meta["step"] <= max_iters
    assert kills >= 4
    proc = _start(text_file, out, max_iters, eval_interval, "--resume", numpy_backend=True)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # the killed runs' temp files are gone
    _assert_same_run(reference, out)


# ---- the same run whatever the thread count or the machine's load -----------------------------------

BIG_ENOUGH = ["--n-embd", "64", "--n-head", "2", "--block-size", "32", "--batch-size", "16"]


def test_cli_resume_is_exact_when_each_part_runs_on_other_threads_beside_a_busy_process(tmp_path, text_file):
    """A run interrupted twice and resumed, its parts alternately on two threads (load ignored, so
    the matmul, LayerNorm, cross-entropy and attention kernels all take their threaded paths at these
    sizes) and on one, with a CPU-bound process beside it all along, ends with the same bits as the
    run trained serially in this process: the load may choose the speed, never the answer. (Before
    LayerNorm's weight gradient was summed in fixed chunks, this failed in the last bits.)"""
    from micrograd_plus.kernels import _shared

    max_iters, eval_interval = 24, 8
    preset = gpt.PRESETS["tiny"]
    mc = replace(preset.model, block_size=32, n_embd=64, n_head=2, n_layer=1)
    tc = replace(preset.train, batch_size=16, eval_iters=1, warmup_iters=1, max_iters=max_iters,
                 eval_interval=eval_interval)
    reference = tmp_path / "reference"
    orig = _shared.cores_are_free
    _shared.cores_are_free = lambda: False  # every kernel serial
    try:
        gpt.train(mc, tc, out_dir=reference, data=text_file, progress=False, log=None)
    finally:
        _shared.cores_are_free = orig
    threaded = {"NUMBA_NUM_THREADS": "2", "MICROGRAD_PLUS_IGNORE_LOAD": "1"}
    serial = {"NUMBA_NUM_THREADS": "1"}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out = tmp_path / "run"
        for part, env in enumerate((threaded, serial)):
            proc = _start(text_file, out, max_iters, eval_interval, *BIG_ENOUGH,
                          "--resume" if part else "--force", env=env)
            done = _steps_logged(out)
            _until(proc, lambda: _steps_logged(out) >= done + 5)  # some steps of this part
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 130, (proc.returncode, stderr)  # interrupted, not finished
        proc = _start(text_file, out, max_iters, eval_interval, *BIG_ENOUGH, "--resume", env=threaded)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    finally:
        busy.kill()
        busy.wait()
    _assert_same_run(reference, out)
