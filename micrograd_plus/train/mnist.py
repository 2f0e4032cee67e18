"""Train an MLP on MNIST: the whole first half of the 3Blue1Brown series, runnable.

What happens, in the video's words:

1. **The network** (:func:`~micrograd_plus.models.mlp.mnist_classifier`) turns the 784 pixel
   activations of an image into 10 output activations, one per digit.
2. **The cost** says how bad one answer is. The video uses the squared difference between the
   outputs and the wanted ones (``loss="mse"``); modern networks use cross-entropy
   (``loss="cross_entropy"``), which learns faster because its gradient does not vanish when an
   output is confidently wrong.
3. **Backpropagation** (``loss.backward()``) computes how the cost changes with every one of the
   weights and biases: the negative gradient says how to nudge each of them.
4. **Stochastic gradient descent** takes one small step downhill per *mini-batch* of images
   instead of per pass over all 60,000 (:class:`~micrograd_plus.data.DataLoader`).

This module only says what is particular to MNIST -- the network, the batches of each step, the
test-set evaluation after every epoch (:class:`MNISTTask`). The loop itself, shared with the GPT,
is :func:`micrograd_plus.train.loop.run`: progress bar, one JSON log, ``last.npz`` / ``ckpt.npz``
checkpoints that let an interrupted run carry on *bit for bit*, Ctrl-C, the run-directory lock and a
guard that stops on a non-finite loss instead of training garbage::

    from micrograd_plus.train.mnist import PRESETS, train
    result = train(PRESETS["3b1b"], out_dir="runs/mnist")
    print(result.evals[-1]["test_accuracy"])

``micrograd-plus mnist`` (:mod:`micrograd_plus.train.mnist_cli`) is the command-line face of
:func:`train`. Files written to ``out_dir`` are those of every run
(:mod:`micrograd_plus.train.rundir`): ``last.npz``, ``ckpt.npz`` (lowest test loss) and
``log.jsonl`` (a line per step, and one per epoch with the test loss and accuracy).
"""

import dataclasses

import numpy as np

from micrograd_plus import functional as F, optim
from micrograd_plus._plumbing.memory import check_fits
from micrograd_plus.data import DataLoader, load_mnist, mnist_to_float
from micrograd_plus.models.cnn import mnist_cnn
from micrograd_plus.models.mlp import mnist_classifier
from micrograd_plus._tensor import no_grad, Tensor
from micrograd_plus.train.config import LOSSES, MNIST_PRESETS as PRESETS, MNISTConfig  # noqa: F401  (re-exported)
from micrograd_plus.train.checkpoint import first_non_finite, load_training_checkpoint, meta_field, strip_prefix
from micrograd_plus.train.errors import CheckpointError, ConfigError, DivergedError
from micrograd_plus.train.loop import run, Task, TrainResult  # noqa: F401  (TrainResult: re-exported)
from micrograd_plus.train.rundir import LAST, LOG, RunDir


#: Name of the checkpoint ``--resume`` continues from, inside a run's output directory.
CHECKPOINT_NAME = LAST
#: Name of the JSON-lines log (a line per step and per epoch) inside a run's output directory.
METRICS_NAME = LOG
#: Identifies checkpoints written by this module (stored in their metadata).
CHECKPOINT_FORMAT = "micrograd_plus.mnist/2"

#: The error a non-finite loss raises (the name this module used before the shared loop).
NonFiniteLossError = DivergedError

__all__ = ["MNISTConfig", "PRESETS", "MNISTTask", "train", "load_data", "build_model",
           "build_optimizer", "build_scheduler", "compute_loss", "evaluate", "read_checkpoint",
           "CHECKPOINT_NAME", "METRICS_NAME"]


# ---- data ----------------------------------------------------------------------------------


def load_data(config):
    """Load MNIST as float32 pixels in [0, 1] and int64 labels, honouring ``limit``/``test_limit``.

    Returns:
        ``(x_train (N, 784), y_train (N,), x_test (M, 784), y_test (M,))``.
    """

    x_tr, y_tr = load_mnist("train", root=config.data_dir)
    x_te, y_te = load_mnist("test", root=config.data_dir)
    n, m = config.limit or len(x_tr), config.test_limit or len(x_te)
    return (mnist_to_float(x_tr[:n]), y_tr[:n].astype(np.int64),
            mnist_to_float(x_te[:m]), y_te[:m].astype(np.int64))


# ---- the pieces of a run -----------------------------------------------------------------------


def training_bytes(config):
    """A rough estimate of the memory training ``config``'s network needs, in bytes: float32 weights,
    gradients and two optimiser moments (4 copies), and per sample of a batch (or of the 10,000 test
    images, evaluated in one go) each layer's outputs, pre-activations and gradients (4 numbers per unit)."""
    sizes = config.sizes
    if config.model == "cnn":  # two 5x5 convolutions, each followed by 2x2 pooling: 28 -> 24 -> 12 -> 8 -> 4
        c1, c2 = config.channels
        sizes = [c2 * 4 * 4, *config.hidden, 10]
        weights = c1 * 25 + c1 + c2 * c1 * 25 + c2
        units = 784 + c1 * (24 * 24 + 12 * 12) + c2 * (8 * 8 + 4 * 4)
    else:
        weights, units = 0, 0
    weights += sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    units += sum(sizes)
    return 4 * 4 * weights + 4 * 4 * max(config.batch_size, 10_000) * units


def check_training_fits(config):
    """Refuse (one line: what, how much, how much there is) a network that would not fit in memory."""
    check_fits(f"training {'a CNN' if config.model == 'cnn' else 'an MLP'} {config.sizes} with batches of "
               f"{config.batch_size:,}",
               training_bytes(config), "use smaller --hidden sizes or --batch-size")


def build_model(config, generator=None):
    """The network described by ``config``; ``generator`` defaults to one seeded with ``config.seed``."""

    gen = np.random.default_rng(config.seed) if generator is None else generator
    if config.model == "cnn":
        return mnist_cnn(config.channels, config.hidden, dropout=config.dropout, generator=gen)
    return mnist_classifier(config.hidden, config.activation, dropout=config.dropout, generator=gen)


def build_optimizer(model, config):
    """The optimiser named by ``config.optimizer``, over all of ``model``'s parameters."""

    params = list(model.parameters())
    if config.optimizer == "sgd":
        return optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                         nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    return optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def build_scheduler(optimizer, config, total_steps):
    """The learning-rate schedule over ``total_steps`` optimiser steps."""

    if config.schedule == "constant":
        return optim.LambdaLR(optimizer, lambda step: 1.0)
    warmup = min(config.warmup_iters, max(total_steps - 1, 0))
    return optim.CosineWithWarmup(optimizer, warmup_steps=warmup, total_steps=max(total_steps, 1), min_lr=0.0)


def compute_loss(logits, targets, loss="cross_entropy"):
    """The cost of a batch: a scalar Tensor.

    Args:
        logits: ``(B, 10)`` Tensor of output scores.
        targets: ``(B,)`` int64 digit labels.
        loss: ``"cross_entropy"``: mean of ``-log softmax(logits)[target]``; ``"mse"``: the
            video's cost, ``sum_j (sigmoid(logit_j) - [j == target])^2`` averaged over the batch.
    """

    if loss == "cross_entropy":
        return F.cross_entropy(logits, targets)
    if loss == "mse":
        targets = np.asarray(targets)
        onehot = np.zeros(logits.shape, dtype=logits.dtype)  # (B, 10)
        onehot[np.arange(len(targets)), targets] = 1.0
        return F.mse_loss(F.sigmoid(logits), onehot, reduction="sum") / len(targets)
    raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")


def evaluate(model, x, y, loss="cross_entropy", batch_size=2000):
    """Test the network: average cost, accuracy and every prediction, without recording a graph.

    Args:
        model: the network. x: ``(N, 784)`` float32 images. y: ``(N,)`` int labels.

    Returns:
        dict with ``loss`` (float), ``accuracy`` (float in [0, 1]) and ``predictions`` (int64 (N,)).
    """

    was_training = model.training
    model.eval()
    total, preds = 0.0, []
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                xb, yb = x[i : i + batch_size], y[i : i + batch_size]
                logits = model(Tensor(xb))  # (b, 10)
                total += float(compute_loss(logits, yb, loss).item()) * len(xb)
                preds.append(logits.numpy().argmax(axis=1))
    finally:
        model.train(was_training)
    predictions = np.concatenate(preds).astype(np.int64)
    return {"loss": total / len(x), "accuracy": float((predictions == y).mean()), "predictions": predictions}


# ---- the task: what the shared loop needs to know about MNIST ----------------------------------


class MNISTTask(Task):
    """MNIST for :func:`~micrograd_plus.train.loop.run`: one step per mini-batch, a test-set
    evaluation after every epoch.

    The data position needs no saving of its own: the order of epoch ``e`` is a pure function of
    ``(seed, e)`` (:meth:`~micrograd_plus.data.DataLoader.order`), so step ``s`` always draws batch
    ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``. The generator (dropout) is saved.
    """

    name = "mnist"
    format = CHECKPOINT_FORMAT
    eval_at_start = False
    best_metric = "test_loss"

    def __init__(self, config, data):

        check_training_fits(config)  # before anything big is allocated (the sizes may come from a file)
        self.config = config
        self.x_train, self.y_train, self.x_test, self.y_test = data
        self.generator = np.random.default_rng(config.seed)
        self.model = build_model(config, self.generator)
        self.optimizer = build_optimizer(self.model, config)
        self.loader = DataLoader((self.x_train, self.y_train), batch_size=config.batch_size, shuffle=True,
                                 seed=config.seed)
        self.steps_per_epoch = len(self.loader)
        self.max_iters = self.steps_per_epoch * config.epochs
        self.eval_interval = self.steps_per_epoch
        self.scheduler = build_scheduler(self.optimizer, config, self.max_iters)
        self._order = (None, None)  # (epoch, its sample order), computed once per epoch

    def get_batch(self, step):
        epoch, batch = divmod(step, self.steps_per_epoch)
        if self._order[0] != epoch:
            self._order = (epoch, self.loader.order(epoch))
        idx = self._order[1][batch * self.config.batch_size:(batch + 1) * self.config.batch_size]  # (B,)
        return self.x_train[idx], self.y_train[idx]  # (B, 784), (B,)

    def loss(self, batch):

        xb, yb = batch
        logits = self.model(Tensor(xb))  # (B, 10)
        return compute_loss(logits, yb, self.config.loss), len(xb)

    def evaluate(self, step, recent):
        ev = evaluate(self.model, self.x_test, self.y_test, self.config.loss)
        return {"epoch": step // self.steps_per_epoch, "train_loss": recent, "test_loss": ev["loss"],
                "test_accuracy": ev["accuracy"], "lr": float(self.optimizer.param_groups[0]["lr"])}

    def describe_eval(self, row):
        rate = len(self.x_train) / row["seconds"] if row["seconds"] > 0 else 0.0
        train = f"{row['train_loss']:.4f}" if row["train_loss"] is not None else "-"
        return (f"epoch {row['epoch']:>2}/{self.config.epochs}  train loss {train}  test loss {row['test_loss']:.4f}  "
                f"test accuracy {100 * row['test_accuracy']:.2f}%  ({row['seconds']:.1f} s, {rate:,.0f} images/s)")

    def state(self):
        return {"config": self.config.to_dict(), "generator": self.generator.bit_generator.state}

    def load_state(self, state):
        self.generator.bit_generator.state = state["generator"]


def read_checkpoint(path):
    """Load a checkpoint written by :func:`train` and rebuild its model.

    Returns:
        ``(model, config, arrays, meta)``; ``model`` holds the saved weights (in eval mode).

    Raises:
        micrograd_plus.train.errors.CheckpointError: missing, damaged or not an MNIST checkpoint.
    """

    arrays, meta = load_training_checkpoint(path, CHECKPOINT_FORMAT, "an MNIST training checkpoint")
    task_state = meta_field(meta, "task", dict, path)
    try:
        config = MNISTConfig.from_dict(meta_field(task_state, "config", dict, path))
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: the saved configuration is unusable: {exc}") from None
    weights = strip_prefix(arrays, "model")
    bad = first_non_finite(weights)
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad!r} holds NaN or inf values; this checkpoint cannot be used")
    sizes = config.sizes
    declared = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    stored = sum(int(np.asarray(v).size) for v in weights.values())
    if config.model == "mlp" and declared != stored:  # before the model is built from the declared sizes
        raise CheckpointError(f"{path}: the saved configuration declares an MLP {sizes} ({declared:,} weights) but the "
                              f"file holds {stored:,} weights")
    model = build_model(config)
    try:
        model.load_state_dict(weights)
    except ValueError as exc:
        raise CheckpointError(f"{path}: the saved weights do not fit the saved configuration: {exc}") from None
    model.eval()
    return model, config, arrays, meta


# ---- training ------------------------------------------------------------------------------------


def train(config=None, out_dir=None, resume=False, force=False, stop_after=None, progress=None, log=print,
          data=None, on_phase=None):
    """Train (or continue training) an MNIST classifier with the shared loop.

    Args:
        config: an :class:`MNISTConfig` (default: ``PRESETS["default"]``). With ``resume`` the
            checkpoint's own config is used; passing a different one is an error.
        out_dir: the run directory (see :mod:`micrograd_plus.train.rundir`; None: nothing is saved).
        resume: continue from ``out_dir/last.npz``; the result is identical, weight for weight, to
            a run that was never interrupted.
        force: a fresh run may replace the run already in ``out_dir`` (otherwise that is an error).
        stop_after: stop (and save) once this many optimiser steps are done in total, as if
            interrupted. The schedule still spans all epochs, so ``resume`` carries on.
        progress: show a progress bar (None: only when stderr is a terminal).
        log: function called with each line of text (default ``print``; None: silent).
        data: optional ``(x_train, y_train, x_test, y_test)`` arrays to use instead of loading
            MNIST (``limit``/``test_limit`` are then ignored).
        on_phase: see :func:`~micrograd_plus.train.loop.run`.

    Returns:
        a :class:`~micrograd_plus.train.loop.TrainResult`; ``result.evals`` has a row per epoch,
        ``result.evals[-1]["test_accuracy"]`` is the last one's accuracy.

    Raises:
        DivergedError (also known as ``NonFiniteLossError``): the loss became NaN/inf; nothing is
        saved after that point, so the last checkpoint on disk is still the last good one.
        ConfigError, RunDirError, CheckpointError: bad settings, ``out_dir`` or checkpoint.
    """
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0):
        raise ConfigError(f"stop_after must be an integer >= 0, got {stop_after!r}")
    if resume and out_dir is None:
        raise ConfigError("resume=True needs out_dir (where the checkpoint is)")
    with RunDir(out_dir, resume=resume, force=force, say=log or (lambda *a: None)) as run_dir:
        if resume:
            _, saved, _, _ = read_checkpoint(run_dir.path / CHECKPOINT_NAME)
            if config is not None and config != saved:
                diff = [f.name for f in dataclasses.fields(MNISTConfig)
                        if getattr(config, f.name) != getattr(saved, f.name)]
                raise ConfigError(f"cannot resume {run_dir.path / CHECKPOINT_NAME} with a different configuration "
                                  f"(differs in {', '.join(diff)}); a resumed run continues the saved one exactly")
            config = saved
        config = config or PRESETS["default"]
        task = MNISTTask(config, load_data(config) if data is None else data)
        if log and not resume:
            log(f"training {config.describe()}")
            log(f"{len(task.x_train):,} training images, {len(task.x_test):,} test images, "
                f"{task.steps_per_epoch} steps per epoch, {task.model.num_parameters():,} parameters")
        return run(task, run_dir, stop_after=stop_after, progress=progress, log=log, on_phase=on_phase)
