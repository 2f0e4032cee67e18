"""Where data files live, and the error raised when one is bad.

Both loaders (:mod:`~micrograd_plus.data.mnist`, :mod:`~micrograd_plus.data.text`) look for
their files in the same places, in this order:

1. a directory you pass explicitly (``root=``),
2. the directory named by the environment variable ``MICROGRAD_PLUS_DATA``,
3. the copy bundled inside the package (so everything runs offline on a fresh install),
4. a per-user data directory, ``$XDG_CACHE_HOME/micrograd_plus`` (default
   ``~/.cache/micrograd_plus``), for copies you put there yourself. Nothing is downloaded: the
   package ships the data it needs.

Inside a data directory, a data set may sit in its own sub-directory (``mnist/``,
``tinyshakespeare/``) or directly at the top.
"""

import os
from pathlib import Path

#: Environment variable naming a directory that holds data sets.
DATA_ENV_VAR = "MICROGRAD_PLUS_DATA"

#: The copies shipped inside the package.
BUNDLED_DIR = Path(__file__).resolve().parent / "files"


class DataError(ValueError):
    """A data file exists but cannot be used: truncated, corrupted, wrong format or wrong checksum.

    The message always names the file and says what is wrong with it. (A file that does not
    exist at all raises :class:`FileNotFoundError` instead.)
    """


def cache_root():
    """The per-user data directory searched last: ``$XDG_CACHE_HOME/micrograd_plus``, or
    ``~/.cache/micrograd_plus`` when ``XDG_CACHE_HOME`` is unset or empty."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "micrograd_plus"


def env_root():
    """The directory named by ``MICROGRAD_PLUS_DATA``, or ``None`` when it is unset or empty."""
    value = os.environ.get(DATA_ENV_VAR)
    return Path(value).expanduser() if value else None


def subdirs(directory, dataset):
    """The two places a data set may sit inside ``directory``: ``directory/dataset`` and
    ``directory`` itself."""
    directory = Path(directory).expanduser()
    return [directory / dataset, directory]
