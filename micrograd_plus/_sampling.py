"""Random integers, permutations and draws from a distribution: ``torch.randint``, ``torch.randperm``,
``torch.multinomial`` (and ``randn_like``/``rand_like``), with PyTorch's signatures.

Each draws from ``generator`` (a :class:`micrograd_plus.Generator`, a numpy Generator, an int
seed, or None for the default generator; see :mod:`micrograd_plus.random`). Results are int64
by default, as in PyTorch, and never part of a graph (integers have no gradient).
"""

import numpy as np

from micrograd_plus.random import _check_cpu, get_generator
from micrograd_plus._tensor import Tensor, _wrap, rand, randn

__all__ = ["randint", "randperm", "multinomial", "randn_like", "rand_like", "randint_like"]


def _int(value, name, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: {name} must be an int, got {type(value).__name__}")
    return int(value)


def _size(size, what):
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        raise TypeError(f"{what}: size must be a tuple of ints such as (3,) or (2, 3), got the int {size} "
                        "(PyTorch's signature: randint(low, high, size))")
    try:
        return tuple(_int(n, "size", what) for n in size)
    except TypeError:
        raise TypeError(f"{what}: size must be a tuple of ints, got {size!r}") from None


def _int_dtype(dtype, what, default=np.int64):
    dt = np.dtype(default if dtype is None else dtype)
    if dt.kind not in "iuf":
        raise TypeError(f"{what}: dtype must be an integer or floating dtype, got {dt}")
    return dt


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False, low=None, high=None):
    """Random integers drawn uniformly from ``[low, high)``, as ``torch.randint``.

    Call it as ``randint(high, size)`` or ``randint(low, high, size)`` (``low`` defaults to 0);
    ``size`` is a tuple: ``randint(0, 10, (3,))`` gives three digits. Keywords ``low=``, ``high=``
    and ``size=`` work too.

    Returns:
        A Tensor of shape ``size``, int64 unless ``dtype`` says otherwise.
    """
    what = "randint"
    _check_cpu(device, what)
    if len(args) > 3:
        raise TypeError(f"randint takes at most 3 positional arguments (low, high, size), got {len(args)}")
    if size is None and args:
        size, args = args[-1], args[:-1]  # size is always the last one
    if len(args) == 2:
        if low is not None or high is not None:
            raise TypeError("randint got low and high both positionally and by keyword")
        low, high = args
    elif len(args) == 1:
        if high is not None:  # randint(low, high=..., size=...)
            low = args[0]
        else:
            high = args[0]
    if high is None or size is None:
        raise TypeError("randint needs high and size: randint(high, size) or randint(low, high, size), "
                        "e.g. randint(0, 10, (3,))")
    given = {"low": 0 if low is None else low, "high": high, "size": size}
    lo = _int(given.get("low", 0), "low", what)
    hi = _int(given["high"], "high", what)
    shape = _size(given["size"], what)
    if lo >= hi:
        raise ValueError(f"randint: low must be smaller than high, got low={lo}, high={hi}")
    dt = _int_dtype(dtype, what)
    values = get_generator(generator).integers(lo, hi, size=shape, dtype=np.int64)
    return _wrap(values.astype(dt, copy=False), requires_grad=requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A random ordering of ``0, 1, ..., n-1``: a 1-D int64 Tensor of length ``n`` (``torch.randperm``).

    ``pin_memory`` is accepted for PyTorch's signature and has no effect (there is no GPU to pin for).
    """
    what = "randperm"
    _check_cpu(device, what)
    n = _int(n, "n", what)
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    perm = get_generator(generator).permutation(n)  # (n,)
    return _wrap(perm.astype(_int_dtype(dtype, what), copy=False), requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Draw category indices with probabilities proportional to the weights in ``input``.

    Args:
        input: non-negative weights, ``(C,)`` for one distribution or ``(N, C)`` for N of them;
            they need not sum to 1 (e.g. ``softmax`` output, or counts).
        num_samples: draws per distribution.
        replacement: if False (PyTorch's default) an index is drawn at most once per row, so
            ``num_samples`` can be at most the number of categories with non-zero weight.
        generator: where the randomness comes from.

    Returns:
        int64 indices: ``(num_samples,)`` for a 1-D input, ``(N, num_samples)`` for a 2-D one.

    This is how a language model picks its next token:
    ``idx_next = torch.multinomial(probs, num_samples=1)`` with ``probs`` of shape (B, vocab).
    """
    what = "multinomial"
    w = np.asarray(input._data if isinstance(input, Tensor) else input)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D (C,) or 2-D (N, C) weights, got shape {w.shape}")
    if w.dtype.kind != "f":
        raise TypeError(f"multinomial: input must hold floating-point weights, got dtype {w.dtype}")
    k = _int(num_samples, "num_samples", what)
    if k <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {k}")
    rows = w.reshape(-1, w.shape[-1]).astype(np.float64)  # (N, C)
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise ValueError("multinomial: weights must be finite and non-negative (inf, nan or a negative was given)")
    totals = rows.sum(axis=1)
    if np.any(totals <= 0):
        raise ValueError("multinomial: every distribution needs a positive total weight (a row sums to 0)")
    if not replacement and np.any((rows > 0).sum(axis=1) < k):
        raise ValueError(f"multinomial: cannot draw {k} samples without replacement from a distribution with "
                         f"{int((rows > 0).sum(axis=1).min())} categories of non-zero weight")
    rng = get_generator(generator)
    out = np.empty((rows.shape[0], k), dtype=np.int64)  # (N, k)
    for i, (row, total) in enumerate(zip(rows, totals)):
        out[i] = rng.choice(row.shape[0], size=k, replace=bool(replacement), p=row / total)
    return _wrap(out.reshape(w.shape[:-1] + (k,)))


def randn_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard-normal numbers shaped like ``input``, with its dtype unless ``dtype`` is given."""
    _check_cpu(device, "randn_like")
    x = np.asarray(input._data if isinstance(input, Tensor) else input)
    dt = np.dtype(dtype) if dtype is not None else (x.dtype if x.dtype.kind == "f" else np.dtype(np.float32))
    return randn(*x.shape, dtype=dt, requires_grad=requires_grad, generator=generator)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform numbers in [0, 1) shaped like ``input``, with its dtype unless ``dtype`` is given."""
    _check_cpu(device, "rand_like")
    x = np.asarray(input._data if isinstance(input, Tensor) else input)
    dt = np.dtype(dtype) if dtype is not None else (x.dtype if x.dtype.kind == "f" else np.dtype(np.float32))
    return rand(*x.shape, dtype=dt, requires_grad=requires_grad, generator=generator)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    """Random integers in ``[low, high)`` shaped like ``input`` (``randint_like(x, 10)`` is ``[0, 10)``)."""
    if high is None:
        low, high = 0, low
    x = np.asarray(input._data if isinstance(input, Tensor) else input)
    return randint(low, high, x.shape, dtype=dtype or x.dtype, device=device, requires_grad=requires_grad,
                   generator=generator)
