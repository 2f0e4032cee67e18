"""One name per setting: every command-line flag of a training command is a config field and every
field a flag (both made from the dataclass), the old spellings answer with the new flag, and
checkpoints written under the old names still load and resume bit for bit."""

import argparse
import dataclasses

import numpy as np
import pytest
from cli_helpers import refused

from micrograd_plus._plumbing.cli import build_parser
from micrograd_plus._plumbing.cli_args import add_config_flags
from micrograd_plus._plumbing.configs import PositiveInt, field_docs
from micrograd_plus.models.gpt_config import GPTConfig
from micrograd_plus.train import config as C
from micrograd_plus.train.checkpoint import load_checkpoint, save_checkpoint
from micrograd_plus.train.mnist import MNISTConfig, read_checkpoint, train

# The flags of each command that are not settings of its config: the run directory's, the preset,
# the data file and what the command does after training. Everything else must be a field.
RUN_FLAGS = {"help", "out", "resume", "force", "stop_after", "no_progress"}
COMMANDS = {
    ("gpt", "train"): ([GPTConfig, C.TrainConfig], {"vocab_size"}, RUN_FLAGS | {"preset", "data", "sample_chars",
                                                                                "full_eval"}),
    ("mnist",): ([MNISTConfig], set(), RUN_FLAGS | {"preset", "no_plots", "experiments", "gd_seconds"}),
    ("gpt", "reward"): ([C.RewardConfig], set(), RUN_FLAGS | {"checkpoint", "data", "pairs"}),
    ("gpt", "rl"): ([C.PolicyConfig], {"dpo_beta", "holdout_every"}, RUN_FLAGS | {"checkpoint", "data", "reward"}),
    ("gpt", "dpo"): ([C.PolicyConfig], {"kl_coef", "samples_per_prompt"},
                     RUN_FLAGS | {"checkpoint", "data", "pairs", "reward"}),
}


def _subparser(path):
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _setting_flags(parser):
    """dest -> option string of every flag, but the hidden old spellings (they only say the new name)."""
    return {a.dest: a.option_strings[0] for a in parser._actions if a.help != argparse.SUPPRESS}


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_field_has_a_flag_and_every_flag_a_field(path):
    classes, without_flag, other = COMMANDS[path]
    fields = {f.name for cls in classes for f in dataclasses.fields(cls)} - without_flag
    flags = _setting_flags(_subparser(path))
    assert set(flags) - other == fields, (f"flags without a field: {sorted(set(flags) - other - fields)}; "
                                          f"fields without a flag: {sorted(fields - set(flags))}")
    for dest in fields:  # and each is spelled as its field
        assert flags[dest] == "--" + dest.replace("_", "-")


@pytest.mark.parametrize("cls", [GPTConfig, C.TrainConfig, MNISTConfig, C.RewardConfig, C.PolicyConfig])
def test_every_field_is_documented_for_help(cls):
    docs = field_docs(cls)
    assert [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)] == []


def test_a_new_field_becomes_a_flag_with_its_type_help_and_default():
    @dataclasses.dataclass(frozen=True)
    class Extra:
        """A config.

        Attributes:
            warmup_iters: steps of warm-up,
                over two lines.
        """

        warmup_iters: PositiveInt = 7

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Extra)
    assert parser.parse_args(["--warmup-iters", "3"]).warmup_iters == 3
    assert parser.parse_args([]).warmup_iters is None  # "not given": the preset decides
    help_ = parser.format_help()
    assert "steps of warm-up, over two lines (default: 7)" in " ".join(help_.split())
    with pytest.raises(SystemExit):
        parser.parse_args(["--warmup-iters", "0"])  # PositiveInt refuses it, as the field does


@pytest.mark.parametrize("argv, new", [
    (["gpt", "train", "--lr", "3e-4"], "--learning-rate"),
    (["mnist", "--lr", "0.1"], "--learning-rate"),
    (["mnist", "--warmup-steps", "5"], "--warmup-iters"),
    (["mnist", "--max-steps", "2"], "--stop-after"),
    (["gpt", "rl", "--lr", "1e-3"], "--learning-rate"),
    (["gpt", "reward", "--lr", "1e-3"], "--learning-rate"),
    (["gpt", "sample", "--num-chars", "30"], "--chars"),
    (["gpt", "pairs", "--pairs", "30"], "--n-pairs"),
])
def test_an_old_flag_spelling_is_one_line_naming_the_new_flag(argv, new, capsys, tmp_path):
    line = refused([*argv, "--out", tmp_path / "o"], capsys, argv[-2], new)
    assert not (tmp_path / "o").exists()
    assert new in line


def test_upgrade_names_renames_settings_only_where_they_are_settings():
    old = {"step": 3, "max_steps": 10, "evals": [{"step": 2, "lr": 0.1}],
           "task": {"config": {"lr": 0.5, "warmup_steps": 2, "epochs": 1}, "generator": {"lr": "kept"}}}
    new = C.upgrade_names(old)
    assert new["max_iters"] == 10 and "max_steps" not in new
    assert new["task"]["config"] == {"learning_rate": 0.5, "warmup_iters": 2, "epochs": 1}
    assert new["evals"] == [{"step": 2, "lr": 0.1}]  # a log row's lr is a measurement: unchanged
    assert new["task"]["generator"] == {"lr": "kept"}
    assert old["max_steps"] == 10  # the caller's dict is left alone


TINY = MNISTConfig(hidden=(16,), activation="relu", learning_rate=0.1, warmup_iters=2, batch_size=64, epochs=2,
                   limit=300, test_limit=100)


def test_an_old_format_checkpoint_loads_and_resumes_bit_for_bit(tmp_path):
    full = train(TINY, out_dir=tmp_path / "full", progress=False, log=None)
    train(TINY, out_dir=tmp_path / "part", stop_after=3, progress=False, log=None)
    # Rewrite the stopped run's last.npz as the code before the renaming wrote it (built by hand).
    last = tmp_path / "part" / "last.npz"
    arrays, meta = load_checkpoint(last)
    meta["max_steps"] = meta.pop("max_iters")
    config = meta["task"]["config"]
    config["lr"], config["warmup_steps"] = config.pop("learning_rate"), config.pop("warmup_iters")
    save_checkpoint(last, arrays, meta)
    _, saved, _, _ = read_checkpoint(last)
    assert saved == TINY
    resumed = train(None, out_dir=tmp_path / "part", resume=True, progress=False, log=None)
    assert resumed.finished and resumed.step == full.step == resumed.max_iters
    for name, value in full.model.state_dict().items():
        assert np.array_equal(resumed.model.state_dict()[name], value), name
