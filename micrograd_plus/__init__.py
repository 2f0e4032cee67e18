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
_SUBMODULES = ("nn", "optim", "functional", "gradcheck", "kernels", "data", "models", "scalar",
               "autograd", "utils", "cuda", "accelerator", "backends")
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
    "micrograd_plus._size": ("Size",),  # what t.shape and t.size() are (torch.Size)
    "micrograd_plus.autograd": ("no_grad", "enable_grad", "is_grad_enabled", "inference_mode", "set_grad_enabled"),
    "micrograd_plus.random": ("manual_seed", "Generator", "seed", "initial_seed", "get_rng_state", "set_rng_state",
                              "default_generator"),
    # torch.randint, torch.multinomial, ...: random integers and draws (int64, as in PyTorch)
    "micrograd_plus._sampling": ("randint", "randperm", "multinomial", "randn_like", "rand_like", "randint_like"),
    # torch.from_numpy, torch.get_default_dtype, ... (the dtype names are in _DTYPE_NAMES below)
    "micrograd_plus._namespace": ("from_numpy", "is_tensor", "is_floating_point", "set_default_dtype",
                                  "get_default_dtype", "set_default_device", "get_default_device", "numel",
                                  "equal", "allclose", "isclose", "as_tensor", "mm", "bmm",
                                  # torch.LongTensor([1, 2]), torch.FloatTensor(2, 3): the legacy constructors
                                  "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
                                  "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "bincount"),
    "micrograd_plus.serialization": ("save", "load"),
    # torch.exp(x), torch.sum(x, dim), ...: the function spellings of Tensor methods (the list of
    # names is micrograd_plus.ops.METHODS_AS_FUNCTIONS, beside the methods themselves)
    "micrograd_plus._methods_as_functions": METHODS_AS_FUNCTIONS + ("pow",),
}

# name -> (module, attribute), attribute None for a module itself
_LAZY = {name: (f"micrograd_plus.{name}", None) for name in _SUBMODULES}
_LAZY.update({name: (module, name) for module, names in _NAMES_FROM.items() for name in names})

# torch.float32, torch.long, ...: numpy dtypes under PyTorch's names (micrograd_plus._namespace.DTYPES).
# Not in __all__: `from micrograd_plus import *` must not shadow the builtins float, int and bool.
_DTYPE_NAMES = ("float32", "float", "float64", "double", "float16", "half", "int8", "uint8", "int16", "short",
                "int32", "int", "int64", "long", "uint16", "uint32", "uint64", "bool")

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    """Import the tensor world on first use (PEP 562), keeping the scalar engine's import cheap."""
    if name in _DTYPE_NAMES or name in ("bfloat16", "complex64", "complex128", "cfloat", "cdouble", "complex32",
                                        "chalf", "float8_e4m3fn", "float8_e5m2", "qint8", "quint8"):
        # on first use, as every name here: the dtype table's module loads the tensor world
        from micrograd_plus._namespace import DTYPES, MISSING_DTYPES

        if name in MISSING_DTYPES:
            raise AttributeError(f"micrograd_plus has no dtype {name}: {MISSING_DTYPES[name]} (tensors here hold "
                                 "bool, integers and float16/32/64)")
        globals()[name] = DTYPES[name]
        return DTYPES[name]
    if name not in _LAZY:
        raise AttributeError(f"module 'micrograd_plus' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
