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

Both follow :mod:`micrograd_plus._plumbing.outputs`: an existing file is replaced only with ``force=True``,
and then only the files the export itself writes (a directory's other files, a run's checkpoints
beside them, are never touched); every file is written to a temporary file beside its place and
renamed there when complete, so an interrupted export never leaves a half-written model.

The names need no table: this library's GPT uses nanoGPT's names, which are Hugging Face's too.
Two things do change on the way to Hugging Face: GPT-2's ``Conv1D`` stores the four block matrices
transposed (:data:`~micrograd_plus.models.huggingface.CONV1D_WEIGHTS`), and GPT-2 always has biases, so a
model trained without them gets zero biases (the same function).
"""

import json

import numpy as np
import safetensors.numpy

from micrograd_plus._plumbing.outputs import check_output, output_file, write_files
from micrograd_plus.models.huggingface import CONV1D_WEIGHTS

__all__ = ["hf_config", "hf_state_dict", "hf_files", "export_hf", "nanogpt_model_args", "export_nanogpt"]


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


def hf_files(model, tokenizer=None):
    """The files of a Hugging Face GPT-2 directory for ``model``, as ``{file name: bytes}``:
    ``config.json``, ``model.safetensors``, and with a tokenizer this library's
    ``micrograd_plus_tokenizer.json`` (plus GPT-2's ``vocab.json`` + ``merges.txt`` for a BPE one)."""
    files = {
        "config.json": (json.dumps(hf_config(model.config), indent=2) + "\n").encode("utf-8"),
        "model.safetensors": safetensors.numpy.save(hf_state_dict(model), metadata={"format": "pt"}),
    }
    if tokenizer is not None:
        d = tokenizer.to_dict()
        files["micrograd_plus_tokenizer.json"] = json.dumps(d, ensure_ascii=False).encode("utf-8")
        if hasattr(tokenizer, "merges"):  # a BPETokenizer: GPT-2's own two files
            files["vocab.json"] = json.dumps(d["vocab"], ensure_ascii=False).encode("utf-8")
            files["merges.txt"] = ("#version: 0.2\n" + "".join(m + "\n" for m in d["merges"])).encode("utf-8")
    return files


def export_hf(model, out_dir, tokenizer=None, force=False):
    """Write ``model`` as a Hugging Face GPT-2 directory; returns its path.

    Args:
        model: a :class:`~micrograd_plus.models.gpt.GPT`.
        out_dir: the directory to write into, made if missing: the files of :func:`hf_files`
            (``config.json``, ``model.safetensors``, ...). Its other files are never touched.
        tokenizer: the model's tokenizer, or None.
        force: replace those files where they exist (without it, any of them existing is an error
            before anything is written).

    The files appear together or not at all (:func:`micrograd_plus._plumbing.outputs.write_files`).
    """
    return write_files(out_dir, hf_files(model, tokenizer), force=force)


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
    out_path = check_output(out_path, force, make_parents=True)
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
    with output_file(out_path, force, make_parents=True) as f:  # the whole ckpt.pt or none; an existing one only with force
        torch.save(checkpoint, f)
    return out_path
