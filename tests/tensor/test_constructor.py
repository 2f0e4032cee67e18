"""The three doors to a Tensor, each as PyTorch's: ``Tensor(data)`` (``torch.Tensor``: float32, a
float32 array shared, any other converted), ``tensor(data)`` (``torch.tensor``: a copy, the dtype
inferred) and ``from_numpy(array)`` (shared, the dtype kept).

Each case's expected answer is written out below (so the tests run without PyTorch), and
``test_the_expectations_are_pytorchs`` holds that table to real PyTorch where it is installed.
"""

import numpy as np
import pytest

import micrograd_plus as mp

# name -> (make the data, dtype of Tensor(data), does Tensor(data) share the array?)
ARRAYS = {
    "float64 array": (lambda: np.array([1.5, -2.25, 3.0]), "float32", False),
    "float32 array": (lambda: np.array([1.5, -2.25, 3.0], dtype=np.float32), "float32", True),
    "float16 array": (lambda: np.array([1.5, -2.25, 3.0], dtype=np.float16), "float32", False),
    "int64 array": (lambda: np.array([1, -2, 3]), "float32", False),
    "int32 array": (lambda: np.array([1, -2, 3], dtype=np.int32), "float32", False),
    "uint8 array": (lambda: np.array([1, 2, 3], dtype=np.uint8), "float32", False),
    "bool array": (lambda: np.array([True, False, True]), "float32", False),
    "0-d float64 array": (lambda: np.array(2.5), "float32", False),
    "2-D float64 array": (lambda: np.arange(6.0).reshape(2, 3), "float32", False),
    "empty (2, 0) array": (lambda: np.ones((2, 0)), "float32", False),
}
# name -> (the arguments, the shape of Tensor(*args)): sizes, as PyTorch reads ints
SIZES = {
    "no arguments": ((), (0,)),
    "two ints": ((2, 3), (2, 3)),
    "one int": ((4,), (4,)),
    "zero rows": ((0, 3), (0, 3)),
    "a numpy int": ((np.int64(3),), (3,)),
    "a 0-d int array": ((np.array(2),), (2,)),
}
LISTS = {
    "list of ints": ([1, 2, 3], [1.0, 2.0, 3.0]),
    "nested floats": ([[1.5, 2.0], [3.0, 4.0]], [[1.5, 2.0], [3.0, 4.0]]),
    "tuple": ((2, 3), [2.0, 3.0]),
    "range": (range(3), [0.0, 1.0, 2.0]),
    "bools": ([True, False], [1.0, 0.0]),
    "numpy floats in a list": ([np.float64(1.25), 2], [1.25, 2.0]),
}
# name -> (the arguments, the exception Tensor(*args) raises)
REFUSED = {
    "a float": ((2.5,), TypeError),
    "a numpy float": ((np.float64(2.5),), TypeError),
    "a bool": ((True,), TypeError),
    "sizes with a float": ((2, 3.0), TypeError),
    "a negative size": ((-1,), RuntimeError),
    "a string": (("ab",), TypeError),
}


def _shares(make, construct):
    """Whether the tensor made from ``make()`` sees a later change of the array."""
    arr = make()
    t = construct(arr)
    if arr.size == 0:
        return None
    arr.reshape(-1)[0] = 7
    return float(np.asarray(t.numpy() if hasattr(t, "numpy") else t).reshape(-1)[0]) == 7


@pytest.mark.parametrize("name", ARRAYS)
def test_tensor_of_an_array_is_float32_as_torch_Tensor(name):
    make, dtype, shared = ARRAYS[name]
    t = mp.Tensor(make())
    assert str(t.dtype) == dtype
    np.testing.assert_array_equal(t.numpy(), make().astype(np.float32))
    assert t.shape == make().shape
    if make().size:
        assert _shares(make, mp.Tensor) == shared


@pytest.mark.parametrize("name", SIZES)
def test_ints_are_sizes(name):
    args, shape = SIZES[name]
    t = mp.Tensor(*args)
    assert t.shape == shape and t.dtype == np.float32
    assert not t.numpy().any()  # zeros here (PyTorch leaves the memory uninitialised)


def test_a_shape_is_read_as_sizes():
    assert mp.Tensor(mp.zeros(2, 5).shape).shape == (2, 5)


@pytest.mark.parametrize("name", LISTS)
def test_lists_are_float32(name):
    data, values = LISTS[name]
    t = mp.Tensor(data)
    assert t.dtype == np.float32 and t.tolist() == values


@pytest.mark.parametrize("name", REFUSED)
def test_refused_in_one_line(name):
    args, error = REFUSED[name]
    with pytest.raises(error) as info:
        mp.Tensor(*args)
    assert "\n" not in str(info.value)


def test_a_number_is_refused_with_what_to_write():
    with pytest.raises(TypeError, match=r"tensor\(2\.5\)"):
        mp.Tensor(2.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_tensor_of_a_tensor_shares_it_and_keeps_its_dtype(dtype):
    src = mp.tensor(np.array([1, 2, 3], dtype=dtype))
    t = mp.Tensor(src)
    assert t.dtype == dtype and t is not src
    src[0] = 9
    assert t[0].item() == 9  # the same memory


def test_tensor_of_a_tensor_in_a_graph_passes_the_gradient_on():
    x = mp.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = mp.Tensor(x)
    assert y.requires_grad and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_the_library_keywords_convert_and_share_as_described():
    a = np.array([0.1, 0.2])
    t = mp.Tensor(a, dtype=np.float64)  # already float64: shared, no rounding
    assert t.dtype == np.float64 and t[0].item() == 0.1
    a[0] = 5
    assert t[0].item() == 5
    assert mp.Tensor([0.1], dtype=np.float64).item() == 0.1  # a list straight to float64, not through float32
    w = mp.Tensor([1.0, 2.0], requires_grad=True)
    assert w.requires_grad and w.dtype == np.float32
    assert mp.Tensor([1.0], device="cpu").dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU"):
        mp.Tensor([1.0], device="cuda")


@pytest.mark.parametrize("name", ["float64 array", "int64 array", "float32 array", "bool array"])
def test_tensor_function_copies_and_keeps_the_dtype(name):
    make = ARRAYS[name][0]
    t = mp.tensor(make())
    assert t.dtype == make().dtype
    assert _shares(make, mp.tensor) is False
    assert mp.tensor([0.1], dtype=np.float64).item() == 0.1  # no detour through float32


@pytest.mark.parametrize("name", ["float64 array", "int64 array", "float32 array"])
def test_from_numpy_shares_and_keeps_the_dtype(name):
    make = ARRAYS[name][0]
    assert mp.from_numpy(make()).dtype == make().dtype
    assert _shares(make, mp.from_numpy) is True


def test_the_expectations_are_pytorchs():
    """The table above, asked of PyTorch itself (skipped without it)."""
    torch = pytest.importorskip("torch")
    for name, (make, dtype, shared) in ARRAYS.items():
        t = torch.Tensor(make())
        assert str(t.dtype) == f"torch.{dtype}", name
        assert tuple(t.shape) == make().shape, name
        if make().size:
            assert _shares(make, torch.Tensor) == shared, name
    for name, (args, shape) in SIZES.items():
        assert tuple(torch.Tensor(*args).shape) == shape, name
    assert tuple(torch.Tensor(torch.zeros(2, 5).shape).shape) == (2, 5)
    for name, (data, values) in LISTS.items():
        assert torch.Tensor(data).tolist() == values, name
    for name, (args, error) in REFUSED.items():
        with pytest.raises(error):
            torch.Tensor(*args)
    for dtype in (torch.float32, torch.float64, torch.int64):
        src = torch.tensor([1, 2, 3], dtype=dtype)
        t = torch.Tensor(src)
        src[0] = 9
        assert t.dtype == dtype and t[0].item() == 9
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = torch.Tensor(x)
    (y * y).sum().backward()
    assert y.requires_grad and x.grad.tolist() == [2.0, 4.0]
    for name in ("float64 array", "int64 array", "float32 array", "bool array"):
        make = ARRAYS[name][0]
        assert torch.tensor(make()).numpy().dtype == make().dtype
        assert _shares(make, torch.tensor) is False
    for name in ("float64 array", "int64 array", "float32 array"):
        make = ARRAYS[name][0]
        assert _shares(make, torch.from_numpy) is True
