"""Stage 2 of RLHF: a reward model that learns the rater's preferences from the pairs.

The reward model is the pretrained GPT's *body* -- embeddings, blocks, final LayerNorm, which
already know a good deal about Shakespeare's text -- with the unembedding replaced by a scalar
*head*: one Linear layer C -> 1, read at every token of the completion and summed::

    r(x, y) = sum over the completion's positions t of head(hidden(x + y)[t])    (B, T) ids -> (B,)

It is trained on the pairs with the Bradley-Terry loss -log sigmoid(r(chosen) - r(rejected))
(:func:`~micrograd_plus.rlhf.core.bradley_terry_loss`): the reward *difference* of two answers
says how likely the rater is to prefer one. Only differences matter, so the reward's zero is
arbitrary. :func:`train_reward` runs it with the one training loop
(:func:`micrograd_plus.train.loop.run`): checkpoints, exact resume, Ctrl-C.
"""


import numpy as np

from micrograd_plus import nn, optim
from micrograd_plus.data import tokenizer_from_dict
from micrograd_plus.models.gpt import GPT, GPTConfig
from micrograd_plus.optim import CosineWithWarmup
from micrograd_plus.rlhf.core import bradley_terry_loss, pad_batch
from micrograd_plus.rlhf.pairs import check_vocabulary, file_sha256, holdout_split
from micrograd_plus.rlhf.rater import ceiling, load_pairs
from micrograd_plus._tensor import Tensor, no_grad
from micrograd_plus._namespace import from_numpy
from micrograd_plus.train.config import RewardConfig
from micrograd_plus.train.checkpoint import first_non_finite, load_training_checkpoint, meta_field, strip_prefix
from micrograd_plus.train.errors import CheckpointError, ConfigError
from micrograd_plus.train.gpt import load_model
from micrograd_plus.train.loop import Task, run
from micrograd_plus.train.rundir import LAST, RunDir

__all__ = ["RewardModel", "RewardConfig", "RewardTask", "train_reward", "load_reward_model", "pair_accuracy",
           "pairs_batch", "completion_mask", "same_vocabulary", "saved_config", "REWARD_FORMAT"]

REWARD_FORMAT = "micrograd_plus.gpt-reward/1"


class RewardModel(nn.Module):
    """A GPT body with a scalar head: (B, T) token ids and a completion mask -> (B,) rewards.

    Args:
        config: the :class:`~micrograd_plus.models.gpt_config.GPTConfig` of the body.
        generator: seed or Generator for the initial weights.

    The head reads the body's last hidden vector at *every* completion token and the reward is
    their sum, r = sum_t head(h_t). (InstructGPT's head reads the last token only; a small model
    with 24-character answers learns the rater's taste, which adds up word by word, much faster
    from a sum -- each h_t knows the word being spelled at t.)

    Parameters are ``body.*`` (a whole :class:`GPT`, whose unembedding is not used) and
    ``head.weight`` (1, C), ``head.bias`` (1,). :meth:`from_gpt` copies a pretrained GPT in.
    """

    def __init__(self, config, generator=None):
        super().__init__()
        self.config = config
        self.body = GPT(config, generator=generator)
        self.head = nn.Linear(config.n_embd, 1, generator=generator)
        with no_grad():  # start at r = 0 for every text: no preference yet
            self.head.weight.zero_()
            self.head.bias.zero_()

    @classmethod
    def from_gpt(cls, gpt):
        """A reward model whose body is a copy of ``gpt``'s weights (the head starts at zero)."""
        rm = cls(gpt.config, generator=0)
        rm.body.load_state_dict(gpt.state_dict())
        return rm

    def forward(self, ids, mask):
        """Rewards of the sequences ``ids`` (B, T): Tensor (B,).

        ``mask`` (B, T) is 1.0 at the completion's tokens (a :class:`~micrograd_plus.rlhf.core.Batch`
        gives it as :func:`completion_mask`), 0.0 at the prompt and the padding.
        """
        h = self.body.hidden(np.asarray(ids))  # (B, T, C)
        per_token = self.head(h).reshape(h.shape[0], h.shape[1])  # (B, T, 1) -> (B, T)
        return (per_token * from_numpy(np.asarray(mask, dtype=per_token.dtype))).sum(1)  # (B,)

    @no_grad()
    def score(self, batch):
        """Rewards of a :class:`~micrograd_plus.rlhf.core.Batch`, without gradients: numpy float64 (B,)."""
        was = self.training
        self.eval()
        r = np.asarray(self(batch.ids, completion_mask(batch)).numpy(), dtype=np.float64)
        self.train(was)
        return r


def completion_mask(batch):
    """(B, T) float32, 1.0 where ``batch.ids[b, t]`` is a completion token (``batch.mask`` shifted by one)."""
    B, T = batch.ids.shape
    m = np.zeros((B, T), dtype=np.float32)  # (B, T)
    m[:, 1:] = batch.mask  # mask[b, t] marks the token at t + 1
    return m


def pairs_batch(pairs, tokenizer, block_size):
    """The chosen and the rejected texts of ``pairs`` as one Batch: rows 0..N-1 chosen, N..2N-1 rejected."""
    prompts = [p["prompt"] for p in pairs] * 2
    chosen = [p[p["chosen"]] for p in pairs]
    rejected = [p["b" if p["chosen"] == "a" else "a"] for p in pairs]
    return pad_batch(tokenizer, prompts, chosen + rejected, block_size)


def pair_accuracy(reward_model, pairs, tokenizer, batch_size=64):
    """``(accuracy, mean loss)`` of ``reward_model`` on ``pairs``: how often r(chosen) > r(rejected)
    (a tie counts a half), and the mean Bradley-Terry loss."""
    hits, loss = 0.0, 0.0
    for i in range(0, len(pairs), batch_size):
        part = pairs[i:i + batch_size]
        r = reward_model.score(pairs_batch(part, tokenizer, reward_model.config.block_size))  # (2n,)
        d = r[:len(part)] - r[len(part):]  # (n,) r(chosen) - r(rejected)
        hits += float(np.sum(d > 0) + 0.5 * np.sum(d == 0))
        loss += float(np.sum(np.logaddexp(0.0, -d)))  # -log sigmoid(d), stably
    return hits / len(pairs), loss / len(pairs)


class RewardTask(Task):
    """The reward model for :func:`~micrograd_plus.train.loop.run`: each step a random batch of
    training pairs, the Bradley-Terry loss; each evaluation the held-out pairs' loss and accuracy."""

    name = "reward"
    format = REWARD_FORMAT
    eval_at_start = True
    best_metric = "val_loss"

    def __init__(self, base, tokenizer, pairs, config, sources):
        self.config, self.tokenizer, self.sources = config, tokenizer, sources
        self.model_config = base.config
        self.train_pairs, self.val_pairs = holdout_split(pairs, config.holdout_every)
        if not self.train_pairs or not self.val_pairs:
            raise ConfigError(f"{len(pairs)} pairs are too few: need some to train on and every "
                              f"{config.holdout_every}th held out; make more with 'gpt pairs'")
        self.model = RewardModel.from_gpt(base)
        params = [p for n, p in self.model.named_parameters() if not n.startswith("body.lm_head")]
        self.optimizer = optim.AdamW(params, lr=config.learning_rate, betas=(0.9, 0.99),
                                     weight_decay=config.weight_decay)
        self.scheduler = CosineWithWarmup(self.optimizer, config.warmup_iters, config.max_iters, min_lr=config.min_lr)
        self.max_iters, self.eval_interval, self.grad_clip = config.max_iters, config.eval_interval, config.grad_clip
        self.batch_rng = np.random.default_rng([config.seed, 1])
        self.ceiling = ceiling(self.val_pairs)

    def get_batch(self, step):
        idx = self.batch_rng.choice(len(self.train_pairs), size=min(self.config.batch_size, len(self.train_pairs)),
                                    replace=False)
        return pairs_batch([self.train_pairs[i] for i in idx], self.tokenizer, self.model_config.block_size)

    def loss(self, batch):
        n = len(batch) // 2
        r = self.model(batch.ids, completion_mask(batch))  # (2n,): chosen rewards, then rejected
        return bradley_terry_loss(r[:n], r[n:]), n

    def evaluate(self, step, recent):
        acc, loss = pair_accuracy(self.model, self.val_pairs, self.tokenizer)
        return {"val_loss": loss, "val_accuracy": acc, **{f"rater_{k}": v for k, v in self.ceiling.items()}}

    def describe_eval(self, row):
        return (f"step {row['step']:>4}: held-out pairs loss {row['val_loss']:.4f}, accuracy "
                f"{row['val_accuracy']:.3f} (the rater's own ceiling {row['rater_best_accuracy']:.3f})")

    def state(self):
        return {"model_config": self.model_config.to_dict(), "config": self.config.to_dict(),
                "tokenizer": self.tokenizer.to_dict(), "sources": self.sources,
                "rng": self.batch_rng.bit_generator.state}

    def load_state(self, state):
        if state["sources"] != self.sources:
            raise ValueError("the base checkpoint or the pairs file changed since this run started")
        self.batch_rng.bit_generator.state = state["rng"]


def saved_config(run_dir, task_cls, key="config"):
    """The config dict saved in ``run_dir/last.npz`` (a ``task_cls`` run): on --resume it wins."""
    _, meta = load_training_checkpoint(run_dir / LAST, task_cls.format, f"a {task_cls.name} checkpoint")
    return meta_field(meta_field(meta, "task", dict, run_dir / LAST), key, dict, run_dir / LAST)


def train_reward(checkpoint, pairs, out_dir="runs/reward", config=None, resume=False, force=False,
                 stop_after=None, progress=True, log=print, on_phase=None):
    """Train a reward model on labelled pairs, starting from a pretrained GPT checkpoint.

    Args:
        checkpoint: a GPT checkpoint written by ``gpt train`` (its body becomes the reward model's).
        pairs: the pairs file written by ``gpt pairs`` (JSON Lines).
        out_dir: the run directory (``ckpt.npz`` is the lowest held-out loss, ``last.npz``, ``log.jsonl``).
        config: a :class:`RewardConfig` (default: its defaults). On ``resume`` the saved one is used.
        resume, force, stop_after, progress, log, on_phase: as for
            :func:`micrograd_plus.train.gpt.train`.

    Returns:
        a :class:`~micrograd_plus.train.loop.TrainResult`; ``result.task.ceiling`` holds the rater's
        own agreement on the held-out pairs.
    """
    say = log or (lambda *a, **k: None)
    base, tokenizer, _ = load_model(checkpoint)
    data = load_pairs(pairs)
    check_vocabulary(data, tokenizer, pairs)
    sources = {"checkpoint_sha256": file_sha256(checkpoint), "pairs_sha256": file_sha256(pairs)}
    with RunDir(out_dir, resume=resume, force=force, say=say) as run_dir:
        if resume:
            config = RewardConfig.from_dict(saved_config(run_dir.path, RewardTask))
        task = RewardTask(base, tokenizer, data, config or RewardConfig(), sources)
        if not resume:
            say(f"training a reward model on {len(task.train_pairs)} pairs ({len(task.val_pairs)} held out) for "
                f"{task.max_iters} steps")
        return run(task, run_dir, stop_after=stop_after, progress=progress, log=log, on_phase=on_phase)


def load_reward_model(path):
    """Load a reward model written by :func:`train_reward`: ``(model, tokenizer, meta)``.

    Raises a one-line CheckpointError if the file is missing, damaged, not a reward model's, or
    holds NaN weights. The model is in eval mode.
    """
    arrays, meta = load_training_checkpoint(path, REWARD_FORMAT, "a reward-model checkpoint (from 'gpt reward')")
    state = meta_field(meta, "task", dict, path)
    try:
        mc = GPTConfig.from_dict(meta_field(state, "model_config", dict, path))
        tokenizer = tokenizer_from_dict(meta_field(state, "tokenizer", dict, path))
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: its model config or tokenizer is unusable: {exc}") from None
    weights = strip_prefix(arrays, "model")
    bad = first_non_finite(weights)
    if bad is not None:
        raise CheckpointError(f"{path}: weight {bad!r} holds NaN or inf values; this checkpoint cannot be used")
    model = RewardModel(mc, generator=0)
    try:
        model.load_state_dict(weights)
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {exc}".replace("\n", " ")) from None
    model.eval()
    return model, tokenizer, {"step": meta_field(meta, "step", int, path), "evals": meta.get("evals", [])}


def same_vocabulary(tok_a, tok_b):
    """Whether two tokenizers map text to the same ids (their saved forms are equal)."""
    return tok_a.to_dict() == tok_b.to_dict()


