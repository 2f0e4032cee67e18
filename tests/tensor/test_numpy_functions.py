"""numpy functions given a Tensor, as PyTorch answers them: numpy's ufuncs (``np.exp(t)``,
``np.round(t, 1)``) give a Tensor, ``np.asarray(t)`` the values, and ``np.std(t)`` / ``np.var(t)``
are refused in one line (numpy's ddof=0 is not PyTorch's correction=1). What PyTorch refuses but
this library accepts (``np.mean(t)``, numpy functions on a tensor that requires grad) is listed in
docs/pytorch-differences.md. ``test_pytorch_answers_the_same`` asks PyTorch itself."""

import numpy as np
import pytest

import micrograd_plus as mp

VALUES = [1.0, 2.0, 4.0]


@pytest.mark.parametrize("fn", ["std", "var"])
def test_np_std_and_var_are_refused_in_one_line(fn):
    t = mp.tensor(VALUES)
    with pytest.raises(TypeError, match=rf"np.{fn}\(t\) is refused.*t.{fn}\(correction=0\)") as info:
        getattr(np, fn)(t)
    assert "\n" not in str(info.value)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dims'"):
        getattr(t, fn)(dims=0)  # a typo is not mistaken for numpy's call
    assert getattr(t, fn)().item() == pytest.approx(getattr(np, fn)(VALUES, ddof=1))


def test_numpy_ufuncs_and_conversions_give_what_pytorch_gives():
    t = mp.tensor(VALUES)
    for y in (np.exp(t), np.sqrt(t), np.add(t, 1), np.round(t / 3, 1)):
        assert isinstance(y, mp.Tensor) and y.dtype == np.float32
    np.testing.assert_allclose(np.round(t / 3, 1).numpy(), [0.3, 0.7, 1.3], rtol=1e-6)
    for a in (np.asarray(t), np.array(t)):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.tolist() == VALUES
    assert np.allclose(t, VALUES)
    with pytest.raises(TypeError, match="out="):
        t.round(out=np.zeros(3))


def test_pytorch_answers_the_same():
    torch = pytest.importorskip("torch")
    t = torch.tensor(VALUES)
    for fn in ("std", "var"):
        with pytest.raises(TypeError):
            getattr(np, fn)(t)
    for y in (np.exp(t), np.sqrt(t), np.add(t, 1), np.round(t / 3, 1)):
        assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    np.testing.assert_allclose(np.round(t / 3, 1).numpy(), [0.3, 0.7, 1.3], rtol=1e-6)
    for a in (np.asarray(t), np.array(t)):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.tolist() == VALUES
    assert np.allclose(t, VALUES)
