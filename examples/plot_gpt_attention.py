"""
GPT, part 4: where each attention head looks
============================================

In an attention head, every position asks a question (its *query*), every earlier position
offers an answer to "am I relevant?" (its *key*), and the softmax of the query-key dot products,
scaled by ``1/sqrt(d)``, says how much of each earlier position's *value* flows in. These weights
form a triangle: a position can only look at itself and the past (the causal mask).

Here we draw the attention weights of every head of the small model from part 2 for one line of
text. Row ``t`` of each picture shows where position ``t`` looks.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.checkpoint import CheckpointError
from micrograd_plus.train.gpt import TrainConfig, load_model, train

model_config = GPTConfig(block_size=32, n_layer=2, n_head=4, n_embd=64)
train_config = TrainConfig(batch_size=16, max_iters=700, learning_rate=3e-3, min_lr=3e-4,
                           warmup_iters=50, eval_interval=175, eval_iters=8, seed=1337)
handoff = Path(tempfile.gettempdir()) / "micrograd_plus-gpt-example.npz"  # written by part 2


def trained_model():
    """Load part 2's model if its checkpoint matches these configs, else train it as part 2 does."""
    try:
        model, tok, meta = load_model(handoff)
        if (meta["train_config"] == train_config.to_dict()
                and meta.get("step") == train_config.max_iters
                and {**meta["model_config"], "vocab_size": 0} == {**model_config.to_dict(), "vocab_size": 0}):
            return model, tok
    except (OSError, ValueError, KeyError, CheckpointError):   # none, or one another version wrote
        pass
    result = train(model_config, train_config, out_dir=tempfile.mkdtemp(), progress=False, log=None)
    result.model.eval()
    return result.model, result.task.tokenizer


model, tok = trained_model()

# %%
# The attention weights
# ---------------------
# ``model.attention_maps(ids)`` returns an array (layers, heads, T, T); entry ``[l, h, t, s]``
# is how much position ``t`` attends to position ``s``. Each row sums to 1 and everything above
# the diagonal is exactly 0.
text = "ROMEO:\nBut soft, what light"
maps = model.attention_maps(tok.encode(text))
L, H, T, _ = maps.shape
print(maps.shape, "row sums:", np.round(maps.sum(-1).min(), 6), "to", np.round(maps.sum(-1).max(), 6))
print("largest weight above the diagonal:", maps[..., np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]].max())

# One head, large enough to read: the characters of the line along both axes (``␣`` is a space,
# ``⏎`` the line break). We pick the head that puts the most weight on the previous character.
labels = [{"\n": "⏎", " ": "␣"}.get(c, c) for c in text]
prev_weight = np.array([[np.mean([maps[l, h, t, t - 1] for t in range(1, T)]) for h in range(H)] for l in range(L)])
bl, bh = np.unravel_index(np.argmax(prev_weight), prev_weight.shape)
fig, ax = plt.subplots(figsize=(7, 7))
im = ax.imshow(maps[bl, bh], cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(T), labels, fontsize=11)
ax.set_yticks(range(T), labels, fontsize=11)
ax.tick_params(length=0)
ax.set_xlabel("the position looked at")
ax.set_ylabel("the position looking")
ax.set_title(f"layer {bl}, head {bh}: attention weights")
fig.colorbar(im, ax=ax, shrink=0.75)
fig.tight_layout()
plt.show()

# %%
# All the heads, small: the same line, every layer and head. The shapes differ: a thin line just
# below the diagonal is a head looking at the previous character; a wide fan spreads over the word.
fig, axes = plt.subplots(L, H, figsize=(7, 1.95 * L + 0.5), squeeze=False)
for layer in range(L):
    for h in range(H):
        ax = axes[layer, h]
        ax.imshow(maps[layer, h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"layer {layer}, head {h}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()
plt.show()

# %%
# Reading the patterns
# --------------------
# Typical heads in a small character model: one looks mostly at the *previous* character (a
# bigram detector), one spreads its attention over the whole current word, one jumps back to
# the last space or line break (where the word started). A quick summary of how far back each
# head looks on average:
pos = np.arange(T)
for layer in range(L):
    for h in range(H):
        distance = (maps[layer, h] * (pos[:, None] - pos[None, :])).sum(-1)  # expected look-back, (T,)
        prev = np.mean([maps[layer, h, t, t - 1] for t in range(1, T)])
        print(f"layer {layer} head {h}: looks back {distance[4:].mean():4.1f} characters on average, "
              f"weight on the previous character {prev:.2f}")
