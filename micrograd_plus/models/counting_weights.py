"""Counting a GPT's weights: 3Blue1Brown's table of eight kinds of matrix, and the true count.

:func:`weight_table` groups a GPT's weights the way 3Blue1Brown's lesson on transformers does
(and reproduces GPT-3's famous 175,181,291,520 from :data:`~micrograd_plus.models.gpt.GPT3_CONFIG`);
:func:`count_trainable` counts what :class:`~micrograd_plus.models.gpt.GPT` really holds, part by
part, without building it. Both read only a config's sizes: nothing is allocated.
"""

import textwrap
from dataclasses import dataclass

__all__ = ["WeightRow", "WeightTable", "count_trainable", "weight_table"]


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
        config: the :class:`~micrograd_plus.models.gpt_config.GPTConfig` counted.
        rows: one :class:`WeightRow` per category, in the lesson's order.
        total_weights: sum of the rows' weights.
        total_matrices: sum of the rows' matrix counts.
        trainable: the real number of trainable numbers in :class:`GPT` built from ``config``
            (``sum(p.size for p in GPT(config).parameters())``).
        trainable_parts: ``trainable`` broken down into named parts.
        left_out: sentences saying what the category table does not count (or counts twice).
    """

    config: object
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

    For GPT-3 (:data:`~micrograd_plus.models.gpt.GPT3_CONFIG`) that is exactly 175,181,291,520 weights in 27,938 matrices.

    Args:
        config: a :class:`~micrograd_plus.models.gpt_config.GPTConfig` (it need not be small: nothing is allocated).

    Returns:
        A :class:`WeightTable`; ``print(table)`` shows it. Besides the categories it carries the
        true trainable count of :class:`~micrograd_plus.models.gpt.GPT` (``table.trainable``, equal to
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
