"""One place for randomness, so that the same seed always gives the same run.

Everything random in the library (weight initialisation, dropout masks, data shuffling,
sampling) takes an optional ``generator`` argument: a :class:`numpy.random.Generator`. When it is
omitted, the library-wide default generator below is used, and :func:`manual_seed` resets it --
the same idea as ``torch.manual_seed``::

    import micrograd_plus as mp
    mp.manual_seed(42)          # every layer built after this is initialised reproducibly
"""

import numpy as np

__all__ = ["manual_seed", "get_generator"]

_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the library-wide default generator to a fresh one seeded with ``seed`` (an int)."""
    global _default_generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _default_generator = np.random.default_rng(int(seed))
    return _default_generator


def get_generator(generator=None):
    """Resolve a ``generator`` argument: a Generator is used as is, an int seeds a new one,
    ``None`` means the library-wide default generator."""
    if generator is None:
        return _default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"generator must be a numpy.random.Generator, an int seed or None, got {type(generator).__name__}"
    )
