"""``device``: where a tensor's numbers live. Here that is always the CPU.

PyTorch programs name devices everywhere (``x.to(device)``, ``torch.zeros(3, device="cpu")``,
``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")``). This library computes
with numpy and numba on the CPU, so it accepts every way of saying "the CPU" and answers anything
else in one line, instead of silently computing somewhere other than where the program asked.

A ``device("cuda")`` object can be *made* (as in PyTorch, where making one needs no GPU); it is
*using* it -- moving a tensor there, creating a tensor on it -- that raises.
"""

__all__ = ["device", "as_device", "CPU"]

# The device types PyTorch knows; any of them can name a device, only "cpu" can hold a tensor here.
_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "mtia", "hpu", "privateuseone")


class device:
    """A device, PyTorch's ``torch.device``: ``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 1)``.

    Attributes:
        type: the kind of device, a string (``"cpu"``, ``"cuda"``, ``"mps"`` ...).
        index: the device number, an int, or None when not given.

    Two devices are equal when type and index are; ``str(device("cuda", 0))`` is ``"cuda:0"``.
    """

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(device, index): give the index in the string or the number, not both")
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device() takes a string such as 'cpu', got a {type.__class__.__name__}")
        name, _, number = type.partition(":")
        if name not in _KNOWN_TYPES:
            raise RuntimeError(f"unknown device type {name!r} in {type!r}: expected one of {', '.join(_KNOWN_TYPES)}")
        if number:
            if index is not None:
                raise RuntimeError(f"device({type!r}, {index}): the index is given twice")
            if not number.isdigit():
                raise RuntimeError(f"invalid device index {number!r} in {type!r}: expected a number")
            index = int(number)
        if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise RuntimeError(f"device index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("a device is immutable")

    def __eq__(self, other):
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"


CPU = device("cpu")


def as_device(where, what="this"):
    """The CPU device for anything that means the CPU (None, ``"cpu"``, ``"cpu:0"``, ``device("cpu")``).

    Anything else raises one line saying that this library computes on the CPU; ``what`` names
    the call in that line (``"to()"``, ``"zeros()"`` ...).
    """
    if where is None:
        return CPU
    d = where if isinstance(where, device) else device(where) if isinstance(where, str) else None
    if d is None:
        raise TypeError(f"{what}: a device is a string such as 'cpu' or a device object, "
                        f"got a {where.__class__.__name__}")
    if d.type != "cpu":
        raise RuntimeError(f"{what}: device {str(d)!r} is not available: micrograd_plus computes on the CPU "
                           "only (use 'cpu'; with PyTorch itself the same program runs on a GPU)")
    return CPU
