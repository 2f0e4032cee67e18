"""``t.shape`` and ``t.size()`` are a ``Size``, PyTorch's ``torch.Size``: a tuple of ints with
``numel()``, slices and sums that stay Sizes, and PyTorch's repr (see micrograd_plus/_size.py for
why the repr says ``torch.Size``). ``test_pytorch_answers_the_same`` asks PyTorch itself."""

import pickle

import numpy as np
import pytest

import micrograd_plus as mp


def _answers(lib, t):
    s = t.shape
    return {
        "type is the Size": type(s) is lib.Size and type(t.size()) is lib.Size,
        "equals a tuple": s == (2, 3, 4) and s != (2, 3) and s != [2, 3, 4],
        "hashes as the tuple": hash(s) == hash((2, 3, 4)),
        "numel": (s.numel(), lib.Size([]).numel(), s[1:].numel()),
        "a slice is a Size": (type(s[1:]) is lib.Size, type(s[::-1]) is lib.Size, s[-1]),
        "sums and repeats are Sizes": (type(s + (5,)) is lib.Size, type((5,) + s) is lib.Size,
                                       type(s * 2) is lib.Size, s + (5,)),
        "repr": (repr(s), str(t.size()), repr(lib.Size([]))),
        "unpacks": tuple(s),
        "size(d) is an int": (t.size(1), type(t.size(1)) is int, t.size(-1)),
        "a Size is read as sizes": tuple(lib.Tensor(s).shape),
        "pickles": pickle.loads(pickle.dumps(s)) == s,
    }


def test_shape_is_a_size():
    got = _answers(mp, mp.zeros(2, 3, 4))
    assert all(got[k] for k in ("type is the Size", "equals a tuple", "hashes as the tuple", "pickles"))
    assert got["numel"] == (24, 1, 12)
    assert got["a slice is a Size"] == (True, True, 4)
    assert got["sums and repeats are Sizes"] == (True, True, True, (2, 3, 4, 5))
    assert got["repr"] == ("torch.Size([2, 3, 4])", "torch.Size([2, 3, 4])", "torch.Size([])")
    assert got["size(d) is an int"] == (3, True, 4) and got["a Size is read as sizes"] == (2, 3, 4)
    with pytest.raises(TypeError, match="ints"):
        mp.Size([2.5])
    assert np.zeros(mp.zeros(2, 3).shape).shape == (2, 3)  # numpy takes it as the tuple it is


def test_pytorch_answers_the_same():
    torch = pytest.importorskip("torch")
    assert _answers(torch, torch.zeros(2, 3, 4)) == _answers(mp, mp.zeros(2, 3, 4))
    with pytest.raises(TypeError):
        torch.Size([2.5])
