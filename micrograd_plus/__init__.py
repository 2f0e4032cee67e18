"""micrograd_plus: a readable autograd library, from one neuron to a character-level GPT.

Two engines live here, and you can read them in this order:

* :mod:`micrograd_plus.scalar` -- ``Value``, one number and its gradient. Every operation is a
  few lines of Python; this is where backpropagation is easiest to see.
* :class:`micrograd_plus.Tensor` -- the same idea over whole numpy arrays, fast enough to train
  an MNIST classifier and a small GPT, because its matrix multiplications and attention run in
  numba-compiled loops (:mod:`micrograd_plus.kernels`).

The tensor world is imported lazily, so ``from micrograd_plus.scalar import Value`` stays light::

    from micrograd_plus import Tensor, nn, optim, functional as F
"""

import importlib

__version__ = "0.1.0"

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "Tensor": ("micrograd_plus.tensor", "Tensor"),
    "no_grad": ("micrograd_plus.autograd", "no_grad"),
    "enable_grad": ("micrograd_plus.autograd", "enable_grad"),
    "is_grad_enabled": ("micrograd_plus.autograd", "is_grad_enabled"),
    "manual_seed": ("micrograd_plus.random", "manual_seed"),
    "nn": ("micrograd_plus.nn", None),
    "optim": ("micrograd_plus.optim", None),
    "functional": ("micrograd_plus.functional", None),
    "gradcheck": ("micrograd_plus.gradcheck", None),
    "kernels": ("micrograd_plus.kernels", None),
    "data": ("micrograd_plus.data", None),
    "models": ("micrograd_plus.models", None),
    "scalar": ("micrograd_plus.scalar", None),
}
# torch.zeros, torch.cat, ...: creation functions and ops of several tensors
# (``torch.tensor(data)`` is ``micrograd_plus.tensor.tensor(data)`` here: the name ``micrograd_plus.tensor``
# is the module that defines Tensor.)
for _name in ("zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like",
              "arange", "linspace", "eye", "randn", "rand", "cat", "stack", "where", "maximum",
              "minimum", "einsum"):
    _LAZY[_name] = ("micrograd_plus.tensor", _name)
# torch.exp(x), torch.sum(x, dim), ...: the function spellings of Tensor methods. (Listed here
# rather than imported from micrograd_plus.functions, so that importing the scalar engine stays light.)
for _name in ("exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "square",
              "reciprocal", "sin", "cos", "erf", "tanh", "sigmoid", "relu", "abs", "sign", "floor",
              "ceil", "round", "trunc", "clamp", "clip", "isnan", "isinf", "isfinite", "sum", "mean",
              "prod", "std", "var", "norm", "max", "min", "amax", "amin", "argmax", "argmin", "all",
              "any", "logsumexp", "cumsum", "softmax", "log_softmax", "sort", "topk", "flip", "roll",
              "tril", "triu", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose",
              "gather", "scatter_add", "index_select", "matmul", "split", "chunk", "unbind",
              "masked_fill", "logical_not", "logical_and", "logical_or", "pow"):
    _LAZY[_name] = ("micrograd_plus.functions", _name)
del _name

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    """Import the tensor world on first use (PEP 562), keeping the scalar engine's import cheap."""
    if name not in _LAZY:
        raise AttributeError(f"module 'micrograd_plus' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
