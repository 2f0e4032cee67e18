"""Neural-network functions on tensors, imported as ``F`` (as in PyTorch)::

    from micrograd_plus import functional as F
    loss = F.cross_entropy(F.linear(x, W, b), y)

The losses and layers here (cross-entropy, layer norm, linear, embedding, the fused attention)
are each *one* node of the graph with a hand-derived backward rule ("fused"), rather than a chain
of small tensor ops. Two reasons:

* **Stability.** softmax and cross-entropy exponentiate; done naively, ``exp(1000)`` overflows.
  Subtracting each row's maximum first changes nothing mathematically
  (``softmax(x) = softmax(x - c)``) and keeps every exponent <= 0.
* **Speed and memory.** A fused node saves only what its backward needs (cross-entropy keeps the
  probabilities; layer norm keeps one mean and one 1/std per row) and runs a few numpy passes
  instead of a dozen.

The activations and softmax are thin wrappers: their rules live on :class:`~micrograd_plus._tensor.Tensor`
(``x.relu()``, ``x.softmax(dim)``), so each rule is written once, and ``F.relu(x)`` is the same node.
Attention off its fused path (a mask, dropout) is built from ordinary ops.

Shapes follow PyTorch: the last dimension is the feature/class dimension, anything before it is
batch.
"""

import math

import numpy as np

from micrograd_plus import kernels
from micrograd_plus.autograd import differentiable
from micrograd_plus.random import get_generator
from micrograd_plus.ops.indexing import scatter_add_rows
from micrograd_plus._tensor import Tensor, _operand, _result, _wrap
from micrograd_plus.functional_conv import (  # noqa: F401  (the image half of F, in its own file)
    adaptive_avg_pool2d, avg_pool2d, batch_norm, conv1d, conv2d, dropout2d, max_pool2d)

__all__ = [
    "relu",
    "gelu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "mse_loss",
    "l1_loss",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "silu",
    "leaky_relu",
    "elu",
    "softplus",
    "logsigmoid",
    "one_hot",
    "pad",
    "normalize",
    "linear",
    "layer_norm",
    "embedding",
    "dropout",
    "scaled_dot_product_attention",
    "causal_self_attention",
    "attention_weights",
    # images (micrograd_plus/functional_conv.py)
    "conv1d",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm",
    "dropout2d",
]


def _c(a):
    """A C-contiguous version of ``a`` (no copy when it already is): what the kernels like best."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _shaped(a, shape):
    """``a`` reshaped to ``shape``, or ``a`` itself when it already has that shape: numpy's
    reshape always makes a new view, and a gradient that is a view is copied before it is stored
    in a leaf's ``.grad`` (see ``tensor._store_grad``)."""
    return a if a.shape == tuple(shape) else a.reshape(shape)


def _row_sum(a, b=None):
    """Sum over the last axis, keeping it: ``sum(a, -1)`` or ``sum(a * b, -1)``, shape (..., 1).

    ``np.einsum`` does this 2-4x faster than ``a.sum(axis=-1)`` for short rows (numpy's reduce
    has a per-row overhead), and the product form needs no temporary array.
    """
    s = np.einsum("...i->...", a) if b is None else np.einsum("...i,...i->...", a, b)
    return s[..., None]


def _to_tensor(x, like=None):
    t = _operand(x, like)
    if t is None:
        raise TypeError(f"expected a Tensor, array or number, got {type(x).__name__}")
    return t


def _float_tensor(x, name):
    x = _to_tensor(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point tensor, got dtype {x._data.dtype}")
    return x


# ----------------------------------------------------------------------------------------------
# Activations (thin wrappers: the rules live on Tensor)
# ----------------------------------------------------------------------------------------------


@differentiable
def relu(input):
    """max(x, 0) elementwise. See :meth:`Tensor.relu`."""
    return _to_tensor(input).relu()


@differentiable
def gelu(input, approximate="none"):
    """GELU, x * Phi(x); ``approximate="tanh"`` is GPT-2's form. See :meth:`Tensor.gelu`."""
    return _to_tensor(input).gelu(approximate)


@differentiable
def sigmoid(input):
    """1 / (1 + e^-x), stable for large abs(x). See :meth:`Tensor.sigmoid`."""
    return _to_tensor(input).sigmoid()


@differentiable
def tanh(input):
    """Hyperbolic tangent. See :meth:`Tensor.tanh`."""
    return _to_tensor(input).tanh()


@differentiable
def silu(input):
    """SiLU (swish), x * sigmoid(x): Llama's activation. Derivative s (1 + x (1 - s)), s = sigmoid(x)."""
    x = _float_tensor(input, "silu")
    X = x._data
    s = x.sigmoid()._data
    return _result(X * s, (x,), "silu", lambda g: (g * (s * (1 + X * (1 - s))),))


@differentiable
def leaky_relu(input, negative_slope=0.01):
    """x where x > 0, ``negative_slope * x`` elsewhere; the slope is the derivative (at 0 too, as in PyTorch)."""
    x = _float_tensor(input, "leaky_relu")
    X = x._data
    pos = X > 0
    return _result(np.where(pos, X, X * negative_slope), (x,), "leaky_relu",
                   lambda g: (np.where(pos, g, g * negative_slope),))


@differentiable
def elu(input, alpha=1.0):
    """x where x > 0, alpha (e^x - 1) elsewhere; derivative 1 and alpha e^x (= y + alpha)."""
    x = _float_tensor(input, "elu")
    X = x._data
    pos = X > 0
    y = np.where(pos, X, alpha * np.expm1(np.minimum(X, 0)))
    return _result(y, (x,), "elu", lambda g: (np.where(pos, g, g * (y + alpha)),))


@differentiable
def softplus(input, beta=1.0, threshold=20.0):
    """A smooth relu, log(1 + e^(beta x)) / beta, taken as x where beta x > threshold (as in
    PyTorch, so it never overflows). Its derivative is sigmoid(beta x)."""
    x = _float_tensor(input, "softplus")
    X = x._data
    bx = X * beta
    linear_part = bx > threshold
    y = np.where(linear_part, X, (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta)
    s = _wrap(bx).sigmoid()._data
    return _result(y.astype(X.dtype, copy=False), (x,), "softplus",
                   lambda g: (np.where(linear_part, g, g * s),))


@differentiable
def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log(1 + e^-abs(x)), stable for large abs(x); derivative sigmoid(-x)."""
    x = _float_tensor(input, "logsigmoid")
    X = x._data
    y = np.minimum(X, 0) - np.log1p(np.exp(-np.abs(X)))
    s_neg = _wrap(-X).sigmoid()._data
    return _result(y, (x,), "logsigmoid", lambda g: (g * s_neg,))


# ----------------------------------------------------------------------------------------------
# softmax family
# ----------------------------------------------------------------------------------------------


@differentiable
def softmax(input, dim=-1):
    """Turn scores into probabilities along ``dim``. See :meth:`Tensor.softmax` (the rule lives there)."""
    return _float_tensor(input, "softmax").softmax(dim)


@differentiable
def log_softmax(input, dim=-1):
    """log(softmax(x)) along ``dim``, computed stably. See :meth:`Tensor.log_softmax`."""
    return _float_tensor(input, "log_softmax").log_softmax(dim)


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's old ``size_average=`` / ``reduce=`` arguments turned into ``reduction``, as PyTorch
    does (it warns that they are deprecated): ``reduce=False`` is ``"none"``, else
    ``size_average=False`` is ``"sum"``, else ``"mean"``. Both None leaves ``reduction`` alone."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is not None and not reduce:
        return "none"
    return "sum" if size_average is not None and not size_average else "mean"


def _class_weight(weight, logits, name):
    """``weight`` (one number per class, shape (C,)) as an array of the logits' dtype, or None."""
    if weight is None:
        return None
    w = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
    C = logits._data.shape[-1]
    if w.shape != (C,):
        raise ValueError(f"{name}: weight must hold one number per class, shape ({C},), got shape {w.shape}")
    return w.astype(logits._data.dtype, copy=False)


@differentiable
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """The classification cost: -log(probability the model gave to the right class).

    Args:
        input: the logits, unnormalised scores, (N, C) or (B, T, C) (any leading shape; classes last).
            PyTorch's layout, classes in dim 1, (N, C, d1, ...) with targets (N, d1, ...), gives
            PyTorch's answer; where the shapes fit both layouts, a one-line error asks for 2-D input.
        target: integer class indices shaped like ``logits`` without its last dim (entries equal
            to ``ignore_index`` are skipped), or class *probabilities* shaped like ``logits``
            (for 2-D input only: with more dimensions they would be ambiguous).
        weight: one number per class, (C,), scaling each entry's cost by its target class's weight
            (for imbalanced classes); "mean" then divides by the sum of the weights used, as in PyTorch.
        size_average, reduce: PyTorch's deprecated spellings of ``reduction`` (turned into it).
        reduction: ``"mean"`` (over non-ignored entries), ``"sum"`` or ``"none"`` (per entry).
        label_smoothing: in [0, 1]; the target becomes ``(1 - s) onehot + s / C``, so the model
            is asked for a little probability on every class.

    The common case (index targets, no smoothing) is one fused node, see
    :func:`_cross_entropy_indices`; the others are built from :meth:`Tensor.log_softmax`.
    """
    logits = _float_tensor(input, "cross_entropy")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    logits = _classes_last(logits, t, "cross_entropy")  # PyTorch's (N, C, d1, ...) is accepted too
    reduction = _legacy_reduction(size_average, reduce, reduction)
    w = _class_weight(weight, logits, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if t.dtype.kind == "f":  # probability targets, shaped like the logits
        if t.shape != logits._data.shape:
            raise TypeError(
                f"cross_entropy: targets must be integer class indices of shape {logits._data.shape[:-1]} or "
                f"float probabilities of shape {logits._data.shape}; got {t.dtype} of shape {t.shape}"
            )
        target = _to_tensor(target)
        C = logits._data.shape[-1]
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / C
        if w is not None:
            target = target * w  # each class's term scaled by its weight; "mean" still divides by N
        per_row = -(logits.log_softmax(-1) * target).sum(-1)  # (...,)
        if reduction == "none":
            return per_row
        return per_row.sum() if reduction == "sum" else per_row.mean()
    if w is not None:  # class weights: log_softmax, then the weighted nll
        if label_smoothing:
            raise NotImplementedError("cross_entropy: weight= together with label_smoothing= is not supported here; "
                                      "use one of them")
        return nll_loss(logits.log_softmax(-1), target, weight=w, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return _cross_entropy_indices(logits, target, reduction, ignore_index)
    # index targets with smoothing: (1 - s) * nll + s * mean over classes of -log p
    _check_class_targets(logits._data, t, "cross_entropy", ignore_index)
    lp = logits.log_softmax(-1)  # (..., C)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    nll = -lp.gather(-1, safe[..., None]).squeeze(-1)  # (...,)
    smooth = -lp.mean(-1)
    per_row = (nll * (1.0 - label_smoothing) + smooth * label_smoothing) * valid
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / int(valid.sum()) if valid.any() else per_row.sum() * np.nan


def _classes_last(x, t, name):
    """The logits (or log-probabilities) ``x`` with the class dimension last, as the rules here take them.

    This library puts classes last -- (N, C) or (B, T, C) with integer targets (N,) or (B, T) --
    and PyTorch puts them in dim 1 -- (N, C, d1, ...) with targets (N, d1, ...). The two agree for
    2-D input; for more dimensions the target's shape says which layout the caller meant, and
    PyTorch's is moved to classes-last (a permute, so the gradient flows back). When both layouts
    fit (``(N, C, C)`` input with ``(N, C)`` targets), or the targets are probabilities shaped like
    the input, there is no telling: one line asks for 2-D input instead of guessing.
    """
    if x.ndim < 3:
        return x
    mine, theirs = x.shape[:-1], x.shape[:1] + x.shape[2:]
    flatten = (f"flatten to 2-D, input.reshape(-1, C) and target.reshape(-1), to say which "
               "(classes are last here, in dim 1 in PyTorch)")
    if t.dtype.kind == "f":
        raise ValueError(f"{name}: probability targets of shape {t.shape} with {x.ndim}-D input are ambiguous: "
                         f"{flatten}")
    if t.shape == mine and t.shape == theirs:
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} with targets {t.shape} fits both layouts: {flatten}")
    if t.shape == theirs:  # PyTorch's (N, C, d1, ...): move the classes to the end
        return x.permute(0, *range(2, x.ndim), 1)  # (N, d1, ..., C)
    return x


def _check_class_targets(x, t, name, ignore_index):
    if x.ndim < 1:
        raise ValueError(f"{name}: logits must have a class dimension, got a 0-d tensor")
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: targets must be integer class indices "
            f"(or float probabilities), got dtype {t.dtype}"
        )
    if t.shape != x.shape[:-1]:
        raise ValueError(
            f"{name}: target shape {t.shape} does not match input shape {x.shape} "
            f"(expected target shape {x.shape[:-1]}: the input without its class dimension)"
        )
    C = x.shape[-1]
    tv = t[t != ignore_index]
    if tv.size and (tv.min() < 0 or tv.max() >= C):
        bad = tv[(tv < 0) | (tv >= C)][0]
        raise IndexError(f"{name}: target class {bad} is out of range for {C} classes (valid: 0..{C - 1})")


def _cross_entropy_indices(logits, target, reduction="mean", ignore_index=-100):
    """The fused cross-entropy for integer targets (see :func:`cross_entropy`).

    Args:
        logits: unnormalised scores, (N, C) or (B, T, C) (any leading shape; classes last).
        target: integer class indices shaped like ``logits`` without its last dim, (N,) or
            (B, T); entries equal to ``ignore_index`` are skipped.
        reduction: ``"mean"`` (over non-ignored entries), ``"sum"`` or ``"none"`` (per entry).

    Fused and stable: log-softmax is computed with the max subtracted, and the backward is the
    famous ``softmax(logits) - onehot(target)`` (times the incoming gradient), which is why the
    forward keeps the probabilities.
    """
    logits = _float_tensor(logits, "cross_entropy")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    x = logits._data
    if x.ndim < 1:
        raise ValueError("cross_entropy: logits must have a class dimension, got a 0-d tensor")
    C = x.shape[-1]
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}")
    if t.shape != x.shape[:-1]:
        raise ValueError(
            f"cross_entropy: target shape {t.shape} does not match logits shape {x.shape} "
            f"(expected target shape {x.shape[:-1]}: logits without the class dimension)"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    x2 = x.reshape(-1, C)  # (N, C)
    t1 = t.reshape(-1)  # (N,)
    N = t1.shape[0]
    # Validate the targets with two cheap reductions; build an ignore mask only when needed.
    lo, hi = (int(t1.min()), int(t1.max())) if N else (0, 0)
    all_valid = not (lo <= ignore_index <= hi)  # ignore_index cannot occur: every target counts
    if all_valid:
        valid, count, safe_t = None, N, t1
        tv_lo, tv_hi = lo, hi
    else:
        valid = t1 != ignore_index  # (N,)
        count = int(np.count_nonzero(valid))
        safe_t = np.where(valid, t1, 0)  # ignored rows point at class 0; masked out below
        tv_lo, tv_hi = int(safe_t.min()), int(safe_t.max())
    if N and (tv_lo < 0 or tv_hi >= C):
        tv = t1 if valid is None else t1[valid]
        bad = tv[(tv < 0) | (tv >= C)][0]
        raise IndexError(
            f"cross_entropy: target class {bad} is out of "
            f"range for {C} classes (valid: 0..{C - 1})"
        )

    x2 = _c(x2)
    nll, lse = kernels.cross_entropy_forward(x2, t1, ignore_index)  # (N,) each, one compiled pass
    if reduction == "mean":
        out = np.asarray(nll.sum() / count if count else np.nan, dtype=x.dtype)  # nan: nothing to average
    elif reduction == "sum":
        out = np.asarray(nll.sum(), dtype=x.dtype)
    else:
        out = nll.reshape(t.shape)

    def backward(g):  # (softmax(logits) - onehot(target)) * g, per row
        w = g.reshape(N) if reduction == "none" else np.full(N, g / max(count, 1) if reduction == "mean" else g, x.dtype)
        return (kernels.cross_entropy_backward(w, x2, t1, lse, ignore_index).reshape(x.shape),)

    return _result(out, (logits,), "cross_entropy", backward)


@differentiable
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error: mean((input - target)^2). Shapes must match.

    ``weight`` (of the input's shape) scales each squared error; "mean" then divides by
    the sum of the weights, as in PyTorch. ``size_average``/``reduce`` are PyTorch's deprecated
    spellings of ``reduction``.

    3Blue1Brown's "cost" of a network is this (summed instead of averaged).
    Backward: 2 (input - target) / N for the input, the negative of that for the target.
    """
    a = _float_tensor(input, "mse_loss")
    b = _to_tensor(target, a)
    if a._data.shape != b._data.shape:
        raise ValueError(f"mse_loss: input shape {a._data.shape} and target shape {b._data.shape} differ")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:  # rare: built from ops rather than the fused node below
        return _weighted_mean_or(a, (a - b) ** 2, weight, reduction, "mse_loss")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    d = a._data - b._data
    sq = d * d
    n = max(d.size, 1)
    if reduction == "mean":
        out = np.asarray(sq.sum() / n, dtype=d.dtype)
    elif reduction == "sum":
        out = np.asarray(sq.sum(), dtype=d.dtype)
    else:
        out = sq

    def backward(g):
        scale = 2.0 / n if reduction == "mean" else 2.0
        gd = (g * scale) * d  # dL/d(input)
        return (gd if a.requires_grad else None, -gd if b.requires_grad else None)

    return _result(out, (a, b), "mse_loss", backward)


@differentiable
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error: ``mean(|input - target|)``. Shapes must match. Built from ``abs`` and a
    reduction, so its gradient is ``sign(input - target) / N`` (0 where they are equal).
    ``weight`` and the deprecated ``size_average``/``reduce`` as for :func:`mse_loss`."""
    a = _float_tensor(input, "l1_loss")
    b = _to_tensor(target, a)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"l1_loss: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted_mean_or(a, (a - b).abs(), weight, reduction, "l1_loss")
    return _reduce((a - b).abs(), reduction, "l1_loss")


def _weighted_mean_or(a, per, weight, reduction, name):
    """``weight * per`` reduced, where "mean" divides by the sum of the weights, as PyTorch's
    weighted mse_loss and l1_loss do (which also ask for a weight of the input's own shape)."""
    w = _to_tensor(weight, a)
    if w._data.shape != per._data.shape:
        raise ValueError(f"{name}: weight must have the input's shape {per._data.shape}, got {w._data.shape}")
    weighted = w * per
    if reduction != "mean":
        return _reduce(weighted, reduction, name)
    return weighted.sum() / float(w._data.sum())


def _reduce(loss, reduction, name, count=None):
    """Apply ``reduction`` to a per-element loss Tensor ("mean" divides by ``count`` if given)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if count is None else loss.sum() / count
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


@differentiable
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood: -input[..., target] averaged, for ``input`` of log-probabilities
    (the output of :func:`log_softmax`), (N, C) or (B, T, C), classes last; integer ``target``
    shaped like ``input`` without its last dim. ``cross_entropy(x, t)`` is
    ``nll_loss(log_softmax(x), t)``. Backward puts -g (over the count) at each target class.
    ``weight`` (C,) scales each entry by its target class's weight, and "mean" then divides by the
    sum of the weights used (PyTorch's weighted mean); ``size_average``/``reduce`` are PyTorch's
    deprecated spellings of ``reduction``."""
    x = _float_tensor(input, "nll_loss")
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    x = _classes_last(x, t, "nll_loss")  # PyTorch's (N, C, d1, ...) is accepted too
    _check_class_targets(x._data, t, "nll_loss", ignore_index)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    w = _class_weight(weight, x, "nll_loss")
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    scale = valid if w is None else w[safe] * valid  # (...,): 0 for ignored entries
    picked = -x.gather(-1, safe[..., None]).squeeze(-1) * scale  # (...,)
    count = int(valid.sum()) if w is None else scale.sum()
    if reduction == "mean" and not valid.any():
        return picked.sum() * np.nan  # nothing to average, as in PyTorch
    return _reduce(picked, reduction, "nll_loss", count)


@differentiable
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """The cost of a yes/no prediction: -(t log p + (1 - t) log(1 - p)) for probabilities ``p``
    (``input``, after a sigmoid) and targets ``t`` in [0, 1], same shapes.

    ``weight`` (broadcast to the input's shape) scales each element's cost; "mean" still divides
    by the number of elements, as in PyTorch. ``size_average``/``reduce``: deprecated spellings of ``reduction``.

    As in PyTorch, each log is clamped at -100 so that p = 0 or 1 gives a large finite cost, and
    the gradient (p - t) / (p (1 - p)) divides by at least 1e-12.
    """
    p = _float_tensor(input, "binary_cross_entropy")
    t = _to_tensor(target, p)
    if p._data.shape != t._data.shape:
        raise ValueError(
            f"binary_cross_entropy: input shape {p._data.shape} "
            f"and target shape {t._data.shape} differ"
        )
    P, T = p._data, t._data.astype(p._data.dtype, copy=False)
    if P.size and (P.min() < 0 or P.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1] (apply sigmoid first, "
                         "or use binary_cross_entropy_with_logits)")
    with np.errstate(divide="ignore"):
        loss = -(T * np.maximum(np.log(P), -100) + (1 - T) * np.maximum(np.log1p(-P), -100))

    def backward(g):
        gp = g * (P - T) / np.maximum(P * (1 - P), 1e-12)
        with np.errstate(divide="ignore"):  # (the target's gradient is not clamped, as in PyTorch)
            gt = g * (np.log1p(-P) - np.log(P)) if t.requires_grad else None
        return gp, gt

    with np.errstate(divide="ignore"):
        per = _result(loss.astype(P.dtype, copy=False), (p, t), "binary_cross_entropy", backward)
    if weight is not None:
        per = per * _to_tensor(weight, p)
    return _reduce(per, _legacy_reduction(size_average, reduce, reduction), "binary_cross_entropy")


@differentiable
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """:func:`binary_cross_entropy` of sigmoid(input), computed from the logits ``x`` without
    overflow: max(x, 0) - x t + log(1 + e^-abs(x)). The gradient is sigmoid(x) - t.

    ``pos_weight`` (broadcast along the last dim) multiplies the cost of the positive targets;
    ``weight`` (broadcast to the input's shape) scales each element's whole cost.
    """
    x = _float_tensor(input, "binary_cross_entropy_with_logits")
    t = _to_tensor(target, x)
    if x._data.shape != t._data.shape:
        raise ValueError(
            "binary_cross_entropy_with_logits: input shape "
            f"{x._data.shape} and target shape {t._data.shape} differ"
        )
    if pos_weight is not None:  # (1 - t) x + (1 + (w - 1) t) * log(1 + e^-x), from differentiable ops
        w = _to_tensor(pos_weight, x)
        per = (1 - t) * x - (1 + (w - 1) * t) * logsigmoid(x)  # -logsigmoid(x) = log(1 + e^-x)
        return _weigh_and_reduce(per, weight, x, _legacy_reduction(size_average, reduce, reduction))
    X, T = x._data, t._data.astype(x._data.dtype, copy=False)
    loss = np.maximum(X, 0) - X * T + np.log1p(np.exp(-np.abs(X)))
    s = x.sigmoid()._data

    def backward(g):
        return g * (s - T), (-g * X if t.requires_grad else None)

    per = _result(loss, (x, t), "binary_cross_entropy_with_logits", backward)
    return _weigh_and_reduce(per, weight, x, _legacy_reduction(size_average, reduce, reduction))


def _weigh_and_reduce(per, weight, x, reduction):
    """The per-element cost ``per`` times ``weight`` (when given), reduced."""
    if weight is not None:
        per = per * _to_tensor(weight, x)
    return _reduce(per, reduction, "binary_cross_entropy_with_logits")


# ----------------------------------------------------------------------------------------------
# Shaping helpers: one_hot, pad, normalize
# ----------------------------------------------------------------------------------------------


def one_hot(tensor, num_classes=-1):
    """Integer class indices (any shape) -> int64 one-hot vectors: shape (..., num_classes), a 1
    at each index. ``num_classes=-1`` uses max + 1. No gradient (the input is integers)."""
    t = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got dtype {t.dtype}")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise IndexError(
            "one_hot: class values must be in [0, "
            f"{num_classes}), got min {t.min()} max {t.max()}"
        )
    return _wrap((t[..., None] == np.arange(num_classes)).astype(np.int64))


@differentiable
def pad(input, pad, mode="constant", value=0.0):
    """Pad with ``value`` around the last dims, as ``torch.nn.functional.pad``: ``pad`` lists
    (left, right) amounts starting from the *last* dim, e.g. (1, 1, 2, 0) pads the last dim by 1
    on each side and the one before by 2 on top. Negative amounts crop. Backward crops ``g``
    back (the padding got no input, so no gradient). Only ``mode="constant"`` is supported.
    """
    x = _to_tensor(input)
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x._data.ndim:
        raise ValueError(f"pad: needs (left, right) pairs for at most {x._data.ndim} dims, got {pad}")
    widths = [(0, 0)] * x._data.ndim
    for i in range(len(pad) // 2):
        widths[x._data.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    grow = [(max(a, 0), max(b, 0)) for a, b in widths]
    y = np.pad(x._data, grow, mode="constant", constant_values=value)  # first grow...
    crop = tuple(slice(max(-a, 0), y.shape[i] - max(-b, 0)) for i, (a, b) in enumerate(widths))
    if any(c.stop < c.start for c in crop):
        raise ValueError(f"pad: {pad} crops more than the size of shape {x._data.shape}")
    y = y[crop]  # ...then crop where an amount is negative
    inner = tuple(slice(a, a + n) for (a, _), n in zip(grow, x._data.shape))  # x inside the grown array

    def backward(g):
        full = np.zeros(tuple(n + a + b for n, (a, b) in zip(x._data.shape, grow)), dtype=g.dtype)
        full[crop] = g
        return (full[inner],)

    return _result(np.ascontiguousarray(y), (x,), "pad", backward)


@differentiable
def normalize(input, p=2.0, dim=1, eps=1e-12):
    """Scale each slice along ``dim`` to unit p-norm: x / max(norm(x), eps), as
    ``torch.nn.functional.normalize`` (dim=1 by default, as there). Built from
    :meth:`Tensor.norm`, :meth:`Tensor.clamp` and division."""
    x = _float_tensor(input, "normalize")
    return x / x.norm(p, dim=dim, keepdim=True).clamp(min=eps)


# ----------------------------------------------------------------------------------------------
# Layers as functions
# ----------------------------------------------------------------------------------------------


@differentiable
def linear(input, weight, bias=None):
    """An affine layer, y = x Wᵀ + b, as one node.

    Args:
        input: (..., in_features) -- any number of leading batch dims.
        weight: (out_features, in_features), PyTorch's layout: row j holds neuron j's weights.
        bias: (out_features,) or None.

    Returns:
        (..., out_features).

    The leading dims are flattened, so the whole batch is one (rows, in) x (in, out) product on
    the matmul kernels. Backward: dx = g W, dW = gᵀ x, db = sum of g over rows.
    """
    x = _float_tensor(input, "linear")
    weight = _float_tensor(weight, "linear weight")
    if weight._data.ndim != 2:
        raise ValueError(
            "linear: weight must be 2-D (out_features, "
            f"in_features), got shape {weight._data.shape}"
        )
    out_f, in_f = weight._data.shape
    if x._data.ndim == 0 or x._data.shape[-1] != in_f:
        raise ValueError(
            f"linear: input of shape {x._data.shape} does not fit weight of shape {weight._data.shape}: "
            f"the input's last dim must be in_features={in_f}"
        )
    if bias is not None:
        bias = _float_tensor(bias, "linear bias")
        if bias._data.shape != (out_f,):
            raise ValueError(f"linear: bias must have shape ({out_f},), got {bias._data.shape}")
    dt = x._data.dtype
    if weight._data.dtype != dt:  # mixed precision: compute in the wider type
        dt = np.result_type(dt, weight._data.dtype)
    X = x._data if x._data.dtype == dt else x._data.astype(dt)
    W = weight._data if weight._data.dtype == dt else weight._data.astype(dt)
    lead = X.shape[:-1]
    rows = math.prod(lead)
    X2 = _c(X.reshape(rows, in_f))  # (rows, in)
    # an empty product (no rows, no inputs or no outputs) is plain numpy: zeros or nothing
    mm, mm_nt, mm_tn = ((kernels.matmul, kernels.matmul_nt, kernels.matmul_tn) if X2.size and W.size
                        else (np.matmul, lambda a, b: a @ b.T, lambda a, b: a.T @ b))
    y = mm_nt(X2, _c(W))  # (rows, out) = X Wᵀ
    if bias is not None:
        y += bias._data if bias._data.dtype == dt else bias._data.astype(dt)
    y = y.reshape(lead + (out_f,))  # (..., out)

    def backward(g):
        g2 = _c(g.reshape(rows, out_f))  # (rows, out)
        gx = mm(g2, _c(W)).reshape(lead + (in_f,)) if x.requires_grad else None  # g W
        gw = mm_tn(g2, X2) if weight.requires_grad else None  # gᵀ X  (out, in)
        if bias is None:
            return gx, gw
        gb = np.add.reduce(g2, axis=0) if bias.requires_grad else None  # (out,)
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _result(y, parents, "linear", backward)


@differentiable
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each slice over the last dims to mean 0, variance 1, then scale and shift.

    Args:
        input: ``(..., *normalized_shape)``, e.g. (B, T, C) with normalized_shape (C,).
        normalized_shape: an int or tuple: the trailing dims to normalise over.
        weight, bias: shaped like ``normalized_shape`` (or None).

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance (as in PyTorch).
    One fused node: it keeps only the per-row mean and 1/std, recomputing x̂ from x in backward.
    With x̂ the normalised input and dx̂ = g * weight, the backward is
    dx = (dx̂ - mean(dx̂) - x̂ * mean(dx̂ * x̂)) / std.
    """
    x = _float_tensor(input, "layer_norm")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    X = x._data
    if k == 0 or X.shape[X.ndim - k :] != normalized_shape or X.ndim < k:
        raise ValueError(
            f"layer_norm: input shape {X.shape} does not "
            f"end with normalized_shape {normalized_shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ValueError(f"layer_norm: {name} has shape {tuple(p.shape)}, expected {normalized_shape}")
    weight = None if weight is None else _float_tensor(weight, "layer_norm weight")
    bias = None if bias is None else _float_tensor(bias, "layer_norm bias")
    n = int(np.prod(normalized_shape))
    X2 = X.reshape(-1, n)  # (rows, n): every row is normalised on its own
    W = None if weight is None else weight._data.reshape(n)
    X2 = _c(X2)
    W = None if W is None else W.astype(X.dtype, copy=False)
    B = None if bias is None else bias._data.reshape(n).astype(X.dtype, copy=False)
    y, mu, rstd = kernels.layer_norm_forward(X2, W, B, eps)  # one compiled pass; mu, rstd (rows,)
    y = _shaped(y, X.shape)

    def backward(g):
        gx, gw, gb = kernels.layer_norm_backward(_c(g.reshape(-1, n)), X2, W, mu, rstd)
        grads = [_shaped(gx, X.shape) if x.requires_grad else None]
        for p, gp in ((weight, gw), (bias, gb)):
            if p is not None:
                grads.append(_shaped(gp, normalized_shape).astype(p._data.dtype, copy=False) if p.requires_grad else None)
        return tuple(grads)

    parents = (x,) + tuple(p for p in (weight, bias) if p is not None)
    return _result(y, parents, "layer_norm", backward)


@differentiable
def embedding(input, weight):
    """Look up rows of a table: ``weight[input]``, e.g. token ids -> vectors.

    Args:
        input: integer array/Tensor of any shape, e.g. (B, T), values in [0, num_embeddings).
        weight: (num_embeddings, dim).

    Returns:
        (*input.shape, dim). A row used several times gets the *sum* of its gradients
        (a scatter-add), which is the backward of a gather.
    """
    weight = _float_tensor(weight, "embedding weight")
    ix = input._data if isinstance(input, Tensor) else np.asarray(input)
    if ix.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {ix.dtype}")
    W = weight._data
    if W.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {W.shape}")
    V, D = W.shape
    if ix.size and (ix.min() < 0 or ix.max() >= V):
        bad = ix[(ix < 0) | (ix >= V)].flat[0]
        raise IndexError(
            f"embedding: index {bad} is out of range for "
            f"a table of {V} rows (valid: 0..{V - 1})"
        )
    flat = ix.reshape(-1)
    y = np.take(W, flat, axis=0).reshape(ix.shape + (D,))  # (*input.shape, D)

    def backward(g):
        return (scatter_add_rows(flat, g.reshape(-1, D), V),)  # (V, D); repeated ids add up

    return _result(y, (weight,), "embedding", backward)


@differentiable
def dropout(input, p=0.5, training=True, generator=None):
    """Randomly zero a fraction ``p`` of the elements during training ("inverted" dropout).

    Kept elements are divided by 1 - p so that the expected value is unchanged; at evaluation
    (``training=False``) dropout does nothing. The mask is drawn from ``generator`` (see
    :mod:`micrograd_plus.random`), so a seed reproduces it. Backward lets the gradient through
    exactly where the mask kept the element, with the same 1/(1 - p) scale.
    """
    x = _float_tensor(input, "dropout")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    rng = get_generator(generator)
    rdt = np.float32 if x._data.dtype == np.float32 else np.float64
    keep = rng.random(x._data.shape, dtype=rdt) >= p  # boolean mask: 1 byte per element
    scale = 1.0 / (1.0 - p)
    y = x._data * keep
    y *= scale

    def backward(g):
        gx = g * keep
        gx *= scale
        return (gx,)

    return _result(y, (x,), "dropout", backward)


# ----------------------------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------------------------


@differentiable
def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 generator=None):
    """Attention: each query position takes a weighted average of the values.

    Args:
        q: (B, H, T, D) queries (any leading dims work on the unfused path).
        k: (B, H, S, D) keys; v: (B, H, S, Dv) values.
        attn_mask: optional boolean mask (True = may attend) or additive float mask,
            broadcastable to (B, H, T, S).
        dropout_p: dropout on the attention weights (pass 0 at evaluation).
        is_causal: position t may only look at positions <= t (a GPT's left-to-right rule).
        scale: multiplies q kᵀ; default 1/sqrt(D), which keeps the scores' variance near 1.

    Returns:
        (B, H, T, Dv) = softmax(q kᵀ * scale + mask) v.

    With ``is_causal`` and no mask or dropout on (B, H, T, D) inputs, this is one fused node
    running the attention kernels of :mod:`micrograd_plus.kernels`. Otherwise it is built from
    ordinary ops (matmul, masked_fill with -inf, softmax, dropout, matmul).
    """
    q = _float_tensor(q, "attention q")
    k = _float_tensor(k, "attention k")
    v = _float_tensor(v, "attention v")
    qs, ks, vs = q._data.shape, k._data.shape, v._data.shape
    if q._data.ndim < 2 or k._data.ndim < 2 or v._data.ndim < 2:
        raise ValueError(f"attention needs at least 2-D q, k, v, got shapes {qs}, {ks}, {vs}")
    if qs[-1] != ks[-1] or ks[-2] != vs[-2]:
        raise ValueError(
            f"attention: q {qs}, k {ks}, v {vs} do not fit: q and k need the same last dim (D), "
            "k and v the same sequence length"
        )
    if attn_mask is not None and is_causal:
        raise ValueError("attention: pass either attn_mask or is_causal=True, not both")
    if scale is None:
        scale = 1.0 / math.sqrt(qs[-1])
    scale = float(scale)

    if is_causal and dropout_p == 0.0 and q._data.ndim == 4 and qs == ks == vs:
        dt = np.result_type(q._data.dtype, k._data.dtype, v._data.dtype)
        Q, K, Vv = (_c(t._data.astype(dt, copy=False)) for t in (q, k, v))  # (B, H, T, D)
        out, stats = kernels.attention_forward(Q, K, Vv, scale, True)

        def backward(g):
            return kernels.attention_backward(_c(g), Q, K, Vv, out, stats, scale, True)

        return _result(out, (q, k, v), "attention", backward)

    p = attention_weights(q, k, attn_mask=attn_mask, is_causal=is_causal, scale=scale)  # (..., T, S)
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, training=True, generator=generator)
    return p @ v  # (..., T, Dv)


@differentiable
def causal_self_attention(qkv, n_head):
    """Multi-head causal self-attention from packed queries, keys and values, as one node.

    Args:
        qkv: (B, T, 3C): each position's queries, keys and values side by side, C numbers each
            (what a GPT's ``c_attn`` Linear computes); C must be divisible by ``n_head``.
        n_head: nh, the number of heads; each works on hs = C // nh of the C numbers.

    Returns:
        Every head's attention output, the heads side by side again, shaped (B, T, C).

    Exactly these lines of ops (nanoGPT's), computed as one node of the graph::

        q, k, v = qkv.split(C, dim=2)                                    # (B, T, C) each
        q = q.reshape(B, T, nh, hs).transpose(1, 2)                      # (B, nh, T, hs), k, v alike
        y = scaled_dot_product_attention(q, k, v, is_causal=True)        # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)                           # (B, T, C)

    The numbers are the same, bit for bit; what it saves is the ops' memory traffic, forward and
    backward. Written as ops, the backward of each of the three ``split`` slices is a zero array
    the size of ``qkv`` with the slice's gradient written into it, and the three are then added
    up: for nanoGPT's 6 x 384 model at context 256 and batch 8, three zero arrays of 9.4 MB and
    two additions of them per layer and step. Here no head is copied out or back: the attention
    kernels read each head's q, k and v where ``c_attn`` wrote them, write y in the layout
    ``c_proj`` reads, and write each head's dq, dk, dv into its columns of one (B, T, 3C) array
    (:func:`micrograd_plus.kernels.attention_qkv_forward`; heads that are not a whole number of
    SIMD vectors wide, T < 6 and non-finite inputs take a path that copies them).
    """
    qkv = _float_tensor(qkv, "causal_self_attention")
    X = qkv._data
    if X.ndim != 3 or X.shape[2] % 3 != 0:
        raise ValueError(f"causal_self_attention: qkv must be (B, T, 3C), got shape {X.shape}")
    B, T, C3 = X.shape
    C = C3 // 3
    nh = int(n_head)
    if nh < 1:
        raise ValueError(f"causal_self_attention: n_head must be at least 1, got {n_head}")
    if C % nh != 0:
        raise ValueError(f"causal_self_attention: C = {C} (qkv's last dim / 3) is not divisible by n_head = {n_head}")
    if C == 0:
        raise ValueError(f"causal_self_attention: qkv has no features (shape {X.shape}): its last dim must be 3C, C >= 1")
    hs = C // nh
    scale = 1.0 / math.sqrt(hs)
    X = _c(X)
    y, stats = kernels.attention_qkv_forward(X, nh, scale, True)  # (B, T, C), P of (B, nh, T, Tc)

    def backward(g):  # g (B, T, C) -> dL/dqkv (B, T, 3C)
        return (kernels.attention_qkv_backward(g, X, nh, stats, scale, True),)

    return _result(y, (qkv,), "causal_self_attention", backward)


@differentiable
def attention_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    """How much each query position attends to each key position: softmax(q kᵀ * scale + mask).

    ``q`` (..., T, D), ``k`` (..., S, D) -> (..., T, S), each row summing to 1 (zero where masked).
    This is the first half of :func:`scaled_dot_product_attention` (which multiplies the result
    by the values), on its own so that a model can show its attention patterns; the arguments
    mean the same.
    """
    q = _float_tensor(q, "attention q")
    k = _float_tensor(k, "attention k")
    if scale is None:
        scale = 1.0 / math.sqrt(q._data.shape[-1])
    s = (q @ k.transpose(-2, -1)) * float(scale)  # (..., T, S)
    T, S = q._data.shape[-2], k._data.shape[-2]
    if is_causal:
        s = s.masked_fill(~np.tril(np.ones((T, S), dtype=bool)), -np.inf)
    elif attn_mask is not None:
        m = attn_mask._data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if m.dtype == np.bool_:
            s = s.masked_fill(~m, -np.inf)
        else:
            s = s + _to_tensor(attn_mask, s)
    return softmax(s, dim=-1)  # (..., T, S)
