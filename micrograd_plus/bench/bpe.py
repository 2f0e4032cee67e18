"""BPE on Tiny Shakespeare: training and encoding time, and bytes per token, ours next to Hugging Face's.

For each vocabulary size: :meth:`micrograd_plus.data.BPETokenizer.train` on the whole text
(1,115,394 bytes), then ``encode`` of the whole text twice (cold: every distinct chunk tokenized;
warm: from the chunk cache), and the same with the ``tokenizers`` library (ByteLevel
pre-tokenizer without the extra leading space, all 256 bytes in the alphabet) when it is
installed. Times are medians of ``--repeats`` runs; bytes per token = 1,115,394 / tokens.
The two vocabularies are also compared token by token.

Usage::

    python -m micrograd_plus.bench.bpe                        # 1,024 and 4,096 tokens
    python -m micrograd_plus.bench.bpe --sizes 512 2048 --repeats 5
"""

import argparse
import statistics
import tempfile
import time

from micrograd_plus.data import BPETokenizer, load_shakespeare


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    text = load_shakespeare()
    n_bytes = len(text.encode("utf-8"))
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    except ImportError:
        Tokenizer = None
        print("(tokenizers is not installed: only our figures)")
    print(f"Tiny Shakespeare, {n_bytes:,} bytes; medians of {args.repeats} runs")
    print(f"{'vocab':>6}  {'who':<10} {'train s':>8} {'encode s (cold/warm)':>21} {'tokens':>9} {'bytes/token':>11}")
    for V in args.sizes:
        t_train, tok = _median_time(lambda: BPETokenizer.train(text, V, progress=False), args.repeats)

        def cold():
            tok._cache.clear()
            return tok.encode(text)

        t_cold, ids = _median_time(cold, args.repeats)
        t_warm, _ = _median_time(lambda: tok.encode(text), args.repeats)
        assert tok.decode(ids) == text
        print(f"{V:>6}  {'ours':<10} {t_train:>8.2f} {t_cold:>12.2f} / {t_warm:<6.2f} {len(ids):>9,} "
              f"{n_bytes / len(ids):>11.3f}")
        if Tokenizer is None:
            continue

        def hf_train():
            hf = Tokenizer(models.BPE())
            hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            trainer = trainers.BpeTrainer(vocab_size=V, show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
            hf.train_from_iterator([text], trainer)
            return hf

        t_hf, hf = _median_time(hf_train, args.repeats)
        t_hf_enc, enc = _median_time(lambda: hf.encode(text).ids, args.repeats)
        with tempfile.TemporaryDirectory() as d:
            theirs = BPETokenizer.from_gpt2_files(*hf.model.save(d))
        same = theirs.vocab == tok.vocab and theirs.merges == tok.merges
        print(f"{V:>6}  {'tokenizers':<10} {t_hf:>8.2f} {t_hf_enc:>12.2f} / {'':<6} {len(enc):>9,} "
              f"{n_bytes / len(enc):>11.3f}   same vocabulary and merges: {same}; same ids: {enc == ids.tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
