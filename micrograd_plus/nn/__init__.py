"""Neural-network building blocks for the tensor engine, with PyTorch's names.

* :class:`Module` and :class:`Parameter` -- the bookkeeping: which numbers are weights, how
  to list, save, load and zero them (:mod:`micrograd_plus.nn.module`).
* The containers :class:`Sequential`, :class:`ModuleList`, :class:`ModuleDict`, :class:`ParameterList`
  and :class:`ParameterDict` (:mod:`micrograd_plus.nn.containers`).
* Layers -- :class:`Linear`, :class:`Embedding`, :class:`LayerNorm`, :class:`Dropout`, the
  activations :class:`ReLU`, :class:`Sigmoid`, :class:`Tanh`, :class:`GELU`, :class:`Identity`
  and :class:`Flatten` (:mod:`micrograd_plus.nn.layers`).
* Layers for images -- :class:`Conv1d`, :class:`Conv2d`, :class:`MaxPool2d`, :class:`AvgPool2d`,
  :class:`AdaptiveAvgPool2d`, :class:`BatchNorm1d`, :class:`BatchNorm2d`, :class:`Dropout2d`
  (:mod:`micrograd_plus.nn.conv`).
* Costs as modules: :class:`CrossEntropyLoss`, :class:`MSELoss` (:mod:`micrograd_plus.nn.loss`).
* :class:`MLP` -- layers of neurons stacked, e.g. 3Blue1Brown's ``MLP([784, 16, 16, 10],
  activation="sigmoid")``.
* The transformer's own layers (attention, its MLP, the block) are in the GPT's file,
  :mod:`micrograd_plus.models.gpt`, read top to bottom with the model, as in nanoGPT.
* :mod:`~micrograd_plus.nn.init` (initialisers) and :func:`clip_grad_norm_`.

The scalar-engine ``Neuron``, ``Layer`` and ``MLP`` of the first chapter live in
:mod:`micrograd_plus.scalar`. Optimisers are in :mod:`micrograd_plus.optim`.
"""

from micrograd_plus.nn import functional, init, utils
from micrograd_plus.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from micrograd_plus.nn.conv import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout2d,
    MaxPool2d,
)
from micrograd_plus.nn.layers import (
    Dropout,
    ELU,
    Embedding,
    Flatten,
    GELU,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MLP,
    ReLU,
    SiLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from micrograd_plus.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from micrograd_plus.nn.module import IncompatibleKeys, Module, Parameter, StateDictError
from micrograd_plus.nn.utils import clip_grad_norm_

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "StateDictError", "IncompatibleKeys",
    "Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "Sigmoid", "Tanh", "GELU", "Identity", "Flatten", "MLP",
    "LeakyReLU", "SiLU", "ELU", "Softplus", "Softmax", "LogSoftmax",
    "CrossEntropyLoss", "MSELoss", "NLLLoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "functional", "init", "utils", "clip_grad_norm_",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Dropout2d",
]
