"""Benchmark: our fused causal attention against the numpy reference and PyTorch's SDPA.

For each shape (B, H, T, D), float32, it times:

* ours: :func:`micrograd_plus.kernels.attention.attention_forward` (fwd), and forward then
  :func:`~micrograd_plus.kernels.attention.attention_backward` (fwd+bwd);
* the plain-numpy reference (same two measurements), in ours' process;
* ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)`` and its
  autograd backward (skipped when torch is not installed).

**Each library runs alone in a fresh process of its own with its own defaults**
(:func:`~micrograd_plus.bench._process.as_users_run_it`): PyTorch with its own thread count and
OpenMP settings, never this library's ``GOMP_SPINCOUNT`` -- that is how its users run it (a peer
sharing our process or our OpenMP policy ran up to 1.5x slower, issue 26). The "1" rows then
tell both libraries to use one thread (a setting of the benchmark's, the same for both): on a
shared 2-core machine they are the steadier comparison. Each shape gets processes of its own (see
:func:`_measure_in_child`).

Each figure is the median over the timed rounds. Each implementation runs all its rounds back to
back, after a pause and 0.5 s of warm-up calls (which also compile the kernels). Ratios are ours /
theirs: below 1.0 means we are faster. The first shape is the GPT training shape.

Run it with ``micrograd-plus bench attention``.
"""

import time

from micrograd_plus.bench._process import as_users_run_it

SHAPES = [(12, 4, 64, 32), (12, 6, 128, 32), (8, 6, 256, 64)]  # the GPT's three sizes (bench gpt)
QUICK_SHAPES = [(12, 4, 64, 32)]


def _median_ms(samples):
    samples = sorted(samples)
    return 1e3 * samples[len(samples) // 2]


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cases(shape, library):
    """name -> zero-argument callable, for every implementation of ``library`` at ``shape``:
    ``"ours"`` (our kernels and their numpy reference) or ``"torch"`` (SDPA)."""
    import numpy as np

    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    scale = 1.0 / np.sqrt(shape[-1])
    if library == "torch":
        return _torch_cases(q, k, v, dout)

    from micrograd_plus.kernels import attention as A  # deferred: loads numba in ours' process only

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

    return {"ours fwd": ours_fwd, "ours fwd+bwd": ours_fwd_bwd, "numpy fwd": ref_fwd, "numpy fwd+bwd": ref_fwd_bwd}


def _torch_cases(q, k, v, dout):
    import torch

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

    return {"torch fwd": torch_fwd, "torch fwd+bwd": torch_fwd_bwd}


def _measure(shape, threads, repeats, library, settle=0.3, warmup_seconds=0.5):
    """(Child process) median ms of every case of ``library`` (``"ours"`` or ``"torch"``) at
    ``shape``, with the library's own thread count (``threads`` None) or ``threads``.

    One case after another, each after a ``settle`` pause and ``warmup_seconds`` of untimed calls
    (compilation, page faults, waking threads).
    """
    if library == "torch":
        import torch  # first, with nothing of ours loaded: its thread pool as its users get it

        if threads:
            torch.set_num_threads(threads)
        used = torch.get_num_threads()
    else:
        import numba

        if threads:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        used = numba.get_num_threads()
    ms = {}
    for name, fn in _cases(shape, library).items():
        time.sleep(settle)
        start = time.perf_counter()
        fn()
        while time.perf_counter() - start < warmup_seconds:
            fn()
        ms[name] = _median_ms([_timed(fn) for _ in range(repeats)])
    return {"ms": ms, "threads": used}


def _measure_in_child(shape, threads, repeats):
    """:func:`_measure` for ours, then for torch (if installed), each in a fresh process of its own
    with the user's environment; returns ``({case: ms}, {library: threads used})``.

    Each shape gets processes of its own because the allocator remembers earlier shapes: measured
    in one process after the small shape, every call of ours at (8, 6, 256, 64) page-faulted its
    25 MB of outputs and probabilities afresh (6,100 faults, 26 ms instead of 18).
    """
    import importlib.util

    libraries = ["ours"] + (["torch"] if importlib.util.find_spec("torch") else [])
    ms, used = {}, {}
    for library in libraries:
        got = as_users_run_it(__name__, "_measure", tuple(shape), threads, int(repeats), library)
        ms.update(got["ms"])
        used[library] = got["threads"]
    return ms, used


def run(repeats=None, quick=False):
    """Time every implementation at each shape; print and return the table as text.

    The main rows ("own") give each library its own default thread count; rows with 1 thread
    follow: on a shared 2-core machine, where other work keeps taking a core, they are the
    steadier comparison.
    """
    repeats = repeats or (5 if quick else 30)
    shapes = QUICK_SHAPES if quick else SHAPES
    lines = [f"causal attention, float32; median ms over {repeats} rounds (each implementation's back to back) "
             f"(ratio = ours / theirs, < 1 is faster); each library alone in a fresh process of its own with its "
             f"own defaults (thr 'own'), then both told to use 1 thread"]
    header = (f"{'B,H,T,D':>15} {'thr':>4} {'ours fwd':>9} {'fwd+bwd':>9} {'numpy f':>9} {'f+b':>9} "
              f"{'torch f':>9} {'f+b':>9} {'vs numpy':>9} {'vs torch f':>10} {'vs torch f+b':>12}")
    lines.append(header)
    has_torch, seen = True, {}
    for threads in (None, 1):
        for shape in shapes:
            ms, used = _measure_in_child(shape, threads, repeats)
            seen.update({k: v for k, v in used.items() if threads is None})
            has_torch = "torch fwd" in ms

            def cell(name):
                return f"{ms[name]:9.3f}" if name in ms else f"{'-':>9}"

            ratio_numpy = ms["ours fwd+bwd"] / ms["numpy fwd+bwd"]
            ratio_tf = f"{ms['ours fwd'] / ms['torch fwd']:10.2f}" if has_torch else f"{'-':>10}"
            ratio_tfb = (f"{ms['ours fwd+bwd'] / ms['torch fwd+bwd']:12.2f}" if has_torch
                         else f"{'-':>12}")
            lines.append(f"{str(shape):>15} {threads or 'own':>4} {cell('ours fwd')} {cell('ours fwd+bwd')} "
                         f"{cell('numpy fwd')} {cell('numpy fwd+bwd')} {cell('torch fwd')} "
                         f"{cell('torch fwd+bwd')} {ratio_numpy:9.2f} {ratio_tf} {ratio_tfb}")
    lines.insert(1, "own thread counts: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    if not has_torch:
        lines.append("(torch not installed: its columns are skipped)")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    run()
