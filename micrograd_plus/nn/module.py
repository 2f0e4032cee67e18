"""``Parameter`` and ``Module``: how a network keeps track of its weights.

A neural network is a function with many knobs -- the weights and biases. Training needs to
find every knob (to hand it to the optimiser), save and load them all (checkpoints), and switch
the whole network between training and evaluation behaviour (dropout). ``Module`` does this
bookkeeping so that a layer or a network only has to say what it computes::

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(784, 16)     # a sub-module: registered by assignment
            self.out = nn.Linear(16, 10)

        def forward(self, x):                    # (B, 784) -> (B, 10)
            return self.out(F.relu(self.hidden(x)))

    net = TwoLayer()
    [name for name, _ in net.named_parameters()]
    # ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']

Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it; lists of
modules go in a :class:`~micrograd_plus.nn.ModuleList` (a plain Python list would hide them).
The names and behaviour are PyTorch's, so what you learn here transfers.

Read :class:`Module` from the top: what a module *is* (``forward``, ``parameters``,
``zero_grad``, ``train``/``eval``) comes first; the plumbing that makes attribute assignment
register things, the tree walks, dtypes and ``state_dict`` follow. The containers
(``Sequential``, ``ModuleList``) are in :mod:`micrograd_plus.nn.containers`.
"""

import warnings
from collections import namedtuple

import numpy as np

from micrograd_plus._tensor import Tensor, _init_leaf, _leaf, check_numeric
from micrograd_plus.random import _check_cpu

__all__ = ["Parameter", "Module", "StateDictError", "IncompatibleKeys"]

class Parameter(Tensor):
    """A tensor that is a learnable weight of a model: a leaf with ``requires_grad=True``.

    It behaves exactly like a :class:`~micrograd_plus.Tensor`; its type is the signal to
    :class:`Module` that it should be registered, listed by ``parameters()``, saved by
    ``state_dict()`` and updated by an optimiser.

    Args:
        data: a numpy array (not copied), a Tensor (its array is shared) or a (nested) list.
            A floating-point array keeps its dtype (float32 for training, float64 for gradient
            checks); Python floats become float32 and integers are converted to float32.
        requires_grad: almost always True; False freezes the weight.
    """

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data._data  # shared, its dtype kept (nn.Parameter(torch.randn(3).double()) is float64)
        elif isinstance(data, np.ndarray):
            data = check_numeric(data)  # shared, as a Tensor's array
        else:
            data = Tensor(data)._data  # the Tensor rule: Python numbers and lists become float32
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        _init_leaf(self, data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and network.

    Subclasses call ``super().__init__()`` first, assign their parameters and sub-modules as
    attributes, and define ``forward``. Calling the module (``net(x)``) calls ``forward(x)``.

    Attributes:
        training: True in training mode (the default), False after :meth:`eval`. Layers such
            as Dropout behave differently in the two modes.
    """

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "_parameters", {})  # name -> Parameter or None
        object.__setattr__(self, "_buffers", {})  # name -> numpy array / Tensor (saved, not trained)
        object.__setattr__(self, "_modules", {})  # name -> Module or None
        object.__setattr__(self, "training", True)

    # --- what a module is: a forward pass, its parameters, their gradients, its mode -------------

    def forward(self, *args, **kwargs):
        """What the module computes. Every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...)")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix="", recurse=True):
        """Yield ``(dotted_name, parameter)`` pairs, e.g. ``("layers.0.weight", p)``.

        A parameter shared by two modules (tied weights) is yielded once, under the first name
        found, so an optimiser never updates it twice.
        """
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_name, module in mods:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self, recurse=True):
        """Yield every parameter once: what you hand to an optimiser."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def zero_grad(self, set_to_none=True):
        """Forget every parameter's gradient before the next ``backward()``.

        Gradients *accumulate* (a weight used twice gets both contributions), so they must be
        cleared between steps. ``set_to_none=True`` (the default, as in PyTorch) sets
        ``p.grad = None``; ``False`` fills existing gradients with zeros instead.

        Why None here and 0.0 in the scalar engine (:meth:`micrograd_plus.scalar.nn.Module.zero_grad`)?
        A Tensor's gradient is a whole array: ``None`` means "no gradient yet", costs no memory,
        and the next ``backward()`` simply stores its array instead of adding to zeros -- and an
        optimiser can tell a weight that got no gradient from one whose gradient is zero. A
        Value's gradient is one float that ``backward`` always adds to, so it must start at 0.0.
        """
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad._data[...] = 0

    def train(self, mode=True):
        """Put this module and everything below it in training mode (``mode=False``: eval mode)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Put this module and everything below it in evaluation mode (dropout off)."""
        return self.train(False)

    # ============================================================================================
    # The plumbing: how assignment registers parameters and sub-modules, walking the tree,
    # dtypes, saving and loading, printing. Read on only when you want to know how.
    # ============================================================================================

    # --- registration by attribute assignment --------------------------------------------------

    def _registries(self, name):
        regs = self.__dict__.get("_parameters"), self.__dict__.get("_buffers"), self.__dict__.get("_modules")
        if regs[0] is None:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() has run: "
                f"call super().__init__() at the top of {type(self).__name__}.__init__"
            )
        return regs

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)) or name in self.__dict__.get("_parameters", ()) \
                or name in self.__dict__.get("_modules", ()) or name in self.__dict__.get("_buffers", ()):
            params, buffers, modules = self._registries(name)
            if isinstance(value, Parameter):
                self._forget(name)
                params[name] = value
            elif isinstance(value, Module):
                self._forget(name)
                modules[name] = value
            elif name in params:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} to {name!r}, which holds a "
                                    "Parameter: assign a Parameter (wrap it: nn.Parameter(x)) or None")
                params[name] = None
            elif name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} to {name!r}, which holds a "
                                    "sub-module: assign a Module or None")
                modules[name] = None
            else:  # a buffer
                buffers[name] = value
        else:
            if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
                warnings.warn(
                    f"{type(self).__name__}.{name} is a Tensor with requires_grad=True but not a Parameter, "
                    f"so parameters(), state_dict() and optimisers will not see it; "
                    f"wrap it: self.{name} = nn.Parameter(...)",
                    stacklevel=2,
                )
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for registry in self._registries(name):
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                del entries[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}) needs a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, value):
        """Register a non-trainable array (a running statistic, a fixed mask) saved in ``state_dict``."""
        if value is not None and not isinstance(value, (np.ndarray, Tensor)):
            raise TypeError(f"register_buffer({name!r}) needs a numpy array, a Tensor or None, "
                            f"got {type(value).__name__}")
        self._forget(name)
        self._buffers[name] = value

    def add_module(self, name, module):
        """Register a sub-module under ``name`` (what ``self.name = module`` does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}) needs a Module or None, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module
    # --- walking the tree --------------------------------------------------------------------------

    def named_children(self):
        """Yield ``(name, module)`` for each direct sub-module."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        """Yield each direct sub-module."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix=""):
        """Yield ``(dotted_name, module)`` for this module (name ``""``) and all below it, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:  # depth-first, in registration order
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self):
        """Yield this module and every module below it, each once."""
        for _, module in self.named_modules():
            yield module

    def named_buffers(self, prefix=""):
        """Yield ``(dotted_name, buffer)`` for every registered buffer, each once."""
        seen = set()
        for mod_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is None or id(b) in seen:
                    continue
                seen.add(id(b))
                yield (f"{mod_name}.{name}" if mod_name else name), b

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module (children first) and on this module; return self.

        The usual way to initialise weights: ``model.apply(my_init)``.
        """
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    def num_parameters(self):
        """The number of trainable numbers (weights and biases) in the module, each shared one once."""
        return sum(int(p._data.size) for p in self.parameters())
    # --- dtypes ------------------------------------------------------------------------------------

    def to(self, *args, **kwargs):
        """Convert every floating parameter and buffer to a dtype, in place; return self.

        PyTorch's spellings all work: ``model.to(torch.float64)``, ``model.to("cpu")``,
        ``model.to(device)``, ``model.to("cpu", torch.float64)``, ``model.to(dtype=...)``,
        ``model.to(some_tensor)`` (its dtype). The device must be the CPU (the only one here:
        ``"cuda"`` raises one line); a dtype must be floating, as in PyTorch. ``model.to(np.float64)``
        (or :meth:`double`) is how a model is gradient-checked; gradients are dropped because
        they would have the old dtype.
        """
        device, dtype = _device_and_dtype("Module.to", args, kwargs)
        _check_cpu(device, "Module.to")
        if dtype is None:
            return self
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"Module.to needs a floating dtype, got {dtype}")
        for p in self.parameters():
            p._data = p._data.astype(dtype)
            p.grad = None
        for module in self.modules():
            for name, b in module._buffers.items():
                arr = _array_of(b)
                if isinstance(arr, np.ndarray) and np.issubdtype(arr.dtype, np.floating):
                    if isinstance(b, Tensor):
                        b._data = arr.astype(dtype)
                    else:
                        module._buffers[name] = arr.astype(dtype)
        return self

    def cpu(self):
        """Nothing to move: the parameters already live on the CPU. Returns self."""
        return self

    def cuda(self, device=None):
        """Refused in one line: this library computes on the CPU only."""
        _check_cpu("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device,
                      "Module.cuda")
        return self

    def double(self):
        """Convert parameters and buffers to float64 (for gradient checks)."""
        return self.to(np.float64)

    def float(self):
        """Convert parameters and buffers to float32 (for training)."""
        return self.to(np.float32)
    # --- saving and loading ------------------------------------------------------------------------

    def _state_entries(self):
        entries = dict(self.named_parameters())
        entries.update(self.named_buffers())
        return entries

    def state_dict(self):
        """Every parameter and buffer as ``{dotted_name: Tensor}``, as PyTorch's.

        Each Tensor is *detached* (no gradient, no graph) and *shares memory* with its parameter,
        as in PyTorch: training further changes what it shows, so to keep the values of a
        moment, copy them (``copy.deepcopy(model.state_dict())``, or save them with
        :func:`micrograd_plus.save`). A tied (shared) parameter appears once, under the name
        ``named_parameters()`` gives it.
        """
        return {name: obj.detach() if isinstance(obj, Tensor) else _leaf(obj)
                for name, obj in self._state_entries().items()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers, in place.

        Everything is checked before anything is copied, so on error nothing is half-loaded.
        A :class:`StateDictError` lists every problem: missing keys, unexpected keys (both only
        when ``strict``), shapes that differ and values that cannot become this dtype.

        Args:
            state_dict: mapping from dotted name to array (e.g. ``np.load("ckpt.npz")``).
            strict: if False, missing and unexpected keys are allowed and returned.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict expects a mapping of name -> array (a dict or np.load(...) "
                            f"of an .npz), got {type(state_dict).__name__}")
        own = self._state_entries()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatches, to_copy = [], []
        for name, obj in own.items():
            if name not in state_dict:
                continue
            target = _array_of(obj)
            try:
                value = np.asarray(state_dict[name])
            except Exception as exc:  # e.g. ragged nested lists
                mismatches.append((name, f"cannot be read as an array ({exc})"))
                continue
            if value.shape != target.shape:
                mismatches.append((name, f"shape {value.shape} in the state dict, {target.shape} in the model"))
            elif not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
                mismatches.append((name, f"dtype {value.dtype} in the state dict cannot become {target.dtype}"))
            else:
                to_copy.append((target, value))
        problems = list(mismatches)
        if strict:
            problems += [(k, "missing from the state dict") for k in missing]
            problems += [(k, "unexpected: the model has no such parameter or buffer") for k in unexpected]
        if problems:
            lines = [f"  {name!r}: {what}" for name, what in problems]
            raise StateDictError(
                f"error(s) loading state_dict into {type(self).__name__} (nothing was loaded):\n"
                + "\n".join(lines),
                missing if strict else (), unexpected if strict else (), mismatches,
            )
        for target, value in to_copy:
            np.copyto(target, value, casting="same_kind")
        return IncompatibleKeys(missing, unexpected)
    # --- printing ----------------------------------------------------------------------------------

    def extra_repr(self):
        """The text inside the parentheses of ``repr``, e.g. ``in_features=784, out_features=16``."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        children = [(name, m) for name, m in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("]
        if extra:
            lines.append("  " + extra)
        for name, m in children:
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)


class StateDictError(ValueError):
    """``load_state_dict`` refused a state dict. Nothing was loaded.

    Attributes:
        missing_keys: names the module has but the state dict lacks.
        unexpected_keys: names in the state dict that the module does not have.
        mismatches: ``(name, problem)`` pairs, e.g. a shape that differs.
    """

    def __init__(self, message, missing_keys=(), unexpected_keys=(), mismatches=()):
        super().__init__(message)
        self.missing_keys = list(missing_keys)
        self.unexpected_keys = list(unexpected_keys)
        self.mismatches = list(mismatches)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])
IncompatibleKeys.__doc__ = "What ``load_state_dict(..., strict=False)`` skipped: missing and unexpected names."


def _device_and_dtype(what, args, kwargs):
    """Sort ``to(...)``'s arguments into (device, dtype): strings and device objects name a device,
    Tensors give their dtype, anything numpy reads as a dtype is a dtype."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"{what} got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, str) or type(arg).__name__ == "device":
            device = arg
        elif isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, bool):
            continue  # non_blocking given positionally
        else:
            try:
                dtype = np.dtype(arg)
            except TypeError:
                raise TypeError(f"{what}: expected a device or a dtype, got {arg!r}") from None
    return device, (None if dtype is None else np.dtype(dtype))


def _array_of(obj):
    """The numpy array behind a parameter or buffer (a Tensor's ``._data``, or the array itself)."""
    return obj._data if isinstance(obj, Tensor) else obj
