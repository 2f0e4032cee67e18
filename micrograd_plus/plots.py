"""The old name of :mod:`micrograd_plus.viz.training` (pictures of MNIST training), kept so that
``from micrograd_plus import plots`` goes on working. New code: ``from micrograd_plus import viz``."""

from micrograd_plus.viz import training as _training
from micrograd_plus.viz.training import *  # noqa: F401,F403 -- the same functions, under the old name

__all__ = _training.__all__
