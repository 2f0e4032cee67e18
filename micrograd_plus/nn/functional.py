"""``micrograd_plus.nn.functional`` is :mod:`micrograd_plus.functional` (one module, two names),
so that ``import torch.nn.functional as F`` carries over, as well as ``from micrograd_plus import
functional as F``."""

import sys

from micrograd_plus import functional as _functional

sys.modules[__name__] = _functional  # the import system hands out the module itself
