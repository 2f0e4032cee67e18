"""
GPT, part 1: characters become tokens, and where the weights are
=================================================================

Before a GPT can read Shakespeare, text has to become numbers. Our tokenizer is the simplest
there is: every distinct character is one *token*, and its id is its position in the sorted list
of characters. Each id then selects one row of the **embedding** matrix: a vector of ``n_embd``
numbers that the model learns.

This page builds the tokenizer, looks at how often each token occurs, and then counts the weights
of a GPT the way 3Blue1Brown's lesson does -- for GPT-3 and for the small model we train.
"""

# %%
# The vocabulary
# --------------
import matplotlib.pyplot as plt
import numpy as np

from micrograd_plus.data import CharTokenizer, load_shakespeare, train_val_split
from micrograd_plus.models.gpt import GPT3_CONFIG, GPTConfig, weight_table

text = load_shakespeare()
tok = CharTokenizer.from_text(text)
print(f"{len(text):,} characters, {tok.vocab_size} distinct")
print("vocabulary:", repr("".join(tok.chars)))

ids = tok.encode("First Citizen:")
print("'First Citizen:' ->", ids.tolist())
print("and back:", repr(tok.decode(ids)))

# %%
# The usual split keeps the last 10% of the text for validation: the model is scored on lines it
# has never seen, which tells memorising apart from learning.
all_ids = tok.encode(text)
train_ids, val_ids = train_val_split(all_ids, 0.1)
print(f"train {len(train_ids):,} tokens, validation {len(val_ids):,} tokens")

# %%
# How often does each character occur? A model that knew nothing but these frequencies would
# already beat uniform guessing: its loss would be the entropy of this distribution.
counts = np.bincount(train_ids, minlength=tok.vocab_size)
freq = counts / counts.sum()
entropy = -(freq[freq > 0] * np.log(freq[freq > 0])).sum()
print(f"uniform guessing: loss ln({tok.vocab_size}) = {np.log(tok.vocab_size):.3f}")
print(f"knowing only character frequencies: loss {entropy:.3f}")

# The 24 most frequent tokens, most frequent first (``␣`` is the space, ``⏎`` the line break);
# the other 41 share what is left.
top = np.argsort(freq)[::-1][:24]
names = {"\n": "⏎", " ": "␣"}
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.bar(range(len(top)), 100 * freq[top])
ax.set_xticks(range(len(top)), [names.get(tok.chars[i], tok.chars[i]) for i in top], fontsize=12)
ax.set_xlim(-0.7, len(top) - 0.3)
ax.set_ylabel("% of all tokens")
ax.set_title(f"the 24 commonest of the {tok.vocab_size} tokens: {100 * freq[top].sum():.0f}% of the text")
fig.tight_layout()
plt.show()

# %%
# Counting GPT-3's weights
# ------------------------
# The lesson sorts GPT-3's weights into eight kinds of matrix. Every attention head has its own
# query, key and value matrix (128 x 12,288), every layer one output matrix, one up- and one
# down-projection for its MLP; one embedding and one unembedding sit at the ends. The totals are
# the famous figures: 175,181,291,520 weights in 27,938 matrices.
table = weight_table(GPT3_CONFIG)
print(table)

# %%
# Where do they live? Almost two thirds are in the MLPs.
fig, ax = plt.subplots(figsize=(7, 3))
ax.barh([r.category for r in table.rows][::-1], [r.weights / 1e9 for r in table.rows][::-1])
ax.set_xlabel("billions of weights")
ax.set_title("GPT-3's weights by kind")
fig.tight_layout()
plt.show()

# %%
# Our model: nanoGPT's CPU recipe
# -------------------------------
# Four layers, four heads of 32, width 128, context 64: far fewer numbers than GPT-3, but the
# same kinds of matrix. The table also says what it leaves out: here the position embeddings and
# the LayerNorm gains, and it counts the tied (shared) embedding/unembedding matrix twice.
ours = weight_table(GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))
print(ours)
print(f"GPT-3 has {table.total_weights / ours.total_weights:,.0f} times as many weights")
