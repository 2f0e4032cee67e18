"""
MNIST, part 2: what did the network learn, and what does it not know?
=====================================================================

The videos hope the hidden layers pick up edges, then loops and lines, then digits. They also
warn: this network *identifies* digits but could never *draw* one, and shown nonsense it
confidently says something anyway. This page checks all three on the network trained in part 1
(or trains it again, the same way, if part 1 has not run).
"""

# %%
# Load (or train) the network
# ---------------------------
# :func:`~micrograd_plus.train.mnist.read_checkpoint` rebuilds the model from the ``.npz``
# checkpoint (plain arrays and JSON: loading it never runs code).
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from micrograd_plus import viz
from micrograd_plus.train import mnist
from micrograd_plus.train import mnist_experiments as ex

out_dir = Path(tempfile.gettempdir()) / "micrograd_plus-mnist-example"
from micrograd_plus.train.checkpoint import CheckpointError

try:
    model, config, _, _ = mnist.read_checkpoint(out_dir / mnist.CHECKPOINT_NAME)
except CheckpointError:  # not there yet (or unreadable): train it below
    model, config = None, None
if model is None or config.hidden != (16, 16):
    config = replace(mnist.PRESETS["3b1b"], epochs=8)
    model = mnist.train(config, out_dir=out_dir, force=True, progress=False, log=None).model
_, _, x_test, y_test = mnist.load_data(config)
print(config.describe())

# %%
# What each first-layer neuron looks for
# --------------------------------------
# Neuron ``j`` of the first hidden layer computes ``sigmoid(w_j . x + b_j)``: a weighted sum of
# the 784 pixels. Drawing its 784 weights as a 28x28 image shows which pixels excite it (red) and
# which inhibit it (blue). Some are stroke detectors of a sort, but most look like blotchy noise
# with a faint structure -- not the tidy edge detectors the video imagined. Gradient descent found
# *a* way to separate the digits, not the way we would have designed.
viz.plot_weight_images(ex.first_layer_weights(model))

# %%
# How the hidden activations differ across digits
# -----------------------------------------------
# For every digit, the mean activation of each hidden neuron over the test images of that digit.
# Each digit lights up its own combination of neurons -- a code the next layer reads -- and
# similar digits (4 and 9, 3 and 5) have similar codes, which is where the mistakes happen.
viz.plot_hidden_activations(ex.mean_hidden_activations(model, x_test, y_test))

# %%
# "It identifies numbers but can never draw them"
# -----------------------------------------------
# Backpropagation gives the gradient of the cost with respect to *anything* upstream, including
# the input pixels. Starting from a blank image and climbing the log-probability of one digit,
# we get an image the network is all but certain shows that digit. To us, none of them does:
# the network only learned what separates the digits in its training data, not what they are.
dreams, confidence = ex.dream(model, steps=200)
viz.plot_dreams(dreams, confidence)
print("confidence in each dreamed digit:", np.round(confidence, 3))

# %%
# "Give it nonsense and it confidently says an answer"
# ----------------------------------------------------
# Softmax turns any 10 numbers into probabilities that sum to 1, so the network must choose. Fed
# images of uniform random noise -- nothing like a digit -- it still answers, often with high
# confidence, and nearly always the same digit or two.
noise_conf, noise_pred = ex.noise_confidence(model, n=2000)
viz.plot_confidence_histogram(noise_conf, ex.real_confidence(model, x_test))
counts = np.bincount(noise_pred, minlength=10)
print(f"median confidence on noise {100 * np.median(noise_conf):.0f}%; "
      f"answers for noise: {dict(enumerate(counts.tolist()))}")
