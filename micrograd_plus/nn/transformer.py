"""The two layers a GPT is a stack of: causal self-attention and the transformer block.

Read :class:`CausalSelfAttention` first. It is the one place in a GPT where positions talk to each
other: every position sends out a *query* ("what am I looking for?"), a *key* ("what do I
contain?") and a *value* ("what do I pass on if you attend to me?"). Position t's output is an
average of the values of positions 0..t, weighted by softmax(query_t . key_s / sqrt(D)). The
*causal* mask (s <= t only) is what makes the model a next-token predictor: no position can peek
at the token it is asked to predict.

:class:`Block` wraps attention and a small MLP in the pre-LayerNorm residual arrangement of GPT-2::

    x = x + attention(layer_norm_1(x))     # positions exchange information
    x = x + mlp(layer_norm_2(x))           # each position thinks on its own

Shapes: B = batch, T = sequence length, C = embedding width, H = heads, D = C // H.
"""

from micrograd_plus import functional as F
from micrograd_plus import nn

__all__ = ["CausalSelfAttention", "MLP4", "Block"]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, as in GPT-2.

    One Linear computes the queries, keys and values of all heads at once (a (3C x C) weight:
    the per-head Q, K and V matrices of the lesson stacked on top of each other); the heads then
    attend independently with the fused numba kernel
    (:func:`micrograd_plus.functional.scaled_dot_product_attention` with ``is_causal=True``), and
    a second Linear, the *output* projection, mixes the heads' results back into width C.

    Args:
        n_embd: C, the width of the input and output vectors.
        n_head: H; each head works in D = C // H dimensions.
        dropout: dropout probability on the output (0 disables it).
        bias: whether the two Linears have biases.
        generator: numpy Generator (or int seed) for the initial weights and dropout masks.

    Input ``x`` (B, T, C) -> output (B, T, C).
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True, generator=None):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        self.n_embd = n_embd
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias, generator=generator)  # C -> 3C (q, k, v)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias, generator=generator)  # C -> C (output)
        self.resid_dropout = nn.Dropout(dropout, generator=generator)

    def heads(self, x):
        """Queries, keys and values of every head: ``x`` (B, T, C) -> three (B, H, T, D) tensors."""
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        qkv = self.c_attn(x)  # (B, T, 3C)
        q, k, v = qkv.split(C, dim=2)  # each (B, T, C)
        q = q.reshape(B, T, H, D).permute(0, 2, 1, 3)  # (B, H, T, D)
        k = k.reshape(B, T, H, D).permute(0, 2, 1, 3)  # (B, H, T, D)
        v = v.reshape(B, T, H, D).permute(0, 2, 1, 3)  # (B, H, T, D)
        return q, k, v

    def forward(self, x):
        B, T, C = x.shape  # (B, T, C)
        q, k, v = self.heads(x)  # 3 x (B, H, T, D)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        y = y.permute(0, 2, 1, 3).reshape(B, T, C)  # (B, T, H, D) -> (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y))  # (B, T, C)


class MLP4(nn.Module):
    """The feed-forward half of a block: C -> 4C -> GELU -> C, applied to each position alone.

    The up-projection gives every position 4C "neurons"; GELU (a smooth ReLU) decides how much
    each fires; the down-projection writes the result back into the C-wide residual stream.
    Input (B, T, C) -> output (B, T, C).
    """

    def __init__(self, n_embd, dropout=0.0, bias=True, generator=None):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias, generator=generator)  # up: C -> 4C
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias, generator=generator)  # down: 4C -> C
        self.dropout = nn.Dropout(dropout, generator=generator)

    def forward(self, x):
        h = F.gelu(self.c_fc(x))  # (B, T, 4C); exact GELU, as nanoGPT (GPT-2 used the tanh form)
        return self.dropout(self.c_proj(h))  # (B, T, C)


class Block(nn.Module):
    """One transformer block: pre-LayerNorm attention and MLP, each added to the residual stream.

    Args:
        n_embd, n_head, dropout, bias, generator: as for :class:`CausalSelfAttention`.

    Input (B, T, C) -> output (B, T, C). Because each sub-layer only *adds* to ``x``, the
    gradient of the loss flows straight down the residual stream to every block, which is what
    lets deep stacks train.
    """

    def __init__(self, n_embd, n_head, dropout=0.0, bias=True, generator=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout=dropout, bias=bias, generator=generator)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP4(n_embd, dropout=dropout, bias=bias, generator=generator)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x
