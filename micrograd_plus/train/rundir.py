"""The run directory: where a training run keeps its checkpoints and log, and how it is protected.

Every run, whatever the model, writes the same three files into its directory (``--out``):

* ``last.npz`` -- the latest state, written at every evaluation and when the run stops: what
  ``--resume`` continues from;
* ``ckpt.npz`` -- the state with the best evaluation loss so far: what ``sample`` and friends read;
* ``log.jsonl`` -- one JSON object per line: ``{"step": 12, "loss": ...}`` for every training
  step and ``{"step": 250, "eval": true, ...}`` for every evaluation.

and a ``.lock`` file while it runs. The rules that keep a user's work safe:

1. **A run never overwrites another by accident.** A fresh run into a directory holding another
   run refuses, naming ``--resume`` (continue it), ``--force`` (replace it) and ``--out`` (use
   another directory). With ``--force`` the old files stay until the new run's first checkpoint
   exists, and are then replaced file by file, each atomically.
2. **One live run per directory.** The ``.lock`` file holds the pid of the run using the
   directory, locked with ``flock`` so that the kernel releases it when that process dies, however
   it dies. A second live run refuses; a lock left by a dead process is taken over, with a note.
3. **Every write is atomic** (:func:`~micrograd_plus.train.checkpoint.replace_file`), except
   the log, which is appended to line by line and, on resume, cut back to the checkpoint's step.
4. **Problems show before training starts**: ``--out`` that is a file, lies under a file, or is
   not writable fails at once with a one-line :class:`~micrograd_plus.train.errors.RunDirError`.
"""

import json
import os
from pathlib import Path

from micrograd_plus.train.checkpoint import load_checkpoint, replace_file, save_checkpoint
from micrograd_plus.train.errors import CheckpointNotFoundError, ConfigError, RunDirError, RunLockedError

try:
    import fcntl
except ImportError:  # Windows: the lock is then only advisory (pid check without flock)
    fcntl = None

LAST = "last.npz"
BEST = "ckpt.npz"
LOG = "log.jsonl"
LOCK = ".lock"
#: The files that make a directory "hold a run" (the last two are the MNIST trainer's older names).
RUN_FILES = (LAST, BEST, LOG, "checkpoint.npz", "metrics.jsonl")


def check_fresh_run(path, force=False):
    """Raise the :class:`RunDirError` a fresh run into ``path`` would raise, without locking or
    creating anything -- for work that must not start (or write) when the run will be refused."""
    existing = RunDir(path).describe_existing() if Path(path).expanduser().is_dir() else None
    if existing is not None and not force:
        raise RunDirError(f"{Path(path).expanduser()} already holds a run ({existing}); continue it with --resume, "
                          "replace it with --force, or choose another --out")


def _pid_alive(pid):
    """Whether a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OSError:
        return False
    return True


class RunDir:
    """One run's directory, opened for the duration of a run (use it with ``with``).

    Args:
        path: the directory (created if missing), or None for a run that saves nothing.
        resume: the run continues the one saved here (``last.npz`` must exist).
        force: a fresh run may replace the run saved here (kept until the first new checkpoint).
        say: function that prints one line (notes such as a stale lock taken over).

    Entering checks the directory and takes the lock; leaving releases it.
    """

    def __init__(self, path, resume=False, force=False, say=print):
        if resume and force:
            raise ConfigError("--resume and --force contradict each other: --resume continues the run in "
                              "--out, --force replaces it")
        self.path = None if path is None else Path(path).expanduser()
        self.resume, self.force, self.say = resume, force, say
        self.replacing = False  # a --force run whose first checkpoint is not written yet
        self._lock_fd = None
        self._log = None
        self._pending = []  # log lines held back while replacing
        self._written = set()

    # ---- opening: checks, lock, the old run ------------------------------------------------

    def __enter__(self):
        if self.path is not None:
            self._check_directory()
            self._acquire_lock()
            try:
                self._remove_orphans()
                self._check_existing_run()
            except BaseException:
                self._release_lock()
                raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _check_directory(self):
        path = self.path
        if path.exists() and not path.is_dir():
            raise RunDirError(f"--out {path} is a file, not a directory; choose another --out")
        parent = path
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"--out {path} lies under {parent}, which is a file; choose another --out")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirError(f"--out {path} cannot be created: {exc.strerror or exc}; choose another --out") from None

    def _acquire_lock(self):
        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"--out {self.path} is not writable ({exc.strerror or exc}); "
                              "choose another --out") from None
        try:
            old = os.read(fd, 64).decode("ascii", "replace").strip()
            old_pid = int(old) if old.isdigit() else None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    who = f"pid {old_pid}" if old_pid else "another process"
                    raise RunLockedError(f"{self.path} is in use by another run ({who}); wait for it to "
                                         "finish, stop it, or choose another --out") from None
            elif old_pid and old_pid != os.getpid() and _pid_alive(old_pid):
                raise RunLockedError(f"{self.path} is in use by another run (pid {old_pid}); wait for it "
                                     "to finish, stop it, or choose another --out")
            if old_pid and old_pid != os.getpid():
                self.say(f"note: taking over the lock of {self.path} left by pid {old_pid}, which is no "
                         "longer running")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            os.close(fd)
            raise RunDirError(f"cannot lock {lock}: {exc.strerror or exc}") from None
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd

    def _release_lock(self):
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty lock file is a free one; the file stays (see module doc)
        except OSError:
            pass
        os.close(fd)  # closing releases the flock

    def _remove_orphans(self):
        """Delete temporary files that a run killed mid-write left behind (``.last.npz.XXXX.tmp``).
        Safe: we hold the lock, so no live run is writing here."""
        for name in (LAST, BEST, LOG):
            for orphan in self.path.glob(f".{name}.*.tmp"):
                try:
                    orphan.unlink()
                except OSError:
                    pass

    def describe_existing(self):
        """A few words on the run saved here ("last.npz at step 200 of 2000"), or None if none."""
        if self.path is None:
            return None
        present = [name for name in RUN_FILES if (self.path / name).exists()]
        if not present:
            return None
        try:
            _, meta = load_checkpoint(self.path / LAST)
            return f"{LAST} at step {meta.get('step')} of {meta.get('max_iters')}"
        except Exception:  # unreadable or absent: the file names say enough
            return ", ".join(present)

    def _check_existing_run(self):
        existing = self.describe_existing()
        if self.resume:
            if not (self.path / LAST).exists():
                raise CheckpointNotFoundError(f"nothing to resume: {self.path / LAST} does not exist "
                                              "(drop --resume to start a fresh run)")
        elif existing is not None:
            if not self.force:
                raise RunDirError(f"{self.path} already holds a run ({existing}); continue it with --resume, "
                                  "replace it with --force, or choose another --out")
            self.replacing = True
            self.say(f"note: --force: the run in {self.path} ({existing}) will be replaced once this run "
                     "writes its first checkpoint")

    # ---- writing ------------------------------------------------------------------------------

    def save(self, name, arrays, meta):
        """Atomically write checkpoint ``name`` (``LAST`` or ``BEST``); the first one of a
        ``--force`` run then replaces the old run's files."""
        if self.path is None:
            return None
        save_checkpoint(self.path / name, arrays, meta)
        self._written.add(name)
        return self.path / name

    def commit(self):
        """Called after each round of saves: a --force run's first checkpoint exists, so the old
        run's remaining files go and the held-back log lines are written."""
        if self.path is None or not self.replacing:
            return
        text = "".join(self._pending).encode("utf-8")
        replace_file(self.path / LOG, lambda f: f.write(text))
        self._written.add(LOG)
        for name in RUN_FILES:
            if name not in self._written and (self.path / name).exists():
                (self.path / name).unlink()
        self.replacing = False
        self._pending = []

    def log(self, row):
        """Append one JSON object as a line of ``log.jsonl`` (held back while replacing)."""
        if self.path is None:
            return
        line = json.dumps(row) + "\n"
        if self.replacing:
            self._pending.append(line)
            return
        try:
            if self._log is None:
                self._log = open(self.path / LOG, "a", encoding="utf-8")
            self._log.write(line)
            self._log.flush()
        except OSError as exc:
            raise RunDirError(f"cannot write {self.path / LOG}: {exc.strerror or exc}") from None

    def trim_log(self, step, evaluated):
        """On resume: keep only the log lines the checkpoint at ``step`` has seen (a run killed
        after its last checkpoint may have logged steps that will now be run again)."""
        path = self.path / LOG
        if self.path is None or not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                s = int(row["step"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a hard kill
            if s < step or (s == step and (not row.get("eval") or evaluated)):
                kept.append(line + "\n")
        text = "".join(kept).encode("utf-8")
        replace_file(path, lambda f: f.write(text))

    def close(self):
        """Close the log and release the lock."""
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None
        self._release_lock()
