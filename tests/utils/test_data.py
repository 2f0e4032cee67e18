"""torch.utils.data: datasets, samplers, collate and DataLoader with PyTorch's contract."""

from collections import namedtuple

import numpy as np
import pytest

import micrograd_plus as torch
from micrograd_plus.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def xy(n=10):
    return torch.arange(2 * n).reshape(n, 2).float(), torch.arange(n)


def test_defaults_are_pytorchs():
    loader = DataLoader(TensorDataset(*xy()))
    assert loader.batch_size == 1 and loader.num_workers == 0 and loader.pin_memory is False
    assert loader.drop_last is False and isinstance(loader.sampler, SequentialSampler)
    first = next(iter(loader))
    assert isinstance(first, list) and first[0].shape == (1, 2) and first[1].tolist() == [0]


def test_batches_in_order_last_one_short():
    x, y = xy(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4, num_workers=2, pin_memory=True))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].dtype == np.float32 and batches[0][0].shape == (4, 2)
    assert len(DataLoader(TensorDataset(x, y), batch_size=4)) == 3
    assert len(DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True))) == 2


def test_shuffle_with_a_generator_is_reproducible_and_new_each_epoch():
    ds = TensorDataset(*xy(20))

    def epochs(seed):
        loader = DataLoader(ds, batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(seed))
        return [[int(i) for b in loader for i in b[1].tolist()] for _ in range(2)]

    a, b = epochs(0), epochs(0)
    assert a == b and a[0] != a[1] and sorted(a[0]) == list(range(20)) and a[0] != list(range(20))
    assert epochs(1) != a


class Squares(Dataset):
    """A map-style dataset of (number, its square, a label string, a dict)."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return float(i), np.array([i, i * i]), f"s{i}", {"k": i}


def test_default_collate_stacks_and_recurses():
    x, sq, names, d = next(iter(DataLoader(Squares(), batch_size=3)))
    assert x.dtype == np.float64 and x.tolist() == [0.0, 1.0, 2.0]  # Python floats -> float64 (PyTorch's)
    assert sq.dtype == np.int64 and sq.tolist() == [[0, 0], [1, 1], [2, 4]]
    assert names == ["s0", "s1", "s2"] and d["k"].tolist() == [0, 1, 2]
    P = namedtuple("P", "a b")
    out = default_collate([P(1, True), P(2, False)])
    assert isinstance(out, P) and out.a.dtype == np.int64 and out.b.dtype == np.bool_
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])


def test_fast_path_equals_sample_by_sample_collate():
    x, y = xy(9)
    ds = TensorDataset(x, y)
    fast = list(DataLoader(ds, batch_size=4))
    slow = list(DataLoader(ds, batch_size=4, collate_fn=default_collate))
    for (a, b), (c, d) in zip(fast, slow):
        assert np.array_equal(a.numpy(), c.numpy()) and np.array_equal(b.numpy(), d.numpy())


def test_batch_size_none_and_custom_collate_and_batch_sampler():
    ds = TensorDataset(*xy(3))
    assert [s[1].item() for s in DataLoader(ds, batch_size=None)] == [0, 1, 2]
    sums = list(DataLoader(ds, batch_size=2, collate_fn=lambda batch: sum(int(s[1]) for s in batch)))
    assert sums == [1, 2]
    bs = BatchSampler(SequentialSampler(ds), batch_size=2, drop_last=False)
    assert [b[1].tolist() for b in DataLoader(ds, batch_sampler=bs)] == [[0, 1], [2]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, batch_sampler=bs, batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)


def test_iterable_dataset():
    class Count(IterableDataset):
        def __iter__(self):
            return iter(range(5))

    assert [b.tolist() for b in DataLoader(Count(), batch_size=2)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Count(), shuffle=True)


def test_random_sampler_options():
    ds = list(range(6))
    with_repl = list(RandomSampler(ds, replacement=True, num_samples=50, generator=torch.Generator().manual_seed(0)))
    assert len(with_repl) == 50 and set(with_repl) <= set(ds)  # 50 draws of 6 values: repeats
    longer = list(RandomSampler(ds, num_samples=9, generator=torch.Generator().manual_seed(0)))
    assert len(longer) == 9 and sorted(longer[:6]) == ds


def test_tensor_dataset_checks_lengths():
    with pytest.raises(ValueError, match="share their first dimension"):
        TensorDataset(torch.zeros(3, 2), torch.zeros(4))
    ds = TensorDataset(np.zeros((3, 2)), np.arange(3))
    assert len(ds) == 3 and ds[1][1].item() == 1


def test_random_split_lengths_and_fractions():
    ds = TensorDataset(*xy(10))
    a, b = random_split(ds, [7, 3], generator=torch.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3 and isinstance(a, Subset)
    assert sorted(a.indices + b.indices) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(list(range(11)), [0.5, 0.5])
    assert [len(p) for p in parts] == [6, 5]  # the left-over sample goes to the first subset
    with pytest.raises(ValueError, match="add up to 9"):
        random_split(ds, [5, 4])
    (x, y), = [next(iter(DataLoader(a, batch_size=7)))]
    assert sorted(y.tolist()) == sorted(a.indices)
