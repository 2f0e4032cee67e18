"""Tests of GPT training (reproducibility, resume, checkpoints) and of the ``gpt`` CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest

from micrograd_plus._plumbing.cli import main
from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.gpt import PRESETS, TrainConfig, load_model, train

MC = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16)
TC = TrainConfig(batch_size=4, max_iters=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=2,
                 eval_interval=4, eval_iters=2, seed=7)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    from micrograd_plus.data import load_shakespeare

    path = tmp_path_factory.mktemp("text") / "little.txt"
    path.write_text(load_shakespeare()[:4000], encoding="utf-8")
    return path


def _weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def _no_timing(rows):
    return [{k: v for k, v in row.items() if k not in ("seconds", "ms")} for row in rows]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_same_seed_same_run_and_another_seed_differs(tmp_path, text_file):
    r1 = train(MC, TC, out_dir=tmp_path / "a", data=text_file, progress=False, log=None)
    r2 = train(MC, TC, out_dir=tmp_path / "b", data=text_file, progress=False, log=None)
    r3 = train(MC, replace(TC, seed=8), out_dir=tmp_path / "c", data=text_file, progress=False, log=None)
    _assert_same(_weights(r1.model), _weights(r2.model))
    assert _no_timing(r1.evals) == _no_timing(r2.evals)
    assert not np.array_equal(r1.model.transformer.wte.weight.numpy(), r3.model.transformer.wte.weight.numpy())
    assert r1.step == 12 and [e["step"] for e in r1.evals] == [0, 4, 8, 12]
    # the loss log: one line per step (numbered 1..12 once done) and per evaluation
    rows = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 13))
    assert [r["val_loss"] for r in rows if "val_loss" in r] == [e["val_loss"] for e in r1.evals]


def test_resume_ends_exactly_where_an_uninterrupted_run_does(tmp_path, text_file):
    full = train(MC, TC, out_dir=tmp_path / "full", data=text_file, progress=False, log=None)
    part = train(MC, TC, out_dir=tmp_path / "part", data=text_file, progress=False, log=None, stop_after=6)
    assert part.step == 6
    resumed = train(out_dir=tmp_path / "part", data=text_file, resume=True, progress=False, log=None)
    assert resumed.step == 12
    _assert_same(_weights(full.model), _weights(resumed.model))
    # optimiser state and best checkpoint too
    a = np.load(tmp_path / "full" / "last.npz")
    b = np.load(tmp_path / "part" / "last.npz")
    for k in a.files:
        if k.startswith(("optim.", "model.")):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert full.best_loss == resumed.best_loss
    assert _no_timing(full.evals) == _no_timing(resumed.evals)  # the history spans both sessions


def test_best_checkpoint_loads_back_as_the_same_model(tmp_path, text_file):
    result = train(MC, replace(TC, max_iters=8), out_dir=tmp_path, data=text_file, progress=False, log=None)
    model, tok, meta = load_model(tmp_path / "ckpt.npz")
    assert tok.chars == result.task.tokenizer.chars
    assert meta["best_val_loss"] == pytest.approx(result.best_loss)
    last, _, meta_last = load_model(tmp_path / "last.npz")
    assert meta_last["step"] == 8
    _assert_same(_weights(last), _weights(result.model))


def test_train_errors_are_clear(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("abc" * 10)
    with pytest.raises(ValueError, match="block_size"):
        train(MC, TC, out_dir=tmp_path / "o", data=short, progress=False, log=None)
    with pytest.raises(FileNotFoundError):
        train(out_dir=tmp_path / "nothing", resume=True, progress=False, log=None)


def test_preset_is_nanogpts_cpu_recipe():
    p = PRESETS["shakespeare-char-cpu"]
    m, t = p.model, p.train
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size, m.dropout) == (4, 4, 128, 64, 0.0)
    assert (t.batch_size, t.max_iters, t.learning_rate, t.min_lr, t.warmup_iters) == (12, 2000, 1e-3, 1e-4, 100)
    assert (t.beta2, t.weight_decay, t.grad_clip, t.eval_interval, t.eval_iters) == (0.99, 0.1, 1.0, 250, 20)
    assert t.decay_iters == 2000


# ---- the CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["gpt", "--help"], ["gpt", "train", "--help"], ["gpt", "sample", "--help"]])
def test_cli_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_cli_weights_gpt3(capsys):
    assert main(["gpt", "weights", "--preset", "gpt3"]) == 0
    out = capsys.readouterr().out
    assert "175,181,291,520" in out and "27,938" in out


def test_cli_tiny_train_then_sample_next_attention_neighbours(tmp_path, text_file, capsys):
    out_dir = tmp_path / "run"
    rc = main(["gpt", "train", "--preset", "tiny", "--data", str(text_file), "--out", str(out_dir),
               "--max-iters", "10", "--eval-interval", "5", "--eval-iters", "2", "--warmup-iters", "2",
               "--no-progress", "--sample-chars", "20"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "val loss" in out and "time per iteration" in out
    ckpt = out_dir / "ckpt.npz"
    assert ckpt.exists() and (out_dir / "last.npz").exists() and (out_dir / "log.jsonl").exists()

    argv = ["gpt", "sample", "-c", str(ckpt), "--prompt", "Th", "--chars", "30", "--seed", "3", "--top-k", "5"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # same seed, same text
    assert first.startswith("Th") and len(first) == 2 + 30 + 1

    assert main(["gpt", "next", "-c", str(ckpt), "--prompt", "First Cit"]) == 0
    out = capsys.readouterr().out
    _, tok, _ = load_model(ckpt)
    rows = out.splitlines()[2:2 + tok.vocab_size]
    probs = [float(line[8:19]) for line in rows]  # columns: char (6), 2 spaces, probability (11)
    assert len(probs) == tok.vocab_size and abs(sum(probs) - 1) < 1e-3
    assert probs == sorted(probs, reverse=True)
    png = tmp_path / "new_dir" / "next.png"  # save_figure makes the directory, writes atomically
    assert main(["gpt", "next", "-c", str(ckpt), "--prompt", "First Cit", "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["next.png"]
    capsys.readouterr()

    png = tmp_path / "att.png"
    assert main(["gpt", "attention", "-c", str(ckpt), "--text", "First Citizen:", "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png2 = tmp_path / "emb.png"
    assert main(["gpt", "neighbours", "a", "e", "-c", str(ckpt), "-k", "3", "--png", str(png2)]) == 0
    assert png2.exists()
    out = capsys.readouterr().out
    assert "nearest neighbours" in out


def test_cli_reports_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xff\xfe")
    assert main(["gpt", "train", "--data", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "bad.txt" in capsys.readouterr().err
    assert main(["gpt", "sample", "-c", str(tmp_path / "missing.npz")]) == 2
    assert "missing.npz" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert main(["gpt", "sample", "-c", str(junk)]) == 2
    assert "junk.npz" in capsys.readouterr().err


def test_evaluate_full_is_the_mean_loss_over_consecutive_windows():
    from micrograd_plus.models.gpt import GPT
    from micrograd_plus.train.gpt import evaluate_full

    model = GPT(GPTConfig(vocab_size=9, block_size=5, n_layer=1, n_head=1, n_embd=8), generator=0)
    ids = np.random.default_rng(0).integers(0, 9, size=23)  # 4 whole windows of 5 (+ next tokens)
    losses = []
    for w in range(4):
        x, y = ids[w * 5:w * 5 + 5], ids[w * 5 + 1:w * 5 + 6]
        z = model(x[None])[0].numpy()[0].astype(np.float64)  # (5, 9)
        logp = z - z.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        losses.append(-logp[np.arange(5), y].mean())
    assert evaluate_full(model, ids, 5, batch_size=3) == pytest.approx(np.mean(losses), rel=1e-5)


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path, text_file):
    import os
    import signal

    full = train(MC, TC, out_dir=tmp_path / "full", data=text_file, progress=False, log=None)

    def press_ctrl_c(phase, step, task):
        if phase == "forward" and step == 3:  # after this step's batch was drawn
            os.kill(os.getpid(), signal.SIGINT)

    part = train(MC, TC, out_dir=tmp_path / "part", data=text_file, progress=False, log=None, on_phase=press_ctrl_c)
    assert part.interrupted and part.step == 4  # the step in progress finished, then the loop stopped
    resumed = train(out_dir=tmp_path / "part", data=text_file, resume=True, progress=False, log=None)
    _assert_same(_weights(full.model), _weights(resumed.model))


def test_cli_stop_and_resume(tmp_path, text_file, capsys):
    common = ["--data", str(text_file), "--no-progress", "--sample-chars", "0"]
    small = ["--preset", "tiny", "--max-iters", "8", "--eval-interval", "4", "--eval-iters", "1", "--warmup-iters", "2"]
    assert main(["gpt", "train", *small, "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["gpt", "train", *small, "--out", str(tmp_path / "b"), "--stop-after", "3", *common]) == 0
    assert main(["gpt", "train", "--resume", "--out", str(tmp_path / "b"), *common]) == 0
    assert "resuming" in capsys.readouterr().out
    a, b = np.load(tmp_path / "a" / "last.npz"), np.load(tmp_path / "b" / "last.npz")
    for k in a.files:
        if k.startswith("model."):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
