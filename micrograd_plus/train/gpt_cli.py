"""``micrograd-plus gpt``: train a character-level GPT, sample from it, and look inside it.

  micrograd-plus gpt train                     nanoGPT's CPU recipe on Tiny Shakespeare (~3 min)
  micrograd-plus gpt train --preset tiny       a toy run in seconds
  micrograd-plus gpt train --data my.txt       the same on any UTF-8 text file
  micrograd-plus gpt train --resume            carry on an interrupted run (Ctrl-C saves one)
  micrograd-plus gpt sample --prompt "ROMEO:"  stream new text from the best checkpoint
  micrograd-plus gpt next --prompt "To be or"  every character's probability of coming next
  micrograd-plus gpt attention --text "..."    each head's attention pattern, as a PNG
  micrograd-plus gpt neighbours                which characters the model thinks are alike
  micrograd-plus gpt weights --preset gpt3     GPT-3's 175,181,291,520 weights, by kind

Checkpoints are written to ``--out`` (default ``runs/gpt``): ``ckpt.npz`` holds the best
validation loss so far, ``last.npz`` the latest state, ``log.jsonl`` every loss.
"""

import argparse
import sys
from pathlib import Path

HELP = "train and sample a character-level GPT on Tiny Shakespeare (or any text)"

DEFAULT_OUT = "runs/gpt"
_PRESET_NAMES = ("shakespeare-char-cpu", "tiny", "shakespeare-bpe")  # mirrors micrograd_plus.train.gpt.PRESETS (kept light)


def _ckpt_arg(p):
    p.add_argument("--checkpoint", "-c", default=f"{DEFAULT_OUT}/ckpt.npz",
                   help="checkpoint file written by 'gpt train'")


def add_arguments(parser):
    """Fill the ``gpt`` subcommand's parser with its own subcommands."""
    sub = parser.add_subparsers(dest="gpt_command", metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = sub.add_parser("train", help="train a GPT (default: nanoGPT's CPU recipe on Tiny Shakespeare)",
                       formatter_class=fmt)
    p.add_argument("--preset", choices=_PRESET_NAMES, default="shakespeare-char-cpu",
                   help="the recipe to start from; the options below override parts of it")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="a UTF-8 text file to train on instead of Tiny Shakespeare")
    p.add_argument("--out", default=DEFAULT_OUT, help="directory for checkpoints and the loss log")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.npz")
    p.add_argument("--seed", type=int, default=None, help="seed for weights and batches (preset: 1337)")
    g = p.add_argument_group("model (override the preset)")
    g.add_argument("--n-layer", type=int, default=None)
    g.add_argument("--n-head", type=int, default=None)
    g.add_argument("--n-embd", type=int, default=None)
    g.add_argument("--block-size", type=int, default=None, help="context length T")
    g.add_argument("--dropout", type=float, default=None)
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None,
                   help="biases in Linear layers and LayerNorms")
    g.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="reuse the token embedding as the unembedding")
    g = p.add_argument_group("training (override the preset)")
    g.add_argument("--max-iters", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--lr", type=float, default=None, help="peak learning rate")
    g.add_argument("--min-lr", type=float, default=None, help="final learning rate")
    g.add_argument("--warmup-iters", type=int, default=None)
    g.add_argument("--weight-decay", type=float, default=None)
    g.add_argument("--decay-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="apply weight decay to the embeddings too")
    g.add_argument("--grad-clip", type=float, default=None, help="0 disables clipping")
    g.add_argument("--eval-interval", type=int, default=None)
    g.add_argument("--eval-iters", type=int, default=None)
    g.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stop after N iterations as if interrupted (resume later with --resume)")
    p.add_argument("--sample-chars", type=int, default=300, help="characters to sample at the end (0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--full-eval", action="store_true",
                   help="at the end, also compute the loss on the whole validation text (a few seconds)")

    p = sub.add_parser("sample", help="generate text from a checkpoint, streamed as it is drawn",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--prompt", "-p", default="\n", help="text to continue")
    p.add_argument("--chars", "--num-chars", "-n", dest="chars", type=int, default=500,
                   help="number of characters to generate")
    p.add_argument("--temperature", "-t", type=float, default=0.8, help="<1 safer, >1 wilder")
    p.add_argument("--top-k", type=int, default=None, help="draw only from the k likeliest characters")
    p.add_argument("--seed", type=int, default=1337, help="same seed, same text")

    p = sub.add_parser("next", help="print the probability of every character coming next",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--prompt", "-p", default="To be or not to b", help="the text so far")
    p.add_argument("--temperature", "-t", type=float, default=1.0)
    p.add_argument("--top", type=int, default=None, help="print only the TOP likeliest (default: all)")
    p.add_argument("--png", default=None, help="also save a bar chart here")

    p = sub.add_parser("attention", help="draw every head's attention pattern for a line of text",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--text", default="ROMEO: But soft, what light", help="a line of text (<= block size)")
    p.add_argument("--png", default="attention.png", help="where to save the picture")

    from micrograd_plus.train import gpt_tools  # export, neighbours, bpe: their own module

    gpt_tools.add_arguments(sub)

    p = sub.add_parser("weights", help="count a GPT's weights by kind (try --preset gpt3)",
                       formatter_class=fmt)
    p.add_argument("--preset", choices=("gpt3",) + _PRESET_NAMES, default="gpt3")
    p.add_argument("--checkpoint", "-c", default=None, help="count this checkpoint's model instead")


def run(args):
    """Dispatch to the chosen action; returns the exit code."""
    action = getattr(args, "gpt_command", None)
    if action is None:
        print(__doc__.strip())
        return 0
    handlers = {
        "train": _train, "sample": _sample, "next": _next, "attention": _attention, "weights": _weights,
    }
    from micrograd_plus.train import gpt_tools  # export, neighbours, bpe: their own module

    if action in gpt_tools.COMMANDS:
        return gpt_tools.run(args)
    from micrograd_plus.train.checkpoint import CheckpointError

    try:
        return handlers[action](args)
    except (FileNotFoundError, ValueError, CheckpointError) as exc:
        print(f"micrograd-plus gpt {action}: error: {exc}", file=sys.stderr)
        return 2


# ---- train ---------------------------------------------------------------------------------


def _train(args):
    from dataclasses import replace

    from micrograd_plus.train import gpt as trainer

    preset = trainer.PRESETS[args.preset]
    model_over = {
        "n_layer": args.n_layer, "n_head": args.n_head, "n_embd": args.n_embd,
        "block_size": args.block_size, "dropout": args.dropout, "bias": args.bias,
        "tie_weights": args.tie_weights,
    }
    train_over = {
        "max_iters": args.max_iters, "batch_size": args.batch_size, "learning_rate": args.lr,
        "min_lr": args.min_lr, "warmup_iters": args.warmup_iters, "weight_decay": args.weight_decay,
        "decay_embeddings": args.decay_embeddings, "grad_clip": args.grad_clip,
        "eval_interval": args.eval_interval, "eval_iters": args.eval_iters, "seed": args.seed,
    }
    model_over = {k: v for k, v in model_over.items() if v is not None}
    train_over = {k: v for k, v in train_over.items() if v is not None}
    if args.resume and (model_over or train_over):
        print("note: --resume continues with the checkpoint's own settings; ignoring "
              + ", ".join(sorted(model_over) + sorted(train_over)), file=sys.stderr)
    mc = replace(preset.model, **model_over)
    tc = replace(preset.train, **train_over)

    from micrograd_plus.train.gpt_tools import preset_tokenizer  # a BPE preset's vocabulary

    tokenizer = preset_tokenizer(preset, args.data, args.out, args.resume, progress=not args.no_progress)
    result = trainer.train(mc, tc, out_dir=args.out, data=args.data, resume=args.resume,
                           stop_after=args.stop_after, progress=not args.no_progress, tokenizer=tokenizer)
    last = result.evals[-1] if result.evals else None
    print()
    if last is not None:
        print(f"final (iter {last['iter']}): train loss {last['train_loss']:.4f}, val loss {last['val_loss']:.4f}")
    print(f"best val loss {result.best_val_loss:.4f}  (checkpoint: {Path(args.out) / 'ckpt.npz'})")
    if args.full_eval:
        full = trainer.evaluate_full(result.model, result.val_ids, result.model.config.block_size)
        print(f"val loss of the final model on the whole validation text ({len(result.val_ids):,} characters): "
              f"{full:.4f}")
    print(f"time per iteration {result.ms_per_iter:.1f} ms (median), peak memory {result.peak_rss_mb:.0f} MB")
    if args.sample_chars > 0 and (Path(args.out) / "ckpt.npz").exists():
        print(f"\n--- a sample from the best checkpoint ({args.sample_chars} characters, temperature 0.8) ---")
        _stream_sample(Path(args.out) / "ckpt.npz", "\n", args.sample_chars, 0.8, None, 1337)
    return 0


# ---- sample --------------------------------------------------------------------------------


def _stream_sample(path, prompt, chars, temperature, top_k, seed):
    from micrograd_plus.train.gpt import load_model

    model, tok, _ = load_model(path)
    ids = tok.encode(prompt)
    out = sys.stdout
    out.write(prompt)
    out.flush()
    from micrograd_plus.train.gpt_tools import stream_text  # whole characters from tokens of any kind

    for piece in stream_text(tok, model.stream(ids, chars, temperature=temperature, top_k=top_k, generator=seed)):
        out.write(piece)
        out.flush()
    out.write("\n")
    out.flush()


def _sample(args):
    if args.chars < 0:
        raise ValueError(f"--chars must be >= 0, got {args.chars}")
    if not args.prompt:
        raise ValueError("--prompt must not be empty (use '\\n' to start a fresh line)")
    _stream_sample(args.checkpoint, args.prompt.replace("\\n", "\n"), args.chars, args.temperature,
                   args.top_k, args.seed)
    return 0


# ---- pedagogy ------------------------------------------------------------------------------


def _show_char(c):
    return {"\n": "\\n", " ": "' '", "\t": "\\t"}.get(c, c)


def _next(args):
    import numpy as np

    from micrograd_plus.train.gpt import load_model

    model, tok, _ = load_model(args.checkpoint)
    prompt = args.prompt.replace("\\n", "\n")
    probs = model.next_token_probs(tok.encode(prompt)[None, :], temperature=args.temperature)[0]  # (V,)
    order = np.argsort(-probs, kind="stable")
    if args.top:
        order = order[: args.top]
    print(f"after {prompt!r} the model predicts:")
    print(f"{'token':>6}  {'probability':>11}")
    for i in order:
        bar = "#" * int(round(probs[i] * 50))
        print(f"{_show_char(tok.token_text(i)):>6}  {probs[i]:>11.5f}  {bar}")
    print(f"(sum over all {tok.vocab_size} tokens: {probs.sum():.6f})")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(8, tok.vocab_size * 0.18), 3.2))
        ax.bar(range(tok.vocab_size), probs, color="tab:blue")
        ax.set_xticks(range(tok.vocab_size), [_show_char(tok.token_text(i)) for i in range(tok.vocab_size)], fontsize=7)
        ax.set_ylabel("probability")
        ax.set_title(f"next character after {prompt[-40:]!r}")
        fig.tight_layout()
        fig.savefig(args.png, dpi=120)
        plt.close(fig)
        print(f"saved {args.png}")
    return 0


def _attention(args):
    import numpy as np

    from micrograd_plus.train.gpt import load_model

    model, tok, _ = load_model(args.checkpoint)
    text = args.text.replace("\\n", "\n")
    if len(text) > model.config.block_size:
        raise ValueError(f"--text has {len(text)} characters; this model sees at most {model.config.block_size}")
    maps = model.attention_maps(tok.encode(text))  # (L, H, T, T)
    L, H, T, _ = maps.shape
    labels = [_show_char(c) for c in text]
    print(f"where the last character {labels[-1]!r} looks, per head (top 3 positions):")
    for layer in range(L):
        for h in range(H):
            row = maps[layer, h, -1]  # (T,)
            top = np.argsort(-row)[:3]
            desc = ", ".join(f"{labels[s]!r}@{s} {row[s]:.2f}" for s in top)
            print(f"  layer {layer} head {h}: {desc}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(2.0, 0.12 * T + 1.0)
    fig, axes = plt.subplots(L, H, figsize=(H * size, L * size), squeeze=False)
    for layer in range(L):
        for h in range(H):
            ax = axes[layer, h]
            ax.imshow(maps[layer, h], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {layer}, head {h}", fontsize=8)
            ax.set_xticks(range(T), labels, fontsize=5)
            ax.set_yticks(range(T), labels, fontsize=5)
    fig.suptitle("attention: row = position attending, column = position attended to")
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    plt.close(fig)
    print(f"saved {args.png}")
    return 0


def _weights(args):
    from micrograd_plus.models.gpt import GPT3_CONFIG, weight_table

    if args.checkpoint:
        from micrograd_plus.train.checkpoint import load_checkpoint
        from micrograd_plus.models.gpt import GPTConfig

        _, meta = load_checkpoint(args.checkpoint)
        config, name = GPTConfig.from_dict(meta["model_config"]), args.checkpoint
    elif args.preset == "gpt3":
        config, name = GPT3_CONFIG, "GPT-3 (175B)"
    else:
        from dataclasses import replace

        from micrograd_plus.train.gpt import PRESETS

        config, name = replace(PRESETS[args.preset].model, vocab_size=65), f"preset {args.preset} (vocabulary 65)"
    print(f"weights of {name}: {config}")
    print()
    print(weight_table(config))
    return 0
