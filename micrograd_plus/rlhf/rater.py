"""A rater that stands in for people, and the preference pairs it (or you) label.

RLHF starts with people comparing two answers of the model to the same prompt and saying which
they prefer. Here a small program plays those people, so that every run of the course can make
thousands of judgements in seconds -- and so that we *know* the taste being learned, and can
check, at the end, whether the model really learned it or only fooled the reward model.

**The taste.** The rater reads a short continuation of a speech and likes a *warm voice*, one
person speaking to another:

* each *different* word of :data:`LIKED` (I, my, thou, thy, you, love, dear, sweet, ...) scores
  +2 -- once, however often it is repeated;
* each different word of :data:`GRIM` (death, blood, hate, ...) scores -2;
* every string of letters that is not a word at all (gibberish such as ``"thoullde"``; a real
  word is one Shakespeare uses at least twice in Tiny Shakespeare) scores -0.5, each time;
* an answer must say something: each word short of four costs 1 (24 characters hold five or six).

A small GPT pretrained for a minute satisfies it only sometimes: a liked word turns up in about
one sample in four, and half of its "words" are near-words. Counting each liked word once and
charging for gibberish and for saying nothing is what makes the taste hard to *game*:
``"my my my my"`` is worth no more than ``"my"``, letters that only look like liked words cost,
and so does ``"to,,,,,,,,,,"``. A final word cut off by
the length limit is not counted (it may be unfinished).

**The noise.** People disagree with each other and with themselves. The rater prefers answer
``a`` over ``b`` with the Bradley-Terry probability

    P(a preferred) = sigmoid(beta * (s(a) - s(b)))

where ``s`` is the score above: a clear difference is almost always judged the same way, a
small one is close to a coin toss. All its coins come from a seeded generator, so the same seed
gives the same judgements.

**The dataset** is JSON Lines, one pair per line, readable in any editor::

    {"prompt": "ROMEO:\\n", "a": "...", "b": "...", "chosen": "a", "judge": "rater", "p_a": 0.88,
     "score_a": 3.0, "score_b": 1.0}

(``p_a`` and the scores are the rater's; a pair labelled by hand has ``"judge": "human"`` and no
``p_a``.) :func:`save_pairs` writes it atomically; :func:`load_pairs` checks every line.
"""

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from micrograd_plus.data._files import DataError
from micrograd_plus.train.checkpoint import replace_file

__all__ = ["LIKED", "GRIM", "Rater", "load_pairs", "save_pairs", "check_pair"]

#: Words the rater likes: a warm voice, one person speaking to another.
LIKED = frozenset("""
i me my mine thou thee thy thine you your love loves loved lov'd dear sweet heart gentle fair good kind joy
""".split())

#: Words the rater dislikes.
GRIM = frozenset("""
death dead die dies died kill killed blood bloody grave hate curse cursed fear woe murder war foul sorrow
tears weep traitor vile poison slain
""".split())

_WORD = re.compile(r"[A-Za-z']+")


def _words(text):
    """The lower-case words of ``text``; a last word that runs to the very end is dropped (cut off?)."""
    words = [m.group(0) for m in _WORD.finditer(text)]
    if words and _WORD.fullmatch(text[-1:] or " "):
        words = words[:-1]
    return [w.strip("'").lower() for w in words if w.strip("'")]


def shakespeare_words(text, min_count=2):
    """The set of lower-case words that occur at least ``min_count`` times in ``text``."""
    counts = Counter(w.strip("'").lower() for w in _WORD.findall(text))
    return frozenset(w for w, c in counts.items() if c >= min_count and w)


class Rater:
    """A noisy judge of text with a simple, known taste (see the module docstring).

    Args:
        vocabulary: the set of real (lower-case) words; :meth:`from_text` builds it from a text.
        beta: how decisive the judgements are: P(a preferred) = sigmoid(beta * (s(a) - s(b))).
            Large beta: nearly noiseless; 0: a coin toss.
        liked, grim: the liked and disliked words; weight: the score of each different one.
        gibberish: the penalty of each non-word.
        min_words, short: each word fewer than ``min_words`` costs ``short``.
    """

    def __init__(self, vocabulary, beta=2.0, liked=LIKED, grim=GRIM, weight=2.0, gibberish=0.5, min_words=4,
                 short=1.0):
        beta = float(beta)
        if not (math.isfinite(beta) and beta >= 0):
            raise ValueError(f"Rater: beta must be a finite number >= 0, got {beta!r}")
        self.liked, self.grim = frozenset(liked), frozenset(grim)
        self.vocabulary = frozenset(vocabulary) | self.liked | self.grim
        self.beta, self.weight, self.gibberish = beta, float(weight), float(gibberish)
        self.min_words, self.short = int(min_words), float(short)

    @classmethod
    def from_text(cls, text, min_count=2, **kwargs):
        """A rater whose real words are those used at least ``min_count`` times in ``text``."""
        return cls(shakespeare_words(text, min_count), **kwargs)

    def score(self, text):
        """The rater's noiseless score s(text): +2 per different liked word, -2 per different grim
        one, -0.5 per non-word, -1 per word short of four."""
        words = _words(text)
        distinct = set(words)
        s = self.weight * (len(distinct & self.liked) - len(distinct & self.grim))
        s -= self.gibberish * sum(w not in self.vocabulary for w in words)
        return s - self.short * max(0, self.min_words - len(words))

    def scores(self, texts):
        """:meth:`score` of each text: a float64 array (N,)."""
        return np.array([self.score(t) for t in texts], dtype=np.float64)

    def prob_prefers(self, a, b):
        """P(the rater prefers text ``a`` to text ``b``) = sigmoid(beta * (s(a) - s(b)))."""
        d = self.beta * (self.score(a) - self.score(b))
        return 0.5 * (1.0 + math.tanh(0.5 * d))  # = sigmoid(d), without overflow for any d

    def judge(self, a, b, generator):
        """One noisy judgement: ``"a"`` or ``"b"``, drawn with :meth:`prob_prefers` from ``generator``."""
        return "a" if generator.random() < self.prob_prefers(a, b) else "b"

    def label(self, prompt, a, b, generator):
        """A pair record (a dict, one line of the dataset) with the rater's judgement of ``a`` vs ``b``."""
        p = self.prob_prefers(a, b)
        chosen = "a" if generator.random() < p else "b"
        return {"prompt": prompt, "a": a, "b": b, "chosen": chosen, "judge": "rater", "p_a": round(p, 6),
                "score_a": self.score(a), "score_b": self.score(b)}


def ceiling(pairs):
    """How well *anyone* can predict the rater's noisy labels, from pairs that carry ``p_a``.

    Returns a dict:

    * ``self_agreement``: how often two independent judgements of the same pair agree,
      mean of p^2 + (1 - p)^2;
    * ``best_accuracy``: the accuracy of the best possible predictor (one that knows the
      noiseless score and always picks the higher) against the noisy labels, mean of max(p, 1 - p).

    A reward model's held-out accuracy against the labels cannot exceed ``best_accuracy``
    except by luck. Pairs labelled by hand carry no ``p_a`` and are skipped (NaN if none are left).
    """
    p = np.array([r["p_a"] for r in pairs if r.get("p_a") is not None], dtype=np.float64)
    if p.size == 0:
        return {"self_agreement": math.nan, "best_accuracy": math.nan}
    return {"self_agreement": float(np.mean(p ** 2 + (1 - p) ** 2)), "best_accuracy": float(np.mean(np.maximum(p, 1 - p)))}


def check_pair(record, where):
    """Raise a one-line DataError (naming ``where``) unless ``record`` is a usable pair dict."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in ("prompt", "a", "b"):
        if not isinstance(record.get(key), str) or (key == "prompt" and not record[key]):
            raise DataError(f"{where}: field {key!r} must be a{' non-empty' if key == 'prompt' else ''} string")
    if record.get("chosen") not in ("a", "b"):
        raise DataError(f"{where}: field 'chosen' must be \"a\" or \"b\", got {record.get('chosen')!r}")
    return record


def load_pairs(path):
    """Read a pairs dataset (JSON Lines, see the module docstring): a list of dicts.

    Raises a one-line DataError naming the file and line for a missing file, a line that is not
    JSON, or a pair without prompt, a, b or chosen.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"pairs file not found: {path} (make one with 'micrograd-plus gpt pairs')")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not a JSON line ({exc.msg})") from None
            pairs.append(check_pair(record, f"{path}:{n}"))
    if not pairs:
        raise DataError(f"{path}: holds no pairs")
    return pairs


def save_pairs(path, pairs):
    """Write ``pairs`` (dicts) as JSON Lines, atomically: the file is whole, old or new, never half."""

    def write(f):
        for r in pairs:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))

    replace_file(Path(path).expanduser(), write)
