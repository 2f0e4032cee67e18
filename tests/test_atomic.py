"""atomic_write: the new file whole, or the old file untouched -- never a half-written one."""

import os

import pytest

from micrograd_plus._plumbing.atomic import atomic_write


def test_writes_the_whole_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "deep" / "er" / "out.bin"  # missing directories are made
    with atomic_write(target) as f:
        f.write(b"abc")
        assert not target.exists()  # nothing at the real path until the block ends
    assert target.read_bytes() == b"abc"
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_text_mode_is_utf8(tmp_path):
    target = tmp_path / "t.txt"
    with atomic_write(target, "w") as f:
        f.write("élan\n")
    assert target.read_bytes() == "élan\n".encode("utf-8")


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, error):
    target = tmp_path / "ckpt.npz"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_write(target) as f:
            f.write(b"half of the new")
            raise error
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_refuses_a_mode_that_is_not_a_write(tmp_path):
    with pytest.raises(ValueError, match="mode 'wb' or 'w'"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_the_file_has_ordinary_permissions_not_the_temporary_files(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_write(target) as f:
        f.write(b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # mkstemp's temporary is 0600


def test_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt.npz"
    target.write_bytes(b"old")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        with atomic_write(target) as f:
            f.write(b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
