"""The scalar world: :class:`Value` (one number and its gradient) and a tiny neural network
library built from it (:class:`Neuron`, :class:`Layer`, :class:`MLP`).

Read :mod:`micrograd_plus.scalar.engine` first, then :mod:`micrograd_plus.scalar.nn`::

    from micrograd_plus.scalar import Value, Neuron, Layer, MLP

:func:`topological_order` is the graph walk behind ``Value.backward``; ``Tensor.backward`` and the
graph drawings of :mod:`micrograd_plus.viz` use it too: one walk for Values and Tensors alike.
"""

from micrograd_plus.scalar.engine import Value, topological_order
from micrograd_plus.scalar.nn import MLP, Layer, Neuron

__all__ = ["Value", "Neuron", "Layer", "MLP", "topological_order"]
