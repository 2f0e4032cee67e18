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

After the model, :func:`weight_table` counts a GPT's weights in the categories of
3Blue1Brown's lesson on transformers (and reproduces GPT-3's famous 175,181,291,520). The file
ends with the plumbing of reading GPT-2's files (config.json, safetensors, old names).
"""

import json
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy  # Hugging Face's weight files as numpy arrays: no torch, and no pickle

from micrograd_plus import functional as F
from micrograd_plus import nn
from micrograd_plus._plumbing.configs import config_from_dict
from micrograd_plus.data._files import DataError
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, no_grad

__all__ = [
    "GPTConfig",
    "CausalSelfAttention",
    "MLP",
    "Block",
    "KVCache",
    "GPT",
    "sample_next",
    "nearest_neighbours",
    "upgrade_state_dict",
    "config_from_hf",
    "CONV1D_WEIGHTS",
    "WeightRow",
    "WeightTable",
    "weight_table",
    "count_trainable",
    "GPT3_CONFIG",
]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters that fix a GPT's architecture (not how it is trained).

    Attributes:
        vocab_size: V, the number of distinct tokens (65 characters for Tiny Shakespeare).
        block_size: the context length: the most tokens the model can look at at once. It is
            also the number of learned position embeddings.
        n_layer: how many transformer blocks are stacked.
        n_head: attention heads per block; ``n_embd`` must be divisible by it.
        n_embd: C, the width of every token's vector (the "embedding dimension").
        dropout: probability of zeroing an activation during training (0 turns dropout off).
        bias: whether Linear layers and LayerNorms have bias vectors (GPT-2 had them; nanoGPT's
            default and our Shakespeare preset do without, which is slightly faster and as good).
        tie_weights: if True the unembedding *is* the token-embedding matrix (one matrix used
            twice, as in GPT-2); otherwise the unembedding is a separate matrix.
        gelu_approximate: the MLP's GELU, PyTorch's ``approximate=`` argument: ``"none"``, the
            exact ``x * Phi(x)`` (nanoGPT), or ``"tanh"``, the approximation GPT-2 was trained with.
    """

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    tie_weights: bool = True
    gelu_approximate: str = "none"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} is not divisible by n_head={self.n_head}; "
                "each head gets n_embd // n_head dimensions"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.gelu_approximate not in ("none", "tanh"):
            raise ValueError(f"GPTConfig.gelu_approximate must be 'none' or 'tanh', got {self.gelu_approximate!r}")

    @property
    def head_size(self):
        """hs, the width of one attention head's query/key/value vectors: ``n_embd // n_head``."""
        return self.n_embd // self.n_head

    def to_dict(self):
        """A plain dict of the fields (for JSON and checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Build a config from :meth:`to_dict`'s output; unknown keys or values of the wrong type are
        an error naming the field, missing ones take their defaults (so a checkpoint written before a
        field existed still loads)."""
        return config_from_dict(cls, d)


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
        self.k[:, :, t0:t1] = k.data  # (B, nh, T, hs) into positions t0..t1-1
        self.v[:, :, t0:t1] = v.data
        self.length = t1
        return Tensor(self.k[:, :, :t1]), Tensor(self.v[:, :, :t1])  # (B, nh, T_past + T, hs) each


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

    Input ``x`` (B, T, C) -> output (B, T, C).
    """

    def __init__(self, config, generator=None):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        C = config.n_embd
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias, generator=generator)  # C -> 3C: q, k, v of all heads
        self.c_proj = nn.Linear(C, C, bias=config.bias, generator=generator)  # C -> C: the output projection
        self.resid_dropout = nn.Dropout(config.dropout, generator=generator)

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
        if kv_cache is None:
            # Training and plain evaluation: the lines of qkv() and of the branch below -- split
            # into heads, softmax(q kᵀ / sqrt(hs)) v under the causal mask, heads side by side
            # again -- as one node of the graph, which spares their backward's memory traffic
            # (see F.causal_self_attention; same numbers, bit for bit).
            y = F.causal_self_attention(self.c_attn(x), self.n_head)  # (B, T, 3C) -> (B, T, C)
        else:
            q, k, v = self.qkv(x)  # (B, nh, T, hs) each
            T_past = kv_cache.length
            k, v = kv_cache.append(k, v)  # (B, nh, T_past + T, hs): the earlier positions' too
            # new position t (T_past + t overall) may look at keys 0 .. T_past + t
            mask = None if T == 1 else np.tril(np.ones((T, T_past + T), dtype=bool), k=T_past)  # (T, T_past + T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, T, hs)
            y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, nh, hs) -> (B, T, C): the heads side by side
        return self.resid_dropout(self.c_proj(y))  # (B, T, C)


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

    def __init__(self, config, generator=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, generator=generator)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
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

    Initialisation follows GPT-2: every weight matrix and embedding ~ N(0, 0.02^2), biases 0,
    LayerNorm gains 1, and the two matrices that write into the residual stream in each block
    (attention's and the MLP's ``c_proj``) get std 0.02 / sqrt(2 * n_layer), so that the stream's
    variance does not grow with depth (2 * n_layer additions).
    """

    def __init__(self, config, generator=None):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {type(config).__name__}")
        g = get_generator(generator)
        self.config = config
        C = config.n_embd
        self.transformer = nn.Module()  # only a named container (nanoGPT's ModuleDict): never called
        self.transformer.wte = nn.Embedding(config.vocab_size, C, generator=g)  # (V, C)
        self.transformer.wpe = nn.Embedding(config.block_size, C, generator=g)  # (block_size, C)
        self.transformer.drop = nn.Dropout(config.dropout, generator=g)
        self.transformer.h = nn.ModuleList([Block(config, generator=g) for _ in range(config.n_layer)])
        self.transformer.ln_f = nn.LayerNorm(C, bias=config.bias)
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
                p.data[...] = 1.0 if leaf == "weight" else 0.0
            elif leaf == "bias":
                p.data[...] = 0.0
            elif name.endswith("c_proj.weight"):
                p.data[...] = g.normal(0.0, residual_std, size=p.data.shape)
            else:  # embeddings, c_attn, c_fc, lm_head
                p.data[...] = g.normal(0.0, std, size=p.data.shape)

    def _check_idx(self, idx, start=0):
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"GPT expects integer token ids, got dtype {idx.dtype}")
        T = idx.shape[1]
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
            targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
            if targets.shape != logits.shape[:2]:
                raise ValueError(f"targets shape {targets.shape} does not match idx shape {logits.shape[:2]}")
            V = logits.shape[-1]
            # 2-D, so that T == V is not mistaken for PyTorch's (N, C, L) layout (see F.cross_entropy)
            loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # (B*T, V), (B*T,) -> scalar
        return logits, loss

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
        path = Path(path).expanduser()
        config_file = path / "config.json"
        if path.is_file():
            raise NotADirectoryError(f"{path} is a file; GPT.from_pretrained expects a Hugging Face GPT-2 model "
                                     "directory (config.json + model.safetensors)")
        if not path.is_dir():
            raise FileNotFoundError(f"model directory not found: {path}")
        if not config_file.is_file():
            raise FileNotFoundError(f"{path}: no config.json file (expected a Hugging Face GPT-2 model directory)")
        hf = _read_json(config_file, dict, "an object of settings")
        try:
            config = config_from_hf(hf)
        except ValueError as exc:
            raise DataError(f"{config_file}: {exc}") from None
        arrays = _read_safetensors(path)
        state = {}
        for name, value in arrays.items():
            name = name[len("transformer."):] if name.startswith("transformer.") else name
            if name.endswith((".attn.bias", ".attn.masked_bias")) and value.ndim != 1:
                continue  # old files store the causal mask as a buffer; it is not a weight
            if name.endswith(CONV1D_WEIGHTS):
                value = value.T  # Conv1D (in, out) -> Linear (out, in)
            state[name if name == "lm_head.weight" else "transformer." + name] = value
        for name, value in state.items():
            if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
                raise DataError(f"{path}/model.safetensors: tensor {name!r} has dtype {value.dtype}, not a number type")
            if value.size and not np.isfinite(value).all():
                raise DataError(f"{path}/model.safetensors: tensor {name!r} holds NaN or inf values")
        model = cls(config, generator=0).to(dtype)
        try:
            model.load_state_dict({k: np.ascontiguousarray(v, dtype=dtype) for k, v in state.items()})
        except ValueError as exc:
            absent = [k for k in HF_DEFAULTS if k not in hf]
            hint = (f" (config.json lacks {', '.join(absent)}, so GPT-2's default "
                    f"{', '.join(f'{k}={HF_DEFAULTS[k]}' for k in absent)} was used)" if absent else "")
            raise DataError(f"{path}: the weights in model.safetensors do not fit its config.json{hint}: {exc}") from None
        model.eval()
        return model

    # ---- sampling (no gradients) -------------------------------------------------------------

    def new_kv_cache(self, batch_size):
        """An empty :class:`KVCache` for each layer, for sampling ``batch_size`` sequences."""
        c = self.config
        dtype = self.lm_head.weight.data.dtype
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
        return np.asarray(logits.data, dtype=np.float64)

    def next_token_probs(self, idx, temperature=1.0):
        """The probability of every token coming next: (B, T) ids -> numpy (B, V), rows sum to 1."""
        logits = Tensor(self.next_token_logits(idx) / _check_temperature(temperature))  # (B, V)
        return F.softmax(logits, dim=-1).data

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
                maps.append(F.attention_weights(q, k, is_causal=True).data[0])  # (nh, T, T)
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
    probs = F.softmax(Tensor(logits), dim=-1).data  # (V,)
    return int(g.choice(probs.size, p=probs))


def nearest_neighbours(embeddings, queries, k=5):
    """The ``k`` rows of ``embeddings`` most similar to each query row, by cosine similarity.

    Cosine similarity compares directions, not lengths: 1 for vectors pointing the same way, 0 for
    perpendicular ones. If training has put tokens that are used alike (vowels; or, with word
    tokens, " king" and " duke") near each other, their embeddings' neighbours show it.

    Args:
        embeddings: numpy (V, C), one vector per token (e.g. ``model.transformer.wte.weight.data``).
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


# --------------------------------------------------------------------------------------------
# Counting weights
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class WeightRow:
    """One line of :func:`weight_table`: a category of weight matrices.

    Attributes:
        category: the lesson's name for it ("Embedding", "Key", ...).
        matrices: how many separate matrices of this kind there are.
        shape: (rows, columns) of one matrix.
        weights: total number of weights, ``matrices * rows * columns``.
        formula: how ``weights`` was computed, in the config's symbols.
    """

    category: str
    matrices: int
    shape: tuple
    weights: int
    formula: str


@dataclass(frozen=True)
class WeightTable:
    """What :func:`weight_table` returns: the category table plus the true parameter count.

    Attributes:
        config: the :class:`GPTConfig` counted.
        rows: one :class:`WeightRow` per category, in the lesson's order.
        total_weights: sum of the rows' weights.
        total_matrices: sum of the rows' matrix counts.
        trainable: the real number of trainable numbers in :class:`GPT` built from ``config``
            (``sum(p.size for p in GPT(config).parameters())``).
        trainable_parts: ``trainable`` broken down into named parts.
        left_out: sentences saying what the category table does not count (or counts twice).
    """

    config: GPTConfig
    rows: tuple
    total_weights: int
    total_matrices: int
    trainable: int
    trainable_parts: dict
    left_out: tuple

    def row(self, category):
        """The :class:`WeightRow` named ``category``."""
        for r in self.rows:
            if r.category == category:
                return r
        raise KeyError(f"no category {category!r}; have {[r.category for r in self.rows]}")

    def __str__(self):
        head = f"{'category':<16}{'matrices':>10}  {'each matrix':>18}{'weights':>20}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            shape = f"{r.shape[0]:,} x {r.shape[1]:,}"
            lines.append(f"{r.category:<16}{r.matrices:>10,}  {shape:>18}{r.weights:>20,}")
        lines.append("-" * len(head))
        lines.append(f"{'total':<16}{self.total_matrices:>10,}  {'':>18}{self.total_weights:>20,}")
        lines.append("")
        lines.append(f"trainable parameters of this model: {self.trainable:,}")
        for name, n in self.trainable_parts.items():
            lines.append(f"  {name:<58}{n:>18,}")
        lines.append("")
        lines.append("what the category table leaves out:")
        for note in self.left_out:
            lines.append(textwrap.fill(note, width=96, initial_indent="  - ", subsequent_indent="    "))
        return "\n".join(lines)


def count_trainable(config):
    """The number of trainable numbers in ``GPT(config)``, broken into parts, without building it.

    Returns ``(total, parts)`` where ``parts`` is a dict from a description to a count. It follows
    the model's layout exactly: token and position embeddings; per block two LayerNorms, the fused
    query/key/value Linear (C -> 3C), the attention output Linear (C -> C), the MLP's up (C -> 4C)
    and down (4C -> C) Linears; a final LayerNorm; and an unembedding (C -> V, no bias) unless tied.
    """
    V, L, C, S = config.vocab_size, config.n_layer, config.n_embd, config.block_size
    ln_params = 2 * C if config.bias else C  # gain (and bias) of one LayerNorm
    parts = {
        "token embedding (V x C)": V * C,
        "position embeddings (block_size x C)": S * C,
        "attention Q, K, V, output matrices (4 C x C per layer)": L * 4 * C * C,
        "MLP up and down matrices (8 C x C per layer)": L * 8 * C * C,
        "LayerNorm gains" + (" and biases" if config.bias else "") + " (2 per layer + final)": (2 * L + 1)
        * ln_params,
    }
    if config.bias:
        # c_attn 3C, attn c_proj C, mlp c_fc 4C, mlp c_proj C
        parts["Linear biases (9 C per layer)"] = L * 9 * C
    if not config.tie_weights:
        parts["unembedding (V x C, not tied)"] = V * C
    return sum(parts.values()), parts


def weight_table(config):
    """Count a GPT's weights the way 3Blue1Brown's lessons do, and the way the model really is.

    3Blue1Brown's lesson groups GPT-3's weights into eight kinds of matrix, and counts each attention head's
    query, key and value maps as separate (d_head x d_model) matrices, and each layer's output
    map (all heads' value-up projections side by side) as one (d_model x d_model) matrix:

    ================  ===========================  ==================================
    category          matrices                     each matrix
    ================  ===========================  ==================================
    Embedding         1                            V x C (a row per token)
    Key               n_layer * n_head             D x C
    Query             n_layer * n_head             D x C
    Value             n_layer * n_head             D x C
    Output            n_layer                      C x C
    Up-projection     n_layer                      4C x C
    Down-projection   n_layer                      C x 4C
    Unembedding       1                            V x C
    ================  ===========================  ==================================

    For GPT-3 (:data:`GPT3_CONFIG`) that is exactly 175,181,291,520 weights in 27,938 matrices.

    Args:
        config: a :class:`GPTConfig` (it need not be small: nothing is allocated).

    Returns:
        A :class:`WeightTable`; ``print(table)`` shows it. Besides the categories it carries the
        true trainable count of :class:`GPT` (``table.trainable``, equal to
        ``sum(p.size for p in GPT(config).parameters())``) and notes on what the categories leave out.
    """
    V, L, H, C = config.vocab_size, config.n_layer, config.n_head, config.n_embd
    D = config.head_size
    rows = (
        WeightRow("Embedding", 1, (V, C), V * C, "vocab_size * n_embd"),
        WeightRow("Key", L * H, (D, C), L * H * D * C, "n_layer * n_head * head_size * n_embd"),
        WeightRow("Query", L * H, (D, C), L * H * D * C, "n_layer * n_head * head_size * n_embd"),
        WeightRow("Value", L * H, (D, C), L * H * D * C, "n_layer * n_head * head_size * n_embd"),
        WeightRow("Output", L, (C, C), L * C * C, "n_layer * n_embd * n_embd"),
        WeightRow("Up-projection", L, (4 * C, C), L * 4 * C * C, "n_layer * 4 n_embd * n_embd"),
        WeightRow("Down-projection", L, (C, 4 * C), L * C * 4 * C, "n_layer * n_embd * 4 n_embd"),
        WeightRow("Unembedding", 1, (V, C), V * C, "vocab_size * n_embd"),
    )
    trainable, parts = count_trainable(config)
    left_out = [
        f"position embeddings: {config.block_size:,} learned vectors of {C:,} "
        f"({config.block_size * C:,} weights)",
        f"LayerNorm gains{' and biases' if config.bias else ''}: {2 * L + 1} LayerNorms of {C:,} "
        f"({parts[next(k for k in parts if k.startswith('LayerNorm'))]:,} numbers)",
    ]
    if config.bias:
        left_out.append(f"bias vectors of every Linear layer ({L * 9 * C:,} numbers)")
    if config.tie_weights:
        left_out.append(
            f"nothing is missing for the unembedding, but it is counted twice: this model uses the "
            f"embedding matrix again as its unembedding (tied weights), so {V * C:,} weights are shared"
        )
    left_out.append(
        "the grouping differs from the code, not the count: the model keeps each layer's Q, K and V "
        "for all heads in one fused (3C x C) matrix"
    )
    return WeightTable(
        config=config,
        rows=rows,
        total_weights=sum(r.weights for r in rows),
        total_matrices=sum(r.matrices for r in rows),
        trainable=trainable,
        trainable_parts=parts,
        left_out=tuple(left_out),
    )


# --------------------------------------------------------------------------------------------
# Reading GPT-2's files: the plumbing of GPT.load_state_dict and GPT.from_pretrained
# --------------------------------------------------------------------------------------------


def upgrade_state_dict(state_dict, config=None):
    """Translate a state dict's names to today's: ``{name: array}`` -> a new dict.

    * This library's checkpoints before the nanoGPT names: ``wte.weight`` -> ``transformer.wte.weight``
      (also ``wpe``, ``ln_f``), ``blocks.3.attn.c_attn.weight`` -> ``transformer.h.3.attn.c_attn.weight``.
    * A tied model lists its one matrix once, as ``transformer.wte.weight``; a state dict that also
      has ``lm_head.weight`` (PyTorch's state dicts list a shared tensor under both names) has it
      dropped when it is the same matrix, and refused when it is not.

    Args:
        state_dict: ``{name: numpy array or Tensor}``.
        config: the :class:`GPTConfig` of the model it is for (its ``tie_weights`` matters).
    """
    out = {}
    for name, value in state_dict.items():
        if name.startswith("blocks."):
            name = "transformer.h." + name[len("blocks."):]
        elif name.split(".", 1)[0] in ("wte", "wpe", "ln_f"):
            name = "transformer." + name
        out[name] = value
    if config is not None and config.tie_weights and "lm_head.weight" in out:
        head = out.pop("lm_head.weight")
        wte = out.setdefault("transformer.wte.weight", head)
        if not np.array_equal(np.asarray(getattr(wte, "data", wte)), np.asarray(getattr(head, "data", head))):
            raise ValueError("the model ties lm_head.weight to transformer.wte.weight, but the state dict "
                             "has two different matrices for them (load it into a GPTConfig(tie_weights=False))")
    return out


#: GPT-2's four matrices per block that Hugging Face stores as Conv1D, (in, out): transposed on the
#: way in and out (nanoGPT's ``from_pretrained`` transposes the same four).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

#: Hugging Face's names for the activation -> our ``gelu_approximate``.
_HF_GELU = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "none"}


#: GPT-2 small's settings: what Hugging Face's ``GPT2Config`` uses for a key ``config.json`` lacks.
HF_DEFAULTS = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12}


def _hf_field(hf, key, kind, default):
    """``hf[key]`` checked to be a ``kind`` (int: a whole number, not a bool; float: any number;
    bool; str); ``default`` when absent. Raises ValueError naming the key."""
    value = hf.get(key, default)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{key!r} is {value!r}, not {'an' if kind is int else 'a'} {kind.__name__}")
    return kind(value)


def config_from_hf(hf):
    """A :class:`GPTConfig` from the dict of a Hugging Face GPT-2 ``config.json``.

    ``n_positions`` is the context (``block_size``); GPT-2 always has biases; ``resid_pdrop``
    becomes ``dropout``. Settings this model does not have (a different MLP width, LayerNorm
    epsilon or attention scaling) raise ValueError naming them rather than load a different model.
    """
    if not isinstance(hf, dict):
        raise ValueError(f"expected a JSON object of settings, got a {type(hf).__name__}")
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"model_type is {hf.get('model_type')!r}; only 'gpt2' models can be read")
    act = _hf_field(hf, "activation_function", str, "gelu_new")
    if act not in _HF_GELU:
        raise ValueError(f"activation_function {act!r} is not a GELU this model has (one of {sorted(_HF_GELU)})")
    sizes = {key: _hf_field(hf, key, int, default) for key, default in HF_DEFAULTS.items()}
    n_embd = sizes["n_embd"]
    unsupported = {
        "n_inner": (hf.get("n_inner"), (None, 4 * n_embd)),
        "layer_norm_epsilon": (hf.get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "scale_attn_weights": (hf.get("scale_attn_weights", True), (True,)),
        "scale_attn_by_inverse_layer_idx": (hf.get("scale_attn_by_inverse_layer_idx", False), (False,)),
        "reorder_and_upcast_attn": (hf.get("reorder_and_upcast_attn", False), (False,)),
    }
    for key, (value, allowed) in unsupported.items():
        if value not in allowed:
            raise ValueError(f"{key}={value!r} is not supported (this GPT has {allowed[-1]!r})")
    return GPTConfig(
        vocab_size=sizes["vocab_size"],
        block_size=sizes["n_positions"],
        n_layer=sizes["n_layer"],
        n_head=sizes["n_head"],
        n_embd=n_embd,
        dropout=_hf_field(hf, "resid_pdrop", float, 0.0),
        bias=True,
        tie_weights=_hf_field(hf, "tie_word_embeddings", bool, True),
        gelu_approximate=_HF_GELU[act],
    )


def _read_json(path, kind, what):
    """The JSON in ``path``, checked to be a ``kind`` (dict/list); DataError naming the file if not."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        kind_name = {list: "array", dict: "object", str: "string", type(None): "null"}.get(type(value), "number")
        raise DataError(f"{path}: expected {what}, got a JSON {kind_name}")
    return value


def _read_safetensors(path):
    """Every array of ``model.safetensors`` in ``path`` (or of the shards its index lists)."""
    single, index = path / "model.safetensors", path / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = _read_json(index, dict, "an object with a 'weight_map'").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(f, str) for f in weight_map.values()):
            raise DataError(f"{index}: 'weight_map' is missing or not an object of tensor name -> file name")
        files = [path / f for f in sorted(set(weight_map.values()))]
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"{f}: not found (a shard that {index.name} lists)")
    elif (path / "pytorch_model.bin").is_file():
        raise DataError(f"{path} has only pytorch_model.bin, a pickle (opening one can run code); save the model "
                         "with safetensors instead: model.save_pretrained(dir, safe_serialization=True)")
    else:
        raise FileNotFoundError(f"{path}: no model.safetensors file")
    arrays = {}
    for f in files:
        try:
            arrays.update(safetensors.numpy.load_file(f))
        except Exception as exc:  # safetensors raises its own error types for damaged or odd files
            raise DataError(f"{f}: cannot be read as safetensors ({type(exc).__name__}: {exc})") from None
    return arrays
