"""One place for randomness, so that the same seed always gives the same run.

Everything random in the library (weight initialisation, dropout masks, data shuffling,
sampling, ``randn``, ``randint``, ``randperm``, ``multinomial``) takes an optional ``generator``
argument: a :class:`Generator` (PyTorch's name), or any :class:`numpy.random.Generator`, or an
int seed. When it is omitted, the library-wide default generator is used, and
:func:`manual_seed` re-seeds it -- as ``torch.manual_seed`` does::

    import micrograd_plus as torch
    torch.manual_seed(42)                      # everything built after this is reproducible
    g = torch.Generator().manual_seed(0)       # a stream of its own
    torch.randn(3, generator=g)

A :class:`Generator` *is* a numpy generator (it subclasses :class:`numpy.random.Generator`, with
the PCG64 bit generator numpy's ``default_rng`` uses), so ``torch.Generator().manual_seed(s)``
draws exactly the numbers ``np.random.default_rng(s)`` draws. Numbers differ from PyTorch's for
the same seed: the two libraries use different bit generators (PyTorch's is a Mersenne Twister).
"""

import secrets

import numpy as np

from micrograd_plus._device import CPU, as_device

__all__ = ["Generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "get_generator", "default_generator"]

_SEED_MODULUS = 2 ** 64  # PyTorch accepts seeds in [-2**63, 2**64); a negative one wraps around


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"a seed must be an int, got {type(seed).__name__}")
    if not -2 ** 63 <= int(seed) < 2 ** 64:
        raise ValueError(f"a seed must be in [-2**63, 2**64), got {seed}")
    return int(seed) % _SEED_MODULUS


class Generator(np.random.Generator):
    """A source of random numbers with PyTorch's ``torch.Generator`` interface.

    Args:
        device: ``"cpu"`` (the only device here; ``"cuda"`` raises a one-line error).

    Methods (PyTorch's): :meth:`manual_seed` (returns the generator itself, so
    ``g = Generator().manual_seed(0)`` works), :meth:`seed`, :meth:`initial_seed`,
    :meth:`get_state` and :meth:`set_state` (the state is 37 bytes in a uint8 array, which
    ``torch.save`` can store). Being a :class:`numpy.random.Generator`, it also has
    numpy's methods (``g.standard_normal(3)``).

    A new Generator starts from seed 67280421310721 (PyTorch's default seed), so two fresh
    generators draw the same numbers.
    """

    _DEFAULT_SEED = 67280421310721

    def __init__(self, device="cpu"):
        _check_cpu(device, "Generator()")
        super().__init__(np.random.PCG64(self._DEFAULT_SEED))
        self._initial_seed = self._DEFAULT_SEED

    @property
    def device(self):
        """Where the numbers are made: the CPU."""
        return CPU

    def manual_seed(self, seed):
        """Restart the stream from ``seed`` (an int); return the generator itself."""
        s = _check_seed(seed)
        self.bit_generator.state = np.random.PCG64(s).state  # in place: references stay valid
        self._initial_seed = s
        return self

    def seed(self):
        """Seed from the operating system's entropy; return the seed chosen (an int)."""
        s = secrets.randbits(63)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        """The seed the stream was last started from (by :meth:`manual_seed` or :meth:`seed`)."""
        return self._initial_seed

    def get_state(self):
        """The full state as 37 bytes, a uint8 numpy array (PCG64's 128-bit state and increment,
        and its buffered 32-bit half-word), for :meth:`set_state`. (PyTorch gives a uint8 Tensor;
        this module sits below the Tensor, and ``torch.save`` stores either.)"""
        st = self.bit_generator.state
        parts = [st["state"]["state"].to_bytes(16, "little"), st["state"]["inc"].to_bytes(16, "little"),
                 bytes([st["has_uint32"]]), int(st["uinteger"]).to_bytes(4, "little")]
        return np.frombuffer(b"".join(parts), dtype=np.uint8).copy()

    def set_state(self, new_state):
        """Restore a state returned by :meth:`get_state` (the array, or a Tensor of it); return the generator."""
        raw = np.asarray(getattr(new_state, "data", new_state))
        if raw.dtype != np.uint8 or raw.shape != (37,):
            raise ValueError("set_state expects the uint8 tensor of 37 bytes that get_state() returns, "
                             f"got dtype {raw.dtype} and shape {raw.shape}")
        b = raw.tobytes()
        self.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(b[:16], "little"), "inc": int.from_bytes(b[16:32], "little")},
            "has_uint32": b[32], "uinteger": int.from_bytes(b[33:37], "little"),
        }
        return self

    def __repr__(self):
        return f"<micrograd_plus.Generator (PCG64) initial_seed={self._initial_seed}>"

    __str__ = __repr__  # numpy's Generator defines its own __str__


def _check_cpu(device, what):
    """Refuse, in one line, a device other than the CPU (``"cpu"``, ``"cpu:0"``, a cpu device, None)."""
    as_device(device, what)


def _default():
    g = Generator.__new__(Generator)
    np.random.Generator.__init__(g, np.random.PCG64(0))
    g._initial_seed = 0
    return g


default_generator = _default()
"""The generator every random function uses when given none. It starts from seed 0 (this
library's rule, so a fresh process is reproducible even without :func:`manual_seed`)."""


def manual_seed(seed):
    """Re-seed the library-wide default generator with ``seed`` (an int) and return it (a
    :class:`Generator`), as ``torch.manual_seed`` does."""
    return default_generator.manual_seed(seed)


def seed():
    """Seed the default generator from the operating system's entropy; return the seed."""
    return default_generator.seed()


def initial_seed():
    """The seed the default generator was last started from."""
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state (37 bytes, a uint8 array), for :func:`set_rng_state`."""
    return default_generator.get_state()


def set_rng_state(new_state):
    """Restore the default generator's state from :func:`get_rng_state`."""
    default_generator.set_state(new_state)


def get_generator(generator=None):
    """Resolve a ``generator`` argument: a :class:`Generator` (or any numpy Generator) is used as
    is, an int seeds a new one, ``None`` means the library-wide default generator."""
    if generator is None:
        return default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"generator must be a micrograd_plus.Generator (or numpy.random.Generator), an int seed or None, "
        f"got {type(generator).__name__}"
    )
