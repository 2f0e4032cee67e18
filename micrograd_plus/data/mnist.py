"""MNIST: 70,000 handwritten digits, each a 28x28 grid of grey levels, with the digit it shows.

This is the data set of 3Blue1Brown's neural-network series: every image is 784 pixels, and
each pixel's brightness becomes the activation of one input neuron. 60,000 images are for
training and 10,000 (written by different people) for testing::

    from micrograd_plus.data import load_mnist, mnist_to_float
    images, labels = load_mnist("train")    # uint8 (60000, 28, 28), uint8 (60000,)
    x = mnist_to_float(images)              # float32 (60000, 784), values in [0, 1]

The files are the original ones in the IDX format (a tiny binary header, then raw bytes).
Before a single byte is used, each file is checked against the MD5 of the canonical MNIST
file, so a truncated copy or a flipped bit is reported -- naming the file -- instead of
quietly training on damaged digits.

Where the files are looked for, in order: ``root=`` if you give one (and then only there),
the directory in ``MICROGRAD_PLUS_DATA``, the copy bundled with the package, the per-user data
directory (``~/.cache/micrograd_plus/mnist``). Nothing is downloaded: the package ships the
four files, so it runs offline on a fresh machine.
"""

import gzip
import hashlib
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

#: The bundled copy (a module attribute so that tests can point it elsewhere).
BUNDLED_MNIST_DIR = BUNDLED_DIR / "mnist"

# Verified arrays, keyed by (path, size, mtime): the MNIST and GPT tests load many times, and
# decompressing + checksumming 47 MB each time would dominate them.
_memory_cache = {}


def load_mnist(split="train", root=None):
    """Load one split of MNIST as uint8 arrays.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        root: a directory holding the four files (``*.gz`` or uncompressed, directly inside
            or in a ``mnist/`` sub-directory). When given, only this directory is searched --
            a typo in a path you chose should be an error, not a silent fall-back.

    Returns:
        ``(images, labels)``: images ``uint8 (N, 28, 28)`` with 0 = background and 255 = ink,
        labels ``uint8 (N,)`` with the digit 0-9. Both arrays are read-only views shared with
        an in-process cache; call ``.copy()`` if you want to modify them.

    Raises:
        FileNotFoundError: a file is in none of the searched places; the message lists
            where it looked.
        DataError: a file was found but is truncated, corrupted, of the wrong kind, or does
            not match the canonical MD5; the message names the file.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = SPLITS[split]
    images = _load_file(images_name, root)  # (N, 28, 28)
    labels = _load_file(labels_name, root)  # (N,)
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
    dirs.append(("user data directory", cache_root() / "mnist"))
    return dirs


def _load_file(name, root):
    """Find file ``name`` (gzipped or raw), verify it and return its array, using the memory cache."""
    looked = []
    for _, directory in _search_dirs(root):
        for filename in (name + ".gz", name):
            path = directory / filename
            looked.append(str(path))
            if path.is_file():
                return _read_cached(path, name)
    hint = ("" if root is not None else
            " (the package ships MNIST, so its bundled copy is missing: reinstall micrograd_plus, "
            "or point root= or MICROGRAD_PLUS_DATA at a directory holding the four files)")
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
