"""Reading order of the gallery: the learning path, not the alphabet.

sphinx-gallery sorts the examples of a gallery with a key class named in ``conf.py``. File names
listed in ``READING_ORDER`` come first, in that order; any other example follows, by file name, so
a new example always appears even before someone adds it here.
"""

import os

READING_ORDER = [
    "plot_value_graph.py",          # chapter 1: a Value and its graph
    "plot_moons.py",                # chapter 2-5: a scalar MLP learns
    "plot_03_cost_landscape.py",    # chapter 3-4: a cost, its gradient, the learning rate
    "plot_08_scalars_to_tensors.py",  # chapter 8: the same network on both engines
    "plot_05_checking_gradients.py",  # checking gradients: eps, float64, gradcheck
    "plot_mnist_1_training.py",     # chapter 7
    "plot_mnist_2_inside.py",
    "plot_mnist_3_gd_vs_sgd.py",    # chapter 6
    "plot_gpt_tokens_and_weights.py",  # chapter 9
    "plot_gpt_training.py",
    "plot_gpt_next_char.py",
    "plot_gpt_attention.py",
]


class ReadingOrder:
    """Sort key for ``sphinx_gallery_conf["within_subsection_order"]``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        if name in READING_ORDER:
            return (0, READING_ORDER.index(name), name)
        return (1, 0, name)

    def __repr__(self):
        return f"<{type(self).__name__}>"
