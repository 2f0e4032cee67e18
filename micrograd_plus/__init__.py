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

from micrograd_plus.ops import METHODS_AS_FUNCTIONS  # a tuple of names: ops/__init__.py imports nothing

__version__ = "0.1.0"

# What the front door offers, each name written once: the modules a reader imports by name, and
# the names each module gives (imported on first use, so that the scalar engine stays light).
_SUBMODULES = ("nn", "optim", "functional", "gradcheck", "kernels", "data", "models", "scalar")
_NAMES_FROM = {
    "micrograd_plus._tensor": (
        "Tensor",
        # torch.tensor(data), torch.zeros, torch.cat, ...: creation functions and ops of several
        # tensors. The module that defines Tensor is micrograd_plus._tensor (PyTorch's torch/_tensor.py),
        # which leaves the name `tensor` free for the function, as in PyTorch.
        "tensor", "zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "arange",
        "linspace", "eye", "randn", "rand", "cat", "stack", "where", "maximum", "minimum", "einsum",
    ),
    "micrograd_plus._device": ("device",),
    "micrograd_plus.autograd": ("no_grad", "enable_grad", "is_grad_enabled"),
    "micrograd_plus.random": ("manual_seed",),
    # torch.exp(x), torch.sum(x, dim), ...: the function spellings of Tensor methods (the list of
    # names is micrograd_plus.ops.METHODS_AS_FUNCTIONS, beside the methods themselves)
    "micrograd_plus._methods_as_functions": METHODS_AS_FUNCTIONS + ("pow",),
}

# name -> (module, attribute), attribute None for a module itself
_LAZY = {name: (f"micrograd_plus.{name}", None) for name in _SUBMODULES}
_LAZY.update({name: (module, name) for module, names in _NAMES_FROM.items() for name in names})

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
