"""The image layers (nn.Conv1d/2d, pooling, BatchNorm, Dropout2d) and their functional forms:
PyTorch's numbers where torch is installed (those tests skip cleanly without it), and cases
worked out by hand that need nothing but numpy."""

import math

import numpy as np
import pytest

from micrograd_plus import Tensor, functional as F, nn, tensor

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed (pip install torch==2.13.0)")


def _t(a, grad=False):
    return torch.tensor(np.array(a), requires_grad=grad)


def _both_ways(ours_fn, torch_fn, inputs, rng, atol=1e-10):
    """Outputs and the gradients of every input agree (float64) for the same dL/dy."""
    ours_in = [tensor(a.copy(), requires_grad=True) for a in inputs]
    theirs_in = [_t(a, True) for a in inputs]
    y, yt = ours_fn(*ours_in), torch_fn(*theirs_in)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), atol=atol, rtol=1e-9)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    yt.backward(_t(g))
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad if isinstance(a.grad, np.ndarray) else a.grad.data, b.grad.numpy(),
                                   atol=atol, rtol=1e-9)


CONV2D_CASES = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(3, 1), padding=(0, 2), dilation=(2, 1)),
    dict(padding="same", dilation=2),
    dict(padding="same"),  # even kernel: uneven padding
    dict(padding="valid", groups=2),
    dict(stride=4),  # stride > kernel
]


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kw", CONV2D_CASES)
def test_conv2d_matches_torch(kw, rng):
    g = kw.get("groups", 1)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 4 // g, 3, 2))
    b = rng.standard_normal(6)
    _both_ways(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kw),
               [x, w, b], rng)


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, dilation=2), dict(padding="same", groups=3)])
def test_conv1d_matches_torch(kw, rng):
    x, w, b = rng.standard_normal((2, 3, 11)), rng.standard_normal((6, 3 // kw.get("groups", 1), 3)), rng.standard_normal(6)
    _both_ways(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: torch.nn.functional.conv1d(x, w, b, **kw),
               [x, w, b], rng)


@needs_torch
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1)), dict(kernel_size=3, stride=1)])
def test_max_pool2d_matches_torch(kw, rng):
    x = rng.integers(0, 4, (2, 3, 7, 8)).astype(np.float64)  # many ties: the first one must get the gradient
    _both_ways(lambda x: F.max_pool2d(x, **kw), lambda x: torch.nn.functional.max_pool2d(x, **kw), [x], rng)
    _, idx = F.max_pool2d(tensor(x), return_indices=True, **kw)
    _, idx_t = torch.nn.functional.max_pool2d(_t(x), return_indices=True, **kw)
    np.testing.assert_array_equal(idx.data, idx_t.numpy())


@needs_torch
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=(2, 3), divisor_override=5)])
def test_avg_pool2d_matches_torch(kw, rng):
    x = rng.standard_normal((2, 3, 7, 8))
    _both_ways(lambda x: F.avg_pool2d(x, **kw), lambda x: torch.nn.functional.avg_pool2d(x, **kw), [x], rng)


@needs_torch
@pytest.mark.parametrize("size", [1, (3, 4), (5, None), 7])
def test_adaptive_avg_pool2d_matches_torch(size, rng):
    x = rng.standard_normal((2, 3, 7, 8))
    _both_ways(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: torch.nn.functional.adaptive_avg_pool2d(x, size),
               [x], rng)


@needs_torch
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (3, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(shape, training, rng):
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm_t, rv_t = _t(rm), _t(rv)
    ours_stats = (rm.copy(), rv.copy())
    _both_ways(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=training, momentum=0.3),
               lambda x, w, b: torch.nn.functional.batch_norm(x, rm_t, rv_t, w, b, training=training, momentum=0.3),
               [x, w, b], rng)
    np.testing.assert_allclose(ours_stats[0], rm_t.numpy(), rtol=1e-12)  # running statistics updated alike
    np.testing.assert_allclose(ours_stats[1], rv_t.numpy(), rtol=1e-12)


@needs_torch
def test_modules_match_torch_step_by_step(rng):
    """The same small CNN in both libraries, the same weights: train() then eval() outputs, running
    statistics and num_batches_tracked agree, and state_dict has PyTorch's keys."""
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.BatchNorm2d(4, dtype=np.float64), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout2d(0.0), nn.AvgPool2d(2, ceil_mode=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(4, momentum=None, dtype=np.float64))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Dropout2d(0.0), torch.nn.AvgPool2d(2, ceil_mode=True),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.BatchNorm1d(4, momentum=None)).double()
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())  # (parameters are listed before buffers here)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    for _ in range(3):
        x = rng.standard_normal((3, 2, 9, 9))
        np.testing.assert_allclose(ours(tensor(x)).data, theirs(_t(x)).detach().numpy(), atol=1e-10)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), atol=1e-12, err_msg=k)
    ours.eval(), theirs.eval()
    x = rng.standard_normal((3, 2, 9, 9))
    np.testing.assert_allclose(ours(tensor(x)).data, theirs(_t(x)).detach().numpy(), atol=1e-10)


# ---- by hand: no torch needed ---------------------------------------------------------------------


def test_conv2d_layer_by_hand():
    conv = nn.Conv2d(1, 1, 2, bias=False)
    conv.weight.data[...] = 1.0
    y = conv(Tensor(np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4)))  # sums of 2x2 blocks
    np.testing.assert_array_equal(y.data[0, 0], [[10, 14, 18], [26, 30, 34], [42, 46, 50]])
    assert conv(Tensor(np.zeros((1, 5, 5), np.float32))).shape == (1, 4, 4)  # unbatched
    assert nn.Conv2d(3, 8, 5, padding="same")(Tensor(np.zeros((2, 3, 7, 6), np.float32))).shape == (2, 8, 7, 6)
    assert nn.Conv1d(3, 8, 4, stride=2)(Tensor(np.zeros((2, 3, 11), np.float32))).shape == (2, 8, 4)


def test_conv_init_is_pytorchs():
    """kaiming_uniform_(a=sqrt(5)) is uniform in +-1/sqrt(fan_in), fan_in = in/groups * kH * kW;
    the bias in the same range. 64 filters of 6*25 weights: the extremes approach the bound."""
    conv = nn.Conv2d(12, 64, 5, groups=2, generator=0)
    bound = 1 / math.sqrt(6 * 25)
    w = conv.weight.data
    assert conv.weight.shape == (64, 6, 5, 5) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # the std of U(-b, b) is b/sqrt(3)
    assert np.abs(conv.bias.data).max() <= bound and conv.bias.shape == (64,)
    np.testing.assert_array_equal(nn.Conv2d(12, 64, 5, groups=2, generator=0).weight.data, w)  # seeded


def test_batch_norm_running_statistics_by_hand():
    """momentum 0.1: running = 0.9 running + 0.1 batch, with the batch's *unbiased* variance for
    the running one and the biased one for normalising; eval() uses the running statistics."""
    bn = nn.BatchNorm1d(1)
    x = np.array([[1.0], [3.0]], np.float32)  # mean 2, biased variance 1, unbiased 2
    y = bn(Tensor(x))
    np.testing.assert_allclose(y.data[:, 0], [-1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5)], rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean.data, [0.2], rtol=1e-6)  # 0.9 * 0 + 0.1 * 2
    np.testing.assert_allclose(bn.running_var.data, [1.1], rtol=1e-6)  # 0.9 * 1 + 0.1 * 2
    assert int(bn.num_batches_tracked.data) == 1
    bn.eval()
    np.testing.assert_allclose(bn(Tensor(np.array([[1.2]], np.float32))).data, [[1.0 / math.sqrt(1.1 + 1e-5)]], rtol=1e-5)
    assert int(bn.num_batches_tracked.data) == 1  # eval does not count
    keys = list(bn.state_dict())
    assert keys == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    fresh = nn.BatchNorm1d(1)
    fresh.load_state_dict(bn.state_dict())
    np.testing.assert_allclose(fresh.running_var.data, [1.1], rtol=1e-6)
    # no running statistics: batch statistics in eval mode too, nothing in state_dict
    plain = nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    out = plain(Tensor(np.arange(8.0, dtype=np.float32).reshape(2, 2, 1, 2)))
    np.testing.assert_allclose(out.data.mean(axis=(0, 2, 3)), [0, 0], atol=1e-6)
    assert plain.state_dict() == {}


def test_dropout2d_drops_whole_channels():
    x = Tensor(np.ones((4, 8, 3, 3), np.float32))
    y = nn.Dropout2d(0.5, generator=1)(x).data
    per_channel = y.reshape(4, 8, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()  # a channel is all kept or all dropped
    assert 0 < (per_channel[..., 0] == 0).sum() < 32
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x


def test_pools_by_hand():
    x = Tensor(np.array([[1.0, 3.0, 2.0, 0.0], [4.0, 2.0, 7.0, 7.0]], np.float32)[None, None], requires_grad=True)
    y = nn.MaxPool2d(2)(x)
    np.testing.assert_array_equal(y.data[0, 0], [[4, 7]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0] if isinstance(x.grad, np.ndarray) else x.grad.data[0, 0],
                                  [[0, 0, 0, 0], [1, 0, 1, 0]])  # the first of the two 7s
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x).data[0, 0], [[2.5, 4.0]])
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d((1, 3))(x).data[0, 0], [[2.5, 3.5, 4.0]])  # windows overlap
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d(1)(x).data[0, 0], [[3.25]])


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="reflect"), "padding_mode='zeros'"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "strided"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "groups=2 must divide"),
    (lambda: nn.Conv2d(3, 4, 0), "kernel_size"),
    (lambda: nn.Conv2d(3, 4, 3)(Tensor(np.zeros((1, 2, 5, 5), np.float32))), "expects input of shape (N, 3, H, W)"),
    (lambda: nn.Conv2d(3, 4, 3)(Tensor(np.zeros((1, 3, 2, 2), np.float32))), "smaller than the kernel"),
    (lambda: F.conv2d(tensor(np.zeros((1, 3, 5, 5))), tensor(np.zeros((4, 2, 3, 3)))), "expects 2"),
    (lambda: F.max_pool2d(tensor(np.zeros((1, 1, 4, 4))), 2, padding=2), "at most half"),
    (lambda: F.max_pool2d(tensor(np.zeros((1, 1, 1, 4, 4))), 2), "expected input of shape"),
    (lambda: nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3, 4), np.float32))), "expected 4D input"),
    (lambda: nn.BatchNorm1d(3)(Tensor(np.zeros((1, 3), np.float32))), "more than 1 value per channel"),
    (lambda: nn.Dropout2d(0.5, inplace=True), "inplace"),
])
def test_bad_input_says_what_is_wrong(make, message):
    with pytest.raises((ValueError, TypeError, NotImplementedError)) as err:
        make()
    assert message in str(err.value)
