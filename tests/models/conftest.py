"""The PyTorch oracle of the GPT tests: nanoGPT's model, written here from the facts of its model.py.

It is independent of our engine (``torch.nn`` modules and ``torch.nn.functional`` only) and of
the benchmark's PyTorch peer in ``micrograd_plus/bench/gpt.py``: a test's oracle lives with the
tests, so changing the benchmark cannot quietly change what the tests check against.

Its module names are nanoGPT's (``transformer.wte``, ``transformer.h.0.attn.c_attn``, ...,
``lm_head``), which are ours too, so our ``state_dict()`` loads into it name for name. Tests ask
for it through the ``nanogpt`` fixture, which skips the test cleanly when torch is not installed.
"""

import numpy as np
import pytest


def _nanogpt_class(torch):
    """The ``NanoGPT`` class, built on the given ``torch`` module (imported only by the fixture)."""
    nn, F = torch.nn, torch.nn.functional

    class LayerNorm(nn.Module):
        def __init__(self, n, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))
            self.bias = nn.Parameter(torch.zeros(n)) if bias else None

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

    class Attention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
            self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
            self.n_head = c["n_head"]

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            return self.c_proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)

    class MLP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln_1, self.attn = LayerNorm(c["n_embd"], c["bias"]), Attention(c)
            self.ln_2, self.mlp = LayerNorm(c["n_embd"], c["bias"]), MLP(c)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class NanoGPT(nn.Module):
        """nanoGPT's GPT. ``tie_weights=False`` (a separate ``lm_head``) is not nanoGPT's -- it
        always ties -- but lets the same oracle check our untied head."""

        def __init__(self, n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout, tie_weights=True):
            super().__init__()
            c = dict(n_head=n_head, n_embd=n_embd, bias=bias)
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab_size, n_embd), wpe=nn.Embedding(block_size, n_embd),
                drop=nn.Dropout(dropout), h=nn.ModuleList([Block(c) for _ in range(n_layer)]),
                ln_f=LayerNorm(n_embd, bias)))
            self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
            if tie_weights:
                self.transformer.wte.weight = self.lm_head.weight

        @classmethod
        def from_ours(cls, model):
            """The same network as our :class:`~micrograd_plus.models.gpt.GPT` ``model``, with
            copies of its weights (float32, as ours trains). Its ``named_parameters()`` have our
            names; tied, the head is listed once, as ``transformer.wte.weight``, as ours is."""
            c = model.config
            if c.gelu_approximate != "none":
                raise ValueError("the nanoGPT oracle has nanoGPT's exact GELU only")
            tmodel = cls(c.n_layer, c.n_head, c.n_embd, c.block_size, c.bias, c.vocab_size, 0.0,
                         tie_weights=c.tie_weights)
            state = {k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()}
            if c.tie_weights:
                state["lm_head.weight"] = state["transformer.wte.weight"]  # one matrix, two names in torch
            tmodel.load_state_dict(state, strict=True)  # every name, nothing extra
            return tmodel

        def forward(self, idx):
            """Logits at every position: ``idx`` (B, T) -> (B, T, V)."""
            T = idx.shape[1]
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))  # (B, T, C)
            for block in self.transformer.h:
                x = block(x)
            return self.lm_head(self.transformer.ln_f(x))  # (B, T, V)

        def configure_optimizers(self, weight_decay, learning_rate, betas):
            params = dict(self.named_parameters())  # nanoGPT: 2-D and up decay, the rest does not
            groups = [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
            return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)

    return NanoGPT


@pytest.fixture(scope="session")
def nanogpt():
    """The ``NanoGPT`` class of this file (a torch module); skips the test without torch."""
    torch = pytest.importorskip("torch")
    return _nanogpt_class(torch)
