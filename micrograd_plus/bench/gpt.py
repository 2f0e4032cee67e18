"""Benchmark: one training iteration of the Shakespeare mini-GPT, ours against PyTorch.

The same architecture (nanoGPT's CPU recipe: 4 layers, 4 heads, width 128, context 64, batch 12,
vocabulary 65, no biases, tied embedding) is trained for a fixed number of iterations by

* **ours** -- :class:`micrograd_plus.models.gpt.GPT` with the numba kernels (the default backend);
* **ours+BLAS** -- the same code with the ``"numpy"`` kernel backend: matmuls by numpy's BLAS,
  attention by the plain-numpy reference (so the kernels' contribution can be seen; timed in a
  child process, see below);
* **torch** -- a PyTorch model with exactly the same weights, written with ``torch.nn.functional``
  (``scaled_dot_product_attention(is_causal=True)``, ``torch.optim.AdamW``), at 2 threads.

An iteration is the whole step: batch, forward, cross-entropy, backward, gradient clipping at
1.0, AdamW. The median milliseconds per iteration is reported, with the ratio ours / torch (below 1
means ours is faster). Run with ``micrograd-plus bench gpt``; the target is a ratio of at most 1.0.

Then a scaling table times the same step at three sizes (:data:`SIZES`: the recipe, 6 layers x
192 at context 128, and nanoGPT's 6 x 384 at context 256).

**Each contender runs as its users run it**: alone in a fresh process, with its own defaults.
PyTorch gets its own thread count and OpenMP settings (whatever your environment says, never this
library's ``GOMP_SPINCOUNT``, which changes how PyTorch's idle threads wait); ours gets what
importing micrograd_plus sets. Sharing a process, or one library's OpenMP policy, measured 1.5x
slower for PyTorch on an Intel Xeon (issue 26), which flattered us. Each contender's process runs a
warm-up of at least a second (compilation, caches) then timed blocks with a pause before each; contenders take
turns (ours, torch, ours, torch ...) so that a noisy neighbour on a shared machine slows both alike,
and the median over all blocks is reported. "ours+BLAS" is timed the same way.

:func:`torch_gpt` builds the PyTorch peer from our model's weights (``micrograd_plus/bench/gpt_quality.py``
uses it too). The tests do not: their oracle lives with them, in ``tests/models/conftest.py``.
"""

import os
import statistics
import time

import numpy as np

from micrograd_plus.bench._process import as_users_run_it



def torch_gpt(model):
    """A PyTorch module computing exactly what our ``model`` computes, starting from its weights.

    Args:
        model: a :class:`micrograd_plus.models.gpt.GPT`.

    Returns:
        A ``torch.nn.Module`` with ``forward(idx, targets=None) -> (logits, loss)``, whose
        parameters are copies of ``model.state_dict()`` (same names, dots replaced by ``__``).
        It is written independently with ``torch.nn.functional``, so it checks our engine.
    """
    import torch
    import torch.nn.functional as TF

    cfg = model.config

    class TorchGPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names = {}
            for name, arr in model.state_dict().items():
                key = name.replace(".", "__")
                self.names[name] = key
                self.register_parameter(key, torch.nn.Parameter(torch.tensor(np.array(arr))))

        def p(self, name):
            key = self.names.get(name)
            return None if key is None else getattr(self, key)

        def ln(self, x, prefix):
            return TF.layer_norm(x, (cfg.n_embd,), self.p(prefix + ".weight"), self.p(prefix + ".bias"), 1e-5)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            C, H = cfg.n_embd, cfg.n_head
            x = self.p("transformer.wte.weight")[idx] + self.p("transformer.wpe.weight")[:T]  # (B, T, C)
            for i in range(cfg.n_layer):
                b = f"transformer.h.{i}."
                h = self.ln(x, b + "ln_1")
                qkv = TF.linear(h, self.p(b + "attn.c_attn.weight"), self.p(b + "attn.c_attn.bias"))
                q, k, v = qkv.split(C, dim=2)
                q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
                y = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
                y = y.transpose(1, 2).reshape(B, T, C)
                x = x + TF.linear(y, self.p(b + "attn.c_proj.weight"), self.p(b + "attn.c_proj.bias"))
                h = self.ln(x, b + "ln_2")
                h = TF.gelu(TF.linear(h, self.p(b + "mlp.c_fc.weight"), self.p(b + "mlp.c_fc.bias")))
                x = x + TF.linear(h, self.p(b + "mlp.c_proj.weight"), self.p(b + "mlp.c_proj.bias"))
            x = self.ln(x, "transformer.ln_f")
            head = self.p("transformer.wte.weight") if cfg.tie_weights else self.p("lm_head.weight")
            logits = TF.linear(x, head)  # (B, T, V)
            loss = None
            if targets is not None:
                loss = TF.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))
            return logits, loss

    return TorchGPT()


def _our_step_fn(model, tc):
    from micrograd_plus import nn  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus.optim import CosineWithWarmup  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus.train.gpt import configure_optimizer  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    opt = configure_optimizer(model, tc)
    sched = CosineWithWarmup(opt, tc.warmup_iters, tc.decay_iters, min_lr=tc.min_lr)
    params = list(model.parameters())

    def step(x, y):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, tc.grad_clip)
        opt.step()
        sched.step()
        return loss.item()

    return step


def _torch_step_fn(tmodel, tc):
    import torch

    from micrograd_plus.optim import cosine_with_warmup_lr  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    decay = [p for n, p in tmodel.named_parameters() if p.dim() >= 2 and not n.startswith(("transformer__wte", "transformer__wpe"))]
    other = [p for n, p in tmodel.named_parameters() if not (p.dim() >= 2 and not n.startswith(("transformer__wte", "transformer__wpe")))]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": other, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=tc.learning_rate, betas=(tc.beta1, tc.beta2), eps=tc.eps)
    state = {"it": 0}

    def step(x, y):
        lr = cosine_with_warmup_lr(state["it"], tc.learning_rate, tc.warmup_iters, tc.decay_iters, tc.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        _, loss = tmodel(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), tc.grad_clip)
        opt.step()
        state["it"] += 1
        return loss.item()

    return step


def _in_child(function, *args):
    """``function(*args)`` of this module alone in a fresh process with the user's environment
    (:func:`~micrograd_plus.bench._process.as_users_run_it`)."""
    return as_users_run_it(__name__, function, *args)


#: Seconds of rest before each timed block, so one block's heat and turbo state do not carry over.
PAUSE = 0.3

#: After a first block (compilation, caches), every contender warms up for at least this long
#: more (whole blocks) before its first timed block.
#: One block of the scaling table's 10 recipe-size steps (~0.35 s) was not enough: our first
#: timed block after it ran 34-45 ms against 28-33 ms for the blocks after (2-core Zen 4, no page
#: faults in either), which a one-block-per-process table then reported as the step's time.
WARMUP_SECONDS = 1.0


def _have_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


# The scaling table's sizes (issue 14): name -> (n_layer, n_head, n_embd, block_size, batch_size).
SIZES = {
    "recipe 0.8M": (4, 4, 128, 64, 12),  # nanoGPT's Shakespeare CPU recipe
    "6x192 2.7M": (6, 6, 192, 128, 12),
    "6x384 10.7M": (6, 6, 384, 256, 8),  # nanoGPT's shakespeare-char, on a CPU
}


def _setup(iters, size=None):
    """The preset model's configs (or those of ``SIZES[size]``) and ``iters`` fixed training
    batches (the same in every process)."""
    from dataclasses import replace

    from micrograd_plus.data import CharTokenizer, get_batch, load_shakespeare  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus.train.gpt import PRESETS  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    preset = PRESETS["shakespeare-char-cpu"]
    text = load_shakespeare()
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    mc, tc = replace(preset.model, vocab_size=tok.vocab_size), preset.train
    if size is not None:
        n_layer, n_head, n_embd, block, batch = SIZES[size]
        mc = replace(mc, n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block)
        tc = replace(tc, batch_size=batch)
    g = np.random.default_rng(0)
    batches = [get_batch(ids, tc.batch_size, mc.block_size, generator=g) for _ in range(iters)]
    return mc, tc, batches


def _contender_samples(name, blocks, iters, size=None):
    """(Child process) ms per iteration of one contender alone in this process: ``"ours"``,
    ``"ours+BLAS"`` (our model with numpy's BLAS for the products) or ``"torch"`` (with PyTorch's
    default threads). Warm-up blocks for at least :data:`WARMUP_SECONDS`, then ``blocks`` timed
    blocks of ``iters`` iterations, with :data:`PAUSE` seconds of rest before each. Returns
    ``{"ms": [...], "threads": n}``."""
    if name == "torch":
        import torch  # first, with nothing of ours loaded: its thread pool as its users get it

        threads = torch.get_num_threads()
    from micrograd_plus import kernels  # deferred: loads numba in the benchmark's own process
    from micrograd_plus.models.gpt import GPT  # deferred: loads numba in the benchmark's own process

    mc, tc, batches = _setup(iters, size)
    model = GPT(mc, generator=1)
    if name == "torch":
        step = _torch_step_fn(torch_gpt(model), tc)
    else:
        import numba

        step = _our_step_fn(model, tc)
        threads = numba.get_num_threads()

    def block():
        t0 = time.perf_counter()
        for x, y in batches:
            step(x, y)
        return (time.perf_counter() - t0) * 1e3 / len(batches)

    with kernels.backend("numpy" if name == "ours+BLAS" else kernels.get_backend()):
        block()  # warm-up: compile kernels (or load them from the cache), fill caches
        warm_start = time.perf_counter()  # then a second of steady work, whatever that first block took
        while time.perf_counter() - warm_start < WARMUP_SECONDS:
            block()
        samples = []
        for _ in range(blocks):
            time.sleep(PAUSE)
            samples.append(block())
    return {"ms": samples, "threads": threads}


def _samples_alone(rounds, iters, size=None, contenders=("ours", "torch"), turns=3):
    """ms/iter samples of each contender, each in fresh processes of its own, taking ``turns``
    turns (ours, torch, ours, torch ...) of about ``rounds / turns`` blocks each; torch is left out
    when it is not installed. Returns ``({name: [ms, ...]}, {name: threads})``."""
    contenders = [c for c in contenders if c != "torch" or _have_torch()]
    turns = max(1, min(turns, rounds))
    samples, threads = {c: [] for c in contenders}, {}
    for turn in range(turns):
        blocks = rounds // turns + (turn < rounds % turns)
        for name in contenders:
            got = _in_child("_contender_samples", name, blocks, iters, size)
            samples[name] += got["ms"]
            threads[name] = got["threads"]
    return samples, threads


def run(repeats=None, quick=False):
    """Time training iterations of the preset model in each contender; print and return a table.

    Args:
        repeats: timed blocks per contender (median over blocks); default 5 (2 with ``quick``).
        quick: fewer iterations per round (a smoke test of the benchmark itself).
    """
    rounds = repeats or (2 if quick else 5)
    iters = 3 if quick else 20
    mc, tc, _ = _setup(1)
    samples, threads = _samples_alone(rounds, iters, contenders=("ours", "torch", "ours+BLAS"))
    have_torch = "torch" in samples
    ms = {name: statistics.median(v) for name, v in samples.items()}
    best = {name: min(v) for name, v in samples.items()}

    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        f"GPT training iteration: {mc.n_layer} layers, {mc.n_head} heads, n_embd {mc.n_embd}, "
        f"block {mc.block_size}, batch {tc.batch_size}, vocab {mc.vocab_size}",
        f"{rounds} blocks x {iters} iterations each, every contender alone in its own processes, taking "
        f"turns; threads: " + ", ".join(f"{n} {t}" for n, t in threads.items()) + f"; load average {load}",
        "(on a busy machine multithreaded code of every contender slows down a lot: check the load)",
        "",
        f"{'contender':<12}{'median ms':>10}{'best ms':>10}{'median/torch':>14}{'best/torch':>12}",
    ]
    for name in ms:
        r1 = f"{ms[name] / ms['torch']:.2f}x" if have_torch else "-"
        r2 = f"{best[name] / best['torch']:.2f}x" if have_torch else "-"
        lines.append(f"{name:<12}{ms[name]:>10.1f}{best[name]:>10.1f}{r1:>14}{r2:>12}")
    if not have_torch:
        lines.append("(torch not installed: no PyTorch column)")
    else:
        lines.append("")
        lines.append(f"ours / torch = {ms['ours'] / ms['torch']:.2f} (medians; target <= 1.0)")
    lines.append("(each library with its own defaults, in processes of its own: see this module's docstring)")
    table = "\n".join(lines)
    print(table)
    result = {"recipe": {name: {"median_ms": ms[name], "best_ms": best[name]} for name in ms}}
    if not quick:
        result["scaling"] = scaling(rounds=max(3, rounds // 2))
    return result


def scaling(rounds=3, sizes=None):
    """Print and return the scaling table: ms per step, ours and torch, at each of ``SIZES``.

    Each contender runs alone in fresh processes of its own at each size (as above), with fewer
    iterations per block as the model grows (about a second of work per block here).
    """
    rows = {}
    print(f"\nscaling: ms per training step (median of {rounds} blocks), ours vs torch, each alone with its defaults")
    print(f"{'size':<14}{'layers x width, T, B':>24}{'ours':>10}{'torch':>10}{'ratio':>8}")
    for size in sizes or SIZES:
        n_layer, _, n_embd, block, batch = SIZES[size]
        iters = {"recipe 0.8M": 10, "6x192 2.7M": 3}.get(size, 1)
        samples, _ = _samples_alone(rounds, iters, size)
        row = {name: statistics.median(v) for name, v in samples.items()}
        ratio = row["ours"] / row["torch"] if "torch" in row else None
        rows[size] = dict(row, ratio=ratio)
        shape = f"{n_layer} x {n_embd}, {block}, {batch}"
        torch_ms = f"{row['torch']:10.1f}" if "torch" in row else f"{'-':>10}"
        print(f"{size:<14}{shape:>24}{row['ours']:10.1f}{torch_ms}{(f'{ratio:.2f}x' if ratio else '-'):>8}")
    return rows
