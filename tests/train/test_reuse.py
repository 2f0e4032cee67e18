"""train_or_load: one training per recipe, reused after; a new recipe trains anew."""

import numpy as np
import pytest

import micrograd_plus.train.reuse as reuse
from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.gpt import TrainConfig

TINY = GPTConfig(block_size=8, n_layer=1, n_head=1, n_embd=8)
STEPS = TrainConfig(batch_size=2, max_iters=2, warmup_iters=1, eval_interval=2, eval_iters=1, seed=3)


@pytest.fixture
def trainings(monkeypatch):
    """Count the calls of the real train()."""
    calls = []
    real = reuse.train

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(reuse, "train", counting)
    return calls


def test_trains_once_then_loads(tmp_path, trainings):
    model, tok, run_dir = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    again, tok2, run_dir2 = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    assert len(trainings) == 1, "the finished run must be loaded, not trained again"
    assert run_dir == run_dir2 and (run_dir / "last.npz").is_file() and (run_dir / "log.jsonl").is_file()
    assert tok.vocab_size == tok2.vocab_size
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    assert not [p for p in tmp_path.iterdir() if "training" in p.name], "a temporary run was left behind"


def test_another_recipe_trains_anew(tmp_path, trainings):
    _, _, first = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    other = TrainConfig(**{**STEPS.to_dict(), "seed": 4})
    _, _, second = reuse.train_or_load(TINY, other, cache_dir=tmp_path)
    assert first != second and len(trainings) == 2


def test_an_unfinished_run_is_not_loaded(tmp_path, trainings):
    _, _, run_dir = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    (run_dir / "log.jsonl").unlink()                      # as if the run had been cut short
    reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    assert len(trainings) == 2


def test_word_pieces_are_a_recipe_of_their_own(tmp_path, trainings):
    """bpe_vocab_size trains a BPE tokenizer first; the run is cached apart from the character one."""
    _, chars, char_dir = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path)
    model, tok, bpe_dir = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path, bpe_vocab_size=300)
    assert bpe_dir != char_dir and len(trainings) == 2
    assert type(tok).__name__ == "BPETokenizer" and tok.vocab_size == 300 and chars.vocab_size == 65
    assert model.transformer.wte.weight.shape == (300, 8)
    _, again, again_dir = reuse.train_or_load(TINY, STEPS, cache_dir=tmp_path, bpe_vocab_size=300)
    assert again_dir == bpe_dir and len(trainings) == 2, "the finished word-piece run must be loaded"
    assert again.encode(" the king").tolist() == tok.encode(" the king").tolist()


def test_run_key_changes_with_any_source_file_of_the_package(monkeypatch):
    """A kernel, not only the model or the loop, decides a run's numbers: changing one must not
    let a cached run of the old code be served as this code's (it happened with chapter 16)."""
    from pathlib import Path

    from micrograd_plus.models.gpt import GPTConfig
    from micrograd_plus.train import reuse
    from micrograd_plus.train.gpt import TrainConfig

    before = reuse.run_key(GPTConfig(), TrainConfig())
    assert reuse.run_key(GPTConfig(), TrainConfig()) == before  # the same code, the same key
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: real(self) + (b"# changed" if self.name == "layer_norm.py" else b""))
    assert reuse.run_key(GPTConfig(), TrainConfig()) != before


# ---- the MNIST classifiers of chapter 7 --------------------------------------------------------


@pytest.fixture
def mnist_trainings(monkeypatch):
    """Count the calls of the real MNIST train()."""
    calls = []
    real = reuse._mnist.train
    monkeypatch.setattr(reuse._mnist, "train", lambda *a, **k: (calls.append(a), real(*a, **k))[1])
    return calls


def _small_cnn():
    from dataclasses import replace

    from micrograd_plus.train.mnist import PRESETS

    return replace(PRESETS["cnn"], limit=128, test_limit=64, epochs=1, batch_size=64)


def test_mnist_trains_once_then_loads(tmp_path, mnist_trainings):
    config = _small_cnn()
    model, acc, run_dir = reuse.train_mnist_or_load(config, cache_dir=tmp_path)
    again, acc2, run_dir2 = reuse.train_mnist_or_load(config, cache_dir=tmp_path)
    assert len(mnist_trainings) == 1, "the finished run must be loaded, not trained again"
    assert run_dir == run_dir2 and acc == acc2 and 0 <= acc <= 1
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    assert not [p for p in tmp_path.iterdir() if "training" in p.name], "a temporary run was left behind"


def test_mnist_other_data_or_config_trains_anew(tmp_path, mnist_trainings):
    """Permuted pixels are a recipe of their own (chapter 7 trains both); so is another seed;
    a run cut short (no log) is trained again."""
    from dataclasses import replace

    from micrograd_plus.train.mnist import load_data

    config = _small_cnn()
    data = load_data(config)
    order = np.random.default_rng(0).permutation(784)
    permuted = (data[0][:, order], data[1], data[2][:, order], data[3])
    _, _, plain = reuse.train_mnist_or_load(config, data=data, cache_dir=tmp_path)
    _, _, shuffled = reuse.train_mnist_or_load(config, data=permuted, cache_dir=tmp_path)
    _, _, seeded = reuse.train_mnist_or_load(replace(config, seed=config.seed + 1), data=data, cache_dir=tmp_path)
    assert len({plain, shuffled, seeded}) == 3 and len(mnist_trainings) == 3
    (plain / "log.jsonl").unlink()
    reuse.train_mnist_or_load(config, data=data, cache_dir=tmp_path)
    assert len(mnist_trainings) == 4
