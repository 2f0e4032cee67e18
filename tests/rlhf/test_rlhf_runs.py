"""RLHF's stages end to end on a tiny GPT (seconds), as a user runs them, and exact resume.

* ``gpt pairs -> reward -> rl -> dpo`` through the command line's ``main``: exit codes, the files
  each writes, log rows with the numbers the chapter plots, and a tuned policy ``gpt sample`` reads;
* ``--interactive`` labelling from a fed standard input, and ``--resume`` of a pairs file;
* resume equals an uninterrupted run, bit for bit, for the reward model, RL and DPO, with a real
  Ctrl-C pressed at chosen moments of a step (the loop's ``on_phase`` hook);
* one-line errors and exit code 2: a missing or corrupt checkpoint, another vocabulary, bad flags,
  a run directory or pairs file that is not this run's.
"""

import io
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from micrograd_plus._plumbing.cli import main
from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.rlhf.pairs import label_interactively
from micrograd_plus.rlhf.policy import PolicyConfig, load_setting, train_dpo, train_rl
from micrograd_plus.rlhf.reward import RewardConfig, train_reward
from micrograd_plus.train import gpt
from micrograd_plus.train.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:30000]
LEN = ["--length", "8"]
POLICY = ["--max-iters", "3", "--sequences-per-step", "4", "--eval-interval", "2", "--eval-samples", "2",
          "--learning-rate", "1e-3", "--no-progress"]
MC = GPTConfig(block_size=24, n_layer=1, n_head=2, n_embd=16)
TC = gpt.TrainConfig(batch_size=4, max_iters=6, learning_rate=3e-3, min_lr=3e-4, warmup_iters=1, eval_interval=6,
                     eval_iters=1, seed=0)


def run_main(argv, capsys):
    """``main(argv)`` as the command line runs it: ``(exit code, stdout, stderr)``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors (a bad flag value) exit 2 from inside parse_args
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny GPT trained for a few steps on 30,000 characters, and that text's file."""
    root = tmp_path_factory.mktemp("rlhf")
    text = root / "text.txt"
    text.write_text(TEXT)
    gpt.train(MC, TC, out_dir=root / "gpt", data=text, progress=False, log=None)
    return {"ckpt": root / "gpt" / "ckpt.npz", "text": text, "root": root}


@pytest.fixture(scope="module")
def pairs(base):
    path = base["root"] / "pairs.jsonl"
    assert main(["gpt", "pairs", "-c", str(base["ckpt"]), "--out", str(path), "--n-pairs", "24", *LEN]) == 0
    return path


def test_pairs_are_a_readable_dataset_and_resume_gives_the_same_file(base, pairs, tmp_path, capsys):
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert len(rows) == 24
    for r in rows:
        assert r["chosen"] in ("a", "b") and r["judge"] == "rater" and r["prompt"].endswith(":\n")
        assert len(r["a"]) == len(r["b"]) == 8 and 0 < r["p_a"] < 1
    assert len({r["prompt"] for r in rows}) >= 2
    # made in two parts (16, then --resume to 24): the same bytes
    part = tmp_path / "p.jsonl"
    assert run_main(["gpt", "pairs", "-c", base["ckpt"], "--out", part, "--n-pairs", "16", *LEN], capsys)[0] == 0
    assert run_main(["gpt", "pairs", "-c", base["ckpt"], "--out", part, "--n-pairs", "24", "--resume", *LEN],
                    capsys)[0] == 0
    assert part.read_bytes() == pairs.read_bytes()
    # an existing file is not replaced without --force; another seed gives other labels or texts
    code, _, err = run_main(["gpt", "pairs", "-c", base["ckpt"], "--out", part, "--n-pairs", "8", *LEN], capsys)
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    assert part.read_bytes() == pairs.read_bytes()
    assert run_main(["gpt", "pairs", "-c", base["ckpt"], "--out", part, "--n-pairs", "24", "--seed", "1", "--force",
                     *LEN], capsys)[0] == 0
    assert part.read_bytes() != pairs.read_bytes()


def test_interactive_labelling_from_standard_input(base, tmp_path, capsys, monkeypatch):
    out = tmp_path / "mine.jsonl"
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\nwhat?\nb\ns\nq\n"))
    code, shown, _ = run_main(["gpt", "pairs", "-c", base["ckpt"], "--out", out, "--n-pairs", "5", "--interactive",
                               *LEN], capsys)
    assert code == 0 and "which is better?" in shown and "[a] " in shown and "continue with --resume" in shown
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["chosen"] for r in rows] == ["a", "b"] and all(r["judge"] == "human" for r in rows)
    # --resume shows the next pairs (not the skipped one again) and stops at end of input
    setting = load_setting(base["ckpt"], 8)
    more = label_interactively(setting.ref, setting.tokenizer, setting.train_prompts, 5, out, 8, resume=True,
                               stdin=io.StringIO("b\nb\n"), stdout=io.StringIO())
    assert [r["chosen"] for r in more] == ["a", "b", "b", "b"]
    assert len({(r["a"], r["b"]) for r in more}) == 4


def test_every_stage_end_to_end_through_the_command_line(base, pairs, tmp_path, capsys):
    ck, runs = base["ckpt"], tmp_path
    code, out, err = run_main(["gpt", "reward", "-c", ck, "--pairs", pairs, "--out", runs / "reward", "--max-iters", "4",
                               "--eval-interval", "2", "--batch-size", "4", "--no-progress"], capsys)
    assert code == 0, err
    assert "held-out pair accuracy" in out and "agrees with itself" in out
    rm = runs / "reward" / "ckpt.npz"
    code, out, err = run_main(["gpt", "rl", "-c", ck, "--reward", rm, "--out", runs / "rl", "--samples-per-prompt", "2",
                               *POLICY, *LEN], capsys)
    assert code == 0, err
    assert "rater" in out and "kl" in out
    log = [json.loads(line) for line in (runs / "rl" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if not r.get("eval")]
    evals = [r for r in log if r.get("eval")]
    assert len(steps) == 3 and all({"reward", "kl", "rater"} <= r.keys() for r in steps)
    assert [r["step"] for r in evals] == [0, 2, 3] and all({"rater", "reward", "kl", "val_loss"} <= r.keys()
                                                           for r in evals)
    assert evals[0]["kl"] == pytest.approx(0.0, abs=1e-6) and evals[-1]["kl"] > 0  # it moved, from the reference
    code, out, err = run_main(["gpt", "dpo", "-c", ck, "--pairs", pairs, "--reward", rm, "--out", runs / "dpo", *POLICY,
                               *LEN], capsys)
    assert code == 0, err
    log = [json.loads(line) for line in (runs / "dpo" / "log.jsonl").read_text().splitlines()]
    assert all({"dpo_val_loss", "reward", "kl"} <= r.keys() for r in log if r.get("eval"))
    # the tuned policies are GPT checkpoints: sample reads them
    code, out, err = run_main(["gpt", "sample", "-c", runs / "rl" / "ckpt.npz", "--chars", "20", "--prompt", "A"],
                              capsys)
    assert code == 0 and len(out) >= 20, err
    base_w, _ = load_checkpoint(ck)
    tuned_w, _ = load_checkpoint(runs / "dpo" / "last.npz")
    name = "model.transformer.h.0.mlp.c_fc.weight"
    assert not np.array_equal(base_w[name], tuned_w[name])


# ---- exact resume -------------------------------------------------------------------------------------

def _ctrl_c_at(moments):
    def hook(phase, step, task):
        if (phase, step) in moments:
            moments.discard((phase, step))
            os.kill(os.getpid(), signal.SIGINT)

    return hook


def _same_run(a, b):
    for name in ("last.npz", "ckpt.npz"):
        xa, ma = load_checkpoint(a / name)
        xb, mb = load_checkpoint(b / name)
        assert xa.keys() == xb.keys()
        for k in xa:
            np.testing.assert_array_equal(xa[k], xb[k], err_msg=f"{name} {k}")
        strip = [{k: v for k, v in r.items() if k not in ("ms", "seconds")} for r in ma["evals"]]
        assert strip == [{k: v for k, v in r.items() if k not in ("ms", "seconds")} for r in mb["evals"]]
    rows = [[{k: v for k, v in json.loads(line).items() if k not in ("ms", "seconds")}
             for line in (d / "log.jsonl").read_text().splitlines()] for d in (a, b)]
    assert rows[0] == rows[1]


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
@pytest.mark.parametrize("stage", ["reward", "rl", "dpo"])
def test_resume_after_ctrl_c_equals_an_uninterrupted_run(stage, base, pairs, tmp_path):
    quiet = dict(progress=False, log=None)
    rm_dir = base["root"] / "rm-for-resume"
    if not (rm_dir / "ckpt.npz").exists():
        train_reward(base["ckpt"], pairs, rm_dir, RewardConfig(max_iters=2, eval_interval=2, batch_size=4, warmup_iters=0), **quiet)
    pc = PolicyConfig(max_iters=4, sequences_per_step=4, samples_per_prompt=2, eval_interval=2, eval_samples=2,
                      length=8, learning_rate=1e-3, warmup_iters=1, seed=3)

    def start(out, hook=None, resume=False):
        if stage == "reward":
            return train_reward(base["ckpt"], pairs, out, RewardConfig(max_iters=4, eval_interval=2, batch_size=4, warmup_iters=1),
                                resume=resume, on_phase=hook, **quiet)
        if stage == "rl":
            return train_rl(base["ckpt"], rm_dir / "ckpt.npz", out, pc, resume=resume, on_phase=hook, **quiet)
        return train_dpo(base["ckpt"], pairs, out, pc, resume=resume, on_phase=hook, **quiet)

    start(tmp_path / "full")
    moments = {("forward", 1), ("optimizer", 2), ("eval", 4)}
    result = start(tmp_path / "cut", _ctrl_c_at(moments))
    interruptions = 1
    while not result.finished:
        assert result.interrupted
        result = start(tmp_path / "cut", _ctrl_c_at(moments), resume=True)
        interruptions += 1
    assert interruptions >= 3
    _same_run(tmp_path / "full", tmp_path / "cut")


# ---- misuse: one line, exit code 2, nothing lost ------------------------------------------------------

def _error(argv, capsys, *needles):
    code, _, err = run_main(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


def test_one_line_errors(base, pairs, tmp_path, capsys):
    ck = base["ckpt"]
    _error(["gpt", "rl", "-c", tmp_path / "none.npz", "--out", tmp_path / "r"], capsys, "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    _error(["gpt", "reward", "-c", bad, "--pairs", pairs, "--out", tmp_path / "r"], capsys, "bad.npz")
    _error(["gpt", "dpo", "-c", ck, "--pairs", tmp_path / "missing.jsonl", "--out", tmp_path / "d"], capsys,
           "missing.jsonl")
    # pairs with a character the model never saw: another vocabulary
    alien = tmp_path / "alien.jsonl"
    row = json.loads(pairs.read_text().splitlines()[0])
    alien.write_text(json.dumps({**row, "a": "\u00e9t\u00e9 \u00e0 Paris"}) + "\n")
    _error(["gpt", "reward", "-c", ck, "--pairs", alien, "--out", tmp_path / "r2"], capsys, "alien.jsonl",
           "vocabulary")
    # a reward model where a GPT checkpoint belongs, and a GPT where the reward model belongs
    rm = tmp_path / "rm"
    train_reward(ck, pairs, rm, RewardConfig(max_iters=1, eval_interval=1, batch_size=2, warmup_iters=0),
                 progress=False, log=None)
    _error(["gpt", "rl", "-c", rm / "ckpt.npz", "--reward", rm / "ckpt.npz", "--out", tmp_path / "r3"], capsys,
           "not a GPT checkpoint")
    _error(["gpt", "rl", "-c", ck, "--reward", ck, "--out", tmp_path / "r3", *LEN], capsys, "reward-model checkpoint")
    # bad flags and settings
    _error(["gpt", "rl", "-c", ck, "--reward", rm / "ckpt.npz", "--learning-rate", "-1"], capsys, "--learning-rate")
    _error(["gpt", "rl", "-c", ck, "--reward", rm / "ckpt.npz", "--out", tmp_path / "r4", "--samples-per-prompt", "1",
            *LEN], capsys, "samples_per_prompt")
    _error(["gpt", "dpo", "-c", ck, "--pairs", pairs, "--out", tmp_path / "r4", "--length", "24"], capsys, "--length")
    # a run directory holding another run is not replaced without --force, and is left as it was
    before = (rm / "ckpt.npz").read_bytes()
    _error(["gpt", "reward", "-c", ck, "--pairs", pairs, "--out", rm], capsys, "--force")
    assert (rm / "ckpt.npz").read_bytes() == before
    # --resume with a setting that differs from the saved run's
    _error(["gpt", "reward", "-c", ck, "--pairs", pairs, "--out", rm, "--resume", "--max-iters", "9"], capsys,
           "max_iters")
