"""The hot loops: matrix multiplication and causal attention, compiled with numba.

Everything the tensor engine needs fast goes through this module, so one switch changes the
backend for the whole library:

* ``"numba"`` (the default): our own register-blocked, multithreaded loops
  (:mod:`micrograd_plus.kernels.matmul`, :mod:`micrograd_plus.kernels.attention`);
* ``"numpy"``: the plain-numpy reference beside each kernel. Slower for attention, but it is the
  definition the numba kernels are tested against, and it is short enough to read in a minute.

Functions (all arrays float32 or float64, all arguments the same dtype):

* ``matmul(a, b)``    -> ``a @ b``      (M, K) @ (K, N) -> (M, N)
* ``matmul_nt(a, b)`` -> ``a @ b.T``    (M, K) @ (N, K)ᵀ -> (M, N), the dX product of backward
* ``matmul_tn(a, b)`` -> ``a.T @ b``    (K, M)ᵀ @ (K, N) -> (M, N), the dW product of backward
* ``attention_forward(q, k, v, scale, causal)`` -> ``(out, stats)`` for q, k, v of (B, H, T, D)
* ``attention_backward(dout, q, k, v, out, stats, scale, causal)`` -> ``(dq, dk, dv)``
* ``attention_qkv_forward(qkv, n_head, scale, causal)`` -> ``(y, stats)`` /
  ``attention_qkv_backward(dy, qkv, n_head, stats, scale, causal)`` -> dqkv: the same from a GPT's
  packed qkv (B, T, 3C) to y (B, T, C), with no head copied out or back (on the fast path)
* ``gelu_forward(x)`` / ``gelu_backward(g, x)``: exact GELU and its input gradient, any shape
* ``gelu_tanh_forward(x)`` -> ``(y, t)`` / ``gelu_tanh_backward(g, x, t)``: GPT-2's tanh form
* ``relu_forward(x)`` / ``relu_backward(g, y)``: ReLU and its gradient from the output
  (:mod:`micrograd_plus.kernels.elementwise`)
* ``layer_norm_forward(x, weight, bias, eps)`` -> ``(y, mean, rstd)`` /
  ``layer_norm_backward(g, x, weight, mean, rstd)`` -> ``(dx, dweight, dbias)``, x of (rows, n)
  (:mod:`micrograd_plus.kernels.layer_norm`)
* ``cross_entropy_forward(logits, target, ignore_index)`` -> ``(nll, lse)`` /
  ``cross_entropy_backward(w, logits, target, lse, ignore_index)`` -> dlogits, logits of (rows, C)
  (:mod:`micrograd_plus.kernels.cross_entropy`)
* ``conv2d_forward(x, w, b, stride, padding, dilation, groups)`` -> ``(y, cols)`` /
  ``conv2d_backward(g, x_shape, w, cols, ...)`` -> ``(dx, dw, db)``: im2col and the matmul kernels
  (y, dW and dx of a stride-1 convolution of several channels as direct correlations on the matmul
  micro-kernel, no cols: then ``cols`` is the padded input, :class:`~micrograd_plus.kernels.conv.Padded`);
  ``max_pool2d_forward/backward``, ``avg_pool2d_forward/backward`` (:mod:`micrograd_plus.kernels.conv`)

NaN and inf come out of every kernel where they come out of its numpy reference (see
:mod:`micrograd_plus.kernels._fastmath` for the compiler flags that make that so).

Threads: every kernel uses the machine's cores for big enough arrays while they are free, except
that float64 matmul, attention, GELU, LayerNorm, cross-entropy and SGD stay on one thread unless
:func:`use_float64_threads` (or ``MICROGRAD_PLUS_FLOAT64_THREADS=1``) says otherwise: float64 is
the checking precision here, and its threaded twins would double its compilation time.
"""

import contextlib

from micrograd_plus.kernels import _compiling  # noqa: F401  (one line on stderr while kernels compile)
from micrograd_plus.kernels import attention as _attention
from micrograd_plus.kernels import conv as _conv
from micrograd_plus.kernels import cross_entropy as _cross_entropy
from micrograd_plus.kernels import elementwise as _elementwise
from micrograd_plus.kernels import layer_norm as _layer_norm
from micrograd_plus.kernels import matmul as _matmul
from micrograd_plus.kernels._shared import use_float64_threads  # noqa: F401  (public: see its docstring)

_BACKENDS = ("numba", "numpy")


def _default_backend():
    # With NUMBA_DISABLE_JIT=1 (coverage, debugging) the numba kernels run as interpreted Python
    # loops, thousands of times slower than numpy. The library then defaults to the numpy
    # references; the kernel tests still call the kernels directly, so they are still exercised.
    from numba.core import config

    return "numpy" if config.DISABLE_JIT else "numba"


_backend = _default_backend()


def get_backend():
    """Return the name of the active kernel backend, ``"numba"`` or ``"numpy"``."""
    return _backend


def set_backend(name):
    """Choose the kernel backend for the whole library: ``"numba"`` or ``"numpy"``."""
    global _backend
    if name not in _BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r}; choose one of {_BACKENDS}")
    _backend = name


@contextlib.contextmanager
def backend(name):
    """Context manager that switches the kernel backend and restores the previous one."""
    previous = _backend
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def matmul(a, b):
    """``a @ b`` for 2-D arrays: (M, K) @ (K, N) -> (M, N)."""
    if _backend == "numba":
        return _matmul.matmul(a, b)
    return _matmul.matmul_reference(a, b)


def matmul_goes_to_blas(M, N, K):
    """Whether :func:`matmul` hands an (M, K) @ (K, N) product to numpy's BLAS rather than the
    numba kernels (small products, decided by shape: see ``kernels.matmul.BLAS_MAX_MNK``)."""
    return _matmul.matmul_goes_to_blas(M, N, K)


def matmul_nt(a, b):
    """``a @ b.T`` for 2-D arrays: (M, K), (N, K) -> (M, N)."""
    if _backend == "numba":
        return _matmul.matmul_nt(a, b)
    return _matmul.matmul_nt_reference(a, b)


def matmul_tn(a, b):
    """``a.T @ b`` for 2-D arrays: (K, M), (K, N) -> (M, N)."""
    if _backend == "numba":
        return _matmul.matmul_tn(a, b)
    return _matmul.matmul_tn_reference(a, b)


def attention_forward(q, k, v, scale, causal=True):
    """softmax(q kᵀ * scale [+ causal mask]) v for q, k, v of shape (B, H, T, D).

    Returns ``(out, stats)``: out is (B, H, T, D); ``stats`` is whatever the backward pass
    needs besides the inputs and output (treat it as opaque).
    """
    if _backend == "numba":
        return _attention.attention_forward(q, k, v, scale, causal)
    return _attention.attention_forward_reference(q, k, v, scale, causal)


def attention_backward(dout, q, k, v, out, stats, scale, causal=True):
    """Gradients ``(dq, dk, dv)``, each (B, H, T, D), of attention given dL/dout."""
    if _backend == "numba":
        return _attention.attention_backward(dout, q, k, v, out, stats, scale, causal)
    return _attention.attention_backward_reference(dout, q, k, v, out, stats, scale, causal)


def attention_qkv_forward(qkv, n_head, scale, causal=True):
    """Attention from a GPT's packed qkv (B, T, 3C) with ``n_head`` heads: ``(y, stats)``, y of
    (B, T, C) with the heads side by side (see :func:`micrograd_plus.kernels.attention.attention_qkv_forward`)."""
    if _backend == "numba":
        return _attention.attention_qkv_forward(qkv, n_head, scale, causal)
    return _attention.attention_qkv_forward_reference(qkv, n_head, scale, causal)


def attention_qkv_backward(dy, qkv, n_head, stats, scale, causal=True):
    """dL/dqkv (B, T, 3C) of :func:`attention_qkv_forward`, given dy = dL/dy (B, T, C)."""
    if _backend == "numba":
        return _attention.attention_qkv_backward(dy, qkv, n_head, stats, scale, causal)
    return _attention.attention_qkv_backward_reference(dy, qkv, n_head, stats, scale, causal)


def gelu_forward(x):
    """Exact GELU ``x * Phi(x)`` (Phi the standard normal CDF); same shape and dtype as ``x``."""
    if _backend == "numba":
        return _elementwise.gelu_forward(x)
    return _elementwise.gelu_forward_reference(x)


def gelu_backward(g, x):
    """dL/dx of exact GELU given dL/dy ``g``: ``g * (Phi(x) + x * phi(x))``."""
    if _backend == "numba":
        return _elementwise.gelu_backward(g, x)
    return _elementwise.gelu_backward_reference(g, x)


def relu_forward(x):
    """ReLU ``max(x, 0)``; same shape and dtype as ``x`` (float32 or float64)."""
    if _backend == "numba":
        return _elementwise.relu_forward(x)
    return _elementwise.relu_forward_reference(x)


def relu_backward(g, y):
    """dL/dx of ReLU from dL/dy ``g`` and the forward's output ``y``: ``g * (y > 0)``."""
    if _backend == "numba":
        return _elementwise.relu_backward(g, y)
    return _elementwise.relu_backward_reference(g, y)


def gelu_tanh_forward(x):
    """Tanh-form GELU: ``(y, t)`` with ``t = tanh(sqrt(2/pi) (x + 0.044715 x^3))``, ``y = x (1 + t) / 2``."""
    if _backend == "numba":
        return _elementwise.gelu_tanh_forward(x)
    return _elementwise.gelu_tanh_forward_reference(x)


def gelu_tanh_backward(g, x, t):
    """dL/dx of tanh-form GELU from dL/dy ``g``, the input ``x`` and the forward pass's ``t``."""
    if _backend == "numba":
        return _elementwise.gelu_tanh_backward(g, x, t)
    return _elementwise.gelu_tanh_backward_reference(g, x, t)


def layer_norm_forward(x, weight, bias, eps):
    """LayerNorm over the last axis of x (rows, n): ``(y, mean, rstd)``; weight, bias (n,) or None."""
    if _backend == "numba":
        return _layer_norm.layer_norm_forward(x, weight, bias, eps)
    return _layer_norm.layer_norm_forward_reference(x, weight, bias, eps)


def layer_norm_backward(g, x, weight, mean, rstd):
    """``(dx, dweight, dbias)`` of LayerNorm from dL/dy ``g`` (rows, n) and the forward's mean, rstd."""
    if _backend == "numba":
        return _layer_norm.layer_norm_backward(g, x, weight, mean, rstd)
    return _layer_norm.layer_norm_backward_reference(g, x, weight, mean, rstd)


def cross_entropy_forward(logits, target, ignore_index=-100):
    """Per-row cost -log softmax(logits)[target] and log-sum-exp: ``(nll, lse)``, each (rows,)."""
    if _backend == "numba":
        return _cross_entropy.cross_entropy_forward(logits, target, ignore_index)
    return _cross_entropy.cross_entropy_forward_reference(logits, target, ignore_index)


def cross_entropy_backward(w, logits, target, lse, ignore_index=-100):
    """dL/dlogits (rows, C) = (softmax(logits) - onehot(target)) * w[:, None]; w (rows,)."""
    if _backend == "numba":
        return _cross_entropy.cross_entropy_backward(w, logits, target, lse, ignore_index)
    return _cross_entropy.cross_entropy_backward_reference(w, logits, target, lse, ignore_index)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """2-D convolution as im2col + ``W @ cols``: ``(y, cols)``, y (N, O, OH, OW); ``padding`` is
    (top, bottom, left, right), the others (h, w) pairs (see :mod:`micrograd_plus.kernels.conv`).
    ``cols`` is what :func:`conv2d_backward` needs (the compiled stride-1 path keeps the padded
    input instead); pass it on unchanged."""
    if _backend == "numba":
        return _conv.conv2d_forward(x, weight, bias, stride, padding, dilation, groups)
    return _conv.conv2d_forward_reference(x, weight, bias, stride, padding, dilation, groups)


def conv2d_backward(g, x_shape, weight, cols, stride, padding, dilation, groups, need_x=True, need_w=True,
                    need_b=True):
    """``(dx, dweight, dbias)`` of :func:`conv2d_forward` from dL/dy ``g`` (None where not needed)."""
    fn = _conv.conv2d_backward if _backend == "numba" else _conv.conv2d_backward_reference
    return fn(g, x_shape, weight, cols, stride, padding, dilation, groups, need_x, need_w, need_b)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """Max-pooling of x (N, C, H, W): ``(y, indices)``, indices into each H*W plane (int64)."""
    if _backend == "numba":
        return _conv.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    return _conv.max_pool2d_forward_reference(x, kernel, stride, padding, dilation, ceil_mode)


def max_pool2d_backward(g, indices, x_shape):
    """dx (N, C, H, W) of max-pooling: each output's gradient onto its maximum's pixel."""
    if _backend == "numba":
        return _conv.max_pool2d_backward(g, indices, x_shape)
    return _conv.max_pool2d_backward_reference(g, indices, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Average pooling of x (N, C, H, W) -> (N, C, OH, OW), PyTorch's divisors."""
    fn = _conv.avg_pool2d_forward if _backend == "numba" else _conv.avg_pool2d_forward_reference
    return fn(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool2d_backward(g, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """dx (N, C, H, W) of average pooling: each output's gradient spread over its window."""
    fn = _conv.avg_pool2d_backward if _backend == "numba" else _conv.avg_pool2d_backward_reference
    return fn(g, x_shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
