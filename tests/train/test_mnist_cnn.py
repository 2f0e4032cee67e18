"""The MNIST CNN preset: the promised network, learning, exact resume, config errors."""

import numpy as np
import pytest

from micrograd_plus.train import mnist
from micrograd_plus.train.errors import ConfigError
from micrograd_plus.train.mnist import MNISTConfig, train

TINY_CNN = MNISTConfig(model="cnn", channels=(4, 8), hidden=(16,), learning_rate=0.1, batch_size=32, epochs=2, limit=600,
                       test_limit=300)


def _run(config, **kwargs):
    return train(config, progress=False, log=None, **kwargs)


def test_cnn_preset_is_the_promised_network():
    p = mnist.PRESETS["cnn"]
    assert p.model == "cnn" and p.channels == (16, 32) and p.hidden == (128,)
    model = mnist.build_model(p)
    conv1, conv2 = model.features[0], model.features[3]
    assert conv1.weight.shape == (16, 1, 5, 5) and conv2.weight.shape == (32, 16, 5, 5)
    # 5x5 filters and biases, then 32 maps of 7x7 = 1568 numbers into 128 neurons, then 10
    assert model.num_parameters() == (16 * 25 + 16) + (32 * 16 * 25 + 32) + (1568 * 128 + 128) + (128 * 10 + 10)
    assert "conv5x5(16)" in p.describe()
    assert model(np.zeros((3, 784), np.float32)).shape == (3, 10)  # the MLP's batches, as images inside


def test_cnn_learns_and_resumes_exactly(tmp_path):
    full = _run(TINY_CNN, out_dir=tmp_path / "full")
    assert full.finished and full.evals[-1]["test_accuracy"] > 0.3  # 600 images, 38 steps of a tiny net; chance is 0.10
    part = tmp_path / "part"
    _run(TINY_CNN, out_dir=part, stop_after=4)
    last = _run(None, out_dir=part, resume=True)
    assert last.finished and np.array_equal(full.step_losses, last.step_losses)
    for name, value in full.model.state_dict().items():
        assert np.array_equal(value, last.model.state_dict()[name]), name
    model, config, _, _ = mnist.read_checkpoint(part / mnist.CHECKPOINT_NAME)
    assert config == TINY_CNN and model.features[0].weight.shape == (4, 1, 5, 5)


@pytest.mark.parametrize("bad, word", [({"model": "rnn"}, "model"), ({"channels": (8,)}, "channels"),
                                       ({"model": "cnn", "activation": "tanh"}, "relu")])
def test_bad_cnn_configuration_is_named(bad, word):
    with pytest.raises(ConfigError, match=word):
        MNISTConfig(**bad)


def test_old_config_without_model_field_loads_as_mlp():
    d = mnist.PRESETS["default"].to_dict()
    del d["model"], d["channels"]
    assert MNISTConfig.from_dict(d).model == "mlp"


def test_cli_refuses_mlp_experiments_on_a_cnn(tmp_path, capsys):
    from micrograd_plus._plumbing.cli import main

    assert main(["mnist", "--preset", "cnn", "--experiments", "weights", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--model mlp" in capsys.readouterr().err
    assert not (tmp_path / mnist.CHECKPOINT_NAME).exists()  # refused before any training
