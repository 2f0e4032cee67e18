"""
GPT, part 2: a small training run, and text from it
===================================================

Training a GPT is gradient descent on one question, asked at every position of every batch:
*how surprised was the model by the character that really came next?* That surprise,
``-ln p(true next character)``, averaged over the batch, is the cross-entropy loss.

This page trains a small GPT (2 layers, 4 heads, width 64) on Tiny Shakespeare for 700
iterations with the same loop as ``micrograd-plus gpt train``: AdamW, warm-up then cosine
learning-rate decay, gradient clipping, and an evaluation on held-out text every 175
iterations. (How long that took when this page was built is printed below.) Then it writes some
Shakespeare of its own.
"""

# %%
# Train
# -----
# :func:`~micrograd_plus.train.gpt.train` returns the model and writes checkpoints plus a loss
# log (one JSON object per line) into ``out_dir``. The same seed always gives the same run.
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.gpt import TrainConfig, train

model_config = GPTConfig(block_size=32, n_layer=2, n_head=4, n_embd=64)
train_config = TrainConfig(batch_size=16, max_iters=700, learning_rate=3e-3, min_lr=3e-4,
                           warmup_iters=50, eval_interval=175, eval_iters=8, seed=1337)
out_dir = Path(tempfile.mkdtemp(prefix="micrograd_plus-gpt-example-"))  # a fresh run directory
start = time.perf_counter()
result = train(model_config, train_config, out_dir=out_dir, force=True, progress=False)
seconds = time.perf_counter() - start
model, tok = result.model, result.task.tokenizer
# Parts 3 and 4 reuse this model: hand its checkpoint over (written beside, then renamed).
handoff = Path(tempfile.gettempdir()) / "micrograd_plus-gpt-example.npz"
shutil.copyfile(out_dir / "last.npz", f"{handoff}.{os.getpid()}.tmp")
os.replace(f"{handoff}.{os.getpid()}.tmp", handoff)
print(f"{model.num_parameters():,} parameters; {train_config.max_iters} iterations in {seconds:.0f} s "
      f"({result.ms_per_step:.1f} ms per iteration, on the machine that built this page)")

# %%
# The loss curve
# --------------
# At the start every character is about equally likely, so the loss is near ``ln 65``. Then
# the model learns which characters are common, then which follow which (bigrams), then short
# words: the loss falls fast, then slowly (the evaluations are printed under the code). The
# validation loss, on text it never trains on, follows the training loss closely: at this size
# the model is far too small to memorise a million characters.
rows = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
steps = [r for r in rows if "loss" in r and "val_loss" not in r]
evals = [r for r in rows if "val_loss" in r]
print(f"ln 65 = {np.log(65):.2f}")
for r in evals:
    print(f"iteration {r['step']:4d}: train loss {r['train_loss']:.2f}, validation loss {r['val_loss']:.2f}")
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.6, alpha=0.6, label="batch loss")
ax.plot([r["step"] for r in evals], [r["train_loss"] for r in evals], "o-", label="train (8 batches)")
ax.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "s-", label="validation")
ax.axhline(np.log(tok.vocab_size), color="gray", ls=":", label=f"ln {tok.vocab_size}: uniform guessing")
ax.set_xlabel("iteration")
ax.set_ylabel("cross-entropy loss")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# The learning-rate schedule
# --------------------------
# Warm-up (small steps while Adam's statistics are still noisy), then half a cosine down to a
# tenth of the peak, so the weights settle at the end.
fig, ax = plt.subplots(figsize=(7, 2.5))
ax.plot([r["step"] for r in steps], [r["lr"] for r in steps])
ax.set_xlabel("iteration")
ax.set_ylabel("learning rate")
fig.tight_layout()
plt.show()

# %%
# Sampling
# --------
# To write, the model predicts a distribution for the next character, we draw one, append it
# and repeat. The *temperature* divides the logits before the softmax: below 1 the likely
# characters get likelier (safer, more repetitive), above 1 the distribution flattens (wilder).
prompt = tok.encode("ROMEO:")
for temperature in (0.5, 1.0):
    ids = model.generate(prompt, 200, temperature=temperature, generator=7)
    print(f"--- temperature {temperature} ---")
    print(tok.decode(ids))
    print()

# %%
# After so few iterations of so small a model the words are half-formed but the *shape* of
# a play is there: names in capitals followed by a colon, line breaks, short words. The full
# recipe, ``micrograd-plus gpt train`` (nanoGPT's CPU settings: the model counted in part 1,
# 2,000 iterations), gets much further and writes recognisable pseudo-Shakespeare; its time and
# validation loss are measured by the benchmarks (``micrograd-plus bench gpt`` and
# ``micrograd_plus/bench/gpt_quality.py``, reported in the README).
