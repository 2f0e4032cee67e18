"""make_moons: shapes, labels, geometry (checked against the circle equations), seeding."""

import numpy as np
import pytest

from micrograd_plus.data.moons import make_moons


def test_shapes_dtypes_and_balanced_labels():
    X, y = make_moons(101, noise=0.1, generator=0)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert (y == 0).sum() == 51 and (y == 1).sum() == 50


def test_noiseless_points_lie_on_the_two_half_circles():
    X, y = make_moons(200, noise=0.0, generator=0)
    upper, lower = X[y == 0], X[y == 1]
    # class 0: the unit circle's upper half
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-12)
    assert upper[:, 1].min() >= -1e-12
    # class 1: a unit circle centred at (1, 0.5), lower half
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert lower[:, 1].max() <= 0.5 + 1e-12


def test_noise_has_the_requested_spread():
    clean, yc = make_moons(4000, noise=0.0, generator=1)
    noisy, yn = make_moons(4000, noise=0.2, generator=1)
    # same seed -> same shuffling, so points correspond; the difference is the noise
    assert np.array_equal(yc, yn)
    spread = (noisy - clean).std()
    assert spread == pytest.approx(0.2, rel=0.05)


def test_same_seed_same_data_different_seed_different_data():
    a = make_moons(50, generator=3)
    b = make_moons(50, generator=3)
    c = make_moons(50, generator=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_points_are_shuffled():
    _, y = make_moons(100, noise=0.0, generator=0)
    assert not (np.all(y[:50] == 0) and np.all(y[50:] == 1))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 0}, "n_samples"), ({"n_samples": 2.5}, "n_samples"),
    ({"noise": -0.1}, "noise"), ({"noise": float("nan")}, "noise"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_moons(**kwargs)
