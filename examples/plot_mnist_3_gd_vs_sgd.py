"""
MNIST, part 3: gradient descent versus stochastic gradient descent
==================================================================

Gradient descent computes the exact gradient of the cost -- the average over *every* training
image -- before each step. Stochastic gradient descent estimates it from a small random
mini-batch: a noisy, "drunk man stumbling downhill" step, but hundreds of them for the price of
one exact step. Which gets the cost down faster, measured by the clock?
"""

# %%
# Race them
# ---------
# :func:`~micrograd_plus.train.mnist_experiments.gd_vs_sgd` trains two copies of the same
# network (784-64-10 ReLU, same initial weights) for the same wall-clock time on 10,000 training
# images. Full-batch gradient descent takes about one step per 10,000 images; SGD takes 156
# steps (of 64 images) in about the same work. The loss on all 10,000 images is measured along
# the way (that measuring is not counted in the time).
from micrograd_plus import viz
from micrograd_plus.train.mnist import MNISTConfig, load_data
from micrograd_plus.train.mnist_experiments import gd_vs_sgd

x_train, y_train, _, _ = load_data(MNISTConfig(limit=10000, test_limit=1))
curves = gd_vs_sgd(x_train, y_train, seconds=8.0, hidden=(64,), gd_lr=0.5, sgd_lr=0.1, batch_size=64)
for label, (seconds, losses) in curves.items():
    print(f"{label:32s} loss {losses[0]:.3f} -> {losses[-1]:.3f} in {seconds[-1]:.1f} s")

# %%
# The picture
# -----------
# SGD's loss falls far faster against time. Its steps are noisy, but each costs 1/156 of an
# exact one, and a good-enough direction taken now beats a perfect one taken later. This is why
# every modern network is trained with mini-batches -- and why the noise is not just tolerated:
# it also helps escape flat regions and sharp minima.
viz.plot_loss_vs_time(curves)
