"""``micrograd-plus gpt export | neighbours | bpe``: take a GPT out, look at its embeddings, make BPE tokens.

  micrograd-plus gpt export runs/gpt/ckpt.npz --format hf --out gpt-hf          a Hugging Face GPT-2 directory
  micrograd-plus gpt export runs/gpt/ckpt.npz --format nanogpt --out out/ckpt.pt   nanoGPT's checkpoint (torch)
  micrograd-plus gpt neighbours king duke lord        nearest word embeddings, by cosine similarity
  micrograd-plus gpt bpe --vocab-size 1024 --out bpe.json     train GPT-2-style BPE tokens on a text
  micrograd-plus gpt eval runs/gpt/ckpt.npz           validation loss per token and in bits per byte

These live apart from :mod:`micrograd_plus.train.gpt_cli` (which defines their flags, so that
``--help`` loads none of the model code imported here) because they are about moving and
inspecting models, not training them.
"""

import codecs
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from micrograd_plus.data import BPETokenizer, DataError
from micrograd_plus.models import export
from micrograd_plus.models.gpt import nearest_neighbours
from micrograd_plus._plumbing.outputs import check_output, check_output_dir, check_picture, output_file
from micrograd_plus.train.checkpoint import load_checkpoint, strip_prefix
from micrograd_plus.train.errors import RunDirError
from micrograd_plus.data import train_val_split
from micrograd_plus.train.gpt import TrainConfig, configure_optimizer, evaluate_full, load_corpus, load_model

DEFAULT_CHARS = "aeiouAEIOU.,!?;: \n"
DEFAULT_WORDS = ("king", "duke", "lord", "queen", "love", "death", "good", "night", "thou", "three")


def run(args):
    """Run one of the actions above (``gpt_cli.TOOL_COMMANDS``, where their flags are defined);
    returns the exit code (errors are one line, exit code 2)."""
    handlers = {"export": _export, "neighbours": _neighbours, "bpe": _bpe, "eval": _eval}
    try:
        return handlers[args.gpt_command](args)
    except (OSError, ValueError, ImportError) as exc:  # a bad file or value (DataError is a ValueError)
        print(f"micrograd-plus gpt {args.gpt_command}: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 2


# ---- tokens for training and sampling ----------------------------------------------------


def preset_tokenizer(preset, data, out_dir, resume, progress=True):
    """The tokenizer a preset trains with: None (one token per character, made by the trainer), or
    for a BPE preset a :class:`BPETokenizer` trained on the text (:func:`~micrograd_plus.train.gpt.train`
    saves it as ``OUT/tokenizer.json`` once the run's own checks have passed, so a ``--force`` run
    that is then refused has not touched the old run's copy).

    A resumed run takes its tokenizer from its checkpoint, so this returns None then.
    """
    if preset.bpe_vocab_size is None or resume:
        return None
    _check_run_dir(out_dir)
    text, _ = load_corpus(data)
    if not text:
        raise DataError(f"--data {data}: the file is empty; there is nothing to train on")
    t0 = time.perf_counter()
    tok = BPETokenizer.train(text, preset.bpe_vocab_size, progress=None if progress else False)
    print(f"trained a {tok.vocab_size:,}-token BPE vocabulary in {time.perf_counter() - t0:.1f} s "
          f"(to be saved as {Path(out_dir) / 'tokenizer.json'})")
    return tok


def _check_run_dir(out_dir):
    """Refuse, before a BPE vocabulary is trained, an ``--out`` the run could not use: a file, under a
    file, or in a read-only place (the messages of :class:`~micrograd_plus.train.rundir.RunDir`)."""
    path = Path(out_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is a file, not a directory; choose another --out")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(f"--out {path} lies under {parent}, which is a file; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {path} is not writable ({parent} is read-only); choose another --out")


def stream_text(tok, ids):
    """Turn a stream of token ids into a stream of text, whole characters only.

    A byte-level BPE token can end in the middle of a character's UTF-8 bytes (an emoji is four
    bytes, and can be split over tokens); an incremental UTF-8 decoder holds such bytes back
    until the character is complete. Yields ``str`` pieces (some empty).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for i in ids:
        yield decoder.decode(tok.decode_bytes([i]))
    yield decoder.decode(b"", final=True)


def stream_chars(model, tok, ids, n_chars, **sample_kwargs):
    """Sample from ``model`` after the prompt ``ids`` until ``n_chars`` *characters* of text are out.

    ``model.stream`` counts tokens, and a BPE token is several characters (about four in English)
    or part of one (a byte of an emoji), so asking it for ``n_chars`` tokens would print several
    times more text than asked. This draws tokens one by one, turns them into whole characters
    (:func:`stream_text`) and stops once ``n_chars`` are out, cutting the last piece to fit. For a
    character model it is the same as ``n_chars`` tokens. Yields ``str`` pieces.

    ``sample_kwargs`` go to :meth:`~micrograd_plus.models.gpt.GPT.stream` (temperature, top_k,
    generator, use_cache).
    """
    if n_chars <= 0:
        return
    done = 0
    # each token gives at least a quarter of a character (a UTF-8 character is at most 4 bytes)
    tokens = model.stream(ids, 4 * n_chars + 4, **sample_kwargs)
    for piece in stream_text(tok, tokens):
        piece = piece[: n_chars - done]
        done += len(piece)
        yield piece
        if done >= n_chars:
            tokens.close()  # stop drawing: the generator's loop ends here
            return


# ---- export ------------------------------------------------------------------------------


def optimizer_moments(path, model, train_config):
    """AdamW's state in checkpoint ``path``, per parameter name: ``{name: {"step", "exp_avg", "exp_avg_sq"}}``.

    The checkpoint numbers the optimiser's parameters in its group order; rebuilding the same
    optimiser (:func:`~micrograd_plus.train.gpt.configure_optimizer`) over ``model`` and loading the
    state into it gives each moment back its parameter's name. Empty if the checkpoint has none.
    """
    arrays, _ = load_checkpoint(path)
    optim = strip_prefix(arrays, "optim")
    if not optim:
        return {}
    opt = configure_optimizer(model, train_config)
    opt.load_state_dict(optim)
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {by_id[pid]: s for pid, s in opt.state.items() if pid in by_id and "exp_avg" in s}


def _export(args):
    if args.format == "hf":
        check_output_dir(args.out)
    else:
        check_output(args.out, args.force, inputs=[args.checkpoint], make_parents=True)
    model, tok, info = load_model(args.checkpoint)
    if args.format == "hf":
        out = export.export_hf(model, args.out, tokenizer=tok, force=args.force)
        print(f"wrote {out}/: config.json, model.safetensors"
              + (", vocab.json, merges.txt" if isinstance(tok, BPETokenizer) else "")
              + "\nload it with: transformers.GPT2LMHeadModel.from_pretrained(" + repr(str(out)) + ")")
        return 0
    tc = TrainConfig.from_dict(info["train_config"])
    moments = optimizer_moments(args.checkpoint, model, tc)
    dataset = "shakespeare_char" if info.get("data") == "tinyshakespeare" and not isinstance(tok, BPETokenizer) else None
    out = export.export_nanogpt(model, args.out, iter_num=info["step"], best_val_loss=info.get("best_val_loss"),
                                train_config={**tc.to_dict(), "block_size": model.config.block_size},
                                optimizer_state=moments, dataset=dataset, force=args.force)
    print(f"wrote {out} (iteration {info['step']}, AdamW moments for {len(moments)} parameters)\n"
          f"continue it in nanoGPT: put it in OUT_DIR and run  python train.py ... --init_from=resume "
          f"--out_dir=OUT_DIR  with the same n_layer/n_head/n_embd/block_size/bias")
    return 0


# ---- neighbours ----------------------------------------------------------------------------


def _show(text):
    return repr(text)[1:-1] if text.strip() == text and text else repr(text)


def word_token(tok, word):
    """The id of ``word``'s token -- with GPT-2-style tokens, a word inside a line is its own
    token *with* the space before it (``" king"``), so that is tried first -- or None."""
    for piece in ((" " + word, word) if isinstance(tok, BPETokenizer) else (word,)):
        i = tok.token_id(piece)
        if i is not None:
            return i
    return None


def _neighbours(args):
    if any(w == "" for w in args.words):
        raise ValueError("WORD must not be empty (a space is ' ', a line break '\\n')")
    png = None if args.png is None else check_picture(args.png, args.force, "--png", inputs=[args.checkpoint])
    model, tok, _ = load_model(args.checkpoint)
    emb = np.asarray(model.transformer.wte.weight.numpy(), dtype=np.float64)  # (V, C)
    if not 1 <= args.k <= tok.vocab_size - 1:
        raise ValueError(f"-k must be between 1 and {tok.vocab_size - 1} (the other tokens of this model's "
                         f"{tok.vocab_size}-token vocabulary), got {args.k}")
    is_bpe = isinstance(tok, BPETokenizer)
    words = [w.replace("\\n", "\n") for w in args.words]
    if args.chars:
        words += list(args.chars.replace("\\n", "\n"))
    words = words or (list(DEFAULT_WORDS) if is_bpe else list(DEFAULT_CHARS))
    found, ids = [], []
    for w in dict.fromkeys(words):
        i = word_token(tok, w)
        if i is None:
            pieces = [tok.token_text(j) for j in tok.encode(" " + w if is_bpe else w)]
            print(f"  {w!r} is not one token here (it is {' + '.join(map(repr, pieces))}); skipped")
            continue
        found.append(w)
        ids.append(i)
    if not ids:
        raise ValueError("none of the words is a single token of this model's vocabulary")
    idx, sims = nearest_neighbours(emb, ids, k=args.k)
    print(f"nearest neighbours by cosine similarity of the learned embeddings ({emb.shape[1]} numbers each, "
          f"{tok.vocab_size} tokens):")
    for i, row_i, row_s in zip(ids, idx, sims):
        neigh = "  ".join(f"{_show(tok.token_text(j)):>10} {s:+.2f}" for j, s in zip(row_i, row_s))
        print(f"  {_show(tok.token_text(i)):>10} -> {neigh}")
    if png:
        _embedding_map(emb, tok, ids, png, args.force)
    return 0


def _embedding_map(emb, tok, ids, png, force=False):
    """A PCA map of the embeddings: for a BPE model the whole-word tokens, for characters all of them."""
    from micrograd_plus.viz import pyplot, save_figure  # here only: matplotlib is slow to import, only --png needs it

    plt = pyplot()
    texts = [tok.token_text(i) for i in range(tok.vocab_size)]
    if isinstance(tok, BPETokenizer):  # whole words with their space: " king", " lord", ...
        show = [i for i, t in enumerate(texts) if t.startswith(" ") and t[1:].isalpha() and len(t) >= 4]
    else:
        show = list(range(tok.vocab_size))
    centred = emb - emb.mean(axis=0)  # (V, C)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T  # (V, 2): the two directions of largest spread
    fig, ax = plt.subplots(figsize=(9, 9))
    for i in show:
        color = "tab:red" if i in ids else "tab:blue"
        ax.text(xy[i, 0], xy[i, 1], _show(texts[i].strip() or texts[i]), color=color, ha="center", va="center",
                fontsize=10 if i in ids else 6, alpha=1.0 if i in ids else 0.6)
    ax.set_xlim(xy[show, 0].min() * 1.1, xy[show, 0].max() * 1.1)
    ax.set_ylim(xy[show, 1].min() * 1.1, xy[show, 1].max() * 1.1)
    ax.set_title("token embeddings, first two principal components (red: the words looked up)")
    save_figure(fig, png, dpi=120, force=force)  # whole or not at all; an existing file only with --force
    print(f"saved {png}")


# ---- bpe -----------------------------------------------------------------------------------


def _bpe(args):
    if args.vocab_size > 1_000_000:  # (below 256, BPETokenizer.train says why)
        raise ValueError(f"--vocab-size must be at most 1,000,000 (a merge table of that size takes hours), "
                         f"got {args.vocab_size:,}")
    out = None if args.out is None else check_output(args.out, args.force, inputs=[args.data])
    text, _ = load_corpus(args.data)
    if not text:
        raise ValueError(f"--data {args.data}: the file is empty; there is nothing to learn tokens from")
    n_bytes = len(text.encode("utf-8"))
    t0 = time.perf_counter()
    tok = BPETokenizer.train(text, args.vocab_size, progress=False if args.no_progress else None)
    t1 = time.perf_counter()
    ids = tok.encode(text)
    t2 = time.perf_counter()
    assert tok.decode(ids) == text, "BPE round trip failed"  # cannot happen; says so loudly if it did
    print(f"trained {tok.vocab_size:,} tokens ({len(tok.merges):,} merges) on {n_bytes:,} bytes in {t1 - t0:.2f} s")
    print(f"encoded the whole text in {t2 - t1:.2f} s: {len(ids):,} tokens, {n_bytes / max(len(ids), 1):.3f} bytes per token")
    print("the longest tokens: " + ", ".join(repr(t) for t in sorted((tok.token_text(i) for i in range(256, tok.vocab_size)),
                                                                       key=len, reverse=True)[:8]))
    if out is not None:
        with output_file(out, args.force, mode="w", inputs=[args.data]) as f:
            json.dump(tok.to_dict(), f, ensure_ascii=False, indent=0)
        print(f"saved {out}")
    return 0


# ---- eval ----------------------------------------------------------------------------------


def validation_bits_per_byte(model, tok, text, val_fraction):
    """The model's loss on the validation part of ``text``, two ways: ``(nats per token, bits per byte)``.

    A loss per token cannot be compared across tokenizers (a BPE token carries several characters,
    so it is harder to guess than one character). Bits per byte can: the same loss summed over all
    predicted tokens, converted from nats to bits (divide by ln 2), divided by the bytes those
    tokens spell. For a character model of ASCII text it is simply loss / ln 2.
    """
    ids = tok.encode(text)
    _, val = train_val_split(ids, val_fraction)
    T = model.config.block_size
    loss = evaluate_full(model, val, T)  # mean over n whole windows of T predictions
    n = (len(val) - 1) // T
    predicted = val[1:n * T + 1]  # the tokens those windows predict
    n_bytes = len(tok.decode_bytes(predicted))
    return loss, loss * len(predicted) / n_bytes / np.log(2.0)


def _eval(args):
    model, tok, info = load_model(args.checkpoint)
    data = args.data if args.data is not None else (None if info.get("data") == "tinyshakespeare" else info.get("data"))
    text, _ = load_corpus(data)
    if not text:
        raise ValueError(f"--data {data}: the file is empty; there is no validation text to score")
    tc = TrainConfig.from_dict(info["train_config"])
    try:
        loss, bpb = validation_bits_per_byte(model, tok, text, tc.val_fraction)
    except ValueError as exc:  # too short a text, or a character the vocabulary lacks
        raise ValueError(f"--data {data or 'tinyshakespeare'}: {exc}") from None
    kind = "BPE" if isinstance(tok, BPETokenizer) else "character"
    print(f"validation loss {loss:.4f} nats per token ({kind} tokens, vocabulary {tok.vocab_size:,}) "
          f"= {bpb:.4f} bits per byte")
    return 0
