"""
MNIST, part 1: the video's network learns to read handwritten digits
====================================================================

3Blue1Brown's network has 784 input neurons (one per pixel of a 28x28 image), two hidden
layers of 16 neurons with the sigmoid activation, and 10 output neurons, one per digit. Its
13,002 weights and biases start random; training nudges every one of them, a mini-batch at a
time, in the direction that lowers the cost.

This page trains that network on the 60,000 MNIST training images for a few epochs (passes over
the data) and tests it on the 10,000 images it never saw. It is the same loop as
``micrograd-plus mnist --preset 3b1b``, which trains for 40 epochs and reaches about 96.4%.
"""

# %%
# The data
# --------
# :func:`~micrograd_plus.data.load_mnist` returns the images as bytes, as MNIST stores them:
# 0 is the background, 255 full ink (the pictures draw ink dark on white, for reading);
# :func:`~micrograd_plus.data.mnist_to_float` scales them to the activations 0.0 to 1.0 and
# flattens each image to a row of 784 numbers, the input layer.
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from micrograd_plus import viz
from micrograd_plus.data import load_mnist, mnist_to_float

images, labels = load_mnist("train")
print(images.shape, images.dtype, "->", mnist_to_float(images[:5]).shape)
viz.plot_digits(mnist_to_float(images[:20]), [f"label {d}" for d in labels[:20]], ncols=10,
                  title="the first 20 training images")

# %%
# Train
# -----
# :data:`~micrograd_plus.train.mnist.PRESETS` holds the recipes; we take the video's network and
# shorten the run to 8 epochs so this page builds quickly. Each epoch takes 1,875 steps of
# stochastic gradient descent on batches of 32 images. The learning rate follows a cosine from
# 0.2 down to 0 over the run: big steps first, small careful ones at the end.
from micrograd_plus.train.mnist import PRESETS, train

config = replace(PRESETS["3b1b"], epochs=8)
print(config.describe())
out_dir = Path(tempfile.gettempdir()) / "micrograd_plus-mnist-example"  # part 2 reuses this run
result = train(config, out_dir=out_dir, force=True, progress=False)  # force: replace an earlier build's run

# %%
# Every epoch printed its mean training loss, the loss and accuracy on the test images, and the
# throughput. The run is fully determined by ``config.seed``: the same seed gives the same
# numbers, and ``out_dir/last.npz`` lets an interrupted run carry on exactly where it
# stopped (``micrograd-plus mnist --resume``).
#
# Loss and accuracy curves
# ------------------------
# The faint line is the loss of every single mini-batch: noisy, because each batch is only 32
# images. Its running mean and the per-epoch points show the trend. The test loss staying close to
# the training loss means the network is not just memorising its training images.
viz.plot_training_curves(result.evals, result.step_losses, title=config.describe())

# %%
# What it gets wrong
# ------------------
# The misclassified test digits, each captioned with the network's answer, its confidence, and
# the true label. Many are hard for people too; some are plain mistakes of a network that has
# only 16 + 16 hidden neurons to describe all of handwriting.
from micrograd_plus.models.mlp import predict_proba
from micrograd_plus.train.mnist import load_data

_, _, x_test, y_test = load_data(config)
probs = predict_proba(result.model, x_test)  # (10000, 10)
viz.plot_misclassified(x_test, y_test, probs.argmax(axis=1), probabilities=probs, max_images=30)
print(f"test accuracy {100 * np.mean(probs.argmax(axis=1) == y_test):.2f}%")
