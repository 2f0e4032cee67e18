"""Layers for images: convolution, pooling, batch norm and channel dropout, with PyTorch's names.

A fully connected layer gives every neuron its own weight for every pixel, so it cannot know
that pixels are neighbours: shuffle the pixels of every image the same way and it learns just as
well. A convolutional layer assumes what is true of pictures instead -- what matters is local
(a neuron looks at a small window, ``kernel_size``), and the same pattern means the same thing
anywhere in the image (one small set of weights, a *filter*, slides over every position). That
is far fewer weights, and features that do not care where in the image they are.

Each layer owns its weights and calls :mod:`micrograd_plus.functional` (``F.conv2d``,
``F.max_pool2d`` ...), where the arithmetic and the backward rules are. Shapes are PyTorch's,
(N, C, H, W): a batch of N images of C channels, H x W pixels.
"""

import math

import numpy as np

from micrograd_plus import functional as F
from micrograd_plus._device import as_device
from micrograd_plus.nn import init
from micrograd_plus.nn.module import Module, Parameter
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import Tensor, _wrap

__all__ = ["Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d",
           "Dropout2d"]


def _tuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


class _ConvNd(Module):
    """What Conv1d and Conv2d share: the weights, their initialisation, the checks."""

    _n = 2  # spatial dims: 1 for Conv1d, 2 for Conv2d

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", generator=None, dtype=None, device=None):
        super().__init__()
        name = type(self).__name__
        as_device(device, name)  # PyTorch's factory argument: the CPU, or one line
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} needs {arg} to be a positive integer, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        kernel_size = _tuple(kernel_size, self._n)
        if len(kernel_size) != self._n or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in kernel_size):
            raise ValueError(f"{name}: kernel_size must be a positive int or {self._n} of them, got {kernel_size!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride, self.dilation = _tuple(stride, self._n), _tuple(dilation, self._n)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, self._n)
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions")
        self.padding_mode = padding_mode
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        gen = get_generator(generator)
        # (out, in/groups, *kernel): filter o, flattened, is row o of the product W @ cols
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // groups) + self.kernel_size, dtype=dtype))
        # PyTorch's start: kaiming_uniform_(a=sqrt(5)), i.e. uniform in +-1/sqrt(fan_in), fan_in =
        # the numbers one filter sees (in/groups * kH * kW); the bias uniform in the same range
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=gen)
        if bias:
            fan_in = (self.in_channels // groups) * math.prod(self.kernel_size)  # numbers one filter sees
            bound = 1.0 / math.sqrt(fan_in)
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
            init.uniform_(self.bias, -bound, bound, generator=gen)
        else:
            self.register_parameter("bias", None)

    def _check_input(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        lead = x.ndim - self._n
        if lead not in (1, 2) or x.shape[lead - 1] != self.in_channels:
            spatial = ", ".join("HW"[: self._n]) if self._n == 2 else "L"
            raise ValueError(f"{type(self).__name__}(in_channels={self.in_channels}, ...) expects input of shape "
                             f"(N, {self.in_channels}, {spatial}) or ({self.in_channels}, {spatial}), got shape "
                             f"{tuple(x.shape)}")
        return x

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0,) * self._n, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """A layer of ``out_channels`` filters, each ``in_channels/groups x kH x kW``, slid over the image.

    At every position (``stride`` apart) each filter takes the dot product of its weights with
    the pixels under it, plus its bias: one output number, a pixel of that filter's *feature map*.
    Same arguments and defaults as ``torch.nn.Conv2d``: ``stride=1``, ``padding=0`` (an int, a pair,
    ``"same"`` or ``"valid"``), ``dilation=1``, ``groups=1``, ``bias=True``,
    ``padding_mode="zeros"`` (the only mode here); plus ``generator`` for the initial weights (see
    :mod:`micrograd_plus.random`) and ``dtype``.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, OH, OW), OH = (H + 2*padding -
    dilation*(kH-1) - 1) // stride + 1; unbatched (in_channels, H, W) works too.
    """

    _n = 2

    def forward(self, x):
        x = self._check_input(x)  # (N, in_channels, H, W)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """:class:`Conv2d` along one axis: filters of ``in_channels/groups x kernel_size`` slid along
    sequences. Shapes: (N, in_channels, L) -> (N, out_channels, L_out), or unbatched (C, L).
    Arguments as ``torch.nn.Conv1d`` (ints or 1-tuples)."""

    _n = 1

    def forward(self, x):
        x = self._check_input(x)  # (N, in_channels, L)
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(Module):
    """Keep the largest number of each window, per channel: a feature found anywhere in the window
    counts, and the map shrinks (by 2 in each direction for the usual ``MaxPool2d(2)``).

    Arguments as ``torch.nn.MaxPool2d``: ``kernel_size``, ``stride`` (default: ``kernel_size``),
    ``padding=0``, ``dilation=1``, ``return_indices=False``, ``ceil_mode=False``.
    Shapes: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride or kernel_size, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average each window, per channel. Arguments as ``torch.nn.AvgPool2d``: ``kernel_size``,
    ``stride`` (default: ``kernel_size``), ``padding=0``, ``ceil_mode=False``,
    ``count_include_pad=True``, ``divisor_override=None``. Shapes: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to ``output_size`` (an int, or a pair where None keeps that input size)
    whatever the input's size: ``AdaptiveAvgPool2d(1)`` leaves one number per channel, which lets
    a network take images of any size. Shapes: (N, C, H, W) -> ``(N, C, *output_size)``."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share (PyTorch's ``_BatchNorm``)."""

    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None,
                 device=None):
        super().__init__()
        as_device(device, type(self).__name__)
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__} needs num_features to be a positive integer, got {num_features!r}")
        if momentum is not None and not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = np.dtype(np.float32 if dtype is None else dtype)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))  # (C,) scale, starts at 1
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))  # (C,) shift, starts at 0
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", _wrap(np.zeros(self.num_features, dtype=dtype)))
            self.register_buffer("running_var", _wrap(np.ones(self.num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", _wrap(np.array(0, dtype=np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean._data[...] = 0  # the arrays themselves (.data would wrap each in a new Tensor)
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input, got {x.ndim}D input of shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects {self.num_features} channels "
                             f"(dim 1), got input of shape {tuple(x.shape)}")
        factor = 0.0 if self.momentum is None else float(self.momentum)
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data += 1
            if self.momentum is None:  # a cumulative average over all batches so far
                factor = 1.0 / float(self.num_batches_tracked._data)
        # batch statistics while training, and always when there are no running ones (PyTorch's rule)
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats  # which running statistics to pass
        return F.batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features: each of the C features of (N, C) or (N, C, L) input is
    normalised with the batch's mean and variance while training, and with running averages of
    them (``running_mean``, ``running_var``, saved in ``state_dict``) after ``model.eval()``;
    then scaled by ``weight`` and shifted by ``bias``. Arguments as ``torch.nn.BatchNorm1d``:
    ``eps=1e-5``, ``momentum=0.1`` (None: a cumulative average), ``affine=True``,
    ``track_running_stats=True``."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of feature maps: (N, C, H, W), statistics per channel over N, H and W.
    Otherwise as :class:`BatchNorm1d` (and ``torch.nn.BatchNorm2d``)."""

    _dims = (4,)


class Dropout2d(Module):
    """While training, zero whole channels with probability ``p`` (scaling the rest by 1/(1-p));
    in eval mode pass the input through. Arguments as ``torch.nn.Dropout2d`` (``p=0.5``,
    ``inplace=False``), plus ``generator``. Shapes: (N, C, H, W) or (C, H, W) -> the same."""

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout2d probability must be in [0, 1], got {p}")
        if inplace:
            raise NotImplementedError("Dropout2d: inplace=True is not supported; use the returned tensor")
        self.p = float(p)
        self.generator = None if generator is None else get_generator(generator)

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, generator=self.generator)

    def extra_repr(self):
        return f"p={self.p}"
