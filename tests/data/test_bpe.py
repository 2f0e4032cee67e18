"""Byte-level BPE: the pre-split, training, exact round trips, files, and Hugging Face's
``tokenizers`` as an oracle (skipped where it is not installed)."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.data import BPETokenizer, CharTokenizer, load_shakespeare, tokenizer_from_dict
from micrograd_plus.data.bpe import GPT2_BYTE_ORDER, GPT2_SPLIT_PATTERN, bytes_to_unicode, split_text

VARIED = [
    "",
    "a",
    "Hello world, it's 2024!",
    "ROMEO: But soft! what light through yonder window breaks?\n",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵",
    "combining: e\u0301 n\u0303 a\u030a\u0323 Zalgo z\u0351\u0352\u0357",
    "CRLF\r\nline two\r\n\r\n  indented\ttab\t\tx\n\n\n",
    "naïve café Straße ǅemal ﬁne",
    "日本語のテキスト 中文字符 한국어",
    "Ελληνικά Кириллица עברית العربية हिन्दी",
    "digits 1234567890 ١٢٣ ⅣⅫ ½ ² x²",
    "NUL \x00 and DEL \x7f and BOM \ufeff and NBSP \xa0 and ZWJ \u200d",
    "   leading and trailing spaces   ",
    "don't I'll we've they're she'd I'm it's DON'T",
    "<|endoftext|> is plain text here",
    "\U0010ffff \U0001f600 \uffff",
]


@pytest.fixture(scope="module")
def shakespeare():
    return load_shakespeare()


@pytest.fixture(scope="module")
def tok512(shakespeare):
    return BPETokenizer.train(shakespeare, 512, progress=False)


# ---------------------------------------------------------------------------------------------
# GPT-2's byte table and pre-split


def test_bytes_to_unicode_is_gpt2s_table():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())
    # the facts of GPT-2's files: printable Latin-1 stands for itself, the space is "Ġ",
    # the newline "Ċ", byte 0 "Ā" (U+0100), the soft hyphen (0xAD) the last remapped one
    assert table[ord("a")] == "a" and table[0xE9] == "é"
    assert table[32] == "Ġ" and table[10] == "Ċ" and table[0] == "Ā" and table[0xAD] == chr(0x143)
    # GPT-2's vocab.json numbers the single bytes in its characters' order: "!" is 0, the space 220
    assert GPT2_BYTE_ORDER[0] == ord("!") and GPT2_BYTE_ORDER.index(32) == 220
    assert sorted(GPT2_BYTE_ORDER) == list(range(256))


def test_split_text_known_cases():
    assert split_text("Hello world, it's 2024!") == ["Hello", " world", ",", " it", "'s", " 2024", "!"]
    # the last space of a run goes with the next word; a run at the end stays whole
    assert split_text("a   b  ") == ["a", "  ", " b", "  "]
    # ... so white space before a letter keeps its last character back, even a newline
    assert split_text("x\r\n\r\ny") == ["x", "\r\n\r", "\n", "y"]
    # a combining mark is not a letter: it leaves the word it follows
    assert split_text("e\u0301te") == ["e", "\u0301", "te"]
    assert split_text("") == []


@given(st.text())
def test_split_text_joins_back(text):
    assert "".join(split_text(text)) == text


# ---------------------------------------------------------------------------------------------
# Training


def _ids(tok, chars):
    return [tok.token_id(c) for c in chars]


def test_train_the_textbook_example():
    # The classic example: "aaabdaaabac" merges aa -> Z, then ab -> Y (a tie with Za, both seen
    # twice, broken towards the smaller ids), then ZY -> X.
    tok = BPETokenizer.train("aaabdaaabac", 259, progress=False)
    assert tok.vocab_size == 259
    assert tok.vocab[256:] == [b"aa", b"ab", b"aaab"]
    a, b, c, d = _ids(tok, "abcd")
    assert tok.merges == [(a, a), (a, b), (256, 257)]
    assert tok.encode("aaabdaaabac").tolist() == [258, d, 258, a, c]
    assert tok.encode("aaaa").tolist() == [256, 256]
    assert tok.encode("aaa").tolist() == [256, a]  # left to right


def test_train_never_merges_across_the_pre_split():
    tok = BPETokenizer.train("ab ab ab ab. ab, ab!" * 20, 300, progress=False)
    for t in tok.vocab[256:]:
        s = t.decode()
        # a token is a space-led word piece, or punctuation: never a letter followed by space/punct
        assert not any(x.isalpha() and (y == " " or y in ".,!") for x, y in zip(s, s[1:])), s
    assert tok.token_id(" ab") is not None


def test_train_short_text_stops_when_pairs_run_out():
    tok = BPETokenizer.train("abab", 1000, progress=False)
    assert tok.vocab_size == 256 + 2  # "ab", then "abab"
    assert tok.encode("abab").tolist() == [257]


def test_train_first_merges_are_the_commonest_pairs(shakespeare, tok512):
    # Recount by brute force: the first merge must be the commonest pair of the pre-split text.
    from collections import Counter

    counts = Counter()
    for chunk in split_text(shakespeare):
        b = chunk.encode()
        counts.update(zip(b, b[1:]))
    (x, y), _ = counts.most_common(1)[0]
    first = tok512.merges[0]
    assert tok512.vocab[first[0]] + tok512.vocab[first[1]] == bytes([x, y])


def test_train_bad_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("abc", 100)
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("abc", True)
    with pytest.raises(TypeError, match="str"):
        BPETokenizer.train(b"abc", 300)
    with pytest.raises(ValueError, match="surrogate"):
        BPETokenizer.train("a\ud800b", 300)


def test_train_shows_a_progress_bar(capsys):
    BPETokenizer.train("abab cdcd " * 10, 260, progress=True)
    assert "bpe train" in capsys.readouterr().err


class _Terminal:
    """A stand-in for stderr that says it is a terminal and keeps what is written to it."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


@pytest.mark.parametrize("quiet", [False, True])
def test_train_progress_default_follows_the_terminal_and_the_env_var(monkeypatch, quiet):
    # progress=None: a bar on a terminal, unless MICROGRAD_PLUS_NO_PROGRESS says no (as the
    # training loops do); never tqdm.auto's "IProgress not found" warning in a Jupyter kernel
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    if quiet:
        monkeypatch.setenv("MICROGRAD_PLUS_NO_PROGRESS", "1")
    else:
        monkeypatch.delenv("MICROGRAD_PLUS_NO_PROGRESS", raising=False)
    BPETokenizer.train("abab cdcd " * 10, 260)
    assert ("bpe train" in terminal.text) is not quiet
    assert "IProgress" not in terminal.text


# ---------------------------------------------------------------------------------------------
# Encoding and decoding


@pytest.mark.parametrize("text", VARIED)
def test_round_trip_varied(tok512, text):
    ids = tok512.encode(text)
    assert ids.dtype == np.int64 and ids.ndim == 1
    assert tok512.decode(ids) == text


@given(st.text(st.characters(codec="utf-8"), max_size=200))
def test_round_trip_any_unicode(tok512, text):
    assert tok512.decode(tok512.encode(text)) == text


def test_encode_compresses_shakespeare(shakespeare, tok512):
    ids = tok512.encode(shakespeare[:20000])
    assert len(ids) < 0.6 * 20000  # 256 merges already nearly halve the length (measured: 10,399 tokens)
    assert tok512.decode(ids) == shakespeare[:20000]


def test_encode_gives_the_same_ids_with_and_without_the_cache(tok512):
    text = "the king, the duke, the lord; the king!"
    first = tok512.encode(text)
    tok512._cache.clear()
    assert tok512._encode_chunk(" king") == tok512.encode(" king").tolist()
    assert np.array_equal(tok512.encode(text), first)


def test_encode_rejects_lone_surrogates_and_non_str(tok512):
    with pytest.raises(ValueError, match=r"surrogate U\+D800 at position 2"):
        tok512.encode("ab\ud800")
    with pytest.raises(TypeError, match="str"):
        tok512.encode(b"bytes")


def test_decode_bad_ids(tok512):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok512.decode([1, 512])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok512.decode([-1])
    with pytest.raises(ValueError, match="1-D"):
        tok512.decode([[1, 2]])
    with pytest.raises(TypeError, match="integer"):
        tok512.decode([1.5])
    assert tok512.decode([]) == ""


def test_decode_a_cut_character_shows_the_replacement_character(tok512):
    ids = tok512.encode("😀").tolist()  # four bytes, no merge for them in Shakespeare's vocabulary
    assert len(ids) == 4
    assert tok512.decode(ids[:2]) == "\ufffd"
    assert tok512.decode_bytes(ids) == "😀".encode()


def test_token_text_and_token_id(tok512):
    i = tok512.token_id(" the")
    assert i is not None and i >= 256
    assert tok512.token_text(i) == " the"
    assert tok512.token_id("no such token here") is None


# ---------------------------------------------------------------------------------------------
# Files


def test_save_load_round_trip(tmp_path, tok512, shakespeare):
    path = tmp_path / "bpe.json"
    tok512.save(path)
    back = BPETokenizer.load(path)
    assert back.vocab == tok512.vocab and back.merges == tok512.merges and back.pattern == GPT2_SPLIT_PATTERN
    text = shakespeare[-5000:] + VARIED[4]
    assert np.array_equal(back.encode(text), tok512.encode(text))
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.json"]  # no temporary file left
    # the same description goes through tokenizer_from_dict (what a checkpoint stores)
    assert tokenizer_from_dict(json.loads(path.read_text())).merges == tok512.merges
    assert isinstance(tokenizer_from_dict(CharTokenizer("ab").to_dict()), CharTokenizer)


def test_load_missing_and_damaged_files(tmp_path, tok512):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BPETokenizer.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*not valid JSON"):
        BPETokenizer.load(bad)
    bad.write_text(json.dumps({"type": "char", "chars": "ab"}))
    with pytest.raises(ValueError, match="bad.json.*not a BPETokenizer"):
        BPETokenizer.load(bad)
    d = tok512.to_dict()
    d["merges"] = d["merges"][:5] + ["Ġ nosuchtoken"] + d["merges"][5:]
    bad.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="merge #5"):
        BPETokenizer.load(bad)
    d = tok512.to_dict()
    d["vocab"] = {t: i + 1 for t, i in d["vocab"].items()}
    bad.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="0..V-1"):
        BPETokenizer.load(bad)
    with pytest.raises(ValueError, match="tokenizer description"):
        tokenizer_from_dict({"type": "words"})


def test_constructor_checks_its_tables():
    singles = [bytes([b]) for b in range(256)]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        BPETokenizer(singles, [(97, 98)])
    with pytest.raises(ValueError, match="same bytes"):
        BPETokenizer(singles + [b"a"], [])
    with pytest.raises(ValueError, match="not an ordinary token"):
        BPETokenizer(singles + [b"ab"], [(97, 300)])


def _write_gpt2_files(tmp_path, merges, special=("<|endoftext|>",)):
    """Hand-made GPT-2-format files: the 256 bytes in GPT-2's order, the merges, the specials."""
    table = bytes_to_unicode()
    vocab = {table[b]: i for i, b in enumerate(GPT2_BYTE_ORDER)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for s in special:
        vocab[s] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (tmp_path / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path / "vocab.json", tmp_path / "merges.txt"


def test_from_gpt2_files_hand_made(tmp_path):
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "k"), ("i", "n"), ("Ġk", "in"), ("Ġkin", "g")]
    tok = BPETokenizer.from_gpt2_files(*_write_gpt2_files(tmp_path, merges))
    assert tok.vocab_size == 256 + 7 + 1
    assert tok.special_tokens == {"<|endoftext|>": 263}
    ids = tok.encode(" the king\n")
    assert [tok.token_text(i) for i in ids] == [" the", " king", "\n"]
    assert ids.tolist() == [258, 262, GPT2_BYTE_ORDER.index(10)]
    assert tok.decode([263]) == "<|endoftext|>"
    assert tok.encode("<|endoftext|>").tolist() != [263]  # special tokens are never encoded from text
    # and back out in the same format: the files' tables are what to_dict holds
    d = tok.to_dict()
    assert d["vocab"] == json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert d["merges"] == [f"{a} {b}" for a, b in merges]


def test_from_gpt2_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        BPETokenizer.from_gpt2_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    v, m = _write_gpt2_files(tmp_path, [("Ġ", "t")])
    m.write_text("#version: 0.2\nĠ t\nĠt zz\n", encoding="utf-8")
    with pytest.raises(ValueError, match="merge #1"):
        BPETokenizer.from_gpt2_files(v, m)
    v.write_text("[1, 2]")
    with pytest.raises(ValueError, match="vocab.json"):
        BPETokenizer.from_gpt2_files(v, m)


def test_a_vocabulary_missing_a_byte_says_which(tmp_path):
    table = bytes_to_unicode()
    vocab = {table[b]: i for i, b in enumerate(b for b in GPT2_BYTE_ORDER if b < 128)}  # ASCII only
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tok = BPETokenizer.from_gpt2_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert tok.decode(tok.encode("plain")) == "plain"
    with pytest.raises(ValueError, match="byte 0xc3"):
        tok.encode("café")


# ---------------------------------------------------------------------------------------------
# Oracle: Hugging Face's `tokenizers` (pip install tokenizers)


def _hf_train(text, vocab_size, out_dir):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's regex, no extra space
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes
    hf.train_from_iterator([text], trainer)
    vocab_json, merges_txt = hf.model.save(str(out_dir))
    return hf, vocab_json, merges_txt


@pytest.fixture(scope="module")
def hf1024(shakespeare, tmp_path_factory):
    return _hf_train(shakespeare, 1024, tmp_path_factory.mktemp("hf1024"))


def test_tokenizers_trains_the_same_vocabulary(shakespeare, hf1024):
    _, vocab_json, merges_txt = hf1024
    theirs = BPETokenizer.from_gpt2_files(vocab_json, merges_txt)
    ours = BPETokenizer.train(shakespeare, 1024, progress=False)
    assert theirs.vocab_size == 1024
    assert ours.vocab == theirs.vocab  # the same tokens under the same ids ...
    assert ours.merges == theirs.merges  # ... learned in the same order


def test_tokenizers_files_encode_identically(shakespeare, hf1024):
    hf, vocab_json, merges_txt = hf1024
    ours = BPETokenizer.from_gpt2_files(vocab_json, merges_txt)
    val = shakespeare[-30000:]
    assert ours.encode(val).tolist() == hf.encode(val).ids
    for text in VARIED:
        assert ours.encode(text).tolist() == hf.encode(text).ids, text


@given(st.text(st.characters(codec="utf-8"), max_size=100))
def test_tokenizers_files_encode_identically_on_any_text(hf1024, text):
    hf, vocab_json, merges_txt = hf1024
    ours = _cached_from_files(vocab_json, merges_txt)
    assert ours.encode(text).tolist() == hf.encode(text).ids


_FROM_FILES = {}


def _cached_from_files(vocab_json, merges_txt):
    key = (vocab_json, merges_txt)
    if key not in _FROM_FILES:
        _FROM_FILES[key] = BPETokenizer.from_gpt2_files(vocab_json, merges_txt)
    return _FROM_FILES[key]


def test_pre_split_matches_tokenizers_byte_level_pre_tokenizer():
    pytest.importorskip("tokenizers")
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    table = bytes_to_unicode()
    for text in VARIED + [load_shakespeare()[:3000]]:
        ours = ["".join(table[b] for b in chunk.encode()) for chunk in split_text(text)]
        assert ours == [piece for piece, _ in pre.pre_tokenize_str(text)], text
