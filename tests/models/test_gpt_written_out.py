"""The GPT's fused calls and the formulas written out beside them give the same numbers.

``models/gpt.py`` holds attention, LayerNorm and the loss twice, as nanoGPT holds attention: one
call of a fused kernel (what training runs, ``fused=True``) and the lines a reader follows
(``fused=False``). Here each pair is held equal in float64 to 1e-12, forward and every gradient,
one component at a time (so a broken line names itself) and through the whole model.
"""

import numpy as np
import pytest

from micrograd_plus import tensor
from micrograd_plus.models.gpt import GPT, CausalSelfAttention, GPTConfig, LayerNorm

CONFIG = GPTConfig(vocab_size=13, block_size=9, n_layer=2, n_head=2, n_embd=16, bias=True)
TOL = 1e-12


def _close(a, b, what):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, what
    assert np.abs(a - b).max(initial=0.0) <= TOL, f"{what}: fused and written out differ by {np.abs(a - b).max()}"


def _grads(module):
    return {name: np.array(p.grad, dtype=np.float64) for name, p in module.named_parameters()}


def _run(make, x_data, fused):
    """Forward and backward of one component, both ways; the gradient of (y * w).sum() for a fixed w."""
    module = make(fused).to(np.float64)
    x = tensor(x_data.copy(), requires_grad=True)
    y = module(x)
    w = np.random.default_rng(1).standard_normal(y.shape)
    (y * tensor(w)).sum().backward()
    return y.data, np.array(x.grad, dtype=np.float64), _grads(module)


@pytest.mark.parametrize("component", ["attention", "layer_norm"])
def test_each_fused_call_equals_its_written_out_lines(component):
    make = {
        "attention": lambda fused: CausalSelfAttention(CONFIG, generator=0, fused=fused),
        "layer_norm": lambda fused: LayerNorm(CONFIG.n_embd, bias=True, fused=fused),
    }[component]
    x = np.random.default_rng(0).standard_normal((2, 7, CONFIG.n_embd))  # (B, T, C)
    if component == "layer_norm":  # a learned gain and bias, not the initial 1 and 0
        x = x * 3.0 + 0.5
    (y1, dx1, g1), (y2, dx2, g2) = _run(make, x, True), _run(make, x, False)
    _close(y1, y2, f"{component} forward")
    _close(dx1, dx2, f"{component} input gradient")
    for name in g1:
        _close(g1[name], g2[name], f"{component} gradient of {name}")


def test_the_loss_written_out_equals_the_kernel_including_ignored_targets():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 5, CONFIG.vocab_size)) * 4.0  # (B, T, V)
    targets = rng.integers(0, CONFIG.vocab_size, (2, 5))
    targets[1, 2] = -100  # PyTorch's ignore_index: left out of the mean
    out = {}
    for fused in (True, False):
        model = GPT(CONFIG, generator=0, fused=fused)
        z = tensor(logits.copy(), requires_grad=True)
        loss = model.loss(z, targets)
        loss.backward()
        out[fused] = (loss.item(), np.array(z.grad))
    _close(out[True][0], out[False][0], "loss")
    _close(out[True][1], out[False][1], "loss gradient")


def test_the_whole_model_gives_the_same_logits_loss_and_gradients_both_ways():
    rng = np.random.default_rng(3)
    idx = rng.integers(0, CONFIG.vocab_size, (2, CONFIG.block_size))
    targets = rng.integers(0, CONFIG.vocab_size, (2, CONFIG.block_size))
    runs = {}
    for fused in (True, False):
        model = GPT(CONFIG, generator=0, fused=fused).to(np.float64)
        logits, loss = model(idx, targets)
        loss.backward()
        runs[fused] = (logits.data, loss.item(), _grads(model))
    (l1, c1, g1), (l2, c2, g2) = runs[True], runs[False]
    _close(l1, l2, "logits")
    _close(c1, c2, "loss")
    assert sorted(g1) == sorted(g2)
    for name in g1:
        _close(g1[name], g2[name], f"gradient of {name}")


def test_written_out_is_what_runs_when_fused_is_off(monkeypatch):
    # The comparison above means nothing if both settings ran the kernels: with fused=False no
    # fused function may be called at all.
    from micrograd_plus import functional as F

    def refuse(*args, **kwargs):
        raise AssertionError("a fused call ran with fused=False")

    for name in ("causal_self_attention", "layer_norm", "cross_entropy"):
        monkeypatch.setattr(F, name, refuse)
    idx = np.zeros((1, 4), dtype=np.int64)
    logits, loss = GPT(CONFIG, generator=0, fused=False)(idx, idx)
    loss.backward()
    assert np.isfinite(loss.item())
