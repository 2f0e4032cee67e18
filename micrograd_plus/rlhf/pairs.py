"""Stage 1 of RLHF: prompts, and pairs of the model's own answers labelled by a rater or by you.

:func:`speaker_prompts` picks the prompts: the start of a speech, ``"ROMEO:\\n"``, for the most
frequent speakers of the text; every fourth is kept aside (:func:`split_prompts`) so that the
tuned models are measured on prompts they never trained on.

:func:`make_pairs` samples two completions of the same prompt from the pretrained model and asks
a :class:`~micrograd_plus.rlhf.rater.Rater` which it prefers (or you, with ``interactive=True``:
that is what *human feedback* means). Pairs are made in chunks of :data:`CHUNK` pairs, each
from its own generator ``[seed, chunk]``, so a stopped run continues (``resume=True``) exactly
where it stopped, and the file is rewritten atomically after every chunk (or every hand-labelled
pair): it is always whole.
"""

import hashlib
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from micrograd_plus.data._files import DataError
from micrograd_plus.rlhf.core import sample_completions
from micrograd_plus.rlhf.rater import Rater, load_pairs, save_pairs
from micrograd_plus._plumbing.outputs import check_output
from micrograd_plus.train.errors import ConfigError, RunDirError

__all__ = ["CHUNK", "speaker_prompts", "split_prompts", "make_pairs", "label_interactively", "file_sha256",
           "holdout_split"]

#: Pairs per chunk: one batched draw of 2 * CHUNK completions of one prompt.
CHUNK = 8


def file_sha256(path, what="file"):
    """The SHA-256 of a file's bytes, as hex (runs record what they were built from).

    A missing file is a one-line FileNotFoundError naming ``what`` it should have been.
    """
    if not Path(path).expanduser().is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    h = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def speaker_prompts(text, max_len, count=24, min_lines=2):
    """The ``count`` most frequent speech openings ``"NAME:\\n"`` of at most ``max_len`` characters.

    A speech in Tiny Shakespeare starts with its speaker's name alone on a line. Ordered by how
    often the speaker speaks (most first; ties by name); a speaker needs ``min_lines`` speeches.
    Raises ConfigError if none fits.
    """
    names = Counter(re.findall(r"^([A-Za-z][A-Za-z ]*):$", text, re.M))
    prompts = [f"{n}:\n" for n, c in sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))
               if c >= min_lines and len(n) + 2 <= max_len]
    if not prompts:
        raise ConfigError(f"the text has no speaker line 'NAME:' of at most {max_len - 2} characters that opens "
                          f"{min_lines} speeches or more, so there are no prompts; use a shorter --length")
    return prompts[:count]


def split_prompts(prompts):
    """``(train, held_out)``: every fourth prompt (1st, 5th, ...) is held out for measuring."""
    return [p for i, p in enumerate(prompts) if i % 4], prompts[::4]


def holdout_split(pairs, every=5):
    """``(train, held_out)`` lists of pairs: every ``every``-th pair (0th, 5th, ...) is held out."""
    return [p for i, p in enumerate(pairs) if i % every], pairs[::every]


def _existing(out, resume, force):
    """The pairs already in ``out`` to keep (resume), or [] -- refusing to replace a file unasked."""
    if resume and force:
        raise ConfigError("--resume and --force contradict each other: --resume continues the pairs in --out, "
                          "--force replaces them")
    if out.is_dir():
        raise RunDirError(f"--out {out} is a directory; give the pairs file's path, e.g. {out / 'pairs.jsonl'}")
    if resume:
        if not out.is_file():
            raise RunDirError(f"--resume: {out} does not exist; leave out --resume to start it")
        return load_pairs(out)
    if out.exists() and not force:
        raise RunDirError(f"{out} already exists; continue it with --resume, replace it with --force, "
                          "or choose another --out")
    try:  # the write rule of every command: never through a link, never a special file, ...
        check_output(out, force=force, flag="--out", make_parents=True)
    except (OSError, ValueError) as error:
        raise RunDirError(str(error)) from None
    return []


def make_pairs(model, tokenizer, prompts, n_pairs, out, rater=None, length=24, seed=0, resume=False,
               force=False, log=print):
    """Sample pairs of completions and have ``rater`` label them; write them to ``out`` (JSON Lines).

    Args:
        model, tokenizer: the pretrained GPT (see :func:`micrograd_plus.train.gpt.load_model`).
        prompts: the prompts (strings), used in turn, one per chunk of :data:`CHUNK` pairs.
        n_pairs: how many pairs the file holds at the end.
        out: the file to write; an existing one is an error unless ``resume`` (keep its pairs and
            add the rest) or ``force`` (replace it).
        rater: a :class:`~micrograd_plus.rlhf.rater.Rater`.
        length: tokens per completion; seed: the same seed, the same pairs and labels.

    Returns:
        the list of pair dicts (also in ``out``).
    """
    say = log or (lambda *a, **k: None)
    out = Path(out).expanduser()
    pairs = _existing(out, resume, force)
    if resume:
        pairs = pairs[: len(pairs) - len(pairs) % CHUNK]  # whole chunks only: a chunk is one draw
        say(f"resuming {out}: {len(pairs)} pairs kept")
    out.parent.mkdir(parents=True, exist_ok=True)
    while len(pairs) < n_pairs:
        chunk = len(pairs) // CHUNK
        g = np.random.default_rng([seed, chunk])
        prompt = prompts[chunk % len(prompts)]
        texts = sample_completions(model, tokenizer, prompt, 2 * CHUNK, length, generator=g)  # 2 * CHUNK strings
        for i in range(min(CHUNK, n_pairs - len(pairs))):
            pairs.append(rater.label(prompt, texts[2 * i], texts[2 * i + 1], g))
        save_pairs(out, pairs)
    say(f"wrote {len(pairs)} pairs to {out}")
    return pairs


def _ask(stream_in, stream_out, question):
    stream_out.write(question)
    stream_out.flush()
    line = stream_in.readline()
    if line == "":
        return None  # end of input: stop as if 'q'
    return line.strip().lower()


def label_interactively(model, tokenizer, prompts, n_pairs, out, length=24, seed=0, resume=False, force=False,
                        stdin=None, stdout=None, rater=None):
    """Show pairs of completions at the terminal and record which one you prefer.

    For each pair, answer ``a`` or ``b`` (which is better), ``s`` to skip it or ``q`` to stop; the
    file is rewritten after every answer, so nothing is lost, and ``resume=True`` continues it. The
    same pairs as :func:`make_pairs` with this seed are shown; ``rater`` (optional) adds its
    noiseless scores to the record, for comparing your taste with it afterwards.

    Returns the list of pairs in ``out``.
    """
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    out = Path(out).expanduser()
    pairs = _existing(out, resume, force)
    seen = {(p["prompt"], p["a"], p["b"]) for p in pairs}
    out.parent.mkdir(parents=True, exist_ok=True)
    chunk = 0
    while len(pairs) < n_pairs:
        g = np.random.default_rng([seed, chunk])
        prompt = prompts[chunk % len(prompts)]
        texts = sample_completions(model, tokenizer, prompt, 2 * CHUNK, length, generator=g)
        chunk += 1
        for i in range(CHUNK):
            a, b = texts[2 * i], texts[2 * i + 1]
            if (prompt, a, b) in seen or len(pairs) >= n_pairs:
                continue
            stdout.write(f"\n--- pair {len(pairs) + 1} of {n_pairs}: {prompt!r} continues ---\n"
                         f"[a] {prompt}{a}\n[b] {prompt}{b}\n")
            answer = _ask(stdin, stdout, "which is better? a / b / s(kip) / q(uit): ")
            while answer not in ("a", "b", "s", "q", None):  # None: the input ended
                answer = _ask(stdin, stdout, "please answer a, b, s or q: ")
            if answer in ("q", None):
                stdout.write(f"stopped: {len(pairs)} pairs in {out}; continue with --resume\n")
                return pairs
            seen.add((prompt, a, b))
            if answer == "s":
                continue
            record = {"prompt": prompt, "a": a, "b": b, "chosen": answer, "judge": "human"}
            if rater is not None:
                record.update(score_a=rater.score(a), score_b=rater.score(b))
            pairs.append(record)
            save_pairs(out, pairs)
    stdout.write(f"done: {len(pairs)} pairs in {out}\n")
    return pairs


def check_vocabulary(pairs, tokenizer, where):
    """Raise a one-line DataError if a pair holds a character the tokenizer cannot encode."""
    for n, r in enumerate(pairs, 1):
        for key in ("prompt", "a", "b"):
            try:
                tokenizer.encode(r[key])
            except ValueError as exc:
                raise DataError(f"{where}: pair {n} field {key!r} does not fit the model's vocabulary ({exc}); "
                                "were these pairs made with another model?") from None


def default_rater(text, beta=2.0):
    """The course's rater (:class:`Rater`) with real words taken from ``text``."""
    return Rater.from_text(text, beta=beta)
