"""Our fine-tuning loop against transformers.Trainer on the same job.

Same model (the profile's encoder), data (movie-sentiment sentences), batch
size, learning rate, schedule, weight decay and epochs. Each run happens in a
fresh subprocess so that peak memory (max resident set size on a CPU,
``torch.cuda.max_memory_allocated`` on a GPU) belongs to that run alone.

    python benchmarks/finetune_vs_trainer.py [--train 1000] [--threads 2]

Prints a table and writes benchmarks/results/finetune_vs_trainer.json.
Goal: at least 1.2x Trainer's throughput at equal accuracy, at a budget where
both have learned the task: three epochs at 1e-4 (chapter "BERT
fine-tuning"'s lite rate), a validation accuracy of at least 0.75. "Equal"
is judged on the validation sentences both runs label: ours must not be worse
than Trainer beyond a paired bootstrap 95% interval (tlbook.stats), since two
runs that differ only in data order already differ by about a point.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

LR, BATCH, EPOCHS, WARMUP, DECAY, SEED = 1e-4, 16, 3, 0.1, 0.01, 0
LEARNED = 0.75  # validation accuracy both runs must reach for the comparison to count


def _data(n_train: int):
    from tlbook.data import load_movie_sentiment

    ds = load_movie_sentiment()
    train, val = ds["train"].select(range(n_train)), ds["validation"]
    return train["text"], train["label"], val["text"], val["label"]


def _peak_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(n_train: int) -> dict:
    import numpy as np

    from tlbook.finetune import FineTuneConfig, fine_tune, predict
    from tlbook.models import load_encoder

    x, y, vx, vy = _data(n_train)
    model, tok = load_encoder(num_labels=2)
    cfg = FineTuneConfig(lr=LR, epochs=EPOCHS, batch_size=BATCH, warmup_ratio=WARMUP,
                         weight_decay=DECAY, seed=SEED, progress=False)
    hist = fine_tune(model, tok, x, y, config=cfg)
    labels, _ = predict(model, tok, vx)
    correct = labels == np.asarray(vy)
    return {"seconds": hist.seconds, "examples_per_second": len(x) * EPOCHS / hist.seconds,
            "val_accuracy": float(correct.mean()), "correct": correct.astype(int).tolist()}


def run_trainer(n_train: int, tmp: str) -> dict:
    import datasets
    import numpy as np
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tlbook.models import load_encoder

    x, y, vx, vy = _data(n_train)
    model, tok = load_encoder(num_labels=2)
    enc = lambda b: tok(b["text"], truncation=True, max_length=128)  # noqa: E731
    train = datasets.Dataset.from_dict({"text": x, "label": y}).map(enc, batched=True,
                                                                     remove_columns=["text"])
    val = datasets.Dataset.from_dict({"text": vx, "label": vy}).map(enc, batched=True,
                                                                     remove_columns=["text"])
    args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=BATCH,
                             per_device_eval_batch_size=2 * BATCH, learning_rate=LR,
                             num_train_epochs=EPOCHS, warmup_steps=WARMUP, weight_decay=DECAY,
                             lr_scheduler_type="linear", seed=SEED, save_strategy="no",
                             eval_strategy="no", report_to="none", disable_tqdm=True,
                             logging_strategy="no", max_grad_norm=1.0)
    trainer = Trainer(model=model, args=args, train_dataset=train,
                      data_collator=DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    correct = trainer.predict(val).predictions.argmax(-1) == np.asarray(vy)
    return {"seconds": seconds, "examples_per_second": len(x) * EPOCHS / seconds,
            "val_accuracy": float(correct.mean()), "correct": correct.astype(int).tolist()}


def child(which: str, n_train: int, threads: int) -> None:
    import tempfile

    import tlbook

    tlbook.setup(seed=SEED, threads=threads, verbose=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = run_ours(n_train) if which == "ours" else run_trainer(n_train, tmp)
    out["peak_memory_mb"] = _peak_mb()
    print("RESULT " + json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000, help="training sentences")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["ours", "trainer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.train, args.threads)
        return
    import os

    load_before = os.getloadavg()[0]
    results = {}
    for which in ("trainer", "ours"):
        proc = subprocess.run([sys.executable, __file__, "--child", which, "--train",
                               str(args.train), "--threads", str(args.threads)],
                              capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        results[which] = json.loads(line[len("RESULT "):])
    speedup = results["ours"]["examples_per_second"] / results["trainer"]["examples_per_second"]
    from tlbook.stats import paired_bootstrap

    diff = paired_bootstrap(results["ours"].pop("correct"), results["trainer"].pop("correct"))
    print(f"{'':<8} {'examples/s':>10} {'seconds':>8} {'peak MB':>8} {'val acc':>8}")
    for which, r in results.items():
        print(f"{which:<8} {r['examples_per_second']:>10.1f} {r['seconds']:>8.1f} "
              f"{r['peak_memory_mb']:>8.0f} {r['val_accuracy']:>8.3f}")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    learned = min(r["val_accuracy"] for r in results.values())
    print(f"throughput ratio ours/Trainer: {speedup:.2f}x (goal >= 1.2x); "
          f"accuracy ours - Trainer {diff.format(show_p=False)} (goal: the interval reaches "
          f"0 or above); lower validation accuracy {learned:.3f} (goal >= {LEARNED})")
    import torch

    record = {"benchmark": "finetune_vs_trainer", "train_examples": args.train,
              "threads": args.threads, "batch_size": BATCH, "lr": LR, "epochs": EPOCHS,
              "device": "cuda" if torch.cuda.is_available() else "cpu", "results": results,
              "throughput_ratio": speedup,
              "accuracy_difference": {"ours_minus_trainer": diff.diff, "low": diff.low,
                                      "high": diff.high, "level": diff.level,
                                      "method": diff.method, "items": diff.n},
              "goal_met": bool(speedup >= 1.2 and diff.high >= 0 and learned >= LEARNED),
              "load_average_before": round(load_before, 2),
              "load_average_after": round(os.getloadavg()[0], 2)}
    out = Path(__file__).parent / "results" / "finetune_vs_trainer.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
