"""GELU and ReLU, forward and backward, as single compiled passes (with plain-numpy references beside them).

GELU is the transformer MLP's activation: ``gelu(x) = x * Phi(x)``, where ``Phi`` is the standard
normal CDF, so a neuron passes a positive input almost unchanged, silences a very negative one,
and bends smoothly in between. Its derivative is ``Phi(x) + x * phi(x)`` with ``phi`` the normal
density. GPT-2 used a tanh approximation of ``Phi``; PyTorch's default (and nanoGPT's) is exact.

Why kernels for an activation? In numpy each formula is a chain of passes over a big array (the
GPT's MLP activations are (B, T, 4C) = 393,216 numbers per layer), and the exact form is worse:
numpy has no ``erf``, so the reference calls ``math.erf`` once per element through Python, about
100 ns each. A compiled loop does the whole formula in one pass per element.

**How ``Phi`` is computed.**

* float64: ``Phi(x) = erfc(-x / sqrt(2)) / 2`` with the C library's ``erfc`` (exact to rounding;
  using erfc rather than ``1 + erf`` keeps full relative accuracy for very negative x).
* float32: a classic approximation (Abramowitz and Stegun, formula 7.1.26) evaluated in float32:
  for ``z = |x| / sqrt(2)`` and ``t = 1 / (1 + p z)``,
  ``erfc(z) ~ t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2)``, with absolute error below
  1.5e-7, float32's own resolution near 1. Then ``Phi(-|x|) = erfc(z) / 2`` and
  ``Phi(|x|) = 1 - Phi(-|x|)``. Written as plain arithmetic plus our vectorising ``fast_exp``
  (``-z^2 <= 0`` is exactly the range it covers), the loop runs on SIMD lanes, where ``math.erf``
  would be a library call per element.

The tanh form, ``0.5 x (1 + tanh(u))`` with ``u = sqrt(2/pi) (x + 0.044715 x^3)``, computes
``tanh(u) = sign(u) (1 - 2e / (1 + e))`` with ``e = exp(-2 |u|) <= 1``, again through ``fast_exp``.
Forward returns ``tanh(u)`` too, so backward does not recompute it.

ReLU, ``max(x, 0)``, is one comparison per element, and numpy already does it in one pass
(``np.maximum``); its gradient ``g * (y > 0)`` is two passes (a mask, then a product). What a
compiled loop adds there is the second core: on a convolutional network's activations
((64, 16, 28, 28) = 802,816 numbers in the MNIST CNN) the passes are long enough for two threads
to pay (see ``_RELU_PARALLEL_MIN``).

Every function takes arrays of any shape (float32 or float64) and returns new arrays of the
same shape and dtype. The references are the definitions the kernels are tested against.
"""

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from micrograd_plus.kernels._fastmath import FASTMATH_NO_REASSOC, fast_exp
from micrograd_plus.kernels._shared import kernel_array, threads_for

_FASTMATH = set(FASTMATH_NO_REASSOC)  # IEEE NaN/inf rules, no reordering: see _fastmath.py

__all__ = [
    "gelu_forward", "gelu_backward", "gelu_tanh_forward", "gelu_tanh_backward",
    "gelu_forward_reference", "gelu_backward_reference",
    "gelu_tanh_forward_reference", "gelu_tanh_backward_reference",
    "relu_forward", "relu_backward", "relu_forward_reference", "relu_backward_reference",
]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_K = math.sqrt(2.0 / math.pi)  # tanh form: u = K (x + C x^3)
_C = 0.044715
# Abramowitz & Stegun 7.1.26
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)

# Below this many elements one thread does the whole array: a parallel region costs ~1.5 µs to
# start (and threads that other processes may have descheduled), one thread takes ~0.75 ns per
# element of exact GELU in float32, so a second thread pays from a few thousand elements on.
_PARALLEL_MIN = 32_768
# ReLU is ~0.1 ns of work per element, so a second thread pays only on longer arrays. Measured
# (2-core Zen 4, quiet, float32, µs forward / backward): 8,192 elements numpy 3.9 / 3.7, one
# thread 4.7 / 5.0, two 6.3 / 6.5; 65,536: numpy 36.9 / 26.9, one 8.1 / 10.8, two 6.5 / 7.6;
# 802,816 (the MNIST CNN's first activations): numpy 442 / 353, one 79 / 123, two 44 / 60.
_RELU_PARALLEL_MIN = 65_536

_erf_elementwise = np.frompyfunc(math.erf, 1, 1)


# ---- the definitions in numpy (readable), then the public functions ---------------------------------------

def _phi_exact(x):
    """Phi(x) in float64 via math.erf, element by element (slow, exact)."""
    x64 = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.asarray(_erf_elementwise(x64 * _SQRT_HALF), dtype=np.float64))


def gelu_forward_reference(x):
    """Exact GELU ``x * Phi(x)``: same shape and dtype as ``x``."""
    x = np.asarray(x)
    return (x * _phi_exact(x)).astype(x.dtype, copy=False)


def gelu_backward_reference(g, x):
    """dL/dx of exact GELU given dL/dy ``g``: ``g * (Phi(x) + x * phi(x))``."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    pdf = np.exp(-0.5 * x64 * x64) * _INV_SQRT_2PI
    return (g * (_phi_exact(x) + x64 * pdf)).astype(x.dtype, copy=False)


def gelu_tanh_forward_reference(x):
    """Tanh-form GELU: returns ``(y, t)`` with ``t = tanh(K (x + C x^3))`` and ``y = 0.5 x (1 + t)``."""
    x = np.asarray(x)
    t = np.tanh(_K * (x + _C * x * x * x)).astype(x.dtype, copy=False)
    y = (0.5 * x * (1.0 + t)).astype(x.dtype, copy=False)
    return y, t


def relu_forward_reference(x):
    """ReLU ``max(x, 0)``: same shape and dtype as ``x`` (NaN stays NaN, -0.0 becomes 0.0)."""
    return np.maximum(x, 0).astype(np.asarray(x).dtype, copy=False)


def relu_backward_reference(g, y):
    """dL/dx of ReLU from dL/dy ``g`` and the forward's output ``y``: ``g`` where ``y > 0``, else 0
    (0 at x = 0, as in PyTorch)."""
    return (g * (y > 0)).astype(np.asarray(y).dtype, copy=False)


def gelu_tanh_backward_reference(g, x, t):
    """dL/dx of tanh-form GELU: ``g * (0.5 (1 + t) + 0.5 x (1 - t^2) K (1 + 3 C x^2))``."""
    x = np.asarray(x)
    d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _K * (1.0 + 3.0 * _C * x * x)
    return (g * d).astype(x.dtype, copy=False)


def gelu_forward(x):
    """Exact GELU ``x * Phi(x)`` in one compiled pass. Any shape; float32 or float64."""
    x = _float(x, "gelu_forward")
    y = np.empty(x.shape, x.dtype)
    _run(FORWARD, _flat(x, x.dtype, "gelu_forward"), y.reshape(-1))
    return y


def gelu_backward(g, x):
    """Exact GELU's input gradient ``g * (Phi(x) + x phi(x))``; g and x share shape and dtype."""
    x = _float(x, "gelu_backward")
    if np.shape(g) != x.shape:
        raise ValueError(f"gelu_backward: g has shape {np.shape(g)}, x has {x.shape}")
    dx = np.empty(x.shape, x.dtype)
    _run(BACKWARD, _flat(x, x.dtype, "gelu_backward"), dx.reshape(-1), _flat(g, x.dtype, "gelu_backward"))
    return dx


def gelu_tanh_forward(x):
    """Tanh-form GELU in one pass: returns ``(y, t)``, ``t = tanh(K (x + C x^3))`` kept for backward."""
    x = _float(x, "gelu_tanh_forward")
    y, t = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    _run(TANH_FORWARD, _flat(x, x.dtype, "gelu_tanh_forward"), y.reshape(-1), t.reshape(-1))
    return y, t


def gelu_tanh_backward(g, x, t):
    """Tanh-form GELU's input gradient from dL/dy ``g``, the input ``x`` and forward's ``t``."""
    x = _float(x, "gelu_tanh_backward")
    if np.shape(g) != x.shape or np.shape(t) != x.shape:
        raise ValueError(f"gelu_tanh_backward: shapes g {np.shape(g)}, x {x.shape}, t {np.shape(t)} differ")
    dx = np.empty(x.shape, x.dtype)
    _run(TANH_BACKWARD, _flat(x, x.dtype, "gelu_tanh_backward"), dx.reshape(-1), _flat(g, x.dtype, "gelu_tanh_backward"),
         _flat(t, x.dtype, "gelu_tanh_backward"))
    return dx


def relu_forward(x):
    """ReLU ``max(x, 0)`` in one compiled pass, on two threads for big arrays. Any shape; float32
    or float64; NaN stays NaN and -0.0 becomes 0.0, as with ``np.maximum(x, 0)``."""
    x = _float(x, "relu_forward")
    y = np.empty(x.shape, x.dtype)
    _run(RELU_FORWARD, _flat(x, x.dtype, "relu_forward"), y.reshape(-1), min_size=_RELU_PARALLEL_MIN)
    return y


def relu_backward(g, y):
    """ReLU's input gradient from dL/dy ``g`` and the forward's output ``y`` (same shape): ``g``
    where ``y > 0``, 0 elsewhere, in one pass (numpy's ``g * (y > 0)`` makes two)."""
    y = _float(y, "relu_backward")
    if np.shape(g) != y.shape:
        raise ValueError(f"relu_backward: g has shape {np.shape(g)}, y has {y.shape}")
    dx = np.empty(y.shape, y.dtype)
    _run(RELU_BACKWARD, _flat(y, y.dtype, "relu_backward"), dx.reshape(-1), _flat(g, y.dtype, "relu_backward"),
         min_size=_RELU_PARALLEL_MIN)
    return dx


# ---- the compiled scalar pieces ---------------------------------------------------------------
# inline="always": numba pastes these few lines into each loop that calls them. Left as calls,
# LLVM did not inline them and the loops ran one element at a time, 10x slower than on SIMD lanes.

def _phi_and_density(x):
    """``(Phi(x), phi(x))`` for one number; compiled code uses the typed versions below."""
    x = float(x)
    return 0.5 * math.erfc(-x * _SQRT_HALF), math.exp(-0.5 * x * x) * _INV_SQRT_2PI


@overload(_phi_and_density, inline="always", jit_options={"fastmath": _FASTMATH, "error_model": "numpy"})
def _phi_and_density_compiled(x):
    if x == types.float32:
        f = np.float32
        p, half, one, s, d = f(_P), f(0.5), f(1.0), f(_SQRT_HALF), f(_INV_SQRT_2PI)
        a1, a2, a3, a4, a5 = (f(a) for a in _A)

        def phi32(x):
            z = abs(x) * s
            t = one / (one + p * z)
            e = fast_exp(-z * z)  # exp(-x^2 / 2): shared by the tail and the density
            tail = half * t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5)))) * e  # Phi(-|x|)
            cdf = tail if x < 0 else one - tail
            return cdf, e * d

        return phi32
    if x == types.float64:
        s, d = _SQRT_HALF, _INV_SQRT_2PI

        def phi64(x):
            return 0.5 * math.erfc(-x * s), math.exp(-0.5 * x * x) * d

        return phi64
    return None


def _tanh_nonneg_exp(u):
    """tanh(u) through exp(-2|u|), which lies in (0, 1]; see the module docstring."""
    e = fast_exp(-2.0 * abs(u))
    t = 1.0 - (e + e) / (1.0 + e)
    return t if u >= 0 else -t


@overload(_tanh_nonneg_exp, inline="always", jit_options={"fastmath": _FASTMATH, "error_model": "numpy"})
def _tanh_compiled(u):
    if u == types.float32:
        one, two = np.float32(1.0), np.float32(2.0)

        def tanh32(u):
            e = fast_exp(-two * abs(u))
            # 1 - 2e / (1 + e) rather than (1 - e) / (1 + e): where e underflows to 0 this is
            # exactly 1, whereas fast-math's approximate division made the quotient 1 - 6e-8,
            # and backward's (1 - t^2) x^3 term then grew that into errors of 5e-5
            t = one - (e + e) / (one + e)
            return t if u >= 0 else -t

        return tanh32
    if u == types.float64:
        def tanh64(u):
            return math.tanh(u)  # float64 is for checking, so exactness over speed

        return tanh64
    return None


# ---- the loops over flat arrays ---------------------------------------------------------------
# One compiled loop, ``_gelu_loop``, holds all four formulas and runs one of them over flat 1-D
# arrays on the calling thread; ``_gelu_parallel`` cuts the arrays into one slice per
# thread and runs ``_gelu_loop`` on each (``prange``), which the entry points use for big arrays
# while the cores are free (:func:`_run`). Why one loop for four formulas rather than a function
# each? numba compiles every function on its own, and a ``parallel=True`` one compiles the machine
# code of the loop it calls once more: eight functions (a serial and a parallel one per formula)
# took 2.8 CPU s to compile in float32 and 2.1 s in float64, these two 1.4 and 0.9 s (2-core
# Zen 4, avx512f), and they run as fast. (Calling ``_gelu_parallel`` with one thread instead of
# ``_gelu_loop`` compiled no faster, the loop being compiled as its callee either way, and cost
# ~1 µs more per call.)

# which formula _gelu_loop applies
FORWARD, BACKWARD, TANH_FORWARD, TANH_BACKWARD, RELU_FORWARD, RELU_BACKWARD = 0, 1, 2, 3, 4, 5


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _gelu_loop(op, x, out, c, d):
    """Formula ``op`` over the flat arrays (n,), all of one dtype:

    * FORWARD:        out = y;                      exact GELU of x
    * BACKWARD:       out = dx, c = g;              exact GELU's gradient
    * TANH_FORWARD:   out = y, c = t (both written); the tanh form
    * TANH_BACKWARD:  out = dx, c = g, d = t;       its gradient

    Arrays a formula does not use may be any array of the dtype. The constants are made in
    the arrays' dtype, so float32 arithmetic stays float32.
    """
    f = x.dtype.type
    k, c1, c3, half, one = f(_K), f(_C), f(3.0 * _C), f(0.5), f(1.0)
    if op == FORWARD or op == BACKWARD:
        for i in range(x.size):
            cdf, pdf = _phi_and_density(x[i])  # (one call site: numba pastes its body in once)
            out[i] = x[i] * cdf if op == FORWARD else c[i] * (cdf + x[i] * pdf)
    elif op == TANH_FORWARD:
        for i in range(x.size):
            xi = x[i]
            ti = _tanh_nonneg_exp(k * (xi + c1 * xi * xi * xi))
            c[i] = ti
            out[i] = half * xi * (one + ti)
    else:
        for i in range(x.size):
            xi, ti = x[i], d[i]
            out[i] = c[i] * (half * (one + ti) + half * xi * (one - ti * ti) * k * (one + c3 * xi * xi))


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)
def _relu_loop(op, x, out, c):
    """RELU_FORWARD: out = max(x, 0); RELU_BACKWARD: out = dx from c = g and x = the forward's
    output y. A loop of its own: inside :func:`_gelu_loop` these two branches made LLVM compile
    exact GELU's forward loop 9x slower (2.7 ms against 0.31 ms over (768, 512), measured)."""
    zero, one = x.dtype.type(0.0), x.dtype.type(1.0)
    if op == RELU_FORWARD:
        for i in range(x.size):
            xi = x[i]
            out[i] = xi if (xi > zero or xi != xi) else zero  # NaN passes, as np.maximum's
    else:
        for i in range(x.size):
            out[i] = c[i] * (one if x[i] > zero else zero)  # g * (y > 0), inf * 0 = NaN included


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy", parallel=True)
def _gelu_parallel(op, x, out, c, d, chunks):
    """:func:`_gelu_loop` (or :func:`_relu_loop`) over ``chunks`` near-equal contiguous slices, side by side."""
    n = x.size
    for part in prange(chunks):
        lo, hi = part * n // chunks, (part + 1) * n // chunks
        if op >= RELU_FORWARD:
            _relu_loop(op, x[lo:hi], out[lo:hi], c[lo:hi])
        else:
            _gelu_loop(op, x[lo:hi], out[lo:hi], c[lo:hi], d[lo:hi])


# ---- what the public functions share ----------------------------------------------------------

def _flat(a, dtype, name):
    """A contiguous, writeable 1-D view (or copy) of ``a`` in ``dtype``: the loops index one flat array."""
    return kernel_array(a, dtype).reshape(-1)


def _run(op, x, out, c=None, d=None, min_size=None):
    """Formula ``op`` of :func:`_gelu_loop` over the flat arrays: on this thread, or with
    :func:`_gelu_parallel` for arrays of at least ``min_size`` (default ``_PARALLEL_MIN``)
    elements while the cores are free (:func:`~micrograd_plus.kernels._shared.threads_for`)."""
    c = out if c is None else c  # an unused argument: any array of the dtype
    d = out if d is None else d
    threads = threads_for(x.size, _PARALLEL_MIN if min_size is None else min_size, x.dtype)
    if threads > 1:
        _gelu_parallel(op, x, out, c, d, threads)
    elif op >= RELU_FORWARD:
        _relu_loop(op, x, out, c)
    else:
        _gelu_loop(op, x, out, c, d)


def _float(x, name):
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected a float32 or float64 array, got {x.dtype}")
    return x


