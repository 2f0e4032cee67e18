"""Text for a character-level language model: load it, turn it into numbers, cut it into batches.

A language model reads a sequence of *tokens* and predicts the next one. Here a token is
simply one character, so the vocabulary is the set of distinct characters in the text
(65 for Tiny Shakespeare) and each character is represented by its index in that sorted set::

    from micrograd_plus.data import load_shakespeare, CharTokenizer, train_val_split, get_batch
    text = load_shakespeare()                    # 1,115,394 characters
    tok = CharTokenizer.from_text(text)          # tok.vocab_size == 65
    ids = tok.encode(text)                       # int64 (1115394,)
    train, val = train_val_split(ids)            # first 90% / last 10%
    x, y = get_batch(train, batch_size=12, block_size=64, generator=0)   # (12, 64) each
    tok.decode(x[0])                             # back to 64 characters of Shakespeare

``y`` is ``x`` shifted left by one: at every position the model sees the characters up to
there and is trained to predict the next one, so one (B, T) batch holds B*T training examples.
"""

import hashlib
from pathlib import Path

import numpy as np

from micrograd_plus.data._files import BUNDLED_DIR, DataError, cache_root, env_root, subdirs
from micrograd_plus.data.bpe import BPETokenizer
from micrograd_plus.random import get_generator

#: sha256 of the canonical Tiny Shakespeare ``input.txt`` (1,115,394 bytes, ASCII).
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

#: The bundled copy (a module attribute so that tests can point it elsewhere).
BUNDLED_SHAKESPEARE_DIR = BUNDLED_DIR / "tinyshakespeare"

_memory_cache = {}


def load_text(path):
    """Read a UTF-8 text file and return its contents as one ``str``.

    This is how you train on your own text: any UTF-8 file works (a leading byte-order mark,
    if any, is dropped). Raises :class:`FileNotFoundError` for a missing file and
    :class:`DataError` naming the file and byte offset for bytes that are not valid UTF-8.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"text file not found: {path}")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}: {exc.reason})"
        ) from None


def load_shakespeare(root=None):
    """Return Tiny Shakespeare (about 40,000 lines of the plays) as one ``str``.

    Looked for as ``input.txt`` in ``root`` (only there, when given; directly inside or in a
    ``tinyshakespeare/`` sub-directory), then in ``MICROGRAD_PLUS_DATA``, the bundled copy and
    the user cache. The file is verified against :data:`SHAKESPEARE_SHA256` before use
    (:class:`DataError` if it differs), then kept in memory for later calls.
    """
    if root is not None:
        dirs = subdirs(root, "tinyshakespeare")
    else:
        env = env_root()
        dirs = subdirs(env, "tinyshakespeare") if env is not None else []
        dirs += [Path(BUNDLED_SHAKESPEARE_DIR), cache_root() / "tinyshakespeare"]
    candidates = [d / "input.txt" for d in dirs]
    for path in candidates:
        if path.is_file():
            return _read_verified(path)
    raise FileNotFoundError("Tiny Shakespeare input.txt not found; looked for: " + ", ".join(map(str, candidates)))


def _read_verified(path):
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _memory_cache:
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHAKESPEARE_SHA256:
            raise DataError(
                f"{path}: checksum mismatch: sha256 is {digest}, Tiny Shakespeare's is {SHAKESPEARE_SHA256} "
                f"({len(raw):,} bytes; the original has 1,115,394)"
            )
        _memory_cache[key] = raw.decode("ascii")
    return _memory_cache[key]


class CharTokenizer:
    """Characters <-> integer ids: the simplest possible tokenizer.

    The vocabulary is a sorted list of distinct characters, :attr:`chars`; a character's id is
    its position in that list. Build one from the training text with :meth:`from_text`, and
    store it with the model (:meth:`to_dict`), because a different text gives different ids.

    Args:
        chars: the characters of the vocabulary (any iterable of single characters; duplicates
            are removed and the result sorted).
    """

    def __init__(self, chars):
        chars = sorted(set(chars))
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise TypeError(f"CharTokenizer: vocabulary entries must be single characters, got {c!r}")
        if not chars:
            raise ValueError("CharTokenizer: the vocabulary is empty")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}
        # Code points of the vocabulary, increasing (sorted str order is code-point order):
        # lets encode() look up a whole text at once with np.searchsorted.
        self._codes = np.array([ord(c) for c in chars], dtype=np.int64)

    @classmethod
    def from_text(cls, text):
        """The tokenizer whose vocabulary is every distinct character of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text expects a str, got {type(text).__name__}")
        return cls(text)

    @property
    def vocab_size(self):
        """Number of distinct tokens (the width of the model's output distribution)."""
        return len(self.chars)

    def __len__(self):
        return self.vocab_size

    def encode(self, text):
        """``str`` of length L -> ``int64 (L,)`` array of ids.

        Raises :class:`ValueError` naming the first character (and its position) that is not
        in the vocabulary.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        # (L,) code points; "surrogatepass" also lets through lone surrogates (e.g. from bad bytes)
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        ids = np.searchsorted(self._codes, codes)  # (L,) where each code would sit in the vocabulary
        ids_clipped = np.minimum(ids, self.vocab_size - 1)
        unknown = self._codes[ids_clipped] != codes  # (L,) True where the character is not in the vocabulary
        if unknown.any():
            pos = int(np.argmax(unknown))
            raise ValueError(
                f"character {text[pos]!r} (U+{ord(text[pos]):04X}) at position {pos} is not in the "
                f"vocabulary of {self.vocab_size} characters"
            )
        return ids.astype(np.int64)

    def decode(self, ids):
        """Ids (a list or integer array of shape (L,)) -> ``str`` of length L."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"decode expects integer ids, got dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= self.vocab_size)
        if bad.any():
            pos = int(np.argmax(bad))
            raise ValueError(f"id {int(ids[pos])} at position {pos} is outside the vocabulary 0..{self.vocab_size - 1}")
        return "".join([self.chars[i] for i in ids.tolist()])

    def decode_bytes(self, ids):
        """Ids (shape (L,)) -> the UTF-8 bytes of their text (as :meth:`BPETokenizer.decode_bytes`)."""
        return self.decode(ids).encode("utf-8")

    def token_text(self, i):
        """The text of token ``i``: one character."""
        return self.chars[i]

    def token_id(self, piece):
        """The id of the token that is exactly ``piece``, or None if there is none."""
        return self.stoi.get(piece)

    def to_dict(self):
        """A JSON-serialisable description, e.g. to store in a checkpoint's metadata."""
        return {"type": "char", "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d):
        """Rebuild a tokenizer from :meth:`to_dict`'s output (checked, so ids cannot silently shift)."""
        if not isinstance(d, dict) or d.get("type") != "char" or not isinstance(d.get("chars"), str):
            raise ValueError(f"not a CharTokenizer description: {d!r:.200}")
        tok = cls(d["chars"])
        if "".join(tok.chars) != d["chars"]:
            raise ValueError("CharTokenizer description: 'chars' must be distinct characters in sorted order")
        return tok

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def tokenizer_from_dict(d):
    """Rebuild a tokenizer from its ``to_dict()`` (what a checkpoint stores): a
    :class:`CharTokenizer` for ``{"type": "char", ...}``, a :class:`BPETokenizer` for ``{"type": "bpe", ...}``."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind == "char":
        return CharTokenizer.from_dict(d)
    if kind == "bpe":
        return BPETokenizer.from_dict(d)
    raise ValueError(f"not a tokenizer description (type {kind!r}; expected 'char' or 'bpe')")


def train_val_split(ids, val_fraction=0.1):
    """Split a token sequence into its first part for training and its last part for validation.

    The split is by position, not at random: validation text is text the model has never seen a
    neighbour of. With ``val_fraction=0.1``, Tiny Shakespeare gives 1,003,854 / 111,540 tokens.
    Works on arrays and on strings; returns ``(train, val)`` slices.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    n = len(ids)
    n_train = int(n * (1.0 - val_fraction))
    if n_train == 0 or n_train == n:
        raise ValueError(f"cannot split {n} tokens with val_fraction={val_fraction}: one part would be empty")
    return ids[:n_train], ids[n_train:]


def get_batch(ids, batch_size, block_size, generator=None):
    """Pick ``batch_size`` random windows of ``block_size`` tokens, and the tokens that follow.

    Args:
        ids: ``int (N,)`` token ids, N >= block_size + 1.
        batch_size: B, the number of windows.
        block_size: T, the context length.
        generator: a :class:`numpy.random.Generator`, an int seed, or ``None`` for the library
            default (see :mod:`micrograd_plus.random`).

    Returns:
        ``(x, y)``, both ``int64 (B, T)``, with ``y[b, t] == x[b, t + 1]`` inside a window:
        ``y[b, t]`` is the token that follows ``x[b, :t+1]``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"get_batch expects a 1-D integer array of token ids, got shape {ids.shape} dtype {ids.dtype}")
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"get_batch: {name} must be a positive int, got {value!r}")
    if len(ids) < block_size + 1:
        raise ValueError(
            f"get_batch: the data has {len(ids)} tokens, fewer than block_size + 1 = {block_size + 1} "
            f"(a window of {block_size} plus the token after it)"
        )
    rng = get_generator(generator)
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)  # (B,) window starts
    offsets = np.arange(block_size)  # (T,)
    x = ids[starts[:, None] + offsets].astype(np.int64)  # (B, T)
    y = ids[starts[:, None] + offsets + 1].astype(np.int64)  # (B, T) the next tokens
    return x, y
