"""F.causal_self_attention, the one-node multi-head attention a GPT block uses, against the ops
it stands for (split, reshape, transpose, scaled_dot_product_attention, transpose, reshape):
the same numbers and the same gradients, bit for bit, on both kernel backends."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_plus.functional as F
from micrograd_plus import kernels
from micrograd_plus._tensor import tensor


def by_ops(qkv, n_head):
    """nanoGPT's lines, op by op."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    q, k, v = qkv.split(C, dim=2)
    q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return y.transpose(1, 2).reshape(B, T, C)


def _both(x, g, n_head, fn):
    t = tensor(x.copy(), requires_grad=True)
    y = fn(t, n_head)
    y.backward(g)
    return y.data, t.grad


@given(B=st.integers(1, 3), T=st.integers(1, 9), nh=st.integers(1, 3), hs=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.float64]), backend=st.sampled_from(["numba", "numpy"]),
       seed=st.integers(0, 2**16))
def test_equals_the_ops_it_stands_for(B, T, nh, hs, dtype, backend, seed):
    rng = np.random.default_rng(seed)
    C = nh * hs
    x = rng.standard_normal((B, T, 3 * C)).astype(dtype)
    g = rng.standard_normal((B, T, C)).astype(dtype)
    with kernels.backend(backend):
        y1, g1 = _both(x, g, nh, F.causal_self_attention)
        y2, g2 = _both(x, g, nh, by_ops)
    assert y1.shape == (B, T, C) and y1.dtype == dtype and g1.shape == x.shape and g1.dtype == dtype
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B, T, nh, vectors", [(1, 6, 1, 1), (2, 7, 3, 1), (2, 13, 2, 2)])
def test_packed_fast_path_equals_the_ops(B, T, nh, vectors, dtype, monkeypatch):
    """Heads a whole number of SIMD vectors wide and T >= 6: the kernels read qkv in place (a spy
    on the packed kernels' runners checks that they really ran), with the ops' numbers, bit for bit."""
    import importlib

    A = importlib.import_module("micrograd_plus.kernels.attention")
    ran = []
    for name in ("_run_forward", "_run_backward"):
        real = getattr(A, name)  # its first argument: the Operands, whose input layout has the heads per batch entry
        monkeypatch.setattr(A, name, lambda x, *a, real=real, name=name: (ran.append((name, x.inp.heads)), real(x, *a))[1])
    vbytes, _ = A._blocking()
    hs = vectors * vbytes // np.dtype(dtype).itemsize
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, T, 3 * nh * hs)).astype(dtype)
    g = rng.standard_normal((B, T, nh * hs)).astype(dtype)
    with kernels.backend("numba"):  # (the default but under NUMBA_DISABLE_JIT=1, where it is numpy)
        y1, g1 = _both(x, g, nh, F.causal_self_attention)
        assert ran == [("_run_forward", nh), ("_run_backward", nh)]  # heads per batch entry: the packed layout
        ran.clear()
        y2, g2 = _both(x, g, nh, by_ops)
    assert [name for name, _ in ran] == ["_run_forward", "_run_backward"]  # the (B, H, T, D) kernels
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


def test_no_features_is_an_error():
    with pytest.raises(ValueError, match="qkv has no features"):
        F.causal_self_attention(tensor(np.zeros((2, 8, 0))), 1)


def test_causal_by_hand():
    # one head of width 1, T = 2: position 0 sees only itself (y0 = v0); position 1 averages
    # v0, v1 with weights softmax(q1 k0, q1 k1) = softmax(0, 2 * 1) (scale 1/sqrt(1))
    x = np.array([[[1.0, 0.0, 3.0], [2.0, 1.0, 5.0]]])  # (1, 2, 3): (q, k, v) per position
    y = F.causal_self_attention(tensor(x), 1).data
    w1 = np.exp(2.0) / (1.0 + np.exp(2.0))
    np.testing.assert_allclose(y[0, :, 0], [3.0, (1 - w1) * 3.0 + w1 * 5.0], rtol=1e-14)


def test_a_strided_input_and_no_grad():
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((2, 4, 12))
    x = wide[:, :, ::2]  # (2, 4, 6), not contiguous
    np.testing.assert_array_equal(F.causal_self_attention(tensor(x), 2).data,
                                  by_ops(tensor(np.ascontiguousarray(x)), 2).data)
    assert not F.causal_self_attention(tensor(x), 1).requires_grad


@pytest.mark.parametrize("shape, n_head, match", [
    ((2, 3, 7), 1, r"qkv must be \(B, T, 3C\)"),
    ((2, 3), 1, r"qkv must be \(B, T, 3C\)"),
    ((2, 3, 12), 3, "C = 4 .* not divisible by n_head = 3"),
    ((2, 3, 12), 0, "n_head must be at least 1, got 0"),
])
def test_bad_shapes_are_named(shape, n_head, match):
    with pytest.raises(ValueError, match=match):
        F.causal_self_attention(tensor(np.zeros(shape)), n_head)
    with pytest.raises(TypeError, match="floating-point"):
        F.causal_self_attention(tensor(np.zeros((1, 2, 3), dtype=np.int64)), 1)
