"""DataLoader: every sample once per epoch, aligned rows, reproducible (seed, epoch) orders."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.data import DataLoader


def make_data(n):
    x = np.arange(n)  # sample i has x == i ...
    y = np.arange(n) * 10 + 7  # ... and y == 10 i + 7, so misaligned rows are visible
    return x, y


def collect(loader):
    return [tuple(b.copy() for b in batch) for batch in loader]


@given(n=st.integers(1, 60), batch_size=st.integers(1, 20), shuffle=st.booleans(), drop_last=st.booleans())
def test_batches_cover_the_data_once_and_stay_aligned(n, batch_size, shuffle, drop_last):
    x, y = make_data(n)
    loader = DataLoader((x, y), batch_size, shuffle=shuffle, drop_last=drop_last, seed=3)
    batches = collect(loader)
    full, rest = divmod(n, batch_size)
    expected_len = full if drop_last or rest == 0 else full + 1
    assert len(batches) == len(loader) == expected_len
    sizes = [len(xb) for xb, _ in batches]
    assert all(s == batch_size for s in sizes[:full])
    if not drop_last and rest:
        assert sizes[-1] == rest
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, xb * 10 + 7)
    seen = np.concatenate([xb for xb, _ in batches]) if batches else np.array([], dtype=int)
    assert len(set(seen.tolist())) == len(seen)  # no sample twice
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))  # every sample once
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))  # in order


def test_epochs_differ_and_repeat_exactly_by_seed_and_epoch():
    x, y = make_data(100)
    a = DataLoader((x, y), 16, seed=1)
    epochs_a = [collect(a) for _ in range(3)]
    assert a.epoch == 3  # each complete pass moves to the next epoch
    first = [xb.tolist() for xb, _ in epochs_a[0]]
    second = [xb.tolist() for xb, _ in epochs_a[1]]
    assert first != second
    assert first[0] != list(range(16))  # actually shuffled

    # A "resumed" loader jumps straight to epoch 2 and sees exactly epoch 2's batches.
    b = DataLoader((x, y), 16, seed=1)
    b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(epochs_a[2], collect(b), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)

    c = DataLoader((x, y), 16, seed=2)
    assert [xb.tolist() for xb, _ in collect(c)] != first


def test_resume_mid_epoch_with_islice():
    x, y = make_data(50)
    full = collect(DataLoader((x, y), 8, seed=5))
    resumed = DataLoader((x, y), 8, seed=5)
    tail = [tuple(b.copy() for b in batch) for batch in itertools.islice(resumed, 3, None)]
    assert [t[0].tolist() for t in tail] == [f[0].tolist() for f in full[3:]]
    assert resumed.epoch == 1


def test_abandoned_pass_does_not_advance_epoch():
    loader = DataLoader(make_data(30), 4)
    for _ in loader:
        break
    assert loader.epoch == 0


def test_single_array_gives_one_tuples_and_extra_dims_are_kept():
    x = np.arange(24).reshape(6, 2, 2)
    (batch,) = next(iter(DataLoader(x, 4, shuffle=False)))
    np.testing.assert_array_equal(batch, x[:4])


@pytest.mark.parametrize(
    "arrays, batch_size, error, message",
    [
        ((np.zeros(5), np.zeros(4)), 2, ValueError, r"\(5,\), \(4,\)"),
        ((np.zeros(5),), 0, ValueError, "at least 1"),
        ((np.zeros(5),), 2.0, TypeError, "batch_size"),
        ((np.zeros(0),), 2, ValueError, "no samples"),
        ((np.float64(3.0),), 2, ValueError, "scalar"),
        ((), 2, TypeError, "non-empty"),
    ],
)
def test_bad_arguments_give_clear_errors(arrays, batch_size, error, message):
    with pytest.raises(error, match=message):
        DataLoader(arrays, batch_size)


def test_set_epoch_rejects_negative():
    with pytest.raises(ValueError, match="set_epoch"):
        DataLoader(make_data(4), 2).set_epoch(-1)
