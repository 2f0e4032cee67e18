"""A GPT on BPE tokens: training with a BPETokenizer, and sample / next / neighbours / eval on it."""

import math
import re

import numpy as np
import pytest

from micrograd_plus._plumbing.cli import main
from micrograd_plus.data import BPETokenizer, CharTokenizer, load_shakespeare
from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.gpt import PRESETS, TrainConfig, load_model, train
from micrograd_plus.train.gpt_tools import stream_text, validation_bits_per_byte, word_token

MC = GPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16)
TC = TrainConfig(batch_size=4, max_iters=6, learning_rate=3e-3, min_lr=3e-4, warmup_iters=2,
                 eval_interval=3, eval_iters=1, seed=7)


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bpe")
    text = load_shakespeare()[:30000]
    path = root / "little.txt"
    path.write_text(text, encoding="utf-8")
    tok = BPETokenizer.train(text, 400, progress=False)
    result = train(MC, TC, out_dir=root / "run", data=path, progress=False, log=None, tokenizer=tok)
    return root / "run" / "ckpt.npz", tok, result, path


def test_training_on_bpe_tokens_stores_the_tokenizer(bpe_run):
    ckpt, tok, result, _ = bpe_run
    assert result.model.config.vocab_size == 400
    model, back, _ = load_model(ckpt)
    assert isinstance(back, BPETokenizer) and back.merges == tok.merges
    np.testing.assert_array_equal(model.transformer.wte.weight.numpy().shape, (400, 16))


def test_the_bpe_preset():
    preset = PRESETS["shakespeare-bpe"]
    assert preset.bpe_vocab_size == 2048 and PRESETS["shakespeare-char-cpu"].bpe_vocab_size is None


def test_cli_sample_next_neighbours_eval_on_a_bpe_model(bpe_run, capsys):
    ckpt, tok, _, path = bpe_run
    assert main(["gpt", "sample", "-c", str(ckpt), "--prompt", "ROMEO:", "--chars", "12", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out) > len("ROMEO:") + 12  # 12 tokens, several characters each
    assert main(["gpt", "next", "-c", str(ckpt), "--prompt", "What say", "--top", "5"]) == 0
    table = capsys.readouterr().out
    assert "(sum over all 400 tokens: 1.000000)" in table
    assert main(["gpt", "neighbours", "-c", str(ckpt), "the", "zzzzqq", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "'zzzzqq' is not one token here" in out
    assert re.search(r"' the' ->", out)
    assert main(["gpt", "eval", str(ckpt), "--data", str(path)]) == 0
    assert "bits per byte" in capsys.readouterr().out


def test_stream_text_holds_back_a_split_character():
    tok = BPETokenizer.train("abc", 256, progress=False)
    ids = tok.encode("a😀b").tolist()  # the emoji is four one-byte tokens
    pieces = list(stream_text(tok, ids))
    assert "".join(pieces) == "a😀b"
    assert "\ufffd" not in "".join(pieces) and pieces[1:4] == ["", "", ""]  # nothing until the 4th byte
    assert "".join(stream_text(CharTokenizer("ab"), [0, 1, 1])) == "abb"


def test_word_token_prefers_the_word_with_its_space():
    tok = BPETokenizer.train("the king, the king. king", 270, progress=False)
    assert tok.token_text(word_token(tok, "king")) == " king"
    assert word_token(CharTokenizer("ab"), "a") == 0 and word_token(CharTokenizer("ab"), "c") is None


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_bits_per_byte_by_hand(bpe_run, kind):
    from micrograd_plus.models.gpt import GPT

    text = load_shakespeare()[:6000]
    tok = CharTokenizer.from_text(text) if kind == "char" else BPETokenizer.train(text, 300, progress=False)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8), generator=0)
    loss, bpb = validation_bits_per_byte(model, tok, text, 0.1)
    # by hand: every whole window of 8 validation tokens, -log2 p(next token), summed, over its bytes
    ids = tok.encode(text)
    val = ids[int(len(ids) * 0.9):]
    bits, n_bytes = 0.0, 0
    for s in range(0, (len(val) - 1) // 8 * 8, 8):
        logits = model(val[None, s:s + 8])[0].numpy()[0].astype(np.float64)  # (8, V)
        logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
        targets = val[s + 1:s + 9]
        bits -= logp[np.arange(8), targets].sum() / math.log(2)
        n_bytes += len(tok.decode(targets).encode())
    assert bpb == pytest.approx(bits / n_bytes, rel=1e-5)
    if kind == "char":
        assert bpb == pytest.approx(loss / math.log(2), rel=1e-6)  # ASCII: a byte is a character
