"""Containers: modules that hold other modules in order.

* :class:`Sequential` runs its modules one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.
* :class:`ModuleList` only holds them (registered, so ``parameters()`` and ``state_dict()`` see
  them); your own ``forward`` decides how they are called.

Both are lists of modules, so they share one set of list methods (``append``, ``extend``,
``len``, iteration, indexing and slicing); members are registered under the names ``"0"``,
``"1"``, ..., which is why parameter names read ``"0.weight"`` or ``blocks.3.attn.c_attn.bias``.
"""

from micrograd_plus.nn.module import Module

__all__ = ["Sequential", "ModuleList"]


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
    names read ``"0.weight"``, ``"2.bias"``. Index it like a list: ``seq[0]``, ``seq[-1]``,
    ``len(seq)``; a slice is a new Sequential of the same modules.

    Shapes: whatever the first module takes -> whatever the last one returns.
    """

    def __init__(self, *modules):
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


def _checked(container, module):
    """``module`` if it is a Module; otherwise a TypeError that says what containers take."""
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__} takes Modules, got {type(module).__name__} "
                        f"(activation functions as modules: nn.ReLU(), nn.Sigmoid(), ...)")
    return module
