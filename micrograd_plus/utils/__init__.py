"""PyTorch's ``torch.utils``: here only :mod:`micrograd_plus.utils.data` (datasets and data loaders)."""

from micrograd_plus.utils import data

__all__ = ["data"]
