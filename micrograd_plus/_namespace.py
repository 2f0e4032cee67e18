"""PyTorch's top-level names that are not operations: dtype names (``torch.float32``,
``torch.long`` ...), the default dtype and device, ``from_numpy`` and ``is_tensor``.

The dtypes *are* numpy's (``micrograd_plus.float32 is numpy.dtype("float32")``), because a
Tensor's data is a numpy array: ``x.dtype == torch.float32`` holds and ``dtype=torch.long`` works
wherever a dtype is taken. PyTorch's dtypes that numpy lacks (``bfloat16``) and the complex
dtypes (outside what this library differentiates) raise one line saying so.
"""

import numpy as np

from micrograd_plus._device import CPU
from micrograd_plus._tensor import Tensor, _leaf, _wrap, tensor
from micrograd_plus.autograd import check_numeric
from micrograd_plus.random import _check_cpu

__all__ = [
    "DTYPES", "from_numpy", "is_tensor", "is_floating_point", "set_default_dtype", "get_default_dtype",
    "set_default_device", "get_default_device", "numel", "equal", "allclose", "isclose", "as_tensor", "mm", "bmm",
    "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
    "ByteTensor", "BoolTensor", "bincount",
]

DTYPES = {
    "float32": np.dtype(np.float32), "float": np.dtype(np.float32),
    "float64": np.dtype(np.float64), "double": np.dtype(np.float64),
    "float16": np.dtype(np.float16), "half": np.dtype(np.float16),
    "int8": np.dtype(np.int8), "uint8": np.dtype(np.uint8),
    "int16": np.dtype(np.int16), "short": np.dtype(np.int16),
    "int32": np.dtype(np.int32), "int": np.dtype(np.int32),
    "int64": np.dtype(np.int64), "long": np.dtype(np.int64),
    "uint16": np.dtype(np.uint16), "uint32": np.dtype(np.uint32), "uint64": np.dtype(np.uint64),
    "bool": np.dtype(np.bool_),
}
"""PyTorch's dtype names -> numpy dtypes, as ``micrograd_plus.<name>``."""

MISSING_DTYPES = {
    "bfloat16": "numpy has no bfloat16",
    "complex32": "complex tensors are not supported", "complex64": "complex tensors are not supported",
    "complex128": "complex tensors are not supported", "cfloat": "complex tensors are not supported",
    "cdouble": "complex tensors are not supported", "chalf": "complex tensors are not supported",
    "float8_e4m3fn": "numpy has no 8-bit floats", "float8_e5m2": "numpy has no 8-bit floats",
    "qint8": "quantized tensors are not supported", "quint8": "quantized tensors are not supported",
}
"""PyTorch dtype names this library does not have, and why (used for a one-line AttributeError)."""


def from_numpy(ndarray):
    """A Tensor that *shares* ``ndarray``'s memory and dtype (``torch.from_numpy``): changing one
    changes the other. float64 stays float64, int64 stays int64."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    return _leaf(check_numeric(ndarray))


def is_tensor(obj):
    """True if ``obj`` is a Tensor (or a Parameter)."""
    return isinstance(obj, Tensor)


def is_floating_point(input):
    """True if ``input`` (a Tensor) holds floating-point numbers."""
    return input.dtype.kind == "f"


def get_default_dtype():
    """The dtype Python floats become: float32, as in PyTorch."""
    return DTYPES["float32"]


def set_default_dtype(d):
    """Accepts float32 (the default, so nothing changes); any other dtype raises one line.

    This library's default is fixed at float32 (every op's rule for "ints become floats" uses
    it); for float64 work, make the tensors float64 (``dtype=torch.float64``, ``model.double()``).
    """
    if np.dtype(d) != np.float32:
        raise NotImplementedError(f"set_default_dtype({np.dtype(d)}): micrograd_plus's default dtype is fixed at "
                                  "float32; pass dtype=torch.float64 to the tensors (and model.double()) instead")


def get_default_device():
    """Where tensors are made: the CPU (the only device here)."""
    return CPU


def set_default_device(device):
    """Accepts ``"cpu"`` (or a cpu device, or None); another device raises one line (this library
    computes on the CPU only)."""
    _check_cpu(device, "set_default_device")


def numel(input):
    """The number of elements of ``input``."""
    return input.numel()


def _array(x):
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x)


def equal(input, other):
    """True if the two tensors have the same shape and the same elements (a Python bool)."""
    a, b = _array(input), _array(other)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere (PyTorch's defaults)."""
    return bool(np.allclose(_array(input), _array(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input - other| <= atol + rtol * |other|``: a bool Tensor."""
    return _wrap(np.isclose(_array(input), _array(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


def as_tensor(data, dtype=None, device=None):
    """``data`` as a Tensor, sharing memory with a numpy array (or returning a Tensor itself) when
    no conversion is needed, copying otherwise -- ``torch.as_tensor``."""
    _check_cpu(device, "as_tensor()")
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype):
        return from_numpy(data)
    return tensor(data.numpy() if isinstance(data, Tensor) else data, dtype=dtype)  # a converted copy


def mm(input, mat2):
    """The product of two matrices, (n, m) @ (m, p) -> (n, p); other shapes are refused (use matmul)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm multiplies two 2-D matrices, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}")
    return input @ mat2


def bmm(input, mat2):
    """A batch of matrix products, (b, n, m) @ (b, m, p) -> (b, n, p); both must be 3-D with one batch size."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm multiplies two 3-D batches of matrices of one batch size, got shapes "
                         f"{tuple(input.shape)} and {tuple(mat2.shape)}")
    return input @ mat2


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ..., max occurs in ``input`` (1-D, non-negative integers): an int64
    tensor of length ``max(input.max() + 1, minlength)``. With ``weights`` (shaped like ``input``),
    the sums of the weights instead: float32 for float32 weights, float64 otherwise (as in PyTorch).
    No gradient (PyTorch has none either)."""
    x = _array(input)
    if x.ndim != 1 or x.dtype.kind not in "iu" or (x.size and x.min() < 0):
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got dtype {x.dtype} "
                           f"and shape {x.shape}")
    if weights is None:
        return tensor(np.bincount(x, minlength=minlength).astype(np.int64))
    w = _array(weights)
    if w.shape != x.shape:
        raise ValueError(f"bincount: weights must be shaped like input {x.shape}, got {w.shape}")
    out_dtype = np.float32 if w.dtype == np.float32 else np.float64
    return tensor(np.bincount(x, weights=w, minlength=minlength).astype(out_dtype))


class _LegacyTensorType(type):
    """PyTorch's typed constructors from before ``torch.tensor`` existed (``torch.LongTensor([1, 2])``),
    still common in tutorials: ``T(data)`` copies data with the type's dtype, ``T(2, 3)`` (ints) makes
    a tensor of that shape (zeros here, uninitialised in PyTorch), ``T()`` an empty one; and
    ``isinstance(t, torch.LongTensor)`` asks whether ``t`` is an int64 Tensor, as in PyTorch."""

    def __call__(cls, *args, device=None):
        _check_cpu(device, f"{cls.__name__}()")
        if not args:
            return tensor(np.zeros(0, dtype=cls.dtype))
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return tensor(np.zeros(tuple(int(a) for a in args), dtype=cls.dtype))  # a shape, as in PyTorch
        if len(args) > 1:
            raise TypeError(f"{cls.__name__}() takes either sizes (ints) or one sequence of data, got {args!r}")
        return tensor(args[0], dtype=cls.dtype)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy(name, dtype):
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype), "__doc__": f"A {np.dtype(dtype)} tensor: "
                                        f"``{name}(data)`` or ``{name}(*sizes)`` (PyTorch's legacy constructor)."})


FloatTensor = _legacy("FloatTensor", np.float32)
DoubleTensor = _legacy("DoubleTensor", np.float64)
HalfTensor = _legacy("HalfTensor", np.float16)
LongTensor = _legacy("LongTensor", np.int64)
IntTensor = _legacy("IntTensor", np.int32)
ShortTensor = _legacy("ShortTensor", np.int16)
CharTensor = _legacy("CharTensor", np.int8)
ByteTensor = _legacy("ByteTensor", np.uint8)
BoolTensor = _legacy("BoolTensor", np.bool_)
