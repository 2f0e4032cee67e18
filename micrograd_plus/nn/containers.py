"""Containers: modules that hold other modules in order.

* :class:`Sequential` runs its modules one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.
* :class:`ModuleList` only holds them (registered, so ``parameters()`` and ``state_dict()`` see
  them); your own ``forward`` decides how they are called.
* :class:`ModuleDict` holds them by name (``heads["digits"]``), :class:`ParameterList` and
  :class:`ParameterDict` hold parameters the same two ways.

Both are lists of modules, so they share one set of list methods (``append``, ``extend``,
``len``, iteration, indexing and slicing); members are registered under the names ``"0"``,
``"1"``, ..., which is why parameter names read ``"0.weight"`` or ``blocks.3.attn.c_attn.bias``.
"""

from micrograd_plus.nn.module import Module, Parameter
from micrograd_plus._tensor import Tensor

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


class _ModuleSequence(Module):
    """The list behaviour :class:`Sequential` and :class:`ModuleList` share (not used directly)."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module):
        """Add ``module`` at the end."""
        self.add_module(str(len(self._modules)), _checked(self, module))
        return self

    def extend(self, modules):
        """Add each of ``modules`` at the end."""
        for module in modules:
            self.append(module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return type(self)(items[index])  # a new container of the same kind
        return items[index]

    def __setitem__(self, index, module):
        name = list(self._modules)[index]
        self._modules[name] = _checked(self, module)


class Sequential(_ModuleSequence):
    """A chain of modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Build it from modules (``Sequential(a, b, c)``) or from one list of them
    (``Sequential([a, b, c])``). The modules are registered as ``"0"``, ``"1"``, ..., so parameter
    names read ``"0.weight"``, ``"2.bias"``; from an ``OrderedDict`` of named modules
    (``Sequential(OrderedDict([("hidden", nn.Linear(784, 16)), ("act", nn.ReLU())]))``) they keep
    those names (``"hidden.weight"``), as in PyTorch. Index it like a list: ``seq[0]``, ``seq[-1]``,
    ``len(seq)``; a slice is a new Sequential of the same modules.

    Shapes: whatever the first module takes -> whatever the last one returns.
    """

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):  # OrderedDict([(name, module), ...])
            super().__init__()
            for name, module in modules[0].items():
                self.add_module(str(name), _checked(self, module))
            return
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        super().__init__(modules)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of sub-modules that *is* registered (a plain Python list of modules is invisible
    to ``parameters()``, ``state_dict()`` and ``train()``). It has no ``forward``: you decide how
    its members are called, e.g. ``for block in self.blocks: x = block(x)``.

    Args:
        modules: an iterable of modules to start with (default: empty).
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your own forward")


class ModuleDict(Module):
    """Sub-modules by name, registered (``parameters()`` and ``state_dict()`` see them as
    ``"<name>.weight"``), in insertion order. It has no ``forward``: your own picks the member,
    e.g. ``self.heads[task](x)``.

    Args:
        modules: a dict (or iterable of ``(name, module)`` pairs) to start with.

    It behaves like a dict: ``d[name]``, ``d[name] = module``, ``del d[name]``, ``name in d``,
    ``len``, iteration over names, ``keys()``, ``values()``, ``items()``, ``update()``, ``pop()``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(_name(self, key), _checked(self, module))

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self):
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def update(self, modules):
        """Add (or replace) the entries of a dict or of an iterable of ``(name, module)`` pairs."""
        for key, module in (modules.items() if hasattr(modules, "items") else modules):
            self[key] = module

    def pop(self, key):
        """Remove the module named ``key`` and return it."""
        return self._modules.pop(key)

    def clear(self):
        """Remove every module."""
        self._modules.clear()

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): pick a member in your own forward, d[name](x)")


class ParameterList(Module):
    """Parameters in a list, registered as ``"0"``, ``"1"``, ... (so ``parameters()`` sees them).

    A Tensor that is not yet a Parameter is wrapped into one (its data shared), as in PyTorch.
    ``append``, ``extend``, indexing, ``len`` and iteration work as on a list.
    """

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value):
        """Add a parameter at the end."""
        self.register_parameter(str(len(self._parameters)), _as_parameter(self, value))
        return self

    def extend(self, values):
        """Add each of ``values`` at the end."""
        for value in values:
            self.append(value)
        return self

    def __getitem__(self, index):
        return list(self._parameters.values())[index]

    def __setitem__(self, index, value):
        name = list(self._parameters)[index]
        self._parameters[name] = _as_parameter(self, value)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterList has no forward(): use its parameters in your own forward")


class ParameterDict(Module):
    """Parameters by name (registered, in insertion order); a dict's methods, as :class:`ModuleDict`."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(_name(self, key), _as_parameter(self, value))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        """The names, in insertion order."""
        return self._parameters.keys()

    def values(self):
        """The parameters, in insertion order."""
        return self._parameters.values()

    def items(self):
        """``(name, parameter)`` pairs, in insertion order."""
        return self._parameters.items()

    def update(self, parameters):
        """Add (or replace) the entries of a dict or of an iterable of ``(name, parameter)`` pairs."""
        for key, value in (parameters.items() if hasattr(parameters, "items") else parameters):
            self[key] = value

    def pop(self, key):
        """Remove the parameter named ``key`` and return it."""
        return self._parameters.pop(key)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ParameterDict has no forward(): use its parameters in your own forward")


def _name(container, key):
    """A member name must be a string without dots (dots separate the levels of a state_dict key)."""
    if not isinstance(key, str) or "." in key or not key:
        raise KeyError(f"{type(container).__name__} keys must be non-empty strings without '.', got {key!r}")
    return key


def _as_parameter(container, value):
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{type(container).__name__} holds Parameters (or Tensors, which become Parameters), "
                    f"got {type(value).__name__}")


def _checked(container, module):
    """``module`` if it is a Module; otherwise a TypeError that says what containers take."""
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__} takes Modules, got {type(module).__name__} "
                        f"(activation functions as modules: nn.ReLU(), nn.Sigmoid(), ...)")
    return module
