"""``torch.backends``: which accelerators exist. Here none (``backends.mps.is_available()`` is False)."""

from micrograd_plus.backends import mps

__all__ = ["mps"]
