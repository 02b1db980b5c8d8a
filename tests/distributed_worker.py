"""One fine-tuning run of tlbook's loop, started by tests/test_distributed.py.

Run it with one process (``python tests/distributed_worker.py OUT ...``) or
under ``accelerate launch --num_processes 2 --cpu``; every process runs the
same script and the main process writes, to the folder ``OUT``:

- ``results.json``: the history of :func:`tlbook.finetune.fine_tune`, and what
  :func:`tlbook.finetune.evaluate` reports on sets whose size the number of
  processes does not divide (sequence and token classification), with what
  the plain single-process :func:`tlbook.finetune.predict` says on the same
  examples;
- ``weights-rank{r}.safetensors`` (every process): the final weights.

Dropout is off, so that two processes drawing masks for two half batches make
the same update as one process with the whole batch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import save_file

from tlbook import token_classification as tc
from tlbook.data import load_movie_sentiment
from tlbook.finetune import FineTuneConfig, evaluate, fine_tune, make_loader, predict
from tlbook.models import load_encoder

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def _plain(result: dict) -> dict:
    """An :func:`evaluate` result without its reports, as JSON-ready floats."""
    return {k: float(v) for k, v in result.items() if k not in ("report", "span_report")}


def _supports(report: dict) -> dict:
    """Examples (or labelled positions) counted per class in a classification report."""
    return {k: int(v["support"]) for k, v in report.items() if isinstance(v, dict)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--n-train", type=int, default=48)
    parser.add_argument("--n-val", type=int, default=21)
    parser.add_argument("--n-sentences", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)

    ds = load_movie_sentiment("lite")
    train = ds["train"].select(range(args.n_train))
    val = ds["validation"].select(range(args.n_val))
    torch.manual_seed(0)
    model, tok = load_encoder("lite", num_labels=2, **NO_DROPOUT)
    # warm-up of 1/3 of the steps: a whole number of optimizer steps for 1 and
    # for 2 processes (the scheduler steps once per process and optimizer step)
    cfg = FineTuneConfig(lr=1e-4, epochs=2, batch_size=args.batch_size, warmup_ratio=1 / 3,
                         progress=False, seed=0)
    history = fine_tune(model, tok, train["text"], train["label"], val["text"], val["label"],
                        config=cfg)

    accelerator = Accelerator()
    rank = accelerator.process_index
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              args.out / f"weights-rank{rank}.safetensors")

    # the same validation set once more, by evaluate under the accelerator and
    # by predict on one process
    loader = accelerator.prepare(make_loader(val["text"], tok, val["label"], batch_size=4))
    sequence = evaluate(model, loader, accelerator)
    pred, _ = predict(model, tok, val["text"])
    plain_accuracy = float(np.mean(pred == np.asarray(val["label"])))

    # token classification: sentences of different lengths on each process
    names = tc.load_names("lite")["validation"].select(range(args.n_sentences))
    torch.manual_seed(0)
    tagger, tagger_tok = tc.load_token_classifier(tc.NAME_LABELS, profile="lite")
    token_loader = accelerator.prepare(make_loader(names["tokens"], tagger_tok,
                                                   names["ner_tags"], batch_size=2))
    token = evaluate(tagger, token_loader, accelerator)
    gold = [[tc.NAME_LABELS[i] for i in s] for s in names["ner_tags"]]
    predicted = tc.predict_words(tagger, tagger_tok, names["tokens"])
    flat_gold = [x for s in gold for x in s]
    flat_pred = [x for s in predicted for x in s]

    if accelerator.is_main_process:
        results = {
            "num_processes": accelerator.num_processes,
            "train_loss": history.train_loss,
            "evals": history.evals,
            "best_step": history.best_step,
            "sequence": _plain(sequence) | {"support": _supports(sequence["report"])},
            "sequence_plain": {"accuracy": plain_accuracy,
                               "support": {str(c): int(n) for c, n in
                                           zip(*np.unique(val["label"], return_counts=True))}},
            "token": _plain(token) | {"support": _supports(token["report"])},
            "token_plain": {
                "accuracy": float(np.mean([g == p for g, p in zip(flat_gold, flat_pred)])),
                "span_f1": float(tc.span_scores(gold, predicted)["f1"]),
                "words": len(flat_gold)},
        }
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main()
