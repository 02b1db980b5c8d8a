"""tlbook's skip-gram (torch) against gensim's Word2Vec on the Brown Corpus.

Both train skip-gram with negative sampling on the same lower-cased Brown
sentences with the same hyperparameters (dim, window, negative, min_count,
sample, epochs) and the same number of CPU threads: ``workers`` for both,
lock-free ("Hogwild") threads that each run SGD on their own batches. Reported: wall time of the whole fit (vocabulary
included), words per second (corpus tokens x epochs / wall time), CPU time,
and the WordSim-353 / SimLex-999 Spearman correlations and analogy accuracy
of the result. Each model is trained ``--repeats`` times, alternating, and
the median wall time is kept; the machine's load average is recorded,
because other processes on a shared machine slow both down.

    python benchmarks/word2vec_vs_gensim.py             # dim 100, 5 epochs, 2 threads
    python benchmarks/word2vec_vs_gensim.py --dim 50 --repeats 3

Writes ``benchmarks/results/word2vec_vs_gensim.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import gensim
import numpy as np
import torch

from tlbook import data
from tlbook.word2vec import SkipGram, evaluate_analogies, evaluate_similarity, gensim_skipgram

RESULTS = Path(__file__).parent / "results" / "word2vec_vs_gensim.json"


def scores(kv) -> dict:
    sim = evaluate_similarity(kv)
    ana = evaluate_analogies(kv, restrict_vocab=30000)
    return {"wordsim353": round(sim["wordsim353"]["spearman"], 4),
            "simlex999": round(sim["simlex999"]["spearman"], 4),
            "analogy_accuracy": round(ana["accuracy"], 4),
            "analogy_coverage": round(ana["coverage"], 4)}


def fit_gensim(sentences, args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    model = gensim_skipgram(sentences, dim=args.dim, window=args.window, negative=args.negative,
                            min_count=args.min_count, subsample=args.sample,
                            epochs=args.epochs, workers=args.threads, seed=0)
    return time.perf_counter() - wall, time.process_time() - cpu, model.wv


def fit_ours(sentences, args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    model = SkipGram(dim=args.dim, window=args.window, negative=args.negative,
                     min_count=args.min_count, subsample=args.sample, epochs=args.epochs,
                     batch_size=args.batch_size, workers=args.threads, seed=0,
                     device="cpu").fit(sentences)
    return time.perf_counter() - wall, time.process_time() - cpu, model.wv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sentences = [[w.lower() for w in s.words] for s in data.brown_sentences()]
    tokens = sum(len(s) for s in sentences)
    load_before = os.getloadavg()[0]
    runs = {"gensim": [], "tlbook": []}
    last = {}
    for _ in range(args.repeats):
        for name, fit in (("gensim", fit_gensim), ("tlbook", fit_ours)):
            wall, cpu, kv = fit(sentences, args)
            runs[name].append((wall, cpu))
            last[name] = kv
            print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    load_after = os.getloadavg()[0]

    results = {}
    for name, times in runs.items():
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        results[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "all_wall_s": [round(t[0], 2) for t in times],
                         "words_per_s": round(tokens * args.epochs / wall),
                         **scores(last[name])}
    ratio = results["tlbook"]["wall_s"] / results["gensim"]["wall_s"]

    print(f"\nBrown, lower-cased: {len(sentences):,} sentences, {tokens:,} tokens; "
          f"dim={args.dim} window={args.window} negative={args.negative} "
          f"min_count={args.min_count} sample={args.sample} epochs={args.epochs} "
          f"threads={args.threads}")
    header = f"{'':8} {'wall s':>7} {'CPU s':>7} {'words/s':>9} {'WS-353':>7} {'SL-999':>7} {'analogy':>8}"
    print(header)
    for name, r in results.items():
        print(f"{name:8} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['words_per_s']:9,d} "
              f"{r['wordsim353']:7.3f} {r['simlex999']:7.3f} {r['analogy_accuracy']:8.3f}")
    print(f"tlbook / gensim wall time: {ratio:.2f}x "
          f"(load average {load_before:.1f} before, {load_after:.1f} after)")

    report = {
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "corpus": {"sentences": len(sentences), "tokens": tokens},
        "results": results,
        "wall_ratio_tlbook_over_gensim": round(ratio, 3),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_before": round(load_before, 2),
                    "load_average_after": round(load_after, 2)},
        "versions": {"torch": torch.__version__, "gensim": gensim.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
