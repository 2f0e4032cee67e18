"""The quantities of RLHF, checked against independent computations.

* a completion's log-probability (one forward pass, masked sum) equals the sum of its tokens'
  log-probabilities computed one prefix at a time with ``next_token_logits`` (the chain rule);
* the KL estimates against the exact KL of a case small enough to enumerate every completion;
* the Bradley-Terry, DPO and policy-gradient losses' gradients against central differences
  (the project's ``gradcheck``), through ``token_logprobs`` from the logits;
* the rater: its score on hand-made texts, and the same judgements under the same seed.
"""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus.data import CharTokenizer
from micrograd_plus.data._files import DataError
from micrograd_plus.gradcheck import gradcheck
from micrograd_plus.models.gpt import GPT, GPTConfig
from micrograd_plus.rlhf.core import (
    bradley_terry_loss, dpo_loss, leave_one_out_baseline, pad_batch, policy_gradient_loss, score_logits,
    sequence_kl, sequence_logprobs, token_kl, token_logprobs,
)
from micrograd_plus.rlhf.rater import Rater, ceiling, load_pairs, save_pairs
from micrograd_plus import tensor

TOK = CharTokenizer.from_text("abc\n:")


def _gpt(seed, vocab=5, block=8, dtype=np.float64):
    """A small random GPT whose next-token distributions are far from uniform (embeddings scaled up)."""
    model = GPT(GPTConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=8), generator=seed).to(dtype)
    model.transformer.wte.weight.numpy()[...] *= 40.0
    return model


def test_sequence_logprob_is_the_sum_of_token_logprobs_by_the_chain_rule():
    model = _gpt(0)
    prompts, completions = ["a:", "b\n:", "c"], ["abca", "b", "cc:ab"]
    batch = pad_batch(TOK, prompts, completions, 8)
    got = sequence_logprobs(model, batch).numpy()  # (3,)
    for b, (p, c) in enumerate(zip(prompts, completions)):
        ids = list(TOK.encode(p))
        total = 0.0
        for tok in TOK.encode(c):  # one prefix at a time, nothing shared with the batched pass
            logits = model.next_token_logits(np.array([ids]))[0]  # (V,)
            total += logits[tok] - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
            ids.append(int(tok))
        assert got[b] == pytest.approx(total, abs=1e-10)


def _all_completions(policy, ref, prompt, length, vocab):
    """Every completion of ``length`` tokens with its log-probability under both models (enumerated)."""
    comps = [list(c) for c in itertools.product(range(vocab), repeat=length)]
    texts = [TOK.decode(np.array(c)) for c in comps]
    batch = pad_batch(TOK, [prompt] * len(texts), texts, policy.config.block_size)
    lp = sequence_logprobs(policy, batch).numpy()
    lq = sequence_logprobs(ref, batch).numpy()
    return batch, lp, lq


def test_kl_estimates_against_the_exact_kl_of_an_enumerable_case():
    policy, ref = _gpt(1), _gpt(2)
    batch, lp, lq = _all_completions(policy, ref, "a", 3, 5)  # 125 completions
    p = np.exp(lp)
    assert p.sum() == pytest.approx(1.0, abs=1e-10)  # the enumeration is complete
    exact = float(np.sum(p * (lp - lq)))  # KL(pi || ref) of whole completions, by definition
    assert exact > 0.01
    # the per-position KL over the vocabulary, averaged under pi, is the same number (chain rule of KL)
    per_seq = token_kl(score_logits(policy, batch), score_logits(ref, batch), batch.mask)  # (125,)
    assert float(np.sum(p * per_seq)) == pytest.approx(exact, rel=1e-9)
    # the sampled estimate: mean log-ratio of completions drawn from pi, within 4 standard errors
    g = np.random.default_rng(0)
    draws = g.choice(len(p), size=20000, p=p / p.sum())
    ratio = (lp - lq)[draws]
    est = sequence_kl(lp[draws], lq[draws])
    assert abs(est - exact) < 4 * ratio.std() / np.sqrt(len(draws))
    assert sequence_kl(lp, lp) == 0.0 and np.allclose(token_kl(score_logits(ref, batch), score_logits(ref, batch),
                                                                batch.mask), 0.0)


def _logits_and_batch(seed, B=4):
    g = np.random.default_rng(seed)
    batch = pad_batch(TOK, ["a", "bc", "a:", "c"][:B], ["abc", "c", "b\n", "ca"][:B], 6)
    logits = tensor(g.normal(size=(B, batch.ids.shape[1] - 1, 5)), requires_grad=True)  # (B, T - 1, V) float64
    return logits, batch


@given(st.integers(0, 10_000))
def test_bradley_terry_loss_gradient(seed):
    g = np.random.default_rng(seed)
    rc = tensor(g.normal(size=5) * 2, requires_grad=True)
    rr = tensor(g.normal(size=5) * 2, requires_grad=True)
    assert gradcheck(bradley_terry_loss, [rc, rr])
    # and the value: -log sigmoid(d), averaged
    d = rc.numpy() - rr.numpy()
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(np.mean(np.log1p(np.exp(-d))), rel=1e-12)


@given(st.integers(0, 10_000), st.floats(0.05, 2.0))
def test_dpo_loss_gradient_through_token_logprobs(seed, beta):
    logits, batch = _logits_and_batch(seed)
    ref = np.random.default_rng(seed + 1).normal(size=4)

    def f(logits):
        lp = token_logprobs(logits, batch.ids, batch.mask).sum(1)  # (4,)
        return dpo_loss(lp[:2], lp[2:], ref[:2], ref[2:], beta)

    assert gradcheck(f, [logits])
    lp = token_logprobs(logits, batch.ids, batch.mask).sum(1).numpy()
    m = (lp[:2] - ref[:2]) - (lp[2:] - ref[2:])
    assert f(logits).item() == pytest.approx(np.mean(np.log1p(np.exp(-beta * m))), rel=1e-10)


@given(st.integers(0, 10_000))
def test_policy_gradient_loss_gradient_through_token_logprobs(seed):
    logits, batch = _logits_and_batch(seed)
    adv = np.random.default_rng(seed + 2).normal(size=4)

    def f(logits):
        return policy_gradient_loss(token_logprobs(logits, batch.ids, batch.mask).sum(1), adv)

    assert gradcheck(f, [logits])


def test_policy_gradient_is_reinforce_on_an_enumerable_case():
    """-grad of the surrogate, averaged exactly over completions, is grad E[R] (the REINFORCE identity)."""
    policy = _gpt(3)
    batch, lp, _ = _all_completions(policy, policy, "b", 2, 5)  # 25 completions
    p = np.exp(lp)
    R = np.random.default_rng(0).normal(size=len(p))
    w = policy.transformer.h[0].mlp.c_fc.weight
    # exact expectation of the surrogate's gradient: weight each completion's term by its probability
    policy.zero_grad()
    logp = sequence_logprobs(policy, batch)
    (-(logp * tensor(p * R)).sum()).backward()
    got = -np.array(w.grad)
    # numerical derivative of E[R] = sum_y p(y) R(y) along a random direction
    d = np.random.default_rng(1).normal(size=w.numpy().shape)
    eps = 1e-6
    vals = []
    for s in (eps, -eps):
        w.numpy()[...] += s * d
        vals.append(float(np.sum(np.exp(sequence_logprobs(policy, batch).numpy()) * R)))
        w.numpy()[...] -= s * d
    assert np.sum(got * d) == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=1e-6)


def test_leave_one_out_baseline():
    r = np.array([1.0, 2.0, 6.0, 10.0, 20.0])
    b = leave_one_out_baseline(r, [0, 0, 0, 1, 1])
    np.testing.assert_allclose(b, [4.0, 3.5, 1.5, 20.0, 10.0])
    with pytest.raises(ValueError, match="at least two"):
        leave_one_out_baseline(r, [0, 0, 0, 0, 1])


WORDS = {"the", "sword", "is", "sharp", "king", "go"}


def test_rater_scores_the_documented_taste():
    rater = Rater(WORDS, beta=1.0)
    assert rater.score("the sword is sharp.") == 0.0  # real words, nothing liked
    assert rater.score("my love, my love, my love.") == 4.0  # each liked word counts once
    assert rater.score("thy death is the sword.") == 0.0  # +2 liked, -2 grim
    assert rater.score("the blorp zint is sharp.") == -1.0  # two non-words at -0.5 each
    assert rater.score("I go to the kin") == 1.5  # 'I' +2, 'to' is not in WORDS -0.5, 'kin' unread
    assert rater.score("I go to the kin") == rater.score("I go tho the kin")  # the cut-off last word is not read
    assert rater.score("to,,,,,,,\nto,,,,,,") == -3.0  # two words short of four; each 'to' (not in WORDS) -0.5
    assert rater.score("") == -4.0
    assert rater.prob_prefers("my love, my love.", "the sword is sharp.") == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert rater.prob_prefers("the sword.", "the sword.") == 0.5


def test_rater_judgements_are_determined_by_the_seed():
    rater = Rater(WORDS, beta=1.0)
    texts = ["my love.", "the sword.", "thy death.", "blorp.", "I go."]
    pairs = [(a, b) for a in texts for b in texts]

    def labels(seed):
        g = np.random.default_rng(seed)
        return [rater.label("K:\n", a, b, g)["chosen"] for a, b in pairs]

    assert labels(5) == labels(5)
    assert labels(5) != labels(6)  # the noise really comes from the generator
    # and the frequency of "a" follows the Bradley-Terry probability
    g = np.random.default_rng(0)
    wins = np.mean([rater.judge("my love.", "the sword.", g) == "a" for _ in range(4000)])
    assert 0.6 < rater.prob_prefers("my love.", "the sword.") < 0.99
    assert wins == pytest.approx(rater.prob_prefers("my love.", "the sword."), abs=0.02)


def test_ceiling_of_a_noisy_rater():
    pairs = [{"p_a": 0.5}, {"p_a": 0.9}, {"p_a": 0.2}]
    c = ceiling(pairs)
    assert c["best_accuracy"] == pytest.approx((0.5 + 0.9 + 0.8) / 3)
    assert c["self_agreement"] == pytest.approx((0.5 + 0.82 + 0.68) / 3)
    assert np.isnan(ceiling([{"chosen": "a"}])["best_accuracy"])


def test_pairs_file_round_trip_and_one_line_errors(tmp_path):
    pairs = [{"prompt": "K:\n", "a": "my love", "b": "blorp", "chosen": "a", "judge": "human"}]
    path = tmp_path / "p.jsonl"
    save_pairs(path, pairs)
    assert load_pairs(path) == pairs
    assert json.loads(path.read_text().splitlines()[0])["chosen"] == "a"
    for bad, msg in [("{nope", "not a JSON line"), ('{"prompt": "K", "a": "x", "b": "y", "chosen": "c"}', "chosen"),
                     ('{"a": "x", "b": "y", "chosen": "a"}', "prompt"), ("", "holds no pairs")]:
        path.write_text(bad + "\n")
        with pytest.raises(DataError, match=msg):
            load_pairs(path)
    with pytest.raises(DataError, match="not found"):
        load_pairs(tmp_path / "missing.jsonl")


def test_pairs_file_follows_the_write_rule(tmp_path):
    """--out of `gpt pairs` is checked like every command's output: a symbolic link is refused
    even with --force (nothing is written through it), and the link's target is untouched."""
    from micrograd_plus.rlhf.pairs import _existing
    from micrograd_plus.train.errors import RunDirError

    target = tmp_path / "precious.txt"
    target.write_text("the user's file")
    link = tmp_path / "pairs.jsonl"
    link.symlink_to(target)
    with pytest.raises(RunDirError, match="symbolic link"):
        _existing(link, resume=False, force=True)
    assert target.read_text() == "the user's file"
