"""``save`` and ``load`` with PyTorch's signatures -- and a file format that can never run code.

PyTorch's ``torch.save`` writes a *pickle*: loading one can execute any code its author put in
(which is why PyTorch added ``weights_only``). This library never unpickles. ``save`` writes a
numpy ``.npz`` zip: every tensor and array as a ``.npy`` member (raw numbers), and the shape of
the object -- which dict key, list position or tuple holds what -- as a JSON string. ``load``
reads it back with ``allow_pickle=False``.

What can be saved: dicts (string or int keys), lists and tuples, nested as deep as you like, of
Tensors (``requires_grad`` kept), numpy arrays, numbers, strings, bools and None. That covers
``model.state_dict()``, ``optimizer.state_dict()``, a scheduler's, a generator's ``get_state()``,
and a checkpoint dict of all of them with the epoch and the loss::

    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}, "ckpt.pt")
    ckpt = torch.load("ckpt.pt")
    model.load_state_dict(ckpt["model"])

A whole ``nn.Module`` or any other object cannot be saved (that would need pickle): save its
``state_dict()``. A file written by PyTorch's own ``torch.save`` is refused with one line saying how
to bring the weights over (safetensors or numpy).
"""

import io
import json
import os
import zipfile

import numpy as np

from micrograd_plus._plumbing.atomic import atomic_write
from micrograd_plus.random import _check_cpu
from micrograd_plus._tensor import Tensor, _wrap

__all__ = ["save", "load"]

_STRUCTURE = "__micrograd_plus_save__"  # the member holding the JSON description
_FORMAT = 1


def _encode(obj, arrays, where):
    """``obj`` as JSON-able data; arrays go into ``arrays`` and are referred to by key."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return {"float": repr(obj)}  # repr round-trips exactly, nan and inf included
    if isinstance(obj, Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(obj._data, order="C")  # 0-d stays 0-d
        return {"tensor": key, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biufU":
            raise TypeError(f"save: the numpy array at {where} has dtype {arr.dtype}, which would need pickle")
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(arr, order="C")
        return {"ndarray" if isinstance(obj, np.ndarray) else "npscalar": key}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int, np.integer)):
                raise TypeError(f"save: dict keys must be strings or ints, got {type(k).__name__} at {where}")
            k = k if isinstance(k, str) else int(k)
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        values = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
        return values if isinstance(obj, list) else {"tuple": values}
    hint = " (save model.state_dict() instead; loading it needs the model's class, as in PyTorch)" \
        if hasattr(obj, "state_dict") else ""
    raise TypeError(f"save cannot store a {type(obj).__name__} at {where}: micrograd_plus saves dicts, lists and "
                    f"tuples of Tensors, arrays, numbers and strings, never pickled objects{hint}")


def _decode(data, arrays):
    if isinstance(data, list):
        return [_decode(v, arrays) for v in data]
    if not isinstance(data, dict):
        return data
    if "float" in data:
        return float(data["float"])
    if "tensor" in data:
        return _wrap(arrays[data["tensor"]], requires_grad=data["requires_grad"])
    if "ndarray" in data:
        return arrays[data["ndarray"]]
    if "npscalar" in data:
        return arrays[data["npscalar"]][()]
    if "tuple" in data:
        return tuple(_decode(v, arrays) for v in data["tuple"])
    return {k: _decode(v, arrays) for k, v in data["dict"]}


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` to ``f`` (a path or a binary file object), as ``torch.save`` -- without pickle.

    Args:
        obj: nested dicts / lists / tuples of Tensors, numpy arrays, numbers, strings, bools, None
            (a ``state_dict``, an optimizer's ``state_dict``, a checkpoint dict). Anything else
            raises a TypeError naming where it is, and nothing is written.
        f: a file name (written atomically: the old file or the whole new one, never half) or an
            open binary file.
        pickle_module, pickle_protocol: accepted for PyTorch's signature; pickle is never used.
    """
    if pickle_module is not None:
        raise TypeError("save: pickle_module is not supported; micrograd_plus never pickles (a pickle can run code)")
    arrays = {}
    structure = {"format": _FORMAT, "object": _encode(obj, arrays, "the top level")}
    text = json.dumps(structure, allow_nan=False)
    members = dict(arrays, **{_STRUCTURE: np.array(text)})
    if hasattr(f, "write"):
        np.savez(f, **members)
        return
    with atomic_write(os.fspath(f)) as out:
        np.savez(out, **members)


def _pytorch_error(name, what):
    return ValueError(
        f"{name} {what}; micrograd_plus never unpickles (a pickle can run code). In PyTorch, export the "
        "tensors instead: safetensors.torch.save_file(model.state_dict(), 'model.safetensors') (read here with "
        "safetensors.numpy.load_file) or np.savez('weights.npz', **{k: v.numpy() for k, v in sd.items()})")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Read what :func:`save` wrote, as ``torch.load``: Tensors come back as Tensors, the rest as saved.

    Args:
        f: a file name or an open binary file.
        map_location: accepted for PyTorch's signature: ``None``, ``"cpu"``, a cpu device, or a
            function or dict (everything is loaded onto the CPU anyway); ``"cuda"`` raises.
        weights_only: accepted; loading never runs code here, whatever its value.
        mmap: accepted; the file is read into memory.

    A plain ``.npz`` of arrays (``np.savez``) loads as a dict of Tensors; a ``.safetensors`` file
    as a dict of Tensors. A file written by PyTorch's ``torch.save`` (a pickle) raises a ValueError
    saying how to export the weights from PyTorch instead.
    """
    if isinstance(map_location, str) or type(map_location).__name__ == "device":
        _check_cpu(map_location, "load(map_location=...)")
    name = repr(os.fspath(f)) if not hasattr(f, "read") else "the file"
    raw = f.read() if hasattr(f, "read") else _read(f)
    head = raw[:8]
    if head.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = z.namelist()
        if any(n.endswith("data.pkl") for n in names):
            raise _pytorch_error(name, "was written by PyTorch's torch.save (a zip holding a pickle, data.pkl)")
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if _STRUCTURE not in arrays:  # a plain np.savez file
            return {k: _wrap(v) for k, v in arrays.items()}
        structure = json.loads(str(arrays.pop(_STRUCTURE)))
        if structure.get("format") != _FORMAT:
            raise ValueError(f"{name} was saved in format {structure.get('format')}, this version reads {_FORMAT}")
        return _decode(structure["object"], arrays)
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
        raise _pytorch_error(name, "is a pickle (PyTorch's legacy torch.save format, or pickle.dump)")
    if len(raw) >= 9 and raw[8:9] == b"{":
        from safetensors.numpy import load as load_safetensors  # only for .safetensors files

        return {k: _wrap(v) for k, v in load_safetensors(raw).items()}
    raise ValueError(f"{name} is not a file written by micrograd_plus.save (nor .npz or .safetensors)")


def _read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {os.fspath(path)!r}") from None
