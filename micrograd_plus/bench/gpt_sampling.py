"""How much faster does sampling get with the KV cache?

Without a cache, every new token runs the whole context (up to ``block_size`` positions) through
every layer again; with it (:class:`micrograd_plus.models.gpt.KVCache`), a step computes the newest
position only and reads the earlier positions' keys and values from the cache. Both give the same
tokens for the same seed (checked here as well as in the tests).

The model is nanoGPT's Shakespeare GPU shape (6 layers, 6 heads, width 384, context 256, 65
characters) with random weights: the speed of sampling does not depend on what the weights are.
Each way is timed ``--repeats`` times, alternating, after a warm-up; the medians are printed.

Usage::

    python -m micrograd_plus.bench.gpt_sampling                  # 255 new tokens from a 1-token prompt
    python -m micrograd_plus.bench.gpt_sampling --new 500        # past the context: the cache is rebuilt every step
"""

import argparse
import statistics
import time

import numpy as np

from micrograd_plus.models.gpt import GPT, GPTConfig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new", type=int, default=255, help="tokens to generate")
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--n-layer", type=int, default=6)
    ap.add_argument("--n-embd", type=int, default=384)
    ap.add_argument("--n-head", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    cfg = GPTConfig(vocab_size=65, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd)
    model = GPT(cfg, generator=0)
    model.eval()
    prompt = np.array([0])
    model.generate(prompt, 8, generator=0, use_cache=True)  # warm-up: compile the kernels
    model.generate(prompt, 8, generator=0, use_cache=False)
    times = {True: [], False: []}
    outs = {}
    for _ in range(args.repeats):
        for use_cache in (True, False):
            t0 = time.perf_counter()
            outs[use_cache] = model.generate(prompt, args.new, generator=1, use_cache=use_cache)
            times[use_cache].append(time.perf_counter() - t0)
    same = np.array_equal(outs[True], outs[False])
    cached, plain = statistics.median(times[True]), statistics.median(times[False])
    print(f"{args.new} new tokens, context {args.block_size}, {args.n_layer} layers x {args.n_head} heads x "
          f"{args.n_embd} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    print(f"  use_cache=False: {plain:7.2f} s  ({plain / args.new * 1e3:6.1f} ms/token)")
    print(f"  use_cache=True:  {cached:7.2f} s  ({cached / args.new * 1e3:6.1f} ms/token)")
    print(f"  speed-up {plain / cached:.1f}x; the same tokens both ways: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
