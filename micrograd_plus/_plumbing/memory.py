"""Will it fit? A memory estimate checked before anything big is allocated.

A size typed as a flag (``--n-embd 1000000000``) or read from a file (a checkpoint declaring
``n_layer`` 10^6, a stored ``batch_size`` of 10^8) would otherwise end in an allocation traceback,
or worse, in minutes of swapping before the machine kills the process. Each model estimates the
bytes it needs (its weights, or for training weights + gradients + optimiser moments +
activations) and calls :func:`check_fits` first, which refuses in one line::

    a GPT training run (50,331,648,000 weights, batch 12 x 64 tokens) would need ~805 GB of memory;
    this machine has ~6.1 GB available

The estimate is rough (within a factor of about two) and only refuses what is far out of reach.
"""

import os

__all__ = ["MemoryEstimateError", "available_bytes", "check_fits", "human_bytes"]


class MemoryEstimateError(ValueError):
    """What was asked for would not fit in this machine's memory (the message says how much it needs)."""


def available_bytes():
    """The memory a new allocation can get now, in bytes: Linux's ``MemAvailable``, else the
    physical memory; None if the platform says neither."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def human_bytes(n):
    """``1536`` -> ``'1.54 KB'``: a byte count in the largest unit up to TB (1000-based)."""
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:,.0f} TB"


def check_fits(what, nbytes, advice=""):
    """Raise :class:`MemoryEstimateError` if ``nbytes`` (the estimate for ``what``) exceeds the
    memory available now. ``advice`` ends the message (e.g. "use a smaller --n-embd")."""
    available = available_bytes()
    if available is not None and nbytes > available:
        raise MemoryEstimateError(f"{what} would need ~{human_bytes(nbytes)} of memory; this machine has "
                                  f"~{human_bytes(available)} available" + (f"; {advice}" if advice else ""))
