"""Checkpoints: a training run's weights and state, saved so that it can stop and carry on.

A checkpoint is one numpy ``.npz`` file (a zip of ``.npy`` arrays): every array you pass --
weights, optimiser moments -- under its name, plus a JSON string of metadata (step, config,
tokenizer, losses). Three properties matter more than the format:

* **Writing is atomic.** The new file is written to a temporary file with a unique name in the
  same directory, flushed to disk (``fsync``), and only then renamed over the old one with
  :func:`os.replace`, which either fully happens or not at all. A crash, Ctrl-C, ``kill -9`` or
  full disk while saving leaves the previous checkpoint exactly as it was, and two processes
  never write to the same temporary file.
* **Loading never runs code.** Arrays are read with ``allow_pickle=False``, and the metadata is
  JSON, not a pickle, so opening a checkpoint someone sent you is safe.
* **Loading never trusts sizes.** Each array's header (its shape and dtype) is checked against
  the bytes really stored before anything is allocated, so a damaged or hostile file claiming a
  terabyte-sized array is an error, not an out-of-memory crash. Members must be stored, not
  compressed (this library never compresses them; a 1 MB compressed member can inflate to a
  gigabyte), and no bigger than the file; the metadata JSON may nest at most
  :data:`MAX_META_DEPTH` deep (a file nested 100,000 deep is refused, not a RecursionError).

::

    save_checkpoint("run/ckpt.npz", model.state_dict(), {"step": 500, "val_loss": 1.93})
    arrays, meta = load_checkpoint("run/ckpt.npz")

Every failure is a :class:`~micrograd_plus.train.errors.CheckpointError` naming the file.
"""

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from micrograd_plus._plumbing.atomic import atomic_write
from micrograd_plus._plumbing.configs import loads_bounded
from micrograd_plus.train.config import upgrade_names
from micrograd_plus.train.errors import CheckpointError, CheckpointNotFoundError

__all__ = ["save_checkpoint", "load_checkpoint", "load_training_checkpoint", "replace_file", "strip_prefix", "meta_field", "first_non_finite",
           "META_KEY"]

#: The name under which the metadata JSON is stored inside the ``.npz``.
META_KEY = "__meta__"
#: How deep the metadata's objects and lists may nest (a run's metadata uses 5 levels).
MAX_META_DEPTH = 64


def replace_file(path, write):
    """Create or replace the file ``path`` atomically: ``write(f)`` fills a fresh temporary file.

    This is :func:`micrograd_plus._plumbing.atomic.atomic_write` (a unique temporary name in the same
    directory, fsync, :func:`os.replace`; on any failure, Ctrl-C included, the temporary file is
    removed and ``path`` is left as it was), with ``OSError`` (full disk, read-only directory)
    turned into a :class:`CheckpointError` naming the file.
    """
    try:
        with atomic_write(path) as f:
            write(f)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CheckpointError(f"cannot write {path}: {reason}; the previous version of the file is kept") from None


def save_checkpoint(path, arrays, meta):
    """Atomically write ``arrays`` and ``meta`` to the ``.npz`` file at ``path``.

    Args:
        path: the file to (over)write, written exactly as given (no suffix is added).
        arrays: ``dict[str, np.ndarray]``; numeric or bool arrays (anything that does not need
            pickle). The names are kept as is, e.g. ``"transformer.h.0.attn.c_attn.weight"``.
        meta: a JSON-serialisable dict (numbers, strings, lists, dicts, bools, None).

    The previous file at ``path`` is replaced only once the new one is completely on disk.
    Raises TypeError/ValueError for arguments that cannot be stored (before writing anything)
    and :class:`CheckpointError` when the disk refuses (full, read-only).
    """
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
        meta_json = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_checkpoint: meta must be JSON-serialisable (and finite): {exc}") from None
    checked[META_KEY] = np.frombuffer(meta_json.encode("utf-8"), dtype=np.uint8)
    replace_file(path, lambda f: np.savez(f, **checked))


def _read_member(zf, info, path):
    """One ``.npy`` member of the archive as an array, after checking its header against its size."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        header_len = f.tell()
    if dtype.hasobject:
        raise CheckpointError(f"{path}: array {info.filename!r} holds Python objects (dtype object), "
                              "which would need pickle to load; refusing")
    claimed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize if shape else dtype.itemsize
    stored = info.file_size - header_len
    if claimed != stored:
        raise CheckpointError(f"{path}: array {info.filename!r} claims shape {shape} of {dtype} "
                              f"({claimed:,} bytes) but the file stores {stored:,} bytes (damaged or forged)")
    data = zf.read(info)  # bounded by the real size; checks the member's CRC
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``(arrays, meta)``: a ``dict[str, np.ndarray]`` and the metadata dict, its settings under
        today's names (:func:`~micrograd_plus.train.config.upgrade_names`: a file written when the
        run's length was ``max_steps`` reads as ``max_iters``).

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CheckpointError: the file is truncated, corrupted, forged, or not a micrograd_plus checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        with open(path, "rb") as raw:
            if raw.read(6) == b"\x93NUMPY":
                raise CheckpointError(f"{path}: not a checkpoint (a single .npy array, not an .npz archive)")
        arrays = {}
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise CheckpointError(f"{path}: unexpected member {info.filename!r} (not a .npz of arrays)")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise CheckpointError(f"{path}: member {info.filename!r} is compressed (it would inflate to "
                                          f"{info.file_size:,} bytes); checkpoints of this library are never "
                                          "compressed, refusing it")
                if info.file_size > size or info.compress_size != info.file_size:
                    raise CheckpointError(f"{path}: member {info.filename!r} claims {info.file_size:,} bytes in a "
                                          f"{size:,}-byte file (damaged or forged)")
                arrays[info.filename[: -len(".npy")]] = _read_member(zf, info, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint (truncated or corrupted?): {exc}") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: not a micrograd_plus checkpoint (no {META_KEY!r} entry)")
    meta_bytes = arrays.pop(META_KEY)
    try:
        meta = loads_bounded(meta_bytes.astype(np.uint8).tobytes().decode("utf-8"), f"{path}: the metadata",
                             MAX_META_DEPTH)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: the metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the metadata is a JSON {type(meta).__name__}, not an object")
    return arrays, upgrade_names(meta)  # a file written before a setting was renamed reads as today's


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list",
               bool: "true or false"}


def meta_field(meta, key, kind, path, optional=False):
    """``meta[key]``, checked to be of ``kind`` (int, float, str, dict, list or bool).

    Raises a :class:`CheckpointError` naming the file and the field when it is missing or of the
    wrong type (``float`` accepts ints; ``int`` accepts neither bools nor floats). With
    ``optional=True`` a missing key or ``null`` gives None.
    """
    if key not in meta or (optional and meta[key] is None):
        if optional:
            return None
        raise CheckpointError(f"{path}: the metadata has no field {key!r} (not written by this version?)")
    value = meta[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise CheckpointError(f"{path}: metadata field {key!r} should be {_TYPE_NAMES.get(kind, kind.__name__)}, "
                              f"got {json.dumps(value)[:60]}")
    return float(value) if kind is float else value


def load_training_checkpoint(path, format, what):
    """:func:`load_checkpoint`, refusing a file that another kind of run wrote.

    Args:
        path: the checkpoint.
        format: the ``"format"`` its metadata must have, e.g. ``"micrograd_plus.gpt/2"``.
        what: how the error names the expected kind, e.g. ``"a GPT checkpoint"``.

    Returns ``(arrays, meta)``; a :class:`CheckpointError` naming the file and both formats otherwise.
    """
    arrays, meta = load_checkpoint(path)
    if meta.get("format") != format:
        raise CheckpointError(f"{path}: not {what} (format {meta.get('format')!r}, expected {format!r})")
    return arrays, meta


def strip_prefix(arrays, prefix):
    """The arrays whose names start with ``prefix + "."``, with that removed.

    A training checkpoint stores the model's ``state_dict`` under ``model.`` and the optimiser's
    under ``optim.``: ``strip_prefix(arrays, "model")`` gives back what ``model.load_state_dict``
    takes (``{"model.fc1.weight": w, "optim.0.step": s}`` -> ``{"fc1.weight": w}``).
    """
    start = prefix + "."
    return {name[len(start):]: value for name, value in arrays.items() if name.startswith(start)}


def first_non_finite(arrays):
    """The name of the first floating-point array in ``arrays`` holding a NaN or inf, or None."""
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return name
    return None
