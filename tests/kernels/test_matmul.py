"""The numba matmul kernels agree with their plain-numpy references, and reject bad input clearly.

Expected values come from numpy (``np.matmul`` on float64 copies), never from our own kernels.
Shapes stay small (<= 70) so the suite also runs under ``NUMBA_DISABLE_JIT=1``, but they cross
the 6-row register block, the panels of B and the tile/K-slice boundaries: sizes 1, odd, and
non-multiples of 6 and 8.
"""

import functools
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

# ``micrograd_plus.kernels.matmul`` as an attribute is the dispatching function of the package;
# the tests want the module with the kernels themselves.
mm = importlib.import_module("micrograd_plus.kernels.matmul")
shared = importlib.import_module("micrograd_plus.kernels._shared")
micro = importlib.import_module("micrograd_plus.kernels._microkernel")

DTYPES = [np.float32, np.float64]
dims = st.integers(min_value=1, max_value=70)
# How an operand is laid out in memory before the kernel sees it.
LAYOUTS = ["c", "f", "strided", "neg", "readonly", "swapped"]


def _layout(x, how):
    """Return an array equal to ``x`` with the memory layout ``how`` (a view where possible)."""
    if how == "c":
        return np.ascontiguousarray(x)
    if how == "f":  # a transposed view of a C-contiguous array: the layout of ``w.T``
        return np.ascontiguousarray(x.T).T
    if how == "strided":  # every other row and column of a bigger array
        big = np.zeros((2 * x.shape[0], 2 * x.shape[1]), dtype=x.dtype)
        big[::2, ::2] = x
        return big[::2, ::2]
    if how == "neg":  # negative strides
        return np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1]
    if how == "readonly":  # e.g. data read with np.frombuffer, or a broadcast view
        y = np.array(x)
        y.flags.writeable = False
        return y
    if how == "swapped":  # non-native byte order, as read from some files
        return x.astype(x.dtype.newbyteorder("S"))
    raise AssertionError(how)


def _assert_close(got, a64, b64, expected_dtype, k):
    """Compare with the float64 product; float32 tolerance grows with the summed length K."""
    expected = a64 @ b64
    assert got.dtype == expected_dtype
    assert got.shape == expected.shape
    assert got.flags.c_contiguous
    if expected_dtype == np.float32:
        # Each term of a float32 dot product is rounded; errors grow roughly like sqrt(K) but
        # allow K for safety. Scale by the size of the terms, sum |a||b|.
        scale = np.abs(a64) @ np.abs(b64)
        np.testing.assert_array_less(np.abs(got - expected), 1e-6 * (k + 4) * scale + 1e-30)
        np.testing.assert_allclose(got, expected, rtol=1e-5 * (1 + k / 16), atol=1e-5 * k)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * k)


@st.composite
def problems(draw):
    """(M, K, N, dtype, layout of a, layout of b, seed)."""
    return (
        draw(dims),
        draw(dims),
        draw(dims),
        draw(st.sampled_from(DTYPES)),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.integers(0, 2**32 - 1)),
    )


def _operands(m, k, n, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)  # (M, K)
    b = rng.standard_normal((k, n)).astype(dtype)  # (K, N)
    return a, b


@given(problems())
def test_matmul_matches_numpy(p):
    m, k, n, dtype, la, lb, seed = p
    a, b = _operands(m, k, n, dtype, seed)
    got = mm.matmul(_layout(a, la), _layout(b, lb))  # (M, N)
    _assert_close(got, a.astype(np.float64), b.astype(np.float64), dtype, k)


@given(problems())
def test_matmul_nt_matches_numpy(p):
    m, k, n, dtype, la, lb, seed = p
    a, b = _operands(m, k, n, dtype, seed)
    bt = b.T.copy()  # (N, K)
    got = mm.matmul_nt(_layout(a, la), _layout(bt, lb))  # (M, N)
    _assert_close(got, a.astype(np.float64), b.astype(np.float64), dtype, k)


@given(problems())
def test_matmul_tn_matches_numpy(p):
    m, k, n, dtype, la, lb, seed = p
    a, b = _operands(m, k, n, dtype, seed)
    at = a.T.copy()  # (K, M)
    got = mm.matmul_tn(_layout(at, la), _layout(b, lb))  # (M, N)
    _assert_close(got, a.astype(np.float64), b.astype(np.float64), dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["matmul", "matmul_nt", "matmul_tn"])
def test_kernels_equal_their_references(name, dtype, rng):
    """Kernel and reference agree on one shape with ragged edges in every dimension."""
    a = rng.standard_normal((67, 45)).astype(dtype)
    b = rng.standard_normal({"matmul": (45, 33), "matmul_nt": (33, 45), "matmul_tn": (67, 33)}[name])
    b = b.astype(dtype)
    got = getattr(mm, name)(a, b)
    want = getattr(mm, name + "_reference")(a, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 45)


def test_hand_computed_product():
    """A product small enough to check by hand: [[1, 2], [3, 4]] @ [[5, 6], [7, 8]]."""
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[5.0, 6.0], [7.0, 8.0]])
    expected = np.array([[19.0, 22.0], [43.0, 50.0]])
    np.testing.assert_array_equal(mm.matmul(a, b), expected)
    np.testing.assert_array_equal(mm.matmul_nt(a, b.T), expected)
    np.testing.assert_array_equal(mm.matmul_tn(a.T, b), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_product_uses_threads(dtype, rng):
    """Big enough to take the parallel path (and, in float32, more than one tile)."""
    m, k, n = (130, 200, 70) if dtype == np.float32 else (70, 100, 230)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    assert 2 * m * n * k >= mm._PARALLEL_MIN_FLOPS
    _assert_close(mm.matmul(a, b), a.astype(np.float64), b.astype(np.float64), dtype, k)
    _assert_close(mm.matmul_tn(a.T.copy(), b), a.astype(np.float64), b.astype(np.float64), dtype, k)


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("mc,panels,kc", [(6, 1, 4), (12, 1, 5), (18, 2, 33), (96, 4, 512)])
def test_tiles_and_k_slices_cover_the_product(monkeypatch, threads, mc, panels, kc, rng):
    """Any tile sizes, including ones that cut K into slices, give the whole product: every
    block is written on K's first slice (C starts uninitialised) and added to on the others."""
    monkeypatch.setattr(shared, "_load_check", [float("inf"), threads])  # threads on or off
    monkeypatch.setattr(mm, "_PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(mm, "_MC", mc)
    monkeypatch.setattr(mm, "_NC_PANELS", panels)
    monkeypatch.setattr(mm, "_KC", kc)
    a = rng.standard_normal((37, 45))  # (M, K)
    w = rng.standard_normal((71, 45))  # (N, K): one full panel of 32 float64s or more, and edges
    for got in (mm.matmul_nt(a, w), mm.matmul(a, w.T.copy()), mm.matmul_tn(a.T.copy(), w.T.copy())):
        np.testing.assert_allclose(got, a @ w.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vbytes, nv", [(vb, nv) for vb, nv in micro.variants(mm.VECTOR_BYTES)])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_microkernel_equals_its_python_definition(dtype, vbytes, nv, accumulate, fused, rng):
    """Every compiled variant of the micro-kernel (fused multiply-adds, or a multiply then an add
    for CPUs without FMA) does what ``microkernel_reference`` says, for both layouts of A (rows,
    or stored transposed), offsets into the arrays, and K = 0, 1, 37."""
    lanes = vbytes // np.dtype(dtype).itemsize
    nr = nv * lanes
    call = _microkernel_caller(fused)
    for kc in (0, 1, 37):
        K = kc + 3
        a = rng.standard_normal((micro.MR + 2) * K + 5).astype(dtype)  # flat A, room for offsets
        b = rng.standard_normal((K + 1) * (nr + 7)).astype(dtype)  # flat B, rows nr + 7 apart
        for a_off, a_rs, a_ks in ((K + 1, K, 1), (2, 1, micro.MR + 2)):  # (M, K) rows / stored (K, M)
            c = rng.standard_normal((micro.MR + 1, nr + 3)).astype(dtype)
            before = c.copy()
            want = c.copy()
            micro.microkernel_reference(vbytes, nv, a, a_off, a_rs, a_ks, b, 3, nr + 7, want, nr + 4, nr + 3, kc, accumulate)
            call(vbytes, nv, a, a_off, a_rs, a_ks, b, 3, nr + 7, c, nr + 4, nr + 3, kc, accumulate)
            tol = 1e-5 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(c, want, rtol=tol, atol=tol)
            # And without the Python definition: offset nr + 4 in rows of nr + 3 is row 1, column 1.
            A = np.array([[a[a_off + r * a_rs + k * a_ks] for k in range(kc)] for r in range(micro.MR)])
            B = np.array([[b[3 + k * (nr + 7) + q] for q in range(nr)] for k in range(kc)]).reshape(kc, nr)
            expected = before.astype(np.float64)
            block = A.reshape(micro.MR, kc).astype(np.float64) @ B.astype(np.float64)
            expected[1:, 1 : 1 + nr] = block + (before[1:, 1 : 1 + nr] if accumulate else 0)
            np.testing.assert_allclose(c, expected, rtol=tol, atol=tol * (kc + 1))


@functools.lru_cache(maxsize=None)
def _microkernel_caller(fused):
    """A numba function calling the compiled micro-kernel (an intrinsic needs numba code around it)."""
    from numba import njit

    kernel = micro.make_microkernel(mm.VECTOR_BYTES, fma=fused)

    @njit
    def call(vbytes, nv, a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, accumulate):
        kernel(vbytes, nv, a, a_off, a_rs, a_ks, b, b_off, b_ks, c, c_off, c_rs, kc, accumulate)

    return call


@pytest.mark.parametrize("shape", [(64, 1), (64, 7), (128, 8), (192, 17), (256, 65)])
def test_pack_panels(shape, rng):
    """W (N, K) packed as panels of 64 columns of W.T: out[p] = W[64p : 64p + 64].T."""
    n, k = shape
    w = rng.standard_normal((n, k)).astype(np.float32)
    out = np.empty((n // 64, k, 64), np.float32)
    mm._pack_panels(w, False, out)
    for p in range(n // 64):
        np.testing.assert_array_equal(out[p], w[64 * p : 64 * p + 64].T)


@pytest.mark.parametrize("shape", [(1, 16), (7, 48), (128, 40), (65, 512)])
def test_pack_panels_from_k_by_n(shape, rng):
    """B (K, N) packed as its full panels of 16 columns: out[p] = B[:, 16p : 16p + 16] (the last
    N % 16 columns are not packed: they go to the zero-padded edge copy)."""
    k, n = shape
    b = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((n // 16, k, 16), np.nan, np.float32)
    mm._pack_panels(b, True, out)
    for p in range(n // 16):
        np.testing.assert_array_equal(out[p], b[:, 16 * p : 16 * p + 16])


@pytest.mark.parametrize("extra", [1, 2, 4, 5, 15])
@pytest.mark.parametrize("name", ["matmul", "matmul_nt", "matmul_tn"])
def test_last_columns_past_full_panels(name, extra, rng):
    """N a panel plus 1-4 columns goes through the dot-product path (A in rows) or the padded
    micro-kernel block (5+ columns, or A stored transposed); both must equal numpy."""
    nr = mm._NV * mm._VBYTES // 4  # float32 columns in a panel
    M, K, N = 50, 70, nr + extra
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    args = {"matmul": (a, b), "matmul_nt": (a, b.T.copy()), "matmul_tn": (a.T.copy(), b)}[name]
    _assert_close(getattr(mm, name)(*args), a.astype(np.float64), b.astype(np.float64), np.float32, K)


def _spy(monkeypatch, names, warm=None):
    """Record the names of the compiled functions in ``names`` each time the driver calls one.

    ``warm()`` runs first, unobserved: a compiled function that calls another looks it up when it
    compiles, and must find the compiled one, not the recording wrapper."""
    if warm is not None:
        warm()
    ran = []
    for name in names:
        compiled = getattr(mm, name)
        monkeypatch.setattr(mm, name, lambda *args, _f=compiled, _n=name: (ran.append(_n), _f(*args))[1])
    return ran


@pytest.mark.parametrize("variant", ["zen4", "avx2"])  # blocks of 4 rows of x, and of 2 (16 registers)
@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(1, 384, 1), (1, 70, 3), (2, 24, 5), (3, 30, 7), (4, 40, 4), (5, 70, 45),
                                   (8, 80, 67), (7, 70, 2), (4, 40, 9), (11, 110, 6)])
def test_few_rows_take_dot_products(monkeypatch, variant, threads, dtype, m, k, n, rng):
    """``x @ W.T`` with few rows of x (at most one per 10 numbers of a sum) runs as dot products with W
    read in place -- never packed -- and equals numpy: blocks of four columns and of four (or, with
    AVX2's blocking, two) rows, the rows left over, a last block of one to three columns, one thread
    or two."""
    previous = mm.VARIANT
    mm.use_variant(variant)
    try:
        _few_rows_take_dot_products(monkeypatch, threads, dtype, m, k, n, rng)
    finally:
        mm.use_variant(previous)


def _few_rows_take_dot_products(monkeypatch, threads, dtype, m, k, n, rng):
    monkeypatch.setattr(shared, "cores_are_free", lambda: True)
    monkeypatch.setattr(shared.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(mm, "_PARALLEL_MIN_FLOPS", 0 if threads else 10**12)
    assert mm._few_rows(m, k)
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    ran = _spy(monkeypatch, ["_dot_rows", "_dot_rows_parallel", "_pack_panels", "_gemm_parallel", "_tile"],
               warm=lambda: mm.matmul_nt(x, w))
    got = mm.matmul_nt(x, w)  # (M, N)
    _assert_close(got, x.astype(np.float64), w.T.astype(np.float64), dtype, k)
    assert ran == (["_dot_rows_parallel"] if threads else ["_dot_rows"])


def test_many_rows_or_short_sums_keep_the_packed_panels(monkeypatch, rng):
    """More rows than the rule allows, a short sum, or x stored transposed: the packed path."""
    ran = _spy(monkeypatch, ["_dot_rows", "_dot_rows_parallel"])
    for m, k in [(65, 784), (20, 64), (2, 11)]:
        assert not mm._few_rows(m, k)
        x, w = rng.standard_normal((m, k)), rng.standard_normal((9, k))
        _assert_close(mm.matmul_nt(x, w), x, w.T, np.float64, k)
    x = np.asfortranarray(rng.standard_normal((3, 60)))  # (3, 60) stored as (60, 3)
    w = rng.standard_normal((9, 60))
    _assert_close(mm.matmul_nt(x, w), x, w.T, np.float64, 60)
    assert ran == []


def test_few_rows_rule():
    """64 rows at most, and one row per 10 numbers of a sum."""
    assert mm._few_rows(64, 640) and mm._few_rows(1, 10)
    assert not mm._few_rows(65, 10_000)
    assert not mm._few_rows(64, 639) and not mm._few_rows(1, 9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_dot_products_carry_inf_and_nan_as_numpy_does(monkeypatch, dtype, bad, rng):
    """A non-finite number in a row of x or of W, in a block of four rows and in a row left over."""
    x = rng.standard_normal((5, 60)).astype(dtype)
    w = rng.standard_normal((6, 60)).astype(dtype)
    x[1, 7] = bad
    x[4, 9] = bad
    w[4, 3] = bad
    with np.errstate(invalid="ignore"):  # inf + -inf in a sum: numpy warns, and gives nan
        want = x.astype(np.float64) @ w.T.astype(np.float64)
    ran = _spy(monkeypatch, ["_dot_rows", "_dot_rows_parallel"], warm=lambda: mm.matmul_nt(x, w))
    got = mm.matmul_nt(x, w)
    assert ran
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    ok = np.isfinite(want)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[ok], want[ok], rtol=tol, atol=tol)


@pytest.mark.parametrize("m,k,n", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_empty_dimensions(m, k, n):
    """Zero-sized products are well defined: a sum over nothing is 0."""
    a = np.ones((m, k), np.float32)
    b = np.ones((k, n), np.float32)
    for got in (mm.matmul(a, b), mm.matmul_nt(a, b.T), mm.matmul_tn(a.T, b)):
        assert got.shape == (m, n)
        assert got.dtype == np.float32
        assert not got.any()


def test_output_is_new_array():
    a = np.eye(3, dtype=np.float32)
    b = np.arange(9, dtype=np.float32).reshape(3, 3)
    out = mm.matmul(a, b)
    assert not np.shares_memory(out, a) and not np.shares_memory(out, b)
    np.testing.assert_array_equal(out, b)


def test_inner_dimension_mismatch_names_shapes():
    a = np.ones((3, 4), np.float32)
    b = np.ones((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"matmul: \(3, 4\) @ \(5, 2\) — inner dimensions 4 and 5"):
        mm.matmul(a, b)
    with pytest.raises(ValueError, match=r"matmul_nt: \(3, 4\) @ \(5, 2\)ᵀ — inner dimensions 4 and 2"):
        mm.matmul_nt(a, b)
    with pytest.raises(ValueError, match=r"matmul_tn: \(3, 4\)ᵀ @ \(5, 2\) — inner dimensions 3 and 5"):
        mm.matmul_tn(a, b)


@pytest.mark.parametrize("name", ["matmul", "matmul_nt", "matmul_tn"])
def test_wrong_ndim_names_shapes(name):
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 4\)"):
        getattr(mm, name)(np.ones((2, 3, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"2-D.*\(4,\)"):
        getattr(mm, name)(np.ones((4, 4)), np.ones(4))


@pytest.mark.parametrize("name", ["matmul", "matmul_nt", "matmul_tn"])
def test_dtype_mismatch_names_both(name):
    with pytest.raises(TypeError, match="float32 and float64"):
        getattr(mm, name)(np.ones((2, 2), np.float32), np.ones((2, 2), np.float64))


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, np.bool_])
def test_unsupported_dtype(dtype):
    x = np.ones((2, 2), dtype)
    with pytest.raises(TypeError, match=f"float32 and float64 are supported, got {np.dtype(dtype)}"):
        mm.matmul(x, x)


def test_non_arrays_rejected():
    with pytest.raises(TypeError, match="expected numpy arrays, got list"):
        mm.matmul([[1.0]], np.ones((1, 1)))


def test_dispatch_module_uses_the_kernels():
    """The library's only door to matmul, ``micrograd_plus.kernels``, gives the same answers."""
    from micrograd_plus import kernels

    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 7))
    b = rng.standard_normal((7, 5))
    for backend in ("numba", "numpy"):
        with kernels.backend(backend):
            np.testing.assert_allclose(kernels.matmul(a, b), a @ b, rtol=1e-12)
            np.testing.assert_allclose(kernels.matmul_nt(a, b.T), a @ b, rtol=1e-12)
            np.testing.assert_allclose(kernels.matmul_tn(a.T, b), a @ b, rtol=1e-12)


@pytest.mark.parametrize("load, free", [(0.3, True), (100.0, False)])
def test_threads_only_when_cores_are_free(monkeypatch, load, free, rng):
    """An oversubscribed machine (high load average) sends products down the serial path."""
    monkeypatch.setattr(shared.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(shared, "others_cores", lambda: None)  # only the load average speaks
    monkeypatch.setattr(shared, "_load_check", [-1.0, True])  # forget the last reading
    assert shared.cores_are_free() is free
    a = rng.standard_normal((70, 200))
    b = rng.standard_normal((200, 120))
    np.testing.assert_allclose(mm.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)


def test_no_load_average_means_free(monkeypatch):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(shared.os, "getloadavg", unavailable)

    monkeypatch.setattr(shared, "others_cores", lambda: None)  # only the load average speaks
    monkeypatch.setattr(shared, "_load_check", [-1.0, False])
    assert shared.cores_are_free() is True


@pytest.mark.parametrize("variant, block", [("zen4", "6x4"), ("avx2", "6x2"), ("intel", "6x4")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_cpu_variant_matches_reference(monkeypatch, variant, block, dtype, rng):
    """Every variant (6x4 vectors tuned on Zen 4, 6x2 for AVX2's 16 registers, Intel's with B
    always packed into aligned panels) runs on any CPU: forced here one after the other, each must
    equal numpy on ragged edges (M, N not multiples of the block), several K slices, and the
    threaded path."""
    monkeypatch.setattr(shared, "_load_check", [float("inf"), True])  # threads on, whatever the load
    previous = mm.VARIANT
    try:
        assert mm.use_variant(variant) == block
        assert mm._KC == micro.VARIANTS[variant].kc
        # 520 rows: B packed (narrow panels; on Intel wide ones too, (520, 100, 150) has full ones)
        for M, K, N in [(5, 33, 3), (13, 65, 17), (4, 1100, 2), (70, 200, 121), (520, 33, 37), (520, 100, 150)]:
            a = rng.standard_normal((M, K)).astype(dtype)
            b = rng.standard_normal((K, N)).astype(dtype)
            tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(mm.matmul(a, b), a @ b, **tol)
            np.testing.assert_allclose(mm.matmul_nt(a, np.ascontiguousarray(b.T)), a @ b, **tol)
            np.testing.assert_allclose(mm.matmul_tn(np.ascontiguousarray(a.T), b), a @ b, **tol)
    finally:
        mm.use_variant(previous)


def test_intel_variant_packs_b_into_aligned_panels(monkeypatch, rng):
    """On Intel's variant a (K, N) B with wide panels is packed (Zen 4's reads it in place), and
    packed panels start on a 64-byte boundary (numpy puts big arrays 16 bytes past one)."""
    seen = []
    real_layout = mm.Layout
    monkeypatch.setattr(mm, "Layout", lambda *args: (seen.append(args), real_layout(*args))[1])
    a = rng.standard_normal((600, 40)).astype(np.float32)
    b = rng.standard_normal((40, 200)).astype(np.float32)
    previous = mm.VARIANT
    try:
        for variant, packed in (("zen4", False), ("intel", True)):
            mm.use_variant(variant)
            np.testing.assert_allclose(mm.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
            panels = seen[-1][3]  # Layout.b
            assert np.shares_memory(panels, b) is not packed
            if packed:
                assert panels.ctypes.data % 64 == 0
    finally:
        mm.use_variant(previous)
    for shape in [(3,), (5, 7), (100, 3, 64)]:
        for dtype in (np.float32, np.float64):
            x = mm._empty_aligned(shape, dtype)
            assert x.shape == shape and x.dtype == dtype and x.ctypes.data % 64 == 0 and x.flags.c_contiguous


@pytest.mark.parametrize("variant", ["zen4", "avx2", "intel"])
@pytest.mark.parametrize("rows", [191, 192, 511, 512, 600])
def test_b_is_packed_from_the_rows_its_panels_need(monkeypatch, rng, variant, rows):
    """A (K, N) B is packed into panels once C has enough rows to reuse each packed number: from 192
    rows when a panel's row is one cache line (AVX2's 16 float32s; measured, see
    ``_PACK_MIN_ROWS_NARROW``), from 512 for Intel's wide panels, never for Zen 4's wide ones.
    Which panels a variant gets depends on the host's vectors (on this AVX-512 machine: avx2
    narrow, zen4 and intel wide); the product equals numpy's either way."""
    seen = []
    real_layout = mm.Layout
    monkeypatch.setattr(mm, "Layout", lambda *args: (seen.append(args), real_layout(*args))[1])
    a = rng.standard_normal((rows, 40)).astype(np.float32)
    b = rng.standard_normal((40, 200)).astype(np.float32)
    previous = mm.VARIANT
    try:
        mm.use_variant(variant)
        narrow = mm._NV * mm._VBYTES <= 64  # bytes of a panel's row
        packed = rows >= 192 if narrow else (rows >= 512 if variant == "intel" else False)
        np.testing.assert_allclose(mm.matmul(a, b), a @ b, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(mm.matmul_tn(np.ascontiguousarray(a.T), b), a @ b, rtol=1e-4, atol=1e-4)
    finally:
        mm.use_variant(previous)
    assert [np.shares_memory(args[3], b) for args in seen] == [not packed, not packed]


def test_blocking_is_chosen_from_the_host_cpu():
    """At import, the blocking follows LLVM's report of the CPU (unless the environment forces it)."""
    import os

    from micrograd_plus.kernels._cpu import host_cpu

    if os.environ.get("MICROGRAD_PLUS_VECTOR_REGISTERS"):
        pytest.skip("MICROGRAD_PLUS_VECTOR_REGISTERS forces the blocking")
    from micrograd_plus.kernels._cpu import choose_variant, _name_and_features

    if os.environ.get("MICROGRAD_PLUS_MATMUL_VARIANT"):
        pytest.skip("MICROGRAD_PLUS_MATMUL_VARIANT forces the variant")
    name, isa, registers = host_cpu()
    assert registers in (16, 32) and isa
    assert mm.BLOCKING == ("6x4" if registers == 32 else "6x2")
    if registers == 16 or isa == "AVX-512":
        assert mm.VARIANT == choose_variant(*_name_and_features())
    with pytest.raises(ValueError, match="16 or 32"):
        mm.use_blocking(24)
    with pytest.raises(ValueError, match="use_variant: name must be one of zen4, avx2, intel"):
        mm.use_variant("skylake")


@pytest.mark.parametrize("value, expected", [("", None), ("16", 16), (" 32 ", 32)])
def test_blocking_forced_by_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MICROGRAD_PLUS_VECTOR_REGISTERS", value)
    assert mm._registers_from_environment() == expected


@pytest.mark.parametrize("value", ["abc", "24", "0"])
def test_bad_blocking_variable_names_itself(monkeypatch, value):
    """A mistyped variable gets one message naming the variable and the values it takes."""
    monkeypatch.setenv("MICROGRAD_PLUS_VECTOR_REGISTERS", value)
    with pytest.raises(ValueError, match=r"MICROGRAD_PLUS_VECTOR_REGISTERS must be 16 or 32 \(or unset\), got"):
        mm._registers_from_environment()


@pytest.mark.parametrize("load", [0.3, 100.0])
@pytest.mark.parametrize("layout", ["c", "f", "swapped"])
def test_tiny_products_go_to_blas_by_shape_alone(monkeypatch, load, layout, rng):
    """At most ``BLAS_MAX_MNK`` multiply-adds: numpy's product, bit for bit, and our compiled
    driver never runs -- on an idle machine or a busy one (the shape alone decides). One more
    multiply-add and our kernels compute it."""
    monkeypatch.setattr(mm, "_small_to_blas", [True])  # the library's default (the kernel tests turn it off)
    monkeypatch.setattr(shared.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(shared, "others_cores", lambda: None)  # only the load average speaks
    monkeypatch.setattr(shared, "_load_check", [-1.0, True])
    ran = []
    for name in ("_tile", "_gemm_parallel", "_dot_rows", "_dot_rows_parallel"):
        compiled = getattr(mm, name)
        monkeypatch.setattr(mm, name, lambda *args, _f=compiled, _n=name: (ran.append(_n), _f(*args))[1])
    m, n, k = 64, 32, 128  # 262,144 multiply-adds: the limit
    assert m * n * k <= mm.BLAS_MAX_MNK
    a = _layout(rng.standard_normal((m, k)).astype(np.float32), layout)
    w = _layout(rng.standard_normal((n, k)).astype(np.float32), layout)
    want = np.ascontiguousarray(a, dtype=np.float32) @ np.ascontiguousarray(w, dtype=np.float32).T
    for got in (mm.matmul_nt(a, w), mm.matmul(a, w.T), mm.matmul_tn(np.array(a.T), w.T)):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    assert ran == []
    k = mm.BLAS_MAX_MNK // (m * n) + 1  # just past the limit
    mm.matmul(np.ones((m, k), np.float32), np.ones((k, n), np.float32))
    assert ran


def test_use_blas_for_small_switches_and_refuses_non_bools():
    previous = mm.use_blas_for_small(True)
    try:
        assert mm.use_blas_for_small(False) is True and mm._small_to_blas == [False]
        with pytest.raises(TypeError, match="on must be True or False, got 'off'"):
            mm.use_blas_for_small("off")
    finally:
        mm.use_blas_for_small(previous)


@pytest.mark.parametrize("value, expected", [("", None), ("intel", "intel"), (" zen4 ", "zen4")])
def test_variant_forced_by_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MICROGRAD_PLUS_MATMUL_VARIANT", value)
    assert mm._variant_from_environment() == expected


def test_bad_variant_variable_names_itself(monkeypatch):
    monkeypatch.setenv("MICROGRAD_PLUS_MATMUL_VARIANT", "icelake")
    with pytest.raises(ValueError, match=r"MICROGRAD_PLUS_MATMUL_VARIANT must be one of zen4, avx2, intel"):
        mm._variant_from_environment()


@pytest.mark.parametrize("M, N, K", [(16, 50176, 25), (768, 384, 128), (32, 12544, 400), (64, 128, 784), (7, 70, 3),
                                     (2048, 1536, 384)])
def test_parallel_tiles_are_wider_for_short_sums(M, N, K):
    """At least 8 tiles when the product allows, never more tiles than blocks, and a short sum
    (K up to half a slice) gets wider tiles -- B's slice stays the same size in L2 -- while longer
    sums keep the 4-panel width (each tile costs a call: 196 thin tiles of a K = 25 product ran
    1.5x slower)."""
    NR = 64
    row_tiles, col_tiles = mm._tiles_for_threads(M, N, K, NR)
    m_blocks, n_panels = -(-M // mm.MR), -(-N // NR)
    assert 1 <= row_tiles <= m_blocks and 1 <= col_tiles <= n_panels
    assert row_tiles * col_tiles >= 8 or (row_tiles, col_tiles) == (m_blocks, n_panels) or (
        col_tiles == n_panels and row_tiles * mm.MR >= M)
    widest = -(-n_panels // col_tiles) * NR  # columns of the widest tile
    if K <= mm._KC // 2:
        assert widest >= min(N, (mm._NC_PANELS * mm._KC // K) * NR) // 2, (row_tiles, col_tiles)
    else:
        assert widest <= mm._NC_PANELS * NR


@pytest.mark.parametrize("M, N", [(2048, 1536), (65, 70), (768, 512), (13, 700)])
def test_parallel_tiles_are_equal_whole_blocks(M, N):
    """The tiles _gemm_parallel cuts C into cover it exactly once, start on block edges, and
    differ by at most one block of rows (or one panel): a short last tile would leave the thread
    that takes the first half of the tiles more work than the other."""
    NR = 16
    row_tiles, col_tiles = mm._tiles_for_threads(M, N, 512, NR)
    m_blocks, n_panels = -(-M // mm.MR), -(-N // NR)
    rows = [mm.cut(r, row_tiles, m_blocks, mm.MR, M) for r in range(row_tiles)]  # what _gemm_parallel cuts
    cols = [mm.cut(c, col_tiles, n_panels, NR, N) for c in range(col_tiles)]
    for cuts, size, unit in ((rows, M, mm.MR), (cols, N, NR)):
        assert cuts[0][0] == 0 and cuts[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:]))  # no gap, no overlap
        assert all(lo % unit == 0 for lo, _ in cuts)
        full = [hi - lo for lo, hi in cuts[:-1]] or [cuts[-1][1] - cuts[-1][0]]
        assert max(full) - min(full) <= unit
    C = np.zeros((M, N))
    for i0, i1 in rows:
        for j0, j1 in cols:
            C[i0:i1, j0:j1] += 1
    assert (C == 1).all()
