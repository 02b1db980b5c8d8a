"""CPU speed of the chapter "Smaller and faster" models: sentences per second.

The teacher's architecture (the profile's encoder with a mean-pooled head,
6 blocks in ``lite``), the layer-cut students of ``tlbook.distill.STUDENTS``,
each in float32 and with int8 linear layers (``tlbook.distill.quantize``),
measured side by side in one process on the same test sentences, at batch
size 1 and 32 (each batch padded to its longest sentence). Speed depends on
the architecture, not on the trained weights, so the pretrained weights with
a new head stand in for the trained ones. The rounds are interleaved (every
model once, then every model again) and each model keeps its best round, so
that a burst of other load on the machine hits all models alike.

    python benchmarks/distill_speed.py [--sentences 256] [--rounds 3] [--threads 2]

Prints a table and writes benchmarks/results/distill_speed.json.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

from _common import load_average, write_result

BATCH_SIZES = (1, 32)


def measure(sentences: int, rounds: int, threads: int) -> dict:
    import torch

    import tlbook
    from tlbook.distill import (STUDENTS, cut_layers, parameter_count, quantize,
                                sentences_per_second, size_on_disk)
    from tlbook.models import load_encoder
    from tlbook.strategies import splits

    rt = tlbook.setup(seed=0, threads=threads, verbose=False)
    teacher, tok = load_encoder(num_labels=2, pooling="mean")
    texts = list(splits()[2]["text"][:sentences])
    models = {"teacher (6 layers)": teacher}
    models.update({f"student ({name})": cut_layers(teacher, keep)
                   for name, keep in STUDENTS.items()})
    variants = {}
    for name, model in models.items():
        variants[f"{name}, float32"] = (model, parameter_count(model))
        variants[f"{name}, int8"] = (quantize(model), parameter_count(model))
    best = {name: dict.fromkeys(BATCH_SIZES, 0.0) for name in variants}
    load_before = load_average()
    for _ in range(rounds):
        for name, (model, _) in variants.items():
            for b in BATCH_SIZES:
                best[name][b] = max(best[name][b],
                                    sentences_per_second(model, tok, texts, batch_size=b))
    rows = [{"model": name, "parameters": n, "bytes": size_on_disk(model),
             **{f"sentences/s at batch {b}": round(best[name][b], 1) for b in BATCH_SIZES}}
            for name, (model, n) in variants.items()]
    return {"benchmark": "distill_speed", "sentences": len(texts), "rounds": rounds,
            "threads": threads, "torch": torch.__version__,
            "quantized_engine": torch.backends.quantized.engine,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(load_average(), 2), "device": rt.device,
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                              / "distill_speed.json"))
    args = parser.parse_args()
    result = measure(args.sentences, args.rounds, args.threads)
    width = max(len(r["model"]) for r in result["rows"])
    print(f"{'model':<{width}}  {'params':>11}  {'MB':>6}  {'batch 1':>8}  {'batch 32':>8}")
    for r in result["rows"]:
        print(f"{r['model']:<{width}}  {r['parameters']:>11,}  {r['bytes'] / 1e6:>6.1f}  "
              f"{r['sentences/s at batch 1']:>8.1f}  {r['sentences/s at batch 32']:>8.1f}")
    write_result(result, args.out)


if __name__ == "__main__":
    main()
