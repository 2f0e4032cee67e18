"""Tests of the GPT model: weight table, shapes, initial loss, causality, gradients, sampling."""

import math

import numpy as np
import pytest

from micrograd_plus.gradcheck import gradcheck
from micrograd_plus.models.gpt import (
    GPT,
    GPT3_CONFIG,
    GPTConfig,
    count_trainable,
    nearest_neighbours,
    sample_next,
    weight_table,
)

TINY = GPTConfig(vocab_size=7, block_size=6, n_layer=2, n_head=2, n_embd=8)


# ---- weight table ----------------------------------------------------------------------------


def test_weight_table_gpt3_matches_3blue1browns_table_exactly():
    t = weight_table(GPT3_CONFIG)
    # The figures of 3Blue1Brown's GPT-3 table, typed in by hand.
    expected = {
        "Embedding": (1, 617_558_016),
        "Key": (9_216, 14_495_514_624),
        "Query": (9_216, 14_495_514_624),
        "Value": (9_216, 14_495_514_624),
        "Output": (96, 14_495_514_624),
        "Up-projection": (96, 57_982_058_496),
        "Down-projection": (96, 57_982_058_496),
        "Unembedding": (1, 617_558_016),
    }
    assert [r.category for r in t.rows] == list(expected)
    for r in t.rows:
        assert (r.matrices, r.weights) == expected[r.category], r.category
        assert r.weights == r.matrices * r.shape[0] * r.shape[1]
    assert t.total_weights == 175_181_291_520
    assert t.total_matrices == 27_938
    text = str(t)
    assert "175,181,291,520" in text and "27,938" in text
    assert "position embeddings" in text  # says what it leaves out


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("tie", [False, True])
def test_trainable_count_equals_the_model_parameters(bias, tie):
    cfg = GPTConfig(vocab_size=11, block_size=5, n_layer=3, n_head=2, n_embd=12, bias=bias, tie_weights=tie)
    model = GPT(cfg, generator=0)
    n = sum(p.numpy().size for p in model.parameters())
    assert weight_table(cfg).trainable == n == count_trainable(cfg)[0]
    # by hand: wte + wpe + per layer (2 LN + 12 C^2 [+ 9C biases]) + ln_f [+ lm_head]
    C, ln = 12, (24 if bias else 12)
    hand = 11 * C + 5 * C + 3 * (2 * ln + 12 * C * C + (9 * C if bias else 0)) + ln + (0 if tie else 11 * C)
    assert n == hand


def test_gpt3_trainable_count_is_the_table_plus_what_it_leaves_out():
    t = weight_table(GPT3_CONFIG)
    C, L, V = 12_288, 96, 50_257
    # table - duplicated (tied) unembedding + positions + LayerNorms (gain+bias) + Linear biases
    assert t.trainable == t.total_weights - V * C + 2_048 * C + (2 * L + 1) * 2 * C + L * 9 * C


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="n_layer"):
        GPTConfig(n_layer=0)
    with pytest.raises(ValueError, match="unknown keys"):
        GPTConfig.from_dict({"vocab_size": 3, "colour": "red"})
    cfg = GPTConfig(vocab_size=3, bias=True)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg


# ---- the model --------------------------------------------------------------------------------


def test_shapes_and_initial_loss_is_about_ln_vocab(rng):
    cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32)
    model = GPT(cfg, generator=0)
    idx = rng.integers(0, 65, size=(8, 16))
    targets = rng.integers(0, 65, size=(8, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (8, 16, 65)
    # small init: every character about equally likely, so the loss is close to ln(65) = 4.174
    assert abs(loss.item() - math.log(65)) < 0.1
    # and the loss is the cross-entropy of the logits, computed here with numpy
    z = logits.numpy().astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    ref = -np.take_along_axis(logp, targets[..., None], -1).mean()
    assert loss.item() == pytest.approx(ref, rel=1e-5)


def test_gpt2_initialisation_statistics():
    cfg = GPTConfig(vocab_size=50, block_size=32, n_layer=8, n_head=4, n_embd=64, bias=True)
    model = GPT(cfg, generator=0)
    sd = dict(model.named_parameters())
    assert sd["transformer.wte.weight"].numpy().std() == pytest.approx(0.02, rel=0.05)
    assert sd["transformer.h.0.mlp.c_fc.weight"].numpy().std() == pytest.approx(0.02, rel=0.05)
    resid = 0.02 / math.sqrt(2 * 8)
    assert sd["transformer.h.3.attn.c_proj.weight"].numpy().std() == pytest.approx(resid, rel=0.05)
    assert sd["transformer.h.3.mlp.c_proj.weight"].numpy().std() == pytest.approx(resid, rel=0.05)
    assert np.all(sd["transformer.h.0.attn.c_attn.bias"].numpy() == 0)
    assert np.all(sd["transformer.h.0.ln_1.weight"].numpy() == 1) and np.all(sd["transformer.ln_f.bias"].numpy() == 0)
    assert sd["transformer.wte.weight"].numpy().dtype == np.float32


def test_same_seed_same_weights_different_seed_different():
    a, b, c = GPT(TINY, generator=3), GPT(TINY, generator=3), GPT(TINY, generator=4)
    for (n, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    assert not np.array_equal(a.transformer.wte.weight.numpy(), c.transformer.wte.weight.numpy())


def test_causal_mask_blocks_the_future(rng):
    cfg = GPTConfig(vocab_size=10, block_size=12, n_layer=2, n_head=2, n_embd=16)
    model = GPT(cfg, generator=1)
    idx = rng.integers(0, 10, size=(2, 12))
    base, _ = model(idx)
    for t in range(12):
        changed = idx.copy()
        changed[:, t:] = (changed[:, t:] + 1 + rng.integers(0, 8, size=changed[:, t:].shape)) % 10
        out, _ = model(changed)
        np.testing.assert_array_equal(out.numpy()[:, :t], base.numpy()[:, :t])  # past: exactly unchanged
        assert not np.allclose(out.numpy()[:, t], base.numpy()[:, t])  # the changed position does change


def test_bad_input_errors():
    model = GPT(TINY, generator=0)
    with pytest.raises(ValueError, match="block_size"):
        model(np.zeros((1, 7), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="token ids"):
        model(np.array([[0, 7]]))
    with pytest.raises(TypeError, match="integer"):
        model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="targets shape"):
        model(np.zeros((2, 3), dtype=np.int64), np.zeros((2, 4), dtype=np.int64))


@pytest.mark.parametrize("bias,tie,check_logits", [(False, True, True), (True, False, False)])
def test_gradcheck_tiny_gpt_float64(bias, tie, check_logits):
    cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=4, bias=bias, tie_weights=tie)
    model = GPT(cfg, generator=0).double()
    # larger weights than GPT-2's init, so every path carries a gradient worth checking
    g = np.random.default_rng(1)
    for p in model.parameters():
        p.numpy()[...] += g.normal(0.0, 0.3, size=p.numpy().shape)
    idx = np.array([[0, 3, 1, 4], [2, 2, 0, 1]])
    targets = np.array([[3, 1, 4, 0], [2, 0, 1, 3]])
    params = list(model.parameters())
    assert all(p.numpy().dtype == np.float64 for p in params)
    assert gradcheck(lambda *ps: model(idx, targets)[1], params)
    if check_logits:
        assert gradcheck(lambda *ps: model(idx)[0], params)  # the logits, every element


def test_matches_pytorch_forward_and_backward(rng, nanogpt):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional

    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=True, tie_weights=False)
    model = GPT(cfg, generator=0)
    g = np.random.default_rng(2)
    for p in model.parameters():
        p.numpy()[...] += g.normal(0.0, 0.1, size=p.numpy().shape).astype(np.float32)
    tmodel = nanogpt.from_ours(model)  # the oracle of tests/models/conftest.py, with our weights
    idx, targets = rng.integers(0, 13, size=(3, 8)), rng.integers(0, 13, size=(3, 8))
    logits, loss = model(idx, targets)
    loss.backward()
    tlogits = tmodel(torch.from_numpy(idx))  # (B, T, V)
    tloss = TF.cross_entropy(tlogits.reshape(-1, 13), torch.from_numpy(targets).reshape(-1))
    tloss.backward()
    np.testing.assert_allclose(logits.numpy(), tlogits.detach().numpy(), atol=2e-5)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        tg = tparams[name].grad.numpy()
        np.testing.assert_allclose(p.grad, tg, atol=1e-5 * max(1.0, np.abs(tg).max()), err_msg=name)


def test_tiny_config_overfits_a_short_text():
    from micrograd_plus import nn, optim

    text = "to be or not to be, that is the question. "
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    T = 8
    cfg = GPTConfig(vocab_size=len(chars), block_size=T, n_layer=1, n_head=2, n_embd=32)
    model = GPT(cfg, generator=0)
    starts = np.arange(0, len(text) - T)  # every window of the text, as one batch
    x = ids[starts[:, None] + np.arange(T)]  # (N, T)
    y = ids[starts[:, None] + np.arange(T) + 1]  # (N, T)
    opt = optim.AdamW(model.parameters(), lr=2e-2, weight_decay=0.0)
    first = None
    for _ in range(80):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    assert first > 2.5  # about ln(15) at the start
    # (not 0: the first characters of a window have too little context to be certain)
    assert loss.item() < 0.3
    # it has memorised the text: greedy generation from its first 8 characters reproduces it
    out = model.generate(ids[:T], 30, top_k=1, generator=0)
    assert "".join(chars[i] for i in out) == text[:T + 30]


# ---- inference helpers ---------------------------------------------------------------------


def test_next_token_probs_are_the_softmax_of_the_last_logits(rng):
    model = GPT(TINY, generator=0)
    idx = rng.integers(0, 7, size=(2, 5))
    logits, _ = model(idx)
    last = logits.numpy()[:, -1].astype(np.float64)
    expected = np.exp(last - last.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    probs = model.next_token_probs(idx)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(-1), 1.0)
    # the context is cropped to block_size: a longer prompt uses its last 6 tokens
    long = rng.integers(0, 7, size=(1, 15))
    np.testing.assert_allclose(model.next_token_probs(long), model.next_token_probs(long[:, -6:]))


def test_attention_maps_match_a_numpy_computation(rng):
    cfg = GPTConfig(vocab_size=9, block_size=8, n_layer=2, n_head=2, n_embd=8, bias=True)
    model = GPT(cfg, generator=0)
    g = np.random.default_rng(5)
    for p in model.parameters():
        p.numpy()[...] += g.normal(0.0, 0.5, size=p.numpy().shape).astype(np.float32)
    idx = rng.integers(0, 9, size=7)
    maps = model.attention_maps(idx)
    assert maps.shape == (2, 2, 7, 7)
    np.testing.assert_allclose(maps.sum(-1), 1.0, rtol=1e-6)
    assert np.all(maps[..., np.triu_indices(7, 1)[0], np.triu_indices(7, 1)[1]] == 0)
    # layer 0 by hand: x = wte[idx] + wpe[:T]; LayerNorm; q, k; softmax(q k^T / sqrt(D)) under the mask
    sd = {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}
    x = sd["transformer.wte.weight"][idx] + sd["transformer.wpe.weight"][:7]
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    h = h * sd["transformer.h.0.ln_1.weight"] + sd["transformer.h.0.ln_1.bias"]
    qkv = h @ sd["transformer.h.0.attn.c_attn.weight"].T + sd["transformer.h.0.attn.c_attn.bias"]
    for head in range(2):
        q = qkv[:, head * 4:(head + 1) * 4]
        k = qkv[:, 8 + head * 4:8 + (head + 1) * 4]
        s = q @ k.T / 2.0
        s[np.triu_indices(7, 1)] = -np.inf
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(maps[0, head], p, atol=1e-5)


def test_sampling_with_a_fixed_seed_is_reproducible():
    model = GPT(TINY, generator=0)
    prompt = np.array([1, 2, 3])
    a = model.generate(prompt, 30, temperature=1.5, generator=42)
    b = model.generate(prompt, 30, temperature=1.5, generator=42)
    c = model.generate(prompt, 30, temperature=1.5, generator=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (33,) and np.array_equal(a[:3], prompt)
    assert list(model.stream(prompt, 30, temperature=1.5, generator=42)) == a[3:].tolist()


def test_sample_next_temperature_and_top_k():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    g = np.random.default_rng(0)
    draws = np.array([sample_next(logits, generator=g) for _ in range(20000)])
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    # top_k=2 renormalises over the two likeliest: 0.5/0.8 and 0.3/0.8
    draws = np.array([sample_next(logits, top_k=2, generator=g) for _ in range(20000)])
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, [0.625, 0.375, 0, 0], atol=0.015)
    # a very low temperature is greedy
    assert all(sample_next(logits, temperature=1e-3, generator=g) == 0 for _ in range(50))
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        sample_next(logits, top_k=0)


def test_nearest_neighbours_by_cosine():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    idx, sims = nearest_neighbours(emb, [0, 2], k=2)
    assert idx.tolist() == [[1, 2], [1, 0]]
    np.testing.assert_allclose(sims[0], [0.9 / math.hypot(0.9, 0.1), 0.0])


# ---- nanoGPT's names, and old checkpoints ----------------------------------------------------


def _nanogpt_names(n_layer, bias, tied):
    """nanoGPT's parameter names (model.py: transformer = ModuleDict(wte, wpe, drop, h, ln_f), lm_head),
    written out from its layout; a tied lm_head is listed under transformer.wte only."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    for i in range(n_layer):
        for layer in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
            names.append(f"transformer.h.{i}.{layer}.weight")
            if bias:
                names.append(f"transformer.h.{i}.{layer}.bias")
    names += ["transformer.ln_f.weight"] + (["transformer.ln_f.bias"] if bias else [])
    return names + ([] if tied else ["lm_head.weight"])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("tie", [False, True])
def test_parameter_names_are_nanogpts(bias, tie):
    cfg = GPTConfig(vocab_size=11, block_size=5, n_layer=2, n_head=2, n_embd=8, bias=bias, tie_weights=tie)
    model = GPT(cfg, generator=0)
    assert list(model.state_dict()) == _nanogpt_names(2, bias, tie)
    assert (model.lm_head.weight is model.transformer.wte.weight) == tie
    assert model.transformer.h[1].mlp.c_fc.weight.shape == (32, 8)  # (out, in), as torch.nn.Linear


def _old_name(name):
    """This library's names before the nanoGPT ones: wte.weight, blocks.0.attn..., ln_f.weight."""
    return name.replace("transformer.h.", "blocks.").replace("transformer.", "")


@pytest.mark.parametrize("tie", [False, True])
def test_old_checkpoint_names_still_load(rng, tie):
    cfg = GPTConfig(vocab_size=9, block_size=6, n_layer=2, n_head=2, n_embd=8, bias=True, tie_weights=tie)
    src = GPT(cfg, generator=1)
    old = {_old_name(k): v.numpy().copy() for k, v in src.state_dict().items()}
    assert "blocks.1.mlp.c_proj.weight" in old and "wte.weight" in old
    dst = GPT(cfg, generator=2)
    dst.load_state_dict(old)
    idx = rng.integers(0, 9, size=(2, 6))
    np.testing.assert_array_equal(dst(idx)[0].numpy(), src(idx)[0].numpy())


def test_a_tied_state_dict_may_list_lm_head_too_but_not_a_different_one():
    cfg = GPTConfig(vocab_size=9, block_size=6, n_layer=1, n_head=2, n_embd=8)
    sd = {k: v.numpy().copy() for k, v in GPT(cfg, generator=1).state_dict().items()}
    model = GPT(cfg, generator=2)
    model.load_state_dict({**sd, "lm_head.weight": sd["transformer.wte.weight"].copy()})  # as torch lists it
    np.testing.assert_array_equal(model.lm_head.weight.numpy(), sd["transformer.wte.weight"])
    with pytest.raises(ValueError, match="two different matrices"):
        model.load_state_dict({**sd, "lm_head.weight": sd["transformer.wte.weight"] + 1})


def test_gelu_choice():
    with pytest.raises(ValueError, match="gelu_approximate"):
        GPTConfig(gelu_approximate="erf")
    old = GPTConfig(vocab_size=9).to_dict()
    del old["gelu_approximate"]  # a checkpoint's config from before the field existed
    assert GPTConfig.from_dict(old).gelu_approximate == "none"
    cfg = GPTConfig(vocab_size=9, block_size=6, n_layer=1, n_head=2, n_embd=8)
    exact = GPT(cfg, generator=0)
    tanh = GPT(GPTConfig(**{**cfg.to_dict(), "gelu_approximate": "tanh"}), generator=0)
    for p in list(exact.parameters()) + list(tanh.parameters()):
        p.numpy()[...] += 0.5  # large activations, where the two GELUs differ visibly
    x = np.array([[1, 2, 3, 4]])
    a, b = exact(x)[0].numpy(), tanh(x)[0].numpy()
    assert not np.allclose(a, b, atol=1e-6) and np.allclose(a, b, atol=5e-2)


# ---- KV-cache sampling ------------------------------------------------------------------------


def _noisy(cfg, seed=0):
    model = GPT(cfg, generator=seed)
    g = np.random.default_rng(seed + 100)
    for p in model.parameters():
        p.numpy()[...] += g.normal(0.0, 0.3, size=p.numpy().shape).astype(p.numpy().dtype)  # a model with opinions
    return model


@pytest.mark.parametrize("prompt_len,new", [(1, 20), (3, 5), (6, 15), (10, 4)])
def test_kv_cache_gives_the_same_tokens(prompt_len, new):
    # block_size 8: (6, 15) and (10, 4) run past the context, where the cache is rebuilt every step
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16, bias=True)
    model = _noisy(cfg)
    prompt = np.arange(prompt_len) % 13
    a = model.generate(prompt, new, temperature=1.3, generator=7, use_cache=True)
    b = model.generate(prompt, new, temperature=1.3, generator=7, use_cache=False)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (prompt_len + new,)
    assert list(model.stream(prompt, new, temperature=1.3, generator=7)) == a[prompt_len:].tolist()


def test_kv_cache_logits_equal_the_full_forward(rng):
    cfg = GPTConfig(vocab_size=11, block_size=10, n_layer=2, n_head=2, n_embd=8)
    model = _noisy(cfg, 3)
    idx = rng.integers(0, 11, size=(2, 10))
    full, _ = model(idx)  # (2, 10, V)
    cache = model.new_kv_cache(2)
    first = model.next_token_logits(idx[:, :4], cache)  # the first 4 positions at once
    np.testing.assert_allclose(first, full.numpy()[:, 3], rtol=1e-5, atol=1e-5)
    two = model(idx[:, 4:6], kv_cache=cache)[0].numpy()  # two new positions together (a masked step)
    np.testing.assert_allclose(two, full.numpy()[:, 4:6], rtol=1e-5, atol=1e-5)
    for t in range(6, 10):  # then one at a time
        step = model.next_token_logits(idx[:, t:t + 1], cache)
        np.testing.assert_allclose(step, full.numpy()[:, t], rtol=1e-5, atol=1e-5)
    assert cache[0].length == 10 and cache[1].k.shape == (2, 2, 10, 4)  # (B, nh, block_size, hs)
    with pytest.raises(ValueError, match="block_size"):
        model(idx[:, :1], kv_cache=cache)  # the 11th position does not exist


def test_generate_a_batch(rng):
    cfg = GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = _noisy(cfg)
    prompts = rng.integers(0, 13, size=(3, 2))
    out = model.generate(prompts, 9, generator=5)
    assert out.shape == (3, 11) and np.array_equal(out[:, :2], prompts)
    np.testing.assert_array_equal(out, model.generate(prompts, 9, generator=5, use_cache=False))
    with pytest.raises(ValueError, match="prompt"):
        model.generate(np.zeros((1, 0), dtype=np.int64), 3)
