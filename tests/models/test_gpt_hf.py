"""GPT-2 weights in: Hugging Face model directories read by GPT.from_pretrained.

The oracle is ``transformers`` itself (optional: ``pip install transformers``, which needs torch;
skipped without them): a tiny random GPT2LMHeadModel is built here, saved with save_pretrained,
loaded with GPT.from_pretrained, and the two models' logits compared. Without transformers, the
files are written here by hand in GPT-2's layout (names, Conv1D shapes) and checked against a
numpy forward pass.
"""

import json

import numpy as np
import pytest
import safetensors.numpy

from micrograd_plus.models.gpt import GPT, GPTConfig, config_from_hf


def _tiny_hf(tmp_path, tie=True, activation="gelu_new", seed=0):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                                  activation_function=activation, tie_word_embeddings=tie,
                                  bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(cfg)
    with torch.no_grad():  # larger weights than GPT-2's init: every part of the model then matters
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    hf.eval()
    hf.save_pretrained(tmp_path)
    return torch, hf


@pytest.mark.parametrize("tie", [True, False])
def test_logits_match_transformers(tmp_path, tie, rng):
    torch, hf = _tiny_hf(tmp_path, tie=tie)
    assert (tmp_path / "model.safetensors").is_file()
    idx = rng.integers(0, 50, size=(3, 16))
    with torch.no_grad():
        ref = hf(torch.from_numpy(idx)).logits.double().numpy()  # (3, 16, 50)
    for dtype, atol in ((np.float32, 2e-4), (np.float64, 2e-4)):
        model = GPT.from_pretrained(tmp_path, dtype=dtype)
        assert model.config.gelu_approximate == "tanh" and model.config.tie_weights == tie
        assert model.lm_head.weight.numpy().dtype == dtype
        logits = model(idx)[0].numpy().astype(np.float64)
        diff = np.abs(logits - ref).max()
        print(f"max |logits - transformers| {np.dtype(dtype).name} tie={tie}: {diff:.2e}")
        assert diff < atol, diff


def test_float64_logits_match_transformers_in_float64(tmp_path, rng):
    torch, hf = _tiny_hf(tmp_path)
    hf = hf.double()
    idx = rng.integers(0, 50, size=(2, 16))
    with torch.no_grad():
        ref = hf(torch.from_numpy(idx)).logits.numpy()
    logits = GPT.from_pretrained(tmp_path, dtype=np.float64)(idx)[0].numpy()
    diff = np.abs(logits - ref).max()
    print(f"max |logits - transformers|, both float64: {diff:.2e}")
    assert diff < 1e-10, diff


def test_exact_gelu_config_is_read(tmp_path, rng):
    torch, hf = _tiny_hf(tmp_path, activation="gelu")
    idx = rng.integers(0, 50, size=(1, 10))
    with torch.no_grad():
        ref = hf(torch.from_numpy(idx)).logits.numpy()
    model = GPT.from_pretrained(tmp_path)
    assert model.config.gelu_approximate == "none"
    np.testing.assert_allclose(model(idx)[0].numpy(), ref, atol=2e-4)


def test_sampling_from_a_loaded_model_is_greedy_like_transformers(tmp_path):
    torch, hf = _tiny_hf(tmp_path, seed=3)
    prompt = np.array([[1, 2, 3]])
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(prompt), max_new_tokens=10, do_sample=False,
                          pad_token_id=0).numpy()
    ours = GPT.from_pretrained(tmp_path).generate(prompt, 10, top_k=1, generator=0)
    np.testing.assert_array_equal(ours, ref)


# ---- without transformers: GPT-2's layout written by hand -------------------------------------


def _hand_made_gpt2_dir(tmp_path, prefix="transformer."):
    """A GPT-2 directory in Hugging Face's layout, from a model of ours: Conv1D weights (in, out),
    no lm_head (tied), optionally the old names without "transformer." and the mask buffers."""
    cfg = GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=8, bias=True,
                    gelu_approximate="tanh")
    src = GPT(cfg, generator=4)
    g = np.random.default_rng(0)
    for p in src.parameters():
        p.numpy()[...] += g.normal(0, 0.2, size=p.numpy().shape).astype(np.float32)
    arrays = {}
    for name, value in src.state_dict().items():
        short = name[len("transformer."):]
        if short.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            value = value.T
        arrays[prefix + short] = np.ascontiguousarray(value)
    if not prefix:  # the Hub's old files also carry each layer's causal mask
        for i in range(2):
            arrays[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 8, 8), dtype=np.float32))
    safetensors.numpy.save_file(arrays, str(tmp_path / "model.safetensors"))
    hf_config = {"model_type": "gpt2", "vocab_size": 20, "n_positions": 8, "n_embd": 8, "n_layer": 2,
                 "n_head": 2, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
                 "resid_pdrop": 0.1}
    (tmp_path / "config.json").write_text(json.dumps(hf_config))
    return src


@pytest.mark.parametrize("prefix", ["transformer.", ""])
def test_hand_made_directory(tmp_path, prefix, rng):
    src = _hand_made_gpt2_dir(tmp_path, prefix)
    model = GPT.from_pretrained(tmp_path)
    assert model.config == GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.1,
                                     bias=True, tie_weights=True, gelu_approximate="tanh")
    assert not model.training
    idx = rng.integers(0, 20, size=(2, 8))
    np.testing.assert_array_equal(model(idx)[0].numpy(), src.eval()(idx)[0].numpy())


def test_bad_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        GPT.from_pretrained(tmp_path)
    _hand_made_gpt2_dir(tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickle"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ValueError, match="cannot be read as safetensors"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        GPT.from_pretrained(tmp_path)


def test_a_config_of_the_wrong_shape_is_refused(tmp_path):
    _hand_made_gpt2_dir(tmp_path)
    hf = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**hf, "n_embd": 16}))
    with pytest.raises(ValueError, match="do not fit its config.json"):
        GPT.from_pretrained(tmp_path)


def test_config_from_hf_refuses_what_this_model_does_not_have():
    base = {"model_type": "gpt2", "n_embd": 8, "n_head": 2}
    assert config_from_hf(base).block_size == 1024  # GPT-2's defaults fill the rest
    for extra, word in (({"n_inner": 64}, "n_inner"), ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
                        ({"activation_function": "relu"}, "activation_function"),
                        ({"model_type": "llama"}, "model_type"),
                        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx")):
        with pytest.raises(ValueError, match=word):
            config_from_hf({**base, **extra})
