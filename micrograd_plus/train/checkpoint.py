"""Checkpoints: a training run's weights and state, saved so that it can stop and carry on.

A checkpoint is one numpy ``.npz`` file (a zip of ``.npy`` arrays): every array you pass --
weights, optimiser moments -- under its name, plus a JSON string of metadata (step, epoch,
config, tokenizer, losses). Two properties matter more than the format:

* **Writing is atomic.** The new file is written to a temporary file in the same directory,
  flushed to disk (``fsync``), and only then renamed over the old one with :func:`os.replace`,
  which either fully happens or not at all. A crash, Ctrl-C or full disk while saving leaves
  the previous checkpoint exactly as it was.
* **Loading never runs code.** Arrays are read with ``allow_pickle=False``, and the metadata is
  JSON, not a pickle, so opening a checkpoint someone sent you is safe.

::

    save_checkpoint("run/ckpt.npz", model.state_dict(), {"step": 500, "val_loss": 1.93})
    arrays, meta = load_checkpoint("run/ckpt.npz")
"""

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

#: The name under which the metadata JSON is stored inside the ``.npz``.
META_KEY = "__meta__"


class CheckpointError(Exception):
    """A checkpoint cannot be written or read; the message names the file and the problem."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (also catchable as :class:`FileNotFoundError`)."""


def save_checkpoint(path, arrays, meta):
    """Atomically write ``arrays`` and ``meta`` to the ``.npz`` file at ``path``.

    Args:
        path: the file to (over)write, written exactly as given (no suffix is added).
        arrays: ``dict[str, np.ndarray]``; numeric or bool arrays (anything that does not need
            pickle). The names are kept as is, e.g. ``"blocks.0.attn.weight"``.
        meta: a JSON-serialisable dict (numbers, strings, lists, dicts, bools, None).

    The previous file at ``path`` is replaced only once the new one is completely on disk.
    """
    path = Path(path)
    if not isinstance(arrays, dict):
        raise TypeError(f"save_checkpoint: arrays must be a dict of name -> array, got {type(arrays).__name__}")
    checked = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save_checkpoint: array names must be non-empty strings, got {name!r}")
        if name == META_KEY:
            raise ValueError(f"save_checkpoint: the array name {META_KEY!r} is reserved for the metadata")
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise TypeError(
                f"save_checkpoint: array {name!r} has dtype object, which would need pickle; "
                "store numbers in arrays and everything else in meta"
            )
        checked[name] = value
    try:
        meta_json = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_checkpoint: meta must be JSON-serialisable: {exc}") from None
    checked[META_KEY] = np.frombuffer(meta_json.encode("utf-8"), dtype=np.uint8)

    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **checked)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them "the" file
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never a mix
    except BaseException:  # including KeyboardInterrupt: never leave the temporary file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory):
    """Persist the rename itself (the directory entry); not possible on every platform."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``(arrays, meta)``: a ``dict[str, np.ndarray]`` and the metadata dict.

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CheckpointError: the file is truncated, corrupted, or not a micrograd_plus checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not a checkpoint (a single .npy array, not an .npz archive)")
        with npz:
            arrays = {name: npz[name] for name in npz.files}  # reads (and CRC-checks) every member
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint (truncated or corrupted?): {exc}") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: not a micrograd_plus checkpoint (no {META_KEY!r} entry)")
    meta_bytes = arrays.pop(META_KEY)
    try:
        meta = json.loads(meta_bytes.astype(np.uint8).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the metadata is not valid JSON: {exc}") from None
    return arrays, meta
