"""Data for the demos: two half-moons, MNIST digits, Shakespeare's text, and mini-batches of them.

* :func:`make_moons` -- a tiny 2-D toy set for the scalar engine.
* :func:`load_mnist`, :func:`mnist_to_float` -- 70,000 handwritten digits (bundled, checksummed).
* :func:`load_shakespeare`, :func:`load_text`, :class:`CharTokenizer`, :func:`train_val_split`,
  :func:`get_batch` -- text for a character-level GPT.
* :class:`BPETokenizer` -- GPT-2's byte-level BPE tokens: trained here, or read from GPT-2's files;
  :func:`tokenizer_from_dict` rebuilds either tokenizer from what a checkpoint stores.
* :class:`DataLoader` -- seeded, shuffled mini-batches for stochastic gradient descent.

Files that are present but damaged raise :class:`DataError` naming the file.
"""

from micrograd_plus.data._files import DATA_ENV_VAR, DataError
from micrograd_plus.data.loader import DataLoader
from micrograd_plus.data.mnist import load_mnist, mnist_to_float
from micrograd_plus.data.moons import make_moons
from micrograd_plus.data.bpe import BPETokenizer
from micrograd_plus.data.text import (
    CharTokenizer,
    get_batch,
    load_shakespeare,
    load_text,
    tokenizer_from_dict,
    train_val_split,
)

__all__ = [
    "BPETokenizer",
    "DATA_ENV_VAR",
    "CharTokenizer",
    "DataError",
    "DataLoader",
    "get_batch",
    "load_mnist",
    "load_shakespeare",
    "load_text",
    "make_moons",
    "mnist_to_float",
    "tokenizer_from_dict",
    "train_val_split",
]
