"""Weights out: a Hugging Face GPT-2 directory and nanoGPT's ckpt.pt (micrograd_plus.models.export).

Oracles where installed (each test skips cleanly without it): ``transformers`` loads the HF export
and its logits are compared with ours; for nanoGPT, the PyTorch GPT of ``tests/models/conftest.py``
(written from the facts of nanoGPT's model.py and train.py: its module names, its tied head, its
two AdamW groups) loads the exported ``ckpt.pt`` as ``train.py --init_from=resume`` would.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from micrograd_plus._plumbing.cli import main
from micrograd_plus.data import BPETokenizer, load_shakespeare
from micrograd_plus.models import export
from micrograd_plus.models.gpt import GPT, GPTConfig


def _model(seed=0, **kw):
    cfg = GPTConfig(**{**dict(vocab_size=30, block_size=12, n_layer=2, n_head=2, n_embd=16), **kw})
    model = GPT(cfg, generator=seed)
    g = np.random.default_rng(seed + 10)
    for p in model.parameters():
        p.numpy()[...] += g.normal(0, 0.2, size=p.numpy().shape).astype(np.float32)
    return model.eval()


CONFIGS = [dict(bias=False, tie_weights=True), dict(bias=True, tie_weights=False, gelu_approximate="tanh")]


# ---- Hugging Face -----------------------------------------------------------------------------


@pytest.mark.parametrize("kw", CONFIGS)
def test_hf_files_have_gpt2s_names_shapes_and_dtypes(tmp_path, kw):
    model = _model(**kw)
    out = export.export_hf(model, tmp_path / "hf")
    arrays = safetensors.numpy.load_file(str(out / "model.safetensors"))
    C, V, L = 16, 30, 2
    expected = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (12, C),
                "transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}
    for i in range(L):
        h = f"transformer.h.{i}."
        expected.update({  # GPT-2's Conv1D layout: (in, out); biases always there
            h + "ln_1.weight": (C,), h + "ln_1.bias": (C,), h + "attn.c_attn.weight": (C, 3 * C),
            h + "attn.c_attn.bias": (3 * C,), h + "attn.c_proj.weight": (C, C), h + "attn.c_proj.bias": (C,),
            h + "ln_2.weight": (C,), h + "ln_2.bias": (C,), h + "mlp.c_fc.weight": (C, 4 * C),
            h + "mlp.c_fc.bias": (4 * C,), h + "mlp.c_proj.weight": (4 * C, C), h + "mlp.c_proj.bias": (C,)})
    if not kw["tie_weights"]:
        expected["lm_head.weight"] = (V, C)
    assert {k: v.shape for k, v in arrays.items()} == expected
    assert all(v.dtype == np.float32 for v in arrays.values())
    np.testing.assert_array_equal(arrays["transformer.h.1.mlp.c_fc.weight"],
                                  model.transformer.h[1].mlp.c_fc.weight.numpy().T)
    if not kw["bias"]:
        assert not arrays["transformer.h.0.attn.c_attn.bias"].any()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["n_positions"] == 12 and cfg["n_embd"] == C
    assert cfg["activation_function"] == ("gelu_new" if kw.get("gelu_approximate") == "tanh" else "gelu")
    assert cfg["tie_word_embeddings"] == kw["tie_weights"]
    # and it reads back here to the same function
    idx = np.random.default_rng(0).integers(0, V, size=(2, 12))
    back = GPT.from_pretrained(out)
    np.testing.assert_allclose(back(idx)[0].numpy(), model(idx)[0].numpy(), atol=1e-5)


@pytest.mark.parametrize("kw", CONFIGS)
def test_hf_export_loads_in_transformers(tmp_path, kw):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = _model(**kw)
    out = export.export_hf(model, tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    idx = np.random.default_rng(1).integers(0, 30, size=(3, 12))
    with torch.no_grad():
        ref = hf(torch.from_numpy(idx)).logits.numpy()
    diff = np.abs(ref - model(idx)[0].numpy()).max()
    print(f"max |transformers(export) - ours| {kw}: {diff:.2e}")
    assert diff < 1e-4


def test_hf_export_writes_the_bpe_tokenizer(tmp_path):
    tok = BPETokenizer.train(load_shakespeare()[:50000], 300, progress=False)
    out = export.export_hf(_model(vocab_size=300), tmp_path / "hf", tokenizer=tok)
    back = BPETokenizer.from_gpt2_files(out / "vocab.json", out / "merges.txt")
    assert back.vocab == tok.vocab and back.merges == tok.merges
    text = "ROMEO: O, she doth teach the torches to burn bright!\n"
    try:
        import transformers
    except ImportError:
        return
    hf_tok = transformers.GPT2TokenizerFast.from_pretrained(out)  # reads vocab.json + merges.txt
    assert hf_tok(text)["input_ids"] == tok.encode(text).tolist()


def test_export_refuses_to_overwrite_and_is_atomic(tmp_path, monkeypatch):
    model = _model()
    out = export.export_hf(model, tmp_path / "hf")
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        export.export_hf(_model(seed=1), out)
    assert (out / "model.safetensors").read_bytes() == before

    def broken(*a, **k):
        raise OSError("disk full")

    files = sorted(p.name for p in out.iterdir())
    monkeypatch.setattr(export.safetensors.numpy, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        export.export_hf(_model(seed=1), out, force=True)
    assert (out / "model.safetensors").read_bytes() == before  # the old export is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]  # and no temporary left behind
    assert sorted(p.name for p in out.iterdir()) == files
    monkeypatch.undo()
    export.export_hf(_model(seed=1), out, force=True)
    assert (out / "model.safetensors").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]
    with pytest.raises(IsADirectoryError, match="is a directory"):
        export.export_nanogpt(model, out, force=True)


# ---- nanoGPT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_nanogpt_checkpoint_loads_in_a_nanogpt_layout_model(tmp_path, bias, nanogpt):
    torch = pytest.importorskip("torch")
    model = _model(bias=bias)
    names = list(model.state_dict())
    g = np.random.default_rng(3)
    moments = {n: {"step": 7, "exp_avg": g.normal(size=model.state_dict()[n].shape),
                   "exp_avg_sq": g.random(model.state_dict()[n].shape)} for n in names}
    path = export.export_nanogpt(model, tmp_path / "out" / "ckpt.pt", iter_num=7, best_val_loss=1.5,
                                 train_config={"learning_rate": 1e-3, "beta2": 0.99, "batch_size": 12},
                                 optimizer_state=moments, dataset="shakespeare_char")
    ckpt = torch.load(path, weights_only=True)  # plain tensors and dicts: no pickled code needed
    assert set(ckpt) == {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
    assert set(ckpt["model_args"]) == {"n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"}
    assert ckpt["iter_num"] == 7 and ckpt["best_val_loss"] == 1.5
    assert ckpt["config"]["dataset"] == "shakespeare_char" and ckpt["config"]["batch_size"] == 12

    tmodel = nanogpt(**ckpt["model_args"])
    tmodel.load_state_dict(ckpt["model"], strict=True)  # every name, nothing extra
    idx = np.random.default_rng(4).integers(0, 30, size=(2, 12))
    with torch.no_grad():
        ref = tmodel(torch.from_numpy(idx)).numpy()
    diff = np.abs(ref - model(idx)[0].numpy()).max()
    print(f"max |nanoGPT-layout torch - ours| bias={bias}: {diff:.2e}")
    assert diff < 1e-4

    opt = tmodel.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    opt.load_state_dict(ckpt["optimizer"])  # what train.py --init_from=resume does
    by_name = dict(tmodel.named_parameters())
    for n in names:
        state = opt.state[by_name[n]]
        np.testing.assert_allclose(state["exp_avg"].numpy(), moments[n]["exp_avg"], rtol=1e-6, err_msg=n)
        assert float(state["step"]) == 7
    x = torch.from_numpy(idx)
    loss = tmodel(x).logsumexp(-1).mean()  # and it can take a step from there
    loss.backward()
    opt.step()


def test_nanogpt_refuses_what_it_cannot_express(tmp_path):
    with pytest.raises(ValueError, match="ties"):
        export.nanogpt_model_args(GPTConfig(tie_weights=False))
    with pytest.raises(ValueError, match="exact GELU"):
        export.nanogpt_model_args(GPTConfig(gelu_approximate="tanh"))
    pytest.importorskip("torch")
    (tmp_path / "ckpt.pt").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        export.export_nanogpt(_model(), tmp_path / "ckpt.pt")
    assert (tmp_path / "ckpt.pt").read_bytes() == b"precious"
    export.export_nanogpt(_model(), tmp_path / "ckpt.pt", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


# ---- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "gpt"
    rc = main(["gpt", "train", "--preset", "tiny", "--max-iters", "4", "--warmup-iters", "1", "--eval-interval", "2",
               "--eval-iters", "1", "--out", str(out), "--no-progress", "--sample-chars", "0"])
    assert rc == 0
    return out / "ckpt.npz"


def test_cli_export_hf_and_nanogpt(trained, tmp_path, capsys):
    from micrograd_plus.train.gpt import load_model

    model, _, _ = load_model(trained)
    assert main(["gpt", "export", str(trained), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    idx = np.arange(10)[None] % model.config.vocab_size
    np.testing.assert_allclose(GPT.from_pretrained(tmp_path / "hf")(idx)[0].numpy(), model(idx)[0].numpy(), atol=1e-5)
    assert main(["gpt", "export", str(trained), "--format", "hf", "--out", str(tmp_path / "hf")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["gpt", "export", str(trained), "--format", "hf", "--out", str(tmp_path / "hf"), "--force"]) == 0
    assert main(["gpt", "export", str(tmp_path / "nope.npz"), "--format", "hf", "--out", str(tmp_path / "x")]) == 2
    torch = pytest.importorskip("torch")
    assert main(["gpt", "export", str(trained), "--format", "nanogpt", "--out", str(tmp_path / "ckpt.pt")]) == 0
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert ckpt["iter_num"] == 4 and ckpt["config"]["dataset"] == "shakespeare_char"
    assert len(ckpt["optimizer"]["state"]) == len(list(model.parameters()))  # AdamW's moments came along


def test_cli_neighbours_of_a_character_model(trained, capsys):
    assert main(["gpt", "neighbours", "-c", str(trained), "a", "e", "-k", "3"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "->" in line]
    assert len(lines) == 2 and lines[0].split()[0] == "a" and lines[1].split()[0] == "e"
    assert all(len(re.findall(r"[+-]\d\.\d\d", line)) == 3 for line in lines)  # k=3 similarities each


def test_cli_bpe(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(load_shakespeare()[:20000])
    assert main(["gpt", "bpe", "--vocab-size", "300", "--data", str(text), "--out", str(tmp_path / "b.json"),
                 "--no-progress"]) == 0
    assert "bytes per token" in capsys.readouterr().out
    assert BPETokenizer.load(tmp_path / "b.json").vocab_size == 300
    assert main(["gpt", "bpe", "--vocab-size", "10", "--data", str(text)]) == 2
