"""Samplers: in which order a data loader visits a dataset's samples (``torch.utils.data``'s).

A sampler is an iterable of indices. :class:`SequentialSampler` gives ``0, 1, 2, ...``;
:class:`RandomSampler` a new shuffle every pass, drawn from a generator
(:mod:`micrograd_plus.random`); :class:`BatchSampler` groups any sampler's indices into lists of
``batch_size``. They know nothing of tensors -- only lengths and indices -- so both loaders use
them: PyTorch's :class:`micrograd_plus.utils.data.DataLoader` and this library's array loader
:class:`micrograd_plus.data.DataLoader`.
"""

import numpy as np

from micrograd_plus.random import get_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


class Sampler:
    """Base class: an iterable of dataset indices (subclasses define ``__iter__`` and ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """The indices ``0, 1, ..., len(data_source) - 1`` in order (evaluation, ``shuffle=False``)."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order of the indices every time it is iterated (``shuffle=True``).

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently (repeats possible) instead of a
            permutation.
        num_samples: how many indices per pass (default: ``len(data_source)``).
        generator: the randomness (a :class:`~micrograd_plus.Generator`; None: the default one).
            The same seed gives the same sequence of epochs.
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        self.generator = generator
        if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                        or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got {num_samples!r}")

    @property
    def num_samples(self):
        """Indices per pass."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), get_generator(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        # num_samples beyond n: whole permutations one after another, as in PyTorch
        reps = [rng.permutation(n) for _ in range(-(-self.num_samples // max(n, 1)))]
        return iter(np.concatenate(reps)[: self.num_samples].tolist() if reps else [])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a new random order every pass."""

    def __init__(self, indices, generator=None):
        self.indices = list(indices)
        self.generator = generator

    def __iter__(self):
        order = get_generator(self.generator).permutation(len(self.indices))
        return (self.indices[i] for i in order)

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (one per sample)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        self.weights = np.asarray(getattr(weights, "data", weights), dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0) or self.weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        self.num_samples = int(num_samples)
        self.replacement = bool(replacement)
        self.generator = generator

    def __iter__(self):
        p = self.weights / self.weights.sum()
        picks = get_generator(self.generator).choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        return iter(picks.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last may be shorter,
    unless ``drop_last``): ``list(BatchSampler(range(5), 2, False)) == [[0, 1], [2, 3], [4]]``."""

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
