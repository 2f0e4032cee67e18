"""Training helpers that act on the gradients of many parameters at once."""

import math

import numpy as np

from micrograd_plus import kernels
from micrograd_plus._tensor import tensor
from micrograd_plus.kernels import optim as kernel_optim

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients down together so that their overall norm is at most ``max_norm``.

    The gradients of all parameters are treated as one long vector ``g``. Its norm
    ``||g|| = sqrt(sum of every squared gradient element)`` measures how big the step is about to
    be. One unlucky batch can give a huge gradient and throw the weights far away; clipping
    rescales every gradient by ``max_norm / ||g||`` when ``||g|| > max_norm``, keeping the
    *direction* of the step and capping its *length*. GPT training clips at 1.0.

    Args:
        parameters: an iterable of parameters (or a single one); those with ``grad is None``
            are skipped.
        max_norm: the largest allowed norm.
        norm_type: which p-norm (2.0 by default; ``float("inf")`` for the largest absolute value).
        error_if_nonfinite: raise ``RuntimeError`` if the norm is nan or inf (otherwise the
            gradients are left as they are in that case).

    Returns:
        The total norm *before* clipping, as a 0-d Tensor of the gradients' dtype, as in PyTorch
        (``norm.item()`` to log it).
    """
    if hasattr(parameters, "grad"):
        parameters = [parameters]
    grads = [p._grad._data for p in parameters if p._grad is not None]  # the arrays, changed in place
    if not grads:
        return tensor(0.0)
    total = _total_norm(grads, max_norm, norm_type, error_if_nonfinite)
    return tensor(total, dtype=grads[0].dtype)


def _total_norm(grads, max_norm, norm_type, error_if_nonfinite):
    """The total norm of the arrays ``grads`` (a Python float), after scaling them in place when it exceeds ``max_norm``."""
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        # Accumulate in float64: a sum of a million float32 squares loses digits in float32.
        # Deliberately not `g @ g`: that is a BLAS call, whose own threads spin against numba's
        # and made this 20x slower inside GPT training. The compiled sum reads each gradient
        # once; numpy's reference makes a float64 copy of it first. For the 10.7M GPT's
        # gradients (2-core Zen 4, avx512f, load 1.7): 10.7 ms with numpy, 2.4 ms compiled.
        sum_of_squares = (kernel_optim.sum_of_squares if kernels.get_backend() == "numba"
                          else kernel_optim.sum_of_squares_reference)
        total = 0.0
        for g in grads:
            if norm_type == 2.0:
                total += sum_of_squares(g)
            else:
                total += float((np.abs(g).astype(np.float64) ** norm_type).sum())
        total = total ** (1.0 / norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise RuntimeError(f"the total norm of the gradients is {total}; "
                               "clip_grad_norm_ cannot rescale non-finite gradients")
        return total
    coef = max_norm / (total + 1e-6)  # the small constant avoids dividing by zero
    if coef < 1.0:
        for g in grads:
            g *= np.asarray(coef, dtype=g.dtype)  # in place, in the gradient's own dtype
    return total
