"""Training a character-level GPT: the loop, the recipe, the checkpoints.

One training *iteration* is the whole of gradient descent in five lines::

    x, y = get_batch(train_ids, B, T, generator)     # (B, T) contexts and their next characters
    logits, loss = model(x, y)                       # forward: average surprise at the true next char
    loss.backward()                                  # backward: d(loss)/d(every weight)
    clip_grad_norm_(params, 1.0)                     # one bad batch cannot throw the weights far
    optimizer.step(); scheduler.step()               # AdamW update, then the next learning rate

Around it runs the loop every model shares (:func:`micrograd_plus.train.loop.run`; this module
only supplies :class:`GPTTask`): every ``eval_interval`` iterations the loss is estimated on
``eval_iters`` fresh batches of the training and of the validation text, written to the JSON-lines
log, and the model is checkpointed -- ``ckpt.npz`` whenever the validation loss is the best so far
(what ``micrograd-plus gpt sample`` reads), ``last.npz`` always (what ``--resume`` continues from).

Reproducibility: all randomness comes from generators derived from one seed -- ``[seed, 0]``
initialises the weights (and drives dropout), ``[seed, 1]`` draws the training batches, and
``[seed, 2, it, split]`` draws the evaluation batches at iteration ``it`` (so evaluating never disturbs
training). A checkpoint stores the states of the first two, so an interrupted run resumed with
``--resume`` ends with exactly the same weights as one that was never interrupted, wherever the
interruption landed.

The preset ``shakespeare-char-cpu`` is nanoGPT's CPU recipe for Tiny Shakespeare (4 layers,
4 heads, width 128, context 64, batch 12, 2,000 iterations, lr 1e-3 -> 1e-4). nanoGPT reports a
validation loss of 1.88 for it, a 20-batch estimate. Measured here over four seeds
(``python -m micrograd_plus.bench.gpt_quality --seeds 1337 1 3 4``), the loss on the whole validation text
at iteration 2,000 is 1.910 on average (sd 0.009), and PyTorch trained with the same recipe but
its own initial weights and batches gives 1.907 (sd 0.002). A 20-batch estimate scatters by about
0.013 around the whole-text figure (one of PyTorch's four read 1.871).
"""

import hashlib
import json
import resource
from dataclasses import replace
from pathlib import Path

import numpy as np

from micrograd_plus import nn, optim
from micrograd_plus.data import (
    CharTokenizer, get_batch, load_shakespeare, load_text, tokenizer_from_dict, train_val_split
)
from micrograd_plus._plumbing.memory import check_fits
from micrograd_plus.models.gpt import GPT, GPTConfig, check_weights_fit, gpt_num_parameters
from micrograd_plus.optim import CosineWithWarmup
from micrograd_plus._tensor import no_grad
from micrograd_plus.train.config import GPT_PRESETS as PRESETS, Preset, TrainConfig  # noqa: F401  (re-exported)
from micrograd_plus.train.checkpoint import (first_non_finite, load_training_checkpoint, meta_field, replace_file,
                                             strip_prefix)
from micrograd_plus.train.errors import CheckpointError, ConfigError
from micrograd_plus.train.loop import run, Task, TrainResult  # noqa: F401  (TrainResult: re-exported)
from micrograd_plus.train.rundir import LAST, RunDir


__all__ = [
    "TrainConfig",
    "Preset",
    "PRESETS",
    "GPTTask",
    "train",
    "configure_optimizer",
    "estimate_loss",
    "evaluate_full",
    "load_model",
    "load_corpus",
    "peak_rss_mb",
]

CHECKPOINT_FORMAT = "micrograd_plus.gpt/2"
#: A BPE run's vocabulary, saved beside its checkpoints (which hold it too) for other tools to read.
TOKENIZER_FILE = "tokenizer.json"


def peak_rss_mb():
    """The peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_corpus(data=None):
    """The training text and its description: Tiny Shakespeare (``data=None``) or a UTF-8 file."""

    if data is None:
        return load_shakespeare(), "tinyshakespeare"
    return load_text(data), str(Path(data).expanduser().resolve())


def configure_optimizer(model, tc):
    """AdamW with two parameter groups: weight matrices decay, everything else does not.

    Decay pulls weights towards zero, a mild regulariser. It makes sense for the matrices that
    mix features; pulling a bias, a LayerNorm gain (which should stay near 1) or an embedding
    (a character's identity) towards zero only hurts, so they go in a group with
    ``weight_decay=0`` (embeddings join the decayed group if ``tc.decay_embeddings``).
    """

    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():
        is_embedding = id(p) in embeddings
        is_matrix = p.ndim >= 2
        if is_matrix and (not is_embedding or tc.decay_embeddings):
            decay.append(p)
        else:
            no_decay.append(p)
    groups = [{"params": decay, "weight_decay": tc.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return optim.AdamW(groups, lr=tc.learning_rate, betas=(tc.beta1, tc.beta2), eps=tc.eps)


def estimate_loss(model, splits, tc, block_size, it):
    """Mean loss over ``tc.eval_iters`` random batches of each split, without gradients.

    Args:
        model: the GPT.
        splits: dict name -> 1-D array of token ids, e.g. ``{"train": ..., "val": ...}``.
        tc: the :class:`TrainConfig` (batch size, eval_iters, seed).
        block_size: T.
        it: the current iteration; it seeds the batches (``[seed, 2, it]``), so an evaluation at
            a given iteration always sees the same batches and never touches training's generator.

    Returns:
        dict name -> float.
    """

    was_training = model.training
    model.eval()
    out = {}
    with no_grad():
        for k, (name, ids) in enumerate(splits.items()):
            g = np.random.default_rng([tc.seed, 2, it, k])
            losses = []
            for _ in range(tc.eval_iters):
                x, y = get_batch(ids, tc.batch_size, block_size, generator=g)  # (B, T) each
                _, loss = model(x, y)
                losses.append(float(loss.item()))
            out[name] = float(np.mean(losses))
    if was_training:
        model.train()
    return out


def evaluate_full(model, ids, block_size, batch_size=64):
    """The mean loss over a whole token sequence, cut into consecutive windows of ``block_size``.

    :func:`estimate_loss` looks at a few random batches (fast, a little noisy); this looks at
    every token once (the validation text of Tiny Shakespeare is 111,540 characters), so it is the
    number to quote for a finished model. Returns a float.
    """

    ids = np.asarray(ids)
    n = (len(ids) - 1) // block_size  # whole windows that still have a next token for their last position
    if n < 1:
        raise ValueError(f"evaluate_full: {len(ids)} tokens are fewer than block_size + 1 = {block_size + 1}")
    starts = np.arange(n) * block_size  # (n,)
    offsets = np.arange(block_size)  # (T,)
    was_training = model.training
    model.eval()
    total = 0.0
    with no_grad():
        for i in range(0, n, batch_size):
            s = starts[i:i + batch_size]
            x = ids[s[:, None] + offsets]  # (b, T)
            y = ids[s[:, None] + offsets + 1]  # (b, T)
            _, loss = model(x, y)
            total += float(loss.item()) * len(s)
    if was_training:
        model.train()
    return total / n


def training_bytes(mc, tc):
    """A rough estimate of the memory a training run of ``GPT(mc)`` with ``tc`` needs, in bytes.

    float32 weights, their gradients and AdamW's two moments (4 copies of every weight), plus the
    activations kept for backward: per layer and token about 18C numbers (LayerNorms, q/k/v, the
    attention output, the MLP's 4C twice, the residuals) and two T-long rows of attention weights
    per head, and the logits with their softmax and gradient (3V per token).
    """
    B, T, C, L, H, V = tc.batch_size, mc.block_size, mc.n_embd, mc.n_layer, mc.n_head, mc.vocab_size
    weights = 4 * 4 * gpt_num_parameters(mc)
    activations = 4 * B * T * (L * (18 * C + 2 * H * T) + 3 * V)
    return weights + activations


def check_training_fits(mc, tc):
    """Refuse (one line: what, how much, how much there is) a run that would not fit in memory."""
    check_fits(f"training a GPT of {gpt_num_parameters(mc):,} weights on batches of {tc.batch_size:,} x "
               f"{mc.block_size:,} tokens", training_bytes(mc, tc),
               "use a smaller --n-embd / --n-layer / --block-size / --batch-size")


def _unit(tokenizer):
    """What the tokenizer's ids count: "characters" (one token per character) or "tokens" (BPE)."""
    return "characters" if isinstance(tokenizer, CharTokenizer) else "tokens"


def text_sha256(text):
    """The SHA-256 of ``text`` (UTF-8), as hex: what a checkpoint stores to recognise its training text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class GPTTask(Task):
    """The GPT for :func:`~micrograd_plus.train.loop.run`: a random (B, T) window of the training
    text per step, an :func:`estimate_loss` of both splits every ``eval_interval`` steps.

    Everything random comes from two generators whose states go into every checkpoint:
    ``model_rng`` (initial weights, then dropout) and ``batch_rng`` (which windows each step sees).
    """

    name = "gpt"
    format = CHECKPOINT_FORMAT
    eval_at_start = True
    best_metric = "val_loss"

    def __init__(self, model_config, train_config, tokenizer, text, data_desc):

        mc, tc = model_config, train_config
        check_training_fits(mc, tc)  # before anything big is allocated (the sizes may come from a file)
        self.model_config, self.train_config = mc, tc
        self.tokenizer, self.data_desc = tokenizer, data_desc
        self.data_sha256 = text_sha256(text)
        ids = tokenizer.encode(text)  # (N,) int64; raises naming the character if resuming on other text
        self.train_ids, self.val_ids = train_val_split(ids, tc.val_fraction)
        for name, part in (("training", self.train_ids), ("validation", self.val_ids)):
            if len(part) < mc.block_size + 1:
                raise ConfigError(
                    f"the {name} part of the text has {len(part):,} {_unit(tokenizer)}, fewer than block_size + 1 = "
                    f"{mc.block_size + 1}; use a longer text or a smaller --block-size")
        self.model_rng = np.random.default_rng([tc.seed, 0])
        self.batch_rng = np.random.default_rng([tc.seed, 1])
        self.model = GPT(mc, generator=self.model_rng)
        self.optimizer = configure_optimizer(self.model, tc)
        self.scheduler = CosineWithWarmup(self.optimizer, tc.warmup_iters, tc.decay_iters, min_lr=tc.min_lr)
        self.max_iters, self.eval_interval, self.grad_clip = tc.max_iters, tc.eval_interval, tc.grad_clip

    def get_batch(self, step):

        tc = self.train_config
        return get_batch(self.train_ids, tc.batch_size, self.model_config.block_size, generator=self.batch_rng)

    def loss(self, batch):
        x, y = batch  # (B, T) contexts and the characters that follow them
        _, loss = self.model(x, y)  # forward: scalar mean cross-entropy
        return loss, x.size  # samples = tokens predicted

    def evaluate(self, step, recent):
        splits = {"train": self.train_ids, "val": self.val_ids}
        losses = estimate_loss(self.model, splits, self.train_config, self.model_config.block_size, step)
        return {"train_loss": losses["train"], "val_loss": losses["val"]}

    def describe_eval(self, row):
        return f"step {row['step']:>5}: train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}"

    def state(self):
        return {"model_config": self.model_config.to_dict(), "train_config": self.train_config.to_dict(),
                "tokenizer": self.tokenizer.to_dict(), "data": self.data_desc, "data_sha256": self.data_sha256,
                "rng": {"model": self.model_rng.bit_generator.state, "batches": self.batch_rng.bit_generator.state}}

    def load_state(self, state):
        self.model_rng.bit_generator.state = state["rng"]["model"]
        self.batch_rng.bit_generator.state = state["rng"]["batches"]


def read_run_state(path):
    """A GPT training checkpoint, checked: ``(arrays, meta, state, mc, tc, tokenizer)``.

    ``arrays`` and ``meta`` are the file's; ``state`` its task part; ``mc`` and ``tc`` the
    :class:`~micrograd_plus.models.gpt_config.GPTConfig` and :class:`TrainConfig` it was trained with;
    ``tokenizer`` its tokenizer. A damaged or foreign file is a CheckpointError naming it.
    """

    arrays, meta = load_training_checkpoint(path, CHECKPOINT_FORMAT, "a GPT checkpoint")
    state = meta_field(meta, "task", dict, path)
    parts = {}
    for key, build in (("model_config", GPTConfig.from_dict), ("train_config", TrainConfig.from_dict),
                       ("tokenizer", tokenizer_from_dict)):
        value = meta_field(state, key, dict, path)
        try:
            parts[key] = build(value)
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{path}: metadata field {key!r} is unusable: {exc}") from None
    meta_field(state, "data", str, path)
    weights = {name: value.shape for name, value in strip_prefix(arrays, "model").items()}
    try:  # before any model is built from the stored sizes: they must be those of the stored tensors
        check_weights_fit(parts["model_config"], weights, str(path))
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    if parts["tokenizer"].vocab_size != parts["model_config"].vocab_size:
        raise CheckpointError(f"{path}: the tokenizer has {parts['tokenizer'].vocab_size} tokens but the "
                              f"model expects {parts['model_config'].vocab_size}")
    return arrays, meta, state, parts["model_config"], parts["train_config"], parts["tokenizer"]


def load_model(path):
    """Load a GPT checkpoint written by :func:`train`: returns ``(model, tokenizer, meta)``.

    ``meta`` holds ``model_config``, ``train_config`` (dicts), ``step`` and
    ``best_val_loss``. The model is in eval mode. Raises
    :class:`~micrograd_plus.train.errors.CheckpointError` naming the file if it is missing,
    damaged, holds NaN weights, or is not a GPT checkpoint.
    """

    arrays, meta, state, mc, _, tokenizer = read_run_state(path)
    weights = strip_prefix(arrays, "model")
    bad = first_non_finite(weights)
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad!r} holds NaN or inf values; this checkpoint cannot be used")
    model = GPT(mc, generator=0)
    try:
        model.load_state_dict(weights)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {exc}".replace("\n", " ")) from None
    model.eval()
    step = meta_field(meta, "step", int, path)
    info = {"model_config": state["model_config"], "train_config": state["train_config"], "data": state["data"],
            "step": step, "best_val_loss": meta_field(meta, "best", float, path, optional=True)}
    return model, tokenizer, info


def _check_same_text(state, text, data, path, say):
    """On resume: the text must be the one the run was trained on (its SHA-256 is in the checkpoint).

    A checkpoint written before the checksum was stored cannot be compared: the run continues, with
    a note saying so (refusing would strand every older run; the vocabulary check in
    :class:`GPTTask` still refuses a text with characters the run never saw).
    """
    stored = state.get("data_sha256")
    if stored is None:
        say(f"note: {path} predates data checksums, so the text cannot be compared with the one it was trained on")
        return
    if stored != text_sha256(text):
        name = "Tiny Shakespeare" if data is None else f"--data {data}"
        raise ConfigError(f"--resume continues the saved run exactly, but the text differs: {name} has SHA-256 "
                          f"{text_sha256(text)[:12]}..., the run in {path} was trained on {state.get('data')} "
                          f"({stored[:12]}...); give that text, or start a new run in another --out")


def train(model_config=None, train_config=None, out_dir="gpt-run", data=None, resume=False, force=False,
          stop_after=None, progress=True, log=print, on_phase=None, tokenizer=None):
    """Train a GPT with the shared loop; write checkpoints and a loss log into ``out_dir``.

    Args:
        model_config: a :class:`GPTConfig` (its ``vocab_size`` is replaced by the text's); default:
            the ``shakespeare-char-cpu`` preset's.
        train_config: a :class:`TrainConfig`; default: the preset's.
        out_dir: the run directory: ``ckpt.npz`` (best validation loss), ``last.npz`` (latest
            state, for resuming) and ``log.jsonl`` (see :mod:`micrograd_plus.train.rundir`).
        data: path of a UTF-8 text file to train on; None for Tiny Shakespeare.
        resume: continue from ``out_dir/last.npz`` (its configs and data are used; the arguments
            above are then ignored except ``data``, which must give the same vocabulary).
        force: a fresh run may replace the run already in ``out_dir`` (otherwise that is an error).
        stop_after: stop (and save ``last.npz``) once this many iterations are done, as if
            interrupted; the schedule still follows ``max_iters``. Ctrl-C does the same.
        progress: show a progress bar.
        log: function called with one line of text per evaluation (``print``; None for silence).
        on_phase: see :func:`~micrograd_plus.train.loop.run`.
        tokenizer: how to turn the text into tokens (e.g. a trained
            :class:`~micrograd_plus.data.BPETokenizer`); None: one token per character. A resumed
            run uses the checkpoint's.

    Returns:
        a :class:`~micrograd_plus.train.loop.TrainResult` (``.task.tokenizer``, ``.task.val_ids``,
        ``.best_loss``, ``.ms_per_step``, ``.peak_rss_mb`` and ``.evals`` included).

    Raises:
        DivergedError: the loss became NaN or infinite (the checkpoints keep the last good state).
        ConfigError, RunDirError, CheckpointError: bad settings, ``out_dir`` or checkpoint.
    """

    say = log or (lambda *a, **k: None)
    with RunDir(out_dir, resume=resume, force=force, say=say) as run_dir:
        if resume:
            _, _, state, mc, tc, tokenizer = read_run_state(run_dir.path / LAST)
            if data is None and state["data"] != "tinyshakespeare":
                data = state["data"]
            text, data_desc = load_corpus(data)
            _check_same_text(state, text, data, run_dir.path / LAST, say)
        else:
            preset = PRESETS["shakespeare-char-cpu"]
            tc = train_config or preset.train
            text, data_desc = load_corpus(data)
            tokenizer = tokenizer or CharTokenizer.from_text(text)
            mc = replace(model_config or preset.model, vocab_size=tokenizer.vocab_size)
        task = GPTTask(mc, tc, tokenizer, text, data_desc)  # the run's own input checks
        if not resume and run_dir.path is not None and hasattr(tokenizer, "merges"):  # a BPE vocabulary: kept beside
            data = json.dumps(tokenizer.to_dict(), ensure_ascii=False, indent=0).encode("utf-8")
            replace_file(run_dir.path / TOKENIZER_FILE, lambda f: f.write(data))
            say(f"saved the BPE vocabulary as {run_dir.path / TOKENIZER_FILE}")
        if not resume:
            unit = _unit(tokenizer)
            say(f"training a GPT with {task.model.num_parameters():,} parameters on {len(task.train_ids):,} "
                f"{unit} (vocabulary {tokenizer.vocab_size}) for {tc.max_iters:,} iterations")
        result = run(task, run_dir, stop_after=stop_after, progress=progress, log=log, on_phase=on_phase)
    result.peak_rss_mb = peak_rss_mb()
    return result
