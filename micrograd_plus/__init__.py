"""micrograd_plus: a readable autograd library, from one neuron to a character-level GPT.

Two engines live here, and you can read them in this order:

* :mod:`micrograd_plus.scalar` -- ``Value``, one number and its gradient. Every operation is a
  few lines of Python; this is where backpropagation is easiest to see.
* :class:`micrograd_plus.Tensor` -- the same idea over whole numpy arrays, fast enough to train
  an MNIST classifier and a small GPT, because its matrix multiplications and attention run in
  numba-compiled loops (:mod:`micrograd_plus.kernels`).

The tensor world is imported lazily, so ``from micrograd_plus.scalar import Value`` stays light::

    from micrograd_plus import Tensor, nn, optim, functional as F

PyTorch's function spellings are here too: ``micrograd_plus.arange(5)``, ``micrograd_plus.cat``,
``micrograd_plus.exp(x)`` (the same as ``x.exp()``), ``micrograd_plus.einsum`` ... For what this
library answers differently from PyTorch, see the docs page "Differences from PyTorch".
"""

import importlib

__version__ = "0.1.0"

# name -> (module, attribute, or None for the module itself), or just the module when the
# attribute has the same name
_LAZY = {
    "Tensor": "micrograd_plus._tensor",
    "no_grad": "micrograd_plus.autograd", "enable_grad": "micrograd_plus.autograd",
    "is_grad_enabled": "micrograd_plus.autograd",
    "manual_seed": "micrograd_plus.random",
    "nn": ("micrograd_plus.nn", None),
    "optim": ("micrograd_plus.optim", None),
    "functional": ("micrograd_plus.functional", None),
    "gradcheck": ("micrograd_plus.gradcheck", None),
    "kernels": ("micrograd_plus.kernels", None),
    "data": ("micrograd_plus.data", None),
    "models": ("micrograd_plus.models", None),
    "scalar": ("micrograd_plus.scalar", None),
    # torch.tensor(data), torch.zeros, torch.cat, ...: creation functions and ops of several
    # tensors. The module that defines Tensor is micrograd_plus._tensor (PyTorch's torch/_tensor.py),
    # which leaves the name `tensor` free for the function, as in PyTorch.
    "tensor": "micrograd_plus._tensor", "device": "micrograd_plus._device",
    "zeros": "micrograd_plus._tensor", "ones": "micrograd_plus._tensor", "full": "micrograd_plus._tensor",
    "empty": "micrograd_plus._tensor", "zeros_like": "micrograd_plus._tensor", "ones_like": "micrograd_plus._tensor",
    "full_like": "micrograd_plus._tensor", "arange": "micrograd_plus._tensor", "linspace": "micrograd_plus._tensor",
    "eye": "micrograd_plus._tensor", "randn": "micrograd_plus._tensor", "rand": "micrograd_plus._tensor",
    "cat": "micrograd_plus._tensor", "stack": "micrograd_plus._tensor", "where": "micrograd_plus._tensor",
    "maximum": "micrograd_plus._tensor", "minimum": "micrograd_plus._tensor", "einsum": "micrograd_plus._tensor",
    # torch.exp(x), torch.sum(x, dim), ...: the function spellings of Tensor methods
    "exp": "micrograd_plus.functions", "expm1": "micrograd_plus.functions",
    "log": "micrograd_plus.functions", "log2": "micrograd_plus.functions",
    "log10": "micrograd_plus.functions", "log1p": "micrograd_plus.functions",
    "sqrt": "micrograd_plus.functions", "rsqrt": "micrograd_plus.functions",
    "square": "micrograd_plus.functions", "reciprocal": "micrograd_plus.functions",
    "sin": "micrograd_plus.functions", "cos": "micrograd_plus.functions",
    "erf": "micrograd_plus.functions", "tanh": "micrograd_plus.functions",
    "sigmoid": "micrograd_plus.functions", "relu": "micrograd_plus.functions",
    "abs": "micrograd_plus.functions", "sign": "micrograd_plus.functions",
    "floor": "micrograd_plus.functions", "ceil": "micrograd_plus.functions",
    "round": "micrograd_plus.functions", "trunc": "micrograd_plus.functions",
    "clamp": "micrograd_plus.functions", "clip": "micrograd_plus.functions",
    "isnan": "micrograd_plus.functions", "isinf": "micrograd_plus.functions",
    "isfinite": "micrograd_plus.functions", "sum": "micrograd_plus.functions",
    "mean": "micrograd_plus.functions", "prod": "micrograd_plus.functions",
    "std": "micrograd_plus.functions", "var": "micrograd_plus.functions",
    "norm": "micrograd_plus.functions", "max": "micrograd_plus.functions",
    "min": "micrograd_plus.functions", "amax": "micrograd_plus.functions",
    "amin": "micrograd_plus.functions", "argmax": "micrograd_plus.functions",
    "argmin": "micrograd_plus.functions", "all": "micrograd_plus.functions",
    "any": "micrograd_plus.functions", "logsumexp": "micrograd_plus.functions",
    "cumsum": "micrograd_plus.functions", "softmax": "micrograd_plus.functions",
    "log_softmax": "micrograd_plus.functions", "sort": "micrograd_plus.functions",
    "topk": "micrograd_plus.functions", "flip": "micrograd_plus.functions",
    "roll": "micrograd_plus.functions", "tril": "micrograd_plus.functions",
    "triu": "micrograd_plus.functions", "reshape": "micrograd_plus.functions",
    "flatten": "micrograd_plus.functions", "squeeze": "micrograd_plus.functions",
    "unsqueeze": "micrograd_plus.functions", "permute": "micrograd_plus.functions",
    "transpose": "micrograd_plus.functions", "gather": "micrograd_plus.functions",
    "scatter_add": "micrograd_plus.functions", "index_select": "micrograd_plus.functions",
    "matmul": "micrograd_plus.functions", "split": "micrograd_plus.functions",
    "chunk": "micrograd_plus.functions", "unbind": "micrograd_plus.functions",
    "masked_fill": "micrograd_plus.functions", "logical_not": "micrograd_plus.functions",
    "logical_and": "micrograd_plus.functions", "logical_or": "micrograd_plus.functions",
    "pow": "micrograd_plus.functions",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    """Import the tensor world on first use (PEP 562), keeping the scalar engine's import cheap."""
    if name not in _LAZY:
        raise AttributeError(f"module 'micrograd_plus' has no attribute {name!r}")
    entry = _LAZY[name]
    module_name, attr = (entry, name) if isinstance(entry, str) else entry
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
