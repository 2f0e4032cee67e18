"""Weights out: a GPT trained here, written in the layouts PyTorch users already read.

This is the road for a model that outgrows one CPU: continue it in PyTorch, on a GPU or with
``torchrun`` across machines.

* :func:`export_hf` writes a Hugging Face GPT-2 directory (``config.json`` + ``model.safetensors``,
  and the tokenizer's ``vocab.json`` + ``merges.txt`` for a BPE model), which
  ``transformers.GPT2LMHeadModel.from_pretrained(dir)`` loads -- and so does
  :meth:`micrograd_plus.models.gpt.GPT.from_pretrained`.
* :func:`export_nanogpt` writes nanoGPT's ``ckpt.pt``: the dict that nanoGPT's ``train.py`` saves
  and reads back with ``--init_from=resume`` (``model``, ``optimizer``, ``model_args``,
  ``iter_num``, ``best_val_loss``, ``config``). It needs PyTorch, imported only here.

Both refuse to replace an existing output unless ``force=True``, and both write atomically: into a
temporary file or directory beside the target, renamed into place only when complete, so an
interrupted export never leaves a half-written model where a good one was.

The names need no table: this library's GPT uses nanoGPT's names, which are Hugging Face's too.
Two things do change on the way to Hugging Face: GPT-2's ``Conv1D`` stores the four block matrices
transposed (:data:`~micrograd_plus.models.gpt.CONV1D_WEIGHTS`), and GPT-2 always has biases, so a
model trained without them gets zero biases (the same function).
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import safetensors.numpy

from micrograd_plus._plumbing.atomic import atomic_write
from micrograd_plus.models.gpt import CONV1D_WEIGHTS

__all__ = ["hf_config", "hf_state_dict", "export_hf", "nanogpt_model_args", "export_nanogpt"]


# --------------------------------------------------------------------------------------------
# Hugging Face
# --------------------------------------------------------------------------------------------


def hf_config(config):
    """The ``config.json`` dict of a Hugging Face ``GPT2LMHeadModel`` with ``config``'s architecture."""
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,  # 4 * n_embd
        "activation_function": "gelu_new" if config.gelu_approximate == "tanh" else "gelu",
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": 0.0,  # this GPT has no dropout on the attention weights
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": config.tie_weights,
        "bos_token_id": None,
        "eos_token_id": None,
    }


def hf_state_dict(model):
    """The model's weights under Hugging Face GPT-2's names and shapes: ``{name: float32 array}``.

    Conv1D matrices are transposed to (in, out); missing biases (``bias=False``) become zeros;
    a tied ``lm_head.weight`` is left out, as ``save_pretrained`` leaves it out.
    """
    sd = model.state_dict()
    C = model.config.n_embd
    widths = {"ln_1": C, "attn.c_attn": 3 * C, "attn.c_proj": C, "ln_2": C, "mlp.c_fc": 4 * C, "mlp.c_proj": C}
    out = {}
    for name, value in sd.items():
        value = np.asarray(value, dtype=np.float32)
        if name.endswith(CONV1D_WEIGHTS):
            value = value.T  # Linear (out, in) -> Conv1D (in, out)
        out[name] = np.ascontiguousarray(value)
    if not model.config.bias:
        for i in range(model.config.n_layer):
            for layer, width in widths.items():
                out[f"transformer.h.{i}.{layer}.bias"] = np.zeros(width, dtype=np.float32)
        out["transformer.ln_f.bias"] = np.zeros(C, dtype=np.float32)
    return out


def export_hf(model, out_dir, tokenizer=None, force=False):
    """Write ``model`` as a Hugging Face GPT-2 directory; returns its path.

    Args:
        model: a :class:`~micrograd_plus.models.gpt.GPT`.
        out_dir: the directory to create (``config.json``, ``model.safetensors``, ``tokenizer.json``
            of this library; ``vocab.json`` + ``merges.txt`` when the tokenizer is a BPE one).
        tokenizer: the model's tokenizer, or None.
        force: replace an existing ``out_dir``.
    """
    out_dir = Path(out_dir).expanduser()
    _refuse_existing(out_dir, force, is_dir=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        (tmp / "config.json").write_text(json.dumps(hf_config(model.config), indent=2) + "\n")
        safetensors.numpy.save_file(hf_state_dict(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        if tokenizer is not None:
            (tmp / "micrograd_plus_tokenizer.json").write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False))
            if hasattr(tokenizer, "merges"):  # a BPETokenizer: GPT-2's own two files
                d = tokenizer.to_dict()
                (tmp / "vocab.json").write_text(json.dumps(d["vocab"], ensure_ascii=False), encoding="utf-8")
                merges = "#version: 0.2\n" + "".join(m + "\n" for m in d["merges"])
                (tmp / "merges.txt").write_text(merges, encoding="utf-8")
        for f in tmp.iterdir():
            _fsync(f)
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


# --------------------------------------------------------------------------------------------
# nanoGPT
# --------------------------------------------------------------------------------------------


def nanogpt_model_args(config):
    """nanoGPT's ``model_args`` (its ``GPTConfig(**model_args)``) for ``config``.

    nanoGPT's GPT always ties its head to the embedding and uses the exact GELU; a model that
    differs is refused, since nanoGPT would silently compute something else.
    """
    if not config.tie_weights:
        raise ValueError("nanoGPT's GPT always ties lm_head to the token embedding; this model has "
                         "tie_weights=False, which its checkpoint cannot express (use --format hf)")
    if config.gelu_approximate != "none":
        raise ValueError(f"nanoGPT's MLP uses the exact GELU; this model uses gelu_approximate="
                         f"{config.gelu_approximate!r} (use --format hf)")
    return {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
            "block_size": config.block_size, "bias": config.bias, "vocab_size": config.vocab_size,
            "dropout": config.dropout}


def export_nanogpt(model, out_path, iter_num=0, best_val_loss=None, train_config=None, optimizer_state=None,
                   dataset=None, force=False):
    """Write ``model`` as nanoGPT's ``ckpt.pt``; returns its path. Needs PyTorch.

    Args:
        model: a :class:`~micrograd_plus.models.gpt.GPT` (tied, exact GELU: :func:`nanogpt_model_args`).
        out_path: the file to write (nanoGPT's ``train.py`` reads ``OUT_DIR/ckpt.pt``).
        iter_num: the iteration reached; nanoGPT continues from it.
        best_val_loss: the best validation loss so far (None: 1e9, nanoGPT's "none yet").
        train_config: a dict of training settings for nanoGPT's ``config`` entry (batch_size,
            learning_rate, ...); nanoGPT logs it and its ``sample.py`` reads ``config["dataset"]``.
        optimizer_state: ``{parameter name: {"step", "exp_avg", "exp_avg_sq"}}``, AdamW's moments
            per parameter; None starts PyTorch's AdamW afresh.
        dataset: nanoGPT's dataset name for ``config["dataset"]`` (e.g. ``"shakespeare_char"``).
        force: replace an existing file.

    The ``optimizer`` entry is a real ``torch.optim.AdamW`` state dict over nanoGPT's two
    parameter groups (every matrix and embedding decays, biases and LayerNorms do not), so that
    ``train.py --init_from=resume`` can load it.
    """
    out_path = Path(out_path).expanduser()
    _refuse_existing(out_path, force, is_dir=False)
    model_args = nanogpt_model_args(model.config)
    try:
        import torch  # here only: PyTorch is optional and takes seconds to import
    except ImportError:
        raise ModuleNotFoundError("writing nanoGPT's ckpt.pt needs PyTorch, which is not installed: "
                                  "pip install torch==2.13.0") from None
    tc = dict(train_config or {})
    names = list(model.state_dict())  # nanoGPT's named_parameters order (a tied head appears once)
    params = {n: torch.nn.Parameter(torch.tensor(np.asarray(v, dtype=np.float32))) for n, v in model.state_dict().items()}
    state_dict = dict(params)
    state_dict["lm_head.weight"] = params["transformer.wte.weight"]  # tied: one tensor under both names

    decay = [params[n] for n in names if params[n].dim() >= 2]
    no_decay = [params[n] for n in names if params[n].dim() < 2]
    betas = (float(tc.get("beta1", 0.9)), float(tc.get("beta2", 0.95)))
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": float(tc.get("weight_decay", 0.1))},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=float(tc.get("learning_rate", 6e-4)), betas=betas)
    for name, s in (optimizer_state or {}).items():
        opt.state[params[name]] = {
            "step": torch.tensor(float(s["step"])),
            "exp_avg": torch.tensor(np.asarray(s["exp_avg"], dtype=np.float32)),
            "exp_avg_sq": torch.tensor(np.asarray(s["exp_avg_sq"], dtype=np.float32)),
        }
    config = {**{k: v for k, v in tc.items() if isinstance(v, (int, float, bool, str))}, **model_args}
    if dataset is not None:
        config["dataset"] = dataset
    config.setdefault("init_from", "resume")
    checkpoint = {
        "model": {k: v.detach() for k, v in state_dict.items()},
        "optimizer": opt.state_dict(),
        "model_args": model_args,
        "iter_num": int(iter_num),
        "best_val_loss": 1e9 if best_val_loss is None else float(best_val_loss),
        "config": config,
    }
    with atomic_write(out_path) as f:  # the whole ckpt.pt or none
        torch.save(checkpoint, f)
    return out_path


# --------------------------------------------------------------------------------------------
# Safe writing
# --------------------------------------------------------------------------------------------


def _refuse_existing(path, force, is_dir):
    """Raise FileExistsError if ``path`` exists, unless ``force`` and it is of the kind being written;
    NotADirectoryError / PermissionError if it cannot be made (under a file, in a read-only directory)."""
    for parent in path.parents:  # the nearest existing ancestor must be a writable directory
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {path}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise PermissionError(f"cannot write {path}: {parent} is not writable")
            break
    if not path.exists():
        return
    if not force:
        raise FileExistsError(f"{path} already exists; choose another output or pass --force to replace it")
    if path.is_dir() != is_dir:
        kind = "a directory" if path.is_dir() else "a file"
        raise FileExistsError(f"{path} is {kind}; not replacing it with {'a directory' if is_dir else 'a file'}")


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _move_into_place(tmp_dir, out_dir):
    """Rename the finished ``tmp_dir`` to ``out_dir``; an old ``out_dir`` is moved aside first and
    deleted only once the new one is in place."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    try:
        os.replace(tmp_dir, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old)
