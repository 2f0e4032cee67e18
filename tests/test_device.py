"""``device``: every way of naming the CPU is accepted; any other device is refused in one line."""

import pytest

from micrograd_plus._device import CPU, as_device, device


def test_devices_are_named_as_in_pytorch():
    assert device("cpu") == CPU and device(device("cpu")) == CPU
    assert device("cuda:1") == device("cuda", 1) != device("cuda")
    assert str(device("cuda", 0)) == "cuda:0" and repr(CPU) == "device(type='cpu')"
    assert (device("mps").type, device("mps").index) == ("mps", None)
    assert len({device("cpu"), device("cpu")}) == 1


@pytest.mark.parametrize("bad, error, words", [
    ("gpu", RuntimeError, "unknown device type 'gpu'"),
    ("cuda:x", RuntimeError, "invalid device index"),
    (3, TypeError, "got a int"),
])
def test_bad_device_names_get_one_line(bad, error, words):
    with pytest.raises(error, match=words):
        device(bad)


def test_as_device_accepts_the_cpu_only():
    for where in (None, "cpu", "cpu:0", device("cpu")):
        assert as_device(where) == CPU
    for where in ("cuda", device("mps"), "cuda:0"):
        with pytest.raises(RuntimeError, match="to\\(\\): device '.*' is not available: micrograd_plus computes on the CPU"):
            as_device(where, "to()")
