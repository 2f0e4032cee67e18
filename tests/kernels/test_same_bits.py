"""The same bits on one thread or several, whatever the machine's load.

Every kernel that can use threads decides *whether* to from the machine's load
(:func:`~micrograd_plus.kernels._shared.cores_are_free`) and the array's size. If the threaded and
the serial path rounded differently, the same seed would train a different model on a busy
machine, a run resumed after Ctrl-C under another load would not be the run that was interrupted,
and a test comparing two runs could fail by chance. So the load may choose the speed, never the
answer: each test here computes the same thing on one thread, on two and on three (thresholds set
to 0 so that even small arrays take the threaded path), checks that the threaded path really ran,
and compares the results **bit for bit** -- not to a tolerance.

The bug this guards against was real: LayerNorm's weight gradient, a sum over rows, was added up
in one partial sum per thread, so its last bits depended on the thread count (and with them every
parameter after a few AdamW steps). Sums across rows now go through a fixed number of chunks
(:func:`micrograd_plus.kernels.layer_norm.sum_chunks`), added in a fixed order.
"""

import importlib

import numpy as np
import pytest

from micrograd_plus import optim
from micrograd_plus.kernels import _shared
from micrograd_plus.kernels import attention as A
from micrograd_plus.kernels import cross_entropy as CE
from micrograd_plus.kernels import elementwise as E
from micrograd_plus.kernels import layer_norm as LN
from micrograd_plus.kernels import optim as O

M = importlib.import_module("micrograd_plus.kernels.matmul")  # (the package exports a function of that name)

DTYPES = [np.float32, np.float64]
PATHS = [1, 2, 3]  # threads: 1 is the serial path (cores declared busy)


def _force(monkeypatch, threads):
    """Make every kernel take the serial path (threads == 1) or its threaded path with
    ``threads`` threads, however small the arrays; returns a list that records each threaded call."""
    calls = []
    if threads == 1:
        monkeypatch.setattr(_shared, "cores_are_free", lambda: False)
        return calls
    monkeypatch.setattr(_shared, "cores_are_free", lambda: True)
    monkeypatch.setattr(_shared.numba, "get_num_threads", lambda: threads)
    for module, name in ((M, "_PARALLEL_MIN_FLOPS"), (A, "_THREADS_MIN"), (E, "_PARALLEL_MIN"),
                         (LN, "_PARALLEL_MIN"), (CE, "_PARALLEL_MIN"), (O, "PARALLEL_MIN"), (O, "SGD_PARALLEL_MIN")):
        monkeypatch.setattr(module, name, 0)
    for module, name in ((M, "_gemm_parallel"), (M, "_dot_rows_parallel"), (E, "_gelu_parallel"), (LN, "_rows_parallel"),
                         (CE, "_rows_parallel"), (A, "_heads_parallel"), (O, "_sgd_parallel")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *args, real=real, name=name: (
            calls.append(name), real(*args))[1])
    real_run = _shared.run_in_threads
    monkeypatch.setattr(O, "run_in_threads", lambda tasks: (calls.append("optim"), real_run(tasks))[1])
    return calls


def _on_every_path(monkeypatch, compute, expect_threaded):
    """``compute()`` on each path; asserts the results are the same bits and that, with threads,
    every kernel named in ``expect_threaded`` took its threaded path."""
    results = []
    for threads in PATHS:
        with monkeypatch.context() as m:
            calls = _force(m, threads)
            out = compute()
            results.append(out if isinstance(out, tuple) else (out,))
            if threads > 1:
                missing = set(expect_threaded) - set(calls)
                assert not missing, f"{missing} did not take the threaded path with {threads} threads"
    for threads, other in zip(PATHS[1:], results[1:]):
        for i, (a, b) in enumerate(zip(results[0], other)):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), (
                f"output {i} differs between 1 and {threads} threads: max |diff| "
                f"{np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))}")


@pytest.fixture(autouse=True)
def _float64_threads_on(monkeypatch):
    monkeypatch.setattr(_shared, "_float64_threads", [True])


@pytest.mark.parametrize("variant", ["zen4", "avx2", "intel"])  # each CPU's variant, forced on this one
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mkn", [(10, 7, 9), (33, 70, 45), (96, 64, 130), (520, 40, 140)])  # 520: B packed
def test_matmul_same_bits(monkeypatch, rng, dtype, mkn, variant):
    m, k, n = mkn
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    previous = M.VARIANT
    try:
        M.use_variant(variant)
        _on_every_path(monkeypatch, lambda: (M.matmul(a, b), M.matmul_nt(a, b.T.copy()),
                                             M.matmul_tn(a.T.copy(), b)), ["_gemm_parallel"])
    finally:
        M.use_variant(previous)


@pytest.mark.parametrize("variant", ["zen4", "avx2"])  # blocks of 4 rows of x, and of 2
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mkn", [(1, 70, 45), (7, 70, 9), (8, 80, 130)])  # x @ W.T with few rows: dot products
def test_dot_rows_same_bits(monkeypatch, rng, dtype, mkn, variant):
    m, k, n = mkn
    x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    assert M._few_rows(m, k)
    previous = M.VARIANT
    try:
        M.use_variant(variant)
        _on_every_path(monkeypatch, lambda: M.matmul_nt(x, w), ["_dot_rows_parallel"])
    finally:
        M.use_variant(previous)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 5, 10, 96])
def test_layer_norm_same_bits(monkeypatch, rng, dtype, rows):
    """Fewer rows than chunks, uneven chunks, and more rows than chunks; dweight and dbias are
    the sums that used to differ."""
    x = rng.standard_normal((rows, 24)).astype(dtype)
    g = rng.standard_normal((rows, 24)).astype(dtype)
    w, b = rng.standard_normal(24).astype(dtype), rng.standard_normal(24).astype(dtype)

    def compute():
        y, mean, rstd = LN.layer_norm_forward(x, w, b, 1e-5)
        return (y, mean, rstd, *LN.layer_norm_backward(g, x, w, mean, rstd))

    _on_every_path(monkeypatch, compute, ["_rows_parallel"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_gelu_same_bits(monkeypatch, rng, dtype):
    logits = (rng.standard_normal((37, 11)) * 3).astype(dtype)
    target = rng.integers(0, 11, 37)
    w = rng.standard_normal(37).astype(dtype)
    x = (rng.standard_normal((13, 9)) * 3).astype(dtype)

    def compute():
        nll, lse = CE.cross_entropy_forward(logits, target)
        y, t = E.gelu_tanh_forward(x)
        return (nll, lse, CE.cross_entropy_backward(w, logits, target, lse), E.gelu_forward(x),
                E.gelu_backward(x * 0.5, x), y, E.gelu_tanh_backward(x * 0.5, x, t))

    _on_every_path(monkeypatch, compute, ["_rows_parallel", "_gelu_parallel"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
def test_attention_same_bits(monkeypatch, rng, dtype, causal):
    q, k, v, dout = (rng.standard_normal((3, 2, 9, 5)).astype(dtype) for _ in range(4))
    vbytes, _ = A._blocking()
    hs = vbytes // np.dtype(dtype).itemsize
    qkv = rng.standard_normal((3, 9, 3 * 2 * hs)).astype(dtype)
    dy = rng.standard_normal((3, 9, 2 * hs)).astype(dtype)

    def compute():
        out, stats = A.attention_forward(q, k, v, 0.4, causal)
        y, stats2 = A.attention_qkv_forward(qkv, 2, 0.3, causal)
        return (out, *A.attention_backward(dout, q, k, v, out, stats, 0.4, causal), y,
                A.attention_qkv_backward(dy, qkv, 2, stats2, 0.3, causal))

    _on_every_path(monkeypatch, compute, ["_heads_parallel"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_same_bits(monkeypatch, rng, dtype):
    shapes = [(7, 5), (31,), (4, 4, 3)]
    start = [(rng.standard_normal(s).astype(dtype), rng.standard_normal(s).astype(dtype)) for s in shapes]

    def compute():
        params = [(p.copy(), g, np.zeros_like(p), np.zeros_like(p)) for p, g in start]
        for step in (1, 2, 3):
            O.adam_update_many([(p, g, m, v, 1e-2, 0.9, 0.95, 1e-8, 0.1, step) for p, g, m, v in params])
        return tuple(a for p, _, m, v in params for a in (p, m, v))

    _on_every_path(monkeypatch, compute, ["optim"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_update_same_bits(monkeypatch, rng, dtype):
    """Three SGD steps with momentum and weight decay over parameters of ragged sizes, NaN and
    inf in a gradient included: one chunk per thread or one pass, the same bits (and counts)."""
    shapes = [(7, 5), (131,), (4, 4, 3)]
    start = [(rng.standard_normal(s).astype(dtype), rng.standard_normal(s).astype(dtype)) for s in shapes]
    start[1][1][[3, 100]] = [np.nan, np.inf]

    def compute():
        params = [(p.copy(), g, np.empty_like(p)) for p, g in start]
        counts = [O.sgd_update(p, g, buf, 0.1, 0.9, 0.0, 1e-2, True, step == 1)
                  for step in (1, 2, 3) for p, g, buf in params]
        return tuple(a for p, _, buf in params for a in (p, buf)) + (np.array(counts),)

    _on_every_path(monkeypatch, compute, ["_sgd_parallel"])


def test_gpt_training_steps_same_bits(monkeypatch):
    """The issue's own check: three AdamW steps of a small GPT (gradient clipping on), every kernel
    on its threaded path against every kernel serial: all parameters the same bits (before the
    fix, 23 of the recipe GPT's 27 parameters differed in their last bits). The kernels' backend
    is chosen explicitly: under NUMBA_DISABLE_JIT=1 the library defaults to the numpy references,
    which have no threads, and this test is about the kernels."""
    from micrograd_plus import kernels, tensor
    from micrograd_plus.models.gpt import GPT, GPTConfig
    from micrograd_plus.nn.utils import clip_grad_norm_

    data = np.random.default_rng(5).integers(0, 23, (4, 17))
    x, y = tensor(data[:, :-1]), tensor(data[:, 1:])

    def train():
        model = GPT(GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=32,
                              dropout=0.0, bias=True), generator=np.random.default_rng(3))
        opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
        for _ in range(3):
            _, loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return tuple(np.array(p.data, copy=True) for p in model.parameters())

    with kernels.backend("numba"):
        _on_every_path(monkeypatch, train, ["_gemm_parallel", "_rows_parallel", "_heads_parallel", "optim"])
