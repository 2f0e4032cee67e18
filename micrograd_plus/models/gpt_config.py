"""The GPT's configuration: the numbers that fix its architecture (nanoGPT's ``GPTConfig``).

It is the first thing :mod:`micrograd_plus.models.gpt` (which imports it, so
``from micrograd_plus.models.gpt import GPTConfig`` works) builds on; it lives in a module of its own,
with no model code, so that the command line can read its fields -- ``--n-layer``, ``--block-size``
... -- their types and their documentation without loading the tensor engine (``--help`` stays instant).
"""

from dataclasses import asdict, dataclass
from typing import Annotated

import numpy as np

from micrograd_plus._plumbing.configs import Choice, PositiveInt, Probability, config_from_dict

__all__ = ["GPTConfig"]


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

    vocab_size: PositiveInt = 65
    block_size: PositiveInt = 64
    n_layer: PositiveInt = 4
    n_head: PositiveInt = 4
    n_embd: PositiveInt = 128
    dropout: Probability = 0.0
    bias: bool = False
    tie_weights: bool = True
    gelu_approximate: Annotated[str, Choice("none", "tanh")] = "none"

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
