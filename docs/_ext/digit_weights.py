"""The weights behind chapter 7's interactive figure, trained when the site is built.

The figure (``docs/chapters/_digit_widget.md`` + ``docs/_static/digit_widget.js``) runs
3Blue1Brown's 784-16-16-10 sigmoid network in the reader's browser. Its weights come from a real
run of :func:`micrograd_plus.train.mnist.train` with the ``3b1b`` preset's sizes and recipe, cut
to a few epochs so that it takes seconds. The result is written to
``<site>/_static/digit_weights.js`` as one JavaScript assignment (a ``<script>`` tag can load it
from ``file://`` pages too, which ``fetch`` of a JSON file cannot)::

    window.MICROGRAD_PLUS_DIGIT_NET = {"sizes": [784, 16, 16, 10], "layers": [{"W": ..., "b": ...}, ...], ...}

``W`` of each layer is ``(out, in)`` row-major, as :class:`micrograd_plus.nn.Linear` (and
PyTorch) store it: layer ``l`` computes ``a_next = sigmoid(W a + b)`` (no sigmoid on the output
logits). The file also holds the run's test accuracy and one test image per digit.

The export is cached under ``docs/_build/.digit_weights/``, keyed by the recipe and the source of
the code that trains it, so a rebuild does not train again.
"""

import dataclasses
import hashlib
import json
import os
from pathlib import Path

#: Epochs of the 3b1b recipe to run for the figure (the full preset runs 40).
EPOCHS = 6
OUTPUT_NAME = "digit_weights.js"
GLOBAL_NAME = "MICROGRAD_PLUS_DIGIT_NET"


def recipe():
    """The ``3b1b`` preset (784-16-16-10 sigmoid, SGD with momentum), shortened to ``EPOCHS``."""
    from micrograd_plus.train.mnist import PRESETS

    return dataclasses.replace(PRESETS["3b1b"], epochs=EPOCHS, seed=0)


def cache_key(repo_root):
    """A hash of the recipe and of the code that trains and exports the network."""
    h = hashlib.sha256(json.dumps(recipe().to_dict(), sort_keys=True).encode())
    for rel in ("micrograd_plus/train/mnist.py", "micrograd_plus/models/mlp.py",
                "micrograd_plus/nn/layers.py", "micrograd_plus/optim.py", "docs/_ext/digit_weights.py"):
        path = Path(repo_root) / rel
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def export(log=None):
    """Train the network and return the JavaScript text of ``digit_weights.js``."""
    import numpy as np

    from micrograd_plus.models.mlp import linear_layers
    from micrograd_plus.train.mnist import load_data, train

    config = recipe()
    data = load_data(config)
    result = train(config, progress=False, log=None, data=data)
    layers = []
    for lin in linear_layers(result.model):
        W = lin.weight.numpy().astype(np.float64)                  # (out, in)
        b = lin.bias.numpy().astype(np.float64)                    # (out,)
        layers.append({"W": np.round(W, 4).tolist(), "b": np.round(b, 4).tolist()})
    x_test, y_test = data[2], data[3]
    examples = []
    for digit in range(10):
        i = int(np.flatnonzero(y_test == digit)[0])              # the first test image of each digit
        examples.append({"label": digit, "pixels": np.round(x_test[i], 3).tolist()})
    net = {
        "sizes": config.sizes,
        "activation": config.activation,
        "recipe": config.describe(),
        "test_accuracy": round(float(result.evals[-1]["test_accuracy"]), 4),
        "layers": layers,
        "examples": examples,
    }
    if log:
        log(f"digit widget: trained {config.describe()}: test accuracy {100 * result.evals[-1]['test_accuracy']:.1f}%")
    return f"window.{GLOBAL_NAME} = {json.dumps(net, separators=(',', ':'))};\n"


def cached_export(cache_dir, repo_root, log=None):
    """``export()``, or its cached result for the same recipe and code."""
    cache = Path(cache_dir) / f"digit_weights-{cache_key(repo_root)}.js"
    if cache.is_file():
        return cache.read_text(encoding="utf-8")
    text = export(log)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cache)
    except OSError:           # a read-only checkout: no cache, the build still works
        pass
    return text


def _build(app):
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    repo_root = Path(app.srcdir).parent
    cache_dir = Path(app.srcdir) / "_build" / ".digit_weights"
    app.digit_weights_js = cached_export(cache_dir, repo_root, log=logger.info)


def _write(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / OUTPUT_NAME).write_text(app.digit_weights_js, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", _build)
    app.connect("build-finished", _write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":      # python docs/_ext/digit_weights.py: train once and print the size
    os.environ.setdefault("MICROGRAD_PLUS_NO_PROGRESS", "1")
    js = export(log=print)
    print(f"{len(js):,} characters")
