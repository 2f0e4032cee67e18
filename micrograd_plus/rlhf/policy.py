"""Stage 3 of RLHF: push the language model (the *policy*) towards answers the reward model likes.

Two methods, each run by the one training loop (:func:`micrograd_plus.train.loop.run`: exact
resume, Ctrl-C, checkpoints), and one baseline that trains nothing:

**REINFORCE with a leave-one-out baseline and a per-token KL penalty** (:class:`RLTask`). Each
step draws ``samples_per_prompt`` completions y of each of a few prompts x from the policy pi,
and gives each the return

    R(x, y) = r(x, y) - kl_coef * sum_t [log pi(y_t | x, y_<t) - log ref(y_t | x, y_<t)]

-- the reward model's score minus a KL penalty paid token by token for every step away from the
frozen pretrained model ``ref`` (InstructGPT's penalty). The gradient of E[R] is
E[(R - b) grad log pi(y|x)] for any baseline b that does not depend on y; here b is the mean
return of the *other* completions of the same prompt (:func:`~micrograd_plus.rlhf.core.leave_one_out_baseline`).

*Why not PPO?* PPO reuses each batch of samples for several gradient steps and clips the ratio
pi_new / pi_old so that the reuse cannot go far; on the first step that ratio is exactly 1 and the
clip does nothing. We take one step per batch (sampling is cheap for a model this small), so
PPO's clip would never act, and PPO's other part, a learned value function (a second network, the
size of the policy), buys little when the reward comes once, at the end of a 24-token answer:
a baseline from the other samples of the same prompt is unbiased, free and as good (this
"RLOO" estimator is what Ahmadian et al., 2024, found competitive with PPO for RLHF).

**DPO** (:class:`DPOTask`) skips the reward model and the sampling: it fits the policy to the
pairs directly with :func:`~micrograd_plus.rlhf.core.dpo_loss`, whose optimum is the same
KL-regularised policy. Both methods see the same number of sequences per step and the same
number of steps: the same budget.

**Best-of-n** (:func:`best_of_n`) draws n answers from the pretrained model and keeps the one the
reward model scores highest: no training at all, n times the sampling, and a KL from the
pretrained model of at most log n - (n - 1)/n.

Every evaluation (:func:`evaluate_policy`) measures fresh samples for *held-out* prompts: the
rater's score (what we really want), the reward model's score (what is optimised), the KL from
the pretrained model, and the loss on held-out Shakespeare (what pretraining knowledge was kept).
"""

import math
from dataclasses import replace

import numpy as np

from micrograd_plus import optim
from micrograd_plus.data import train_val_split
from micrograd_plus.models.gpt import GPT
from micrograd_plus.optim import CosineWithWarmup
from micrograd_plus.random import get_generator
from micrograd_plus.rlhf.core import (
    Batch, dpo_loss, leave_one_out_baseline, policy_gradient_loss, score_logits, sequence_logprobs, token_kl,
    token_logprobs,
)
from micrograd_plus.rlhf.pairs import (
    check_vocabulary, file_sha256, holdout_split, speaker_prompts, split_prompts,
)
from micrograd_plus.rlhf.rater import Rater, load_pairs
from micrograd_plus.rlhf.reward import load_reward_model, pairs_batch, same_vocabulary, saved_config
from micrograd_plus._tensor import Tensor, no_grad
from micrograd_plus._namespace import from_numpy
from micrograd_plus.train.config import PolicyConfig
from micrograd_plus.train.errors import ConfigError
from micrograd_plus.train.gpt import CHECKPOINT_FORMAT, evaluate_full, load_corpus, load_model
from micrograd_plus.train.loop import Task, run
from micrograd_plus.train.rundir import RunDir

__all__ = ["PolicyConfig", "Setting", "RLTask", "DPOTask", "train_rl", "train_dpo", "evaluate_policy",
           "best_of_n", "sample_batch", "sequence_logprobs_np", "load_setting"]


class Setting:
    """What every stage shares, loaded from a GPT checkpoint: the frozen reference model, its
    tokenizer, the prompts (split into training and held-out ones), the rater and held-out text.

    Attributes:
        ref: the pretrained GPT (eval mode, never trained); ``info``: its checkpoint's metadata.
        tokenizer; text (the training text); val_ids (held-out token ids);
        train_prompts, eval_prompts: lists of strings; rater: a :class:`~micrograd_plus.rlhf.rater.Rater`.
    """

    def __init__(self, ref, tokenizer, info, text, length, rater_beta=2.0):
        self.ref, self.tokenizer, self.info, self.text = ref, tokenizer, info, text
        block = ref.config.block_size
        if length >= block:
            raise ConfigError(f"--length {length} leaves no room for a prompt in the model's context of {block} "
                              "tokens; use a smaller --length")
        ids = tokenizer.encode(text)
        _, self.val_ids = train_val_split(ids, info["train_config"].get("val_fraction", 0.1))
        prompts = [p for p in speaker_prompts(text, block - length) if len(tokenizer.encode(p)) + length <= block]
        self.train_prompts, self.eval_prompts = split_prompts(prompts)
        if not self.train_prompts:
            raise ConfigError(f"only {len(prompts)} prompt(s) fit a context of {block} with --length {length}; "
                              "use a smaller --length")
        self.rater = Rater.from_text(text, beta=rater_beta)


def load_setting(checkpoint, length, data=None, rater_beta=2.0):
    """The :class:`Setting` of a GPT checkpoint (its text: Tiny Shakespeare or ``data``)."""
    ref, tokenizer, info = load_model(checkpoint)
    if data is None and info["data"] != "tinyshakespeare":
        data = info["data"]
    text, _ = load_corpus(data)
    return Setting(ref, tokenizer, info, text, length, rater_beta)


def sample_batch(model, tokenizer, prompts, n, length, generator):
    """``n`` completions of each prompt from ``model``: a :class:`Batch` with ``groups`` (B,) ints.

    Rows k*n .. k*n + n - 1 answer ``prompts[k]``; one batched draw per prompt.
    """
    g = get_generator(generator)
    B = len(prompts) * n
    plens = [len(tokenizer.encode(p)) for p in prompts]
    T = max(plens) + length
    ids = np.zeros((B, T), dtype=np.int64)  # (B, T)
    mask = np.zeros((B, T - 1), dtype=np.float32)  # (B, T - 1)
    completions, row_prompts = [], []
    for k, (p, P) in enumerate(zip(prompts, plens)):
        out = model.generate(np.tile(tokenizer.encode(p), (n, 1)), length, temperature=1.0, generator=g)  # (n, P + L)
        ids[k * n:(k + 1) * n, :P + length] = out
        mask[k * n:(k + 1) * n, P - 1:P + length - 1] = 1.0
        completions += [tokenizer.decode(row[P:]) for row in out]
        row_prompts += [p] * n
    batch = Batch(ids, mask, np.repeat(plens, n), np.repeat(np.array(plens) + length, n), row_prompts, completions)
    batch.groups = np.repeat(np.arange(len(prompts)), n)
    return batch


@no_grad()
def sequence_logprobs_np(model, batch):
    """log p(completion | prompt) of each row under ``model``, without gradients: numpy float64 (B,)."""
    logits = score_logits(model, batch)  # (B, T - 1, V)
    return np.asarray(token_logprobs(from_numpy(logits), batch.ids, batch.mask).sum(1).numpy(), dtype=np.float64)


def evaluate_policy(policy, setting, n, length, seed=0, reward_model=None, val_chars=8192, prompts=None):
    """Measure a policy on fresh samples of the held-out prompts.

    Args:
        policy: a GPT; setting: the :class:`Setting` (reference model, rater, prompts, text).
        n: completions per prompt; length: tokens each; seed: the same seed draws the same random
            numbers at every evaluation, so changes come from the policy alone.
        reward_model: if given, its mean score is reported too.
        prompts: default the setting's held-out prompts.

    Returns:
        ``(row, batch)``: row = {"rater": mean rater score, "reward": mean reward-model score
        (if a reward model was given), "kl": mean exact KL(pi || ref) of whole completions (nats),
        "val_loss": loss on ``val_chars`` characters of held-out text}; batch holds the samples.
    """
    was = policy.training
    policy.eval()
    batch = sample_batch(policy, setting.tokenizer, prompts or setting.eval_prompts, n, length,
                         np.random.default_rng([seed, 7]))
    kl = token_kl(score_logits(policy, batch), score_logits(setting.ref, batch), batch.mask)  # (B,)
    row = {"rater": float(setting.rater.scores(batch.completions).mean())}
    if reward_model is not None:
        row["reward"] = float(reward_model.score(batch).mean())
    row["kl"] = float(kl.mean())
    row["val_loss"] = evaluate_full(policy, setting.val_ids[:val_chars], policy.config.block_size)
    policy.train(was)
    return row, batch


def best_of_n(setting, reward_model, n, length, per_prompt=8, seed=0, prompts=None):
    """Best-of-n sampling: for each answer draw ``n`` from the pretrained model, keep the reward model's favourite.

    Returns ``(row, completions)``: row = {"rater": mean rater score of the kept answers, "reward":
    their mean reward, "kl_bound": log n - (n - 1) / n, the KL of best-of-n from the model it
    samples (an upper bound)}; completions: ``per_prompt`` kept answers per held-out prompt.
    """
    prompts = prompts or setting.eval_prompts
    batch = sample_batch(setting.ref, setting.tokenizer, prompts, per_prompt * n, length,
                         np.random.default_rng([seed, 8, n]))
    r = reward_model.score(batch).reshape(len(prompts) * per_prompt, n)  # (answers, n)
    pick = np.arange(r.shape[0]) * n + r.argmax(1)  # the row of each answer's best draw
    kept = [batch.completions[i] for i in pick]
    row = {"rater": float(setting.rater.scores(kept).mean()), "reward": float(r.max(1).mean()),
           "kl_bound": float(math.log(n) - (n - 1) / n)}
    return row, kept


class PolicyTask(Task):
    """What RL and DPO share: the policy (a copy of the reference), AdamW, the schedule, the
    evaluation of :func:`evaluate_policy`, and checkpoints that ``gpt sample`` can read."""

    name = "policy"
    format = CHECKPOINT_FORMAT  # a policy *is* a GPT: `gpt sample -c runs/rl/ckpt.npz` works
    eval_at_start = True
    method = "?"

    def __init__(self, setting, config, sources, reward_model=None):
        self.setting, self.config, self.sources, self.reward_model = setting, config, sources, reward_model
        self.tokenizer = setting.tokenizer
        mc = replace(setting.ref.config, dropout=0.0)  # log-probabilities must not be random
        self.model_config = mc
        self.model = GPT(mc, generator=0)
        self.model.load_state_dict(setting.ref.state_dict())
        self.optimizer = optim.AdamW(self.model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99),
                                     weight_decay=0.0)  # decay would pull away from the pretrained weights too
        self.scheduler = CosineWithWarmup(self.optimizer, config.warmup_iters, config.max_iters, min_lr=config.min_lr)
        self.max_iters, self.eval_interval, self.grad_clip = config.max_iters, config.eval_interval, config.grad_clip
        self.batch_rng = np.random.default_rng([config.seed, 1])
        self._step_log = {}

    def step_log(self):
        return self._step_log

    def evaluate(self, step, recent):
        c = self.config
        row, _ = evaluate_policy(self.model, self.setting, c.eval_samples, c.length, c.seed, self.reward_model,
                                 c.val_chars)
        return row

    def describe_eval(self, row):
        reward = f", reward model {row['reward']:+.3f}" if "reward" in row else ""
        return (f"step {row['step']:>4}: rater {row['rater']:+.3f}{reward}, KL {row['kl']:.3f}, "
                f"held-out loss {row['val_loss']:.4f}")

    def state(self):
        info = self.setting.info
        return {"model_config": self.model_config.to_dict(), "train_config": info["train_config"],
                "tokenizer": self.tokenizer.to_dict(), "data": info["data"],
                "rlhf": {"method": self.method, "config": self.config.to_dict(), "sources": self.sources,
                         "rng": self.batch_rng.bit_generator.state}}

    def load_state(self, state):
        rl = state["rlhf"]
        if rl["method"] != self.method:
            raise ValueError(f"it is a '{rl['method']}' run, not a '{self.method}' one")
        if rl["sources"] != self.sources:
            raise ValueError("the base checkpoint, reward model or pairs file changed since this run started")
        self.batch_rng.bit_generator.state = rl["rng"]


class RLTask(PolicyTask):
    """REINFORCE with a leave-one-out baseline and a per-token KL penalty (see the module docstring)."""

    name = "rl"
    method = "rl"
    best_metric = "objective_loss"

    def __init__(self, setting, config, sources, reward_model):
        if config.sequences_per_step % config.samples_per_prompt:
            raise ConfigError(f"RL: sequences_per_step {config.sequences_per_step} must be a multiple of "
                              f"samples_per_prompt {config.samples_per_prompt}")
        super().__init__(setting, config, sources, reward_model)

    def get_batch(self, step):
        c = self.config
        k = c.sequences_per_step // c.samples_per_prompt
        chosen = self.batch_rng.choice(len(self.setting.train_prompts), size=k,
                                       replace=k > len(self.setting.train_prompts))
        prompts = [self.setting.train_prompts[i] for i in chosen]
        batch = sample_batch(self.model, self.tokenizer, prompts, c.samples_per_prompt, c.length, self.batch_rng)
        batch.rewards = self.reward_model.score(batch)  # (B,)
        batch.ref_logprobs = sequence_logprobs_np(self.setting.ref, batch)  # (B,)
        return batch

    def loss(self, batch):
        logp = sequence_logprobs(self.model, batch)  # (B,) Tensor: log pi(y|x)
        kl = np.asarray(logp.numpy(), np.float64) - batch.ref_logprobs  # (B,) sum over tokens of log pi - log ref
        returns = batch.rewards - self.config.kl_coef * kl  # (B,)
        advantages = returns - leave_one_out_baseline(returns, batch.groups)  # (B,)
        self._step_log = {"reward": float(batch.rewards.mean()), "kl": float(kl.mean()),
                          "rater": float(self.setting.rater.scores(batch.completions).mean())}
        return policy_gradient_loss(logp, advantages), len(batch)

    def evaluate(self, step, recent):
        row = super().evaluate(step, recent)
        row["objective_loss"] = -(row["reward"] - self.config.kl_coef * row["kl"])  # lowest is best
        return row


class DPOTask(PolicyTask):
    """Direct Preference Optimisation on the labelled pairs: no reward model, no sampling."""

    name = "dpo"
    method = "dpo"
    best_metric = "dpo_val_loss"

    def __init__(self, setting, config, sources, pairs, reward_model=None):
        super().__init__(setting, config, sources, reward_model)
        self.train_pairs, self.val_pairs = holdout_split(pairs, config.holdout_every)
        if not self.train_pairs or not self.val_pairs:
            raise ConfigError(f"{len(pairs)} pairs are too few to train on and hold some out")
        self.ref_train = self._ref_logprobs(self.train_pairs)  # (2N,) chosen then rejected: computed once
        self.ref_val = self._ref_logprobs(self.val_pairs)

    def _batch(self, pairs):
        return pairs_batch(pairs, self.tokenizer, self.model_config.block_size)

    def _ref_logprobs(self, pairs, chunk=64):
        chosen, rejected = [], []
        for i in range(0, len(pairs), chunk):
            part = pairs[i:i + chunk]
            lp = sequence_logprobs_np(self.setting.ref, self._batch(part))  # (2n,)
            chosen.append(lp[:len(part)])
            rejected.append(lp[len(part):])
        return np.concatenate(chosen), np.concatenate(rejected)

    def get_batch(self, step):
        n = self.config.sequences_per_step // 2
        idx = self.batch_rng.choice(len(self.train_pairs), size=min(n, len(self.train_pairs)), replace=False)
        batch = self._batch([self.train_pairs[i] for i in idx])
        batch.ref_chosen, batch.ref_rejected = self.ref_train[0][idx], self.ref_train[1][idx]
        return batch

    def loss(self, batch):
        n = len(batch) // 2
        logp = sequence_logprobs(self.model, batch)  # (2n,) chosen, then rejected
        loss = dpo_loss(logp[:n], logp[n:], batch.ref_chosen, batch.ref_rejected, self.config.dpo_beta)
        lp = np.asarray(logp.numpy(), np.float64)
        margin = (lp[:n] - batch.ref_chosen) - (lp[n:] - batch.ref_rejected)  # (n,)
        self._step_log = {"margin": float(self.config.dpo_beta * margin.mean()),
                          "pair_accuracy": float(np.mean(margin > 0))}
        return loss, n

    def evaluate(self, step, recent):
        row = super().evaluate(step, recent)
        total = 0.0
        for i in range(0, len(self.val_pairs), 64):
            part = self.val_pairs[i:i + 64]
            lp = sequence_logprobs_np(self.model, self._batch(part))  # (2n,)
            m = (lp[:len(part)] - self.ref_val[0][i:i + 64]) - (lp[len(part):] - self.ref_val[1][i:i + 64])
            total += float(np.sum(np.logaddexp(0.0, -self.config.dpo_beta * m)))  # -log sigmoid(beta m)
        row["dpo_val_loss"] = total / len(self.val_pairs)
        return row


def _reward_model_for(reward, setting):
    rm, tok, _ = load_reward_model(reward)
    if not same_vocabulary(tok, setting.tokenizer):
        raise ConfigError(f"{reward}: the reward model was trained on another vocabulary than the checkpoint's "
                          f"({tok.vocab_size} vs {setting.tokenizer.vocab_size} tokens)")
    if rm.config.block_size < setting.ref.config.block_size:
        raise ConfigError(f"{reward}: the reward model reads {rm.config.block_size} tokens, fewer than the "
                          f"policy's {setting.ref.config.block_size}")
    return rm


def _run_policy(make_task, checkpoint, out_dir, config, resume, force, stop_after, progress, log, on_phase,
                sources, data):
    say = log or (lambda *a, **k: None)
    with RunDir(out_dir, resume=resume, force=force, say=say) as run_dir:
        if resume:
            saved = saved_config(run_dir.path, PolicyTask, "rlhf")
            config = PolicyConfig.from_dict(saved.get("config", {}))
        config = config or PolicyConfig()
        setting = load_setting(checkpoint, config.length, data)
        task = make_task(setting, config, sources)
        if not resume:
            say(f"tuning a GPT with {task.name.upper()} for {config.max_iters} steps of {config.sequences_per_step} "
                f"sequences; measured on {len(setting.eval_prompts)} held-out prompts")
        return run(task, run_dir, stop_after=stop_after, progress=progress, log=log, on_phase=on_phase)



def train_rl(checkpoint, reward, out_dir="runs/rl", config=None, resume=False, force=False, stop_after=None,
             progress=True, log=print, on_phase=None, data=None):
    """Tune a GPT with REINFORCE against a reward model, with a per-token KL penalty to the original.

    Args:
        checkpoint: the pretrained GPT (``gpt train``'s ``ckpt.npz``): the start and the reference.
        reward: a reward-model checkpoint (``gpt reward``'s ``ckpt.npz``).
        out_dir: the run directory; its ``ckpt.npz`` is a GPT checkpoint (``gpt sample`` reads it).
        config: a :class:`PolicyConfig` (``kl_coef`` is the penalty); on ``resume`` the saved one is used.
        resume, force, stop_after, progress, log, on_phase: as for :func:`micrograd_plus.train.gpt.train`.
        data: the text file the GPT was trained on, if not Tiny Shakespeare (default: the checkpoint's).

    Returns:
        a :class:`~micrograd_plus.train.loop.TrainResult` (``.evals``: rater, reward, kl, val_loss per evaluation).
    """
    sources = {"checkpoint_sha256": file_sha256(checkpoint, "GPT checkpoint"),
               "reward_sha256": file_sha256(reward, "reward-model checkpoint")}

    def make(setting, config, sources):
        return RLTask(setting, config, sources, _reward_model_for(reward, setting))

    return _run_policy(make, checkpoint, out_dir, config, resume, force, stop_after, progress, log, on_phase,
                       sources, data)


def train_dpo(checkpoint, pairs, out_dir="runs/dpo", config=None, reward=None, resume=False, force=False,
              stop_after=None, progress=True, log=print, on_phase=None, data=None):
    """Tune a GPT with DPO on labelled pairs (no reward model needed).

    Args as :func:`train_rl`, with ``pairs`` (the ``gpt pairs`` file) in place of the reward model;
    ``reward`` (optional) is a reward model used only to *measure* the policy, to compare with RL.
    """
    data_pairs = load_pairs(pairs)
    sources = {"checkpoint_sha256": file_sha256(checkpoint, "GPT checkpoint"), "pairs_sha256": file_sha256(pairs)}
    if reward is not None:
        sources["reward_sha256"] = file_sha256(reward, "reward-model checkpoint")

    def make(setting, config, sources):
        check_vocabulary(data_pairs, setting.tokenizer, pairs)
        rm = None if reward is None else _reward_model_for(reward, setting)
        return DPOTask(setting, config, sources, data_pairs, rm)

    return _run_policy(make, checkpoint, out_dir, config, resume, force, stop_after, progress, log, on_phase,
                       sources, data)
