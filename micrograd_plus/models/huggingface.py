"""GPT-2 in Hugging Face's files, read: ``config.json`` and ``model.safetensors``, and old names.

The plumbing behind :meth:`GPT.from_pretrained <micrograd_plus.models.gpt.GPT.from_pretrained>`
and :meth:`GPT.load_state_dict <micrograd_plus.models.gpt.GPT.load_state_dict>`, kept out of the
model's file:

* :func:`gpt_config_fields` -- a ``config.json``'s settings as :class:`~micrograd_plus.models.gpt_config.GPTConfig`'s fields,
  refusing settings this model does not have;
* :func:`read_gpt2_config` and :func:`read_gpt2_weights` -- the settings and the weights of a
  model directory, in this library's names and layouts (Hugging Face's ``Conv1D`` matrices transposed);
* :func:`upgrade_state_dict` -- this library's older checkpoint names, and a tied head listed twice.

Writing goes the other way in :mod:`micrograd_plus.models.export`. Only safetensors files are
read, never ``pytorch_model.bin`` (a pickle: opening one can run code).
"""

import json
from pathlib import Path

import numpy as np
import safetensors.numpy  # Hugging Face's weight files as numpy arrays: no torch, and no pickle

from micrograd_plus._plumbing.configs import loads_bounded
from micrograd_plus.data._files import DataError

__all__ = ["CONV1D_WEIGHTS", "HF_DEFAULTS", "gpt_config_fields", "read_gpt2_config", "read_gpt2_weights", "upgrade_state_dict", "defaults_used"]


def upgrade_state_dict(state_dict, config=None):
    """Translate a state dict's names to today's: ``{name: array}`` -> a new dict.

    * This library's checkpoints before the nanoGPT names: ``wte.weight`` -> ``transformer.wte.weight``
      (also ``wpe``, ``ln_f``), ``blocks.3.attn.c_attn.weight`` -> ``transformer.h.3.attn.c_attn.weight``.
    * A tied model lists its one matrix once, as ``transformer.wte.weight``; a state dict that also
      has ``lm_head.weight`` (PyTorch's state dicts list a shared tensor under both names) has it
      dropped when it is the same matrix, and refused when it is not.

    Args:
        state_dict: ``{name: numpy array or Tensor}``.
        config: the :class:`~micrograd_plus.models.gpt_config.GPTConfig` of the model it is for (its
            ``tie_weights`` matters).
    """
    out = {}
    for name, value in state_dict.items():
        if name.startswith("blocks."):
            name = "transformer.h." + name[len("blocks."):]
        elif name.split(".", 1)[0] in ("wte", "wpe", "ln_f"):
            name = "transformer." + name
        out[name] = value
    if config is not None and config.tie_weights and "lm_head.weight" in out:
        head = out.pop("lm_head.weight")
        wte = out.setdefault("transformer.wte.weight", head)
        if not np.array_equal(np.asarray(getattr(wte, "data", wte)), np.asarray(getattr(head, "data", head))):
            raise ValueError("the model ties lm_head.weight to transformer.wte.weight, but the state dict "
                             "has two different matrices for them (load it into a GPTConfig(tie_weights=False))")
    return out


#: GPT-2's four matrices per block that Hugging Face stores as Conv1D, (in, out): transposed on the
#: way in and out (nanoGPT's ``from_pretrained`` transposes the same four).
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

#: Hugging Face's names for the activation -> our ``gelu_approximate``.
_HF_GELU = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "none"}


#: GPT-2 small's settings: what Hugging Face's ``GPT2Config`` uses for a key ``config.json`` lacks.
HF_DEFAULTS = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12}


def _hf_field(hf, key, kind, default):
    """``hf[key]`` checked to be a ``kind`` (int: a whole number, not a bool; float: any number;
    bool; str); ``default`` when absent. Raises ValueError naming the key."""
    value = hf.get(key, default)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{key!r} is {value!r}, not {'an' if kind is int else 'a'} {kind.__name__}")
    return kind(value)


def gpt_config_fields(hf):
    """``GPTConfig``'s fields (a dict) from the dict of a Hugging Face GPT-2 ``config.json``.

    ``n_positions`` is the context (``block_size``); GPT-2 always has biases; ``resid_pdrop``
    becomes ``dropout``. Settings this model does not have (a different MLP width, LayerNorm
    epsilon or attention scaling) raise ValueError naming them rather than load a different model.
    """
    if not isinstance(hf, dict):
        raise ValueError(f"expected a JSON object of settings, got a {type(hf).__name__}")
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"model_type is {hf.get('model_type')!r}; only 'gpt2' models can be read")
    act = _hf_field(hf, "activation_function", str, "gelu_new")
    if act not in _HF_GELU:
        raise ValueError(f"activation_function {act!r} is not a GELU this model has (one of {sorted(_HF_GELU)})")
    sizes = {key: _hf_field(hf, key, int, default) for key, default in HF_DEFAULTS.items()}
    n_embd = sizes["n_embd"]
    unsupported = {
        "n_inner": (hf.get("n_inner"), (None, 4 * n_embd)),
        "layer_norm_epsilon": (hf.get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "scale_attn_weights": (hf.get("scale_attn_weights", True), (True,)),
        "scale_attn_by_inverse_layer_idx": (hf.get("scale_attn_by_inverse_layer_idx", False), (False,)),
        "reorder_and_upcast_attn": (hf.get("reorder_and_upcast_attn", False), (False,)),
    }
    for key, (value, allowed) in unsupported.items():
        if value not in allowed:
            raise ValueError(f"{key}={value!r} is not supported (this GPT has {allowed[-1]!r})")
    return dict(
        vocab_size=sizes["vocab_size"],
        block_size=sizes["n_positions"],
        n_layer=sizes["n_layer"],
        n_head=sizes["n_head"],
        n_embd=n_embd,
        dropout=_hf_field(hf, "resid_pdrop", float, 0.0),
        bias=True,
        tie_weights=_hf_field(hf, "tie_word_embeddings", bool, True),
        gelu_approximate=_HF_GELU[act],
    )


def _read_json(path, kind, what):
    """The JSON in ``path``, checked to be a ``kind`` (dict/list); DataError naming the file if not."""
    try:
        value = loads_bounded(path.read_text(encoding="utf-8"), "the file")  # nesting bounded before parsing
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        kind_name = {list: "array", dict: "object", str: "string", type(None): "null"}.get(type(value), "number")
        raise DataError(f"{path}: expected {what}, got a JSON {kind_name}")
    return value


def _read_safetensors(path):
    """Every array of ``model.safetensors`` in ``path`` (or of the shards its index lists)."""
    single, index = path / "model.safetensors", path / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = _read_json(index, dict, "an object with a 'weight_map'").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(f, str) for f in weight_map.values()):
            raise DataError(f"{index}: 'weight_map' is missing or not an object of tensor name -> file name")
        files = [path / f for f in sorted(set(weight_map.values()))]
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"{f}: not found (a shard that {index.name} lists)")
    elif (path / "pytorch_model.bin").is_file():
        raise DataError(f"{path} has only pytorch_model.bin, a pickle (opening one can run code); save the model "
                         "with safetensors instead: model.save_pretrained(dir, safe_serialization=True)")
    else:
        raise FileNotFoundError(f"{path}: no model.safetensors file")
    arrays = {}
    for f in files:
        try:
            arrays.update(safetensors.numpy.load_file(f))
        except Exception as exc:  # safetensors raises its own error types for damaged or odd files
            raise DataError(f"{f}: cannot be read as safetensors ({type(exc).__name__}: {exc})") from None
    return arrays


def read_gpt2_config(path):
    """``config.json`` of a Hugging Face GPT-2 directory, as a dict (checked to be a JSON object).

    A missing directory or file is a FileNotFoundError (a file given for the directory, a
    NotADirectoryError); a file that is not JSON, a DataError naming it.
    """
    path = Path(path).expanduser()
    if path.is_file():
        raise NotADirectoryError(f"{path} is a file; GPT.from_pretrained expects a Hugging Face GPT-2 model "
                                 "directory (config.json + model.safetensors)")
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path}: no config.json file (expected a Hugging Face GPT-2 model directory)")
    return _read_json(config_file, dict, "an object of settings")


def read_gpt2_weights(path):
    """The weights of a Hugging Face GPT-2 directory, in this library's names and layouts.

    Returns ``{name: numpy array}`` under nanoGPT's names (``transformer.h.0.attn.c_attn.weight``,
    ...), the four ``Conv1D`` matrices of :data:`CONV1D_WEIGHTS` transposed to a Linear's
    (out, in), the causal-mask buffers of old files left out. A damaged file, a pickle, a
    non-number or non-finite tensor is a DataError naming the file.
    """
    path = Path(path).expanduser()
    state = {}
    for name, value in _read_safetensors(path).items():
        name = name[len("transformer."):] if name.startswith("transformer.") else name
        if name.endswith((".attn.bias", ".attn.masked_bias")) and value.ndim != 1:
            continue  # old files store the causal mask as a buffer; it is not a weight
        if name.endswith(CONV1D_WEIGHTS):
            value = value.T  # Conv1D (in, out) -> Linear (out, in)
        state[name if name == "lm_head.weight" else "transformer." + name] = value
    for name, value in state.items():
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise DataError(f"{path}/model.safetensors: tensor {name!r} has dtype {value.dtype}, not a number type")
        if value.size and not np.isfinite(value).all():
            raise DataError(f"{path}/model.safetensors: tensor {name!r} holds NaN or inf values")
    return state


def defaults_used(hf):
    """Why weights may not fit a ``config.json``: ``" (config.json lacks ..., so GPT-2's default ... was used)"``,
    or ``""`` when it names every size."""
    absent = [k for k in HF_DEFAULTS if k not in hf]
    if not absent:
        return ""
    return (f" (config.json lacks {', '.join(absent)}, so GPT-2's default "
            f"{', '.join(f'{k}={HF_DEFAULTS[k]}' for k in absent)} was used)")
