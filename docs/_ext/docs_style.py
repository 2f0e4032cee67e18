"""One matplotlib style for every figure of the docs site (gallery and chapters).

``docs/conf.py`` sets ``MATPLOTLIBRC`` to ``docs/_ext/matplotlibrc`` before anything imports
matplotlib, so the Jupyter kernels that execute the chapters read it when they start. sphinx-gallery
runs its examples inside the Sphinx process and resets matplotlib before each one with
``plt.rcdefaults()`` -- matplotlib's built-in defaults, not the rc file -- so the gallery's
``reset_modules`` calls :func:`reset_matplotlib` here instead, which resets and then re-applies
the same file. Chapter and example authors write plain matplotlib and get the style for free.
"""

import os

MATPLOTLIBRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "matplotlibrc")


def reset_matplotlib(gallery_conf, fname):
    """sphinx-gallery ``reset_modules`` hook: matplotlib's defaults, then the docs style."""
    import matplotlib
    import matplotlib.pyplot as plt

    plt.close("all")
    plt.rcdefaults()
    matplotlib.rc_file(MATPLOTLIBRC)
