"""A character-level GPT: the second half of the learning path, made runnable.

A GPT reads a sequence of tokens (here: characters) and, at every position, predicts a probability
distribution over the *next* token. It is built from four ideas, in the order data flows through it:

1. **Embedding.** Each token id becomes a vector of ``n_embd`` numbers (a row of the embedding
   matrix), and a learned *position* vector is added so the model knows where in the context it is.
2. **Attention.** In every block, each position looks back at earlier positions (never later ones:
   that is the *causal* mask) and pulls in information from the ones it finds relevant. Several
   *heads* do this in parallel, each with its own query, key and value matrices.
3. **MLP.** Then each position, on its own, goes through a two-layer perceptron that widens the
   vector 4x, applies GELU and narrows it back. Both sub-layers *add* their result to a running
   "residual stream", and each is preceded by a LayerNorm (the "pre-LN" arrangement of GPT-2).
4. **Unembedding.** A final LayerNorm and one matrix turn the last vector at each position into
   ``vocab_size`` scores (logits); softmax turns them into probabilities, and the cross-entropy of
   the true next token is the loss we train on.

Shapes: B = batch size, T = sequence length (<= ``block_size``), C = ``n_embd``, H = ``n_head``,
D = C // H (the head size), V = ``vocab_size``.

This module also has :func:`weight_table`, which counts a GPT's weights in the categories of
3Blue1Brown's lessons (and reproduces GPT-3's famous 175,181,291,520), and sampling
(:meth:`GPT.generate`, :meth:`GPT.stream`).
"""

import textwrap
from dataclasses import asdict, dataclass, fields

import numpy as np

from micrograd_plus import functional as F
from micrograd_plus import nn
from micrograd_plus.random import get_generator
from micrograd_plus.tensor import Tensor, no_grad

__all__ = [
    "GPTConfig",
    "GPT",
    "WeightRow",
    "WeightTable",
    "weight_table",
    "count_trainable",
    "GPT3_CONFIG",
    "sample_next",
    "nearest_neighbours",
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
    """

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    tie_weights: bool = True

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

    @property
    def head_size(self):
        """D, the width of one attention head's query/key/value vectors: ``n_embd // n_head``."""
        return self.n_embd // self.n_head

    def to_dict(self):
        """A plain dict of the fields (for JSON and checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Build a config from :meth:`to_dict`'s output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"GPTConfig.from_dict: unknown keys {sorted(unknown)}")
        values = {}
        for f in fields(cls):
            if f.name in d:
                v = d[f.name]
                values[f.name] = bool(v) if f.type in (bool, "bool") else (
                    float(v) if f.type in (float, "float") else int(v)
                )
        return cls(**values)


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
# Counting weights
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightRow:
    """One line of :func:`weight_table`: a category of weight matrices.

    Attributes:
        category: the seed's name for it ("Embedding", "Key", ...).
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
        rows: one :class:`WeightRow` per category, in the seed's order.
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

    The seed groups GPT-3's weights into eight kinds of matrix, and counts each attention head's
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
# The model
# --------------------------------------------------------------------------------------------



class GPT(nn.Module):
    """A decoder-only transformer language model (GPT-2's design, at any size).

    Layers (the names match nanoGPT's, so its checkpoints' layout reads the same):

    * ``wte``: token embedding, an :class:`nn.Embedding` of (V, C);
    * ``wpe``: position embedding, (block_size, C);
    * ``blocks``: ``n_layer`` :class:`micrograd_plus.nn.transformer.Block`\\ s;
    * ``ln_f``: the final LayerNorm;
    * ``lm_head``: the unembedding, a (V, C) weight with no bias -- or, when
      ``config.tie_weights``, no layer at all: ``wte.weight`` is used again.

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
        from micrograd_plus.nn.transformer import Block

        g = get_generator(generator)
        self.config = config
        C = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, C, generator=g)  # (V, C)
        self.wpe = nn.Embedding(config.block_size, C, generator=g)  # (block_size, C)
        self.drop = nn.Dropout(config.dropout, generator=g)
        self.blocks = nn.ModuleList(
            [Block(C, config.n_head, dropout=config.dropout, bias=config.bias, generator=g)
             for _ in range(config.n_layer)]
        )
        self.ln_f = nn.LayerNorm(C, bias=config.bias)
        if config.tie_weights:
            self.lm_head = None
        else:
            self.lm_head = nn.Linear(C, config.vocab_size, bias=False, generator=g)  # (V, C)
        self._init_weights(g)

    def _init_weights(self, g):
        std = 0.02
        residual_std = 0.02 / np.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if name.startswith("ln") or ".ln_" in name:  # LayerNorm: gain 1, bias 0
                p.data[...] = 1.0 if leaf == "weight" else 0.0
            elif leaf == "bias":
                p.data[...] = 0.0
            elif name.endswith("c_proj.weight"):
                p.data[...] = g.normal(0.0, residual_std, size=p.data.shape)
            else:  # embeddings, c_attn, c_fc, lm_head
                p.data[...] = g.normal(0.0, std, size=p.data.shape)

    @property
    def unembedding(self):
        """The (V, C) matrix that turns final vectors into logits (``wte.weight`` when tied)."""
        return self.wte.weight if self.lm_head is None else self.lm_head.weight

    def _check_idx(self, idx):
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"GPT expects integer token ids, got dtype {idx.dtype}")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(
                f"sequence length {T} exceeds the model's block_size {self.config.block_size}; "
                "crop the context (generate() does this for you)"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must be in [0, {self.config.vocab_size}), got min {idx.min()} max {idx.max()}"
            )
        return idx

    def hidden(self, idx):
        """The residual stream after all blocks and the final LayerNorm: (B, T) ids -> (B, T, C)."""
        idx = self._check_idx(idx)
        B, T = idx.shape
        tok = F.embedding(idx, self.wte.weight)  # (B, T, C): one row of wte per token
        pos = self.wpe.weight[:T]  # (T, C): the first T rows of wpe, one per position
        x = self.drop(tok + pos)  # (B, T, C), pos broadcast over the batch
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.ln_f(x)  # (B, T, C)

    def forward(self, idx, targets=None):
        """Logits for the next token at every position, and the loss if targets are given.

        Args:
            idx: integer token ids, array or Tensor of shape (B, T), T <= block_size.
            targets: optional integer ids (B, T): ``targets[b, t]`` is the token that follows
                ``idx[b, t]``.

        Returns:
            ``(logits, loss)``: logits is a Tensor (B, T, V) of unnormalised scores; loss is the
            mean cross-entropy (a scalar Tensor) or None without targets.
        """
        x = self.hidden(idx)  # (B, T, C)
        logits = F.linear(x, self.unembedding)  # (B, T, C) @ (V, C)^T -> (B, T, V)
        loss = None
        if targets is not None:
            targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
            if targets.shape != logits.shape[:2]:
                raise ValueError(f"targets shape {targets.shape} does not match idx shape {logits.shape[:2]}")
            loss = F.cross_entropy(logits, targets)  # scalar
        return logits, loss

    # ---- inference helpers (no gradients) ----------------------------------------------------

    def next_token_logits(self, idx):
        """Logits for the token after the last one of each row: (B, T) ids -> numpy (B, V).

        The context is cropped to the last ``block_size`` tokens. Runs without building a graph.
        """
        idx = np.asarray(idx)
        idx = idx[:, -self.config.block_size:]  # (B, T<=block_size)
        with no_grad():
            x = self.hidden(idx)  # (B, T, C)
            last = x[:, -1, :]  # (B, C): only the last position predicts the new token
            logits = F.linear(last, self.unembedding)  # (B, V)
        return np.asarray(logits.data, dtype=np.float64)

    def next_token_probs(self, idx, temperature=1.0):
        """The probability of every token coming next: (B, T) ids -> numpy (B, V), rows sum to 1."""
        return _softmax(self.next_token_logits(idx) / _check_temperature(temperature))

    def stream(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Sample new tokens one at a time, yielding each as it is drawn (for streaming output).

        Args:
            idx: the prompt, integer ids of shape (T,) or (1, T); T >= 1.
            max_new_tokens: how many tokens to draw.
            temperature: divides the logits; < 1 sharpens the distribution, > 1 flattens it.
            top_k: if given, only the k most likely tokens can be drawn.
            generator: numpy Generator or int seed: the same seed gives the same text.

        Yields:
            ints, the new token ids in order.
        """
        g = get_generator(generator)
        ctx = np.asarray(idx, dtype=np.int64).reshape(1, -1)  # (1, T)
        if ctx.shape[1] == 0:
            raise ValueError("the prompt must contain at least one token")
        self._check_idx(ctx[:, -self.config.block_size:])
        for _ in range(int(max_new_tokens)):
            logits = self.next_token_logits(ctx)[0]  # (V,)
            nxt = sample_next(logits, temperature=temperature, top_k=top_k, generator=g)
            ctx = np.concatenate([ctx, [[nxt]]], axis=1)[:, -self.config.block_size:]
            yield nxt

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Continue a prompt: (T,) or (1, T) ids -> numpy (T + max_new_tokens,) ids.

        The same as collecting :meth:`stream`; see it for the arguments.
        """
        prompt = np.asarray(idx, dtype=np.int64).reshape(-1)
        new = list(self.stream(prompt, max_new_tokens, temperature, top_k, generator))
        return np.concatenate([prompt, np.asarray(new, dtype=np.int64)])

    def attention_maps(self, idx):
        """Every head's attention weights for one sequence: (T,) ids -> numpy (n_layer, H, T, T).

        ``maps[l, h, t, s]`` is how much position t attends to position s in head h of layer l
        (zero for s > t: the causal mask; each row sums to 1). Computed from the same queries
        and keys as the forward pass.
        """
        idx = np.asarray(idx, dtype=np.int64).reshape(1, -1)  # (1, T)
        idx = self._check_idx(idx)
        T = idx.shape[1]
        maps = []
        with no_grad():
            tok = F.embedding(idx, self.wte.weight)  # (1, T, C)
            pos = self.wpe.weight[:T]  # (T, C)
            x = tok + pos  # (1, T, C)
            for block in self.blocks:
                q, k, _ = block.attn.heads(block.ln_1(x))  # (1, H, T, D) each
                q = np.asarray(q.data, dtype=np.float64)[0]  # (H, T, D)
                k = np.asarray(k.data, dtype=np.float64)[0]  # (H, T, D)
                scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (H, T, T)
                scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
                maps.append(_softmax(scores))  # (H, T, T)
                x = block(x)  # (1, T, C)
        return np.stack(maps)  # (n_layer, H, T, T)


def _softmax(z):
    """Numerically stable softmax over the last axis of a numpy array."""
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


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
    probs = _softmax(logits)  # (V,)
    return int(g.choice(probs.size, p=probs))


def nearest_neighbours(embeddings, queries, k=5):
    """The ``k`` rows of ``embeddings`` most similar to each query row, by cosine similarity.

    Cosine similarity compares directions, not lengths: 1 for vectors pointing the same way, 0 for
    perpendicular ones. If training has put similar characters (vowels, capitals, punctuation)
    near each other, their embeddings' neighbours show it.

    Args:
        embeddings: numpy (V, C), one vector per token (e.g. ``model.wte.weight.data``).
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
    sims[np.arange(q.size), q] = -np.inf  # a character is not its own neighbour
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # (Q, k)
    return order, np.take_along_axis(sims, order, axis=1)
