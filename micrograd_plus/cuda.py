"""``torch.cuda``'s questions, answered honestly: micrograd_plus computes on the CPU, so there is
no CUDA device. ``device = "cuda" if torch.cuda.is_available() else "cpu"`` picks the CPU."""

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "synchronize", "empty_cache"]


def is_available():
    """False: this library computes on the CPU only."""
    return False


def device_count():
    """0: there are no CUDA devices here."""
    return 0


def manual_seed(seed):
    """Accepted (PyTorch programs seed CUDA beside the CPU); there is no CUDA generator to seed."""


def manual_seed_all(seed):
    """Accepted; there are no CUDA generators to seed."""


def synchronize(device=None):
    """Accepted; nothing runs asynchronously here."""


def empty_cache():
    """Accepted; there is no GPU memory to free."""
