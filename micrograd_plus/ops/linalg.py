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
    # integers, float16 (the kernels take float32 and float64), or nothing to multiply
    plain = dt not in (np.float32, np.float64) or A.size == 0 or B.size == 0

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
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of {sa} and {sb} do not broadcast") from None
    M, K, N = sa[-2], sa[-1], sb[-1]
    if plain or not _per_matrix_on_kernels(M, N, K):
        y = np.matmul(A, B)  # (*batch, M, N); all zeros when K == 0

        def backward(g):
            ga = unbroadcast(np.matmul(g, np.swapaxes(B, -1, -2)), sa) if a.requires_grad else None
            gb = unbroadcast(np.matmul(np.swapaxes(A, -1, -2), g), sb) if b.requires_grad else None
            return ga, gb

        return a._result(y, (a, b), "matmul", backward)

    y = _each_matrix(kernels.matmul, A, B, batch, (M, N))  # (*batch, M, N)

    def backward(g):  # g (*batch, M, N)
        ga = unbroadcast(_each_matrix(kernels.matmul_nt, g, B, batch, (M, K)), sa) if a.requires_grad else None
        gb = unbroadcast(_each_matrix(kernels.matmul_tn, A, g, batch, (K, N)), sb) if b.requires_grad else None
        return ga, gb

    return a._result(y, (a, b), "matmul", backward)


def _per_matrix_on_kernels(M, N, K):
    """Whether a batched product's (M, K) @ (K, N) matrices go one by one to the kernels (True), or
    the whole batch to one ``np.matmul`` (small matrices, which the kernels would hand to numpy's
    BLAS one by one anyway, or the ``"numpy"`` backend).

    Why not always ``np.matmul``: numpy's BLAS multiplies matrices this size on threads of its own,
    which then keep spinning on the cores for milliseconds; the kernels' next threaded product ran at
    one thread's speed beside them (measured, 2-core Zen 4: (2048, 384) @ (384, 1536) took 24 ms
    right after ``(8, 6, 256, 64) @ (8, 6, 64, 256)`` in numpy, 12 ms alone). A hand-written
    attention, ``q @ k.transpose(-2, -1)``, is such a product in every step.
    """
    return kernels.get_backend() == "numba" and not kernels.matmul_goes_to_blas(M, N, K)


def _each_matrix(product, X, Y, batch, shape):
    """``product(X[i], Y[i])`` for every index i of the broadcast ``batch`` dims, into a new
    (*batch, *shape) array. X and Y are (..., r, c) arrays whose batch dims broadcast to
    ``batch``: a dim of size 1 (or a missing one) is the same matrix for every i."""
    out = np.empty(batch + shape, dtype=np.result_type(X.dtype, Y.dtype))
    for i in np.ndindex(*batch):
        out[i] = product(X[_own_index(i, X)], Y[_own_index(i, Y)])  # (r, c) matrices, any strides
    return out


def _own_index(i, X):
    """The index into X's own batch dims that broadcast index ``i`` reads."""
    dims = X.shape[:-2]
    skip = len(i) - len(dims)
    return tuple(0 if size == 1 else i[skip + d] for d, size in enumerate(dims))
