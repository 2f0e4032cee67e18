"""Benchmark: our fused causal attention against the numpy reference and PyTorch's SDPA.

For each shape (B, H, T, D), float32, it times, in one process:

* ours: :func:`micrograd_plus.kernels.attention.attention_forward` (fwd), and forward then
  :func:`~micrograd_plus.kernels.attention.attention_backward` (fwd+bwd);
* the plain-numpy reference (same two measurements);
* ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)`` and its
  autograd backward, with ``torch.set_num_threads`` equal to ours (skipped when torch is not
  installed).

Each figure is the median over the timed rounds. Each implementation runs all its rounds back to
back, after a pause and 0.5 s of warm-up calls (which also compile the kernels): numba, torch and
OpenBLAS each keep worker threads that busy-wait after a call (OpenBLAS's for ~0.1 s), so an
implementation timed right after another library's turn is timed fighting those threads for the
two cores; interleaved call by call, both ours and torch measured 2-25x slow here.
Ratios are ours / theirs: below 1.0 means we are faster. The first shape is the GPT training shape.

Each shape and thread count is measured in a fresh process (see :func:`_measure_in_child`).

Run it with ``micrograd-plus bench attention`` or ``micrograd-plus bench attention``.
"""

import time

from micrograd_plus.bench._process import in_child

SHAPES = [(12, 4, 64, 32), (12, 6, 128, 32), (8, 6, 256, 64)]  # the GPT's three sizes (bench gpt)
QUICK_SHAPES = [(12, 4, 64, 32)]


def _median_ms(samples):
    samples = sorted(samples)
    return 1e3 * samples[len(samples) // 2]


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cases(shape, threads):
    """name -> zero-argument callable, for every implementation measured at ``shape``."""
    import numpy as np

    from micrograd_plus.kernels import attention as A  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    scale = 1.0 / np.sqrt(shape[-1])

    def ours_fwd():
        A.attention_forward(q, k, v, scale, True)

    def ours_fwd_bwd():
        out, stats = A.attention_forward(q, k, v, scale, True)
        A.attention_backward(dout, q, k, v, out, stats, scale, True)

    def ref_fwd():
        A.attention_forward_reference(q, k, v, scale, True)

    def ref_fwd_bwd():
        out, p = A.attention_forward_reference(q, k, v, scale, True)
        A.attention_backward_reference(dout, q, k, v, out, p, scale, True)

    cases = {"ours fwd": ours_fwd, "ours fwd+bwd": ours_fwd_bwd,
             "numpy fwd": ref_fwd, "numpy fwd+bwd": ref_fwd_bwd}
    try:
        import torch
    except ImportError:
        return cases
    torch.set_num_threads(threads)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    tq, tk, tv = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (q, k, v))
    tdout = torch.from_numpy(dout.copy())

    def torch_fwd():
        with torch.no_grad():
            sdpa(tq, tk, tv, is_causal=True)

    def torch_fwd_bwd():
        for t in (tq, tk, tv):
            t.grad = None
        sdpa(tq, tk, tv, is_causal=True).backward(tdout)

    cases["torch fwd"] = torch_fwd
    cases["torch fwd+bwd"] = torch_fwd_bwd
    return cases


def _measure(shape, threads, repeats, settle=0.3, warmup_seconds=0.5):
    """Median ms of every case at ``shape`` with ``threads`` threads for numba and torch.

    One case after another, each after a ``settle`` pause (the previous library's threads go to
    sleep) and ``warmup_seconds`` of untimed calls (compilation, page faults, waking threads).
    """
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    ms = {}
    for name, fn in _cases(shape, threads).items():
        time.sleep(settle)
        start = time.perf_counter()
        fn()
        while time.perf_counter() - start < warmup_seconds:
            fn()
        ms[name] = _median_ms([_timed(fn) for _ in range(repeats)])
    return ms


def _measure_in_child(shape, threads, repeats):
    """:func:`_measure` in a fresh Python process (torch's thread pool started first).

    Each shape gets a process of its own because the allocator remembers earlier shapes: measured
    in one process after the small shape, every call of ours at (8, 6, 256, 64) page-faulted its
    25 MB of outputs and probabilities afresh (6,100 faults, 26 ms instead of 18), while torch,
    which keeps less, did not. Ours and torch still run side by side in that one process.
    """

    return in_child(__name__, "_measure", tuple(shape), int(threads), int(repeats), torch_first=True)


def run(repeats=None, quick=False):
    """Time every implementation at each shape; print and return the table as text.

    The main figures use 2 threads (numba and torch alike). Rows with 1 thread follow: on a
    shared 2-core machine, where other work keeps taking a core, they are the steadier comparison.
    """
    import numba

    repeats = repeats or (5 if quick else 30)
    shapes = QUICK_SHAPES if quick else SHAPES
    lines = [f"causal attention, float32; median ms over {repeats} rounds (each implementation's back to back) "
             f"(ratio = ours / theirs, < 1 is faster); numba and torch use the same thread count"]
    header = (f"{'B,H,T,D':>15} {'thr':>3} {'ours fwd':>9} {'fwd+bwd':>9} {'numpy f':>9} {'f+b':>9} "
              f"{'torch f':>9} {'f+b':>9} {'vs numpy':>9} {'vs torch f':>10} {'vs torch f+b':>12}")
    lines.append(header)
    has_torch = True
    for threads in (2, 1):
        if threads > numba.config.NUMBA_NUM_THREADS:
            continue
        for shape in shapes:
            ms = _measure_in_child(shape, threads, repeats)
            has_torch = "torch fwd" in ms

            def cell(name):
                return f"{ms[name]:9.3f}" if name in ms else f"{'-':>9}"

            ratio_numpy = ms["ours fwd+bwd"] / ms["numpy fwd+bwd"]
            ratio_tf = f"{ms['ours fwd'] / ms['torch fwd']:10.2f}" if has_torch else f"{'-':>10}"
            ratio_tfb = (f"{ms['ours fwd+bwd'] / ms['torch fwd+bwd']:12.2f}" if has_torch
                         else f"{'-':>12}")
            lines.append(f"{str(shape):>15} {threads:>3} {cell('ours fwd')} {cell('ours fwd+bwd')} "
                         f"{cell('numpy fwd')} {cell('numpy fwd+bwd')} {cell('torch fwd')} "
                         f"{cell('torch fwd+bwd')} {ratio_numpy:9.2f} {ratio_tf} {ratio_tfb}")
    if not has_torch:
        lines.append("(torch not installed: its columns are skipped)")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    run()
