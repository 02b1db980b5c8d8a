"""LoRA against full fine-tuning of the causal LM: time per step and peak memory.

Same model (the profile's causal LM, SmolLM2-135M in ``lite``), same batches
of Brown text (``tlbook.forgetting.genre_blocks``; batch size and sequence
length below), same optimizer (AdamW) and learning-rate-free measurement: only what trains differs. LoRA is
``peft`` with r=8 on q_proj and v_proj. Each variant runs in a fresh
subprocess so that its peak resident memory (``ru_maxrss``; on a GPU
``torch.cuda.max_memory_allocated``) is its own.

    python benchmarks/lora_vs_full_causal_lm.py [--batch 4] [--seq-len 128] [--steps 6]

Prints a table and the full/LoRA ratios, and writes
benchmarks/results/lora_vs_full_causal_lm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

SEED, LR, GENRE, WARMUP_STEPS = 0, 1e-4, "religion", 1


def _peak_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def child(variant: str, batch: int, seq_len: int, steps: int, threads: int) -> dict:
    import torch

    import tlbook
    from tlbook.forgetting import genre_blocks
    from tlbook.lora import PeakMemory, lm_loader
    from tlbook.models import load_causal_lm

    rt = tlbook.setup(seed=SEED, threads=threads, verbose=False)
    model, tok = load_causal_lm(device=rt.device)
    if variant == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16,
                                                 target_modules=["q_proj", "v_proj"],
                                                 task_type=TaskType.CAUSAL_LM))
    else:
        model.requires_grad_(True)
    # the chapters' blocks: running text, no end-of-text token between sentences
    blocks = genre_blocks(GENRE, tok, block_size=seq_len)[:batch * (steps + WARMUP_STEPS)]
    loader = lm_loader(blocks, batch_size=batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR)
    model.train()
    loaded_mb = _peak_mb()
    times = []
    with PeakMemory(device=rt.device) as mem:
        for i, batch_ in enumerate(loader):
            batch_ = {k: v.to(rt.device) for k, v in batch_.items()}
            if rt.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            loss = model(**batch_).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if rt.device == "cuda":
                torch.cuda.synchronize()
            if i >= WARMUP_STEPS:  # the first step allocates gradients and Adam state
                times.append(time.perf_counter() - start)
    return {"seconds_per_step": sum(times) / len(times), "step_seconds": times,
            "trainable": sum(p.numel() for p in params),
            "total": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": _peak_mb(), "peak_after_load_mb": loaded_mb,
            "training_increase_mb": mem.peak_mb, "device": rt.device,
            "final_loss": loss.item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6, help="timed steps after one warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["lora", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out = child(args.child, args.batch, args.seq_len, args.steps, args.threads)
        print("RESULT " + json.dumps(out))
        return
    load = os.getloadavg()[0]
    results = {}
    for variant in ("lora", "full"):
        proc = subprocess.run([sys.executable, __file__, "--child", variant, "--batch",
                               str(args.batch), "--seq-len", str(args.seq_len), "--steps",
                               str(args.steps), "--threads", str(args.threads)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"the {variant} run failed:\n{proc.stderr[-3000:]}")
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        results[variant] = json.loads(line[len("RESULT "):])
    lora, full = results["lora"], results["full"]
    print(f"batch {args.batch} x {args.seq_len} tokens, {args.steps} timed steps, "
          f"{args.threads} threads, load average at start {load:.2f}")
    print(f"{'':<6} {'trainable':>12} {'s/step':>8} {'peak RSS MB':>12} {'training +MB':>13}")
    for name, r in results.items():
        print(f"{name:<6} {r['trainable']:>12,} {r['seconds_per_step']:>8.2f} "
              f"{r['peak_rss_mb']:>12.0f} {r['training_increase_mb']:>13.0f}")
    time_ratio = full["seconds_per_step"] / lora["seconds_per_step"]
    mem_ratio = full["peak_rss_mb"] / lora["peak_rss_mb"]
    inc_ratio = full["training_increase_mb"] / max(lora["training_increase_mb"], 1e-9)
    print(f"full / LoRA: {time_ratio:.2f}x seconds per step, {mem_ratio:.2f}x peak memory, "
          f"{inc_ratio:.1f}x memory added by training")
    import torch

    record = {"benchmark": "lora_vs_full_causal_lm", "model": "causal LM of the profile",
              "profile": os.environ.get("TLBOOK_PROFILE", "lite"), "genre": GENRE,
              "batch_size": args.batch, "seq_len": args.seq_len, "timed_steps": args.steps,
              "threads": args.threads, "cpu_count": os.cpu_count(),
              "load_average_1min_at_start": round(load, 2), "torch": torch.__version__,
              "python": platform.python_version(), "results": results,
              "full_over_lora_seconds_per_step": round(time_ratio, 3),
              "full_over_lora_peak_memory": round(mem_ratio, 3),
              "full_over_lora_training_memory": round(inc_ratio, 3)}
    out = Path(__file__).parent / "results" / "lora_vs_full_causal_lm.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
