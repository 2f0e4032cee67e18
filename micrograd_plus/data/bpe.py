"""Byte-level byte-pair encoding (BPE): the tokenizer of GPT-2, trained or loaded from its files.

A character model reads one letter at a time. Real language models read *tokens*, pieces of words
such as ``" king"``, ``"dom"`` or ``"'s"``, so that the same context length covers several times
more text and a token can stand for something with a meaning. BPE finds those pieces by counting:

1. **Start from bytes.** Any text is a sequence of UTF-8 bytes, so the first 256 tokens are the
   256 byte values. Nothing can ever be out of the vocabulary: an emoji is just four bytes.
2. **Merge the commonest pair.** Count every pair of neighbouring tokens in the training text,
   make the most frequent pair a new token, rewrite the text with it, and repeat until the
   vocabulary has ``vocab_size`` tokens. Each merge is remembered, in order.
3. **Encode by replaying the merges.** To tokenize new text, start from its bytes and apply the
   learned merges in the order they were learned (earliest first), as long as any applies.

Merges never cross the boundaries of a *pre-split*: before counting, GPT-2 cuts the text with a
regular expression into words with their leading space (``" king"``), runs of digits,
runs of punctuation and runs of white space, so that a token never glues a word to the punctuation
after it (no ``"dog."``, ``"dog!"``, ``"dog?"`` wasting the vocabulary). Every pre-split chunk is
tokenized on its own, which is also what makes encoding fast: a text has far fewer *distinct*
chunks than chunks (Tiny Shakespeare: 297,833 chunks, 15,057 distinct), and each distinct chunk
is tokenized once and remembered.

::

    from micrograd_plus.data import BPETokenizer, load_shakespeare
    text = load_shakespeare()
    tok = BPETokenizer.train(text, vocab_size=1024)     # 768 merges on top of the 256 bytes
    ids = tok.encode("ROMEO: But soft!")                # int64 array: 5 tokens for 16 characters
    tok.decode(ids)                                     # 'ROMEO: But soft!' exactly
    [tok.token_text(i) for i in ids]                    # the pieces: 'ROMEO', ':', ' But', ' soft', '!'
    tok.save("bpe.json"); BPETokenizer.load("bpe.json")

GPT-2's own vocabulary comes as two files, ``vocab.json`` (token -> id) and ``merges.txt`` (one
merge per line, in order); :meth:`BPETokenizer.from_gpt2_files` reads them, so a user who has them
tokenizes exactly as GPT-2 does. In those files a token is written as text, one printable character
per byte (:func:`bytes_to_unicode`: the byte for a space is written ``"Ġ"``), because the files are
JSON and text and raw bytes such as a newline or half a UTF-8 character cannot stand in them as they are.
"""

import heapq
import json
import os
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import regex  # like `re`, plus the Unicode classes \p{L} (any letter) and \p{N} (any digit) GPT-2's pattern needs

from micrograd_plus.data._files import DataError

__all__ = ["BPETokenizer", "GPT2_SPLIT_PATTERN", "bytes_to_unicode", "split_text", "check_split_pattern"]

#: GPT-2's pre-split pattern, tried left to right at each position: the English contractions
#: (``'s``, ``'t``, ...); an optional space and a run of letters; an optional space and a run of
#: digits; an optional space and a run of anything else that is not white space; and white space
#: (a run that is not followed by a non-space, so that the last space before a word goes with the word).
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

FORMAT = "micrograd_plus.bpe/1"

#: A text every usable split pattern must cut into pieces that join back to it, quickly: upper and
#: lower case, digits, punctuation, runs of spaces and line breaks, accents, CJK, an emoji, and a
#: 44-letter word followed by what a letter pattern does not match (where a pathological pattern,
#: one that backtracks exponentially, never returns).
PROBE_TEXT = ("ROMEO: But soft, what light! 'Tis 12 o'clock -- they'll say \"no\".\n\n  \tÇa va? 日本語 🙂 "
              "Honorificabilitudinitatibusfloccinaucinihilipilification!" + " x" * 8 + "\r\n")
#: Seconds a split pattern may take on :data:`PROBE_TEXT` (GPT-2's takes well under a millisecond).
PROBE_SECONDS = 0.5


def check_split_pattern(pattern, where="pattern"):
    """Check a pre-split regular expression before it is used; returns it compiled.

    A pattern comes from a tokenizer file, so it is input like any other: it must be a non-empty
    string, compile, cut :data:`PROBE_TEXT` within :data:`PROBE_SECONDS` (the ``regex`` module's
    ``timeout``: a catastrophically backtracking pattern is refused instead of hanging), and its
    pieces must join back to the whole probe text -- a pattern with a capture group, or one that
    matches only lowercase letters, would silently drop text. Raises ValueError naming ``where``.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{where}: the split pattern must be a non-empty regular expression, got {pattern!r}")
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"{where}: the split pattern is not a regular expression ({exc})") from None
    try:
        pieces = compiled.findall(PROBE_TEXT, timeout=PROBE_SECONDS)
    except TimeoutError:
        raise ValueError(f"{where}: the split pattern {pattern[:60]!r} takes over {PROBE_SECONDS} s on a "
                         f"{len(PROBE_TEXT)}-character probe text (it backtracks without end); refusing it") from None
    joined = "".join(p if isinstance(p, str) else "".join(p) for p in pieces)
    if joined != PROBE_TEXT:
        why = "it has a capture group" if compiled.groups else "its pieces do not cover the whole text"
        raise ValueError(f"{where}: the split pattern {pattern[:60]!r} would lose text ({why}: "
                         f"{PROBE_TEXT[:28]!r}... comes back as {joined[:28]!r}...); a pattern must match every character")
    return compiled


def bytes_to_unicode():
    """GPT-2's table from the 256 byte values to 256 printable characters: ``{byte: str}``.

    The 188 bytes that already are printable Latin-1 characters (``!`` .. ``~``, ``¡`` .. ``¬``,
    ``®`` .. ``ÿ``) stand for themselves; the other 68 (control characters, the space, ...) get the
    characters from U+0100 on, in byte order: the space (byte 32) becomes ``"Ġ"`` (U+0120), the
    newline ``"Ċ"``. A token's bytes written through this table are what ``vocab.json`` and
    ``merges.txt`` contain.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


_BYTE_TO_CHAR = bytes_to_unicode()
_CHAR_TO_BYTE = {c: b for b, c in _BYTE_TO_CHAR.items()}
#: The 256 single bytes in GPT-2's id order (its ids 0..255): sorted by their characters in
#: :func:`bytes_to_unicode`, so ``"!"`` (byte 33) is id 0 and the space (``"Ġ"``) is id 220.
GPT2_BYTE_ORDER = tuple(_CHAR_TO_BYTE[c] for c in sorted(_CHAR_TO_BYTE))


def _to_file_text(token_bytes):
    """A token's bytes -> its text in GPT-2's files (one printable character per byte)."""
    return "".join(_BYTE_TO_CHAR[b] for b in token_bytes)


def _split_checked(compiled, text):
    """``compiled.findall(text)``, with a time limit that grows with the text (a second plus ten per
    megabyte) and a check that the pieces cover the text (a pattern can pass the probe text and
    still skip characters of another): ValueError otherwise, never a hang or a silent loss."""
    try:
        pieces = compiled.findall(text, timeout=1.0 + 1e-5 * len(text))
    except TimeoutError:
        raise ValueError(f"the split pattern {compiled.pattern[:60]!r} took too long on a {len(text):,}-character "
                         "text (it backtracks without end); use GPT-2's pattern") from None
    if sum(len(p) for p in pieces) != len(text) or (pieces and not isinstance(pieces[0], str)):
        raise ValueError(f"the split pattern {compiled.pattern[:60]!r} does not match every character of the text "
                         "(text would be lost); use GPT-2's pattern")
    return pieces


def split_text(text, pattern=GPT2_SPLIT_PATTERN):
    """Cut text into the chunks that BPE tokenizes one by one: ``str -> list[str]``.

    Joining the chunks gives back the text exactly. With GPT-2's pattern,
    ``split_text("Hello world, it's 2024!")`` is
    ``['Hello', ' world', ',', ' it', "'s", ' 2024', '!']``.
    """
    return regex.findall(pattern, text)


def _merge(ids, pair, new_id):
    """Replace every occurrence of ``pair`` in ``ids`` (left to right) by ``new_id``: a new list."""
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_train_arguments(text, vocab_size):
    """:meth:`BPETokenizer.train`'s input checks: a str of valid UTF-8, and a vocab_size >= 256."""
    if not isinstance(text, str):
        raise TypeError(f"BPETokenizer.train expects a str, got {type(text).__name__}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 256:
        raise ValueError(f"BPETokenizer.train: vocab_size must be an int >= 256 (the single bytes), got {vocab_size!r}")
    _check_utf8(text)


def _progress_bar(merges, progress):
    """A progress bar over ``merges`` merges (``progress=None``: only on a terminal, and not when
    ``MICROGRAD_PLUS_NO_PROGRESS`` is set -- the rule of :mod:`micrograd_plus.train.progress`,
    which data cannot import)."""
    # tqdm's plain text bar, imported here (only training needs it). Not tqdm.auto: in a Jupyter
    # kernel without ipywidgets that prints a warning to stderr even when the bar is hidden.
    from tqdm import tqdm

    if progress is None:
        quiet = os.environ.get("MICROGRAD_PLUS_NO_PROGRESS", "").strip().lower() in ("1", "true", "yes", "on")
        progress = not quiet and sys.stderr is not None and sys.stderr.isatty()
    return tqdm(total=merges, desc="bpe train", unit="merge", disable=not progress)


class _PairCounts:
    """The counts of adjacent token pairs over a pre-split text, kept up to date as pairs merge.

    Identical chunks are counted once with their number of occurrences (" the" is one chunk seen
    5,000+ times, not 5,000 chunks). ``where`` indexes pair -> the chunks it occurs in, so a merge
    touches only those; a heap hands out the commonest pair instead of a recount per merge.
    """

    def __init__(self, chunks):
        chunk_counts = Counter(chunks)  # {chunk: occurrences}
        byte_id = {b: i for i, b in enumerate(GPT2_BYTE_ORDER)}
        self.words = [[byte_id[b] for b in chunk.encode("utf-8")] for chunk in chunk_counts]  # each distinct chunk as ids
        self.counts = list(chunk_counts.values())  # how often each of them occurs
        self.pair_counts = defaultdict(int)  # pair -> occurrences in the whole text
        self.where = defaultdict(set)  # pair -> the chunks it occurs in
        for w, (ids, n) in enumerate(zip(self.words, self.counts)):
            for pair in zip(ids, ids[1:]):
                self.pair_counts[pair] += n
                self.where[pair].add(w)
        # a max-heap by count (negated for heapq), ties to the smaller pair; entries go stale
        # when a count changes, and a stale entry is recognised (its count differs) and dropped
        self.heap = [(-n, pair) for pair, n in self.pair_counts.items()]
        heapq.heapify(self.heap)

    def commonest(self):
        """The pair that occurs most often (ties: the smaller ids), or None when no pair is left."""
        while self.heap:
            neg, pair = heapq.heappop(self.heap)
            if self.pair_counts.get(pair, 0) == -neg and neg != 0:
                return pair
        return None  # (stale entries were dropped on the way)

    def merge(self, pair, new):
        """Replace ``pair`` by the token ``new`` in every chunk that holds it, and update the counts."""
        touched = set()
        for w in self.where.pop(pair):
            old = self.words[w]
            ids = _merge(old, pair, new)
            if len(ids) == len(old):
                continue  # the index may name chunks that no longer contain the pair
            n = self.counts[w]
            for p in zip(old, old[1:]):  # take the chunk's old pairs out ...
                self.pair_counts[p] -= n
                touched.add(p)
            for p in zip(ids, ids[1:]):  # ... and its new pairs in
                self.pair_counts[p] += n
                self.where[p].add(w)
                touched.add(p)
            self.words[w] = ids
        for p in touched:
            if self.pair_counts[p] > 0:
                heapq.heappush(self.heap, (-self.pair_counts[p], p))
            else:
                del self.pair_counts[p]


class BPETokenizer:
    """A byte-level BPE tokenizer: text <-> integer token ids, as GPT-2 does it.

    Usually made with :meth:`train`, :meth:`load` or :meth:`from_gpt2_files` rather than directly.

    Args:
        vocab: a list of ``bytes``, one per token id: ``vocab[i]`` is what token ``i`` stands for.
            The single bytes should all be there (a text containing a missing one cannot be
            encoded); tokens must be distinct, except special tokens.
        merges: the learned merges in the order they were learned, as pairs of token ids
            ``(a, b)``; merging them gives the token whose bytes are ``vocab[a] + vocab[b]``,
            which must be in ``vocab``.
        pattern: the pre-split regular expression (default: GPT-2's).
        special_tokens: ``{text: id}`` for tokens that no text encodes to (GPT-2's
            ``"<|endoftext|>"``, which marks a document boundary); :meth:`decode` prints their text.

    Attributes:
        vocab, merges, pattern, special_tokens: as given.
        vocab_size: the number of token ids.
    """

    def __init__(self, vocab, merges, pattern=GPT2_SPLIT_PATTERN, special_tokens=None):
        self.vocab = [bytes(t) for t in vocab]
        self.special_tokens = dict(special_tokens or {})
        self.pattern = pattern
        self._split = check_split_pattern(pattern, "BPETokenizer")
        V = len(self.vocab)
        special_ids = set(self.special_tokens.values())
        for text, i in self.special_tokens.items():
            if not 0 <= i < V:
                raise ValueError(f"BPETokenizer: special token {text!r} has id {i}, outside 0..{V - 1}")
        # bytes -> id for every ordinary token (the ones text can encode to)
        self._id_of = {}
        for i, t in enumerate(self.vocab):
            if i in special_ids:
                continue
            if not t:
                raise ValueError(f"BPETokenizer: token {i} is empty")
            if t in self._id_of:
                raise ValueError(f"BPETokenizer: tokens {self._id_of[t]} and {i} are the same bytes {t!r}")
            self._id_of[t] = i
        # byte value -> the id of its one-byte token (-1 if the vocabulary lacks it)
        self._byte_ids = [self._id_of.get(bytes([b]), -1) for b in range(256)]
        # (a, b) -> (rank, id of a+b): encode applies the lowest-ranked (earliest learned) pair first
        self.merges = []
        self._ranks = {}
        for rank, (a, b) in enumerate(merges):
            a, b = int(a), int(b)
            if not (0 <= a < V and 0 <= b < V) or a in special_ids or b in special_ids:
                raise ValueError(f"BPETokenizer: merge #{rank} ({a}, {b}) names a token id that is not an ordinary token")
            new = self._id_of.get(self.vocab[a] + self.vocab[b])
            if new is None:
                raise ValueError(
                    f"BPETokenizer: merge #{rank} ({a}, {b}) makes {self.vocab[a] + self.vocab[b]!r}, "
                    "which is not in the vocabulary"
                )
            self.merges.append((a, b))
            self._ranks.setdefault((a, b), (rank, new))
        self._cache = {}

    # ---- training ------------------------------------------------------------------------------

    @classmethod
    def train(cls, text, vocab_size, pattern=GPT2_SPLIT_PATTERN, progress=None):
        """Learn a vocabulary of ``vocab_size`` tokens from ``text``.

        The 256 single bytes come first (ids 0..255, numbered as GPT-2 numbers them:
        :data:`GPT2_BYTE_ORDER`), then one token per merge, commonest pair first. Ties go to the
        pair with the smaller ids, so the same text always gives the same tokenizer -- and the same
        one as Hugging Face's ``tokenizers`` library trains (tested).

        How it stays fast (1,024 tokens from Tiny Shakespeare in about 2 seconds): the text is
        pre-split, and identical chunks are counted once with their number of occurrences
        (" the" is one chunk seen 5,000+ times, not 5,000 chunks). The pair counts are kept up to
        date as merges happen -- a merge only touches the chunks that contain the pair, found
        through an index from pair to chunks -- and a heap hands out the commonest pair, instead
        of the whole text being recounted for every merge.

        Args:
            text: the training text (``str``).
            vocab_size: the number of tokens wanted, >= 256. If the text runs out of pairs
                first (a short text), the vocabulary is smaller.
            pattern: the pre-split regular expression.
            progress: show a progress bar (``None``: only when stderr is a terminal and
                ``MICROGRAD_PLUS_NO_PROGRESS`` is not set, as for the training loops).

        Returns:
            a :class:`BPETokenizer`.
        """
        _check_train_arguments(text, vocab_size)
        chunks = _split_checked(check_split_pattern(pattern, "BPETokenizer.train"), text)
        pairs = _PairCounts(chunks)  # every pair's count over the whole text, kept up to date
        vocab = [bytes([b]) for b in GPT2_BYTE_ORDER]  # ids 0..255: the single bytes, as GPT-2 numbers them
        id_of = {t: i for i, t in enumerate(vocab)}
        merges = []
        with _progress_bar(vocab_size - 256, progress) as bar:
            while len(vocab) < vocab_size:
                pair = pairs.commonest()
                if pair is None:
                    break  # a short text ran out of pairs
                merged = vocab[pair[0]] + vocab[pair[1]]
                new = id_of.get(merged)  # the same bytes can be reached by two merges: then reuse the id
                if new is None:
                    new = len(vocab)
                    vocab.append(merged)
                    id_of[merged] = new
                    bar.update(1)
                merges.append(pair)
                pairs.merge(pair, new)
        return cls(vocab, merges, pattern=pattern)

    # ---- encoding and decoding ------------------------------------------------------------------

    @property
    def vocab_size(self):
        """The number of token ids (the width of a language model's output distribution)."""
        return len(self.vocab)

    def __len__(self):
        return self.vocab_size

    def _encode_chunk(self, chunk):
        """One pre-split chunk -> its token ids (a list), replaying the merges earliest first."""
        ids = [self._byte_ids[b] for b in chunk.encode("utf-8")]
        if -1 in ids:
            missing = chunk.encode("utf-8")[ids.index(-1)]
            raise ValueError(f"byte 0x{missing:02x} (in {chunk!r}) has no token in this vocabulary")
        never = (len(self.merges), -1)
        while len(ids) >= 2:
            # of all neighbouring pairs, the one that was merged earliest in training
            rank, new = min(self._ranks.get(p, never) for p in zip(ids, ids[1:]))
            if new == -1:
                break  # no pair left that has a merge
            ids = _merge(ids, self.merges[rank], new)
        return ids

    def encode(self, text):
        """``str`` -> ``int64 (N,)`` array of token ids; ``decode`` gives the text back exactly.

        Each distinct pre-split chunk is tokenized once and remembered (up to 100,000 of them),
        so long texts encode in about a second per megabyte. Special tokens are not produced:
        ``"<|endoftext|>"`` in the text is encoded as the characters it is made of.
        Raises :class:`ValueError` for text that is not valid Unicode (a lone surrogate).
        """
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        _check_utf8(text)
        out = []
        cache = self._cache
        for chunk in _split_checked(self._split, text):
            ids = cache.get(chunk)
            if ids is None:
                if len(cache) >= 100_000:
                    cache.clear()
                ids = cache[chunk] = self._encode_chunk(chunk)
            out.extend(ids)
        return np.array(out, dtype=np.int64)

    def decode_bytes(self, ids):
        """Token ids (a list or integer array of shape (N,)) -> the ``bytes`` they stand for."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return b""
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"decode expects integer ids, got dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= self.vocab_size)
        if bad.any():
            pos = int(np.argmax(bad))
            raise ValueError(f"id {int(ids[pos])} at position {pos} is outside the vocabulary 0..{self.vocab_size - 1}")
        return b"".join([self.vocab[i] for i in ids.tolist()])

    def decode(self, ids):
        """Token ids (shape (N,)) -> ``str``.

        A sequence cut in the middle of a character's bytes (possible: a model can sample the
        first byte of an emoji and stop) shows U+FFFD, the replacement character, there.
        """
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_text(self, i):
        """The text of token ``i`` on its own, e.g. ``" king"`` (bytes that are part of a
        character show as U+FFFD)."""
        return self.decode([i])

    def token_id(self, piece):
        """The id of the token that is exactly ``piece`` (a ``str``), or None if there is none."""
        if piece in self.special_tokens:
            return self.special_tokens[piece]
        return self._id_of.get(piece.encode("utf-8"))

    # ---- files --------------------------------------------------------------------------------

    def to_dict(self):
        """A JSON-serialisable description (what :meth:`save` writes and checkpoints store).

        Its ``vocab`` and ``merges`` are GPT-2's ``vocab.json`` and ``merges.txt`` in one object:
        each token written as text through :func:`bytes_to_unicode`, each merge as the two
        tokens' texts with a space between.
        """
        special_ids = {i: s for s, i in self.special_tokens.items()}
        vocab = {}
        for i, t in enumerate(self.vocab):
            vocab[special_ids[i] if i in special_ids else _to_file_text(t)] = i
        merges = [f"{_to_file_text(self.vocab[a])} {_to_file_text(self.vocab[b])}" for a, b in self.merges]
        return {
            "type": "bpe",
            "format": FORMAT,
            "pattern": self.pattern,
            "special_tokens": dict(self.special_tokens),
            "vocab": vocab,
            "merges": merges,
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a tokenizer from :meth:`to_dict`'s output (checked: a damaged one raises ValueError)."""
        if not isinstance(d, dict):
            raise DataError(f"not a BPETokenizer description: a JSON {type(d).__name__}, not an object")
        if isinstance(d.get("model"), dict) and "version" in d:
            raise DataError("this is a Hugging Face tokenizers file (tokenizer.json), not a BPETokenizer description; "
                            "read its vocab.json + merges.txt with BPETokenizer.from_gpt2_files")
        if d.get("type") != "bpe" or d.get("format") != FORMAT:
            raise DataError(f"not a BPETokenizer description: 'type' is {d.get('type')!r} and 'format' is "
                            f"{d.get('format')!r} (expected 'bpe' and {FORMAT!r})")
        for key, kind in (("pattern", str), ("special_tokens", dict), ("vocab", dict), ("merges", list)):
            if not isinstance(d.get(key), kind):
                raise DataError(f"BPETokenizer description: {key!r} is missing or not a {kind.__name__}")
        try:
            check_split_pattern(d["pattern"], "BPETokenizer description: 'pattern'")
        except ValueError as exc:
            raise DataError(str(exc)) from None
        for text, i in d["special_tokens"].items():
            if d["vocab"].get(text) != i or isinstance(i, bool):
                raise DataError(f"BPETokenizer description: special token {text!r} has id {i!r} in 'special_tokens' "
                                f"but {d['vocab'].get(text)!r} in 'vocab'")
        return cls._from_file_tables(d["vocab"], d["merges"], d["pattern"], set(d["special_tokens"]), "the description")

    def save(self, path):
        """Write the tokenizer to ``path`` as JSON (atomically: a crash leaves no half-written file)."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise IsADirectoryError(f"cannot save the tokenizer as {path}: it is a directory")
        if not path.parent.is_dir():
            raise NotADirectoryError(f"cannot save the tokenizer as {path}: {path.parent} is not a directory")
        data = json.dumps(self.to_dict(), ensure_ascii=False, indent=0)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by :meth:`save`; a missing or damaged file raises naming it."""
        path = Path(path).expanduser()
        _check_file(path, "tokenizer file")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a BPE tokenizer file (not valid JSON: {exc})") from None
        except RecursionError:
            raise DataError(f"{path}: not a BPE tokenizer file (JSON nested too deeply)") from None
        try:
            return cls.from_dict(d)
        except ValueError as exc:
            raise DataError(f"{path}: {exc}") from None

    @classmethod
    def from_gpt2_files(cls, vocab_json, merges_txt):
        """Read GPT-2's own tokenizer files: ``vocab.json`` and ``merges.txt``.

        (OpenAI's originals are called ``encoder.json`` and ``vocab.bpe``; the contents are the same.)
        ``vocab.json`` maps each token, written through :func:`bytes_to_unicode`, to its id;
        ``merges.txt`` has a ``#version`` line and then one merge per line, earliest first, as the
        two tokens separated by a space. A token that is neither a single byte nor made by a merge
        (GPT-2's ``"<|endoftext|>"``) is a special token.
        """
        vocab_json, merges_txt = Path(vocab_json).expanduser(), Path(merges_txt).expanduser()
        _check_file(vocab_json, "GPT-2 tokenizer file (vocab.json)")
        _check_file(merges_txt, "GPT-2 tokenizer file (merges.txt)")
        try:
            vocab = json.loads(vocab_json.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise DataError(f"{vocab_json}: not a vocab.json (not valid JSON: {exc})") from None
        if not isinstance(vocab, dict):
            raise DataError(f"{vocab_json}: not a vocab.json (expected an object of token -> id, "
                            f"got a JSON {type(vocab).__name__})")
        try:
            lines = merges_txt.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{merges_txt}: not a merges.txt (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} "
                            f"at offset {exc.start})") from None
        merges = [line for line in lines if line.strip() and not line.startswith("#version")]
        made = {line.replace(" ", "", 1) for line in merges}
        singles = set(_BYTE_TO_CHAR.values())
        special = {t for t in vocab if t not in singles and t not in made}
        try:
            return cls._from_file_tables(vocab, merges, GPT2_SPLIT_PATTERN, special, f"{vocab_json} + {merges_txt}")
        except ValueError as exc:
            raise DataError(f"{vocab_json} + {merges_txt}: {exc}") from None

    @classmethod
    def _from_file_tables(cls, vocab, merges, pattern, special, where):
        """Build from GPT-2-style tables: ``vocab`` {file text: id}, ``merges`` ["a b", ...]."""
        V = len(vocab)
        bad = [(t, i) for t, i in vocab.items() if not isinstance(i, int) or isinstance(i, bool)]
        if bad:
            raise DataError(f"vocab: token {bad[0][0]!r} has the id {bad[0][1]!r}, not an integer")
        ids = sorted(vocab.values())
        if ids != list(range(V)):
            dups = [i for i, n in Counter(ids).items() if n > 1]
            outside = [i for i in ids if not 0 <= i < V]
            why = (f"id {dups[0]} is given to two tokens" if dups else
                   f"id {outside[0]} is outside 0..{V - 1}" if outside else "")
            raise DataError(f"vocab: the ids must be the integers 0..V-1 (V={V}), each once; {why}".rstrip("; "))
        tokens = [b""] * V
        specials = {}
        for text, i in vocab.items():
            if text in special:
                specials[text] = i
                tokens[i] = text.encode("utf-8")
            else:
                try:
                    tokens[i] = bytes(_CHAR_TO_BYTE[c] for c in text)
                except KeyError as exc:
                    raise DataError(f"token {text!r} (id {i}) has the character {exc.args[0]!r}, "
                                     "which is not one of GPT-2's 256 byte characters") from None
        pairs = []
        for n, line in enumerate(merges):
            if not isinstance(line, str):
                raise DataError(f"merge #{n} {line!r} is not a string \"a b\" of two tokens")
            parts = line.split(" ")
            if len(parts) != 2 or parts[0] not in vocab or parts[1] not in vocab:
                unknown = [p for p in parts if p not in vocab]
                why = (f"{unknown[0]!r} is not a token of the vocabulary" if len(parts) == 2 else
                       f"it has {len(parts)} parts")
                raise DataError(f"merge #{n} {line!r} is not two tokens of the vocabulary separated by a space ({why})")
            pairs.append((vocab[parts[0]], vocab[parts[1]]))
        return cls(tokens, pairs, pattern=pattern, special_tokens=specials)

    def __repr__(self):
        return f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"


def _check_file(path, what):
    """Raise FileNotFoundError / IsADirectoryError naming ``path`` unless it is a readable file."""
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")


def _check_utf8(text):
    """Raise ValueError naming the first character that UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the text has a lone surrogate U+{ord(text[exc.start]):04X} at position {exc.start}, "
            "which is not a character and has no UTF-8 bytes"
        ) from None
