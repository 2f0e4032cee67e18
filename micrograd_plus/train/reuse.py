"""Train a model once and reuse the finished run: what the course chapters (and notebooks) call.

Chapters 11, 12 and 15 of the course all look at the same small GPT. Training it takes a minute
on a laptop; doing it three times per reading (or per docs build) would be a waste, so
:func:`train_or_load` keeps the finished run in a directory named after everything that
determines it -- the two configurations and the source of the model and training code -- and
loads it when it is there. Change a setting, or the code, and the name changes: the model is
trained anew, never silently taken from a different recipe.

The directory is written only when training has finished, by renaming a complete temporary run
into place, so a run interrupted half-way (or two processes training at once) never leaves a
half-written cache that a later call would load.

:func:`train_mnist_or_load` does the same for an MNIST classifier (chapter 7's MLP and CNN,
trained on ordinary and on permuted pixels): its key adds a fingerprint of the images it was
given, so that the permuted run is never served for the ordinary one.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

import micrograd_plus.data.bpe
import micrograd_plus.models.gpt
import micrograd_plus.train.gpt
from micrograd_plus.data import BPETokenizer, load_shakespeare
from micrograd_plus.train import mnist as _mnist
from micrograd_plus.train.gpt import load_model, train


def _source_digest(digest):
    """Add every source file of the package to ``digest`` (a hashlib object) and return it."""
    # Every source file of the package, not only the model's and the loop's: the kernels, the
    # engine and the optimizers decide a run's numbers too (a cache keyed on less served one code
    # version's run to another). Reading ~150 small files takes a few milliseconds.
    package = Path(micrograd_plus.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest


def run_key(model_config, train_config, bpe_vocab_size=None):
    """A 12-character name for a training recipe: the configs and the library's code.

    Args:
        model_config: a :class:`~micrograd_plus.models.gpt_config.GPTConfig`.
        train_config: a :class:`~micrograd_plus.train.config.TrainConfig`.
        bpe_vocab_size: None for characters; else the size of the BPE vocabulary (then the
            tokenizer's source is part of the recipe too).

    Returns:
        The first 12 hex digits of a SHA-256 over the configs and every source file of the package.
    """
    recipe = (model_config, train_config) if bpe_vocab_size is None else (model_config, train_config, bpe_vocab_size)
    return _source_digest(hashlib.sha256(repr(recipe).encode())).hexdigest()[:12]


def train_or_load(model_config, train_config, cache_dir=None, bpe_vocab_size=None):
    """The trained model of this recipe: loaded if a finished run exists, trained (once) if not.

    Args:
        model_config: the :class:`~micrograd_plus.models.gpt_config.GPTConfig` to train (its
            ``vocab_size`` is taken from the data's tokenizer).
        train_config: the :class:`~micrograd_plus.train.config.TrainConfig` (steps, batch, seed, ...).
        cache_dir: where finished runs are kept (default: the system's temporary directory).
        bpe_vocab_size: None: one token per character. Else a byte-level BPE vocabulary of this
            size (:class:`~micrograd_plus.data.BPETokenizer`) is trained on Tiny Shakespeare first
            and the GPT learns word pieces (chapter 11's word embeddings).

    Returns:
        ``(model, tokenizer, run_dir)``: the trained :class:`~micrograd_plus.models.gpt.GPT` (in
        eval mode), its tokenizer, and the run directory (``last.npz``, ``log.jsonl``, ...).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir())
    run_dir = cache_dir / f"micrograd_plus-course-gpt-{run_key(model_config, train_config, bpe_vocab_size)}"
    try:
        model, tokenizer, meta = load_model(run_dir / "last.npz")
        finished = (meta["step"] == train_config.max_iters
                    and meta["train_config"] == train_config.to_dict()
                    and meta["model_config"] == {**model_config.to_dict(), "vocab_size": tokenizer.vocab_size})
        if finished and (run_dir / "log.jsonl").is_file():
            return model, tokenizer, run_dir
    except Exception:  # no cache yet, or an unreadable one: train again (the reason does not matter)
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="micrograd_plus-course-gpt-training-", dir=cache_dir))
    tokenizer = None
    if bpe_vocab_size is not None:  # deterministic: the same text and size give the same merges
        tokenizer = BPETokenizer.train(load_shakespeare(), vocab_size=bpe_vocab_size, progress=False)
    train(model_config, train_config, out_dir=tmp, progress=False, log=None, tokenizer=tokenizer)
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        os.replace(tmp, run_dir)  # another process may have finished first: then use its run
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    model, tokenizer, _ = load_model(run_dir / "last.npz")
    return model, tokenizer, run_dir


def mnist_run_key(config, data=None):
    """A 12-character name for an MNIST recipe: the :class:`~micrograd_plus.train.config.MNISTConfig`,
    the data (None: MNIST as the config loads it; else a SHA-256 of the four arrays' shapes,
    dtypes and bytes) and every source file of the package, as :func:`run_key`."""
    digest = hashlib.sha256(repr(config).encode())
    for array in data if data is not None else ():
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    return _source_digest(digest).hexdigest()[:12]


def train_mnist_or_load(config, data=None, cache_dir=None):
    """The trained MNIST classifier of this recipe: loaded if a finished run exists, trained (once) if not.

    Args:
        config: the :class:`~micrograd_plus.train.config.MNISTConfig` (a preset, perhaps shortened).
        data: None (MNIST, as ``config`` says) or ``(x_train, y_train, x_test, y_test)``, as
            :func:`~micrograd_plus.train.mnist.train` takes it (e.g. with permuted pixels).
        cache_dir: where finished runs are kept (default: the system's temporary directory).

    Returns:
        ``(model, test_accuracy, run_dir)``: the trained network (in eval mode), its accuracy on
        the test images (a fraction in [0, 1], computed anew on load: the same weights, the same
        answer), and the run directory (``last.npz``, ``log.jsonl``).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir())
    run_dir = cache_dir / f"micrograd_plus-course-mnist-{mnist_run_key(config, data)}"
    data = _mnist.load_data(config) if data is None else data  # (x_train, y_train, x_test, y_test)
    try:
        model, saved, _, meta = _mnist.read_checkpoint(run_dir / "last.npz")
        finished = saved == config and meta["step"] == meta["max_iters"]
        if finished and (run_dir / "log.jsonl").is_file():
            return model, _mnist.evaluate(model, data[2], data[3])["accuracy"], run_dir
    except Exception:  # no cache yet, or an unreadable one: train again (the reason does not matter)
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="micrograd_plus-course-mnist-training-", dir=cache_dir))
    result = _mnist.train(config, out_dir=tmp, force=True, data=data, progress=False, log=None)
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        os.replace(tmp, run_dir)  # another process may have finished first: then use its run
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    model, _, _, _ = _mnist.read_checkpoint(run_dir / "last.npz")
    return model, result.evals[-1]["test_accuracy"], run_dir
