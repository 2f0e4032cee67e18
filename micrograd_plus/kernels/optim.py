"""The optimisers' hot loops: an Adam/AdamW update, an SGD (momentum) update and the squared norm of
a gradient, each as one compiled pass over a parameter (with plain-numpy references beside them).

One Adam step for a parameter ``p`` with gradient ``g`` and moments ``m``, ``v``
(:class:`micrograd_plus.optim.Adam` explains what each line means)::

    p = p * (1 - lr * weight_decay)           AdamW's decoupled decay   (decay = "decoupled")
    g = g + weight_decay * p                  Adam's L2 penalty         (decay = "l2")
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

Why a kernel? In numpy each line is a pass over the whole parameter, some with a temporary array
between them: about a dozen passes over every weight per step, 29 ms a step for the 10.7M
parameters of nanoGPT's Shakespeare model (measured below). The compiled loop reads ``p``, ``g``, ``m`` and ``v``
once and writes ``p``, ``m`` and ``v`` once.

**Exactly the reference's numbers.** The loop does numpy's operations in numpy's order, each
rounded to the parameter's dtype (float32 or float64), and is compiled *without* fast-math: no
fused multiply-adds, no reordering, IEEE square root and division. So its results are not merely
close to the reference's but equal, bit for bit, and a NaN or inf in a gradient spreads into the
moments and the weight exactly as it does in numpy. The tests hold them equal with
``assert_array_equal``.

The constants (``1 - lr * weight_decay``, ``1 - beta1``, ``lr / (1 - beta1**t)``, ...) are worked
out once per step in Python, in float64, and handed to the loop rounded to the parameter's dtype:
exactly what numpy does when a Python number meets a float32 array (NEP 50).

**Threads.** The update reads and writes memory and does little arithmetic, so one core already
moves nearly as many bytes as the machine's memory delivers. :func:`adam_update_many` (what
:class:`~micrograd_plus.optim.Adam` calls with all its parameters) deals whole parameters out to
two threads, about half of the numbers each, when there are at least :data:`PARALLEL_MIN` of them
and the cores are free (:func:`~micrograd_plus.kernels._shared.threads_for`): one hand-over per
step, not one per parameter. Measured on the 2-core Zen 4 development VM (avx512f), float32, the
39 parameters of the 10.7M GPT, median ms per step: numpy 29.2; this loop on one thread 7.7 at a
load average of 1.7, and at loads of 2.1-3.2 one thread 10.7-16.4 against 9.1-12.0 on two (while
two threads that split every parameter above 65,536 numbers in half gained nothing: 8.3 ms at
load 1.7). A ``prange`` twin would cost another 0.6 CPU s of compilation per dtype, so Adam has none.

:func:`sgd_update` does have one (:func:`_sgd_parallel`, float32 by default, like the other
``prange`` kernels): it splits one parameter of at least :data:`SGD_PARALLEL_MIN` numbers into a
contiguous chunk per thread. Not for the arithmetic but for the caches: in a small network's
training step the threads of the products before it (``x @ W.T``, then ``dW``) each touched about
half of ``W`` and of its gradient, so each core updates the rows already in its own cache.
Measured in the MNIST benchmark's training loop (784-128-10, batch 64, ``W`` 100,352 numbers;
2-core Zen 4, avx512f, alternating processes): the optimizer step 78-96 µs on one thread, 44-46 µs
split, and the epoch 0.45-0.48 s -> 0.41-0.44 s; alone, with the arrays in one core's cache, the
split breaks even at 32,768 numbers (4.7 µs either way) and wins above (100,352: 16.8 -> 10.5 µs).
Each number's update depends on that number alone, so the split gives the same bits. It costs
compilation, once (``python -m micrograd_plus.bench.compile_time``: the optimizer family in float32
took 0.36 s when it measured Adam alone, 1.4-1.9 s with SGD and its twin).

Every function takes C-contiguous arrays of one dtype, float32 or float64, and updates its
outputs in place; :func:`adam_update` checks that and says what was wrong.
"""

import functools
import math

import numpy as np
from numba import njit, prange

from micrograd_plus.kernels._shared import cut, run_in_threads, threads_for

__all__ = ["adam_update", "adam_update_many", "adam_update_reference", "sgd_update", "sgd_update_reference",
           "sum_of_squares", "sum_of_squares_reference", "adam_constants", "PARALLEL_MIN", "SGD_PARALLEL_MIN"]

#: Below this many numbers in all, one thread updates every parameter: measured on the 2-core
#: development VM, the 0.8M parameters of nanoGPT's CPU recipe take 0.8 ms on one thread, where
#: handing half of them to a second thread (~50 µs) and the memory they share leave little to win.
PARALLEL_MIN = 1_000_000

#: From this many numbers in one parameter, :func:`sgd_update` splits it over the threads (a
#: ``prange``), while the cores are free and the dtype is float32 (see
#: :func:`~micrograd_plus.kernels._shared.threads_for`).
SGD_PARALLEL_MIN = 32_768

_DECAY = {"none": 0, "decoupled": 1, "l2": 2}


# ---- the definitions in numpy (readable), then the public functions ---------------------------------------

def adam_update_reference(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decay="decoupled",
                          max_v=None):
    """One Adam(W) step in numpy, in place on ``p``, ``m`` and ``v`` (all the same shape and dtype).

    ``decay`` is ``"decoupled"`` (AdamW: shrink ``p``), ``"l2"`` (Adam: add ``weight_decay * p``
    to the gradient, in a new array: ``g`` is left alone) or ``"none"``; ``step`` is t, counted
    from 1. ``max_v`` (AMSGrad, which only this reference does): the running maximum of ``v``,
    updated in place and used in the denominator instead of ``v``. The formulas are PyTorch's,
    written as :class:`micrograd_plus.optim.Adam` documents.
    """
    shrink, wd, b1, c1, b2, c2, bc2_sqrt, eps, step_size = adam_constants(lr, beta1, beta2, eps, weight_decay, step)
    if decay == "decoupled" and weight_decay != 0:
        p *= shrink  # AdamW: shrink the weight itself
    elif decay == "l2" and weight_decay != 0:
        g = g + wd * p  # Adam: L2 penalty through the gradient
    m *= b1
    m += c1 * g  # m = beta1 m + (1 - beta1) g
    v *= b2
    v += c2 * (g * g)  # v = beta2 v + (1 - beta2) g^2
    if max_v is not None:  # AMSGrad: never let the denominator shrink
        np.maximum(max_v, v, out=max_v)
        v = max_v
    denom = np.sqrt(v)
    denom /= bc2_sqrt
    denom += eps
    p -= step_size * (m / denom)


def sgd_update_reference(p, g, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                         first=False):
    """One SGD step in numpy, in place on ``p`` (and on the momentum buffer ``buf``): PyTorch's rules,
    as :class:`micrograd_plus.optim.SGD` documents them. ``g`` is only read. ``buf`` (p's shape and
    dtype, or None without momentum) holds the running velocity; on the ``first`` step it is
    overwritten with the gradient, afterwards decayed by ``momentum`` and added to."""
    if weight_decay != 0:
        g = g + weight_decay * p  # a new array: g itself is left alone
    if momentum != 0:
        if first:
            buf[...] = g
        else:
            buf *= momentum
            buf += g if dampening == 0 else (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    p -= lr * g


def sgd_update(p, g, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, first=False):
    """One SGD step in one compiled pass: :func:`sgd_update_reference`'s arguments and its numbers,
    bit for bit (each operation rounded to p's dtype, in the same order, no fused multiply-add).

    Why: in numpy a momentum step is four passes over the parameter and a temporary array (the
    update ``lr * buf``); the loop reads ``p``, ``g`` and ``buf`` once. Measured on the MNIST
    classifier's 784-128-10 parameters (2-core Zen 4, avx512f, one thread): 49-52 µs a step in
    numpy, 22 µs compiled, about 25 ms of a 938-step epoch. ``p``, ``g`` and ``buf`` must be
    C-contiguous arrays of one dtype, float32 or float64 (what :class:`~micrograd_plus.optim.SGD`
    checks before it calls this; it uses the reference otherwise).

    Returns how many of ``p``'s new values are NaN or ±inf (0 in a healthy run), counted as they
    are written: a training loop that must stop when a weight stops being finite needs no second
    pass over the weights (:meth:`micrograd_plus.optim.Optimizer.step` records it).
    """
    if not isinstance(p, np.ndarray) or p.dtype.char not in "fd" or not p.dtype.isnative:  # float32, float64
        raise TypeError(f"sgd_update: expected float32 or float64 arrays, got {getattr(p, 'dtype', type(p).__name__)}")
    use_buf = momentum != 0
    arrays = [_flat(p, p.dtype, "p", True, "sgd_update"), _flat(g, p.dtype, "g", False, "sgd_update")]
    arrays.append(_flat(buf, p.dtype, "buf", True, "sgd_update") if use_buf else arrays[0])
    if g.shape != p.shape or (use_buf and buf.shape != p.shape):
        name, a = ("g", g) if g.shape != p.shape else ("buf", buf)
        raise ValueError(f"sgd_update: {name} has shape {a.shape}, p has {p.shape}")
    dt = p.dtype.type  # the constants as numpy rounds a Python number meeting p (NEP 50)
    args = (dt(lr), dt(momentum), dt(1.0 - dampening), dt(weight_decay),
            weight_decay != 0, use_buf, dampening != 0, bool(nesterov), bool(first))
    threads = threads_for(p.size, SGD_PARALLEL_MIN, p.dtype)
    if threads > 1:
        return _sgd_parallel(*arrays, *args, threads)  # contiguous chunks, one per thread: the same numbers
    return _sgd_flat(*arrays, *args)


def sum_of_squares_reference(g):
    """``sum(g * g)`` accumulated in float64, as a Python float (the squared 2-norm of ``g``)."""
    return float(np.square(g, dtype=np.float64).sum())


def adam_constants(lr, beta1, beta2, eps, weight_decay, step):
    """The per-step numbers of the update, as Python floats (float64), in the reference's order.

    Returns ``(shrink, wd, b1, c1, b2, c2, bc2_sqrt, eps, step_size)``: ``shrink = 1 - lr * wd``
    (AdamW), ``wd`` (Adam's L2), ``b1 = beta1``, ``c1 = 1 - beta1``, ``b2 = beta2``,
    ``c2 = 1 - beta2``, ``bc2_sqrt = sqrt(1 - beta2**t)``, ``eps`` and
    ``step_size = lr / (1 - beta1**t)``.
    """
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    return (1.0 - lr * weight_decay, weight_decay, beta1, 1.0 - beta1, beta2, 1.0 - beta2,
            math.sqrt(bias_correction2), eps, lr / bias_correction1)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decay="decoupled"):
    """One Adam(W) step in one compiled pass, in place on ``p``, ``m`` and ``v``.

    Same arguments and the same numbers, bit for bit, as :func:`adam_update_reference`. All four
    arrays share shape and dtype (float32 or float64) and are C-contiguous; ``g`` is only read.
    Returns how many of ``p``'s new values are NaN or ±inf, as :func:`sgd_update` does.
    """
    return _adam_flat(*_prepared(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decay))


def adam_update_many(updates):
    """Several parameters' updates, each a tuple of :func:`adam_update`'s arguments in that order.

    Every tuple is checked before any parameter changes. With at least :data:`PARALLEL_MIN`
    numbers in all while the cores are free, the parameters are dealt out to two threads (each
    one about half of the numbers; the loop releases the GIL), else they run one after another
    here. Each number's update is the same either way.

    Returns, for each update in order, how many of its parameter's new values are NaN or ±inf.
    """
    calls = [_prepared(*u) for u in updates]  # (p, g, m, v, mode, constants...) each
    threads = threads_for(sum(c[0].size for c in calls), PARALLEL_MIN)
    if threads == 1:
        return _run(calls)
    shares, sizes = [[] for _ in range(threads)], [0] * threads
    for i in sorted(range(len(calls)), key=lambda i: -calls[i][0].size):  # largest first, each to the lightest share
        t = sizes.index(min(sizes))
        shares[t].append(i)
        sizes[t] += calls[i][0].size
    results = run_in_threads([(_run, ([calls[i] for i in share],)) for share in shares])  # a list per share
    counts = [0] * len(calls)
    for share, share_counts in zip(shares, results):  # back in the order of the updates
        for i, count in zip(share, share_counts):
            counts[i] = count
    return counts


def sum_of_squares(g):
    """``sum(g * g)`` of a float32 or float64 array, accumulated in float64, as a Python float.

    What :func:`micrograd_plus.nn.utils.clip_grad_norm_` adds up: one pass over ``g`` instead of
    numpy's float64 copy of every gradient followed by a sum.
    """
    if g.dtype not in (np.float32, np.float64):
        raise TypeError(f"sum_of_squares: expected a float32 or float64 array, got {g.dtype}")
    return float(_sum_of_squares(np.ascontiguousarray(g).reshape(-1)))


# ---- the compiled loops ------------------------------------------------------------------------
# No fastmath at all (see the module docstring): each line is one rounded operation, as in numpy.

@njit(cache=True, error_model="numpy", nogil=True)
def _adam_flat(p, g, m, v, decay, shrink, wd, b1, c1, b2, c2, bc2_sqrt, eps, step_size):
    """The whole Adam(W) step for 1-D ``p, g, m, v``; the constants come in p's dtype.

    ``decay``: 0 none, 1 decoupled (AdamW), 2 L2 (Adam). Releases the GIL (a user's own threads
    may update different parameters side by side). Returns the count of NaN/±inf new values of
    ``p`` (counting them costs nothing measurable: the loop waits on memory).
    """
    bad = 0
    for i in range(p.size):
        pi, gi = p[i], g[i]
        if decay == 1:
            pi = pi * shrink
        elif decay == 2:
            gi = gi + wd * pi
        mi = m[i] * b1 + c1 * gi
        vi = v[i] * b2 + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * (mi / (np.sqrt(vi) / bc2_sqrt + eps))
        bad += not np.isfinite(p[i])  # as stored, in p's dtype
    return bad


@njit(cache=True, error_model="numpy", nogil=True)
def _sgd_flat(p, g, buf, lr, momentum, undamped, wd, decay, use_buf, damp, nesterov, first):
    """The whole SGD step for 1-D ``p, g, buf``, the constants in p's dtype, in the reference's
    order (``undamped`` is ``1 - dampening``; ``buf`` is unused without momentum). Returns the
    count of NaN/±inf new values of ``p`` (on the MNIST classifier's 100,352 weights, 15.6 µs
    with the count against 16.7 without: the loop waits on memory, not on arithmetic)."""
    bad = 0
    for i in range(p.size):
        gi = g[i]
        if decay:
            gi = gi + wd * p[i]
        if use_buf:
            if first:
                bi = gi
            else:
                bi = buf[i] * momentum
                bi = bi + (undamped * gi if damp else gi)
            buf[i] = bi
            gi = gi + momentum * bi if nesterov else bi
        p[i] = p[i] - lr * gi
        bad += not np.isfinite(p[i])  # as stored, in p's dtype
    return bad


@njit(cache=True, error_model="numpy", parallel=True)
def _sgd_parallel(p, g, buf, lr, momentum, undamped, wd, decay, use_buf, damp, nesterov, first, threads):
    """:func:`_sgd_flat` over ``threads`` contiguous chunks of the 1-D arrays, one chunk per thread.

    Each number's update depends on that number alone, so the chunks give the same bits as one
    pass. Chunks are whole runs of 16 numbers (:func:`~micrograd_plus.kernels._shared.cut`), so
    two threads share at most the one cache line at each boundary. Returns the count of NaN/±inf
    new values, all chunks together."""
    n = p.size
    bad = 0
    for t in prange(threads):
        lo, hi = cut(t, threads, (n + 15) // 16, 16, n)
        bad += _sgd_flat(p[lo:hi], g[lo:hi], buf[lo:hi], lr, momentum, undamped, wd, decay, use_buf, damp,
                         nesterov, first)
    return bad


@njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy", nogil=True)
def _sum_of_squares(g):
    """sum(g*g) over 1-D ``g`` in float64 (a sum: reordering it onto SIMD lanes is fine)."""
    s = 0.0
    for i in range(g.size):
        x = np.float64(g[i])
        s += x * x
    return s


# ---- what the public functions share ----------------------------------------------------------

def _flat(a, dtype, name, writable, what="adam_update"):
    """``a`` as a 1-D view, refusing what the loop cannot update in place (a copy would be lost)."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype:
        raise TypeError(f"{what}: {name} must be a {dtype} numpy array, got "
                        f"{getattr(a, 'dtype', type(a).__name__)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{what}: {name} must be C-contiguous (the update is written in place)")
    if writable and not a.flags.writeable:
        raise ValueError(f"{what}: {name} is read-only")
    return a.reshape(-1)


def _prepared(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step, decay="decoupled"):
    """The checked arguments of one :func:`_adam_flat` call (raises naming what is wrong)."""
    if p.dtype not in (np.float32, np.float64):
        raise TypeError(f"adam_update: expected float32 or float64 arrays, got {p.dtype}")
    if decay not in _DECAY:
        raise ValueError(f"adam_update: decay must be one of {sorted(_DECAY)}, got {decay!r}")
    for name, a in (("g", g), ("m", m), ("v", v)):
        if getattr(a, "shape", None) != p.shape:
            raise ValueError(f"adam_update: {name} has shape {getattr(a, 'shape', None)}, p has {p.shape}")
    flat = [_flat(p, p.dtype, "p", True), _flat(g, p.dtype, "g", False),
            _flat(m, p.dtype, "m", True), _flat(v, p.dtype, "v", True)]
    mode = _DECAY[decay] if weight_decay != 0 else 0
    return flat + [mode] + _rounded_constants(p.dtype.char, float(lr), float(beta1), float(beta2), float(eps),
                                              float(weight_decay), int(step))


@functools.lru_cache(maxsize=16)
def _rounded_constants(dtype_char, lr, beta1, beta2, eps, weight_decay, step):
    """:func:`adam_constants` rounded to the parameters' dtype, once per group and step (every
    parameter of a group shares them: rounding nine numbers per parameter cost ~3 µs each)."""
    dt = np.dtype(dtype_char).type
    return [dt(c) for c in adam_constants(lr, beta1, beta2, eps, weight_decay, step)]


def _run(calls):
    """Run prepared :func:`_adam_flat` calls one after another (on whichever thread this is);
    return each one's count of non-finite new values."""
    return [_adam_flat(*call) for call in calls]


