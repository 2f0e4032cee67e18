"""Cost functions as modules, with PyTorch's names: ``loss_fn = nn.CrossEntropyLoss(); loss_fn(logits, y)``.

The cost is the single number that says how badly the network did on a batch; training is
nothing but pushing it down. The arithmetic is in :mod:`micrograd_plus.functional`; these
classes only remember the options, so a training script can pick its cost by name.
"""

from micrograd_plus import functional as F
from micrograd_plus.nn.module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class CrossEntropyLoss(Module):
    """Classification cost: ``-log`` of the probability (after softmax) given to the right class.

    Args:
        reduction: ``"mean"`` over the batch (default), ``"sum"``, or ``"none"`` (one cost each).
        ignore_index: targets equal to this are skipped (e.g. padding).

    Shapes: logits (N, C) or (B, T, C) and integer targets (N,) or (B, T) -> a scalar
    (or the target's shape with ``"none"``). A network that guesses uniformly over C classes
    scores ``ln(C)`` (2.30 for ten digits).
    """

    def __init__(self, reduction="mean", ignore_index=-100):
        super().__init__()
        self.reduction = _check_reduction(reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, reduction=self.reduction, ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error ``mean((prediction - target)**2)``: the cost 3Blue1Brown's network uses,
    comparing its ten output activations with the one-hot vector of the right digit.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` (the video's cost is the sum), or ``"none"``.

    Shapes: prediction and target of the same shape -> a scalar (or that shape with ``"none"``).
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction)

    def forward(self, prediction, target):
        return F.mse_loss(prediction, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"
