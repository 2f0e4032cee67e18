"""The misuse suite for the GPT tools of issue #13: ``gpt export | neighbours | bpe | eval``, a BPE
model's ``sample``/``next``, and the file readers ``GPT.from_pretrained``, ``BPETokenizer.load`` and
``BPETokenizer.from_gpt2_files``.

Each command case runs as a user would -- through the command line's ``main`` (the code path of
``python -m micrograd_plus``), or in a subprocess where a process matters (no torch, Ctrl-C) -- and
asserts exit code 2, one ``error:`` line naming the file or flag, no traceback, and that no existing
file was lost. The readers must raise the project's errors (``DataError``, ``FileNotFoundError``,
...) with a message naming the file and the field, never a KeyError or TypeError from deep inside.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from micrograd_plus.data import BPETokenizer, DataError
from micrograd_plus.models.gpt import GPT
from cli_helpers import refused, run_main, sigint_as_default

safetensors_numpy = pytest.importorskip("safetensors.numpy")

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:3000]
TRAIN = ["gpt", "train", "--preset", "shakespeare-bpe", "--max-iters", "2", "--eval-interval", "2", "--eval-iters", "1",
         "--warmup-iters", "1", "--batch-size", "2", "--block-size", "8", "--n-embd", "8", "--n-layer", "1",
         "--n-head", "2", "--no-progress", "--sample-chars", "0"]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_DISABLE_JIT="1", MICROGRAD_PLUS_NO_PROGRESS="1",
                PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny BPE run (``run/ckpt.npz``), its Hugging Face export (``hf/``), a text, a file and a directory."""
    root = tmp_path_factory.mktemp("gpt_tools")
    (root / "little.txt").write_text(TEXT)
    (root / "notes.txt").write_text("my notes")
    (root / "adir").mkdir()
    from micrograd_plus._plumbing.cli import main

    assert main([*TRAIN, "--data", str(root / "little.txt"), "--out", str(root / "run")]) == 0
    assert main(["gpt", "export", str(root / "run" / "ckpt.npz"), "--format", "hf", "--out", str(root / "hf")]) == 0
    return root


@pytest.fixture
def w(work, tmp_path, monkeypatch):
    """A private directory holding links to the shared files; the current directory for the test."""
    for name in ("run", "hf", "little.txt"):
        (tmp_path / name).symlink_to(work / name)
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


CKPT = "run/ckpt.npz"


# ---- gpt export -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["hf", "nanogpt"])
@pytest.mark.parametrize("setup, out, words", [
    ("exists", "taken", ["taken", "already exists", "--force"]),
    ("file", "notes.txt", ["notes.txt", "--force"]),
    ("none", "notes.txt/inner", ["notes.txt", "is a file"]),
])
def test_export_refuses_an_unusable_out_and_keeps_what_is_there(w, capsys, fmt, setup, out, words):
    if setup == "exists":  # a directory holding an export's file (hf), or a file (nanogpt)
        if fmt == "hf":
            (w / "taken").mkdir()
            (w / "taken" / "config.json").write_text("old")
        else:
            (w / "taken").write_text("old")
    if setup == "file" and fmt == "hf":
        words = ["notes.txt", "is a file, not a directory"]
    refused(["gpt", "export", CKPT, "--format", fmt, "--out", out], capsys, *words)
    assert (w / "notes.txt").read_text() == "my notes"
    if setup == "exists":
        assert (w / "taken" / "config.json" if fmt == "hf" else w / "taken").read_text() == "old"


@pytest.mark.parametrize("fmt, out, words", [
    ("hf", "notes.txt", ["notes.txt", "is a file, not a directory"]),
    ("nanogpt", "adir", ["adir", "is a directory"]),
])
def test_export_force_does_not_replace_the_other_kind(w, capsys, fmt, out, words):
    refused(["gpt", "export", CKPT, "--format", fmt, "--out", out, "--force"], capsys, *words)
    assert (w / "notes.txt").read_text() == "my notes" and (w / "adir").is_dir()


@pytest.mark.parametrize("checkpoint, words", [
    ("missing.npz", ["not found", "missing.npz"]),
    ("adir", ["adir", "is a directory"]),
    ("notes.txt", ["notes.txt", "unreadable checkpoint"]),
])
def test_export_of_a_bad_checkpoint(w, capsys, checkpoint, words):
    refused(["gpt", "export", checkpoint, "--format", "hf", "--out", "x"], capsys, *words)
    assert not (w / "x").exists()


def test_export_into_a_read_only_directory(w, capsys):
    ro = w / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(ro)],
                          capture_output=True).returncode != 0:
            pytest.skip("running as root and cannot mount a read-only filesystem")
        undo = ["umount", str(ro)]
    else:
        os.chmod(ro, 0o555)
        undo = ["chmod", "755", str(ro)]
    try:
        refused(["gpt", "export", CKPT, "--format", "hf", "--out", "ro/x"], capsys, "ro/x", "not writable")
        refused(["gpt", "bpe", "--data", "little.txt", "--vocab-size", "260", "--out", "ro/t.json"], capsys,
                     "--out", "not writable")
        refused(["gpt", "neighbours", "-c", CKPT, "--png", "ro/m.png"], capsys, "--png", "not writable")
    finally:
        subprocess.run(undo)


def test_export_nanogpt_without_torch_says_what_to_install(w):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from micrograd_plus._plumbing.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "gpt", "export", CKPT, "--format", "nanogpt", "--out", "n.pt"],
                          capture_output=True, text=True, env=_env(), cwd=w, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "pip install torch==2.13.0" in lines[0], proc.stderr
    assert not (w / "n.pt").exists()


# ---- gpt neighbours -------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["zzqxj"], ["none of the words"]),
    (["the", "-k", "0"], ["-k", "got 0"]),
    (["the", "-k", "-3"], ["-k", "got -3"]),
    (["the", "-k", "100000"], ["-k", "got 100000"]),
    ([""], ["WORD", "empty"]),
    (["the", "--png", "adir"], ["--png", "adir", "is a directory"]),
    (["the", "--png", "notes.txt/map.png"], ["--png", "notes.txt", "which is a file"]),
    (["the", "--checkpoint", "missing.npz"], ["missing.npz", "not found"]),
])
def test_neighbours_bad_input(w, capsys, args, words):
    argv = ["gpt", "neighbours", *args] + ([] if "--checkpoint" in args else ["-c", CKPT])
    refused(argv, capsys, *words)
    assert (w / "notes.txt").read_text() == "my notes"


def test_neighbours_k_at_the_limit_works(w, capsys):
    V = BPETokenizer.load(w / "run" / "tokenizer.json").vocab_size
    rc, out, err = run_main(["gpt", "neighbours", "-c", CKPT, "the", "-k", V - 1], capsys)
    assert rc == 0 and "the" in out.splitlines()[-1], err
    refused(["gpt", "neighbours", "-c", CKPT, "the", "-k", V], capsys, "-k", f"between 1 and {V - 1}")


# ---- gpt bpe --------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["--vocab-size", "0"], ["vocab_size", "got 0"]),
    (["--vocab-size", "-5"], ["vocab_size", "got -5"]),
    (["--vocab-size", "255"], ["vocab_size", ">= 256"]),
    (["--data", "missing.txt"], ["missing.txt", "not found"]),
    (["--data", "adir"], ["adir", "not a regular file"]),
    (["--data", "empty.txt"], ["--data", "empty.txt", "empty"]),
    (["--data", "junk.txt"], ["junk.txt", "not valid UTF-8"]),
    (["--out", "adir"], ["--out", "adir", "is a directory"]),
    (["--out", "notes.txt"], ["--out", "notes.txt", "already exists", "--force"]),
    (["--out", "notes.txt/t.json"], ["--out", "notes.txt", "which is a file"]),
    (["--out", "nowhere/t.json"], ["--out", "nowhere", "not an existing directory"]),
])
def test_bpe_bad_input_fails_before_training(w, capsys, args, words):
    (w / "empty.txt").write_bytes(b"")
    (w / "junk.txt").write_bytes(b"\x00\xffjunk")
    argv = ["gpt", "bpe", "--no-progress", "--vocab-size", "260", "--data", "little.txt", *args]
    line = refused(argv, capsys, *words)
    assert "trained" not in line
    assert (w / "notes.txt").read_text() == "my notes" and (w / "adir").is_dir()


def test_bpe_force_replaces_the_file(w, capsys):
    rc, out, err = run_main(["gpt", "bpe", "--no-progress", "--vocab-size", "260", "--data", "little.txt",
                             "--out", "notes.txt", "--force"], capsys)
    assert rc == 0, err
    assert BPETokenizer.load(w / "notes.txt").vocab_size == 260


def test_ctrl_c_during_bpe_training_exits_130_and_keeps_the_old_file(w):
    (w / "big.txt").write_text((ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text())
    # The child says when training has begun (its first merge) and each merge takes a millisecond
    # longer, so the signal lands inside training on any machine at any load: not at start-up
    # (before the handler exists) nor after the tokenizer is written, as a fixed sleep could.
    code = ("import sys, time\n"
            "import micrograd_plus.data.bpe as bpe\n"
            "_merge = bpe._PairCounts.merge\n"
            "def merge(self, *a, **k):\n"
            "    if not getattr(bpe, 'started', False):\n"
            "        bpe.started = True\n"
            "        print('training', flush=True)\n"
            "    time.sleep(0.001)\n"
            "    return _merge(self, *a, **k)\n"
            "bpe._PairCounts.merge = merge\n"
            "from micrograd_plus._plumbing.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "gpt", "bpe", "--data", "big.txt",
                             "--vocab-size", "30000", "--out", "notes.txt", "--force"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=w,
                            preexec_fn=sigint_as_default)
    assert proc.stdout.readline().strip() == "training"
    time.sleep(0.2)  # a few merges in (30,000 tokens take 20,000 merges, over 20 s here)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "interrupted" in err
    assert (w / "notes.txt").read_text() == "my notes"  # not replaced by a half-trained tokenizer
    assert not [p for p in w.iterdir() if p.name.endswith(".tmp")]


# ---- gpt eval, sample, next with a BPE model ------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["missing.npz"], ["missing.npz", "not found"]),
    ([CKPT, "--data", "missing.txt"], ["missing.txt", "not found"]),
    ([CKPT, "--data", "empty.txt"], ["--data", "empty.txt", "empty"]),
    ([CKPT, "--data", "one.txt"], ["--data", "one.txt"]),
])
def test_eval_bad_input(w, capsys, args, words):
    (w / "empty.txt").write_bytes(b"")
    (w / "one.txt").write_text("x")
    refused(["gpt", "eval", *args], capsys, *words)


def test_bpe_model_samples_and_predicts_any_text(w, capsys):
    rc, out, err = run_main(["gpt", "sample", "-c", CKPT, "-n", "5", "-p", "\U0001F600 hi"], capsys)
    assert rc == 0 and out.startswith("\U0001F600 hi"), err
    rc, out, err = run_main(["gpt", "next", "-c", CKPT, "-p", "\U0001F600", "--top", "3"], capsys)
    assert rc == 0, err
    refused(["gpt", "next", "-c", CKPT, "-p", ""], capsys, "--prompt")


# ---- GPT.from_pretrained --------------------------------------------------------------------


def _hf_copy(w, name, config=None, arrays=None, raw_config=None):
    d = w / name
    shutil.copytree(w / "hf", d)
    if config is not None:
        c = json.loads((d / "config.json").read_text())
        config(c)
        (d / "config.json").write_text(json.dumps(c))
    if raw_config is not None:
        (d / "config.json").write_text(raw_config)
    if arrays is not None:
        a = safetensors_numpy.load_file(d / "model.safetensors")
        arrays(a)
        safetensors_numpy.save_file(a, d / "model.safetensors")
    return d


def _set_nan(a):
    a["transformer.h.0.mlp.c_fc.weight"][0, 0] = np.nan


CONFIG_CASES = [
    (dict(raw_config=""), DataError, ["config.json", "not valid JSON"]),
    (dict(raw_config="[1, 2]"), DataError, ["config.json", "JSON array"]),
    (dict(raw_config="null"), DataError, ["config.json", "JSON null"]),
    (dict(config=lambda c: c.pop("n_embd")), DataError, ["n_embd", "768", "transformer.wte.weight"]),
    (dict(config=lambda c: c.update(n_embd="abc")), DataError, ["config.json", "'n_embd'", "not an int"]),
    (dict(config=lambda c: c.update(n_embd=[16])), DataError, ["config.json", "'n_embd'", "not an int"]),
    (dict(config=lambda c: c.update(n_embd=8.5)), DataError, ["config.json", "'n_embd'", "not an int"]),
    (dict(config=lambda c: c.update(n_layer=None)), DataError, ["config.json", "'n_layer'"]),
    (dict(config=lambda c: c.update(n_head=-2)), DataError, ["config.json", "n_head", "-2"]),
    (dict(config=lambda c: c.update(vocab_size=0)), DataError, ["config.json", "vocab_size"]),
    (dict(config=lambda c: c.update(resid_pdrop="x")), DataError, ["config.json", "'resid_pdrop'"]),
    (dict(config=lambda c: c.update(tie_word_embeddings="false")), DataError, ["'tie_word_embeddings'", "bool"]),
    (dict(config=lambda c: c.update(activation_function=["x"])), DataError, ["'activation_function'"]),
    (dict(config=lambda c: c.update(n_positions=64)), DataError, ["model.safetensors", "transformer.wpe.weight"]),
    (dict(config=lambda c: c.update(n_layer=2)), DataError, ["transformer.h.1", "missing"]),
    (dict(arrays=lambda a: a.pop("transformer.h.0.mlp.c_fc.weight")), DataError, ["transformer.h.0.mlp.c_fc.weight"]),
    (dict(arrays=lambda a: a.update({"transformer.h.5.mlp.c_fc.weight": np.zeros((2, 2), np.float32)})), DataError,
     ["transformer.h.5.mlp.c_fc.weight", "unexpected"]),
    (dict(arrays=lambda a: a.update({"transformer.wte.weight": np.zeros((3, 8), np.float32)})), DataError,
     ["transformer.wte.weight", "(3, 8)"]),
    (dict(arrays=_set_nan), DataError, ["model.safetensors", "transformer.h.0.mlp.c_fc.weight", "NaN"]),
]


@pytest.mark.parametrize("edit, error, words", CONFIG_CASES)
def test_from_pretrained_with_a_damaged_directory(w, edit, error, words):
    d = _hf_copy(w, "broken", **edit)
    with pytest.raises(error) as info:
        GPT.from_pretrained(d)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("damage, error, words", [
    ("no dir", FileNotFoundError, ["not found", "nope"]),
    ("a file", NotADirectoryError, ["notes.txt", "is a file"]),
    ("config is a dir", FileNotFoundError, ["no config.json"]),
    ("no weights", FileNotFoundError, ["no model.safetensors"]),
    ("empty weights", DataError, ["model.safetensors", "cannot be read as safetensors"]),
    ("truncated weights", DataError, ["model.safetensors", "cannot be read as safetensors"]),
    ("index junk", DataError, ["model.safetensors.index.json", "not valid JSON"]),
    ("index list", DataError, ["model.safetensors.index.json", "JSON array"]),
    ("index bad map", DataError, ["model.safetensors.index.json", "'weight_map'"]),
    ("index missing shard", FileNotFoundError, ["x.safetensors", "model.safetensors.index.json"]),
])
def test_from_pretrained_with_missing_or_junk_files(w, damage, error, words):
    d = _hf_copy(w, "broken")
    st = d / "model.safetensors"
    target = d
    if damage == "no dir":
        target = w / "nope"
    elif damage == "a file":
        target = w / "notes.txt"
    elif damage == "config is a dir":
        (d / "config.json").unlink()
        (d / "config.json").mkdir()
    elif damage == "empty weights":
        st.write_bytes(b"")
    elif damage == "truncated weights":
        st.write_bytes(st.read_bytes()[:300])
    else:
        st.unlink()
        index = d / "model.safetensors.index.json"
        index.write_text({"index junk": "junk", "index list": "[]", "index bad map": '{"weight_map": [1]}',
                          "index missing shard": '{"weight_map": {"a": "x.safetensors"}}'}.get(damage, ""))
        if damage == "no weights":
            index.unlink()
    with pytest.raises(error) as info:
        GPT.from_pretrained(target)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ---- BPETokenizer.load and from_gpt2_files --------------------------------------------------


@pytest.fixture(scope="module")
def good(work):
    return json.loads((work / "run" / "tokenizer.json").read_text())


def _first_merge_id(good):
    return min(i for i in good["vocab"].values() if i >= 256)


LOAD_CASES = [
    (lambda g: "", ["not valid JSON"]),
    (lambda g: json.dumps(g)[:300], ["not valid JSON"]),
    (lambda g: "[1]", ["JSON list"]),
    (lambda g: {**g, "format": "micrograd_plus.bpe/2"}, ["'format'", "micrograd_plus.bpe/2"]),
    (lambda g: {"type": "char", "chars": "abc"}, ["'type'", "'char'"]),
    (lambda g: {"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}, ["Hugging Face", "from_gpt2_files"]),
    (lambda g: {**g, "vocab": {**g["vocab"], "!": "0"}}, ["vocab", "'!'", "not an integer"]),
    (lambda g: {**g, "vocab": {**g["vocab"], "!": True}}, ["vocab", "'!'", "not an integer"]),
    (lambda g: {**g, "vocab": {**g["vocab"], "!": 1}}, ["vocab", "id 1", "two tokens"]),
    (lambda g: {**g, "merges": g["merges"][:3] + ["abc"]}, ["merge #3", "'abc'"]),
    (lambda g: {**g, "merges": g["merges"][:3] + [5]}, ["merge #3", "not a string"]),
    (lambda g: {**g, "merges": g["merges"][:3] + ["zzzq yyyq"]}, ["merge #3", "'zzzq' is not a token"]),
    (lambda g: {**g, "merges": g["merges"][:3] + [None]}, ["merge #3"]),
    (lambda g: {**g, "pattern": "(("}, ["'pattern'", "not a regular expression"]),
    (lambda g: {**g, "special_tokens": {"<x>": 99999}}, ["special token '<x>'"]),
    (lambda g: {**g, "vocab": [1, 2]}, ["'vocab'", "not a dict"]),
]


@pytest.mark.parametrize("make, words", LOAD_CASES)
def test_tokenizer_load_of_a_damaged_file(w, good, make, words):
    content = make(good)
    path = w / "tok.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError) as info:
        BPETokenizer.load(path)
    assert "tok.json" in str(info.value)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_tokenizer_load_of_a_missing_file_or_a_directory(w):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BPETokenizer.load(w / "nope.json")
    with pytest.raises(IsADirectoryError, match="adir.*is a directory"):
        BPETokenizer.load(w / "adir")


@pytest.fixture
def gpt2_files(w, good):
    """``vocab.json`` and ``merges.txt`` of the run's tokenizer, in GPT-2's format."""
    vocab, merges = w / "vocab.json", w / "merges.txt"
    vocab.write_text(json.dumps(good["vocab"]))
    merges.write_text("#version: 0.2\n" + "".join(m + "\n" for m in good["merges"]))
    return vocab, merges


def test_gpt2_files_as_written_load(gpt2_files, good):
    assert BPETokenizer.from_gpt2_files(*gpt2_files).vocab_size == len(good["vocab"])


@pytest.mark.parametrize("which, content, words", [
    ("vocab", "[1]", ["vocab.json", "JSON list"]),
    ("vocab", "", ["vocab.json", "not valid JSON"]),
    ("vocab", {"!": 0, "\"": 0}, ["id 0", "two tokens"]),
    ("vocab", {"!": "0"}, ["'!'", "not an integer"]),
    ("vocab", {"!": -1}, ["-1", "outside"]),
    ("merges", "onlyone\n", ["merges.txt", "'onlyone'"]),
    ("merges", "a b c\n", ["'a b c'", "3 parts"]),
    ("merges", "zzzq yyyq\n", ["'zzzq' is not a token"]),
    ("merges", "Q Q\n", ["b'QQ'", "not in the vocabulary"]),
    ("merges", b"\xff\xfe junk\n", ["merges.txt", "not UTF-8"]),
])
def test_gpt2_files_damaged(gpt2_files, good, which, content, words):
    vocab, merges = gpt2_files
    if which == "vocab":
        vocab.write_text(content if isinstance(content, str) else json.dumps({**good["vocab"], **content}))
    elif isinstance(content, bytes):
        merges.write_bytes(content)
    else:
        merges.write_text(merges.read_text() + content)
    with pytest.raises(DataError) as info:
        BPETokenizer.from_gpt2_files(vocab, merges)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_gpt2_files_missing_or_directories(w, gpt2_files):
    vocab, merges = gpt2_files
    with pytest.raises(FileNotFoundError, match="vocab.json.*nope.json"):
        BPETokenizer.from_gpt2_files(w / "nope.json", merges)
    with pytest.raises(IsADirectoryError, match="merges.txt.*adir"):
        BPETokenizer.from_gpt2_files(vocab, w / "adir")


def test_stream_chars_counts_characters_not_tokens(work):
    """``gpt sample --chars N`` on a BPE model: N characters, the start of the same seed's token stream."""
    from micrograd_plus.train.gpt import load_model
    from micrograd_plus.train.gpt_tools import stream_chars, stream_text

    model, tok, _ = load_model(work / CKPT)
    ids = tok.encode("\n")
    text = "".join(stream_chars(model, tok, ids, 40, generator=7))
    by_tokens = "".join(stream_text(tok, model.stream(ids, 40, generator=7)))
    assert len(text) == 40
    assert len(by_tokens) > 40 and by_tokens.startswith(text)  # 40 BPE tokens are many more characters
    assert "".join(stream_chars(model, tok, ids, 0, generator=7)) == ""


# ---- gpt train --preset shakespeare-bpe -------------------------------------------------------


@pytest.mark.parametrize("data, out, words", [
    ("empty.txt", "r", ["--data", "empty.txt", "empty"]),
    ("little.txt", "notes.txt", ["--out", "notes.txt", "is a file"]),
    ("little.txt", "notes.txt/run", ["--out", "lies under", "notes.txt"]),
])
def test_bpe_preset_refuses_before_training_its_tokenizer(w, capsys, data, out, words):
    (w / "empty.txt").write_bytes(b"")
    line = refused([*TRAIN, "--data", data, "--out", out], capsys, *words)
    assert "trained" not in line
    assert (w / "notes.txt").read_text() == "my notes"
    assert not (w / "r").exists()  # no run directory with a tokenizer of nothing left behind


def test_ctrl_c_inside_a_del_still_stops_the_run_with_one_line(tmp_path):
    """Ctrl-C that lands while a ``__del__`` runs (tqdm's, in CI once) cannot propagate from there:
    Python would print "Exception ignored in ..." with a traceback and carry on. The CLI hands it
    back to the main thread, so the command stops as for any Ctrl-C: exit 130, one line, no
    traceback. Here a command's object raises KeyboardInterrupt from its ``__del__``."""
    code = textwrap.dedent('''
        import sys, time
        from micrograd_plus._plumbing import cli

        class Closes:
            def __del__(self):
                raise KeyboardInterrupt  # as if Ctrl-C landed in here

        def run(args):
            Closes()  # dropped at once: __del__ runs, its KeyboardInterrupt is unraisable
            for _ in range(200):  # the rest of the command, which must not run to the end
                time.sleep(0.01)
            print("finished")
            return 0

        parser = cli.build_parser
        def build():
            p = parser()
            p.set_defaults(_run=run, command="demo")
            return p
        cli.build_parser = build
        sys.exit(cli.main([]))
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), cwd=tmp_path,
                          timeout=60, preexec_fn=sigint_as_default)
    assert done.returncode == 130, (done.returncode, done.stdout, done.stderr)
    assert "finished" not in done.stdout
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.strip().endswith("interrupted"), done.stderr


def test_unraisable_errors_other_than_ctrl_c_are_still_reported(capsys):
    """The hook only takes KeyboardInterrupt; anything else reaches the previous hook as before."""
    from types import SimpleNamespace

    from micrograd_plus._plumbing import cli

    seen = []
    hook = cli._redeliver_interrupts(seen.append)
    other = SimpleNamespace(exc_type=ValueError, exc_value=ValueError("x"), exc_traceback=None, object=None,
                            err_msg=None)
    hook(other)
    assert seen == [other]
