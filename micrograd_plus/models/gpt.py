"""A GPT, the whole model in one file, read top to bottom: config, attention, MLP, block, GPT, sampling.

A GPT reads a sequence of tokens (characters, or the word pieces of :class:`~micrograd_plus.data.BPETokenizer`)
and, at every position, predicts a probability distribution over the *next* token. It is built from
four ideas, in the order data flows through it:

1. **Embedding.** Each token id becomes a vector of ``n_embd`` numbers (a row of the embedding
   matrix ``wte``), and a learned *position* vector (a row of ``wpe``) is added so the model knows
   where in the context it is.
2. **Attention** (:class:`CausalSelfAttention`). In every block, each position looks back at
   earlier positions (never later ones: that is the *causal* mask) and pulls in information from
   the ones it finds relevant. Several *heads* do this in parallel, each with its own query, key
   and value matrices.
3. **MLP** (:class:`MLP`). Then each position, on its own, goes through a two-layer perceptron
   that widens the vector 4x, applies GELU and narrows it back. Both sub-layers *add* their result
   to a running "residual stream", and each is preceded by a LayerNorm (GPT-2's "pre-LN" :class:`Block`).
4. **Unembedding.** A final LayerNorm and one matrix (``lm_head``) turn the last vector at each
   position into ``vocab_size`` scores (logits); softmax turns them into probabilities, and the
   cross-entropy of the true next token is the loss we train on.

The parameter names are nanoGPT's (``transformer.wte``, ``transformer.h.0.attn.c_attn``, ...,
``lm_head``), which are also Hugging Face's GPT-2 names, so weights move between the three with a
table of renames: :meth:`GPT.from_pretrained` reads a Hugging Face GPT-2 directory, and
:mod:`micrograd_plus.models.export` writes one, or a nanoGPT ``ckpt.pt``.

Sampling (:meth:`GPT.generate`, :meth:`GPT.stream`) keeps a :class:`KVCache`: the keys and values
of the positions already seen, so that each new token costs one position's work instead of the
whole context's.

Shapes, as in nanoGPT: B = batch size, T = sequence length (<= ``block_size``), C = ``n_embd``,
nh = ``n_head``, hs = C // nh (the head size), V = ``vocab_size``.

The file ends at the model. Counting its weights in the categories of 3Blue1Brown's lesson
(:func:`weight_table`, GPT-3's famous 175,181,291,520) is :mod:`micrograd_plus.models.counting_weights`;
reading GPT-2's files (config.json, safetensors, old names) is :mod:`micrograd_plus.models.huggingface`.
Both are imported here, so ``from micrograd_plus.models.gpt import weight_table`` works.
"""

import math
import re
from pathlib import Path

import numpy as np

from micrograd_plus import functional as F
from micrograd_plus import nn
from micrograd_plus._plumbing.memory import MemoryEstimateError, check_fits
from micrograd_plus.data._files import DataError
from micrograd_plus.models.gpt_config import GPTConfig  # the architecture's numbers: a light module the CLI reads
# Not the model, but imported by name from here too: counting its weights, reading GPT-2's files.
from micrograd_plus.models.counting_weights import WeightRow, WeightTable, count_trainable, weight_table
from micrograd_plus.models.huggingface import (CONV1D_WEIGHTS, defaults_used, gpt_config_fields, read_gpt2_config,
                                               read_gpt2_weights, upgrade_state_dict)
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, no_grad
from micrograd_plus._namespace import from_numpy

__all__ = [
    "GPTConfig",
    "CausalSelfAttention",
    "LayerNorm",
    "MLP",
    "Block",
    "KVCache",
    "GPT",
    "sample_next",
    "nearest_neighbours",
    "config_from_hf",
    "GPT3_CONFIG",
]  # and, imported above from their own modules: weight_table, count_trainable, upgrade_state_dict, ...


# --------------------------------------------------------------------------------------------
# Configuration: GPTConfig (vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias,
# tie_weights, gelu_approximate) is in micrograd_plus/models/gpt_config.py, imported above.
# --------------------------------------------------------------------------------------------


def config_from_hf(hf):
    """A :class:`GPTConfig` from the dict of a Hugging Face GPT-2 ``config.json``: ``n_positions`` is
    the context (``block_size``), GPT-2 always has biases, ``resid_pdrop`` becomes ``dropout``.
    Settings this model does not have raise ValueError naming them
    (:func:`~micrograd_plus.models.huggingface.gpt_config_fields`)."""
    return GPTConfig(**gpt_config_fields(hf))


GPT3_CONFIG = GPTConfig(
    vocab_size=50_257,
    block_size=2_048,
    n_layer=96,
    n_head=96,
    n_embd=12_288,
    dropout=0.0,
    bias=True,
    tie_weights=True,
)
"""GPT-3 (175B)'s architecture, as in Brown et al. 2020: 96 layers, 96 heads of 128, width 12,288,
GPT-2's vocabulary of 50,257 tokens, context 2,048. Only for :func:`weight_table`: far too big to
build here."""


# --------------------------------------------------------------------------------------------
# The layers
# --------------------------------------------------------------------------------------------


class KVCache:
    """What sampling remembers between steps in one layer: the keys and values of every position so far.

    A new token's query has to meet the keys (and take the values) of *all* earlier positions.
    Those never change once computed -- position 5's key depends only on tokens 0..5 -- so instead
    of recomputing the whole context for every new token, each layer keeps them here and computes
    only the newest position's. That turns each sampling step from T positions' work into one's.

    Args:
        batch_size, n_head, block_size, head_size: B, nh, the most positions, hs.
        dtype: the model's float dtype.

    Attributes:
        k, v: buffers of shape (B, nh, block_size, hs); the first ``length`` positions are filled.
        length: T_past, how many positions are cached.
    """

    def __init__(self, batch_size, n_head, block_size, head_size, dtype=np.float32):
        self.k = np.zeros((batch_size, n_head, block_size, head_size), dtype=dtype)  # (B, nh, block_size, hs)
        self.v = np.zeros((batch_size, n_head, block_size, head_size), dtype=dtype)  # (B, nh, block_size, hs)
        self.length = 0  # T_past

    def append(self, k, v):
        """Store T new positions' keys and values, (B, nh, T, hs) each; return all of them so far,
        two Tensors of shape (B, nh, T_past + T, hs)."""
        t0, t1 = self.length, self.length + k.shape[2]
        if t1 > self.k.shape[2]:
            raise ValueError(f"KVCache: {t1} positions do not fit in a cache of {self.k.shape[2]} (block_size)")
        self.k[:, :, t0:t1] = k.numpy()  # (B, nh, T, hs) into positions t0..t1-1
        self.v[:, :, t0:t1] = v.numpy()
        self.length = t1
        return from_numpy(self.k[:, :, :t1]), from_numpy(self.v[:, :, :t1])  # (B, nh, T_past + T, hs) each


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, as in GPT-2: the one place where positions talk to each other.

    Every position sends out a *query* ("what am I looking for?"), a *key* ("what do I contain?")
    and a *value* ("what do I pass on if you attend to me?"). Position t's output is an average of
    the values of positions 0..t, weighted by softmax(query_t . key_s / sqrt(hs)). The *causal*
    mask (s <= t only) is what makes the model a next-token predictor: no position can peek at the
    token it is asked to predict.

    One Linear, ``c_attn``, computes the queries, keys and values of all heads at once (a (3C, C)
    weight: the per-head Q, K and V matrices of the lesson stacked on top of each other); the heads
    attend independently, and a second Linear, ``c_proj``, mixes the heads' results back into width C.

    ``forward`` holds the attention twice, as nanoGPT does: written out (scores, mask, softmax,
    weighted sum) and as one call of the fused kernel, which training uses (``fused=True``).
    The tests hold the two equal, forward and backward.

    Input ``x`` (B, T, C) -> output (B, T, C).
    """

    def __init__(self, config, generator=None, fused=True):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        C = config.n_embd
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias, generator=generator)  # C -> 3C: q, k, v of all heads
        self.c_proj = nn.Linear(C, C, bias=config.bias, generator=generator)  # C -> C: the output projection
        self.resid_dropout = nn.Dropout(config.dropout, generator=generator)
        # nanoGPT's `self.flash`: True runs the fused kernel, False the lines written out in forward
        self.fused = fused

    def qkv(self, x):
        """Queries, keys and values of every head: ``x`` (B, T, C) -> three (B, nh, T, hs) tensors."""
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q = q.reshape(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.reshape(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.reshape(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        return q, k, v

    def forward(self, x, kv_cache=None):
        """``x`` (B, T, C) -> (B, T, C). With a :class:`KVCache`, ``x`` holds only the new
        positions; the cached earlier ones are attended to as well, and the new ones are added."""
        B, T, C = x.shape
        if self.fused and kv_cache is None:
            # Training and plain evaluation: every line of the branch below as one node of the
            # graph, on the attention kernels (micrograd_plus/kernels/attention.py). They read
            # each head's q, k, v where c_attn wrote them and never build the (T, T) scores of
            # all heads at once, which spares the memory traffic of the ops and their backward.
            y = F.causal_self_attention(self.c_attn(x), self.n_head)  # (B, T, 3C) -> (B, T, C)
        else:
            # The attention written out: softmax(q kᵀ / sqrt(hs) + causal mask) v, each head alone.
            q, k, v = self.qkv(x)  # (B, nh, T, hs) each
            T_past = 0
            if kv_cache is not None:  # sampling: the earlier positions' keys and values too
                T_past = kv_cache.length
                k, v = kv_cache.append(k, v)  # (B, nh, T_past + T, hs)
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))  # (B, nh, T, T_past + T)
            # query t (T_past + t overall) may look at keys 0 .. T_past + t, never a later one
            future = np.triu(np.ones((T, T_past + T), dtype=bool), k=T_past + 1)  # (T, T_past + T)
            scores = scores.masked_fill(future, -np.inf)  # e^-inf = 0: no weight on the future
            att = F.softmax(scores, dim=-1)  # (B, nh, T, T_past + T): each row sums to 1
            y = att @ v  # (B, nh, T, hs): each query's weighted average of the values
            y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C): the heads side by side
        return self.resid_dropout(self.c_proj(y))  # (B, T, C)


class LayerNorm(nn.LayerNorm):
    """:class:`nn.LayerNorm` (gain, and a bias unless ``bias=False``), with its formula written out.

    Each position's vector of C numbers is shifted to mean 0 and scaled to variance 1, then
    multiplied by a learned gain and shifted by a learned bias. ``fused=True`` runs the LayerNorm
    kernel (micrograd_plus/kernels/layer_norm.py: one pass forward, one backward); ``False`` the
    lines below. The tests hold them equal. Input (B, T, C) -> output (B, T, C).
    """

    def __init__(self, ndim, bias, fused=True):
        super().__init__(ndim, bias=bias)
        self.fused = fused

    def forward(self, x):
        if self.fused:
            return super().forward(x)  # (B, T, C), on the kernel
        mean = x.mean(dim=-1, keepdim=True)  # (B, T, 1)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (B, T, 1): the biased variance, as PyTorch's
        y = (x - mean) / (var + self.eps).sqrt()  # (B, T, C): mean 0, variance 1 at each position
        y = y * self.weight  # (B, T, C) * (C,): the gain
        return y if self.bias is None else y + self.bias  # (B, T, C)


class MLP(nn.Module):
    """The feed-forward half of a block: C -> 4C -> GELU -> C, applied to each position alone.

    The up-projection ``c_fc`` gives every position 4C "neurons"; GELU (a smooth ReLU) decides how
    much each fires; the down-projection ``c_proj`` writes the result back into the C-wide residual
    stream. Input (B, T, C) -> output (B, T, C).
    """

    def __init__(self, config, generator=None):
        super().__init__()
        C = config.n_embd
        self.c_fc = nn.Linear(C, 4 * C, bias=config.bias, generator=generator)  # up: C -> 4C
        self.c_proj = nn.Linear(4 * C, C, bias=config.bias, generator=generator)  # down: 4C -> C
        self.dropout = nn.Dropout(config.dropout, generator=generator)
        self.gelu_approximate = config.gelu_approximate

    def forward(self, x):
        h = F.gelu(self.c_fc(x), approximate=self.gelu_approximate)  # (B, T, 4C)
        return self.dropout(self.c_proj(h))  # (B, T, C)


class Block(nn.Module):
    """One transformer block: pre-LayerNorm attention and MLP, each added to the residual stream::

        x = x + attn(ln_1(x))     # positions exchange information
        x = x + mlp(ln_2(x))      # each position thinks on its own

    Input (B, T, C) -> output (B, T, C). Because each sub-layer only *adds* to ``x``, the gradient
    of the loss flows straight down the residual stream to every block, which is what lets deep
    stacks train.
    """

    def __init__(self, config, generator=None, fused=True):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias, fused=fused)
        self.attn = CausalSelfAttention(config, generator=generator, fused=fused)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias, fused=fused)
        self.mlp = MLP(config, generator=generator)

    def forward(self, x, kv_cache=None):
        x = x + self.attn(self.ln_1(x), kv_cache)  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class GPT(nn.Module):
    """A decoder-only transformer language model (GPT-2's design, at any size).

    Its layers, under nanoGPT's (and Hugging Face GPT-2's) names:

    * ``transformer.wte``: token embedding, an :class:`nn.Embedding` of (V, C);
    * ``transformer.wpe``: position embedding, (block_size, C);
    * ``transformer.h``: ``n_layer`` :class:`Block`\\ s (``transformer.h.0.ln_1``,
      ``.attn.c_attn``, ``.attn.c_proj``, ``.ln_2``, ``.mlp.c_fc``, ``.mlp.c_proj``);
    * ``transformer.ln_f``: the final LayerNorm;
    * ``lm_head``: the unembedding, a Linear C -> V without bias. With ``config.tie_weights``
      its weight *is* ``transformer.wte.weight`` (one Parameter, two uses, as nanoGPT ties them),
      so :meth:`state_dict` lists it once, as ``transformer.wte.weight``.

    Args:
        config: a :class:`GPTConfig`.
        generator: numpy Generator or int seed for the initial weights (and dropout masks).
        fused: True (the default) runs attention, LayerNorm and the loss on the library's fused
            kernels; False runs the same formulas written out in this file as ordinary ops
            (slower, and what to read or step through in a debugger). The results agree to
            rounding; the tests hold them equal in float64, forward and backward.

    Initialisation follows GPT-2: every weight matrix and embedding ~ N(0, 0.02^2), biases 0,
    LayerNorm gains 1, and the two matrices that write into the residual stream in each block
    (attention's and the MLP's ``c_proj``) get std 0.02 / sqrt(2 * n_layer), so that the stream's
    variance does not grow with depth (2 * n_layer additions).
    """

    def __init__(self, config, generator=None, fused=True):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        check_fits(f"a GPT with {gpt_num_parameters(config):,} weights", 2 * 4 * gpt_num_parameters(config),
                   "use a smaller n_embd / n_layer / vocabulary")  # float32 weights + their initial draws
        g = get_generator(generator)
        self.config = config
        self.fused = fused
        C = config.n_embd
        self.transformer = nn.Module()  # only a named container (nanoGPT's ModuleDict): never called
        self.transformer.wte = nn.Embedding(config.vocab_size, C, generator=g)  # (V, C)
        self.transformer.wpe = nn.Embedding(config.block_size, C, generator=g)  # (block_size, C)
        self.transformer.drop = nn.Dropout(config.dropout, generator=g)
        self.transformer.h = nn.ModuleList([Block(config, generator=g, fused=fused) for _ in range(config.n_layer)])
        self.transformer.ln_f = LayerNorm(C, bias=config.bias, fused=fused)
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False, generator=g)  # weight (V, C)
        if config.tie_weights:
            self.transformer.wte.weight = self.lm_head.weight  # one matrix: embedding and unembedding
        self._init_weights(g)

    def _init_weights(self, g):
        std = 0.02
        residual_std = 0.02 / np.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if ".ln_" in name:  # LayerNorm: gain 1, bias 0
                p.numpy()[...] = 1.0 if leaf == "weight" else 0.0
            elif leaf == "bias":
                p.numpy()[...] = 0.0
            elif name.endswith("c_proj.weight"):
                p.numpy()[...] = g.normal(0.0, residual_std, size=p.shape)
            else:  # embeddings, c_attn, c_fc, lm_head
                p.numpy()[...] = g.normal(0.0, std, size=p.shape)

    def _check_idx(self, idx, start=0):
        idx = np.asarray(idx.numpy() if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"GPT expects integer token ids, got dtype {idx.dtype}")
        T = idx.shape[1]
        if T == 0:
            raise ValueError(f"GPT needs at least one token per sequence, got token ids of shape {idx.shape} (T = 0)")
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence length {start + T} exceeds the model's block_size {self.config.block_size}; "
                "crop the context (generate() does this for you)"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must be in [0, {self.config.vocab_size}), got min {idx.min()} max {idx.max()}"
            )
        return idx

    def hidden(self, idx, kv_cache=None):
        """The residual stream after all blocks and the final LayerNorm: (B, T) ids -> (B, T, C).

        With ``kv_cache`` (a list of one :class:`KVCache` per layer) ``idx`` are the tokens after
        the cached ones: their positions start at the cache's length.
        """
        start = 0 if kv_cache is None else kv_cache[0].length  # T_past
        idx = self._check_idx(idx, start)
        B, T = idx.shape
        tok = F.embedding(idx, self.transformer.wte.weight)  # (B, T, C): one row of wte per token
        pos = self.transformer.wpe.weight[start:start + T]  # (T, C): one row of wpe per position
        x = self.transformer.drop(tok + pos)  # (B, T, C), pos broadcast over the batch
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if kv_cache is None else kv_cache[i])  # (B, T, C)
        return self.transformer.ln_f(x)  # (B, T, C)

    def forward(self, idx, targets=None, kv_cache=None):
        """Logits for the next token at every position, and the loss if targets are given.

        Args:
            idx: integer token ids, array or Tensor of shape (B, T), T <= block_size.
            targets: optional integer ids (B, T): ``targets[b, t]`` is the token that follows
                ``idx[b, t]``.
            kv_cache: for sampling, see :meth:`hidden` and :meth:`new_kv_cache`.

        Returns:
            ``(logits, loss)``: logits is a Tensor (B, T, V) of unnormalised scores; loss is the
            mean cross-entropy (a scalar Tensor) or None without targets.
        """
        x = self.hidden(idx, kv_cache)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, C) @ (V, C)ᵀ -> (B, T, V)
        loss = None
        if targets is not None:
            targets = np.asarray(targets.numpy() if isinstance(targets, Tensor) else targets)
            if targets.shape != logits.shape[:2]:
                raise ValueError(f"targets shape {targets.shape} does not match idx shape {logits.shape[:2]}")
            loss = self.loss(logits, targets)  # scalar
        return logits, loss

    def loss(self, logits, targets):
        """The mean cross-entropy of the true next tokens: logits (B, T, V), int targets (B, T) -> scalar.

        ``fused`` runs the cross-entropy kernel (micrograd_plus/kernels/cross_entropy.py: softmax,
        log and the pick of the target in one pass over each row); otherwise the lines below.
        A target of -100 (PyTorch's ``ignore_index``) is left out of the mean.
        """
        if self.fused:
            V = logits.shape[-1]
            # 2-D, so that T == V is not mistaken for PyTorch's (N, C, L) layout (see F.cross_entropy)
            return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # (B*T, V), (B*T,) -> scalar
        logp = F.log_softmax(logits, dim=-1)  # (B, T, V): log-probabilities of every token
        keep = targets != -100  # (B, T)
        picked = logp.gather(-1, np.where(keep, targets, 0)[..., None])  # (B, T, 1): log p(true next token)
        return -(picked.squeeze(-1) * keep).sum() / keep.sum()  # scalar

    def load_state_dict(self, state_dict, strict=True):
        """Load weights; names from older checkpoints of this library (``blocks.0.attn...``,
        ``wte.weight``) and nanoGPT's extras are translated first (:func:`upgrade_state_dict`)."""
        return super().load_state_dict(upgrade_state_dict(state_dict, self.config), strict=strict)

    @classmethod
    def from_pretrained(cls, path, dtype=np.float32):
        """Load GPT-2 (any size) from a Hugging Face model directory: ``config.json`` + ``model.safetensors``.

        That is what ``GPT2LMHeadModel.save_pretrained(dir)`` writes and what the Hub's GPT-2
        repositories hold. Three things differ from this library's layout, and are translated:

        * GPT-2's linear layers are ``Conv1D``\\ s, whose weights are stored (in, out) -- the
          transpose of a Linear's (out, in) -- so the four matrices of :data:`CONV1D_WEIGHTS` are
          transposed on the way in;
        * GPT-2 uses the tanh approximation of GELU (``"gelu_new"``), hence ``gelu_approximate="tanh"``;
        * the head is tied to the token embedding, so the files have no ``lm_head.weight``.

        Only safetensors files are read, never ``pytorch_model.bin`` (a pickle: opening one can
        run code). Vocabulary files in the directory are read with
        :meth:`micrograd_plus.data.BPETokenizer.from_gpt2_files`.

        Args:
            path: the directory.
            dtype: the dtype of the weights here (float32 to run; float64 to check numerics).

        Returns:
            a :class:`GPT` in eval mode.
        """
        hf = read_gpt2_config(path)  # config.json's settings, a dict
        try:
            config = config_from_hf(hf)
        except ValueError as exc:
            raise DataError(f"{Path(path).expanduser() / 'config.json'}: {exc}") from None
        state = read_gpt2_weights(path)  # {our name: numpy array}, the Conv1D matrices transposed
        try:
            check_weights_fit(config, {k: v.shape for k, v in state.items()}, "model.safetensors")  # before allocating
            model = cls(config, generator=0).to(dtype)
            model.load_state_dict({k: np.ascontiguousarray(v, dtype=dtype) for k, v in state.items()})
        except MemoryEstimateError:
            raise
        except ValueError as exc:
            raise DataError(f"{Path(path).expanduser()}: the weights in model.safetensors do not fit its config.json"
                            f"{defaults_used(hf)}: {exc}") from None
        model.eval()
        return model

    # ---- sampling (no gradients) -------------------------------------------------------------

    def new_kv_cache(self, batch_size):
        """An empty :class:`KVCache` for each layer, for sampling ``batch_size`` sequences."""
        c = self.config
        dtype = self.lm_head.weight.dtype
        return [KVCache(batch_size, c.n_head, c.block_size, c.head_size, dtype) for _ in range(c.n_layer)]

    def next_token_logits(self, idx, kv_cache=None):
        """Logits for the token after the last one of each row: (B, T) ids -> numpy float64 (B, V).

        Without a cache the context is cropped to its last ``block_size`` tokens. Runs without
        building a graph, and applies the unembedding to the last position only.
        """
        idx = np.asarray(idx)
        if kv_cache is None:
            idx = idx[:, -self.config.block_size:]  # (B, T <= block_size)
        with no_grad():
            x = self.hidden(idx, kv_cache)  # (B, T, C)
            logits = self.lm_head(x[:, -1, :])  # (B, C) -> (B, V): only the last position predicts
        return np.asarray(logits.numpy(), dtype=np.float64)

    def next_token_probs(self, idx, temperature=1.0):
        """The probability of every token coming next: (B, T) ids -> numpy (B, V), rows sum to 1."""
        logits = from_numpy(self.next_token_logits(idx) / _check_temperature(temperature))  # (B, V)
        return F.softmax(logits, dim=-1).numpy()

    def _sample(self, idx, max_new_tokens, temperature, top_k, generator, use_cache):
        """Yield (B,) arrays of new token ids, one per step; ``idx`` (B, T) is the prompt."""
        g = get_generator(generator)
        ctx = np.asarray(idx, dtype=np.int64)  # (B, T)
        if ctx.ndim != 2 or ctx.shape[1] == 0:
            raise ValueError(f"the prompt must be token ids of shape (T,) or (B, T) with T >= 1, got shape {ctx.shape}")
        self._check_idx(ctx[:, -self.config.block_size:])
        B, block = ctx.shape[0], self.config.block_size
        cache = None
        for _ in range(int(max_new_tokens)):
            if not use_cache:
                logits = self.next_token_logits(ctx)  # (B, V): the whole (cropped) context again
            elif cache is None or cache[0].length == block:
                # nothing cached yet -- or the context is full: then every position shifts by one
                # and nothing cached is valid, so the cache is refilled (as slow as no cache)
                cache = self.new_kv_cache(B)
                logits = self.next_token_logits(ctx[:, -block:], cache)  # (B, V); caches T positions
            else:
                logits = self.next_token_logits(ctx[:, -1:], cache)  # (B, V): the newest token only
            nxt = np.array([sample_next(row, temperature, top_k, g) for row in logits], dtype=np.int64)  # (B,)
            ctx = np.concatenate([ctx, nxt[:, None]], axis=1)  # (B, T + 1)
            yield nxt

    def stream(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None, use_cache=True):
        """Sample new tokens one at a time, yielding each as it is drawn (for streaming output).

        Args:
            idx: the prompt, integer ids of shape (T,) or (1, T); T >= 1.
            max_new_tokens: how many tokens to draw.
            temperature: divides the logits; < 1 sharpens the distribution, > 1 flattens it.
            top_k: if given, only the k most likely tokens can be drawn.
            generator: numpy Generator or int seed: the same seed gives the same text.
            use_cache: keep each layer's keys and values (:class:`KVCache`) instead of recomputing
                the whole context for every token; the tokens are the same either way.

        Yields:
            ints, the new token ids in order.
        """
        prompt = np.asarray(idx, dtype=np.int64).reshape(1, -1)  # (1, T)
        for nxt in self._sample(prompt, max_new_tokens, temperature, top_k, generator, use_cache):
            yield int(nxt[0])

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None, use_cache=True):
        """Continue prompts: ids (T,) -> (T + max_new_tokens,), or (B, T) -> (B, T + max_new_tokens).

        See :meth:`stream` for the arguments. Each step feeds the model the context (its last
        ``block_size`` tokens), turns the last position's logits into probabilities, draws one
        token and appends it. With ``use_cache`` (the default) a step computes only the newest
        position, reading the earlier positions' keys and values from a :class:`KVCache`.
        """
        prompt = np.asarray(idx, dtype=np.int64)
        batch = prompt.reshape(1, -1) if prompt.ndim == 1 else prompt  # (B, T)
        new = list(self._sample(batch, max_new_tokens, temperature, top_k, generator, use_cache))
        out = np.concatenate([batch] + [n[:, None] for n in new], axis=1)  # (B, T + max_new_tokens)
        return out[0] if prompt.ndim == 1 else out

    def attention_maps(self, idx):
        """Every head's attention weights for one sequence: (T,) ids -> numpy (n_layer, nh, T, T).

        ``maps[l, h, t, s]`` is how much position t attends to position s in head h of layer l
        (zero for s > t: the causal mask; each row sums to 1). The same queries, keys and
        softmax as the forward pass (:func:`micrograd_plus.functional.attention_weights`).
        """
        idx = self._check_idx(np.asarray(idx, dtype=np.int64).reshape(1, -1))  # (1, T)
        T = idx.shape[1]
        maps = []
        with no_grad():
            tok = F.embedding(idx, self.transformer.wte.weight)  # (1, T, C)
            x = tok + self.transformer.wpe.weight[:T]  # (1, T, C)
            for block in self.transformer.h:
                q, k, _ = block.attn.qkv(block.ln_1(x))  # (1, nh, T, hs) each
                maps.append(F.attention_weights(q, k, is_causal=True).numpy()[0])  # (nh, T, T)
                x = block(x)  # (1, T, C)
        return np.stack(maps).astype(np.float64)  # (n_layer, nh, T, T)


def _check_temperature(temperature):
    t = float(temperature)
    if not t > 0.0 or not np.isfinite(t):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return t


def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    """Draw one token id from a vector of logits (V,).

    The logits are divided by ``temperature``; with ``top_k`` all but the k largest are removed
    (set to -inf); softmax turns what is left into probabilities, and one id is drawn with the
    generator. Returns a Python int.
    """
    g = get_generator(generator)
    logits = np.asarray(logits, dtype=np.float64) / _check_temperature(temperature)  # (V,)
    if top_k is not None:
        k = int(top_k)
        if k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        if k < logits.size:
            kth = np.partition(logits, -k)[-k]  # the k-th largest logit
            logits = np.where(logits < kth, -np.inf, logits)
    probs = F.softmax(from_numpy(logits), dim=-1).numpy()  # (V,)
    return int(g.choice(probs.size, p=probs))


def nearest_neighbours(embeddings, queries, k=5):
    """The ``k`` rows of ``embeddings`` most similar to each query row, by cosine similarity.

    Cosine similarity compares directions, not lengths: 1 for vectors pointing the same way, 0 for
    perpendicular ones. If training has put tokens that are used alike (vowels; or, with word
    tokens, " king" and " duke") near each other, their embeddings' neighbours show it.

    Args:
        embeddings: numpy (V, C), one vector per token (e.g. ``model.transformer.wte.weight.numpy()``).
        queries: a list of row indices to look up.
        k: neighbours per query (the query itself is excluded).

    Returns:
        ``(indices, similarities)``: int (Q, k) and float (Q, k), most similar first.
    """
    emb = np.asarray(embeddings, dtype=np.float64)  # (V, C)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (V, C), got shape {emb.shape}")
    k = min(int(k), emb.shape[0] - 1)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)  # (V, C), rows of length 1
    q = np.asarray(queries, dtype=np.int64).reshape(-1)  # (Q,)
    sims = unit[q] @ unit.T  # (Q, V)
    sims[np.arange(q.size), q] = -np.inf  # a token is not its own neighbour
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # (Q, k)
    return order, np.take_along_axis(sims, order, axis=1)


def gpt_num_parameters(config):
    """The number of weights of ``GPT(config)``, from the config alone (nothing is allocated).

    Per block: LayerNorm gains 2C, attention 3C·C + C·C, MLP 4C·C + 4C·C (12C² in all), and with
    ``bias`` 11C biases; plus the embeddings V·C + T·C, the final LayerNorm C (+C), and an untied
    head V·C.
    """
    C, L, V, T = config.n_embd, config.n_layer, config.vocab_size, config.block_size
    per_block = 12 * C * C + 2 * C + (11 * C if config.bias else 0)
    return V * C + T * C + L * per_block + C * (2 if config.bias else 1) + (0 if config.tie_weights else V * C)


def check_weights_fit(config, shapes, where):
    """Check a config read from a file against the tensors the same file holds, *before* a model is
    built from it: a config declaring ``n_layer`` 10^6 or ``n_embd`` 10^9 beside a few small tensors
    is refused instead of allocating until memory runs out.

    Args:
        config: the :class:`GPTConfig` the file declares.
        shapes: ``{tensor name: shape}`` of the file's weights (our names or Hugging Face's; a
            ``transformer.`` prefix is optional).
        where: the file, for the message.

    Raises ValueError naming the file, the dimension and both values.
    """
    for suffix, want in (("wte.weight", (config.vocab_size, config.n_embd)),
                         ("wpe.weight", (config.block_size, config.n_embd))):
        name = next((n for n in shapes if n == suffix or n.endswith("." + suffix)), None)
        if name is None:
            raise ValueError(f"{where}: no {suffix} tensor among the weights")
        if tuple(shapes[name]) != want:
            raise ValueError(f"{where}: tensor {name} has shape {tuple(shapes[name])}, but the config declares "
                             f"{want} (vocab_size/block_size x n_embd)")
    layer_of = {}  # layer number -> one of its tensors' names
    for name in shapes:
        m = re.search(r"(?:^|\.)h\.(\d+)\.", name)
        if m:
            layer_of.setdefault(int(m.group(1)), name)
    extra = sorted(i for i in layer_of if i >= config.n_layer)
    if extra:
        raise ValueError(f"{where}: unexpected tensor {layer_of[extra[0]]} of layer {extra[0]}: the config declares "
                         f"n_layer={config.n_layer:,}")
    missing = [i for i in range(min(config.n_layer, len(layer_of) + 1)) if i not in layer_of]
    if missing:
        raise ValueError(f"{where}: the config declares n_layer={config.n_layer:,} but the file holds weights for "
                         f"{len(layer_of):,} layers (missing: transformer.h.{missing[0]}.*)")
