"""Tests of ``micrograd-plus mnist``, the plots and the experiments answering the video's questions."""

import json

import numpy as np
import pytest

from micrograd_plus._plumbing.cli import main
from micrograd_plus.train import mnist

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK = ["--limit", "500", "--test-limit", "200", "--epochs", "1", "--hidden", "16", "--no-progress"]


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def trained():
    """A small network trained for a few seconds, shared by the experiment tests."""
    config = mnist.MNISTConfig(hidden=(32,), activation="relu", learning_rate=0.1, batch_size=64, epochs=2, limit=3000,
                               test_limit=1000)
    result = mnist.train(config, progress=False, log=None)
    return result, mnist.load_data(config)


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mnist", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--preset", "--resume", "--force", "--stop-after", "--limit", "--loss", "--experiments", "--out"):
        assert option in out


def test_tiny_cli_run_writes_log_checkpoint_and_plots(tmp_path, capsys):
    assert main(["mnist", *QUICK, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "training time per epoch" in out
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    records = [row for row in rows if row.get("eval")]
    assert len(records) == 1 and len(rows) == 1 + records[0]["step"]
    assert {"epoch", "train_loss", "test_loss", "test_accuracy", "seconds"} <= set(records[0])
    assert 0.1 < records[0]["test_accuracy"] <= 1.0
    assert (tmp_path / "last.npz").exists() and (tmp_path / "ckpt.npz").exists()
    assert _is_png(tmp_path / "curves.png") and _is_png(tmp_path / "misclassified.png")


def test_cli_stop_after_then_resume_and_refusal_of_changed_options(tmp_path, capsys):
    assert main(["mnist", *QUICK, "--out", str(tmp_path), "--stop-after", "3", "--no-plots"]) == 0
    assert "--resume --out" in capsys.readouterr().out
    assert main(["mnist", "--resume", "--out", str(tmp_path), "--learning-rate", "0.7", "--no-progress"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert main(["mnist", "--resume", "--out", str(tmp_path), "--no-progress", "--no-plots"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 4]  # 500 images / 128: 4 steps, then the epoch's row


def test_cli_reports_divergence_with_exit_code_3(tmp_path, capsys):
    code = main(["mnist", *QUICK, "--out", str(tmp_path), "--learning-rate", "1e30"])
    assert code == 3
    err = capsys.readouterr().err
    assert "loss became" in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["mnist", "--hidden", "16,x"])
    assert "--hidden" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["mnist", "--experiments", "telepathy"])


def test_first_layer_weights_and_hidden_activations(trained):
    from micrograd_plus.train.mnist_experiments import first_layer_weights, mean_hidden_activations

    result, (_, _, x_te, y_te) = trained
    w = first_layer_weights(result.model)
    assert w.shape == (32, 784)
    assert np.array_equal(w, result.model.state_dict()["layers.0.weight"])
    acts = mean_hidden_activations(result.model, x_te, y_te)
    assert len(acts) == 1 and acts[0].shape == (10, 32)
    # independent numpy computation for digit 3
    sd = result.model.state_dict()
    h = np.maximum(x_te[y_te == 3] @ sd["layers.0.weight"].T + sd["layers.0.bias"], 0)
    np.testing.assert_allclose(acts[0][3], h.mean(axis=0), rtol=1e-4, atol=1e-6)


def test_gradient_ascent_makes_the_network_sure_of_images_that_are_not_digits(trained):
    from micrograd_plus.train.mnist_experiments import dream

    result, (_, _, x_te, y_te) = trained
    before = {k: v.clone() for k, v in result.model.state_dict().items()}
    images, confidence = dream(result.model, steps=60)
    assert images.shape == (10, 784) and images.min() >= 0 and images.max() <= 1
    assert np.all(confidence > 0.9)
    for k, v in result.model.state_dict().items():  # the weights were not touched
        assert np.array_equal(v, before[k])
    # the dreamed "digits" are far from what real digits look like: each is closer to another
    # digit's mean image, or at least much farther from its own mean than real digits are
    means = np.stack([x_te[y_te == d].mean(axis=0) for d in range(10)])  # (10, 784)
    typical = np.mean([np.linalg.norm(x_te[y_te == d] - means[d], axis=1).mean() for d in range(10)])
    own = np.linalg.norm(images - means, axis=1)
    assert own.mean() > 1.2 * typical


def test_noise_gets_an_answer_with_real_confidence(trained):
    from micrograd_plus.train.mnist_experiments import noise_confidence

    result, _ = trained
    conf, pred = noise_confidence(result.model, n=500, generator=1)
    assert conf.shape == (500,) and pred.shape == (500,)
    assert np.all(conf >= 0.1 - 1e-6) and np.all(conf <= 1.0)  # the top of 10 probabilities is >= 1/10
    again, _ = noise_confidence(result.model, n=500, generator=1)
    assert np.array_equal(conf, again)


def test_gd_versus_sgd_curves(trained):
    from micrograd_plus.train.mnist_experiments import gd_vs_sgd

    _, (x_tr, y_tr, _, _) = trained
    curves = gd_vs_sgd(x_tr[:1000], y_tr[:1000], seconds=0.5, hidden=(16,), evals=5)
    assert len(curves) == 2
    for seconds, losses in curves.values():
        assert seconds[0] == 0 and np.all(np.diff(seconds) >= 0)
        assert losses[-1] < losses[0]  # both learned something
        assert abs(losses[0] - np.log(10)) < 0.3  # starting near chance: -log(1/10)


def test_run_experiments_writes_every_picture(trained, tmp_path):
    from micrograd_plus.train.mnist_experiments import run_experiments

    result, (x_tr, y_tr, x_te, y_te) = trained
    written = run_experiments(result.model, x_te, y_te, tmp_path, x_train=x_tr[:1000], y_train=y_tr[:1000],
                              seconds=0.3, log=None)
    assert set(written) == {"weights", "activations", "dream", "noise", "gd-vs-sgd"}
    assert all(_is_png(p) for p in written.values())


def test_plots_write_pngs_and_reject_bad_shapes(trained, tmp_path):
    from micrograd_plus.viz import training as plots

    result, (_, _, x_te, y_te) = trained
    ev = mnist.evaluate(result.model, x_te, y_te)
    plots.plot_training_curves(result.evals, result.step_losses, path=tmp_path / "c.png")
    plots.plot_misclassified(x_te, y_te, ev["predictions"], path=tmp_path / "m.png")
    plots.plot_misclassified(x_te, y_te, y_te, path=tmp_path / "none.png")  # nothing wrong: still a picture
    assert all(_is_png(tmp_path / n) for n in ("c.png", "m.png", "none.png"))
    with pytest.raises(ValueError, match="784"):
        plots.plot_digits(np.zeros((3, 10)))
