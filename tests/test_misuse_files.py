"""The misuse suite for what is read from files and typed as sizes (issue 20): hostile checkpoints,
configs and tokenizers, ``--resume`` on another text, and absurd flag values.

Every case runs as a user would (the command line's ``main``; the readers directly where they are
the public API) and asserts one line naming the file or flag and the problem -- with a memory
estimate where memory is the reason -- never a traceback, an allocation that runs the machine out
of memory, a hang, or a silent wrong answer. The user's files are hashed before and after.
"""

import hashlib
import io
import json
import math
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from micrograd_plus.data import BPETokenizer, DataError
from micrograd_plus.data.bpe import GPT2_SPLIT_PATTERN, check_split_pattern
from micrograd_plus.models.gpt import GPT, GPTConfig, gpt_num_parameters
from micrograd_plus.train.checkpoint import load_checkpoint
from micrograd_plus.train.errors import CheckpointError
from cli_helpers import refused, run_main

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "micrograd_plus" / "data" / "files" / "tinyshakespeare" / "input.txt").read_text()[:3000]
TRAIN = ["gpt", "train", "--preset", "tiny", "--max-iters", "2", "--eval-interval", "2", "--eval-iters", "1",
         "--warmup-iters", "1", "--batch-size", "2", "--block-size", "8", "--n-embd", "8", "--n-layer", "1",
         "--n-head", "2", "--no-progress", "--sample-chars", "0"]
MNIST = ["mnist", "--limit", "200", "--test-limit", "100", "--epochs", "1", "--hidden", "8", "--batch-size", "50",
         "--no-plots", "--no-progress"]


def digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())
            if p.is_file() and p.name != ".lock"}


def edit_checkpoint(path, edit_meta=None, meta_text=None):
    """Rewrite a checkpoint with changed metadata (as a hand-edited or hostile file)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    if edit_meta:
        edit_meta(meta)
    text = meta_text if meta_text is not None else json.dumps(meta)
    np.savez(path, **arrays, __meta__=np.frombuffer(text.encode(), dtype=np.uint8))


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A finished tiny GPT run (``gpt/``), a finished tiny MNIST run (``mnist/``), and the text."""
    root = tmp_path_factory.mktemp("files")
    (root / "little.txt").write_text(TEXT)
    (root / "other.txt").write_text(TEXT[::-1])
    from micrograd_plus._plumbing.cli import main

    # stopped after step 1 of 2 (ckpt.npz from the evaluation at step 0): a run --resume can continue
    assert main([*TRAIN, "--data", str(root / "little.txt"), "--out", str(root / "gpt"), "--stop-after", "1"]) == 0
    assert main([*MNIST, "--out", str(root / "mnist")]) == 0
    return root


@pytest.fixture
def w(done, tmp_path):
    for name in ("gpt", "mnist"):
        shutil.copytree(done / name, tmp_path / name)
    for name in ("little.txt", "other.txt"):
        shutil.copy(done / name, tmp_path / name)
    return tmp_path


# ---- sizes in a checkpoint are bounded by its tensors and by memory ------------------------------------


@pytest.mark.parametrize("field, value, words", [
    ("n_layer", 1_000_000, ["n_layer=1,000,000", "weights for 1 layers"]),
    ("n_embd", 1_000_000_000, ["wte.weight", "has shape (52, 8)", "1000000000)"]),
    ("block_size", 10**12, ["wpe.weight"]),
])
def test_a_checkpoint_declaring_huge_sizes_is_refused_before_allocating(w, capsys, field, value, words):
    ckpt = w / "gpt" / "ckpt.npz"

    def edit(meta):
        meta["task"]["model_config"][field] = value
        if field == "n_embd":
            meta["task"]["model_config"]["n_head"] = 1
    edit_checkpoint(ckpt, edit)
    before = digest(w / "gpt")
    for argv in (["gpt", "sample", "-c", ckpt, "--chars", "3"], ["gpt", "weights", "-c", ckpt],
                 ["gpt", "export", ckpt, "--format", "hf", "--out", w / "hf"]):
        refused(argv, capsys, "ckpt.npz", *words)
    assert digest(w / "gpt") == before and not (w / "hf").exists()


def test_a_stored_batch_size_of_1e8_is_refused_on_resume_with_an_estimate(w, capsys):
    edit_checkpoint(w / "gpt" / "last.npz", lambda m: m["task"]["train_config"].update(batch_size=10**8))
    before = digest(w / "gpt")
    refused(["gpt", "train", "--data", w / "little.txt", "--out", w / "gpt", "--resume", "--no-progress"], capsys,
            "batches of 100,000,000", "would need ~", "TB of memory", "available")
    assert digest(w / "gpt") == before


def test_a_stored_mnist_hidden_of_1e8_is_refused_before_building_it(w, capsys):
    edit_checkpoint(w / "mnist" / "last.npz", lambda m: m["task"]["config"].update(hidden=[10**8]))
    before = digest(w / "mnist")
    refused(["mnist", "--out", w / "mnist", "--resume", "--no-progress"], capsys,
            "last.npz", "[784, 100000000, 10]", "the file holds")
    assert digest(w / "mnist") == before


def test_compressed_npz_members_are_refused_before_inflating(w):
    arrays, meta = load_checkpoint(w / "gpt" / "ckpt.npz")
    bomb = w / "bomb.npz"
    np.savez_compressed(bomb, **arrays, big=np.zeros(10**7, np.uint8),  # 10 MB of zeros: ~10 KB compressed
                        __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    assert bomb.stat().st_size < 10**6
    with pytest.raises(CheckpointError, match="compressed.*never compressed"):
        load_checkpoint(bomb)


def test_a_member_claiming_more_bytes_than_the_file_is_refused(w):
    """A stored member whose header is edited to claim 2 GB in a file of a few KB."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("__meta__.npy", b"x" * 100)
    data = bytearray(raw.getvalue())
    cd = data.rfind(b"PK\x01\x02")  # the central directory's entry: uncompressed size at offset 24
    data[cd + 24:cd + 28] = (2**31).to_bytes(4, "little")
    (w / "forged.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="forged.npz.*claims 2,147,483,648 bytes"):
        load_checkpoint(w / "forged.npz")


def test_metadata_nested_100000_deep_is_one_line(w, capsys):
    ckpt = w / "gpt" / "ckpt.npz"
    edit_checkpoint(ckpt, meta_text='{"deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(["gpt", "sample", "-c", ckpt, "--chars", "3"], capsys, "ckpt.npz", "100,001 levels deep")


def test_hf_config_declaring_a_million_layers_is_refused_before_allocating(w, capsys):
    assert run_main(["gpt", "export", w / "gpt" / "ckpt.npz", "--format", "hf", "--out", w / "hf"], capsys)[0] == 0
    config = json.loads((w / "hf" / "config.json").read_text())
    (w / "hf" / "config.json").write_text(json.dumps(dict(config, n_layer=1_000_000)))
    with pytest.raises(DataError, match="n_layer=1,000,000.*weights for 1 layers"):
        GPT.from_pretrained(w / "hf")
    (w / "hf" / "config.json").write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(DataError, match="50,000 levels deep"):
        GPT.from_pretrained(w / "hf")


@pytest.mark.parametrize("config", [
    GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, tie_weights=True),
    GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=8, bias=True, tie_weights=False),
])
def test_the_weight_count_from_the_config_alone_is_the_models(config):
    assert gpt_num_parameters(config) == GPT(config, generator=0).num_parameters()


# ---- tokenizer split patterns ------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, words", [
    (r"[a-z]+", ["would lose text", "do not cover", "utsoftwhatlight"]),
    (r"(\w+)|\s+|.", ["would lose text", "capture group"]),
    ("", ["non-empty"]),
    (r"(?:(?:\p{L}|\p{L})+)+\d|[\s\S]", ["takes over", "backtracks"]),
    ("(unclosed", ["not a regular expression"]),
])
def test_a_split_pattern_from_a_file_is_checked_before_use(w, pattern, words):
    tok = BPETokenizer.train(TEXT, 270)
    d = dict(tok.to_dict(), pattern=pattern)
    (w / "tok.json").write_text(json.dumps(d))
    t0 = time.perf_counter()
    with pytest.raises(DataError) as info:
        BPETokenizer.load(w / "tok.json")
    assert time.perf_counter() - t0 < 30  # refused, not hung
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_train_refuses_an_empty_or_lossy_pattern():
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer.train("hello world", 300, pattern="")
    with pytest.raises(ValueError, match="would lose text"):
        BPETokenizer.train("hello world", 300, pattern=r"[a-z]+")


def test_gpt2s_pattern_passes_and_a_pattern_that_passes_the_probe_still_cannot_drop_text():
    check_split_pattern(GPT2_SPLIT_PATTERN)
    tok = BPETokenizer.train(TEXT, 270, pattern=r"\p{L}+|\p{N}+|[^\p{L}\p{N}]+")  # covers the probe
    assert tok.decode(tok.encode(TEXT)) == TEXT
    tok._split = __import__("regex").compile(r"[A-Za-z]+|\s+|[.,:;!?']")  # passes letters, drops digits
    with pytest.raises(ValueError, match="does not match every character"):
        tok.encode("ROMEO 2: hi")


# ---- --resume with another text, NaN best --------------------------------------------------------------


def test_resume_on_another_text_is_refused_naming_it(w, capsys):
    before = digest(w / "gpt")
    argv = [*TRAIN, "--out", w / "gpt", "--resume"]
    refused([*argv, "--data", w / "other.txt"], capsys, "--resume", "the text differs", "other.txt", "SHA-256")
    assert digest(w / "gpt") == before
    rc, out, err = run_main([*argv, "--data", w / "little.txt"], capsys)  # the same text: carries on
    assert rc == 0, err


def test_resume_of_a_checkpoint_without_a_checksum_says_so_and_carries_on(w, capsys):
    edit_checkpoint(w / "gpt" / "last.npz", lambda m: m["task"].pop("data_sha256"))
    rc, out, err = run_main([*TRAIN, "--data", w / "little.txt", "--out", w / "gpt", "--resume"], capsys)
    assert rc == 0, err
    assert "predates data checksums" in out


@pytest.mark.parametrize("best", [math.nan, -math.inf])
def test_a_non_finite_best_in_last_npz_is_refused_not_silently_kept(w, capsys, best):
    path = w / "gpt" / "last.npz"
    edit_checkpoint(path, meta_text=json.dumps(dict(load_checkpoint(path)[1], best=best)))
    before = digest(w / "gpt")
    refused([*TRAIN, "--data", w / "little.txt", "--out", w / "gpt", "--resume"], capsys,
            "last.npz", "'best'", "not a loss")
    assert digest(w / "gpt") == before


# ---- absurd flags, misleading messages -----------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["gpt", "train", "--n-embd", "1000000000", "--n-head", "1"], ["would need ~", "of memory", "--n-embd"]),
    (["gpt", "train", "--batch-size", "100000000"], ["batches of 100,000,000", "would need ~"]),
    (["gpt", "train", "--n-layer", "1000000"], ["would need ~", "--n-layer"]),
    (["mnist", "--hidden", "100000000"], ["[784, 100000000, 10]", "would need ~", "--hidden"]),
    (["mnist", "--batch-size", "100000000", "--hidden", "100000"], ["would need ~"]),
    (["gpt", "bpe", "--vocab-size", "0"], ["vocab_size", ">= 256"]),
    (["gpt", "bpe", "--vocab-size", "1000000000"], ["--vocab-size", "at most 1,000,000"]),
    (["bench", "scalar", "--repeats", "0"], ["--repeats", "from 1 to 10,000"]),
    (["gpt", "sample", "-c", ""], ["--checkpoint", "must be a file or directory name"]),
    (["gpt", "train", "--data", ""], ["--data", "must be a file or directory name"]),
])
def test_absurd_flag_values_are_refused_before_any_work(w, capsys, monkeypatch, argv, words):
    monkeypatch.chdir(w)
    before = digest(w)
    line = refused(argv, capsys, *words)
    assert "runs" not in [p.name for p in w.iterdir()], line  # no run directory was made
    assert digest(w) == before


def test_bpe_counts_are_called_tokens_not_characters(w, capsys):
    line = refused(["gpt", "train", "--preset", "shakespeare-bpe", "--data", w / "little.txt", "--out", w / "bpe",
                    "--block-size", "1000", "--batch-size", "2", "--no-progress"], capsys,
                   "tokens, fewer than block_size + 1")
    assert "characters" not in line


def test_a_gpt_forward_with_no_tokens_is_one_line():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8), generator=0)
    with pytest.raises(ValueError, match=r"at least one token.*T = 0"):
        model(np.zeros((2, 0), dtype=np.int64))
