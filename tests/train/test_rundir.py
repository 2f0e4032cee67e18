"""The run directory, in process: lock, refusal, --force replacement, log trimming, orphans."""

import json
import os

import numpy as np
import pytest

from micrograd_plus.train.errors import (CheckpointNotFoundError, ConfigError, RunDirError, RunError,
                                         RunLockedError)
from micrograd_plus.train.rundir import BEST, LAST, LOG, RunDir

pytestmark = pytest.mark.skipif(os.name == "nt", reason="flock")


def _quiet(*a):
    pass


def test_the_lock_holds_the_pid_and_refuses_a_second_holder(tmp_path):
    with RunDir(tmp_path, say=_quiet):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunDir(tmp_path, say=_quiet).__enter__()  # a second open file description: flock refuses
    assert (tmp_path / ".lock").read_text() == ""  # released
    with RunDir(tmp_path, say=_quiet):  # and free again
        pass


def test_errors_form_one_hierarchy():
    assert issubclass(RunLockedError, RunDirError) and issubclass(RunDirError, RunError)
    assert issubclass(ConfigError, ValueError) and issubclass(CheckpointNotFoundError, FileNotFoundError)
    with pytest.raises(ConfigError, match="contradict"):
        RunDir(".", resume=True, force=True)


def test_fresh_run_refuses_an_old_run_and_force_replaces_it_only_at_commit(tmp_path):
    (tmp_path / LAST).write_bytes(b"old last")
    (tmp_path / BEST).write_bytes(b"old best")
    (tmp_path / LOG).write_text('{"step": 1}\n')
    with pytest.raises(RunDirError, match="--resume.*--force.*--out"):
        RunDir(tmp_path, say=_quiet).__enter__()
    notes = []
    with RunDir(tmp_path, force=True, say=notes.append) as run_dir:
        assert "will be replaced" in notes[0]
        run_dir.log({"step": 0, "eval": True})
        assert (tmp_path / LOG).read_text() == '{"step": 1}\n'  # held back until the first checkpoint
        run_dir.save(LAST, {"w": np.ones(2)}, {"step": 0})
        assert (tmp_path / BEST).read_bytes() == b"old best"  # still the old run's, until commit
        run_dir.commit()
        assert not (tmp_path / BEST).exists()  # the new run has no best yet: the old one must go
        assert json.loads((tmp_path / LOG).read_text()) == {"step": 0, "eval": True}
        run_dir.log({"step": 1, "loss": 2.0})
    assert len((tmp_path / LOG).read_text().splitlines()) == 2


def test_resume_needs_last_and_trims_the_log_to_the_checkpoint(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="nothing to resume"):
        RunDir(tmp_path, resume=True, say=_quiet).__enter__()
    (tmp_path / LAST).write_bytes(b"x")
    rows = [{"step": 0, "eval": True}, {"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.9},
            {"step": 2, "eval": True}, {"step": 3, "loss": 0.8}]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "lo'  # cut short by kill -9
    for evaluated, kept in ((True, rows[:4]), (False, rows[:3])):
        (tmp_path / LOG).write_text(text)
        with RunDir(tmp_path, resume=True, say=_quiet) as run_dir:
            run_dir.trim_log(2, evaluated)
        assert [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()] == kept


def test_temp_files_of_a_killed_run_are_removed_and_others_kept(tmp_path):
    orphan = tmp_path / ".last.npz.abc123.tmp"
    orphan.write_bytes(b"half")
    mine = tmp_path / ".notes.tmp"
    mine.write_text("user's file")
    with RunDir(tmp_path, say=_quiet):
        pass
    assert not orphan.exists() and mine.exists()


def test_out_problems_are_named(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RunDirError, match="is a file"):
        RunDir(f).__enter__()
    with pytest.raises(RunDirError, match="lies under"):
        RunDir(f / "a" / "b").__enter__()
