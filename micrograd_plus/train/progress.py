"""Progress bars for training loops: a thin, fail-safe wrapper over `tqdm`_.

Watching the cost go down while a network trains is half the fun, and seeing how many samples
per second go through tells you whether a change made things faster. :func:`progress` wraps an
iterable like ``tqdm`` does and adds :meth:`Progress.log` for the loss and the throughput::

    bar = progress(loader, desc="epoch 1")
    for xb, yb in bar:
        loss = train_step(xb, yb)
        bar.log(loss=loss, samples=len(xb))     # shows  loss=0.2531, samples/s=41,230

Three promises:

* It switches itself off when the output is not a terminal (logs, CI, pipes) or when the
  environment variable ``MICROGRAD_PLUS_NO_PROGRESS=1`` is set; ``disable=`` overrides both.
* It never breaks training: if tqdm is missing or raises, the bar quietly turns into a plain
  pass-through (with one warning) and the loop carries on.
* It counts even when hidden, so :attr:`Progress.rate` is available for a summary line.

.. _tqdm: https://tqdm.github.io/
"""

import os
import sys
import time
import warnings

#: Set this environment variable to ``1`` to hide every progress bar.
NO_PROGRESS_ENV_VAR = "MICROGRAD_PLUS_NO_PROGRESS"


def progress(iterable=None, total=None, desc=None, disable=None, unit="it", file=None, leave=True):
    """Wrap ``iterable`` in a progress bar (see :class:`Progress` for the arguments)."""
    return Progress(iterable, total=total, desc=desc, disable=disable, unit=unit, file=file, leave=leave)


def progress_disabled(disable=None, file=None):
    """Decide whether a bar should be hidden: ``disable`` if given (True/False); otherwise hidden
    when ``MICROGRAD_PLUS_NO_PROGRESS`` is ``1``/``true``/``yes`` or ``file`` (default: stderr)
    is not a terminal."""
    if disable is not None:
        return bool(disable)
    if os.environ.get(NO_PROGRESS_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    stream = file if file is not None else sys.stderr
    try:
        return not stream.isatty()
    except Exception:  # a stream without isatty, or a closed one
        return True


class Progress:
    """A progress bar over an iterable (or updated by hand), showing loss and throughput.

    Args:
        iterable: what to iterate over; ``None`` to drive the bar with :meth:`update`.
        total: the number of items, if ``len(iterable)`` does not give it.
        desc: a short label shown before the bar, e.g. ``"epoch 3"``.
        disable: ``True``/``False`` to force; ``None`` to decide automatically
            (see :func:`progress_disabled`).
        unit: what one item is called (``"it"``, ``"batch"``...).
        file: the stream to draw on (default: stderr).
        leave: keep the finished bar on screen.
    """

    def __init__(self, iterable=None, total=None, desc=None, disable=None, unit="it", file=None, leave=True):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.n = 0  # items completed
        self.samples = 0  # samples reported through log(samples=...)
        self.postfix = {}
        self.disabled = progress_disabled(disable, file)
        self._start = time.perf_counter()
        self._bar = None
        if not self.disabled:
            try:
                import tqdm  # deferred: a disabled bar (--no-progress, a pipe) never loads it

                self._bar = tqdm.tqdm(total=total, desc=desc, unit=unit, file=file, leave=leave, dynamic_ncols=True)
            except Exception as exc:
                self._give_up(exc)

    # -- the tqdm calls, each guarded -----------------------------------------------------------

    def _give_up(self, exc):
        """tqdm failed: warn once, drop the bar, keep counting."""
        warnings.warn(f"progress bar disabled after an error in tqdm: {exc!r}", RuntimeWarning, stacklevel=3)
        bar, self._bar = self._bar, None
        if bar is not None:
            try:
                bar.close()
            except Exception:
                pass

    def update(self, n=1):
        """Mark ``n`` more items as done."""
        self.n += n
        if self._bar is not None:
            try:
                self._bar.update(n)
            except Exception as exc:
                self._give_up(exc)

    def set_postfix(self, **values):
        """Show ``name=value`` pairs after the bar (floats to 4 significant digits)."""
        for name, value in values.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            self.postfix[name] = value
        if self._bar is not None:
            try:
                self._bar.set_postfix(self.postfix, refresh=False)  # drawn at tqdm's next refresh
            except Exception as exc:
                self._give_up(exc)

    def write(self, message):
        """Print a line without tearing the bar (``tqdm.write`` when a bar is shown)."""
        if self._bar is not None:
            try:
                self._bar.write(message)
                return
            except Exception as exc:
                self._give_up(exc)
        print(message)

    def close(self):
        """Finish the bar (called automatically at the end of iteration and by ``with``)."""
        bar, self._bar = self._bar, None
        if bar is not None:
            try:
                bar.close()
            except Exception as exc:
                warnings.warn(f"progress bar: error while closing: {exc!r}", RuntimeWarning, stacklevel=2)

    # -- training-loop helpers ----------------------------------------------------------------------

    @property
    def elapsed(self):
        """Seconds since the bar was created."""
        return time.perf_counter() - self._start

    @property
    def rate(self):
        """Samples per second so far (from :meth:`log`'s ``samples``), or 0.0 before any."""
        elapsed = self.elapsed
        return self.samples / elapsed if self.samples and elapsed > 0 else 0.0

    def log(self, loss=None, samples=None, **extra):
        """Report one training step: its ``loss``, how many ``samples`` it processed, and any
        other values to show. Displays the loss and the running throughput in samples/s."""
        values = {}
        if loss is not None:
            values["loss"] = float(loss)
        if samples is not None:
            self.samples += int(samples)
            values["samples/s"] = f"{self.rate:,.0f}"
        values.update(extra)
        self.set_postfix(**values)

    # -- iteration and context manager ------------------------------------------------------------

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("this Progress has no iterable; drive it with update()")
        try:
            for item in self.iterable:
                yield item
                self.update(1)  # after the loop body ran: counts completed items
        finally:
            self.close()

    def __len__(self):
        if self.total is None:
            raise TypeError("this Progress has no known total")
        return self.total

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
