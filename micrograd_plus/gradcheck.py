"""Check a backward pass against numerical derivatives (central differences).

Backpropagation computes every derivative of a loss in one backward sweep, using each
operation's *local* derivative rule. A bug in one rule silently gives wrong gradients, and the
network still trains, just badly. The cure is to compare against the definition of a
derivative, which needs no rules at all::

    df/dx  ~=  (f(x + eps) - f(x - eps)) / (2 * eps)

This *central* difference has error O(eps**2), so with ``eps = 1e-6`` in float64 it agrees with
the true derivative to about 1e-9 for smooth functions -- far tighter than any real bug.

It is slow (two evaluations of ``f`` per input element), which is why it is a test tool and not
how we train. :func:`gradcheck` works for both engines:

* scalar inputs: :class:`micrograd_plus.scalar.Value` objects;
* tensor inputs: float64 :class:`micrograd_plus.Tensor` objects with ``requires_grad=True``.

A tensor-valued output is reduced to one number as ``sum(out * w)`` with a fixed random ``w``,
so every output element's gradient is exercised (``w`` is what ``out.backward(w)`` receives).

Example::

    from micrograd_plus.scalar import Value
    from micrograd_plus.gradcheck import gradcheck

    a, b = Value(1.5), Value(-0.3)
    gradcheck(lambda a, b: (a * b).tanh(), [a, b])   # True, or raises GradcheckError
"""

import numpy as np

from micrograd_plus.scalar import Value

DEFAULT_EPS = 1e-6
"""Step size of the central difference. Small enough for O(eps**2) truncation error to vanish,
large enough that float64 rounding (about 1e-16 / eps = 1e-10) stays negligible."""

DEFAULT_ATOL = 1e-5
"""Absolute tolerance: analytic and numeric derivatives may differ by ``atol + rtol * |numeric|``."""

DEFAULT_RTOL = 1e-3
"""Relative tolerance (the same defaults as ``torch.autograd.gradcheck``)."""


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with the numerical one.

    The message names the input (by position), the element (by index), both values and how
    many elements of that input disagree.
    """


def numerical_gradient(f, x, eps=DEFAULT_EPS):
    """Central-difference gradient of a scalar function of an array.

    Args:
        f: callable taking a float64 array shaped like ``x`` and returning a float.
        x: the point at which to differentiate (any shape; it is not modified).
        eps: the step size.

    Returns:
        An array shaped like ``x`` whose element ``i`` is
        ``(f(x + eps*e_i) - f(x - eps*e_i)) / (2*eps)``.
    """
    x = np.array(x, dtype=np.float64)  # a private copy we may perturb
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = float(f(x))
        flat[i] = old - eps
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def _is_value(obj):
    return isinstance(obj, Value)


def _compare(name, analytic, numeric, atol, rtol):
    """Return None if the two gradients agree, else a message describing the worst element."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        return f"{name}: gradient has shape {analytic.shape}, expected {numeric.shape}"
    both_nan = np.isnan(analytic) & np.isnan(numeric)
    close = np.isclose(analytic, numeric, atol=atol, rtol=rtol) | both_nan
    if close.all():
        return None
    err = np.where(close, 0.0, np.abs(analytic - numeric))
    err = np.where(np.isnan(err), np.inf, err)
    worst = np.unravel_index(int(np.argmax(err)), analytic.shape) if analytic.ndim else ()
    return (
        f"{name}: {int((~close).sum())} of {close.size} gradient elements disagree; "
        f"worst at index {tuple(int(i) for i in worst)}: analytic {float(analytic[worst]):.10g}, "
        f"numerical {float(numeric[worst]):.10g} (atol={atol:g}, rtol={rtol:g})"
    )


def _check_values(fn, inputs, eps, atol, rtol):
    for v in inputs:
        v.grad = 0.0
    out = fn(*inputs)
    out.backward()
    analytic = [v.grad for v in inputs]
    problems = []
    for i, v in enumerate(inputs):
        original = v.data

        def f(x, v=v):
            v.data = float(x)
            return fn(*inputs).data

        numeric = numerical_gradient(f, np.float64(original), eps)
        v.data = original
        msg = _compare(f"input {i} (Value)", analytic[i], numeric, atol, rtol)
        if msg:
            problems.append(msg)
    return problems


def _check_tensors(fn, inputs, eps, atol, rtol, seed):
    # Imported here, not at the top: the tensor engine loads numba (seconds), and checking the
    # scalar engine's gradients should not pay for that.
    from micrograd_plus._tensor import Tensor, no_grad

    checked = []
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad:
            if t.dtype != np.float64:
                raise TypeError(
                    f"gradcheck needs float64 inputs, but input {i} is {t.dtype}: "
                    "float32 rounding (about 1e-7) swamps a 1e-6 step; use .double() or dtype=np.float64"
                )
            t.grad = None
            checked.append(i)
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    out = fn(*inputs)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(out.shape)  # random projection: loss = sum(out * w)
    out.backward(w.astype(out.dtype) if out.shape else np.float64(w))
    problems = []
    for i in checked:
        t = inputs[i]
        analytic = t.grad.numpy() if t.grad is not None else np.zeros_like(t.numpy())
        original = t.numpy().copy()

        def f(x, t=t):
            t.numpy()[...] = x  # the input's own array: nudged, then restored below
            with no_grad():
                return float(np.sum(fn(*inputs).numpy() * w))

        numeric = numerical_gradient(f, original, eps)
        t.numpy()[...] = original
        msg = _compare(f"input {i} (Tensor of shape {tuple(t.shape)}; gradient of sum(w * output), "
                       f"w a fixed random array)", analytic, numeric, atol, rtol)
        if msg:
            problems.append(msg)
    return problems


def gradcheck(fn, inputs, *, eps=DEFAULT_EPS, atol=DEFAULT_ATOL, rtol=DEFAULT_RTOL, seed=0,
              raise_exception=True):
    """Compare ``fn``'s backward pass with central differences at ``inputs``.

    Args:
        fn: a function of the inputs that builds a graph and returns a ``Value`` or ``Tensor``.
            It is called many times, so it must be pure (no randomness, no state).
        inputs: a list of ``Value`` objects, or of ``Tensor`` objects (those with
            ``requires_grad=True`` must be float64 and are checked; others, such as class-index
            targets, are passed through).
        eps, atol, rtol: step size and tolerances; see :data:`DEFAULT_EPS` and friends.
        seed: seeds the random projection ``w`` used for tensor-valued outputs.
        raise_exception: if True (the default) raise :class:`GradcheckError` on a mismatch,
            otherwise return False.

    Returns:
        True if every checked gradient element agrees.
    """
    inputs = list(inputs)
    if inputs and all(_is_value(v) for v in inputs):
        problems = _check_values(fn, inputs, eps, atol, rtol)
    else:
        problems = _check_tensors(fn, inputs, eps, atol, rtol, seed)
    if problems:
        if raise_exception:
            raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(problems))
        return False
    return True
