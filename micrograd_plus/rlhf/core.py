"""The quantities RLHF is made of: samples, sequence log-probabilities, KL, and the three losses.

A *completion* ``y`` of a prompt ``x`` is a sequence of tokens ``y_1 .. y_L``; the language model
gives it the probability

    log p(y | x) = sum_t log p(y_t | x, y_<t)                     (the chain rule of probability)

which one forward pass computes for a whole batch (:func:`token_logprobs`). Everything below is
built from it:

* the **KL divergence** of the tuned policy ``pi`` from the frozen pretrained ``ref``,
  KL = E_{y ~ pi}[log pi(y|x) - log ref(y|x)], estimated from samples (:func:`sequence_kl`) or,
  per position, exactly over the vocabulary (:func:`token_kl`);
* the **Bradley-Terry loss** of a reward model, -log sigmoid(r_chosen - r_rejected)
  (:func:`bradley_terry_loss`);
* the **policy-gradient loss** -(A * log pi(y|x)), whose gradient is REINFORCE's
  (:func:`policy_gradient_loss`);
* the **DPO loss**, -log sigmoid(beta * [(log pi - log ref)(chosen) - (log pi - log ref)(rejected)])
  (:func:`dpo_loss`).

Batches of sequences. Prompts may differ in length, so a batch is a (B, T) array of token ids,
each row a prompt followed by its completion and then padding (any token id: the model is
causal, so what comes after a row's end never changes the predictions before it), and a (B, T - 1)
``mask`` that is 1 where position t predicts a completion token ``ids[b, t + 1]``.
"""

import numpy as np

from micrograd_plus import functional as F
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, no_grad
from micrograd_plus._namespace import from_numpy

__all__ = [
    "Batch",
    "pad_batch",
    "sample_completions",
    "token_logprobs",
    "sequence_logprobs",
    "token_kl",
    "sequence_kl",
    "bradley_terry_loss",
    "dpo_loss",
    "policy_gradient_loss",
    "leave_one_out_baseline",
]


class Batch:
    """Prompts and completions as arrays for one forward pass.

    Attributes:
        ids: int64 (B, T): prompt, completion, padding (token 0) in each row.
        mask: float (B, T - 1): 1.0 where position t predicts a completion token ``ids[b, t + 1]``.
        prompt_lens: int64 (B,); ``ends``: int64 (B,), the length of prompt + completion.
        prompts, completions: the texts (lists of B strings), when known.
    """

    def __init__(self, ids, mask, prompt_lens, ends, prompts=None, completions=None):
        self.ids, self.mask, self.prompt_lens, self.ends = ids, mask, prompt_lens, ends
        self.prompts, self.completions = prompts, completions

    def __len__(self):
        return self.ids.shape[0]


def pad_batch(tokenizer, prompts, completions, block_size):
    """Encode (prompt, completion) text pairs into a :class:`Batch`.

    Raises a one-line ValueError if a text holds a character outside the vocabulary, or a prompt
    plus its completion is longer than ``block_size`` tokens.
    """
    rows, plens = [], []
    for p, c in zip(prompts, completions):
        pi, ci = tokenizer.encode(p), tokenizer.encode(c)  # ValueError naming an unknown character
        if len(pi) + len(ci) > block_size:
            raise ValueError(f"prompt {p!r} with its completion is {len(pi) + len(ci)} tokens, more than the "
                             f"model's block_size {block_size}")
        if len(pi) == 0:
            raise ValueError("a prompt must not be empty")
        rows.append(np.concatenate([pi, ci]).astype(np.int64))
        plens.append(len(pi))
    T = max(len(r) for r in rows)
    ids = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
    mask = np.zeros((len(rows), T - 1), dtype=np.float32)  # (B, T - 1)
    for b, (r, p) in enumerate(zip(rows, plens)):
        ids[b, :len(r)] = r
        mask[b, p - 1:len(r) - 1] = 1.0  # positions p-1 .. end-2 predict the completion's tokens
    ends = np.array([len(r) for r in rows], dtype=np.int64)
    return Batch(ids, mask, np.array(plens, dtype=np.int64), ends, list(prompts), list(completions))


def sample_completions(model, tokenizer, prompt, n, length, temperature=1.0, generator=None):
    """``n`` completions of ``length`` tokens of one ``prompt`` drawn side by side: a list of n strings.

    All n rows share one forward pass per token (and a KV cache); ``generator`` (a numpy Generator
    or a seed) makes the draw repeatable.
    """
    g = get_generator(generator)
    ids = tokenizer.encode(prompt)  # (P,)
    if len(ids) + length > model.config.block_size:
        raise ValueError(f"prompt {prompt!r} ({len(ids)} tokens) plus {length} new tokens exceeds the model's "
                         f"block_size {model.config.block_size}")
    out = model.generate(np.tile(ids, (n, 1)), length, temperature=temperature, generator=g)  # (n, P + length)
    return [tokenizer.decode(row[len(ids):]) for row in out]


def token_logprobs(logits, ids, mask):
    """Log-probabilities of the tokens that follow, from the logits: -> Tensor (B, T - 1).

    Args:
        logits: Tensor (B, T - 1, V), the model's scores at positions 0 .. T - 2.
        ids: int (B, T), the sequences; position t is scored on ``ids[:, t + 1]``.
        mask: (B, T - 1), 1.0 where the token counts (the completion), 0.0 elsewhere.

    Returns ``log p(ids[b, t+1] | ids[b, :t+1]) * mask[b, t]`` (B, T - 1); its row sums are the
    completions' log-probabilities (:func:`sequence_logprobs`).
    """
    ids = np.asarray(ids)
    B, T1, V = logits.shape
    # 2-D, so that T - 1 == V is not mistaken for PyTorch's (N, C, L) layout (see F.cross_entropy)
    nll = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1), reduction="none")  # (B*(T-1),)
    nll = nll.reshape(B, T1)  # (B, T - 1): -log p of the true next token
    return -nll * from_numpy(np.asarray(mask, dtype=logits.dtype))  # (B, T - 1)


def sequence_logprobs(model, batch):
    """log p(completion | prompt) of each row of a :class:`Batch`: a Tensor (B,) with gradients.

    One forward pass on ``ids[:, :-1]`` scores every position at once; the masked sum over
    positions is the chain rule, log p(y|x) = sum_t log p(y_t | x, y_<t).
    """
    logits, _ = model(batch.ids[:, :-1])  # (B, T - 1, V)
    return token_logprobs(logits, batch.ids, batch.mask).sum(1)  # (B,)


def token_kl(policy_logits, ref_logits, mask):
    """Exact KL(pi || ref) of the next-token distributions at every masked position: numpy (B,).

    For each position t of each row, sum_v pi(v) (log pi(v) - log ref(v)), summed over the
    completion's positions. Its mean over completions drawn from the policy is the KL between the
    two models' distributions of whole completions (the chain rule of KL), with less noise than
    :func:`sequence_kl`'s sampled log-ratios.

    Args: logits as numpy or Tensors (B, T - 1, V); mask (B, T - 1).
    """
    lp = _log_softmax_np(policy_logits)  # (B, T - 1, V)
    lq = _log_softmax_np(ref_logits)  # (B, T - 1, V)
    per_pos = (np.exp(lp) * (lp - lq)).sum(-1)  # (B, T - 1)
    return (per_pos * np.asarray(mask)).sum(1)  # (B,)


def _log_softmax_np(logits):
    x = np.asarray(logits.numpy() if isinstance(logits, Tensor) else logits, dtype=np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def sequence_kl(policy_logprobs, ref_logprobs):
    """The sampled estimate of KL(pi || ref): the mean over completions y ~ pi of log pi(y) - log ref(y).

    Args: the two models' log-probabilities of the same completions, (N,) arrays or Tensors.
    Unbiased when the completions were drawn from pi; any single term may be negative.
    """
    a = np.asarray(policy_logprobs.numpy() if isinstance(policy_logprobs, Tensor) else policy_logprobs, np.float64)
    b = np.asarray(ref_logprobs.numpy() if isinstance(ref_logprobs, Tensor) else ref_logprobs, np.float64)
    return float(np.mean(a - b))


def bradley_terry_loss(r_chosen, r_rejected):
    """The reward model's loss: mean of -log sigmoid(r_chosen - r_rejected), Tensors (N,) -> scalar.

    Under the Bradley-Terry model a person prefers a to b with probability sigmoid(r(a) - r(b));
    this is the negative log-likelihood of the observed preferences.
    """
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    """Direct Preference Optimisation: Bradley-Terry on the policy's implicit reward.

    DPO's insight: the policy that maximises E[r] - beta KL(pi || ref) is
    pi(y) = ref(y) exp(r(y) / beta) / Z, so r(y) = beta log(pi(y) / ref(y)) + beta log Z, and
    the reward model can be skipped: put that r into the Bradley-Terry loss (Z cancels)::

        loss = -log sigmoid(beta * [(log pi - log ref)(chosen) - (log pi - log ref)(rejected)])

    Args: sequence log-probabilities (N,) -- the policy's as Tensors, the frozen reference's as
    arrays or Tensors; ``beta`` > 0. Returns the mean loss, a scalar Tensor.
    """
    ref_margin = _as_tensor(ref_chosen) - _as_tensor(ref_rejected)  # (N,), constant
    margin = (policy_chosen - policy_rejected) - ref_margin  # (N,)
    return -F.logsigmoid(margin * beta).mean()


def policy_gradient_loss(logprobs, advantages):
    """REINFORCE's surrogate: -mean(A * log pi(y)), Tensor (N,) and constant (N,) -> scalar.

    Its gradient, -mean(A * grad log pi(y)), is an unbiased estimate of -grad E[R] when the
    advantages are the returns minus a baseline that does not depend on y itself.
    """
    return -(logprobs * from_numpy(np.asarray(advantages, dtype=logprobs.dtype))).mean()


def leave_one_out_baseline(returns, groups):
    """Each completion's baseline: the mean return of the *other* completions of the same prompt.

    Args: returns (N,), groups (N,) ints (the prompt each completion answers; every group needs
    at least two members). Returns (N,). Leaving a sample out of its own baseline keeps the
    estimate unbiased (the baseline does not depend on that sample).
    """
    returns, groups = np.asarray(returns, np.float64), np.asarray(groups)
    base = np.empty_like(returns)
    for gid in np.unique(groups):
        idx = np.flatnonzero(groups == gid)
        if idx.size < 2:
            raise ValueError("leave_one_out_baseline: every prompt needs at least two completions")
        total = returns[idx].sum()
        base[idx] = (total - returns[idx]) / (idx.size - 1)
    return base


def _as_tensor(x):
    return x if isinstance(x, Tensor) else from_numpy(np.asarray(x))  # the array's dtype kept


@no_grad()
def score_logits(model, batch):
    """The model's logits (B, T - 1, V) for a :class:`Batch`, without gradients, as numpy float64."""
    logits, _ = model(batch.ids[:, :-1])
    return np.asarray(logits.numpy(), dtype=np.float64)
