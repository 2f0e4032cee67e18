"""Mini-batches: the "small chunks" of stochastic gradient descent.

Computing the cost over all 60,000 training images for every single step would be slow;
stochastic gradient descent instead shuffles the data and takes one step per small batch
(say 64 images). Each step's gradient is a noisy estimate of the full one, but you get
a thousand steps for the price of one.

:class:`DataLoader` does the shuffling and cutting::

    loader = DataLoader((x, y), batch_size=64, seed=0)
    for epoch in range(3):
        for xb, yb in loader:       # xb (64, 784), yb (64,); the last batch may be smaller
            ...

The order of epoch ``e`` depends only on ``(seed, e)``, so a run resumed from a checkpoint
sees exactly the batches the uninterrupted run would have seen: restore the epoch with
:meth:`DataLoader.set_epoch`.

It is built from the parts of PyTorch's loader (:mod:`micrograd_plus.utils.data`): an
:class:`EpochSampler` gives the epoch's order, a :class:`~micrograd_plus.data.sampler.BatchSampler`
cuts it into batches. It differs from :class:`micrograd_plus.utils.data.DataLoader` in two ways,
both on purpose: it yields numpy arrays (the training loops feed them to the kernels directly),
and its shuffle is seeded by ``(seed, epoch)`` rather than drawn from a running generator, so a
resumed run needs no generator state to replay its batches.
"""

import numpy as np

from micrograd_plus.data.sampler import BatchSampler, Sampler


class EpochSampler(Sampler):
    """The sample order of one epoch of :class:`DataLoader`: ``0..n-1`` in order, or the
    permutation ``np.random.default_rng((seed, epoch)).permutation(n)`` -- a function of
    ``(seed, epoch)`` alone, which is what makes a resumed run see the same batches."""

    def __init__(self, num_samples, shuffle, seed, epoch):
        self.num_samples, self.shuffle, self.seed, self.epoch = num_samples, shuffle, seed, epoch

    def order(self):
        """The indices of the epoch: ``int64 (N,)``."""
        if not self.shuffle:
            return np.arange(self.num_samples)
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.num_samples)

    def __iter__(self):
        return iter(self.order())

    def __len__(self):
        return self.num_samples


class DataLoader:
    """Iterate over aligned arrays in (optionally shuffled) mini-batches.

    Args:
        arrays: a tuple or list of arrays that share their first dimension (one row per
            sample), e.g. ``(images, labels)``. A single array is treated as a 1-tuple.
        batch_size: samples per batch (an int >= 1).
        shuffle: visit the samples in a new random order every epoch (training), or in order
            (evaluation).
        drop_last: skip the final batch if it is smaller than ``batch_size``.
        seed: with the epoch number, determines the order: epoch ``e`` is shuffled by
            ``np.random.default_rng((seed, e))``.

    Iterating yields tuples ``(a[idx], b[idx], ...)`` with one batch of each array, so
    ``for xb, yb in loader`` unpacks them. Every complete pass increments :attr:`epoch`.
    """

    def __init__(self, arrays, batch_size, shuffle=True, drop_last=False, seed=0):
        if isinstance(arrays, np.ndarray):
            arrays = (arrays,)
        if not isinstance(arrays, (tuple, list)) or len(arrays) == 0:
            raise TypeError("DataLoader expects a non-empty tuple or list of arrays, e.g. (images, labels)")
        arrays = tuple(np.asarray(a) for a in arrays)
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"DataLoader: array {i} is a scalar; each array needs one row per sample")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"DataLoader: arrays have different numbers of samples (first dimensions): {shapes}")
        if lengths[0] == 0:
            raise ValueError("DataLoader: the arrays hold no samples")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        self.arrays = arrays
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = 0

    @property
    def num_samples(self):
        """Number of samples (rows) in each array."""
        return len(self.arrays[0])

    def __len__(self):
        """Number of batches per epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)  # ceil(n / b)

    def set_epoch(self, epoch):
        """Make the next pass use epoch ``epoch``'s order (e.g. when resuming a run)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"set_epoch expects a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def order(self, epoch=None):
        """The sample indices of one epoch, in the order they are visited: ``int64 (N,)``."""
        epoch = self.epoch if epoch is None else epoch
        return EpochSampler(self.num_samples, self.shuffle, self.seed, epoch).order()

    def __iter__(self):
        epoch = self.epoch
        batches = BatchSampler(EpochSampler(self.num_samples, self.shuffle, self.seed, epoch),
                               self.batch_size, self.drop_last)
        for indices in batches:
            idx = np.asarray(indices, dtype=np.int64)  # (B,)
            yield tuple(a[idx] for a in self.arrays)
        self.epoch = epoch + 1  # reached only after a complete pass

    def __repr__(self):
        return (
            f"DataLoader({self.num_samples} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch})"
        )
