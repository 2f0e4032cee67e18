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
    "tensor": ("micrograd_plus.tensor", "tensor"),
    "no_grad": ("micrograd_plus.tensor", "no_grad"),
    "zeros": ("micrograd_plus.tensor", "zeros"),
    "ones": ("micrograd_plus.tensor", "ones"),
    "randn": ("micrograd_plus.tensor", "randn"),
    "cat": ("micrograd_plus.tensor", "cat"),
    "stack": ("micrograd_plus.tensor", "stack"),
    "where": ("micrograd_plus.tensor", "where"),
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
