"""Causal self-attention kernels (placeholder: the numba kernels are being written).

Until then the "kernels" are the numpy references, so the rest of the library can be built.
"""

import numpy as np


def attention_forward_reference(q, k, v, scale, causal=True):
    """softmax(q kᵀ * scale + mask) v; q, k, v (B, H, T, D). Returns (out, P) with P (B, H, T, T)."""
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale  # (B, H, T, T)
    if causal:
        T = q.shape[-2]
        s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return np.matmul(p, v), p


def attention_backward_reference(dout, q, k, v, out, stats, scale, causal=True):
    """Gradients (dq, dk, dv) of the reference attention; ``stats`` is P from the forward."""
    p = stats  # (B, H, T, T)
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)  # (B, H, T, D)
    dp = np.matmul(dout, np.swapaxes(v, -1, -2))  # (B, H, T, T)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    dq = np.matmul(ds, k) * scale
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * scale
    return dq, dk, dv


attention_forward = attention_forward_reference
attention_backward = attention_backward_reference
