"""Writing a file so that it is either the old file or the whole new one, never half of either.

A run can be interrupted at any moment (Ctrl-C, a full disk, a crash): a checkpoint, an
exported model or a figure written straight to its path would then be left truncated, and the
next run would read garbage. :func:`atomic_write` writes to a temporary file in the same
directory, flushes it to disk, and only then renames it onto the real path. A rename within one
directory is atomic, so a reader sees the old file or the new one; on any error (KeyboardInterrupt
included) the temporary file is removed and the old file is left as it was::

    with atomic_write("runs/mnist/curves.png") as f:
        fig.savefig(f, format="png")
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="wb", overwrite=True):
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Args:
        path: the file to (re)write; its directory is created if missing.
        mode: ``"wb"`` (bytes, the default) or ``"w"`` (text, UTF-8).
        overwrite: False: the finished file is put in place only if ``path`` still does not
            exist (a hard link, which fails if the name is taken: FileExistsError, and the
            temporary file is removed), so a file someone created meanwhile is never replaced.

    Yields:
        The open temporary file. When the ``with`` block ends normally the file is flushed,
        ``fsync``-ed and renamed onto ``path`` (:func:`os.replace`); when it raises, the
        temporary file is deleted and the exception goes on (an ``OSError`` such as a full disk
        included: the old file at ``path`` is kept as it was).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes files, mode 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # a unique name
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result is an ordinary file
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them "the" file
        if overwrite:
            os.replace(tmp, path)  # atomic: readers see the old file or the new one, never a mix
        else:
            _link_new(tmp, path)
    except BaseException:  # including KeyboardInterrupt: never leave the temporary file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(path.parent)


def _link_new(tmp, path):
    """Give the finished ``tmp`` the name ``path`` only if that name is free, then drop ``tmp``."""
    try:
        os.link(tmp, path)  # atomic, and fails with FileExistsError if the name is taken
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while it was being written (another program?); "
                              "it was left as it is") from None
    except OSError:  # a file system without hard links: check, then rename (a tiny race)
        if os.path.lexists(path):
            raise FileExistsError(f"{path} appeared while it was being written; it was left as it is") from None
        os.replace(tmp, path)
        return
    os.remove(tmp)


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
