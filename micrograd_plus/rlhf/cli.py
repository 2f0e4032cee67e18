"""``micrograd-plus gpt pairs | reward | rl | dpo``: RLHF's stages on a checkpoint from ``gpt train``.

  micrograd-plus gpt pairs                 pairs of samples, labelled by the rater (runs/pairs.jsonl)
  micrograd-plus gpt pairs --interactive   ... labelled by you, at the terminal
  micrograd-plus gpt reward                a reward model learns the pairs (runs/reward)
  micrograd-plus gpt rl                    REINFORCE against the reward model, KL-penalised (runs/rl)
  micrograd-plus gpt dpo                   DPO on the same pairs, no reward model (runs/dpo)
  micrograd-plus gpt sample -c runs/rl/ckpt.npz     what the tuned model writes

Each trains with the shared loop: ``--resume`` continues a stopped run exactly, ``--force``
replaces one, Ctrl-C saves and exits 130. A run never replaces files it did not write unless
``--force`` is given. Exit codes: 0 done, 2 bad input (one line naming it), 3 diverged, 130 Ctrl-C.

Flags are defined here without loading the model code (``--help`` stays instant); the work is
in :mod:`micrograd_plus.rlhf.pairs`, :mod:`~micrograd_plus.rlhf.reward` and :mod:`~micrograd_plus.rlhf.policy`.
"""

import argparse
from dataclasses import fields, replace
from pathlib import Path

from micrograd_plus._plumbing.cli_args import (add_config_flags, add_renamed_flags, add_run_arguments, config_overrides,
                                              nonneg_float, nonneg_int, positive_int)
from micrograd_plus.train.config import PolicyConfig, RewardConfig
from micrograd_plus.train.errors import ConfigError, exit_code_for_signal

COMMANDS = ("pairs", "reward", "rl", "dpo")
_CKPT = "runs/gpt/ckpt.npz"
_PAIRS = "runs/pairs.jsonl"
_REWARD = "runs/reward/ckpt.npz"


def _common(p, length=True):
    p.add_argument("--checkpoint", "-c", default=_CKPT, help="the pretrained GPT, written by 'gpt train' (default: %(default)s)")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="the text the GPT was trained on, if not Tiny Shakespeare (default: the checkpoint's)")
    if length:
        p.add_argument("--length", type=positive_int, default=None, help="tokens per completion (default 24)")


#: PolicyConfig's fields that only one of the two policy methods reads: the other takes no flag for them.
RL_ONLY = ("kl_coef", "samples_per_prompt")
DPO_ONLY = ("dpo_beta", "holdout_every")
#: Flags spelled differently before each setting got one name: a one-line error naming the new one.
RENAMED_FLAGS = {"--lr": "--learning-rate"}


def _policy_flags(p, skip):
    """One flag per :class:`~micrograd_plus.train.config.PolicyConfig` field but those in ``skip``."""
    g = p.add_argument_group("training (on --resume: the saved run's)")
    add_config_flags(g, PolicyConfig, only=[f.name for f in fields(PolicyConfig) if f.name not in skip])
    add_renamed_flags(p, RENAMED_FLAGS)


def add_arguments(sub, fmt):
    """Add the four RLHF actions to the ``gpt`` subparsers ``sub``.

    Their training flags default to None ("not given"), so that --resume can tell a flag that
    differs from the saved run; their help states the real default, so ``fmt`` is not used.
    """
    fmt = argparse.HelpFormatter
    p = sub.add_parser("pairs", formatter_class=fmt,
                       help="RLHF 1: pairs of the model's samples, labelled by a rater (or by you: --interactive)")
    _common(p)
    p.add_argument("--out", default=_PAIRS, help="the pairs file to write (JSON Lines) (default: %(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="keep the pairs in --out and add the rest")
    mode.add_argument("--force", action="store_true", help="replace --out if it exists")
    # --n-pairs, not --pairs: in 'gpt reward' and 'gpt dpo', --pairs names the pairs file
    p.add_argument("--n-pairs", "-n", type=positive_int, default=1024, help="pairs in the file at the end (default: %(default)s)")
    p.add_argument("--beta", type=nonneg_float, default=2.0,
                   help="the rater's decisiveness: P(a preferred) = sigmoid(beta (score a - score b)) (default: %(default)s)")
    p.add_argument("--seed", type=nonneg_int, default=0, help="same seed, same pairs and labels (default: %(default)s)")
    p.add_argument("--interactive", action="store_true", help="you judge each pair at the terminal")
    add_renamed_flags(p, {"--pairs": "--n-pairs"})

    p = sub.add_parser("reward", formatter_class=fmt,
                       help="RLHF 2: train a reward model (the GPT's body + a scalar head) on the pairs")
    _common(p, length=False)
    p.add_argument("--pairs", default=_PAIRS, help="the pairs file written by 'gpt pairs' (default: %(default)s)")
    add_run_arguments(p, "runs/reward")
    add_config_flags(p.add_argument_group("training (on --resume: the saved run's)"), RewardConfig)
    add_renamed_flags(p, RENAMED_FLAGS)

    p = sub.add_parser("rl", formatter_class=fmt,
                       help="RLHF 3: REINFORCE against the reward model with a per-token KL penalty")
    _common(p, length=False)  # (--length is PolicyConfig's)
    p.add_argument("--reward", default=_REWARD, help="the reward model, written by 'gpt reward' (default: %(default)s)")
    add_run_arguments(p, "runs/rl")
    _policy_flags(p, skip=DPO_ONLY)

    p = sub.add_parser("dpo", formatter_class=fmt,
                       help="RLHF 3 without a reward model: Direct Preference Optimisation on the pairs")
    _common(p, length=False)  # (--length is PolicyConfig's)
    p.add_argument("--pairs", default=_PAIRS, help="the pairs file written by 'gpt pairs' (default: %(default)s)")
    p.add_argument("--reward", default=None, help="optional: a reward model, only to report its score")
    add_run_arguments(p, "runs/dpo")
    _policy_flags(p, skip=RL_ONLY)


def _config(cls, defaults, over, args, run_kind):
    """A config of ``cls``: the defaults with the flags' overrides; on --resume the saved one, and a
    flag that differs from it is an error (a resumed run continues exactly)."""
    if not args.resume:
        if "max_iters" in over:  # a short run warms up for a tenth of its steps (at most the default's)
            over.setdefault("warmup_iters", min(defaults.warmup_iters, over["max_iters"] // 10))
        return replace(defaults, **over)
    last = Path(args.out) / "last.npz"
    if over and last.is_file():
        # deferred: --help and argument errors load no model or training code
        from micrograd_plus.rlhf.reward import saved_config

        saved = saved_config(last.parent, *run_kind)
        saved = saved.get("config", saved)
        differ = [k for k, v in over.items() if saved.get(k) != v]
        if differ:
            raise ConfigError(f"--resume continues the saved run exactly, but {', '.join(differ)} differ(s) from "
                              f"{last}; drop those options (or choose another --out for a new run)")
    return None


def run(args):
    """Run the RLHF action ``args.gpt_command``; returns the exit code."""
    result = {"pairs": _pairs, "reward": _reward, "rl": _rl, "dpo": _dpo}[args.gpt_command](args)
    if result is None:
        return 0
    if not result.finished:
        return exit_code_for_signal(result.signal or 2) if result.interrupted else 0  # 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
    return 0


def _pairs(args):
    # deferred: --help and argument errors load no model or training code
    from micrograd_plus.rlhf.pairs import label_interactively, make_pairs
    from micrograd_plus.rlhf.policy import load_setting
    from micrograd_plus.rlhf.rater import Rater

    length = args.length or 24
    setting = load_setting(args.checkpoint, length, args.data)
    rater = Rater.from_text(setting.text, beta=args.beta)
    if args.interactive:
        label_interactively(setting.ref, setting.tokenizer, setting.train_prompts, args.n_pairs, args.out, length,
                            args.seed, resume=args.resume, force=args.force, rater=rater)
    else:
        pairs = make_pairs(setting.ref, setting.tokenizer, setting.train_prompts, args.n_pairs, args.out, rater,
                           length, args.seed, resume=args.resume, force=args.force)
        # deferred: --help and argument errors load no model or training code
        from micrograd_plus.rlhf.rater import ceiling

        c = ceiling(pairs)
        print(f"the rater agrees with itself on {c['self_agreement']:.1%} of pairs; a perfect reward model "
              f"would match {c['best_accuracy']:.1%} of its labels")
    return None


def _reward(args):
    # deferred: --help and argument errors load no model or training code
    from micrograd_plus.rlhf.reward import RewardTask, train_reward

    config = _config(RewardConfig, RewardConfig(), config_overrides(args, RewardConfig), args, (RewardTask,))
    result = train_reward(args.checkpoint, args.pairs, args.out, config, resume=args.resume, force=args.force,
                          stop_after=args.stop_after, progress=not args.no_progress)
    if result.finished and result.evals:
        best = min(result.evals, key=lambda r: r["val_loss"])
        print(f"held-out pair accuracy {best['val_accuracy']:.1%} at step {best['step']} (ckpt.npz); the rater "
              f"agrees with itself on {best['rater_self_agreement']:.1%}, and its noiseless score would match "
              f"{best['rater_best_accuracy']:.1%} of its labels")
    return result


def _policy_config(args):
    # deferred: --help and argument errors load no model or training code
    from micrograd_plus.rlhf.policy import PolicyTask

    return _config(PolicyConfig, PolicyConfig(), config_overrides(args, PolicyConfig), args, (PolicyTask, "rlhf"))


def _report(result):
    if result.finished and len(result.evals) >= 2:
        a, b = result.evals[0], result.evals[-1]
        for key in ("rater", "reward", "kl", "val_loss"):
            if key in a:
                print(f"{key:>9}: {a[key]:8.3f} before -> {b[key]:8.3f} after")
    return result


def _rl(args):
    # deferred: --help and argument errors load no model or training code
    from micrograd_plus.rlhf.policy import train_rl

    return _report(train_rl(args.checkpoint, args.reward, args.out, _policy_config(args), resume=args.resume,
                            force=args.force, stop_after=args.stop_after, progress=not args.no_progress,
                            data=args.data))


def _dpo(args):
    # deferred: --help and argument errors load no model or training code
    from micrograd_plus.rlhf.policy import train_dpo

    return _report(train_dpo(args.checkpoint, args.pairs, args.out, _policy_config(args), reward=args.reward,
                             resume=args.resume, force=args.force, stop_after=args.stop_after,
                             progress=not args.no_progress, data=args.data))

