"""MNIST: 70,000 handwritten digits, each a 28x28 grid of grey levels, with the digit it shows.

This is the data set of 3Blue1Brown's neural-network series: every image is 784 pixels, and
each pixel's brightness becomes the activation of one input neuron. 60,000 images are for
training and 10,000 (written by different people) for testing::

    from micrograd_plus.data import load_mnist, mnist_to_float
    images, labels = load_mnist("train")    # uint8 (60000, 28, 28), uint8 (60000,)
    x = mnist_to_float(images)              # float32 (60000, 784), values in [0, 1]

The files are the original ones in the IDX format (a tiny binary header, then raw bytes).
Before a single byte is used, each file is checked against the MD5 of the canonical MNIST
file, so a truncated download or a flipped bit is reported -- naming the file -- instead of
quietly training on damaged digits.

Where the files are looked for, in order: ``root=`` if you give one (and then only there),
the directory in ``MICROGRAD_PLUS_DATA``, the copy bundled with the package, the user cache
(``~/.cache/micrograd_plus/mnist``); if none has them and ``download=True``, they are fetched
from the public mirrors in :data:`MIRRORS` into the cache.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from micrograd_plus.data._files import BUNDLED_DIR, DataError, cache_root, env_root, subdirs

#: The four files: split -> (images file, labels file), without the ``.gz`` suffix.
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: MD5 of each file's *uncompressed* content. The gzip wrappers differ between mirrors, the
#: content does not, so the content is what is checked.
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: IDX magic numbers: 0x0000 (two zero bytes), 0x08 (data type unsigned byte), then the number
#: of dimensions -- 3 for images (n, rows, cols), 1 for labels (n).
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

#: Public mirrors of the original files, tried in order (``<mirror><name>.gz``).
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]

#: Seconds to wait for a mirror before giving up on it.
DOWNLOAD_TIMEOUT = 30

#: The bundled copy (a module attribute so that tests can point it elsewhere).
BUNDLED_MNIST_DIR = BUNDLED_DIR / "mnist"

# Verified arrays, keyed by (path, size, mtime): the MNIST and GPT tests load many times, and
# decompressing + checksumming 47 MB each time would dominate them.
_memory_cache = {}


def load_mnist(split="train", root=None, download=True):
    """Load one split of MNIST as uint8 arrays.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: a directory holding the four files (``*.gz`` or uncompressed, directly inside
            or in a ``mnist/`` sub-directory). When given, only this directory is searched --
            a typo in a path you chose should be an error, not a silent fall-back.
        download: when no searched place has a file, fetch it from :data:`MIRRORS` into the
            user cache (never used when ``root`` is given).

    Returns:
        ``(images, labels)``: images ``uint8 (N, 28, 28)`` with 0 = background and 255 = ink,
        labels ``uint8 (N,)`` with the digit 0-9. Both arrays are read-only views shared with
        an in-process cache; call ``.copy()`` if you want to modify them.

    Raises:
        FileNotFoundError: a file is in none of the searched places (and could not be
            downloaded); the message lists where it looked.
        DataError: a file was found but is truncated, corrupted, of the wrong kind, or does
            not match the canonical MD5; the message names the file.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = SPLITS[split]
    images = _load_file(images_name, root, download)  # (N, 28, 28)
    labels = _load_file(labels_name, root, download)  # (N,)
    if len(images) != len(labels):  # cannot happen with verified files; kept as a guard
        raise DataError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
    return images, labels


def mnist_to_float(images):
    """Turn uint8 images into the network's input activations.

    Each image is flattened row by row into one vector (a 28x28 image becomes 784 numbers,
    one per input neuron) and scaled from 0..255 to 0.0..1.0.

    Args:
        images: ``uint8 (N, H, W)`` (or already flat, ``uint8 (N, D)``).

    Returns:
        ``float32 (N, H*W)`` with values in ``[0, 1]``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"mnist_to_float expects uint8 images (0..255), got dtype {images.dtype}")
    if images.ndim not in (2, 3):
        raise ValueError(f"mnist_to_float expects images of shape (N, H, W) or (N, D), got {images.shape}")
    flat = images.reshape(len(images), -1)  # (N, 784)
    return flat.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------------------------
# Finding a file


def _search_dirs(root):
    """The directories to search, in order, as (description, path) pairs."""
    if root is not None:
        return [("root", d) for d in subdirs(root, "mnist")]
    dirs = []
    env = env_root()
    if env is not None:
        dirs += [("MICROGRAD_PLUS_DATA", d) for d in subdirs(env, "mnist")]
    dirs.append(("bundled copy", Path(BUNDLED_MNIST_DIR)))
    dirs.append(("user cache", cache_root() / "mnist"))
    return dirs


def _load_file(name, root, download):
    """Find file ``name`` (gzipped or raw), verify it and return its array, using the memory cache."""
    looked = []
    for _, directory in _search_dirs(root):
        for filename in (name + ".gz", name):
            path = directory / filename
            looked.append(str(path))
            if path.is_file():
                return _read_cached(path, name)
    if root is None and download:
        return _download(name, cache_root() / "mnist", looked)
    hint = "" if root is not None else " (download=False, so nothing was fetched)"
    raise FileNotFoundError(f"MNIST file {name}(.gz) not found{hint}; looked for: " + ", ".join(looked))


def _read_cached(path, name):
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _memory_cache:
        _memory_cache[key] = read_idx(path, name)
    return _memory_cache[key]


# --------------------------------------------------------------------------------------------
# Reading and verifying one IDX file


def read_idx(path, name):
    """Read the IDX file at ``path`` and verify it is the canonical MNIST file ``name``.

    ``path`` may be gzip-compressed or raw (told apart by the gzip magic bytes ``1f 8b``, not by
    the file name). The checks run from the most specific message to the most thorough test:
    gzip integrity, IDX magic number, size implied by the header, and finally the MD5 of the
    whole uncompressed content against :data:`MD5`.

    Returns a read-only ``uint8`` array: ``(N, rows, cols)`` for images, ``(N,)`` for labels.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except EOFError:
            raise DataError(f"{path}: truncated gzip file (it ends before the compressed data does)") from None
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{path}: corrupted gzip file ({exc})") from None
    else:
        data = raw

    is_images = "images" in name
    expected_magic = IMAGES_MAGIC if is_images else LABELS_MAGIC
    header_size = 16 if is_images else 8
    kind = "images" if is_images else "labels"
    if len(data) < header_size:
        raise DataError(f"{path}: truncated: {len(data)} bytes, shorter than the {header_size}-byte IDX {kind} header")
    magic = int.from_bytes(data[0:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x}; an IDX {kind} file starts with 0x{expected_magic:08x}"
        )
    dims = [int.from_bytes(data[i : i + 4], "big") for i in range(4, header_size, 4)]  # [n] or [n, rows, cols]
    expected_size = header_size + int(np.prod(dims))
    if len(data) < expected_size:
        raise DataError(
            f"{path}: truncated: header says shape {tuple(dims)} = {expected_size} bytes, content has {len(data)}"
        )
    if len(data) > expected_size:
        raise DataError(f"{path}: {len(data) - expected_size} unexpected bytes after the data of shape {tuple(dims)}")
    digest = hashlib.md5(data).hexdigest()
    if digest != MD5[name]:
        raise DataError(
            f"{path}: checksum mismatch: MD5 of the uncompressed content is {digest}, "
            f"the canonical {name} has {MD5[name]} (the file is corrupted or not the original MNIST)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)  # read-only


# --------------------------------------------------------------------------------------------
# Downloading


def _download(name, cache_dir, looked):
    """Fetch ``name.gz`` from the first mirror that serves a verified copy, into ``cache_dir``.

    Each attempt streams into a temporary file in the cache directory, verifies it, and only
    then renames it into place with :func:`os.replace` (atomic), so a failed or corrupt
    download never leaves a file that a later run would pick up.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / (name + ".gz")
    failures = []
    for mirror in MIRRORS:
        url = mirror + name + ".gz"
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{name}.gz.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
                    shutil.copyfileobj(response, f)
                f.flush()
                os.fsync(f.fileno())
            array = read_idx(tmp, name)  # raises DataError for a bad copy
            os.replace(tmp, target)
        except (OSError, DataError) as exc:  # URLError and timeouts are OSErrors
            failures.append(f"{url}: {exc}")
            continue
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        stat = target.stat()
        _memory_cache[(str(target.resolve()), stat.st_size, stat.st_mtime_ns)] = array
        return array
    raise FileNotFoundError(
        f"MNIST file {name}(.gz) not found (looked for: {', '.join(looked)}) and no mirror gave a "
        f"verified copy: " + "; ".join(failures)
    )
