"""
GPT, part 3: the next-character distribution, and what the embeddings learned
==============================================================================

A GPT's whole output is one probability distribution per position: for every character in the
vocabulary, how likely it is to come next. Sampling, greedy decoding and the loss are all just
ways of using that distribution. Here we print it in full for a few prompts, and then look at
the embedding vectors the model learned for each character: do similar characters end up near
each other?

The model is the small one trained in part 2 (reloaded from its checkpoint, or trained again if
this page runs on its own).
"""

# %%
# A trained model
# ---------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.models.gpt import GPTConfig, nearest_neighbours
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


def show(c):
    return {"\n": "\\n", " ": "sp"}.get(c, c)


# %%
# Every character's probability
# -----------------------------
# ``model.next_token_probs`` runs the model on the prompt and applies the softmax to the logits
# of the last position. All 65 probabilities are printed; they sum to 1.
prompt = "To be or not to b"
probs = model.next_token_probs(tok.encode(prompt)[None, :])[0]  # (65,)
order = np.argsort(-probs)
print(f"after {prompt!r}:")
for i in order:
    print(f"  {show(tok.chars[i]):>3}  {probs[i]:.5f}  {'#' * int(round(probs[i] * 60))}")
print(f"sum = {probs.sum():.6f}")

# %%
# The same distributions as pictures, for prompts that call for different kinds of next
# character: the end of a word, a name after a line break, the letter after ``q``.
prompts = ["To be or not to b", "ROMEO:\nI will not s", "KING HENRY VI:\nThe q", "And then he said"]
fig, axes = plt.subplots(len(prompts), 1, figsize=(11, 2.2 * len(prompts)), sharex=True)
for ax, p in zip(axes, prompts):
    pr = model.next_token_probs(tok.encode(p)[None, :])[0]
    ax.bar(range(tok.vocab_size), pr)
    ax.set_title(f"after {p!r}", fontsize=9, loc="left")
    ax.set_ylabel("p")
axes[-1].set_xticks(range(tok.vocab_size), [show(c) for c in tok.chars], fontsize=7)
fig.tight_layout()
plt.show()

# %%
# Temperature reshapes the same distribution: ``softmax(logits / T)``.
logits = model.next_token_logits(tok.encode("ROMEO:\nI will not s")[None, :])[0]
fig, ax = plt.subplots(figsize=(11, 2.8))
for T, style in ((0.5, "-"), (1.0, "--"), (2.0, ":")):
    z = logits / T
    p = np.exp(z - z.max())
    ax.plot(range(tok.vocab_size), p / p.sum(), style, marker=".", label=f"temperature {T}")
ax.set_xticks(range(tok.vocab_size), [show(c) for c in tok.chars], fontsize=7)
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Nearest neighbours among the embeddings
# ---------------------------------------
# Each character's embedding is a learned row of 64 numbers. Nobody told the model that ``a``
# and ``e`` are both vowels or that ``A`` is a capital ``a``; if similar characters end up with
# similar vectors, it is because they behave alike in the text. Cosine similarity compares the
# directions of two vectors (1: same direction, 0: unrelated).
emb = model.transformer.wte.weight.numpy().astype(np.float64)  # (65, 64)
queries = list("aeiouAEtT.,!? \n")
idx, sims = nearest_neighbours(emb, [tok.stoi[c] for c in queries], k=5)
for c, row_i, row_s in zip(queries, idx, sims):
    print(f"{show(c):>3} -> " + "  ".join(f"{show(tok.chars[j])} {s:+.2f}" for j, s in zip(row_i, row_s)))

# %%
# A map of all 65 embeddings: their two directions of greatest spread (principal components).
# Capitals, lower-case letters and punctuation tend to form separate groups.
centred = emb - emb.mean(axis=0)
_, _, vt = np.linalg.svd(centred, full_matrices=False)
xy = centred @ vt[:2].T  # (65, 2)
fig, ax = plt.subplots(figsize=(7, 7))
for i, c in enumerate(tok.chars):
    color = "tab:red" if c.isupper() else "tab:blue" if c.islower() else "tab:green"
    ax.text(xy[i, 0], xy[i, 1], show(c), color=color, ha="center", va="center", fontsize=11)
ax.set_xlim(xy[:, 0].min() * 1.15, xy[:, 0].max() * 1.15)
ax.set_ylim(xy[:, 1].min() * 1.15, xy[:, 1].max() * 1.15)
ax.set_title("character embeddings (red: capitals, blue: lower case, green: other)")
fig.tight_layout()
plt.show()
