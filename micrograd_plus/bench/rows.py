"""Benchmark: LayerNorm and softmax + cross-entropy, forward + backward, at the GPT's shapes.

For each shape it times, at the Tensor level (what training runs), in one process:

* ours with the compiled kernels (:mod:`micrograd_plus.kernels.layer_norm`,
  :mod:`micrograd_plus.kernels.cross_entropy`), through ``F.layer_norm`` / ``F.cross_entropy``;
* the same functions on the ``"numpy"`` backend (the references: what these ops cost before
  the kernels);
* PyTorch's ``layer_norm`` / ``cross_entropy`` with autograd, on as many threads as ours
  (skipped when torch is not installed).

Each contender runs all its rounds back to back after a pause and warm-up (which also compiles
the kernels); figures are medians. Ratios are ours / PyTorch's time: below 1.0 means faster.

Run it with ``micrograd-plus bench rows`` or ``micrograd-plus bench rows``.
"""

import time

from micrograd_plus.bench._process import in_child

# (rows, width): the nanoGPT CPU recipe (B 12 x T 64, C 128, 65 characters), 6 x 192 at
# B 12 x T 128, and 6 x 384 at B 8 x T 256.
SHAPES = [(768, 128, 65), (1536, 192, 65), (2048, 384, 65)]


def _median_ms(fn, seconds):
    fn()
    fn()
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return 1e3 * samples[len(samples) // 2]


def measure(rows, width, classes, seconds=0.5):
    """Median ms of each contender's forward + backward; a dict of name -> ms."""
    import numba
    import numpy as np

    from micrograd_plus import Tensor, kernels  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus import functional as F  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, width)).astype(np.float32)
    w = rng.standard_normal(width).astype(np.float32)
    b = rng.standard_normal(width).astype(np.float32)
    logits = rng.standard_normal((rows, classes)).astype(np.float32)
    target = rng.integers(0, classes, rows)

    def ln_ours():
        xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        F.layer_norm(xt, (width,), wt, bt).sum().backward()

    def ce_ours():
        lt = Tensor(logits, requires_grad=True)
        F.cross_entropy(lt, target).backward()

    results = {}
    for name, fn in (("layer_norm", ln_ours), ("cross_entropy", ce_ours)):
        time.sleep(0.2)
        results[f"{name} ours"] = _median_ms(fn, seconds)
        with kernels.backend("numpy"):
            time.sleep(0.2)
            results[f"{name} numpy"] = _median_ms(fn, seconds)
    try:
        import torch
    except ImportError:
        return results
    torch.set_num_threads(numba.get_num_threads())
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tl, tt = torch.tensor(logits, requires_grad=True), torch.tensor(target)

    def ln_torch():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.layer_norm(tx, (width,), tw, tb).sum().backward()

    def ce_torch():
        tl.grad = None
        torch.nn.functional.cross_entropy(tl, tt).backward()

    for name, fn in (("layer_norm", ln_torch), ("cross_entropy", ce_torch)):
        time.sleep(0.2)
        results[f"{name} torch"] = _median_ms(fn, seconds)
    return results


def run(repeats=None, quick=False):
    """Print one table: ms per forward + backward, ours vs numpy vs PyTorch."""

    shapes = SHAPES[:1] if quick else SHAPES
    seconds = 0.2 if quick else 0.5 * (repeats or 1)
    print("ms per forward + backward (median), float32; ratio = ours / torch (below 1.0: faster)")
    print(f"{'op':<14} {'shape':<16} {'ours':>8} {'numpy':>8} {'torch':>8} {'ratio':>6}")
    figures = {}
    for rows, width, classes in shapes:
        r = in_child("micrograd_plus.bench.rows", "measure", rows, width, classes, seconds, torch_first=True)
        for name, shape in (("layer_norm", (rows, width)), ("cross_entropy", (rows, classes))):
            ours, ref, theirs = r[f"{name} ours"], r[f"{name} numpy"], r.get(f"{name} torch")
            ratio = f"{ours / theirs:6.2f}" if theirs else "     -"
            torch_col = f"{theirs:8.3f}" if theirs else "       -"
            print(f"{name:<14} {str(shape):<16} {ours:8.3f} {ref:8.3f} {torch_col} {ratio}")
            figures[f"{name} {shape}"] = {"ours_ms": ours, "numpy_ms": ref, "torch_ms": theirs}
    return figures
