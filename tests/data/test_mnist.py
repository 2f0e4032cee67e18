"""MNIST loader: correct arrays from the canonical files, and a clear error for every bad file.

Expected values come from outside our code: facts about MNIST (first labels, class counts,
pixel mean/std), and the IDX files parsed here with plain gzip + numpy.
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from micrograd_plus.data import DataError, load_mnist, mnist_to_float
from micrograd_plus.data import mnist as mnist_module
from micrograd_plus.data import _files

# The canonical files as the package ships them (test_bundled_copy_is_shipped_and_verified checks
# their MD5s), taken before any fixture points the loader elsewhere. Tests copy and damage them.
MNIST_DIR = Path(mnist_module.BUNDLED_MNIST_DIR)
LABELS = "t10k-labels-idx1-ubyte"
IMAGES = "t10k-images-idx3-ubyte"


def raw_bytes(name):
    """The uncompressed content of a canonical file, read independently of the loader."""
    return gzip.decompress((MNIST_DIR / (name + ".gz")).read_bytes())


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env var, an empty bundled dir and an empty cache: only what a test puts there exists."""
    monkeypatch.delenv(_files.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(mnist_module, "BUNDLED_MNIST_DIR", tmp_path / "no-bundle")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


# ---------------------------------------------------------------------------------------------
# The real data


def test_train_split_shapes_and_known_labels():
    images, labels = load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    # The published class counts of the MNIST training set.
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(labels, minlength=10).tolist() == counts


def test_test_split_matches_plain_numpy_parse():
    images, labels = load_mnist("test")
    expected_images = np.frombuffer(raw_bytes(IMAGES)[16:], dtype=np.uint8).reshape(10000, 28, 28)
    expected_labels = np.frombuffer(raw_bytes(LABELS)[8:], dtype=np.uint8)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_arrays_are_read_only_and_cached():
    a, _ = load_mnist("test")
    b, _ = load_mnist("test")
    assert a is b  # served from the in-memory cache
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1


def test_pixel_statistics_of_float_training_set():
    images, _ = load_mnist("train")
    x = mnist_to_float(images)
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    # The normalisation constants every MNIST tutorial uses (float64 sums, chunked to save memory).
    total = total_sq = 0.0
    for chunk in np.array_split(x, 6):
        chunk = chunk.astype(np.float64)
        total += chunk.sum()
        total_sq += (chunk * chunk).sum()
    mean = total / x.size
    std = np.sqrt(total_sq / x.size - mean**2)
    assert mean == pytest.approx(0.1307, abs=5e-5)
    assert std == pytest.approx(0.3081, abs=5e-5)


def test_mnist_to_float_by_hand():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    images[0, 0, 1] = 255  # row 0, column 1 -> activation 1
    images[1, 1, 0] = 51  # row 1, column 0 -> activation 28, value 51/255 = 0.2
    x = mnist_to_float(images)
    assert x.shape == (2, 784) and x.dtype == np.float32
    assert x[0, 1] == 1.0 and x[0].sum() == 1.0
    assert x[1, 28] == pytest.approx(0.2) and x[1].sum() == pytest.approx(0.2)


def test_mnist_to_float_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        mnist_to_float(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        mnist_to_float(np.zeros((28,), dtype=np.uint8))


def test_bad_split_name():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


# ---------------------------------------------------------------------------------------------
# Where files are found


def test_raw_files_and_misnamed_gzip_in_root(tmp_path):
    # Images uncompressed under the raw name; labels gzipped but without the .gz suffix.
    (tmp_path / IMAGES).write_bytes(raw_bytes(IMAGES))
    shutil.copy(MNIST_DIR / (LABELS + ".gz"), tmp_path / LABELS)
    images, labels = load_mnist("test", root=tmp_path)
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [7, 2, 1]


def test_root_with_mnist_subdirectory(tmp_path):
    shutil.copytree(MNIST_DIR, tmp_path / "mnist")
    images, labels = load_mnist("test", root=tmp_path)
    assert images.shape == (10000, 28, 28) and len(labels) == 10000


def test_explicit_root_is_the_only_place_searched(tmp_path):
    # The bundled copy exists, but a root the user chose that lacks the files is an error.
    with pytest.raises(FileNotFoundError, match=IMAGES) as info:
        load_mnist("test", root=tmp_path)
    assert str(tmp_path) in str(info.value)


def test_env_var_directory_is_used(isolated, monkeypatch):
    data_dir = isolated / "envdata"
    shutil.copytree(MNIST_DIR, data_dir / "mnist")
    monkeypatch.setenv(_files.DATA_ENV_VAR, str(data_dir))
    images, _ = load_mnist("test")
    assert images.shape == (10000, 28, 28)


def test_env_var_without_mnist_falls_back_to_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv(_files.DATA_ENV_VAR, str(tmp_path))  # holds no MNIST
    images, _ = load_mnist("test")
    assert images.shape == (10000, 28, 28)


def test_bundled_copy_is_shipped_and_verified():
    bundled = mnist_module.BUNDLED_MNIST_DIR
    for name in mnist_module.MD5:
        assert (bundled / (name + ".gz")).is_file()
        mnist_module.read_idx(bundled / (name + ".gz"), name)  # raises if not canonical


def test_missing_everywhere_lists_where_it_looked(isolated):
    with pytest.raises(FileNotFoundError, match=f"MNIST file {IMAGES}.*bundled copy is missing") as info:
        load_mnist("test")
    message = str(info.value)
    assert str(isolated / "no-bundle" / IMAGES) in message  # the bundled place
    assert str(isolated / "cache" / "micrograd_plus" / "mnist" / IMAGES) in message  # the user's


def test_user_data_directory_is_searched_last(isolated):
    user_dir = isolated / "cache" / "micrograd_plus" / "mnist"
    shutil.copytree(MNIST_DIR, user_dir)
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [7, 2, 1]


def test_nothing_is_downloaded():
    # The package ships MNIST; the old mirror downloader (and its `download=` switch) is gone.
    import inspect

    assert "download" not in inspect.signature(load_mnist).parameters
    assert not hasattr(mnist_module, "MIRRORS")
    assert "urllib" not in Path(mnist_module.__file__).read_text()


# ---------------------------------------------------------------------------------------------
# Every kind of bad file: an error naming the file and what is wrong


def write_labels(tmp_path, content):
    path = tmp_path / LABELS
    path.write_bytes(content)
    shutil.copy(MNIST_DIR / (IMAGES + ".gz"), tmp_path / (IMAGES + ".gz"))  # the images are fine
    return path


def gz(data):
    return gzip.compress(data, compresslevel=1, mtime=0)


def flip(data, position):
    data = bytearray(data)
    data[position] ^= 0xFF
    return bytes(data)


BAD_FILES = {
    # name: (make the file content from the canonical uncompressed labels, expected message)
    "truncated gzip": (lambda d: gz(d)[: len(gz(d)) // 2], "truncated gzip"),
    "corrupted gzip": (lambda d: flip(gz(d), len(gz(d)) // 2), "corrupted gzip"),
    "gzip crc mismatch": (lambda d: flip(gz(d), len(gz(d)) - 6), "corrupted gzip"),
    "empty": (lambda d: b"", "truncated"),
    "truncated header": (lambda d: d[:5], "truncated"),
    "truncated data": (lambda d: d[:-100], "truncated"),
    "truncated data gzipped": (lambda d: gz(d[:-100]), "truncated"),
    "extra bytes": (lambda d: d + b"\x00\x00", "unexpected bytes"),
    "wrong magic": (lambda d: (0x0803).to_bytes(4, "big") + d[4:], "wrong magic"),
    "little-endian magic": (lambda d: (0x0801).to_bytes(4, "little") + d[4:], "wrong magic"),
    "one label changed": (lambda d: flip(d, 5000), "checksum mismatch"),
    "one label changed gzipped": (lambda d: gz(flip(d, 5000)), "checksum mismatch"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_data_error_naming_file(tmp_path, case):
    make, message = BAD_FILES[case]
    path = write_labels(tmp_path, make(raw_bytes(LABELS)))
    with pytest.raises(DataError, match=message) as info:
        load_mnist("test", root=tmp_path)
    assert str(path) in str(info.value)


def test_images_file_in_place_of_labels_is_wrong_magic(tmp_path):
    path = write_labels(tmp_path, raw_bytes(IMAGES))
    with pytest.raises(DataError, match="wrong magic") as info:
        load_mnist("test", root=tmp_path)
    assert str(path) in str(info.value)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)
