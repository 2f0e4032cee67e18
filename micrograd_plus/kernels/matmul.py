"""Matrix multiplication kernels (placeholder: the numba kernels are being written).

Until then the "kernels" are the numpy references, so the rest of the library can be built.
"""

import numpy as np


def matmul_reference(a, b):
    """(M, K) @ (K, N) -> (M, N) with numpy."""
    return np.matmul(a, b)


def matmul_nt_reference(a, b):
    """(M, K) @ (N, K)ᵀ -> (M, N) with numpy."""
    return np.matmul(a, b.T)


def matmul_tn_reference(a, b):
    """(K, M)ᵀ @ (K, N) -> (M, N) with numpy."""
    return np.matmul(a.T, b)


matmul = matmul_reference
matmul_nt = matmul_nt_reference
matmul_tn = matmul_tn_reference
