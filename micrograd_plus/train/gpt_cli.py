"""``micrograd-plus gpt``: train a character-level GPT, sample from it, and look inside it.

  micrograd-plus gpt train                     nanoGPT's CPU recipe on Tiny Shakespeare
  micrograd-plus gpt train --preset tiny       a toy model, to try the commands
  micrograd-plus gpt train --data my.txt       the same on any UTF-8 text file
  micrograd-plus gpt train --resume            carry on an interrupted run (Ctrl-C saves one)
  micrograd-plus gpt train --force             start again, replacing the run in --out
  micrograd-plus gpt sample --prompt "ROMEO:"  stream new text from the best checkpoint
  micrograd-plus gpt next --prompt "To be or"  every character's probability of coming next
  micrograd-plus gpt attention --text "..."    each head's attention pattern, as a PNG
  micrograd-plus gpt neighbours                which characters the model thinks are alike
  micrograd-plus gpt weights --preset gpt3     GPT-3's 175,181,291,520 weights, by kind
  micrograd-plus gpt pairs | reward | rl | dpo  RLHF's stages on a trained GPT (chapter 16)

Checkpoints are written to ``--out`` (default ``runs/gpt``): ``ckpt.npz`` holds the best
validation loss so far, ``last.npz`` the latest state, ``log.jsonl`` every loss. A directory
holding a run is never replaced without ``--force``. Exit codes: 0 done, 2 bad input, 3 diverged
(NaN loss), 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (each saves last.npz first).

Each action is a function ``_name(args) -> exit code`` registered in :data:`ACTIONS` and given
its flags in :func:`add_arguments`.
"""

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path

from micrograd_plus._plumbing.cli_args import (add_config_flags, add_renamed_flags, add_run_arguments, config_overrides,
                                              nonneg_int, path_text, positive_float, positive_int)
from micrograd_plus.models.gpt_config import GPTConfig
from micrograd_plus.rlhf import cli as rlhf_cli  # light: flags only; the RLHF code loads when it runs
from micrograd_plus.train.config import GPT_PRESETS, TrainConfig
from micrograd_plus.train.errors import EXIT_CODES_HELP, ConfigError, exit_code_for_signal
from micrograd_plus.train.rundir import check_fresh_run

HELP = "train and sample a character-level GPT on Tiny Shakespeare (or any text)"

DEFAULT_OUT = "runs/gpt"
TOOL_COMMANDS = ("export", "neighbours", "bpe", "eval")  # the actions of micrograd_plus.train.gpt_tools
DEFAULT_PRESET = "shakespeare-char-cpu"
#: GPTConfig's fields that ``gpt train`` takes as flags: all but ``vocab_size``, which the text decides.
MODEL_FLAGS = tuple(f.name for f in fields(GPTConfig) if f.name != "vocab_size")


def _ckpt_arg(p):
    p.add_argument("--checkpoint", "-c", type=path_text, default=f"{DEFAULT_OUT}/ckpt.npz",
                   help="checkpoint file written by 'gpt train'")


def add_arguments(parser):
    """Fill the ``gpt`` subcommand's parser with its own subcommands."""
    sub = parser.add_subparsers(dest="gpt_command", metavar="ACTION")
    fmt = argparse.ArgumentDefaultsHelpFormatter
    _add_train(sub, fmt)
    _add_sampling(sub, fmt)  # sample, next, attention
    _add_tools(sub, fmt)  # export, neighbours, bpe, eval, weights
    rlhf_cli.add_arguments(sub, fmt)  # pairs, reward, rl, dpo


#: Flags of ``gpt train`` that were spelled differently before each setting got one name
#: (:mod:`micrograd_plus.train.config`): each gives a one-line error naming the new flag.
RENAMED_FLAGS = {"--lr": "--learning-rate"}


def _add_train(sub, fmt):
    """``gpt train``: a preset, the run directory's flags, and one flag per field of the two configs.

    The model and training flags are made from :class:`~micrograd_plus.models.gpt_config.GPTConfig` and
    :class:`~micrograd_plus.train.config.TrainConfig` themselves (:func:`add_config_flags`), so a field
    added there is a flag here; ``vocab_size`` is the one field without one (the text's tokenizer decides it).
    """
    p = sub.add_parser("train", help="train a GPT (default: nanoGPT's CPU recipe on Tiny Shakespeare)",
                       formatter_class=fmt, epilog=EXIT_CODES_HELP)
    p.add_argument("--preset", choices=tuple(GPT_PRESETS), default=DEFAULT_PRESET,
                   help="the recipe to start from; the options below override parts of it")
    p.add_argument("--data", type=path_text, default=None, metavar="PATH",
                   help="a UTF-8 text file to train on instead of Tiny Shakespeare")
    add_run_arguments(p, DEFAULT_OUT)
    preset = GPT_PRESETS[DEFAULT_PRESET]
    add_config_flags(p.add_argument_group(f"model (override the preset; shown: {DEFAULT_PRESET}'s)"), GPTConfig,
                     preset.model, only=MODEL_FLAGS)
    add_config_flags(p.add_argument_group(f"training (override the preset; shown: {DEFAULT_PRESET}'s)"),
                     TrainConfig, preset.train)
    add_renamed_flags(p, RENAMED_FLAGS)
    p.add_argument("--sample-chars", type=nonneg_int, default=300, help="characters to sample at the end (0: none)")
    p.add_argument("--full-eval", action="store_true",
                   help="at the end, also compute the loss on the whole validation text")


def _add_sampling(sub, fmt):
    """``gpt sample``, ``gpt next`` and ``gpt attention``: what a trained checkpoint does."""
    p = sub.add_parser("sample", help="generate text from a checkpoint, streamed as it is drawn",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--prompt", "-p", default=None,
                   help="text to continue (default: a line break, or the vocabulary's first character)")
    p.add_argument("--chars", "-n", type=nonneg_int, default=500,
                   help="number of characters to generate")
    p.add_argument("--temperature", "-t", type=positive_float, default=0.8, help="<1 safer, >1 wilder")
    p.add_argument("--top-k", type=positive_int, default=None, help="draw only from the k likeliest characters")
    p.add_argument("--seed", type=nonneg_int, default=1337, help="same seed, same text")
    add_renamed_flags(p, {"--num-chars": "--chars"})  # one name per setting

    p = sub.add_parser("next", help="print the probability of every character coming next",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--prompt", "-p", default="To be or not to b", help="the text so far")
    p.add_argument("--temperature", "-t", type=positive_float, default=1.0)
    p.add_argument("--top", type=positive_int, default=None, help="print only the TOP likeliest (default: all)")
    p.add_argument("--png", type=path_text, default=None, help="also save a bar chart here")
    p.add_argument("--force", action="store_true", help="replace the file --png names if it exists")

    p = sub.add_parser("attention", help="draw every head's attention pattern for a line of text",
                       formatter_class=fmt)
    _ckpt_arg(p)
    p.add_argument("--text", default="ROMEO: But soft, what light", help="a line of text (<= block size)")
    p.add_argument("--png", type=path_text, default="attention.png", help="where to save the picture")
    p.add_argument("--force", action="store_true", help="replace the file --png names if it exists")


def _add_tools(sub, fmt):
    """``gpt export``, ``neighbours``, ``bpe``, ``eval`` and ``weights``."""
    # export, neighbours, bpe, eval: run by micrograd_plus.train.gpt_tools (TOOL_COMMANDS), which
    # loads the model code; their flags are here, so that --help and bad flags never load it.
    p = sub.add_parser("export", formatter_class=fmt,
                       help="write a checkpoint as a Hugging Face GPT-2 directory or a nanoGPT ckpt.pt")
    p.add_argument("checkpoint", type=path_text, help="a checkpoint written by 'gpt train' (ckpt.npz or last.npz)")
    p.add_argument("--format", choices=("hf", "nanogpt"), required=True,
                   help="hf: config.json + model.safetensors (+ tokenizer files); nanogpt: ckpt.pt (needs torch)")
    p.add_argument("--out", type=path_text, required=True,
                   help="the directory (hf: its files config.json, model.safetensors, ... are written into it, "
                        "nothing else in it is touched) or the file (nanogpt) to write")
    p.add_argument("--force", action="store_true",
                   help="replace the files the export writes where they exist (only those)")

    p = sub.add_parser("neighbours", formatter_class=fmt,
                       help="nearest neighbours of tokens among the learned embeddings (either tokenizer)")
    p.add_argument("words", nargs="*", metavar="WORD",
                   help="words (BPE model) or characters (character model) to look up; default: a list of each")
    p.add_argument("--chars", default=None, help="characters to look up, each on its own (a character model)")
    _ckpt_arg(p)
    p.add_argument("-k", type=int, default=5, help="neighbours per token (1 .. vocabulary size - 1)")
    p.add_argument("--png", type=path_text, default=None, help="also save a 2-D map (PCA) of the embeddings here")
    p.add_argument("--force", action="store_true", help="replace the file --png names if it exists")

    p = sub.add_parser("bpe", formatter_class=fmt,
                       help="train a byte-level BPE vocabulary (GPT-2's scheme) and report its compression")
    p.add_argument("--vocab-size", type=int, default=1024,
                   help="tokens, including the 256 single bytes (at most 1,000,000)")
    p.add_argument("--data", type=path_text, default=None, metavar="PATH", help="a UTF-8 text file (default: Tiny Shakespeare)")
    p.add_argument("--out", type=path_text, default=None, help="save the tokenizer here as JSON")
    p.add_argument("--force", action="store_true", help="replace the file OUT if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("eval", formatter_class=fmt,
                       help="loss on the whole validation text, per token and in bits per byte (any tokenizer)")
    p.add_argument("checkpoint", type=path_text, help="a checkpoint written by 'gpt train'")
    p.add_argument("--data", type=path_text, default=None, metavar="PATH", help="the text it was trained on (default: the checkpoint's)")

    p = sub.add_parser("weights", help="count a GPT's weights by kind (try --preset gpt3)",
                       formatter_class=fmt)
    p.add_argument("--preset", choices=("gpt3", *GPT_PRESETS), default="gpt3")
    p.add_argument("--checkpoint", "-c", default=None, help="count this checkpoint's model instead")


def run(args):
    """Dispatch to the chosen action; returns the exit code."""
    action = getattr(args, "gpt_command", None)
    if action is None:
        print(__doc__.strip())
        return 0
    if action in TOOL_COMMANDS:
        from micrograd_plus.train import gpt_tools  # deferred: the model code loads only when an action runs

        return gpt_tools.run(args)
    if action in rlhf_cli.COMMANDS:
        return rlhf_cli.run(args)
    return ACTIONS[action](args)  # errors become one line in micrograd_plus._plumbing.cli.main


# ---- train ---------------------------------------------------------------------------------


def _train(args):
    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train import gpt as trainer

    preset = GPT_PRESETS[args.preset]
    model_over = config_overrides(args, GPTConfig)  # e.g. {"n_layer": 6}: the flags given
    train_over = config_overrides(args, TrainConfig)  # e.g. {"learning_rate": 3e-4} from --learning-rate
    last = Path(args.out) / "last.npz"
    if args.resume and (model_over or train_over) and last.is_file():  # they must agree with the saved run
        _, _, _, saved_mc, saved_tc, _ = trainer.read_run_state(last)
        differ = [k for k, v in model_over.items() if getattr(saved_mc, k) != v]
        differ += [k for k, v in train_over.items() if getattr(saved_tc, k) != v]
        if differ:
            raise ConfigError(f"--resume continues the saved run exactly, but {', '.join(differ)} differ(s) from "
                              f"{last}; drop those options (or choose another --out for a new run)")
    mc = replace(preset.model, **model_over)
    tc = replace(preset.train, **train_over)
    if not args.resume:  # absurd sizes refused before any work (the vocabulary is not known yet: a guess)
        trainer.check_training_fits(replace(mc, vocab_size=preset.bpe_vocab_size or 256), tc)

    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train.gpt_tools import preset_tokenizer  # a BPE preset's vocabulary

    if not args.resume:  # refuse before a BPE preset trains and saves its tokenizer into --out
        check_fresh_run(args.out, force=args.force)
    tokenizer = preset_tokenizer(preset, args.data, args.out, args.resume, progress=not args.no_progress)
    result = trainer.train(mc, tc, out_dir=args.out, data=args.data, resume=args.resume, force=args.force,
                           stop_after=args.stop_after, progress=not args.no_progress, tokenizer=tokenizer)
    if not result.finished:  # Ctrl-C or --stop-after: the message said how to continue; no sample
        return (exit_code_for_signal(result.signal or 2) if result.interrupted else 0)
    last = result.evals[-1] if result.evals else None
    best = Path(args.out) / "ckpt.npz"
    print()
    if last is not None:
        print(f"final (step {last['step']}): train loss {last['train_loss']:.4f}, val loss {last['val_loss']:.4f}")
    print(f"best val loss {result.best_loss:.4f}  (checkpoint: {best})")
    if args.full_eval:
        full = trainer.evaluate_full(result.model, result.task.val_ids, result.model.config.block_size)
        unit = "tokens" if hasattr(result.task.tokenizer, "merges") else "characters"
        print(f"val loss of the final model on the whole validation text ({len(result.task.val_ids):,} {unit}): "
              f"{full:.4f}")
    if result.ms_per_step == result.ms_per_step:  # not NaN: this process took steps
        print(f"time per iteration {result.ms_per_step:.1f} ms (median), peak memory {result.peak_rss_mb:.0f} MB")
    if args.sample_chars > 0 and best.exists():
        print(f"\n--- a sample from the best checkpoint ({args.sample_chars} characters, temperature 0.8) ---")
        _stream_sample(best, None, args.sample_chars, 0.8, None, 1337)
    return 0


# ---- sample --------------------------------------------------------------------------------


def _default_prompt(tok):
    """A line break (a play's next speech) if the vocabulary can say it, else its first token."""
    try:
        tok.encode("\n")  # a BPE tokenizer (bytes) always can; a character one only if the text had one
        return "\n"
    except ValueError:
        return tok.token_text(0)


def _stream_sample(path, prompt, chars, temperature, top_k, seed):
    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train.gpt import load_model

    model, tok, _ = load_model(path)
    prompt = _default_prompt(tok) if prompt is None else prompt
    ids = tok.encode(prompt)  # ValueError naming a character outside the vocabulary
    out = sys.stdout
    out.write(prompt)
    out.flush()
    from micrograd_plus.train.gpt_tools import stream_chars  # whole characters from tokens of any kind

    try:
        for piece in stream_chars(model, tok, ids, chars, temperature=temperature, top_k=top_k, generator=seed):
            out.write(piece)
            out.flush()
    except KeyboardInterrupt as exc:  # Ctrl-C (or SIGTERM/SIGHUP) while sampling: stop cleanly, keep what was printed
        out.write("\n")
        out.flush()
        print("(interrupted)", file=sys.stderr)
        raise SystemExit(exit_code_for_signal(getattr(exc, "signum", 2))) from None
    out.write("\n")
    out.flush()


def _sample(args):
    prompt = None if args.prompt is None else args.prompt.replace("\\n", "\n")
    if prompt == "":
        raise ValueError("--prompt must not be empty (use '\\n' to start a fresh line)")
    _stream_sample(args.checkpoint, prompt, args.chars, args.temperature, args.top_k, args.seed)
    return 0


# ---- pedagogy ------------------------------------------------------------------------------


def _show_char(c):
    return {"\n": "\\n", " ": "' '", "\t": "\\t"}.get(c, c)


def _next(args):
    import numpy as np  # deferred: `micrograd-plus --help` and argument errors answer before numpy loads

    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.train.gpt import load_model

    prompt = args.prompt.replace("\\n", "\n")
    if not prompt:
        raise ValueError("--prompt must not be empty: the model predicts what follows some text")
    png = _check_png(args.png, args.force, args.checkpoint)
    model, tok, _ = load_model(args.checkpoint)
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
    if png:
        from micrograd_plus.viz import pyplot, save_figure  # deferred: --help loads no drawing code

        fig, ax = pyplot().subplots(figsize=(max(8, tok.vocab_size * 0.18), 3.2))
        ax.bar(range(tok.vocab_size), probs, color="tab:blue")
        ax.set_xticks(range(tok.vocab_size), [_show_char(tok.token_text(i)) for i in range(tok.vocab_size)], fontsize=7)
        ax.set_ylabel("probability")
        ax.set_title(f"next character after {prompt[-40:]!r}")
        save_figure(fig, png, dpi=120, force=args.force)
        print(f"saved {png}")
    return 0


def _attention(args):
    import numpy as np  # deferred: `micrograd-plus --help` and argument errors answer before numpy loads

    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.data import CharTokenizer  # deferred, as above
    from micrograd_plus.train.gpt import load_model  # deferred, as above

    text = args.text.replace("\\n", "\n")
    if not text:
        raise ValueError("--text must not be empty: attention needs at least one character")
    png = _check_png(args.png, args.force, args.checkpoint)
    model, tok, _ = load_model(args.checkpoint)
    block = model.config.block_size
    if isinstance(tok, CharTokenizer) and len(text) > block:  # one token per character: say so first
        raise ValueError(f"--text has {len(text)} characters; this model sees at most {block}")
    ids = tok.encode(text)  # (T,): one id per character, or per word piece for a BPE model
    if len(ids) > block:
        raise ValueError(f"--text is {len(ids)} tokens; this model sees at most {block}")
    maps = model.attention_maps(ids)  # (L, H, T, T)
    L, H, T, _ = maps.shape
    labels = [_show_char(tok.token_text(int(i))) for i in ids]
    print(f"where the last token {labels[-1]!r} looks, per head (top 3 positions):")
    for layer in range(L):
        for h in range(H):
            row = maps[layer, h, -1]  # (T,)
            top = np.argsort(-row)[:3]
            desc = ", ".join(f"{labels[s]!r}@{s} {row[s]:.2f}" for s in top)
            print(f"  layer {layer} head {h}: {desc}")
    from micrograd_plus.viz import pyplot, save_figure  # deferred: --help loads no drawing code

    size = max(2.0, 0.12 * T + 1.0)
    fig, axes = pyplot().subplots(L, H, figsize=(H * size, L * size), squeeze=False)
    for layer in range(L):
        for h in range(H):
            ax = axes[layer, h]
            ax.imshow(maps[layer, h], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {layer}, head {h}", fontsize=8)
            ax.set_xticks(range(T), labels, fontsize=5)
            ax.set_yticks(range(T), labels, fontsize=5)
    fig.suptitle("attention: row = position attending, column = position attended to")
    save_figure(fig, png, dpi=110, force=args.force)
    print(f"saved {png}")
    return 0


def _check_png(png, force, checkpoint=None):
    """``--png`` checked before any work: None, or the path that may be written
    (:func:`micrograd_plus._plumbing.outputs.check_picture`; never over the checkpoint read)."""
    if png is None:
        return None
    from micrograd_plus._plumbing.outputs import check_picture  # deferred, light

    return check_picture(png, force, "--png", inputs=[checkpoint])


def _weights(args):
    # deferred: the command list and --help load no numba, model or training code
    from micrograd_plus.models.gpt import GPT3_CONFIG, weight_table

    if args.checkpoint:
        # deferred: the command list and --help load no numba, model or training code
        from micrograd_plus.train.gpt import read_run_state

        config, name = read_run_state(args.checkpoint)[3], args.checkpoint
    elif args.preset == "gpt3":
        config, name = GPT3_CONFIG, "GPT-3 (175B)"
    else:
        # deferred: the command list and --help load no numba, model or training code
        config, name = replace(GPT_PRESETS[args.preset].model, vocab_size=65), f"preset {args.preset} (vocabulary 65)"
    print(f"weights of {name}: {config}")
    print()
    print(weight_table(config))
    return 0


#: The ``gpt`` actions of this module: name on the command line -> the function that runs it. A new
#: action is one entry here plus its ``sub.add_parser`` block in :func:`add_arguments` (or, like
#: export / neighbours / bpe, a module of its own registered in both places).
ACTIONS = {"train": _train, "sample": _sample, "next": _next, "attention": _attention, "weights": _weights}
