"""What prompting the chat model costs on a CPU: seconds per 100 test sentences.

The movie question of ``tlbook.prompting.icl_cell`` is asked about the first
test sentences zero-shot and after k = 1, 2, 4 and 8 demonstrations (one
balanced draw, seed 0), scored by ``label_logprobs`` two ways: every prompt
run in full, and with the prefix all prompts share (system turn and
demonstrations) run once and its KV cache reused (``shared_prefix=True``).
The full prompts of a long prompt are slow, so that path runs on fewer
sentences and is scaled to 100; both paths score the same sentences first,
and the largest difference between their scores is recorded. Last, the
seconds per LoRA step of the causal LM with a classification head
(``tlbook.prompting.train_lm_classifier``'s set-up: r = 8 on q and v, batch
16, training sentences of up to 64 tokens) and its seconds to classify 100
sentences.

    python benchmarks/prompting_speed.py [--sentences 100] [--full-sentences 32] [--threads 2]

Prints a table and writes benchmarks/results/prompting_speed.json.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from _common import load_average, write_result

SHOTS = (0, 1, 2, 4, 8)


def _seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(sentences: int, full_sentences: int, threads: int, lora_steps: int) -> dict:
    import numpy as np
    import torch

    import tlbook
    from tlbook.data import first_rows, load_movie_sentiment
    from tlbook.finetune import make_loader, predict
    from tlbook.lora import add_lora, fit
    from tlbook.models import load_causal_lm
    from tlbook.profiles import get_profile
    from tlbook.prompting import (MOVIE_ANSWER_PREFIX, MOVIE_INSTRUCTION, MOVIE_LABEL_WORDS,
                                  draw_demonstrations, few_shot_prompts, label_logprobs,
                                  load_causal_lm_classifier)

    rt = tlbook.setup(seed=0, threads=threads, verbose=False)
    ds = load_movie_sentiment()
    pool = ds["train"].select(range(get_profile().sizes["pool_size"]))
    texts = list(first_rows(ds["test"], sentences)["text"])
    model, tok = load_causal_lm()
    load_before = load_average()
    rows = []
    for k in SHOTS:
        shown = draw_demonstrations(pool["text"], pool["label"], k, seed=0)
        prompts = few_shot_prompts(tok, texts, MOVIE_INSTRUCTION, MOVIE_ANSWER_PREFIX, shown,
                                   MOVIE_LABEL_WORDS)
        cached_s, cached = _seconds(lambda: label_logprobs(
            model, tok, prompts, MOVIE_LABEL_WORDS, shared_prefix=True))
        full_s, full = _seconds(lambda: label_logprobs(
            model, tok, prompts[:full_sentences], MOVIE_LABEL_WORDS))
        lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        rows.append({"k": k, "mean prompt tokens": round(float(np.mean(lengths)), 1),
                     "full prompts, s per 100": round(100 * full_s / full_sentences, 2),
                     "shared prefix, s per 100": round(100 * cached_s / len(prompts), 2),
                     "speed-up": round((full_s / full_sentences) / (cached_s / len(prompts)), 2),
                     "largest score difference": float(np.abs(cached[:full_sentences]
                                                              - full).max())})
    shown = draw_demonstrations(pool["text"], pool["label"], 8, seed=0)
    prompts = few_shot_prompts(tok, texts, MOVIE_INSTRUCTION, MOVIE_ANSWER_PREFIX, shown,
                               MOVIE_LABEL_WORDS)
    batch32_s, _ = _seconds(lambda: label_logprobs(model, tok, prompts, MOVIE_LABEL_WORDS,
                                                   batch_size=32, shared_prefix=True))

    train = first_rows(ds["train"], 16 * lora_steps)
    classifier, ctok = load_causal_lm_classifier(seed=0)
    adapted = len(add_lora(classifier, ("q_proj", "v_proj"), r=8, train_also=("score",)))
    loader = make_loader(list(train["text"]), ctok, list(train["label"]), 16, 64,
                         shuffle_seed=0)
    train_s, _ = _seconds(lambda: fit(classifier, loader, lr=1e-3, seed=0, progress=False))
    predict_s, _ = _seconds(lambda: predict(classifier, ctok, texts, max_length=64))
    return {"benchmark": "prompting_speed", "sentences": len(texts),
            "full-prompt sentences": full_sentences, "threads": threads,
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "load_average_before": round(load_before, 2),
            "load_average_after": round(load_average(), 2), "device": rt.device,
            "rows": rows,
            "k = 8, shared prefix, batch 32, s per 100": round(100 * batch32_s / len(texts), 2),
            "LoRA classifier": {"steps": len(loader), "batch size": 16, "max length": 64,
                                "adapted layers": adapted,
                                "s per step": round(train_s / len(loader), 2),
                                "s to classify 100": round(100 * predict_s / len(texts), 2)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--full-sentences", type=int, default=32)
    parser.add_argument("--lora-steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                              / "prompting_speed.json"))
    args = parser.parse_args()
    result = measure(args.sentences, args.full_sentences, args.threads, args.lora_steps)
    print(f"{'k':>2}  {'tokens':>6}  {'full s/100':>10}  {'cached s/100':>12}  "
          f"{'speed-up':>8}  {'max diff':>8}")
    for r in result["rows"]:
        print(f"{r['k']:>2}  {r['mean prompt tokens']:>6.0f}  "
              f"{r['full prompts, s per 100']:>10.1f}  {r['shared prefix, s per 100']:>12.1f}  "
              f"{r['speed-up']:>8.1f}  {r['largest score difference']:>8.1e}")
    print(f"k = 8, shared prefix, batch 32: "
          f"{result['k = 8, shared prefix, batch 32, s per 100']:.1f} s per 100")
    lora = result["LoRA classifier"]
    print(f"LoRA classifier: {lora['s per step']:.2f} s per step (batch 16), "
          f"{lora['s to classify 100']:.1f} s to classify 100 sentences")
    write_result(result, args.out)


if __name__ == "__main__":
    main()
