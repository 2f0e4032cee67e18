"""Checkpoints: exact round trips, atomic replacement that survives a crash, no pickle, clear errors."""

import os
import pickle

import numpy as np
import pytest

from micrograd_plus.train import checkpoint as ckpt_module
from micrograd_plus.train.checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    load_checkpoint,
    save_checkpoint,
)


def sample_arrays(value=1.0):
    return {
        "fc1.weight": np.full((3, 4), value, dtype=np.float32),
        "fc1.bias": np.arange(4, dtype=np.float64) * value,
        "step": np.array(7, dtype=np.int64),  # 0-d
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 5), dtype=np.float32),
    }


META = {"epoch": 3, "loss": 0.25, "config": {"layers": [784, 16, 10], "act": "sigmoid"}, "note": "héllo", "x": None}


def assert_same(arrays, expected):
    assert sorted(arrays) == sorted(expected)
    for name, value in expected.items():
        assert arrays[name].dtype == value.dtype, name
        assert arrays[name].shape == value.shape, name
        np.testing.assert_array_equal(arrays[name], value)


def test_round_trip_keeps_values_dtypes_and_meta(tmp_path):
    path = tmp_path / "run" / "ckpt.npz"  # the directory is created
    save_checkpoint(path, sample_arrays(), META)
    arrays, meta = load_checkpoint(path)
    assert_same(arrays, sample_arrays())
    assert meta == META
    assert os.listdir(path.parent) == ["ckpt.npz"]


def test_path_is_used_exactly_as_given(tmp_path):
    save_checkpoint(tmp_path / "latest", {"w": np.ones(2)}, {})
    assert os.listdir(tmp_path) == ["latest"]
    assert load_checkpoint(str(tmp_path / "latest"))[1] == {}


def test_overwrite_replaces_the_old_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(1.0), {"step": 1})
    save_checkpoint(path, sample_arrays(2.0), {"step": 2})
    arrays, meta = load_checkpoint(path)
    assert meta == {"step": 2}
    assert_same(arrays, sample_arrays(2.0))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.parametrize("crash, expected", [(OSError(28, "No space left on device"), CheckpointError),
                                             (KeyboardInterrupt(), KeyboardInterrupt)])
def test_crash_mid_write_keeps_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch, crash, expected):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(1.0), {"step": 1})
    real_savez = np.savez

    def savez_then_crash(file, **arrays):
        real_savez(file, **arrays)
        file.seek(file.tell() // 2)  # the process dies half-way through writing the archive
        file.truncate()
        raise crash

    monkeypatch.setattr(ckpt_module.np, "savez", savez_then_crash)
    with pytest.raises(expected) as info:
        save_checkpoint(path, sample_arrays(2.0), {"step": 2})
    if expected is CheckpointError:  # one line naming the file and the reason
        assert str(path) in str(info.value) and "No space left" in str(info.value)
    monkeypatch.undo()
    arrays, meta = load_checkpoint(path)
    assert meta == {"step": 1}
    assert_same(arrays, sample_arrays(1.0))
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_crash_at_fsync_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(1.0), {"step": 1})

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)  # the writer is micrograd_plus._plumbing.atomic.atomic_write
    with pytest.raises(CheckpointError, match="I/O error"):
        save_checkpoint(path, sample_arrays(2.0), {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)[1] == {"step": 1}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_bad_inputs_are_rejected_before_anything_is_written(tmp_path):
    path = tmp_path / "ckpt.npz"
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(path, {"w": np.ones(2)}, {"bad": object()})
    with pytest.raises(TypeError, match="'w'.*object"):
        save_checkpoint(path, {"w": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(path, {"__meta__": np.ones(2)}, {})
    with pytest.raises(TypeError, match="dict"):
        save_checkpoint(path, [np.ones(2)], {})
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(CheckpointNotFoundError, match="nope.npz"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):  # also catchable as the built-in error
        load_checkpoint(path)


def corrupt(data):
    data = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 16):
        data[i] ^= 0x5A
    return bytes(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # truncated
        lambda d: d[:10],
        lambda d: b"",
        corrupt,
        lambda d: b"this is not a checkpoint at all\n" * 20,
    ],
    ids=["half", "ten-bytes", "empty", "flipped-bytes", "text"],
)
def test_damaged_file_raises_checkpoint_error_naming_it(tmp_path, damage):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(), META)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_npz_without_metadata_and_plain_npy_are_rejected(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a micrograd_plus checkpoint"):
        load_checkpoint(plain)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(CheckpointError, match="single .npy"):
        load_checkpoint(single)


class _Exploit:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_loading_never_unpickles(tmp_path):
    evidence = tmp_path / "code-ran"
    path = tmp_path / "evil.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = _Exploit(str(evidence))
    meta = np.frombuffer(b"{}", dtype=np.uint8)
    np.savez(path, w=payload, __meta__=meta)  # numpy pickles object arrays when writing
    assert pickle.dumps(_Exploit(str(evidence)))  # the payload is a real pickle
    with pytest.raises(CheckpointError, match="evil.npz"):
        load_checkpoint(path)
    assert not evidence.exists()


def _forge_shape(path, member, fake_shape):
    """Rewrite one member's .npy header so it claims ``fake_shape`` (same header length)."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    data = members[member]
    header_len = 10 + int.from_bytes(data[8:10], "little")  # version 1.0: magic, version, uint16 length
    header = data[10:header_len].decode("latin1")
    start = header.index("'shape': ") + len("'shape': ")
    end = header.index(")", start) + 1
    new = header[:start] + repr(fake_shape) + header[end:]
    new = new.rstrip("\n").rstrip(" ")
    new = new + " " * (len(header) - len(new) - 1) + "\n"
    assert len(new) == len(header)
    members[member] = data[:10] + new.encode("latin1") + data[header_len:]
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)


def test_a_header_claiming_terabytes_is_an_error_not_an_allocation(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones((4, 4), dtype=np.float32)}, {"step": 1})
    _forge_shape(path, "w.npy", (1_000_000, 1_000_000))  # 4 TB of float32
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "'w.npy'" in message and "4,000,000,000,000 bytes" in message


def test_a_header_claiming_fewer_bytes_is_an_error_too(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones((4, 4), dtype=np.float32)}, {"step": 1})
    _forge_shape(path, "w.npy", (2, 4))
    with pytest.raises(CheckpointError, match="claims shape"):
        load_checkpoint(path)


def test_written_files_are_ordinary_files_not_private_temp_files(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"w": np.ones(2)}, {})
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_meta_field_names_the_file_and_the_field():
    from micrograd_plus.train.checkpoint import meta_field

    meta = {"step": "12", "best": None, "ok": 3, "flag": True}
    with pytest.raises(CheckpointError, match=r"run/last.npz: metadata field 'step' should be an integer"):
        meta_field(meta, "step", int, "run/last.npz")
    with pytest.raises(CheckpointError, match="no field 'missing'"):
        meta_field(meta, "missing", dict, "run/last.npz")
    with pytest.raises(CheckpointError, match="'flag' should be an integer"):  # a bool is not a count
        meta_field(meta, "flag", int, "x")
    assert meta_field(meta, "best", float, "x", optional=True) is None
    assert meta_field(meta, "ok", float, "x") == 3.0 and isinstance(meta_field(meta, "ok", float, "x"), float)


def test_first_non_finite_names_the_first_bad_float_array():
    from micrograd_plus.train.checkpoint import first_non_finite

    arrays = {"a": np.ones(3), "count": np.array([2**62]), "b": np.array([1.0, np.inf]), "c": np.array([np.nan])}
    assert first_non_finite(arrays) == "b"
    assert first_non_finite({"a": np.ones(3, dtype=np.float32)}) is None


def test_nan_in_meta_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "c.npz", {"w": np.ones(2)}, {"loss": float("nan")})
    assert os.listdir(tmp_path) == []


def test_strip_prefix_keeps_only_that_part_of_a_checkpoint():
    arrays = {"model.fc1.weight": 1, "model.fc1.bias": 2, "optim.0.step": 3, "modelx.w": 4}
    assert ckpt_module.strip_prefix(arrays, "model") == {"fc1.weight": 1, "fc1.bias": 2}
    assert ckpt_module.strip_prefix(arrays, "optim") == {"0.step": 3}
    assert ckpt_module.strip_prefix(arrays, "ema") == {}


def test_load_training_checkpoint_refuses_another_kind_of_run(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, sample_arrays(1.0), {"format": "micrograd_plus.mnist/1", "step": 3})
    arrays, meta = ckpt_module.load_training_checkpoint(path, "micrograd_plus.mnist/1", "an MNIST checkpoint")
    assert meta["step"] == 3 and set(arrays) == set(sample_arrays(1.0))
    with pytest.raises(CheckpointError, match=r"not a GPT checkpoint \(format 'micrograd_plus.mnist/1', "
                                              r"expected 'micrograd_plus.gpt/2'\)"):
        ckpt_module.load_training_checkpoint(path, "micrograd_plus.gpt/2", "a GPT checkpoint")
