"""The compiled optimiser loops (micrograd_plus/kernels/optim.py) against their numpy references.

The chain of trust: the references are what ``tests/test_optim.py`` checks by hand and against
``torch.optim`` (run here once more with the ``"numpy"`` backend, which uses them); the compiled
Adam update is then held *equal*, bit for bit, to its reference -- it does the same rounded
operations in the same order -- NaN and inf included. Arrays are small so this also runs under
``NUMBA_DISABLE_JIT=1``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_plus import Tensor, kernels, optim, tensor
from micrograd_plus.kernels import optim as K
from micrograd_plus.nn.utils import clip_grad_norm_

DTYPES = [np.float32, np.float64]


def _state(rng, shape, dtype):
    p = rng.standard_normal(shape).astype(dtype)
    m = (rng.standard_normal(shape) * 0.1).astype(dtype)
    v = np.abs(rng.standard_normal(shape) * 0.01).astype(dtype)
    return p, m, v


@given(dtype=st.sampled_from(DTYPES), n=st.integers(0, 300), decay=st.sampled_from(["decoupled", "l2", "none"]),
       lr=st.floats(1e-5, 1.0), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.9999),
       eps=st.floats(1e-12, 1e-3), weight_decay=st.sampled_from([0.0, 0.01, 0.1, 0.5]),
       step=st.integers(1, 5000), seed=st.integers(0, 2**16))
def test_adam_kernel_equals_reference_bit_for_bit(dtype, n, decay, lr, beta1, beta2, eps, weight_decay, step, seed):
    rng = np.random.default_rng(seed)
    p, m, v = _state(rng, (n,), dtype)
    g = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 3)).astype(dtype)
    ref = [a.copy() for a in (p, m, v)]
    g_before = g.copy()
    args = (lr, beta1, beta2, eps, weight_decay, step, decay)
    bad = K.adam_update(p, g, m, v, *args)
    K.adam_update_reference(ref[0], g, ref[1], ref[2], *args)
    assert bad == np.count_nonzero(~np.isfinite(ref[0]))  # what it reports: NaN/inf it wrote into p
    for name, ours, theirs in zip("pmv", (p, m, v), ref):
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    np.testing.assert_array_equal(g, g_before, err_msg="the gradient must be left alone")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay", ["decoupled", "l2"])
def test_nan_and_inf_in_a_gradient_spread_as_in_numpy(dtype, decay):
    rng = np.random.default_rng(0)
    p, m, v = _state(rng, (8,), dtype)
    g = rng.standard_normal(8).astype(dtype)
    g[1], g[4], g[6] = np.nan, np.inf, -np.inf
    ref = [a.copy() for a in (p, m, v)]
    with np.errstate(invalid="ignore"):  # numpy warns about inf / inf; the kernel does not
        bad = K.adam_update(p, g, m, v, 1e-2, 0.9, 0.99, 1e-8, 0.1, 3, decay)
        K.adam_update_reference(ref[0], g, ref[1], ref[2], 1e-2, 0.9, 0.99, 1e-8, 0.1, 3, decay)
    assert bad == 3 == np.count_nonzero(~np.isfinite(ref[0]))
    for ours, theirs in zip((p, m, v), ref):
        np.testing.assert_array_equal(ours, theirs)
    # what numpy's rules give, written out: NaN spreads into m, v and p; +-inf makes m infinite,
    # v = inf, and the step inf / inf = NaN; the other elements are untouched by them
    assert np.isnan(p[[1, 4, 6]]).all() and np.isnan(m[1]) and np.isinf(m[[4, 6]]).all()
    assert np.isinf(v[[4, 6]]).all() and np.isfinite(p[[0, 2, 3, 5, 7]]).all()


def _train(opt_name, kwargs, dtype, backend, steps=4, transposed_grad=False):
    """A few steps of an optimiser over three parameters with fixed random gradients."""
    rng = np.random.default_rng(5)
    shapes = [(4, 3), (7,), (2, 3, 2)]
    params = [optim_param(rng.standard_normal(s).astype(dtype)) for s in shapes]
    opt = getattr(optim, opt_name)(params, **kwargs)
    with kernels.backend(backend):
        for _ in range(steps):
            for p in params:
                g = rng.standard_normal(p.data.shape[::-1]).astype(dtype)
                p.grad = g.T if transposed_grad else g.reshape(p.data.shape)
            opt.step()
    return [p.data for p in params], opt


class optim_param(Tensor):
    """A parameter around ``data`` (shared) whose ``.data`` reads as, and ``.grad`` may be set
    from, a numpy array."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True, dtype=data.dtype)  # shared, its dtype kept

    @property
    def data(self):
        return self._data

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, g):
        self._grad = None if g is None else tensor(g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt_name, kwargs", [
    ("AdamW", dict(lr=1e-2, weight_decay=0.1)),
    ("AdamW", dict(lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.0)),
    ("Adam", dict(lr=1e-2, weight_decay=0.05)),
    ("Adam", dict(lr=1e-2)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3)),
    ("SGD", dict(lr=0.1)),
])
@pytest.mark.parametrize("transposed_grad", [False, True])
def test_optimiser_on_either_backend_gives_the_same_weights(dtype, opt_name, kwargs, transposed_grad):
    ours, opt = _train(opt_name, kwargs, dtype, "numba", transposed_grad=transposed_grad)
    ref, ref_opt = _train(opt_name, kwargs, dtype, "numpy", transposed_grad=transposed_grad)
    for a, b in zip(ours, ref):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    ref_state = optim.flat_state_dict(ref_opt.state_dict())
    for key, value in optim.flat_state_dict(opt.state_dict()).items():
        np.testing.assert_array_equal(value, ref_state[key], err_msg=key)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_matches_torch_on_either_backend(backend, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    init = [rng.standard_normal(s).astype(dtype) for s in [(5, 4), (6,)]]
    ours = [optim_param(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    kw = dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)
    opt, topt = optim.AdamW(ours, **kw), torch.optim.AdamW(theirs, **kw)
    with kernels.backend(backend):
        for _ in range(5):
            for p, t in zip(ours, theirs):
                g = rng.standard_normal(p.data.shape).astype(dtype)
                p.grad, t.grad = g, torch.tensor(g.copy())
            opt.step()
            topt.step()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), **tol)


def test_a_parameter_the_loop_cannot_update_in_place_takes_the_reference():
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 4))
    p = optim_param(base[:, ::2])  # a strided view: the compiled loop would need a copy
    q = optim_param(base[:, ::2].copy())
    grads = [rng.standard_normal((6, 2)) for _ in range(3)]
    for param in (p, q):
        opt = optim.AdamW([param], lr=0.1)
        for g in grads:
            param.grad = g
            opt.step()
    np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(base[:, ::2], q.data)  # the view's base was updated in place


@pytest.mark.parametrize("bad, error, match", [
    (lambda p, g, m, v: (p.astype(np.float16), g, m, v), TypeError, "float32 or float64"),
    (lambda p, g, m, v: (p, g.astype(np.float64), m, v), TypeError, "g must be a float32"),
    (lambda p, g, m, v: (p, g[:-1], m, v), ValueError, "g has shape"),
    (lambda p, g, m, v: (p.reshape(2, 3).T, g.reshape(3, 2), m.reshape(3, 2), v.reshape(3, 2)), ValueError,
     "p must be C-contiguous"),
])
def test_bad_arrays_are_named(bad, error, match):
    arrays = [np.ones(6, np.float32) for _ in range(4)]
    with pytest.raises(error, match=match):
        K.adam_update(*bad(*arrays), 1e-3, 0.9, 0.99, 1e-8, 0.0, 1)


def test_read_only_state_is_refused():
    p, g, m, v = (np.ones(4) for _ in range(4))
    m.flags.writeable = False
    with pytest.raises(ValueError, match="m is read-only"):
        K.adam_update(p, g, m, v, 1e-3, 0.9, 0.99, 1e-8, 0.0, 1)
    with pytest.raises(ValueError, match="decay must be one of"):
        K.adam_update(p, g, p.copy(), v, 1e-3, 0.9, 0.99, 1e-8, 0.0, 1, decay="L2")


@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 40), max_size=3).map(tuple),
       scale=st.sampled_from([1e-20, 1.0, 1e15]), seed=st.integers(0, 2**16))
def test_sum_of_squares_matches_reference(dtype, shape, scale, seed):
    g = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    # float64 accumulation in a different order: equal to rounding (relative 1e-13 here)
    assert K.sum_of_squares(g) == pytest.approx(K.sum_of_squares_reference(g), rel=1e-13, abs=0.0)


def test_sum_of_squares_by_hand_and_with_nan_and_inf():
    assert K.sum_of_squares(np.array([3.0, -4.0], np.float32)) == 25.0
    assert K.sum_of_squares(np.array([[1.0, 2.0], [2.0, 0.5]])[:, ::-1]) == 9.25  # a strided view
    # float32's largest number squared overflows float32 but not the float64 accumulator
    big = np.finfo(np.float32).max
    assert K.sum_of_squares(np.array([big, big], np.float32)) == pytest.approx(2.0 * float(big) ** 2)
    assert np.isnan(K.sum_of_squares(np.array([1.0, np.nan], np.float32)))
    assert K.sum_of_squares(np.array([1.0, -np.inf])) == np.inf
    with pytest.raises(TypeError, match="sum_of_squares"):
        K.sum_of_squares(np.array([1, 2]))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_clip_grad_norm_on_either_backend(backend):
    # norm of all gradients together: sqrt(3^2 + 4^2 + 12^2) = 13; clipped to 6.5 -> halved
    ps = [optim_param(np.zeros(2, np.float32)), optim_param(np.zeros((1, 1), np.float32))]
    ps[0].grad = np.array([3.0, -4.0], np.float32)
    ps[1].grad = np.array([[12.0]], np.float32)
    with kernels.backend(backend):
        total = clip_grad_norm_(ps, 6.5)
    assert total == pytest.approx(13.0, rel=1e-12)
    np.testing.assert_allclose(ps[0].grad, [1.5, -2.0], rtol=1e-6)
    np.testing.assert_allclose(ps[1].grad, [[6.0]], rtol=1e-6)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_many_updates_on_threads_equal_the_reference(threads, monkeypatch):
    monkeypatch.setattr(K, "threads_for", lambda *a: threads)  # as if the cores were free
    rng = np.random.default_rng(7)
    sizes = [1, 500, 3, 64, 1000, 7]
    ours, ref = [], []
    for i, n in enumerate(sizes):
        dtype = DTYPES[i % 2]
        p, m, v = _state(rng, (n,), dtype)
        g = rng.standard_normal(n).astype(dtype)
        hyper = (1e-2 * (i + 1), 0.9, 0.99, 1e-8, 0.1 * (i % 3), i + 1, ["decoupled", "l2", "none"][i % 3])
        ours.append((p, g, m, v) + hyper)
        ref.append((p.copy(), g, m.copy(), v.copy()) + hyper)
    for i in (1, 4):  # two parameters get a NaN or an inf: each count must land on its own update
        ours[i][1][i] = np.nan if i == 1 else np.inf
    counts = K.adam_update_many(ours)
    assert counts == [1 if i in (1, 4) else 0 for i in range(len(sizes))]
    for a, b in zip(ours, ref):
        with np.errstate(invalid="ignore"):  # numpy warns about inf / inf; the kernel does not
            K.adam_update_reference(*b)
        for x, y in zip(a[:4], b[:4]):
            np.testing.assert_array_equal(x, y)


def test_many_updates_check_everything_before_changing_anything():
    good = [np.ones(3) for _ in range(4)]
    bad = [np.ones(3), np.ones(2), np.ones(3), np.ones(3)]
    hyper = (0.1, 0.9, 0.99, 1e-8, 0.0, 1)
    with pytest.raises(ValueError, match="g has shape"):
        K.adam_update_many([tuple(good) + hyper, tuple(bad) + hyper])
    np.testing.assert_array_equal(good[0], np.ones(3))  # the first parameter was not updated


@given(dtype=st.sampled_from(DTYPES), n=st.integers(0, 300), lr=st.floats(1e-5, 1.0),
       momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       weight_decay=st.sampled_from([0.0, 0.01, 0.5]), nesterov=st.booleans(), first=st.booleans(),
       seed=st.integers(0, 2**16))
def test_sgd_kernel_equals_reference_bit_for_bit(dtype, n, lr, momentum, dampening, weight_decay, nesterov,
                                                 first, seed):
    """The compiled SGD step (momentum, dampening, Nesterov, weight decay, first step or not) gives
    its numpy reference's numbers exactly, NaN and inf included, and leaves the gradient alone."""
    nesterov = nesterov and momentum > 0 and dampening == 0
    rng = np.random.default_rng(seed)
    p, buf, _ = _state(rng, (n,), dtype)
    g = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 3)).astype(dtype)
    if n > 3:
        g[:3] = [np.nan, np.inf, -np.inf]
    g_before, ref_p, ref_buf = g.copy(), p.copy(), buf.copy()
    args = (lr, momentum, dampening, weight_decay, nesterov, first)
    bad = K.sgd_update(p, g, buf, *args)
    K.sgd_update_reference(ref_p, g, ref_buf, *args)
    assert bad == np.count_nonzero(~np.isfinite(ref_p))  # what it reports: NaN/inf it wrote into p
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_array_equal(buf, ref_buf)
    np.testing.assert_array_equal(g, g_before)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 5, 16, 47, 1000, 33_001])
@pytest.mark.parametrize("rule", ["plain", "momentum", "first", "nesterov+decay", "dampening"])
def test_sgd_on_threads_equals_the_reference(threads, dtype, n, rule, monkeypatch):
    """Split into chunks, one per thread (the ``prange`` twin), SGD still gives the reference's
    numbers bit for bit -- NaN and inf included -- at every chunk boundary, short last chunks and
    empty chunks (5 numbers on 3 threads) alike, and the split really ran."""
    monkeypatch.setattr(K, "threads_for", lambda *a: threads)  # as if the cores were free and the array big
    calls = []
    parallel = K._sgd_parallel
    monkeypatch.setattr(K, "_sgd_parallel", lambda *a: calls.append(a[-1]) or parallel(*a))
    rng = np.random.default_rng(n)
    p, buf, _ = _state(rng, (n,), dtype)
    g = rng.standard_normal(n).astype(dtype)
    g[: min(n, 3)] = [np.nan, np.inf, -np.inf][: min(n, 3)]
    if n >= 17:
        g[-1] = np.nan  # in the last chunk: every thread's count must reach the total
    momentum, dampening, weight_decay, nesterov, first = {
        "plain": (0.0, 0.0, 0.0, False, False), "momentum": (0.9, 0.0, 0.0, False, False),
        "first": (0.9, 0.0, 0.0, False, True), "nesterov+decay": (0.9, 0.0, 0.01, True, False),
        "dampening": (0.5, 0.3, 0.0, False, False)}[rule]
    ref_p, ref_buf = p.copy(), buf.copy()
    args = (0.05, momentum, dampening, weight_decay, nesterov, first)
    bad = K.sgd_update(p, g, buf if momentum else None, *args)
    K.sgd_update_reference(ref_p, g, ref_buf if momentum else None, *args)
    assert calls == [threads]
    assert bad == np.count_nonzero(~np.isfinite(ref_p)) == min(n, 3) + (n >= 17)  # every chunk's count is added
    np.testing.assert_array_equal(p, ref_p)
    np.testing.assert_array_equal(buf, ref_buf)


@pytest.mark.parametrize("dtype, n, float64_threads, expected", [
    (np.float32, K.SGD_PARALLEL_MIN, False, 2), (np.float32, K.SGD_PARALLEL_MIN - 1, False, 1),
    (np.float64, K.SGD_PARALLEL_MIN, False, 1), (np.float64, K.SGD_PARALLEL_MIN, True, 2)])
def test_sgd_takes_threads_from_its_size_and_dtype(dtype, n, float64_threads, expected, monkeypatch):
    """A parameter of at least SGD_PARALLEL_MIN numbers is split over the threads while the cores
    are free; float64 stays on one thread unless float64 threads are on, like the other kernels."""
    from micrograd_plus.kernels import _shared

    monkeypatch.setattr(_shared, "_IGNORE_LOAD", True)
    monkeypatch.setattr(_shared, "_float64_threads", [float64_threads])
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: 2)
    used = []
    monkeypatch.setattr(K, "_sgd_parallel", lambda *a: used.append(a[-1]))
    monkeypatch.setattr(K, "_sgd_flat", lambda *a: used.append(1))
    p = np.zeros(n, dtype)
    K.sgd_update(p, np.ones(n, dtype), np.zeros(n, dtype), 0.1, 0.9)
    assert used == [expected]


def test_sgd_update_names_bad_arrays():
    p = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="sgd_update: g must be a float32 numpy array, got float64"):
        K.sgd_update(p, np.ones(3), np.ones(3, np.float32), 0.1, 0.9)
    with pytest.raises(ValueError, match="sgd_update: buf has shape \\(4,\\), p has \\(3,\\)"):
        K.sgd_update(p, np.ones(3, np.float32), np.ones(4, np.float32), 0.1, 0.9)


def test_everything_exported_exists():
    assert all(hasattr(K, name) for name in K.__all__)


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", ">f8"])
def test_sgd_and_adam_take_byte_swapped_parameters(dtype, rng):
    """A parameter in the other byte order (as some files hold them) is updated by the numpy
    reference, with the same numbers as a native one, not refused by the compiled loop."""
    start = rng.standard_normal((3, 4))
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)):
        results = []
        for dt in (dtype, np.dtype(dtype).newbyteorder("=")):
            p = tensor(start.astype(dt), requires_grad=True)
            opt = make([p])
            for _ in range(2):
                opt.zero_grad()
                (p * p).sum().backward()
                opt.step()
            results.append(p.numpy().astype(np.float64))
        np.testing.assert_array_equal(results[0], results[1])
