"""The one rule every ``micrograd-plus`` command follows when it writes a file.

A command writes only the files it names itself (``attention.png``, ``bpe.json``, the files of a
Hugging Face export), and:

1. **Nothing that exists is replaced without ``--force``**, and ``--force`` replaces only those
   named files: never a directory, never the other contents of a directory, never the file the
   command reads (its input), never anything through a symbolic link.
2. **Problems show before the work starts** (:func:`check_output`): an empty path, a directory
   where a file goes, a missing or read-only directory, an existing file without ``--force``, a
   link, the command's own input -- each one line naming the flag and the path.
3. **Every file appears whole or not at all** (:func:`~micrograd_plus._plumbing.atomic.atomic_write`: a
   temporary file beside it, then a rename), and several files of one output appear together
   (:func:`write_files`: all written first, then renamed with Ctrl-C and ``kill`` held off).
4. **Two commands writing one file**: the first one claims it (:func:`claim`, a lock file
   ``.NAME.lock`` beside it, locked with ``flock`` so that the kernel frees it when its process
   dies), the second one stops at once with one line naming the first one's pid.
5. **No leftovers**: on success, on an error, on Ctrl-C and on SIGTERM the temporary files go;
   those of a run killed with ``kill -9`` (``.NAME.XXXX.tmp``) are removed by the next command
   that claims the same file.
"""

import contextlib
import os
import signal
import stat
import tempfile
from pathlib import Path

from micrograd_plus._plumbing.atomic import _fsync_directory, _link_new, atomic_write

try:
    import fcntl
except ImportError:  # Windows: the claim is then an O_EXCL lock file only
    fcntl = None

__all__ = ["check_output", "check_output_dir", "check_picture", "PICTURE_FORMATS", "claim", "output_file", "write_files", "signals_held"]


def _refuse_link(flag, path):
    if path.is_symlink():
        raise FileExistsError(f"{flag} {path} is a symbolic link; micrograd-plus never writes through a link "
                              f"(give the real path, {os.path.realpath(path)})")


def check_output(path, force=False, flag="--out", inputs=(), make_parents=False):
    """Check, before any work, that the command may write the file ``path``; returns it as a Path.

    Refused with one line (an ``OSError`` or ``ValueError`` naming ``flag`` and the path): an empty
    path, a directory, a symbolic link, a path under a file or in a missing or read-only directory,
    a special file (a FIFO, a device), one of ``inputs`` (the files the command reads, even with
    ``force``), and an existing file unless ``force``. With ``make_parents`` a missing directory
    is fine if it can be made (the writer makes it).
    """
    if path is None or str(path).strip() == "":
        raise ValueError(f"{flag} must not be empty; give a file name")
    path = Path(path).expanduser()
    _refuse_link(flag, path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a directory; give the name of the file to write")
    parent = path.parent
    if make_parents and not parent.exists():
        check_output_dir(parent, flag)
        return path
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"{flag} {path} lies under {parent}, which is a file; choose another {flag}")
    if not parent.is_dir():
        raise NotADirectoryError(f"{flag} {path}: {parent} is not an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{flag} {path}: {parent} is not writable")
    for source in inputs:
        if source is not None and Path(source).exists() and path.exists() and os.path.samefile(path, source):
            raise FileExistsError(f"{flag} {path} is the file this command reads; choose another {flag}")
    if path.exists():
        if not stat.S_ISREG(path.stat().st_mode):
            raise FileExistsError(f"{flag} {path} exists and is not a regular file; choose another {flag}")
        if not force:
            raise FileExistsError(f"{flag} {path} already exists; choose another name, or pass --force to replace it")
    return path


#: The picture formats matplotlib writes without extra packages (a picture's suffix chooses one).
PICTURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp", "gif")


def check_picture(path, force=False, flag="--png", inputs=()):
    """:func:`check_output` for a picture: ``.png`` is added to a name without a suffix (as
    matplotlib would), and a suffix matplotlib cannot draw (``notes.txt``) is refused before any
    work rather than after it. Missing directories are fine (they are made)."""
    text = str(path)
    path = Path(text).expanduser() if text.strip() else text
    if isinstance(path, Path) and path.suffix == "" and not path.is_dir():
        path = path.with_name(path.name + ".png")
    path = check_output(path, force, flag, inputs=inputs, make_parents=True)
    if path.suffix.lower().lstrip(".") not in PICTURE_FORMATS:
        raise ValueError(f"{flag} {text}: cannot draw a {path.suffix} file; end the name with one of "
                         + ", ".join("." + f for f in PICTURE_FORMATS))
    return path


def check_output_dir(path, flag="--out"):
    """Check, before any work, that files can be written into the directory ``path`` (which may not
    exist yet: it will be made). Returns it as a Path; refuses an empty path, a file, a link, a path
    under a file and a read-only place, in one line naming ``flag``."""
    if path is None or str(path).strip() == "":
        raise ValueError(f"{flag} must not be empty; give a directory")
    path = Path(path).expanduser()
    _refuse_link(flag, path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path} is a file, not a directory; choose another {flag}")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{flag} {path} lies under {existing}, which is a file; choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{flag} {path} is not writable ({existing} is read-only); choose another {flag}")
    return path


# ---- claiming a file: one writer at a time -------------------------------------------------------


def _lock_path(path):
    return path.with_name(f".{path.name}.lock")


def _take_lock(path):
    """Lock ``.NAME.lock`` beside ``path``; returns its file descriptor or raises FileExistsError.

    ``flock`` is released by the kernel when the process dies, however it dies. The lock file is
    removed on release; a process that locked a file just removed by its previous holder sees that
    the name now points elsewhere (another inode) and tries again.
    """
    lock = _lock_path(path)
    for _ in range(10):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # its previous holder removed it between our open and our flock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            return fd
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"pid {holder}" if holder.isdigit() else "another process"
            raise FileExistsError(f"{path} is being written by another command ({who}); wait for it to finish "
                                  "or choose another output") from None
        except BaseException:
            os.close(fd)
            raise
    raise FileExistsError(f"cannot lock {lock}: it keeps being replaced by another process")


def _release_lock(path, fd):
    try:
        os.remove(_lock_path(path))  # while we still hold it: no one else can be using this inode
    except OSError:
        pass
    os.close(fd)


def _remove_leftovers(path):
    """Delete the temporary files a killed writer of ``path`` left (``.NAME.XXXX.tmp``); we hold its lock."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            leftover.unlink()
        except OSError:
            pass


@contextlib.contextmanager
def claim(*paths):
    """Hold the right to write ``paths`` for the duration of the ``with`` block.

    A second command claiming one of them meanwhile gets ``FileExistsError`` (one line, naming the
    first one's pid) before it has written anything. Leftover temporary files of an earlier writer
    that was killed are removed once the claim is held.
    """
    paths = sorted({Path(p) for p in paths})
    held = []
    try:
        for p in paths:
            held.append((p, _take_lock(p)))
            _remove_leftovers(p)
        yield
    finally:
        for p, fd in reversed(held):
            _release_lock(p, fd)


@contextlib.contextmanager
def output_file(path, force=False, mode="wb", flag="--out", inputs=(), make_parents=False):
    """Open the file ``path`` that a command writes, under the rule above: yields the open
    temporary file; when the block ends normally it becomes ``path``.

    The checks of :func:`check_output` are made again once the file is claimed (another command may
    have written it since), and without ``force`` the finished file is put in place only if the
    name is still free.
    """
    path = check_output(path, force, flag, inputs, make_parents)
    path.parent.mkdir(parents=True, exist_ok=True)
    with claim(path):
        check_output(path, force, flag, inputs)
        with _disk_errors(path, force), atomic_write(path, mode, overwrite=force) as f:
            yield f


@contextlib.contextmanager
def _disk_errors(path, force):
    """Turn an OSError of the disk (full, quota, I/O) while writing into one line naming ``path``."""
    try:
        yield
    except (FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError):
        raise  # already one line naming the path
    except OSError as exc:
        kept = "the file that was there is unchanged" if force and path.exists() else "nothing was written"
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}; {kept}") from None


@contextlib.contextmanager
def signals_held():
    """Hold off Ctrl-C, SIGTERM and SIGHUP for the block (delivered when it ends): a few renames
    that must all happen, or none, are not cut in the middle. Does nothing where Python cannot."""
    held = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP") else set())
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_files(directory, files, force=False, flag="--out"):
    """Write several files into ``directory`` as one output: all of them, or none.

    Args:
        directory: where they go; made (with its parents) if missing, and removed again if the
            write fails and it was made here.
        files: ``{name: bytes}``, plain file names (no directories).
        force: replace those of ``files`` that exist (only those: the directory's other files are
            never touched). Without it, any of them existing is an error before anything is written.

    Each file is written to a temporary file beside its place; once all are complete they are
    renamed into place one after the other with signals held off (:func:`signals_held`). Returns
    the directory as a Path.
    """
    directory = check_output_dir(directory, flag)
    targets = {name: directory / name for name in files}
    for name, target in targets.items():
        if Path(name).name != name:
            raise ValueError(f"write_files: {name!r} is not a plain file name")
        if target.exists() or target.is_symlink():
            check_output(target, force, flag)
    made = []
    missing = directory
    while not missing.exists():
        made.append(missing)
        missing = missing.parent
    directory.mkdir(parents=True, exist_ok=True)
    temporaries = {}
    try:
        with claim(*targets.values()), _disk_errors(directory, force):
            for name, target in targets.items():  # again, now that they are ours
                if target.exists() or target.is_symlink():
                    check_output(target, force, flag)
            for name, data in files.items():
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
                temporaries[name] = tmp
                with os.fdopen(fd, "wb") as f:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.chmod(tmp, 0o666 & ~umask)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            placed = []  # new files put where nothing was: taken back if a later one cannot be placed
            with signals_held():
                try:
                    for name, tmp in list(temporaries.items()):
                        if force:
                            os.replace(tmp, targets[name])
                        else:
                            _link_new(tmp, targets[name])
                            placed.append(targets[name])
                        del temporaries[name]
                except BaseException:
                    for target in placed:
                        with contextlib.suppress(OSError):
                            target.unlink()
                    raise
            _fsync_directory(directory)
    except BaseException:
        for tmp in temporaries.values():
            with contextlib.suppress(OSError):
                os.remove(tmp)
        for d in made:  # directories made here, innermost first, if still empty
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    return directory
