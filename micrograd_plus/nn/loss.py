"""Cost functions as modules, with PyTorch's names: ``loss_fn = nn.CrossEntropyLoss(); loss_fn(logits, y)``.

The cost is the single number that says how badly the network did on a batch; training is
nothing but pushing it down. The arithmetic is in :mod:`micrograd_plus.functional`; these
classes only remember the options, so a training script can pick its cost by name.
"""

from micrograd_plus import functional as F
from micrograd_plus.nn.module import Module

__all__ = ["CrossEntropyLoss", "MSELoss", "NLLLoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, size_average=None, reduce=None):
    """``reduction``, or what PyTorch's deprecated ``size_average``/``reduce`` say instead, checked."""
    reduction = F._legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class _WeightedLoss(Module):
    """A cost with an optional ``weight`` tensor, kept as a buffer (so it is in ``state_dict`` and
    moves with ``.to()``), as PyTorch's losses keep it."""

    def __init__(self, weight, size_average, reduce, reduction):
        super().__init__()
        self.register_buffer("weight", weight)
        self.reduction = _check_reduction(reduction, size_average, reduce)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_WeightedLoss):
    """Classification cost: ``-log`` of the probability (after softmax) given to the right class.

    Args:
        weight: one number per class, (C,), for imbalanced classes (see :func:`~micrograd_plus.functional.cross_entropy`).
        ignore_index: targets equal to this are skipped (e.g. padding).
        reduction: ``"mean"`` over the batch (default), ``"sum"``, or ``"none"`` (one cost each).
        label_smoothing: in [0, 1], a little probability asked for on every class.
        size_average, reduce: PyTorch's deprecated spellings of ``reduction``.

    Shapes: logits (N, C) or (B, T, C) and integer targets (N,) or (B, T) -> a scalar
    (or the target's shape with ``"none"``). A network that guesses uniformly over C classes
    scores ``ln(C)`` (2.30 for ten digits).
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, weight=self.weight, reduction=self.reduction,
                               ignore_index=self.ignore_index, label_smoothing=self.label_smoothing)


class MSELoss(Module):
    """Mean squared error ``mean((prediction - target)**2)``: the cost 3Blue1Brown's network uses,
    comparing its ten output activations with the one-hot vector of the right digit.

    Args:
        reduction: ``"mean"`` (default), ``"sum"`` (the video's cost is the sum), or ``"none"``.

    Shapes: prediction and target of the same shape -> a scalar (or that shape with ``"none"``).
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, size_average, reduce)

    def forward(self, prediction, target):
        return F.mse_loss(prediction, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (after :class:`~micrograd_plus.nn.LogSoftmax`):
    ``NLLLoss()(log_softmax(x), y) == CrossEntropyLoss()(x, y)``. Shapes as for CrossEntropyLoss."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, log_probs, target):
        return F.nll_loss(log_probs, target, weight=self.weight, reduction=self.reduction,
                          ignore_index=self.ignore_index)


class L1Loss(Module):
    """Mean absolute error ``mean(|prediction - target|)``. Shapes: equal -> a scalar (or that shape
    with ``reduction="none"``)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, size_average, reduce)

    def forward(self, prediction, target):
        return F.l1_loss(prediction, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities in (0, 1) against 0/1 (or soft) targets. Shapes: equal;
    ``weight`` broadcasts to them and scales each element's cost."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, probabilities, target):
        return F.binary_cross_entropy(probabilities, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits (a sigmoid inside, computed stably). Shapes: equal;
    ``pos_weight`` broadcasts over the last dimension, ``weight`` to the whole shape."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
