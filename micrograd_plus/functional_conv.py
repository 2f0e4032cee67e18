"""Convolution, pooling, batch norm and channel dropout on (N, C, H, W) tensors: the image half of ``F``.

Everything here is imported into :mod:`micrograd_plus.functional`, so you write
``F.conv2d(x, w)`` and ``F.max_pool2d(x, 2)`` exactly as in PyTorch; it lives in its own file
because images bring their own vocabulary (channels, kernels, strides, padding) and one idea that
the rest of ``F`` does not need:

**A convolution is a matrix product.** Unroll every window of the image into a column (im2col)
and the convolution is ``W @ cols``, filters times windows; its backward pass is the two products
of any linear layer plus "add each column back where it came from" (col2im). The loops live in
:mod:`micrograd_plus.kernels.conv`, each beside its numpy reference, and the products run on the
same matmul kernels as ``F.linear``.

Shapes are PyTorch's: ``input`` (N, C, H, W) (or (C, H, W) unbatched), ``weight``
(out_channels, in_channels / groups, kH, kW), output (N, out_channels, OH, OW) with
``OH = (H + 2*padding - dilation*(kH - 1) - 1) // stride + 1``. 1-D versions take (N, C, L) and are
the 2-D ones on images one pixel tall.

Each function is one node of the graph with a hand-written backward rule, checked against
numerical derivatives in ``tests/tensor/test_gradcheck_ops.py``.
"""

import numpy as np

from micrograd_plus import kernels
from micrograd_plus.autograd import differentiable
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, _operand, _result, _wrap

__all__ = ["conv1d", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "dropout2d"]


# ---- argument helpers: PyTorch's ints-or-tuples, checked with messages that name the argument ----


def _pair(value, name, fn, minimum):
    """An int or a pair of ints -> (h, w), each >= ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    if not ok or min(value) < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(value[0]), int(value[1])


def _tensor(x, fn, what="input"):
    t = _operand(x)
    if t is None:
        raise TypeError(f"{fn}: {what} must be a Tensor or array, got {type(x).__name__}")
    if t._data.dtype.kind != "f":
        raise TypeError(f"{fn}: {what} must be floating-point, got dtype {t._data.dtype}")
    return t


def _batched(x, fn, ndim=4):
    """x as (N, C, H, W) (an unbatched (C, H, W) gets N = 1) and whether it was unbatched."""
    if x._data.ndim == ndim:
        return x, False
    if x._data.ndim == ndim - 1:
        return x.unsqueeze(0), True
    spatial = "(N, C, H, W) or (C, H, W)" if ndim == 4 else "(N, C, L) or (C, L)"
    raise ValueError(f"{fn}: expected input of shape {spatial}, got shape {tuple(x._data.shape)}")


def _unbatch(y, unbatched):
    return y.squeeze(0) if unbatched else y


# ---- convolution ---------------------------------------------------------------------------------


@differentiable
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: slide ``out_channels`` filters over the image, a dot product at each place.

    Args:
        input: (N, C, H, W) or (C, H, W).
        weight: (out_channels, C / groups, kH, kW): each filter sees C / groups input channels.
        bias: (out_channels,) or None.
        stride: step between windows, an int or (sh, sw).
        padding: zeros around the image: an int, (ph, pw), ``"valid"`` (0) or ``"same"`` (output as
            big as the input; stride 1 only, as in PyTorch; an odd total puts the extra zero
            on the bottom/right).
        dilation: gap between a filter's taps (1: adjacent pixels).
        groups: split channels and filters into this many independent convolutions
            (``groups == C``: one filter set per channel, a "depthwise" convolution).

    Returns:
        (N, out_channels, OH, OW), or (out_channels, OH, OW) for an unbatched input.

    One node; forward ``W @ im2col(x)``, backward ``dW = g @ colsᵀ``, ``dx = col2im(Wᵀ @ g)``,
    ``dbias = g`` summed over N, OH, OW (:mod:`micrograd_plus.kernels.conv`).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, "conv2d")


@differentiable
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over sequences: input (N, C, L) or (C, L), weight (out_channels,
    C / groups, k), output (N, out_channels, L_out). Arguments as :func:`conv2d`, each one int
    (or ``"same"``/``"valid"``). Computed as a 2-D convolution of images one pixel tall."""
    fn = "conv1d"
    x = _tensor(input, fn)
    w = _tensor(weight, fn, "weight")
    if x._data.ndim not in (2, 3):
        raise ValueError(f"conv1d: expected input of shape (N, C, L) or (C, L), got shape {tuple(x._data.shape)}")
    if w._data.ndim != 3:
        raise ValueError(f"conv1d: weight must be 3-D (out_channels, in_channels/groups, k), got shape "
                         f"{tuple(w._data.shape)}")
    single = {"stride": stride, "dilation": dilation}
    for name, v in single.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            if not (isinstance(v, (tuple, list)) and len(v) == 1):
                raise ValueError(f"conv1d: {name} must be an int or a 1-tuple, got {v!r}")
    s = stride if isinstance(stride, (int, np.integer)) else stride[0]
    d = dilation if isinstance(dilation, (int, np.integer)) else dilation[0]
    p = padding if isinstance(padding, (str, int, np.integer)) else (
        padding[0] if isinstance(padding, (tuple, list)) and len(padding) == 1 else padding)
    if not isinstance(p, (str, int, np.integer)):
        raise ValueError(f"conv1d: padding must be an int, a 1-tuple, 'same' or 'valid', got {padding!r}")
    y = _conv(x.unsqueeze(-2), w.unsqueeze(-2), bias, (1, s), p if isinstance(p, str) else (0, p), (1, d),
              groups, fn)
    return y.squeeze(-2)  # (N, O, 1, L_out) -> (N, O, L_out)


def _conv(input, weight, bias, stride, padding, dilation, groups, fn):
    """The one convolution node behind conv1d and conv2d (see :func:`conv2d`)."""
    x, unbatched = _batched(_tensor(input, fn), fn)
    w = _tensor(weight, fn, "weight")
    b = None if bias is None else _tensor(bias, fn, "bias")
    if w._data.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape "
                         f"{tuple(w._data.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    N, C, H, W = x._data.shape
    O, Cg, KH, KW = w._data.shape
    if C % groups or O % groups:
        raise ValueError(f"{fn}: groups={groups} must divide both in_channels={C} and out_channels={O}")
    if Cg * groups != C:
        raise ValueError(f"{fn}: input has {C} channels but weight of shape {tuple(w._data.shape)} with "
                         f"groups={groups} expects {Cg * groups} (weight is (out, in/groups, kH, kW))")
    if b is not None and b._data.shape != (O,):
        raise ValueError(f"{fn}: bias must have shape ({O},), got {tuple(b._data.shape)}")
    sh, sw = _pair(stride, "stride", fn, 1)
    dh, dw = _pair(dilation, "dilation", fn, 1)
    pad = _padding(padding, (KH, KW), (sh, sw), (dh, dw), fn)
    OH = kernels._conv.output_size(H, KH, sh, pad[0], pad[1], dh)
    OW = kernels._conv.output_size(W, KW, sw, pad[2], pad[3], dw)
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: the input ({H}x{W} after padding {pad[0] + pad[1]}x{pad[2] + pad[3]}) is smaller "
                         f"than the kernel ({KH}x{KW} with dilation {(dh, dw)}): output would be {OH}x{OW}")
    dt = np.result_type(x._data.dtype, w._data.dtype)
    X, Wt = x._data.astype(dt, copy=False), w._data.astype(dt, copy=False)
    B = None if b is None else b._data.astype(dt, copy=False)
    args = ((sh, sw), pad, (dh, dw), groups)
    y, cols = kernels.conv2d_forward(X, Wt, B, *args)  # (N, O, OH, OW); cols (C*KH*KW, N*OH*OW) or the padded input

    def backward(g):
        need = (x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
        dx, dw_, db = kernels.conv2d_backward(np.ascontiguousarray(g), X.shape, Wt, cols, *args, *need)
        return (dx, dw_) if b is None else (dx, dw_, db)

    parents = (x, w) if b is None else (x, w, b)
    return _unbatch(_result(y, parents, fn, backward), unbatched)


def _padding(padding, kernel, stride, dilation, fn):
    """PyTorch's padding argument as (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"{fn}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions (stride={stride}), "
                             "as in PyTorch")
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)  # what keeps the size: split evenly, the odd one at the end
            out += [total // 2, total - total // 2]
        return tuple(out)
    ph, pw = _pair(padding, "padding", fn, 0)
    return (ph, ph, pw, pw)


# ---- pooling -------------------------------------------------------------------------------------


def _pool_args(kernel_size, stride, padding, dilation, fn):
    k = _pair(kernel_size, "kernel_size", fn, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _pair(stride, "stride", fn, 1)
    p = _pair(padding, "padding", fn, 0)
    d = _pair(dilation, "dilation", fn, 1)
    for pi, ki, di in zip(p, k, d):
        if pi > (di * (ki - 1) + 1) // 2:
            raise ValueError(f"{fn}: padding {p} must be at most half the (dilated) kernel size {k}, as in PyTorch")
    return k, s, p, d


def _check_pool_output(x, OH, OW, fn):
    if OH < 1 or OW < 1:
        raise ValueError(f"{fn}: input of spatial size {tuple(x._data.shape[-2:])} is too small for this window: "
                         f"the output would be {OH}x{OW}")


@differentiable
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Keep the largest number of each ``kernel_size`` window (per channel): (N, C, H, W) ->
    (N, C, OH, OW), or (C, H, W) -> (C, OH, OW).

    Args:
        kernel_size: window size, an int or (kH, kW). stride: defaults to ``kernel_size``
            (windows side by side). padding: -inf around the image, at most half the window.
        dilation: gap between the window's taps. ceil_mode: count a last, partial window.
        return_indices: also return where each maximum was, as ``h * W + w`` in its plane.

    The gradient of each output goes, whole, to the pixel that was the maximum (the first one on
    ties, as in PyTorch); the other pixels of the window get none.
    """
    fn = "max_pool2d"
    x, unbatched = _batched(_tensor(input, fn), fn)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, fn)
    N, C, H, W = x._data.shape
    y, idx = kernels.max_pool2d_forward(x._data, k, s, p, d, bool(ceil_mode))  # (N, C, OH, OW) each
    _check_pool_output(x, y.shape[2], y.shape[3], fn)
    out = _result(y, (x,), fn, lambda g: (kernels.max_pool2d_backward(np.ascontiguousarray(g), idx, (N, C, H, W)),))
    out = _unbatch(out, unbatched)
    if return_indices:
        return out, _wrap(idx[0] if unbatched else idx)
    return out


@differentiable
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average each ``kernel_size`` window (per channel): (N, C, H, W) -> (N, C, OH, OW).

    Args as :func:`max_pool2d` (no dilation, as in PyTorch), plus ``count_include_pad`` (the
    padding's zeros count in the average; default True) and ``divisor_override`` (divide every
    window's sum by this instead). Backward spreads each output's gradient evenly, divided by the
    same divisor, over the pixels of its window.
    """
    fn = "avg_pool2d"
    x, unbatched = _batched(_tensor(input, fn), fn)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, fn)
    if divisor_override is not None and (isinstance(divisor_override, bool) or int(divisor_override) < 1):
        raise ValueError(f"{fn}: divisor_override must be a positive int or None, got {divisor_override!r}")
    N, C, H, W = x._data.shape
    opts = (bool(ceil_mode), bool(count_include_pad), divisor_override)
    y = kernels.avg_pool2d_forward(x._data, k, s, p, *opts)  # (N, C, OH, OW)
    _check_pool_output(x, y.shape[2], y.shape[3], fn)
    out = _result(y, (x,), fn, lambda g: (kernels.avg_pool2d_backward(np.ascontiguousarray(g), (N, C, H, W), k, s, p,
                                                                       *opts),))
    return _unbatch(out, unbatched)


@differentiable
def adaptive_avg_pool2d(input, output_size):
    """Average-pool to a fixed output size, whatever the input's: (N, C, H, W) -> ``(N, C, *output_size)``.

    Output row i averages input rows ``floor(i*H/OH)`` to ``ceil((i+1)*H/OH)`` (PyTorch's rule;
    windows may overlap by one row when OH does not divide H); likewise columns. ``output_size``
    is an int or a pair, where None keeps that input size. ``output_size=1`` is global average
    pooling: one number per channel. When OH divides H and OW divides W this is
    :func:`avg_pool2d` with windows of H/OH x W/OW (and computed that way).
    """
    fn = "adaptive_avg_pool2d"
    x, unbatched = _batched(_tensor(input, fn), fn)
    N, C, H, W = x._data.shape
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    if not (isinstance(output_size, (tuple, list)) and len(output_size) == 2):
        raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
    OH, OW = (H if output_size[0] is None else output_size[0]), (W if output_size[1] is None else output_size[1])
    OH, OW = _pair((OH, OW), "output_size", fn, 1)
    if H % OH == 0 and W % OW == 0:  # equal windows side by side: plain average pooling
        return _unbatch(avg_pool2d(x, (H // OH, W // OW)), unbatched)
    rows = [(i * H // OH, -(-(i + 1) * H // OH)) for i in range(OH)]  # [start, end) of each output row
    cols = [(j * W // OW, -(-(j + 1) * W // OW)) for j in range(OW)]
    X = x._data
    y = np.empty((N, C, OH, OW), dtype=X.dtype)
    for i, (h0, h1) in enumerate(rows):
        for j, (w0, w1) in enumerate(cols):
            y[:, :, i, j] = X[:, :, h0:h1, w0:w1].mean(axis=(2, 3))

    def backward(g):
        dx = np.zeros_like(X)
        for i, (h0, h1) in enumerate(rows):
            for j, (w0, w1) in enumerate(cols):
                dx[:, :, h0:h1, w0:w1] += (g[:, :, i, j] / ((h1 - h0) * (w1 - w0)))[:, :, None, None]
        return (dx,)

    return _unbatch(_result(y, (x,), fn, backward), unbatched)


# ---- batch norm and channel dropout ----------------------------------------------------------------


@differentiable
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel over the batch (and positions) to mean 0, variance 1; scale, shift.

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W): statistics per channel C, over every other dim.
        running_mean, running_var: (C,) Tensors or arrays (or None), updated in place when
            ``training``: ``running = (1 - momentum) * running + momentum * batch``, with the
            batch's *unbiased* variance (PyTorch's rule). Used instead of the batch's statistics
            when not ``training``.
        weight, bias: (C,) scale and shift, or None.
        training: normalise with this batch's statistics (True) or the running ones (False).
        momentum: weight of the new batch in the running averages. eps: added to the variance.

    Returns:
        the same shape as ``input``.

    Normalising with the batch's mean and biased variance makes every output depend on every
    input of its channel, so the backward pass (one node, hand-derived) is LayerNorm's, taken
    over a channel instead of a row: with x̂ the normalised input and dx̂ = g * weight,
    ``dx = (dx̂ - mean(dx̂) - x̂ * mean(dx̂ * x̂)) / std``.
    """
    fn = "batch_norm"
    x = _tensor(input, fn)
    X = x._data
    if X.ndim < 2:
        raise ValueError(f"{fn}: expected input of shape (N, C, ...), got shape {X.shape}")
    C = X.shape[1]
    axes = (0,) + tuple(range(2, X.ndim))  # every dim but the channel's
    count = X.size // max(C, 1)  # numbers per channel
    shape = (1, C) + (1,) * (X.ndim - 2)  # how a (C,) vector broadcasts over input
    params = {}
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            params[name] = _tensor(t, fn, name)
            if params[name]._data.shape != (C,):
                raise ValueError(f"{fn}: {name} must have shape ({C},) for {C} channels, got "
                                 f"{tuple(params[name]._data.shape)}")
    stats = {}
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None:
            arr = t._data if isinstance(t, Tensor) else t
            if not isinstance(arr, np.ndarray) or arr.shape != (C,):
                raise ValueError(f"{fn}: {name} must be a ({C},) array or Tensor, got "
                                 f"{getattr(arr, 'shape', type(arr).__name__)}")
            stats[name] = arr
    if training:
        if count <= 1:
            raise ValueError(f"{fn}: expected more than 1 value per channel when training, got input shape {X.shape}")
        mean = X.mean(axis=axes)  # (C,)
        var = X.var(axis=axes)  # (C,) biased: what the batch is normalised with
        if "running_mean" in stats:
            rm = stats["running_mean"]
            rm *= 1 - momentum
            rm += momentum * mean.astype(rm.dtype)
        if "running_var" in stats:
            rv = stats["running_var"]
            rv *= 1 - momentum
            rv += momentum * (var * (count / (count - 1))).astype(rv.dtype)  # unbiased
    else:
        if len(stats) < 2:
            raise ValueError(f"{fn}: training=False needs running_mean and running_var (they are None)")
        mean, var = stats["running_mean"].astype(X.dtype), stats["running_var"].astype(X.dtype)
    rstd = (1.0 / np.sqrt(var + eps)).astype(X.dtype)  # (C,)
    xhat = (X - mean.reshape(shape)) * rstd.reshape(shape)
    wt, bt = params.get("weight"), params.get("bias")
    y = xhat * wt._data.reshape(shape).astype(X.dtype) if wt is not None else xhat.copy()
    if bt is not None:
        y += bt._data.reshape(shape).astype(X.dtype)

    def backward(g):
        dxhat = g * wt._data.reshape(shape) if wt is not None else g
        grads = []
        if x.requires_grad:
            if training:
                m1 = dxhat.mean(axis=axes).reshape(shape)
                m2 = (dxhat * xhat).mean(axis=axes).reshape(shape)
                grads.append((dxhat - m1 - xhat * m2) * rstd.reshape(shape))
            else:  # the running statistics are constants: a plain affine map per channel
                grads.append(dxhat * rstd.reshape(shape))
        else:
            grads.append(None)
        if wt is not None:
            grads.append((g * xhat).sum(axis=axes) if wt.requires_grad else None)
        if bt is not None:
            grads.append(g.sum(axis=axes) if bt.requires_grad else None)
        return tuple(grads)

    parents = (x,) + tuple(t for t in (wt, bt) if t is not None)
    return _result(y, parents, fn, backward)


@differentiable
def dropout2d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero whole channels at random during training, scaling the rest by 1/(1-p).

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    (:func:`~micrograd_plus.functional.dropout`) hardly regularises a convolutional layer; dropping a
    whole channel of one image does. Input (N, C, H, W) (a mask of (N, C)) or unbatched (C, H, W)
    (a mask of (C,)). ``generator`` as in ``F.dropout``; ``inplace=True`` is refused (this
    library's dropout always makes a new tensor).
    """
    fn = "dropout2d"
    x = _tensor(input, fn)
    if inplace:
        raise NotImplementedError(f"{fn}: inplace=True is not supported; use the returned tensor")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{fn}: dropout probability must be in [0, 1], got {p}")
    if x._data.ndim not in (3, 4):
        raise ValueError(f"{fn}: expected input of shape (N, C, H, W) or (C, H, W), got shape {tuple(x._data.shape)}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    lead = x._data.shape[: x._data.ndim - 2]  # (N, C) or (C,)
    keep = get_generator(generator).random(lead) >= p
    mask = (keep / (1.0 - p)).astype(x._data.dtype)[..., None, None]  # (N, C, 1, 1): scale where kept
    return _result(x._data * mask, (x,), fn, lambda g: (g * mask,))

