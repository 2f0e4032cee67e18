"""Text data: Tiny Shakespeare, UTF-8 files, the character tokenizer, the split and the batches."""

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.data import (
    CharTokenizer,
    DataError,
    get_batch,
    load_shakespeare,
    load_text,
    train_val_split,
)
from micrograd_plus.data import _files
from micrograd_plus.data import text as text_module


# ---------------------------------------------------------------------------------------------
# Loading


def test_shakespeare_known_facts():
    text = load_shakespeare()
    # Figures from the data set's README: 1,115,394 characters, 65 distinct.
    assert len(text) == 1_115_394
    assert len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert hashlib.sha256(text.encode("ascii")).hexdigest().startswith("86c4e6aa")


def test_shakespeare_from_root_and_checksum_mismatch(tmp_path):
    good = load_shakespeare()
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(good)
    assert load_shakespeare(root=tmp_path) == good
    bad = tmp_path / "other"
    bad.mkdir()
    (bad / "input.txt").write_text(good.replace("First Citizen", "Second Citizen", 1))
    with pytest.raises(DataError, match="checksum mismatch") as info:
        load_shakespeare(root=bad)
    assert str(bad / "input.txt") in str(info.value)


def test_shakespeare_missing_in_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="input.txt"):
        load_shakespeare(root=tmp_path)


def test_shakespeare_env_var_then_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv(_files.DATA_ENV_VAR, str(tmp_path))  # empty: falls back to the bundled copy
    assert len(load_shakespeare()) == 1_115_394
    monkeypatch.setattr(text_module, "BUNDLED_SHAKESPEARE_DIR", tmp_path / "none")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError):
        load_shakespeare()


def test_load_text_utf8(tmp_path):
    path = tmp_path / "poem.txt"
    content = "naïve café — ✓ 😀\nline two\n"
    path.write_bytes(content.encode("utf-8"))
    assert load_text(path) == content
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))  # with a byte-order mark
    assert load_text(path) == content


def test_load_text_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_text(missing)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))  # é is the single byte 0xe9 in Latin-1
    with pytest.raises(DataError, match=r"latin1\.txt.*UTF-8.*0xe9.*offset 3"):
        load_text(latin1)
    with pytest.raises(DataError, match="not a regular file"):
        load_text(tmp_path)


# ---------------------------------------------------------------------------------------------
# Tokenizer


def test_tokenizer_by_hand():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == len(tok) == 8
    ids = tok.encode("hello")
    assert ids.dtype == np.int64
    assert ids.tolist() == [3, 2, 4, 4, 5]
    assert tok.decode([3, 2, 4, 4, 5]) == "hello"
    assert tok.decode(np.array([7, 5, 6, 4, 1])) == "world"
    assert tok.encode("").tolist() == [] and tok.decode([]) == ""


def test_shakespeare_vocabulary():
    tok = CharTokenizer.from_text(load_shakespeare())
    assert tok.vocab_size == 65
    assert tok.chars[:3] == ["\n", " ", "!"] and tok.chars[-1] == "z"
    assert tok.encode("A").tolist() == [13]  # \n space ! $ & ' , - . 3 : ; ? then A


@given(st.text(min_size=1, max_size=50))
def test_encode_decode_round_trip(text):
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.shape == (len(text),)
    assert tok.chars == sorted(set(text))
    assert all(tok.chars[i] == c for i, c in zip(ids.tolist(), text))
    assert tok.decode(ids) == text


def test_astral_and_surrogate_characters():
    text = "a\U0001F600b\udce9"  # an emoji (beyond 16 bits) and a lone surrogate (from undecodable bytes)
    tok = CharTokenizer.from_text(text)
    assert tok.chars == ["a", "b", "\udce9", "\U0001F600"]  # sorted by code point
    assert tok.encode(text).tolist() == [0, 3, 1, 2]
    assert tok.decode(tok.encode(text)) == text


def test_unknown_character_error_names_it_and_its_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'z'.*position 2"):
        tok.encode("abzc")
    with pytest.raises(ValueError, match="position 0"):
        tok.encode("\u00e9")  # beyond the vocabulary's largest code point
    with pytest.raises(ValueError, match="position 1"):
        tok.encode("a ")  # below the smallest
    with pytest.raises(ValueError, match=r"id 3 at position 1"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match=r"id -1"):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.encode(["a"])


def test_to_dict_from_dict_round_trip_through_json():
    tok = CharTokenizer.from_text("the quick brown fox ✓")
    d = json.loads(json.dumps(tok.to_dict()))
    again = CharTokenizer.from_dict(d)
    assert again.chars == tok.chars
    assert again.encode("fox ✓").tolist() == tok.encode("fox ✓").tolist()
    with pytest.raises(ValueError, match="sorted"):
        CharTokenizer.from_dict({"type": "char", "chars": "ba"})
    with pytest.raises(ValueError):
        CharTokenizer.from_dict({"chars": "ab"})


# ---------------------------------------------------------------------------------------------
# Split and batches


def test_train_val_split_shakespeare_sizes():
    ids = CharTokenizer.from_text(load_shakespeare()).encode(load_shakespeare())
    train, val = train_val_split(ids)
    assert (len(train), len(val)) == (1_003_854, 111_540)
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)


def test_train_val_split_by_hand_and_errors():
    train, val = train_val_split(np.arange(10), val_fraction=0.2)
    assert train.tolist() == list(range(8)) and val.tolist() == [8, 9]
    assert train_val_split("abcdefghij") == ("abcdefghi", "j")
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            train_val_split(np.arange(10), bad)
    with pytest.raises(ValueError, match="empty"):
        train_val_split(np.arange(1), 0.1)


def test_get_batch_targets_are_inputs_shifted_by_one():
    ids = np.arange(1000) * 3  # token at position p is 3p: windows are easy to recognise
    x, y = get_batch(ids, batch_size=16, block_size=10, generator=np.random.default_rng(0))
    assert x.shape == y.shape == (16, 10) and x.dtype == y.dtype == np.int64
    starts = x[:, 0] // 3
    for b in range(16):
        s = starts[b]
        assert x[b].tolist() == [3 * p for p in range(s, s + 10)]
        assert y[b].tolist() == [3 * p for p in range(s + 1, s + 11)]
    assert starts.min() >= 0 and starts.max() <= 1000 - 11


def test_get_batch_reaches_both_ends_and_is_seeded():
    ids = np.arange(12)
    x, y = get_batch(ids, batch_size=500, block_size=10, generator=1)
    assert set(x[:, 0].tolist()) == {0, 1}  # only two windows fit: starting at 0 or at 1
    assert y[:, -1].max() == 11  # the last token is used as a target
    x2, _ = get_batch(ids, batch_size=500, block_size=10, generator=1)
    np.testing.assert_array_equal(x, x2)
    exact = np.arange(5)
    x, y = get_batch(exact, 2, 4, generator=0)  # exactly block_size + 1 tokens: one window
    assert x.tolist() == [[0, 1, 2, 3]] * 2 and y.tolist() == [[1, 2, 3, 4]] * 2


def test_get_batch_errors():
    with pytest.raises(ValueError, match="block_size \\+ 1 = 9"):
        get_batch(np.arange(8), 2, 8, generator=0)
    with pytest.raises(ValueError, match="1-D integer"):
        get_batch(np.zeros(20), 2, 4, generator=0)
    with pytest.raises(ValueError, match="batch_size"):
        get_batch(np.arange(20), 0, 4, generator=0)
