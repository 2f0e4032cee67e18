"""Datasets and data loaders with PyTorch's contract (``torch.utils.data``).

Three ideas, each a small class:

* A **dataset** says how many samples there are (``len(ds)``) and what sample ``i`` is
  (``ds[i]``, e.g. a tuple ``(image, label)``). :class:`TensorDataset` wraps tensors that share
  their first dimension; subclass :class:`Dataset` for anything else.
* A **sampler** says in which order to visit the indices: :class:`SequentialSampler` (0, 1, 2 ...)
  or :class:`RandomSampler` (a new shuffle every pass, from a :class:`~micrograd_plus.Generator`);
  :class:`BatchSampler` groups them into lists of ``batch_size`` indices.
* A **collate function** turns a list of samples into one batch: :func:`default_collate` stacks
  tensors, numpy arrays and numbers into Tensors (one more leading dimension) and goes inside
  tuples, lists and dicts, so ``(x, y)`` samples become ``[X, Y]`` batches.

:class:`DataLoader` puts them together::

    ds = TensorDataset(x, y)                          # x (N, 784), y (N,)
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    for xb, yb in loader:                             # xb (64, 784) Tensor, yb (64,) Tensor
        ...

Everything happens in the calling process: ``num_workers`` and ``pin_memory`` are accepted, so
PyTorch programs run unchanged, and have no effect (there are no worker processes and no GPU).
"""

import bisect
import collections.abc
import math

import numpy as np

from micrograd_plus.data.sampler import (  # the samplers need no Tensor: they live with the data loaders
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, _wrap, stack

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "DataLoader", "default_collate", "default_convert",
]


# ----------------------------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------------------------


class Dataset:
    """A map-style dataset: subclass it and define ``__getitem__(i)`` (sample ``i``) and ``__len__``.

    ``ds1 + ds2`` is a :class:`ConcatDataset` of both.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index)")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclass it and define ``__iter__`` (yielding samples).

    A DataLoader batches the stream in order; samplers and ``shuffle`` do not apply to it.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__(self)")


class TensorDataset(Dataset):
    """Samples are rows of tensors that share their first dimension: ``ds[i] == (t0[i], t1[i], ...)``.

    Args:
        *tensors: Tensors (or numpy arrays, converted without copying), e.g. ``TensorDataset(x, y)``
            with ``x`` (N, 784) and ``y`` (N,).
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError("TensorDataset: the tensors must share their first dimension (one row per sample), "
                             f"got shapes {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(ds, [4, 0])[1] is ds[0]``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another: sample ``len(a)`` of ``ConcatDataset([a, b])`` is ``b[0]``."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} is out of range for a dataset of {len(self)} samples")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} samples")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][int(index - start)]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into :class:`Subset` s of the given ``lengths``.

    Args:
        lengths: sample counts that add up to ``len(dataset)`` (``[50000, 10000]``), or fractions
            that add up to 1 (``[0.8, 0.2]``): each gets ``floor(fraction * N)`` and the samples
            left over go one each to the first subsets, in order (PyTorch's rule).
        generator: the shuffle's randomness (None: the default generator).

    Returns:
        A list of Subsets, together a permutation of the dataset.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:  # PyTorch's test for fractions
        if any(not 0.0 <= f <= 1.0 for f in lengths):
            raise ValueError(f"random_split: fractions must be in [0, 1], got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} add up to {sum(lengths)}, "
                         f"but the dataset has {n} samples")
    order = get_generator(generator).permutation(n).tolist()
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


# ----------------------------------------------------------------------------------------------
# Collating: a list of samples -> one batch
# ----------------------------------------------------------------------------------------------


def default_collate(batch):
    """Turn a list of samples into one batch, as PyTorch's ``default_collate``.

    * Tensors and numpy arrays of one shape -> a Tensor with a new first dimension, ``(B, *shape)``;
      numpy arrays keep their dtype.
    * Python floats -> a float64 Tensor (B,), ints -> int64, bools -> bool; numpy scalars keep
      their dtype. Strings stay a list of strings.
    * dicts -> a dict of batches per key; tuples and lists -> a list of batches per position
      (so ``(x, y)`` samples give ``[X, Y]``); named tuples keep their type.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: numpy arrays of dtype {elem.dtype} cannot become a Tensor")
        return _wrap(np.stack(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return _wrap(np.array(batch))
    if isinstance(elem, bool):
        return _wrap(np.array(batch, dtype=bool))
    if isinstance(elem, int):
        return _wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return _wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a named tuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(s) != len(elem) for s in batch):
            raise ValueError("default_collate: every sample in a batch must have the same number of fields")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError("default_collate: a batch must hold Tensors, numpy arrays, numbers, strings, dicts or "
                    f"lists/tuples of these; got {type(elem).__name__}")


def default_convert(data):
    """What a loader with ``batch_size=None`` does to each sample: numpy arrays become Tensors
    (inside tuples, lists and dicts too); everything else is left as it is."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _wrap(data)  # shared, its dtype kept: torch.as_tensor's rule
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return [default_convert(d) for d in data]
    return data


# ----------------------------------------------------------------------------------------------
# DataLoader
# ----------------------------------------------------------------------------------------------


class DataLoader:
    """Iterate over a dataset in batches, with PyTorch's arguments and defaults.

    Args:
        dataset: a map-style dataset (``len`` and ``[i]``) or an :class:`IterableDataset`.
        batch_size: samples per batch (default 1); ``None`` turns batching off (each sample is
            only converted by :func:`default_convert`).
        shuffle: a new random order every pass (default False).
        sampler: the order of indices, instead of ``shuffle`` (a :class:`Sampler` or any iterable).
        batch_sampler: yields whole lists of indices; excludes batch_size, shuffle, sampler, drop_last.
        num_workers: accepted and without effect: everything runs in this process.
        collate_fn: turns a list of samples into a batch (default :func:`default_collate`).
        pin_memory: accepted and without effect: there is no GPU to copy to.
        drop_last: skip the final batch when it is smaller than ``batch_size``.
        generator: the randomness of ``shuffle`` (a :class:`~micrograd_plus.Generator`).

    ``timeout``, ``worker_init_fn``, ``multiprocessing_context``, ``prefetch_factor``,
    ``persistent_workers`` and ``pin_memory_device`` (worker and GPU settings) are accepted too, and
    change nothing.

    ``len(loader)`` is the number of batches per pass. Each ``for`` loop over the loader is one
    pass (an epoch); with ``shuffle=True`` each pass has a new order.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device=""):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        self.dataset = dataset
        self.num_workers = num_workers  # no effect: one process
        self.pin_memory = bool(pin_memory)  # no effect: no GPU
        self.generator = generator
        self.collate_fn = collate_fn
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with an IterableDataset takes no shuffle, sampler or batch_sampler: "
                                 "the dataset decides the order")
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size <= 0):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler

    def _collate(self, samples):
        return (self.collate_fn or default_collate)(samples)

    def _fetch(self, indices):
        """One batch from a list of indices. A TensorDataset with the default collate is indexed
        with all of them at once: the same Tensors as stacking sample by sample, in one step."""
        if self.collate_fn is None and type(self.dataset) is TensorDataset:
            idx = np.asarray(indices, dtype=np.int64)  # (B,)
            return [t[idx] for t in self.dataset.tensors]
        return self._collate([self.dataset[i] for i in indices])

    def __iter__(self):
        if self._iterable:
            yield from self._iter_stream()
        elif self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield self._fetch(list(indices))
        else:
            convert = self.collate_fn or default_convert
            for i in self.sampler:
                yield convert(self.dataset[i])

    def _iter_stream(self):
        if self.batch_size is None:
            convert = self.collate_fn or default_convert
            yield from (convert(sample) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self._collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield self._collate(batch)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)
