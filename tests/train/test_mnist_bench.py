"""The MNIST benchmark's contenders must train the same network the same way, or its ratios mean
nothing: after a few identical steps, ours, the hand-written numpy reference and PyTorch agree."""

import numpy as np
import pytest

from micrograd_plus import kernels, nn
from micrograd_plus.bench import mnist as bench


@pytest.fixture
def setup(rng):
    weights = nn.MLP(list(bench.SIZES), activation="relu", generator=np.random.default_rng(0)).state_dict()
    x = rng.random((3, bench.BATCH, 784), dtype=np.float32)  # 3 batches of fake images
    y = rng.integers(0, 10, size=(3, bench.BATCH))
    return weights, x, y


def _train(step, x, y):
    for xb, yb in zip(x, y):
        step(xb, yb)
    return step.weights()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ours_matches_the_hand_written_numpy_backprop(setup, backend):
    weights, x, y = setup
    expected = _train(bench._numpy_step_fn(weights), x, y)
    with kernels.backend(backend):
        got = _train(bench._our_step_fn(weights), x, y)
    for name, value in expected.items():
        assert not np.array_equal(value, weights[name])  # training moved the weights
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_torch_contender_matches_the_hand_written_numpy_backprop(setup):
    pytest.importorskip("torch")
    weights, x, y = setup
    expected = _train(bench._numpy_step_fn(weights), x, y)
    got = _train(bench._torch_step_fn(weights), x, y)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_our_contender_is_the_librarys_own_training_of_the_same_network(rng):
    """What ``bench mnist`` times as "ours" -- the library's MNIST training with ``our_config`` --
    trains the benchmark's network with the benchmark's optimiser: three of its steps give the
    weights the hand-written numpy steps give, from the same start, on the same batches."""
    from micrograd_plus.data import DataLoader
    from micrograd_plus.train.mnist import build_model, train

    config = bench.our_config(epochs=1)
    x = rng.random((3 * bench.BATCH, 784), dtype=np.float32)  # 3 batches of fake images
    y = rng.integers(0, 10, size=3 * bench.BATCH).astype(np.int64)
    start = build_model(config).state_dict()  # the weights train() starts from (config.seed)
    numpy_step = bench._numpy_step_fn(start)
    order = DataLoader((x, y), batch_size=bench.BATCH, shuffle=True, seed=config.seed).order(0)
    for i in range(0, len(x), bench.BATCH):
        idx = order[i : i + bench.BATCH]
        numpy_step(x[idx], y[idx])
    result = train(config, data=(x, y, x[:10], y[:10]), progress=False, log=None)
    assert result.step == 3 and len(result.evals) == 1 and result.evals[0]["seconds"] > 0
    got = result.model.state_dict()
    for name, value in numpy_step.weights().items():
        assert not np.array_equal(value, start[name])  # training moved the weights
        np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_every_contender_runs_alone_with_the_users_environment(monkeypatch):
    """Each contender is timed in a child process of its own (as_users_run_it: this library's
    GOMP_SPINCOUNT is not passed on), taking turns; only the 1T rows get a thread count from us."""
    from micrograd_plus.bench import _process
    from micrograd_plus.kernels import _shared

    calls = []

    def child(module, function, *args, **kwargs):
        calls.append((function, args, kwargs))
        return [1.0]

    monkeypatch.setattr(_shared, "SPIN_SET_HERE", True)
    monkeypatch.setattr(_process, "in_child", child)
    monkeypatch.setattr(bench, "_have_torch", lambda: True)
    samples = bench._samples_alone(rounds=2, steps=10)
    assert set(samples) == set(bench.CONTENDERS) and all(v == [1.0, 1.0] for v in samples.values())
    assert len(calls) == 2 * len(bench.CONTENDERS)  # a fresh process for every turn of every contender
    assert all(kwargs["unset"] == ("GOMP_SPINCOUNT",) for _, _, kwargs in calls)
    threads = {(function, args[2]) for function, args, _ in calls}
    assert threads == {("_our_epochs", None), ("_torch_epochs", None), ("_our_blas_epochs", None),
                       ("_numpy_epochs", None), ("_our_epochs", 1), ("_torch_epochs", 1)}
