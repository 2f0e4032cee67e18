"""Training a character-level GPT: the loop, the recipe, the checkpoints.

One training *iteration* is the whole of gradient descent in five lines::

    x, y = get_batch(train_ids, B, T, generator)     # (B, T) contexts and their next characters
    logits, loss = model(x, y)                       # forward: average surprise at the true next char
    loss.backward()                                  # backward: d(loss)/d(every weight)
    clip_grad_norm_(params, 1.0)                     # one bad batch cannot throw the weights far
    optimizer.step(); scheduler.step()               # AdamW update, then the next learning rate

Around it: every ``eval_interval`` iterations the loss is estimated on ``eval_iters`` fresh
batches of the training and of the validation text, written to a JSON-lines log, and the model
is checkpointed -- ``ckpt.npz`` whenever the validation loss is the best so far (what
``micrograd-plus gpt sample`` reads), ``last.npz`` always (what ``--resume`` continues from).

Reproducibility: all randomness comes from generators derived from one seed -- ``[seed, 0]``
initialises the weights (and drives dropout), ``[seed, 1]`` draws the training batches, and
``[seed, 2, it, split]`` draws the evaluation batches at iteration ``it`` (so evaluating never disturbs
training). A checkpoint stores the states of the first two, so an interrupted run resumed with
``--resume`` ends with exactly the same weights as one that was never interrupted.

The preset ``shakespeare-char-cpu`` is nanoGPT's CPU recipe for Tiny Shakespeare (4 layers,
4 heads, width 128, context 64, batch 12, 2,000 iterations, lr 1e-3 -> 1e-4). nanoGPT reports a
validation loss of 1.88 for it, a 20-batch estimate. Measured here over four seeds
(``python benchmarks/gpt_quality.py --seeds 1337 1 3 4``), the loss on the whole validation text
at iteration 2,000 is 1.910 on average (sd 0.009), and PyTorch trained with the same recipe but
its own initial weights and batches gives 1.907 (sd 0.002). A 20-batch estimate scatters by about
0.013 around the whole-text figure (one of PyTorch's four read 1.871).
"""

import json
import math
import resource
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from micrograd_plus.models.gpt import GPTConfig

__all__ = [
    "TrainConfig",
    "Preset",
    "PRESETS",
    "TrainResult",
    "train",
    "configure_optimizer",
    "estimate_loss",
    "evaluate_full",
    "load_model",
    "load_corpus",
    "peak_rss_mb",
]

CHECKPOINT_FORMAT = "micrograd_plus.gpt/1"


@dataclass(frozen=True)
class TrainConfig:
    """How a GPT is trained (the architecture is in :class:`~micrograd_plus.models.gpt.GPTConfig`).

    Attributes:
        batch_size: B, contexts per iteration.
        max_iters: number of optimisation steps.
        learning_rate: peak learning rate, reached at the end of warm-up.
        min_lr: learning rate at the end of the cosine decay.
        warmup_iters: iterations of linear warm-up from near 0 to ``learning_rate``.
        lr_decay_iters: iteration at which the cosine reaches ``min_lr`` (None: ``max_iters``).
        beta1, beta2, eps: AdamW's moment decay rates and denominator guard.
        weight_decay: AdamW's decoupled decay, applied to weight matrices only.
        decay_embeddings: also decay the token and position embeddings (nanoGPT does; off by default).
        grad_clip: clip the global gradient norm to this (0 disables clipping).
        eval_interval: evaluate (and checkpoint) every this many iterations, and at the end.
        eval_iters: batches per split in each evaluation.
        val_fraction: the last this fraction of the text is the validation set.
        seed: the one number all randomness derives from.
    """

    batch_size: int = 12
    max_iters: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = None
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.1
    decay_embeddings: bool = False
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    val_fraction: float = 0.1
    seed: int = 1337

    def __post_init__(self):
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}")
        if self.warmup_iters < 0 or self.warmup_iters >= self.decay_iters:
            raise ValueError(
                f"TrainConfig: need 0 <= warmup_iters < lr_decay_iters, got {self.warmup_iters} and {self.decay_iters}"
            )
        if not self.learning_rate > 0 or self.min_lr < 0:
            raise ValueError(f"TrainConfig: bad learning rates {self.learning_rate} -> {self.min_lr}")
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("TrainConfig: grad_clip and weight_decay must be >= 0")

    @property
    def decay_iters(self):
        """The iteration where the cosine schedule reaches ``min_lr``."""
        return self.max_iters if self.lr_decay_iters is None else self.lr_decay_iters

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"TrainConfig.from_dict: unknown keys {sorted(unknown)}")
        return cls(**d)


@dataclass(frozen=True)
class Preset:
    """A named recipe: an architecture, a training configuration and a sentence about it.

    ``bpe_vocab_size``: None for one token per character; else the size of a byte-level BPE
    vocabulary (:class:`~micrograd_plus.data.BPETokenizer`) trained on the text first.
    """

    model: GPTConfig
    train: TrainConfig
    description: str
    bpe_vocab_size: int = None


PRESETS = {
    "shakespeare-char-cpu": Preset(
        model=GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False, tie_weights=True),
        train=TrainConfig(
            batch_size=12, max_iters=2000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
            beta2=0.99, weight_decay=0.1, grad_clip=1.0, eval_interval=250, eval_iters=20,
        ),
        description="nanoGPT's CPU recipe for Tiny Shakespeare: 4 layers x 4 heads x 128, context 64, "
        "batch 12, 2,000 iterations (under 3 minutes here; validation loss about 1.9)",
    ),
    "tiny": Preset(
        model=GPTConfig(block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=False, tie_weights=True),
        train=TrainConfig(
            batch_size=8, max_iters=200, learning_rate=3e-3, min_lr=3e-4, warmup_iters=20,
            beta2=0.99, weight_decay=0.1, grad_clip=1.0, eval_interval=50, eval_iters=5,
        ),
        description="a toy model that trains in seconds (for trying the commands out, and for tests)",
    ),
    "shakespeare-bpe": Preset(
        model=GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False, tie_weights=True),
        train=TrainConfig(
            batch_size=12, max_iters=2000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100,
            beta2=0.99, weight_decay=0.1, grad_clip=1.0, eval_interval=250, eval_iters=20,
        ),
        description="the CPU recipe on word pieces: a 2,048-token BPE vocabulary trained on the text first "
        "(saved as tokenizer.json beside the checkpoints), so 64 tokens of context hold ~2.5x more text",
        bpe_vocab_size=2048,
    ),
}


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained :class:`~micrograd_plus.models.gpt.GPT` (weights after the last step).
        tokenizer: the :class:`~micrograd_plus.data.CharTokenizer` it was trained with.
        iters: the iteration count reached (``max_iters`` unless stopped early).
        evals: list of dicts ``{"iter", "train_loss", "val_loss"}``, one per evaluation (this session).
        best_val_loss: the lowest validation loss seen (also over a resumed run's earlier part).
        ms_per_iter: median wall time of a training iteration in this session (evaluations excluded).
        peak_rss_mb: the process's peak resident memory so far, in MB.
        out_dir: where the checkpoints and log went.
        train_config: the :class:`TrainConfig` used (the checkpoint's, when resumed).
        val_ids: the validation tokens, e.g. for :func:`evaluate_full`.
    """

    model: object
    tokenizer: object
    iters: int
    evals: list = field(default_factory=list)
    best_val_loss: float = math.inf
    ms_per_iter: float = math.nan
    peak_rss_mb: float = math.nan
    out_dir: Path = None
    train_config: TrainConfig = None
    val_ids: np.ndarray = None


def peak_rss_mb():
    """The peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_corpus(data=None):
    """The training text and its description: Tiny Shakespeare (``data=None``) or a UTF-8 file."""
    from micrograd_plus.data import load_shakespeare, load_text

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
    from micrograd_plus import optim

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        is_embedding = name.startswith(("transformer.wte.", "transformer.wpe."))
        is_matrix = p.data.ndim >= 2
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
    from micrograd_plus.data import get_batch
    from micrograd_plus.tensor import no_grad

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
    every token once (the validation text of Tiny Shakespeare is 111,540 characters, a few
    seconds), so it is the number to quote for a finished model. Returns a float.
    """
    from micrograd_plus.tensor import no_grad

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


def _rng_state(g):
    return g.bit_generator.state  # a dict of ints and strings: JSON-serialisable


def _set_rng_state(g, state):
    g.bit_generator.state = state


def _save(path, model, optimizer, scheduler, tokenizer, mc, tc, it, best_val, rngs, data_desc):
    from micrograd_plus.train.checkpoint import save_checkpoint

    arrays = {f"model.{k}": np.asarray(v) for k, v in model.state_dict().items()}
    for k, v in optimizer.state_dict().items():
        arrays[f"optim.{k}"] = np.asarray(v)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "model_config": mc.to_dict(),
        "train_config": tc.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "iter": int(it),
        "best_val_loss": None if not math.isfinite(best_val) else float(best_val),
        "scheduler_last_step": int(scheduler.last_step),
        "rng": {name: _rng_state(g) for name, g in rngs.items()},
        "data": data_desc,
    }
    save_checkpoint(path, arrays, meta)


def _split_prefix(arrays, prefix):
    n = len(prefix)
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix)}


def load_model(path):
    """Load a GPT checkpoint written by :func:`train`: returns ``(model, tokenizer, meta)``.

    The model is in eval mode. Raises :class:`~micrograd_plus.train.checkpoint.CheckpointError`
    (or FileNotFoundError) naming the file if it is missing, damaged or not a GPT checkpoint.
    """
    from micrograd_plus.data import tokenizer_from_dict
    from micrograd_plus.models.gpt import GPT
    from micrograd_plus.train.checkpoint import CheckpointError, load_checkpoint

    arrays, meta = load_checkpoint(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a GPT checkpoint (format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    mc = GPTConfig.from_dict(meta["model_config"])
    model = GPT(mc, generator=0)
    try:
        model.load_state_dict(_split_prefix(arrays, "model."))
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {exc}") from None
    model.eval()
    return model, tokenizer_from_dict(meta["tokenizer"]), meta


def train(model_config=None, train_config=None, out_dir="gpt-run", data=None, resume=False,
          stop_after=None, progress=True, log=print, tokenizer=None):
    """Train a GPT; write checkpoints and a loss log into ``out_dir``; return a :class:`TrainResult`.

    Args:
        model_config: a :class:`GPTConfig` (its ``vocab_size`` is replaced by the text's); default:
            the ``shakespeare-char-cpu`` preset's.
        train_config: a :class:`TrainConfig`; default: the preset's.
        out_dir: directory for ``ckpt.npz`` (best validation loss), ``last.npz`` (latest state, for
            resuming) and ``log.jsonl`` (one JSON object per iteration and per evaluation).
        data: path of a UTF-8 text file to train on; None for Tiny Shakespeare.
        resume: continue from ``out_dir/last.npz`` (its configs and data are used; the arguments
            above are then ignored except ``data``, which must give the same vocabulary).
        stop_after: stop (and save ``last.npz``) once this many iterations are done, as if
            interrupted; the schedule still follows ``max_iters``. Ctrl-C does the same.
        progress: show a progress bar.
        log: function called with one line of text per evaluation (``print``; None for silence).
        tokenizer: how to turn the text into tokens (e.g. a trained
            :class:`~micrograd_plus.data.BPETokenizer`); None: one token per character. A resumed
            run uses the checkpoint's.

    Raises:
        FloatingPointError: the loss became NaN or infinite (the checkpoints keep the last good state).
    """
    from micrograd_plus import nn
    from micrograd_plus.data import CharTokenizer, get_batch, tokenizer_from_dict, train_val_split
    from micrograd_plus.models.gpt import GPT
    from micrograd_plus.optim import CosineWithWarmup
    from micrograd_plus.train.checkpoint import CheckpointError, load_checkpoint

    log = log or (lambda *a, **k: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, log_path = out_dir / "last.npz", out_dir / "ckpt.npz", out_dir / "log.jsonl"

    if resume:
        arrays, meta = load_checkpoint(last_path)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{last_path}: not a GPT training checkpoint")
        mc = GPTConfig.from_dict(meta["model_config"])
        tc = TrainConfig.from_dict(meta["train_config"])
        if data is None and meta["data"] != "tinyshakespeare":
            data = meta["data"]
        text, data_desc = load_corpus(data)
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
    else:
        preset = PRESETS["shakespeare-char-cpu"]
        tc = train_config or preset.train
        text, data_desc = load_corpus(data)
        tokenizer = tokenizer or CharTokenizer.from_text(text)
        mc = replace(model_config or preset.model, vocab_size=tokenizer.vocab_size)

    ids = tokenizer.encode(text)  # (N,) int64; raises naming the character if resuming on other text
    train_ids, val_ids = train_val_split(ids, tc.val_fraction)
    for name, part in (("training", train_ids), ("validation", val_ids)):
        if len(part) < mc.block_size + 1:
            raise ValueError(
                f"the {name} part of the text has {len(part)} characters, fewer than block_size + 1 = "
                f"{mc.block_size + 1}; use a longer text or a smaller block size"
            )

    model_rng = np.random.default_rng([tc.seed, 0])
    batch_rng = np.random.default_rng([tc.seed, 1])
    model = GPT(mc, generator=model_rng)
    optimizer = configure_optimizer(model, tc)
    scheduler = CosineWithWarmup(optimizer, tc.warmup_iters, tc.decay_iters, min_lr=tc.min_lr)
    params = list(model.parameters())

    start_iter, best_val = 0, math.inf
    if resume:
        model.load_state_dict(_split_prefix(arrays, "model."))
        optimizer.load_state_dict(_split_prefix(arrays, "optim."))
        scheduler.load_state_dict({"last_step": meta["scheduler_last_step"], "base_lrs": scheduler.base_lrs})
        _set_rng_state(model_rng, meta["rng"]["model"])
        _set_rng_state(batch_rng, meta["rng"]["batches"])
        start_iter = int(meta["iter"])
        best_val = math.inf if meta["best_val_loss"] is None else float(meta["best_val_loss"])
        log(f"resuming from {last_path} at iteration {start_iter}")
    else:
        log_path.write_text("")  # a fresh run starts a fresh log
        n_params = sum(p.data.size for p in params)
        log(f"training a GPT with {n_params:,} parameters on {len(train_ids):,} characters "
            f"(vocabulary {tokenizer.vocab_size}) for {tc.max_iters:,} iterations")

    rngs = {"model": model_rng, "batches": batch_rng}

    def save(path, it):
        _save(path, model, optimizer, scheduler, tokenizer, mc, tc, it, best_val, rngs, data_desc)

    result = TrainResult(model=model, tokenizer=tokenizer, iters=start_iter, out_dir=out_dir,
                         train_config=tc, val_ids=val_ids)
    step_ms = []
    model.train()
    splits = {"train": train_ids, "val": val_ids}
    it = start_iter
    skip_eval = resume  # the checkpoint was written after evaluating at its iteration
    from micrograd_plus.train.progress import progress as progress_bar

    bar = progress_bar(total=tc.max_iters, desc="gpt train", disable=None if progress else True)
    bar.update(start_iter)
    with open(log_path, "a") as logf:
        try:
            while True:
                if (it % tc.eval_interval == 0 or it == tc.max_iters) and not skip_eval:
                    losses = estimate_loss(model, splits, tc, mc.block_size, it)
                    row = {"iter": it, "train_loss": losses["train"], "val_loss": losses["val"]}
                    result.evals.append(row)
                    logf.write(json.dumps(row) + "\n")
                    logf.flush()
                    improved = losses["val"] < best_val
                    if improved:
                        best_val = losses["val"]
                        save(best_path, it)
                    save(last_path, it)
                    msg = f"iter {it:>5}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
                    _write_above(bar, msg + (" (best: saved ckpt.npz)" if improved else ""), log)
                skip_eval = False
                if it >= tc.max_iters or (stop_after is not None and it >= stop_after):
                    break

                t0 = time.perf_counter()
                x, y = get_batch(train_ids, tc.batch_size, mc.block_size, generator=batch_rng)  # (B, T)
                lr = optimizer.param_groups[0]["lr"]
                _, loss = model(x, y)  # forward: scalar mean cross-entropy
                optimizer.zero_grad()
                loss.backward()  # every p.grad
                norm = nn.utils.clip_grad_norm_(params, tc.grad_clip) if tc.grad_clip > 0 else math.nan
                loss_value = float(loss.item())
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"the loss became {loss_value} at iteration {it}; stopping. The checkpoints in "
                        f"{out_dir} keep the last good state (try a smaller learning rate)"
                    )
                optimizer.step()
                scheduler.step()
                del loss
                ms = (time.perf_counter() - t0) * 1e3
                step_ms.append(ms)
                logf.write(json.dumps({"iter": it, "loss": loss_value, "lr": lr,
                                       "grad_norm": float(norm), "ms": round(ms, 2)}) + "\n")
                it += 1
                bar.update(1)
                if it % 10 == 0 or it == tc.max_iters:
                    bar.set_postfix(loss=f"{loss_value:.3f}", ms_per_iter=f"{np.median(step_ms[-50:]):.0f}")
        except KeyboardInterrupt:
            save(last_path, it)
            _write_above(bar, f"interrupted at iteration {it}; saved {last_path} "
                              "(continue with --resume)", log)
        finally:
            bar.close()
    if stop_after is not None and it < tc.max_iters:
        save(last_path, it)
    result.iters = it
    result.best_val_loss = best_val
    result.ms_per_iter = float(np.median(step_ms)) if step_ms else math.nan
    result.peak_rss_mb = peak_rss_mb()
    return result


def _write_above(bar, msg, log):
    """Print a line without breaking the progress bar (through ``log`` when no bar is shown)."""
    if bar.disabled:
        log(msg)
    else:
        bar.write(msg)
