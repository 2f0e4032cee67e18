"""Optimisers: the rules that turn gradients into better weights.

After ``loss.backward()`` every parameter ``p`` holds ``p.grad``: how much the cost goes up
when that weight goes up a little. Gradient descent takes a small step the other way::

    p.data -= lr * p.grad                       # one step downhill

Everything in this module is a refinement of that one line:

* :class:`SGD` -- plain (stochastic) gradient descent, optionally with *momentum* (keep rolling
  in the direction you were already going), Nesterov momentum and L2 weight decay.
* :class:`Adam` -- each weight gets its own step size, from running averages of its gradient
  (the "first moment") and of its squared gradient (the "second moment").
* :class:`AdamW` -- Adam with *decoupled* weight decay: weights shrink towards zero by a fixed
  fraction each step, independently of the gradient statistics. The usual choice for transformers.
* :class:`RMSprop` -- divide each gradient by a running root-mean-square of its recent values
  (Adam without the first moment and the bias correction; Hinton's lecture rule).

and learning-rate *schedules* that change ``lr`` as training goes on (:class:`LambdaLR`,
:class:`StepLR`, :class:`CosineWithWarmup`; also under PyTorch's module name,
``optim.lr_scheduler``, with :class:`MultiStepLR`, :class:`ExponentialLR` and :class:`CosineAnnealingLR`).

The formulas and defaults are PyTorch's, so what you learn here transfers. A typical loop::

    opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()          # forget the previous step's gradients
        loss.backward()          # fill p.grad for every parameter
        opt.step()               # move every parameter a little downhill

An optimiser updates Tensors (``nn.Parameter``) in place, in their own dtype, and skips those
whose ``.grad`` is None. It works on the numpy arrays underneath (``p._data``, ``p.grad._data``)
rather than through Tensor operations: the arithmetic is the same, without making a Tensor per
intermediate result. Like PyTorch's, each step counts as an in-place change of the parameter
(its version counter goes up), so a graph built before the step can no longer be backpropagated
through the old values by mistake.

Parameter groups
----------------
``params`` may also be a list of dicts, each with its own ``"params"`` and any hyperparameter
overriding the defaults. This is how a GPT exempts biases, LayerNorm gains and embeddings from
weight decay::

    opt = optim.AdamW([
        {"params": matrices, "weight_decay": 0.1},
        {"params": others, "weight_decay": 0.0},
    ], lr=1e-3, betas=(0.9, 0.99))

Checkpoints
-----------
``state_dict()`` has PyTorch's layout, ``{"state": {0: {"exp_avg": Tensor, ...}, ...},
"param_groups": [{"lr": ..., "params": [0, 1, ...]}, ...]}`` (parameters numbered in group
order), which :func:`micrograd_plus.save` writes and :func:`micrograd_plus.load` reads back
without pickle. A training checkpoint (``.npz``) stores :func:`flat_state_dict` of it, one array
per key (``"param_groups.0.lr"``, ``"state.3.exp_avg"``); ``load_state_dict`` reads both layouts,
so checkpoints written before the nested layout still resume.
"""

import math
import sys
import types

import numpy as np

from micrograd_plus import kernels
from micrograd_plus._tensor import _leaf, _wrap
from micrograd_plus.kernels import optim as _kernels
from micrograd_plus.kernels._shared import keep_freed_memory

__all__ = [
    "flat_state_dict",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "CosineWithWarmup",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
    "cosine_with_warmup_lr",
]


def _as_float(value, name):
    """A hyperparameter as a Python float (numpy scalars would promote float32 updates to float64)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None


def _check_finite(value, name, low=0.0, high=None):
    """Raise ValueError naming ``name`` unless ``low <= value`` (``< high``) and it is finite.

    NaN fails every comparison, so without this check ``lr=nan`` would slip through ``lr < 0``
    and silently turn every weight into NaN at the first step.
    """
    v = _as_float(value, name)
    if not math.isfinite(v) or v < low or (high is not None and v >= high):
        bound = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def _compiled(*arrays):
    """Whether the compiled update may run: the numba backend, and arrays it can update in place
    (float32/float64, C-contiguous, writable); otherwise the numpy reference does the same."""
    if kernels.get_backend() != "numba":
        return False
    for a in arrays:
        flags = a.flags
        dtype = a.dtype
        if dtype.char not in "fd" or not dtype.isnative or not (flags.c_contiguous and flags.writeable):
            return False  # (float32 and float64 in this machine's byte order only)
    return True


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses implement :meth:`step`.

    Args:
        params: an iterable of parameters, or of dicts ``{"params": [...], <hyperparameter>: ...}``
            (parameter groups). Each parameter may appear only once.
        defaults: the hyperparameters (``lr`` and friends) every group starts from.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list) and every hyperparameter.
            Change ``group["lr"]`` to change the learning rate (schedulers do exactly this).
        state: dict mapping ``id(p)`` of a parameter ``p`` to its own dict of running buffers
            (momentum, moments, step count).

    After each :meth:`step`, ``_checked_finite`` holds the ``id`` of every parameter whose new
    values that step's compiled update counted as it wrote them and found finite (no NaN, no
    ±inf). The training loop (:mod:`micrograd_plus.train.loop`) stops a run whose weights stop
    being finite; it scans only the parameters not in this set (``checked_finite``), instead
    of reading every weight a second time each step. Parameters the numpy reference updated, or
    that had no gradient, are never in it.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # id(parameter) -> dict of its buffers (ids: tensors may not be hashable)
        if isinstance(params, dict):
            raise TypeError("params must be an iterable of parameters or of dicts, not a single dict; "
                            "wrap it in a list: [{'params': ...}]")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list: nothing to optimise "
                             "(did you pass a generator that was already used up?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)
        self._checked_finite = set()  # ids of parameters the last step() wrote and found finite
        keep_freed_memory()  # this process trains: let each step reuse the last one's memory

    def add_param_group(self, group):
        """Add a dict ``{"params": [...], ...}``; hyperparameters it omits come from the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if hasattr(params, "_data") else list(params)
        for p in params:
            if not isinstance(getattr(p, "_data", None), np.ndarray):
                raise TypeError(f"{type(self).__name__} can only optimise Tensors (such as nn.Parameter), "
                                f"got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError("a parameter appears more than once in the optimiser's parameter groups")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__} has no hyperparameter(s) {sorted(unknown)}; "
                            f"known: {sorted(self.defaults)}")
        new = dict(self.defaults)
        new.update(group)
        new["params"] = params
        self._check_hyperparameters(new)
        self.param_groups.append(new)

    def _check_hyperparameters(self, group):
        """Subclasses raise ValueError for impossible settings (negative or NaN lr, beta >= 1, ...)."""
        _check_finite(group["lr"], "lr")

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter before the next ``backward()``.

        ``set_to_none=True`` (the default, as in PyTorch) sets ``p.grad = None``, which costs
        nothing and lets the optimiser skip parameters that got no gradient; ``False`` fills
        existing gradients with zeros instead.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad._data[...] = 0

    def _grad(self, p):
        """``p.grad`` as an array of ``p``'s dtype and shape, or None when it has no gradient."""
        g = p._grad
        if g is None:
            return None
        g = g._data
        if g.dtype != p._data.dtype:
            g = g.astype(p._data.dtype)
        if g.shape != p._data.shape:
            raise ValueError(f"gradient of shape {g.shape} does not match its parameter of shape "
                             f"{p._data.shape}")
        p._bumped("optimizer.step")  # the parameter is about to change in place (see Tensor._version)
        return g

    def step(self):
        """Update every parameter that has a gradient, in place. Implemented by subclasses."""
        raise NotImplementedError

    # --- checkpoints -------------------------------------------------------------------------

    def _index(self):
        """Number the parameters 0, 1, 2, ... in group order: checkpoints refer to them this way."""
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """Everything needed to resume, in PyTorch's layout::

            {"state": {0: {"step": tensor(3.), "exp_avg": Tensor, ...}, 1: {...}},
             "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), ..., "params": [0, 1]}]}

        Parameters are numbered 0, 1, 2 ... in group order. As in PyTorch the buffers are the
        optimiser's own (a later ``step()`` changes them; ``copy.deepcopy`` the dict to keep a
        snapshot) and ``step`` is a 0-d float32 Tensor. :func:`micrograd_plus.save` stores this dict
        as it is; training checkpoints (``.npz``) store :func:`flat_state_dict` of it.
        """
        index = {id(p): i for i, p in enumerate(self._index())}
        groups = [dict({k: v for k, v in group.items() if k != "params"},
                       params=[index[id(p)] for p in group["params"]]) for group in self.param_groups]
        state = {}
        for i, p in enumerate(self._index()):
            entries = self.state.get(id(p))
            if entries:
                state[i] = {k: _wrap(np.array(v, dtype=np.float32)) if k == "step" else _leaf(v)
                            for k, v in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` gave (or :func:`micrograd_plus.load` read back).

        Also reads the flat layout of older checkpoints (``"state.0.exp_avg"``,
        ``"param_groups.0.lr"``: :func:`flat_state_dict`), so earlier runs still resume. The
        optimiser must hold parameters of the same number, order and shapes. Everything is
        checked first: a bad state dict raises one ``ValueError`` listing what is wrong, and
        changes nothing. The buffers are copied in.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict expects the dict made by state_dict(), got {type(state_dict).__name__}")
        sd = state_dict if "param_groups" in state_dict else _from_flat(state_dict)
        errors = [f"unexpected key {k!r}" for k in sd if k not in ("state", "param_groups")]
        groups = [self._loaded_group(g, saved, errors) for g, saved in enumerate(self._saved_groups(sd, errors))]
        state = self._loaded_state(sd.get("state", {}), errors)
        if errors:
            raise ValueError(f"cannot load {type(self).__name__} state_dict (nothing was changed):\n  "
                             + "\n  ".join(errors))
        for group, new in zip(self.param_groups, groups):
            group.update(new)
        self.state = state

    def _saved_groups(self, sd, errors):
        saved = sd["param_groups"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.param_groups):
            n = len(saved) if isinstance(saved, (list, tuple)) else type(saved).__name__
            errors.append(f"the state dict has {n} parameter group(s), the optimiser {len(self.param_groups)}")
            return []
        return saved

    def _loaded_group(self, g, saved, errors):
        """Group ``g``'s hyperparameters from ``saved``, each of the type it has now."""
        position = {id(p): i for i, p in enumerate(self._index())}
        current, new = self.param_groups[g], {}
        for key in sorted(set(saved) - set(current)):
            errors.append(f"unexpected key {key!r} in parameter group {g}")
        for key, now in current.items():
            if key not in saved:
                errors.append(f"parameter group {g} has no {key!r}")
            elif key == "params":
                ids, mine = np.asarray(saved[key]).reshape(-1).tolist(), [position[id(p)] for p in now]
                if ids != mine:
                    errors.append(f"group {g} holds parameters {ids} in the state dict but {mine} here")
            else:
                try:
                    new[key] = self._restore_hyperparameter(now, saved[key])
                except (TypeError, ValueError):
                    errors.append(f"parameter group {g}: {key} = {saved[key]!r} cannot become a {type(now).__name__}")
        return new

    def _loaded_state(self, saved, errors):
        """``{id(p): buffers}`` from the saved ``{index: {name: value}}``, checked against each parameter."""
        params, new = self._index(), {}
        for i, entries in saved.items():
            if not str(i).isdigit() or int(i) >= len(params):
                errors.append(f"state {i!r} refers to no parameter (the optimiser has {len(params)})")
                continue
            p = params[int(i)]
            group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
            buffers = {}
            for key, value in entries.items():
                arr = np.asarray(value)
                if key == "step":  # the one counter; every other entry is a buffer shaped like p
                    buffers[key] = int(arr.item())
                elif arr.shape != p._data.shape:
                    errors.append(f"state {i} {key!r} has shape {arr.shape}, but parameter {i} has shape "
                                  f"{p._data.shape}")
                else:
                    buffers[key] = np.array(arr, dtype=p._data.dtype, copy=True)
            if set(entries) != self._state_keys(group):
                errors.append(f"state of parameter {i} has entries {sorted(entries)}, "
                              f"{type(self).__name__} keeps {sorted(self._state_keys(group))}")
            new[id(p)] = buffers
        return new

    @staticmethod
    def _restore_hyperparameter(current, value):
        """Give a hyperparameter read back from a checkpoint the type it has now (tuple, bool, float)."""
        if isinstance(current, tuple):
            restored = tuple(float(v) for v in np.asarray(value).reshape(-1))
            if len(restored) != len(current):
                raise ValueError("wrong length")
            return restored
        if isinstance(current, (bool, np.bool_)):
            return bool(np.asarray(value).item())
        if isinstance(current, (int, float, np.number)):
            return float(np.asarray(value).item())
        return value

    def _state_keys(self, group):
        """The names of the buffers this optimiser keeps per parameter (to validate checkpoints)."""
        return set()

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for g, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {g} ({len(group['params'])} parameters)")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

    For each parameter ``p`` with gradient ``g``, one step is (PyTorch's rules exactly)::

        g = g + weight_decay * p                       # L2 penalty, pulls weights towards 0
        if momentum:
            buf = g                        on the first step
            buf = momentum * buf + (1 - dampening) * g   afterwards
            g = g + momentum * buf   if nesterov   else   buf
        p = p - lr * g

    The momentum buffer is a running, decaying sum of past gradients: directions that keep
    pointing the same way build up speed, directions that flip sign cancel out.

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate, the size of the step.
        momentum: how much of the previous velocity is kept each step (0 disables; 0.9 is usual).
        dampening: scales the new gradient added to the velocity (0 in almost all uses).
        weight_decay: L2 penalty coefficient.
        nesterov: look ahead along the velocity (needs momentum > 0 and dampening = 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        _check_finite(group["momentum"], "momentum")
        _check_finite(group["dampening"], "dampening")
        _check_finite(group["weight_decay"], "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def _state_keys(self, group):
        return {"momentum_buffer"} if group["momentum"] != 0 else set()

    def step(self):
        """Apply one SGD update to every parameter that has a gradient."""
        self._checked_finite = checked = set()
        for group in self.param_groups:
            lr = _as_float(group["lr"], "lr")
            momentum = _as_float(group["momentum"], "momentum")
            dampening = _as_float(group["dampening"], "dampening")
            weight_decay = _as_float(group["weight_decay"], "weight_decay")
            for p in group["params"]:
                g = self._grad(p)
                if g is None:
                    continue
                buf, first = None, False
                if momentum != 0:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    first = buf is None
                    if first:
                        buf = state["momentum_buffer"] = np.empty_like(p._data)  # set to g by the update
                args = (lr, momentum, dampening, weight_decay, group["nesterov"], first)
                if _compiled(*((p._data, g) if buf is None else (p._data, g, buf))):
                    # one compiled pass, the reference's numbers; it counts the NaN/inf it writes
                    bad = _kernels.sgd_update(p._data, g, buf, *args)
                    if bad == 0:
                        checked.add(id(p))
                else:
                    _kernels.sgd_update_reference(p._data, g, buf, *args)


class Adam(Optimizer):
    """Adam: gradient descent where every weight gets its own, self-tuned step size.

    It keeps two running averages per parameter, starting at zero::

        m = beta1 * m + (1 - beta1) * g          # first moment: the average gradient (direction)
        v = beta2 * v + (1 - beta2) * g * g      # second moment: the average squared gradient (scale)

    Because they start at zero they are too small in the first steps; dividing by
    ``1 - beta**t`` (t = number of steps taken) corrects this *bias*. The update is then::

        p = p - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    so a weight whose gradient is consistently large and one whose gradient is consistently tiny
    both move by about ``lr`` per step. ``weight_decay`` here is the classic L2 penalty added to
    the gradient (``g = g + weight_decay * p``); for decoupled decay use :class:`AdamW`.

    The lines above, written out in numpy, are
    :func:`micrograd_plus.kernels.optim.adam_update_reference`. With the ``"numba"`` kernel backend
    (the default) each parameter's whole update runs as one compiled pass instead
    (:func:`micrograd_plus.kernels.optim.adam_update`), with the same numbers, bit for bit, at a
    quarter of the time; AMSGrad, and parameters it cannot update in place, take the reference.

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-3).
        betas: decay rates ``(beta1, beta2)`` of the two averages (default ``(0.9, 0.999)``).
        eps: added to the denominator so it is never zero (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        amsgrad: use the running maximum of ``v`` in the denominator (the AMSGrad variant).
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        betas = tuple(group["betas"])
        group["betas"] = betas
        if len(betas) != 2 or not all(0.0 <= _as_float(b, "beta") < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas}")
        _check_finite(group["eps"], "eps")
        _check_finite(group["weight_decay"], "weight_decay")

    def _state_keys(self, group):
        return {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if group["amsgrad"] else set())

    def step(self):
        """Apply one Adam (or AdamW) update to every parameter that has a gradient."""
        self._checked_finite = set()  # (should this step raise part-way, it vouches for nothing)
        compiled, ids = [], []  # the updates the compiled loop does, all at once after the loop
        for group in self.param_groups:
            lr = _as_float(group["lr"], "lr")
            beta1, beta2 = (_as_float(b, "beta") for b in group["betas"])
            eps = _as_float(group["eps"], "eps")
            weight_decay = _as_float(group["weight_decay"], "weight_decay")
            for p in group["params"]:
                g = self._grad(p)
                if g is None:
                    continue
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p._data)
                    state["exp_avg_sq"] = np.zeros_like(p._data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros_like(p._data)
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                args = (lr, beta1, beta2, eps, weight_decay, state["step"], "decoupled" if self._decoupled else "l2")
                if not group["amsgrad"] and _compiled(p._data, m, v):
                    # the whole update in one compiled pass, the same numbers as the reference
                    compiled.append((p._data, np.ascontiguousarray(g), m, v) + args)
                    ids.append(id(p))
                else:
                    _kernels.adam_update_reference(p._data, g, m, v, *args, max_v=state.get("max_exp_avg_sq"))
        counts = _kernels.adam_update_many(compiled)  # on two threads when that pays, see kernels/optim.py
        self._checked_finite = {i for i, bad in zip(ids, counts) if bad == 0}  # (each count: NaN/inf written)


def checked_finite(optimizer):
    """The ``id`` of each parameter whose new values ``optimizer``'s last :meth:`~Optimizer.step`
    wrote with a compiled update that counted them and found them all finite; an empty set for
    any other optimizer.

    Only :class:`SGD` and :class:`Adam`/:class:`AdamW`'s own ``step`` counts, and only they are
    trusted: a subclass that overrides ``step`` may change the weights after the count, and a
    wrapper may not be an :class:`Optimizer` at all. The training loop's guard reads the weights
    of every parameter not in this set.
    """
    if not isinstance(optimizer, Optimizer) or type(optimizer).step not in (SGD.step, Adam.step):
        return frozenset()
    return optimizer._checked_finite


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), the standard optimiser for transformers.

    Identical to :class:`Adam` except for weight decay: instead of adding ``weight_decay * p`` to
    the gradient (where Adam's per-weight scaling would distort it), each step first shrinks every
    weight by a fixed fraction::

        p = p * (1 - lr * weight_decay)
        ... then the Adam update with the bare gradient ...

    Default ``weight_decay`` is 0.01, as in PyTorch. Put biases, LayerNorm gains and embeddings
    in a group with ``weight_decay=0`` if they should not be pulled towards zero.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop: each weight's step is its gradient divided by the root-mean-square of its recent gradients.

    For each parameter ``p`` with gradient ``g``, one step is (PyTorch's rules exactly)::

        g = g + weight_decay * p                          # L2 penalty (if weight_decay)
        v = alpha * v + (1 - alpha) * g * g               # running mean of squared gradients
        if centered:                                      # subtract the squared mean gradient:
            m = m + (1 - alpha) * (g - m)                 #   a running variance instead
            denom = sqrt(v - m * m) + eps
        else:
            denom = sqrt(v) + eps
        if momentum:
            buf = momentum * buf + g / denom
            p = p - lr * buf
        else:
            p = p - lr * g / denom

    A weight whose gradients are large gets small steps and one whose gradients are tiny gets
    larger ones, as in Adam (which adds a running mean of ``g`` and a bias correction).

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 0.01, PyTorch's).
        alpha: decay rate of the running mean of squares (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty coefficient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance (default False).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        _check_finite(group["alpha"], "alpha")
        _check_finite(group["eps"], "eps")
        _check_finite(group["weight_decay"], "weight_decay")
        _check_finite(group["momentum"], "momentum")

    def _state_keys(self, group):
        return ({"step", "square_avg"} | ({"momentum_buffer"} if group["momentum"] > 0 else set())
                | ({"grad_avg"} if group["centered"] else set()))

    def step(self):
        """Apply one RMSprop update to every parameter that has a gradient."""
        for group in self.param_groups:
            lr = _as_float(group["lr"], "lr")
            alpha = _as_float(group["alpha"], "alpha")
            eps = _as_float(group["eps"], "eps")
            weight_decay = _as_float(group["weight_decay"], "weight_decay")
            momentum = _as_float(group["momentum"], "momentum")
            for p in group["params"]:
                g = self._grad(p)
                if g is None:
                    continue
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p._data)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(p._data)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(p._data)
                state["step"] += 1
                if weight_decay != 0:
                    g = g + weight_decay * p._data  # a new array: p.grad itself is left alone
                v = state["square_avg"]
                v *= alpha
                v += (1.0 - alpha) * (g * g)
                if group["centered"]:
                    m = state["grad_avg"]
                    m += (1.0 - alpha) * (g - m)
                    denom = np.sqrt(v - m * m)
                else:
                    denom = np.sqrt(v)
                denom += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += g / denom
                    p._data -= lr * buf
                else:
                    p._data -= lr * (g / denom)


def flat_state_dict(state_dict):
    """An optimiser's :meth:`~Optimizer.state_dict` as one flat dict of numpy arrays and numbers,
    the layout a training checkpoint (``.npz``) stores and older versions of this library returned:
    ``"param_groups.<g>.<name>"`` (``params`` an int64 array, ``betas`` a float64 array) and
    ``"state.<i>.<name>"`` (``step`` an int). :meth:`Optimizer.load_state_dict` reads it back."""
    flat = {}
    for g, group in enumerate(state_dict["param_groups"]):
        for key, value in group.items():
            if key == "params":
                value = np.array(value, dtype=np.int64)
            elif isinstance(value, tuple):
                value = np.array(value, dtype=np.float64)
            flat[f"param_groups.{g}.{key}"] = value
    for i, entries in state_dict["state"].items():
        for key, value in entries.items():
            flat[f"state.{i}.{key}"] = int(np.asarray(value).item()) if key == "step" else np.array(value, copy=True)
    return flat


def _from_flat(flat):
    """PyTorch's nested layout from the flat one of :func:`flat_state_dict` (older checkpoints)."""
    nested = {"state": {}, "param_groups": {}}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        index, _, name = rest.partition(".")
        if head not in nested or not index.isdigit() or not name:
            raise ValueError(f"cannot load optimizer state_dict: key {key!r} is neither PyTorch's layout ('state', "
                             "'param_groups') nor the flat one of older checkpoints ('state.<i>.<name>')")
        nested[head].setdefault(int(index), {})[name] = value
    nested["param_groups"] = [nested["param_groups"][g] for g in sorted(nested["param_groups"])]
    return nested


# --- learning-rate schedules -------------------------------------------------------------------


class LRScheduler:
    """Base class for learning-rate schedules: sets ``group["lr"]`` from the number of steps taken.

    Each group's learning rate when the scheduler is created is remembered as its *base* lr.
    The scheduler sets the lr for step 0 at once; call :meth:`step` once after each
    ``optimizer.step()`` so that the next update uses the next step's lr::

        sched = optim.CosineWithWarmup(opt, warmup_steps=100, total_steps=2000, min_lr=1e-4)
        for it in range(2000):
            ...; opt.step(); sched.step()

    Subclasses implement :meth:`lr_at` (learning rate of one group at a given step).
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, step, base_lr, group_index):
        """The learning rate of group ``group_index`` (whose base lr is ``base_lr``) at ``step``."""
        raise NotImplementedError

    @property
    def last_epoch(self):
        """PyTorch's name for :attr:`last_step`: how many times :meth:`step` was called."""
        return self.last_step

    def get_last_lr(self):
        """The learning rates (one per group) that the next optimiser step will use."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def _apply(self):
        for i, (group, base) in enumerate(zip(self.optimizer.param_groups, self.base_lrs)):
            lr = float(self.lr_at(self.last_step, base, i))
            if not (math.isfinite(lr) and lr >= 0):
                raise ValueError(f"{type(self).__name__} gave learning rate {lr} for group {i} at step "
                                 f"{self.last_step}; it must be a finite number >= 0")
            group["lr"] = lr

    def step(self):
        """Advance one step and set every group's learning rate for it."""
        self.last_step += 1
        self._apply()

    def state_dict(self):
        """The step counter and base learning rates, as plain numbers and a numpy array."""
        return {"last_step": self.last_step, "base_lrs": np.array(self.base_lrs, dtype=np.float64)}

    def load_state_dict(self, state_dict):
        """Resume from :meth:`state_dict` and set the learning rates for the restored step."""
        base = np.asarray(state_dict["base_lrs"], dtype=np.float64).reshape(-1)
        if base.size != len(self.optimizer.param_groups):
            raise ValueError(f"scheduler state has {base.size} base lr(s), the optimiser has "
                             f"{len(self.optimizer.param_groups)} group(s)")
        self.last_step = int(np.asarray(state_dict["last_step"]).item())
        self.base_lrs = [float(b) for b in base]
        self._apply()


class LambdaLR(LRScheduler):
    """Learning rate = base lr times ``lr_lambda(step)``: any schedule you can write as a function.

    Args:
        optimizer: the optimiser whose learning rates to set.
        lr_lambda: a function of the step (0, 1, 2, ...) returning a multiplier, or a list of
            such functions, one per parameter group.
    """

    def __init__(self, optimizer, lr_lambda):
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"got {len(lambdas)} lr_lambda functions for {n} parameter groups")
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return base_lr * self.lr_lambdas[group_index](step)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps: ``base * gamma**(step // step_size)``."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if int(step_size) < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = _check_finite(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return base_lr * self.gamma ** (step // self.step_size)


def cosine_with_warmup_lr(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
    """The learning rate at ``step`` of a linear warm-up followed by a cosine decay.

    * ``step < warmup_steps``: rises linearly, ``base_lr * (step + 1) / (warmup_steps + 1)``
      (never exactly 0, so the first step already learns something);
    * ``warmup_steps <= step <= total_steps``: half a cosine from ``base_lr`` down to ``min_lr``,
      ``min_lr + (base_lr - min_lr) * (1 + cos(pi * r)) / 2`` with
      ``r = (step - warmup_steps) / (total_steps - warmup_steps)``;
    * ``step > total_steps``: stays at ``min_lr``.

    Warm-up avoids large, badly-aimed steps while Adam's moment estimates are still noisy;
    the slow decay at the end lets the weights settle into a minimum.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / (warmup_steps + 1)
    if step >= total_steps:
        return min_lr
    ratio = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * ratio))


class CosineWithWarmup(LRScheduler):
    """Linear warm-up for ``warmup_steps`` steps, then cosine decay to ``min_lr`` at ``total_steps``.

    See :func:`cosine_with_warmup_lr` for the formula. ``min_lr`` is an absolute learning rate
    (a number, or a list with one per parameter group). nanoGPT's CPU recipe is
    ``CosineWithWarmup(opt, warmup_steps=100, total_steps=2000, min_lr=1e-4)`` with lr 1e-3.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0):
        if not 0 <= int(warmup_steps) < int(total_steps):
            raise ValueError(f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
                             f"total_steps={total_steps}")
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"got {len(min_lrs)} min_lr values for {n} parameter groups")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lrs = [_check_finite(m, "min_lr") for m in min_lrs]
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return cosine_with_warmup_lr(step, base_lr, self.warmup_steps, self.total_steps,
                                     self.min_lrs[group_index])


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each step count in ``milestones``:
    ``base * gamma ** (number of milestones <= step)``."""

    def __init__(self, optimizer, milestones, gamma=0.1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = _check_finite(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return base_lr * self.gamma ** sum(1 for m in self.milestones if m <= step)


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every step: ``base * gamma ** step``."""

    def __init__(self, optimizer, gamma):
        self.gamma = _check_finite(gamma, "gamma")
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return base_lr * self.gamma ** step


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base lr down to ``eta_min`` over ``T_max`` steps (SGDR without restarts):
    ``eta_min + (base - eta_min) * (1 + cos(pi * step / T_max)) / 2``. After ``T_max`` the cosine
    goes on (back up), as PyTorch's does."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = _check_finite(eta_min, "eta_min")
        super().__init__(optimizer)

    def lr_at(self, step, base_lr, group_index):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * step / self.T_max)) / 2


class ReduceLROnPlateau:
    """Cut the learning rate when a watched number stops improving (PyTorch's, with its defaults).

    Call ``scheduler.step(val_loss)`` once per epoch with the number to watch. When it has not
    improved for more than ``patience`` calls in a row, every group's lr is multiplied by ``factor``
    (not below ``min_lr``; changes smaller than ``eps`` are skipped); then ``cooldown`` calls pass
    before bad calls count again. "Improved" means, for ``mode="min"`` and ``threshold_mode="rel"``,
    below ``best * (1 - threshold)`` (``"abs"``: below ``best - threshold``; ``mode="max"`` mirrors it).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau needs an Optimizer, got {type(optimizer).__name__}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode 'rel' or 'abs', "
                             f"got {mode!r} and {threshold_mode!r}")
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"ReduceLROnPlateau: got {len(min_lrs)} min_lr values for {n} parameter groups")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode, self.cooldown = float(threshold), threshold_mode, int(cooldown)
        self.min_lrs, self.eps = [float(m) for m in min_lrs], float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, a, best):
        """Whether the number ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics):
        """Record this epoch's watched number (a float or a one-element Tensor) and cut the lr if it is time."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs do not count while cooling down
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self):
        """The learning rates (one per group) that the next optimiser step will use."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    _STATE = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def state_dict(self):
        """Where the watch stands (best, bad-epoch and cooldown counters, epochs seen), as plain numbers."""
        return {name: getattr(self, name) for name in self._STATE}

    def load_state_dict(self, state_dict):
        """Resume from :meth:`state_dict`."""
        self.best = float(np.asarray(state_dict["best"]).item())
        for name in self._STATE[1:]:
            setattr(self, name, int(np.asarray(state_dict[name]).item()))


# PyTorch keeps its schedules in the module torch.optim.lr_scheduler. The same names under the same
# module name (registered in sys.modules, so `from micrograd_plus.optim.lr_scheduler import StepLR`
# works), without a second file: the schedules above are short and live beside the optimisers.
lr_scheduler = types.ModuleType(f"{__name__}.lr_scheduler", "Learning-rate schedules (PyTorch's module name).")
for _name in ("LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
              "CosineWithWarmup", "ReduceLROnPlateau"):
    setattr(lr_scheduler, _name, globals()[_name])
lr_scheduler.__all__ = [n for n in dir(lr_scheduler) if not n.startswith("_")]
sys.modules[lr_scheduler.__name__] = lr_scheduler
