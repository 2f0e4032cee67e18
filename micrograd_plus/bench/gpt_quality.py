"""What validation loss does nanoGPT's CPU recipe reach, in micrograd_plus and in PyTorch?

The recipe (4 layers, 4 heads, width 128, context 64, batch 12, 2,000 iterations, lr 1e-3 -> 1e-4,
warm-up 100, beta2 0.99, weight decay 0.1, clip 1.0, dropout 0) is trained once per seed in each
engine, and two numbers are printed per run at iteration 2,000:

* ``est20``: the mean loss on 20 random validation batches of 12 x 64 characters, the estimate
  nanoGPT prints (and quotes as 1.88 for this recipe). Its batch-to-batch spread is about 0.013.
* ``full``: the mean loss over the whole validation text (111,540 characters), which has no
  sampling noise; it is the number to compare.

The PyTorch run is independent of ours wherever the recipe leaves freedom, as nanoGPT is: its
initial weights (GPT-2 style, N(0, 0.02), residual projections 0.02 / sqrt(2 n_layer)) and its
batches come from ``torch.manual_seed(seed)``, and weight decay applies to every matrix,
embeddings included. Only the architecture is shared (:func:`micrograd_plus.bench.gpt.torch_gpt`,
itself written with ``torch.nn.functional`` and tested against our model).

Usage (about 3-4 minutes per seed on 2 cores)::

    python -m micrograd_plus.bench.gpt_quality                  # seed 1337
    python -m micrograd_plus.bench.gpt_quality --seeds 1337 1 3 4
    python -m micrograd_plus.bench.gpt_quality --skip-ours      # only the PyTorch runs
"""

import argparse
import math
import statistics
import tempfile
import time

import numpy as np


def _torch_run(seed, preset, text_ids):
    """Train the recipe in PyTorch with torch's own RNG; return {"est20", "full", "s"}."""
    import torch

    # deferred: the script's --help and its PyTorch-only or ours-only runs import only what they use
    from micrograd_plus.bench.gpt import torch_gpt
    from micrograd_plus.models.gpt import GPT
    from micrograd_plus.optim import cosine_with_warmup_lr

    tc = preset.train
    mc = preset.model
    T, B, L = mc.block_size, tc.batch_size, mc.n_layer
    n = int(len(text_ids) * (1 - tc.val_fraction))
    train, val = torch.as_tensor(text_ids[:n]), torch.as_tensor(text_ids[n:])

    torch.manual_seed(seed)
    model = torch_gpt(GPT(mc, generator=0))  # our architecture; its weights are replaced below
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:  # matrices and embeddings: GPT-2's initialisation, from torch's RNG
                std = 0.02 / math.sqrt(2 * L) if name.endswith("c_proj__weight") else 0.02
                p.normal_(0.0, std)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": tc.weight_decay},
                             {"params": others, "weight_decay": 0.0}],
                            lr=tc.learning_rate, betas=(tc.beta1, tc.beta2), eps=tc.eps)

    def batch(data):
        ix = torch.randint(len(data) - T, (B,))
        offsets = torch.arange(T)
        return data[ix[:, None] + offsets], data[ix[:, None] + offsets + 1]  # (B, T) each

    t0 = time.perf_counter()
    for it in range(tc.max_iters):
        for g in opt.param_groups:
            g["lr"] = cosine_with_warmup_lr(it, tc.learning_rate, tc.warmup_iters, tc.decay_iters, tc.min_lr)
        _, loss = model(*batch(train))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        est = float(np.mean([model(*batch(val))[1].item() for _ in range(tc.eval_iters)]))
        windows = (len(val) - 1) // T
        starts = torch.arange(windows) * T
        total = 0.0
        for i in range(0, windows, 64):
            s = starts[i:i + 64]
            x = val[s[:, None] + torch.arange(T)]
            y = val[s[:, None] + torch.arange(T) + 1]
            total += model(x, y)[1].item() * len(s)
    return {"est20": est, "full": total / windows, "s": seconds}


def _our_run(seed, preset):
    """Train the recipe with micrograd_plus's ``train``; return {"est20", "full", "s"}."""
    from dataclasses import replace

    # deferred: the script's --help and its PyTorch-only or ours-only runs import only what they use
    from micrograd_plus.train.gpt import evaluate_full, train

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        r = train(preset.model, replace(preset.train, seed=seed), out_dir=out, progress=False, log=None)
        seconds = time.perf_counter() - t0
    return {"est20": r.evals[-1]["val_loss"], "full": evaluate_full(r.model, r.task.val_ids, preset.model.block_size),
            "s": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337])
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args(argv)

    # deferred until the arguments are good (numba and the data load take seconds)
    from micrograd_plus.data import CharTokenizer, load_shakespeare
    from micrograd_plus.train.gpt import PRESETS

    preset = PRESETS["shakespeare-char-cpu"]
    text = load_shakespeare()
    ids = CharTokenizer.from_text(text).encode(text)
    engines = []
    if not args.skip_ours:
        engines.append(("micrograd_plus", lambda s: _our_run(s, preset)))
    if not args.skip_torch:
        try:
            import torch

            engines.append((f"torch {torch.__version__}", lambda s: _torch_run(s, preset, ids)))
        except ImportError:
            print("torch is not installed: PyTorch rows skipped (pip install torch==2.13.0)")

    print(f"{'engine':<16} {'seed':>6} {'est20':>7} {'full':>7} {'seconds':>8}")
    results = {name: [] for name, _ in engines}
    for seed in args.seeds:
        for name, run in engines:
            r = run(seed)
            results[name].append(r)
            print(f"{name:<16} {seed:>6} {r['est20']:7.4f} {r['full']:7.4f} {r['s']:8.1f}", flush=True)
    for name, rows in results.items():
        full = [r["full"] for r in rows]
        est = [r["est20"] for r in rows]
        spread = f" (sd {statistics.stdev(full):.4f})" if len(full) > 1 else ""
        print(f"{name}: mean full {statistics.mean(full):.4f}{spread}, mean est20 {statistics.mean(est):.4f}, "
              f"{len(rows)} seed(s)")


if __name__ == "__main__":
    main()
