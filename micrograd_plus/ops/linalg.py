"""Matrix multiplication, ``a @ b``, on the library's numba kernels.

For C = A B the local rules are dA = dC Bᵀ and dB = Aᵀ dC (the ``matmul_nt`` and ``matmul_tn``
kernels). Matrix products go through :mod:`micrograd_plus.kernels`, never straight to
``numpy.matmul``, except for truly batched products (both operands more than 2-D), integer
products, and products with a zero-size dimension (whose answer is all zeros or empty).
"""

import numpy as np

from micrograd_plus import kernels
from micrograd_plus.autograd import differentiable, result_dtype, unbroadcast


class LinalgOps:
    """``@`` (mixed into :class:`micrograd_plus.Tensor`)."""

    __slots__ = ()

    @differentiable
    def matmul(self, other):
        """Matrix product ``self @ other`` with PyTorch's (and numpy's) rules.

        (..., M, K) @ (K, N) -> (..., M, N), batch dims broadcast; a 1-D operand is a vector:
        (K,) @ (K, N) -> (N,), (M, K) @ (K,) -> (M,), and (K,) @ (K,) -> a 0-d dot product.
        The common case, (..., K) @ (K, N), flattens the leading dims into rows, so a whole batch
        is one 2-D product on the kernels.
        """
        o = self._operand(other, self)
        if o is None:
            raise TypeError(f"matmul: expected a Tensor or array, got {type(other).__name__}")
        return _matmul(self, o)

    @differentiable
    def __matmul__(self, other):
        o = self._operand(other, self)
        return NotImplemented if o is None else _matmul(self, o)

    @differentiable
    def __rmatmul__(self, other):
        o = self._operand(other, self)
        return NotImplemented if o is None else _matmul(o, self)


def _matmul(a, b):
    """Forward and backward of ``a @ b`` (see :meth:`LinalgOps.matmul`)."""
    sa, sb = a._data.shape, b._data.shape
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {sa} and {sb} (use * for scalars)")
    k_a, k_b = sa[-1], sb[0] if b._data.ndim == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {sa} and {sb} are not aligned: {k_a} (last dim of the first) != "
            f"{k_b} ({'size' if b._data.ndim == 1 else 'second-to-last dim'} of the second)"
        )
    dt = result_dtype(a._data.dtype, b._data.dtype)
    if a._data.dtype != dt:
        a = a.astype(dt)
    if b._data.dtype != dt:
        b = b.astype(dt)
    if a._data.ndim == 1 and b._data.ndim == 1:  # (K,) . (K,) -> (): the dot product
        A, B = a._data, b._data
        return a._result(np.asarray(np.dot(A, B)), (a, b), "matmul", lambda g: (g * B, g * A))
    if a._data.ndim == 1:  # (K,) @ (..., K, N): a as a (1, K) matrix, then drop that row dim
        out = _matmul(a.reshape(1, sa[0]), b)
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    if b._data.ndim == 1:  # (..., M, K) @ (K,): b as a (K, 1) column, then drop that column
        out = _matmul(a, b.reshape(sb[0], 1))
        return out.reshape(out.shape[:-1])
    A, B = a._data, b._data
    plain = dt.kind != "f" or A.size == 0 or B.size == 0  # integers, or nothing to multiply

    if B.ndim == 2 and not plain:
        # (..., M, K) @ (K, N): flatten all leading dims of A into rows -> one 2-D kernel call.
        K, N = sb
        A2 = A.reshape(-1, K)  # (rows, K)
        y = kernels.matmul(A2, B).reshape(sa[:-1] + (N,))  # (..., M, N)

        def backward(g):
            g2 = g.reshape(-1, N)  # (rows, N)
            ga = kernels.matmul_nt(g2, B).reshape(sa) if a.requires_grad else None  # dC Bᵀ
            gb = kernels.matmul_tn(A2, g2) if b.requires_grad else None  # Aᵀ dC  (K, N)
            return ga, gb

        return a._result(y, (a, b), "matmul", backward)

    # Truly batched (..., M, K) @ (..., K, N) with broadcasting batch dims, or the plain cases.
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {sa} and {sb} do not broadcast") from None
    y = np.matmul(A, B)  # (*batch, M, N); all zeros when K == 0

    def backward(g):
        ga = unbroadcast(np.matmul(g, np.swapaxes(B, -1, -2)), sa) if a.requires_grad else None
        gb = unbroadcast(np.matmul(np.swapaxes(A, -1, -2), g), sb) if b.requires_grad else None
        return ga, gb

    return a._result(y, (a, b), "matmul", backward)
