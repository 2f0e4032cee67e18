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

from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = [
    "GPTConfig",
    "GPT",
    "WeightRow",
    "WeightTable",
    "weight_table",
    "count_trainable",
    "GPT3_CONFIG",
    "sample_next",
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
            lines.append(f"  - {note}")
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
