"""``torch.backends.mps``: Apple's GPU. Not used by this library (it computes on the CPU)."""

__all__ = ["is_available", "is_built"]


def is_available():
    """False: this library computes on the CPU only."""
    return False


def is_built():
    """False: no MPS support is built in."""
    return False
