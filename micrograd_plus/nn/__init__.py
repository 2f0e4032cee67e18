"""Neural-network building blocks for the tensor engine, with PyTorch's names.

* :class:`Module` and :class:`Parameter` -- the bookkeeping: which numbers are weights, how
  to list, save, load and zero them (:mod:`micrograd_plus.nn.module`).
* Layers -- :class:`Linear`, :class:`Embedding`, :class:`LayerNorm`, :class:`Dropout`, the
  activations :class:`ReLU`, :class:`Sigmoid`, :class:`Tanh`, :class:`GELU`, and the containers
  :class:`Sequential`, :class:`ModuleList` and :class:`Flatten` (:mod:`micrograd_plus.nn.layers`).
* Costs as modules: :class:`CrossEntropyLoss`, :class:`MSELoss` (:mod:`micrograd_plus.nn.loss`).
* :class:`MLP` -- layers of neurons stacked, e.g. 3Blue1Brown's ``MLP([784, 16, 16, 10],
  activation="sigmoid")``.
* The transformer pieces :class:`CausalSelfAttention` and :class:`Block`
  (:mod:`micrograd_plus.nn.transformer`, loaded on first use).
* :mod:`~micrograd_plus.nn.init` (initialisers) and :func:`clip_grad_norm_`.

The scalar-engine ``Neuron``, ``Layer`` and ``MLP`` of the first chapter live in
:mod:`micrograd_plus.scalar`. Optimisers are in :mod:`micrograd_plus.optim`.
"""

import importlib

from micrograd_plus.nn import init, utils
from micrograd_plus.nn.layers import (
    GELU,
    MLP,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)
from micrograd_plus.nn.loss import CrossEntropyLoss, MSELoss
from micrograd_plus.nn.module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential, StateDictError
from micrograd_plus.nn.utils import clip_grad_norm_

# The transformer layers are imported on first use (PEP 562): `import micrograd_plus.nn` never
# depends on them, and transformer.py can itself do `from micrograd_plus import nn`.
_LAZY = {"CausalSelfAttention": "micrograd_plus.nn.transformer", "Block": "micrograd_plus.nn.transformer"}

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "StateDictError", "IncompatibleKeys",
    "Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "Sigmoid", "Tanh", "GELU", "Identity", "Flatten", "MLP",
    "CrossEntropyLoss", "MSELoss", "CausalSelfAttention", "Block", "init", "utils", "clip_grad_norm_",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'micrograd_plus.nn' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
