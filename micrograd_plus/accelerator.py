"""``torch.accelerator``'s questions (PyTorch's device-neutral spelling of ``torch.cuda``'s), answered
honestly: micrograd_plus computes on the CPU, so there is no accelerator. The official tutorials'
``device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"``
picks the CPU."""

__all__ = ["is_available", "current_accelerator", "device_count", "synchronize"]


def is_available():
    """False: this library computes on the CPU only."""
    return False


def current_accelerator(check_available=False):
    """None: there is no accelerator here (PyTorch answers None too when it finds none)."""
    return None


def device_count():
    """0: there are no accelerators here."""
    return 0


def synchronize(device=None):
    """Accepted; nothing runs asynchronously here."""
