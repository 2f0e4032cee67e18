"""Tests of the MNIST training loop: learning, determinism, exact resume, the non-finite guard,
Ctrl-C handling, losses and evaluation against plain numpy."""

import hashlib
import json
import os
import signal

import numpy as np
import pytest

from micrograd_plus.train import mnist
from micrograd_plus.train.mnist import MNISTConfig, NonFiniteLossError, train

# Small, fast configurations on a subset of the real MNIST files (bundled with the package).
TINY = MNISTConfig(hidden=(32,), activation="relu", learning_rate=0.1, batch_size=64, epochs=2, limit=600, test_limit=300)


def _quiet(*args, **kwargs):
    pass


def _run(config, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("log", _quiet)
    return train(config, **kwargs)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert np.array_equal(sa[name], sb[name]), f"{name} differs"


def test_short_training_beats_chance_by_a_wide_margin():
    config = MNISTConfig(hidden=(64,), activation="relu", learning_rate=0.1, batch_size=64, epochs=2, limit=4000,
                         test_limit=1000)
    result = _run(config)
    assert result.finished
    assert result.evals[-1]["test_accuracy"] > 0.85  # chance is 0.10
    assert result.evals[1]["train_loss"] < result.evals[0]["train_loss"] < np.log(10)


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b = _run(TINY), _run(TINY)
    _assert_same_weights(a.model, b.model)
    assert np.array_equal(a.step_losses, b.step_losses)
    assert [h["test_accuracy"] for h in a.evals] == [h["test_accuracy"] for h in b.evals]
    c = _run(MNISTConfig(**{**TINY.to_dict(), "seed": 1}))
    assert not np.array_equal(a.step_losses, c.step_losses)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_interrupted_and_resumed_run_ends_with_exactly_the_same_weights(tmp_path, optimizer):
    # Dropout makes the run depend on the random generator too, so its state must be restored.
    config = MNISTConfig(**{**TINY.to_dict(), "dropout": 0.2, "optimizer": optimizer,
                            "learning_rate": 0.1 if optimizer == "sgd" else 3e-3, "weight_decay": 1e-4})
    full = _run(config, out_dir=tmp_path / "full")
    steps_per_epoch = -(-600 // 64)  # 10, the last batch is partial
    assert full.step == 2 * steps_per_epoch

    part = tmp_path / "part"
    first = _run(config, out_dir=part, stop_after=4)  # stop mid-epoch 1
    assert not first.finished and first.step == 4
    second = _run(None, out_dir=part, resume=True, stop_after=steps_per_epoch + 3)  # mid-epoch 2
    assert not second.finished and second.step == steps_per_epoch + 3 and len(second.evals) == 1
    last = _run(None, out_dir=part, resume=True)
    assert last.finished and last.step == full.step

    _assert_same_weights(full.model, last.model)
    assert np.array_equal(full.step_losses, last.step_losses)
    for h_full, h_part in zip(full.evals, last.evals):
        assert h_full["test_accuracy"] == h_part["test_accuracy"]
        assert h_full["train_loss"] == pytest.approx(h_part["train_loss"], rel=1e-12)
    # the optimiser states on disk agree too
    arrays_full, _ = mnist.read_checkpoint(tmp_path / "full" / mnist.CHECKPOINT_NAME)[2:]
    arrays_part, _ = mnist.read_checkpoint(part / mnist.CHECKPOINT_NAME)[2:]
    for name, value in arrays_full.items():
        if name.startswith("optim.state."):
            assert np.array_equal(value, arrays_part[name]), name
    rows = [json.loads(line) for line in (part / mnist.METRICS_NAME).read_text().splitlines()]
    assert [row["epoch"] for row in rows if row.get("eval")] == [1, 2]
    assert [row["step"] for row in rows if not row.get("eval")] == list(range(1, full.step + 1))
    rows_full = [json.loads(line) for line in (tmp_path / "full" / mnist.METRICS_NAME).read_text().splitlines()]
    timing = ("ms", "seconds")
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows] == \
        [{k: v for k, v in r.items() if k not in timing} for r in rows_full]


def test_resume_refuses_a_different_configuration(tmp_path):
    _run(TINY, out_dir=tmp_path, stop_after=3)
    other = MNISTConfig(**{**TINY.to_dict(), "learning_rate": 0.5})
    with pytest.raises(ValueError, match="learning_rate"):
        _run(other, out_dir=tmp_path, resume=True)


def test_resume_without_a_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="last.npz"):
        _run(None, out_dir=tmp_path, resume=True)


def test_checkpoint_is_plain_npz_readable_without_pickle(tmp_path):
    _run(TINY, out_dir=tmp_path, stop_after=5)
    path = tmp_path / mnist.CHECKPOINT_NAME
    with np.load(path, allow_pickle=False) as npz:
        names = npz.files
        for name in names:
            assert npz[name].dtype != object
    assert "model.layers.0.weight" in names and any(n.startswith("optim.state.") for n in names)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / mnist.CHECKPOINT_NAME
    seen = {}

    def poison(phase, step, task):
        # after epoch 1 finished (checkpoint on disk), corrupt one weight: the next loss is NaN
        if phase == "forward" and step == 12:
            seen["digest"] = _digest(path)
            seen["best"] = _digest(tmp_path / "ckpt.npz")
            seen["log"] = (tmp_path / mnist.METRICS_NAME).read_text()
            task.model.layers[0].weight.numpy()[0, 0] = np.nan

    with pytest.raises(NonFiniteLossError) as excinfo:
        _run(TINY, out_dir=tmp_path, on_phase=poison)
    message = str(excinfo.value)
    assert "nan" in message and "step 13" in message and str(path) in message and "(step 10)" in message
    assert _digest(path) == seen["digest"] and _digest(tmp_path / "ckpt.npz") == seen["best"]
    assert (tmp_path / mnist.METRICS_NAME).read_text().startswith(seen["log"])
    model, _, _, meta = mnist.read_checkpoint(path)
    assert meta["step"] == 10
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


@pytest.mark.parametrize("how", ["updated", "without a gradient"])
def test_a_weight_made_non_finite_stops_the_run_in_that_step(tmp_path, how):
    """The guard after each update: a weight the optimizer writes as inf (its compiled update
    counts it) and a weight the optimizer never touched (no gradient: the loop must read it
    itself) both stop the run at that step, before the next forward pass, naming the step."""

    def poison(phase, step, task):
        if phase == "optimizer" and step == 3:
            layer = task.model.layers[0]
            if how == "updated":
                layer.weight.numpy()[0, 0] = np.inf  # the update writes inf - lr * g = inf
            else:
                layer.bias.grad = None  # skipped by the optimizer, but not by the guard
                layer.bias.numpy()[0] = np.nan

    with pytest.raises(NonFiniteLossError, match="the weights became NaN/inf in the update of step 4 "):
        _run(TINY, out_dir=tmp_path, on_phase=poison)


def test_diverging_learning_rate_is_caught_before_any_checkpoint(tmp_path):
    config = MNISTConfig(**{**TINY.to_dict(), "learning_rate": 1e30})
    with pytest.raises(NonFiniteLossError, match="none was written yet"):
        _run(config, out_dir=tmp_path)
    assert not (tmp_path / mnist.CHECKPOINT_NAME).exists()


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_stops_at_a_step_boundary_and_saves_a_resumable_checkpoint(tmp_path):
    def press_ctrl_c(phase, step, task):
        if phase == "optimizer" and step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, handled by the loop

    previous = signal.getsignal(signal.SIGINT)
    stopped = _run(TINY, out_dir=tmp_path / "a", on_phase=press_ctrl_c)
    assert signal.getsignal(signal.SIGINT) is previous  # handler restored
    assert stopped.interrupted and not stopped.finished and stopped.step == 3
    resumed = _run(None, out_dir=tmp_path / "a", resume=True)
    full = _run(TINY)
    _assert_same_weights(full.model, resumed.model)


def test_cross_entropy_and_mse_losses_match_numpy():
    from micrograd_plus._tensor import tensor

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 10)).astype(np.float64)
    y = np.array([3, 0, 9, 3, 7])
    # cross-entropy by hand: -log softmax at the target
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected_ce = -logp[np.arange(5), y].mean()
    assert mnist.compute_loss(tensor(logits), y, "cross_entropy").item() == pytest.approx(expected_ce, rel=1e-12)
    # the video's cost: squared distance of the sigmoid outputs to the one-hot answer, summed over
    # the 10 outputs, averaged over the images
    a = 1 / (1 + np.exp(-logits))
    onehot = np.eye(10)[y]
    expected_mse = ((a - onehot) ** 2).sum(axis=1).mean()
    assert mnist.compute_loss(tensor(logits), y, "mse").item() == pytest.approx(expected_mse, rel=1e-12)


def test_mse_training_learns_too():
    # the video's cost learns more slowly than cross-entropy (small gradients through saturated
    # sigmoid outputs); plain SGD with a large step, as in Nielsen's book, gets going quickly
    config = MNISTConfig(hidden=(32,), activation="sigmoid", loss="mse", optimizer="sgd", learning_rate=3.0, momentum=0.0,
                         nesterov=False, batch_size=10, epochs=2, limit=3000, test_limit=500)
    assert _run(config).evals[-1]["test_accuracy"] > 0.8


def test_evaluate_agrees_with_a_numpy_forward_pass():
    result = _run(MNISTConfig(**{**TINY.to_dict(), "epochs": 1}))
    _, _, x, y = mnist.load_data(TINY)
    sd = result.model.state_dict()
    h = np.maximum(x @ sd["layers.0.weight"].T + sd["layers.0.bias"], 0)  # (N, 32)
    logits = h @ sd["layers.2.weight"].T + sd["layers.2.bias"]  # (N, 10)
    ev = mnist.evaluate(result.model, x, y)
    assert np.array_equal(ev["predictions"], logits.argmax(axis=1))
    assert ev["accuracy"] == pytest.approx((logits.argmax(axis=1) == y).mean())
    assert ev["accuracy"] == result.evals[-1]["test_accuracy"]


def test_presets_are_the_promised_networks():
    p = mnist.PRESETS["3b1b"]
    assert p.sizes == [784, 16, 16, 10] and p.activation == "sigmoid"
    assert mnist.build_model(p).num_parameters() == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10
    assert mnist.PRESETS["default"].sizes[0] == 784 and mnist.PRESETS["default"].sizes[-1] == 10


@pytest.mark.parametrize("bad, word", [
    ({"activation": "swish"}, "activation"), ({"loss": "hinge"}, "loss"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"optimizer": "lbfgs"}, "optimizer"), ({"batch_size": 0}, "batch_size"), ({"limit": 0}, "limit"),
])
def test_bad_configuration_is_named(bad, word):
    with pytest.raises(ValueError, match=word):
        MNISTConfig(**bad)
