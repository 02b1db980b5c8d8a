"""Recorded sweeps: multi-seed grids too slow to re-run live on 2 CPU cores.

A *sweep* is a grid of configurations, each run once per seed by one plain
function ``cell(config, seed) -> {metric: value}``. One command runs the whole
grid and writes a JSON record with its provenance into the package::

    python -m tlbook.sweeps list
    python -m tlbook.sweeps run ch3-taggers          # writes tlbook/assets/sweeps/ch3-taggers.json
    python -m tlbook.sweeps check ch3-taggers --cell 0

A chapter runs one configuration live, loads the record with :func:`load` for
its table (means and intervals over the recorded seeds, from
:mod:`tlbook.stats`), and says that the table was recorded and how to
reproduce it (:func:`describe`). The test suite re-runs one cell of every
record (:func:`check_cell`) and fails if it no longer agrees with the record
within the sweep's stated tolerance, so a recording cannot drift from the code.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

__all__ = ["Sweep", "SWEEPS", "record_path", "record_json", "partial_path", "run", "load",
           "describe", "rerun_cell", "check_cell", "main"]

RECORDS = Path(__file__).parent / "assets" / "sweeps"


@dataclass(frozen=True)
class Sweep:
    """One recorded grid.

    Attributes:
        name: id used on the command line and by chapters (``"ch3-taggers"``).
        cell: ``"module:function"`` of ``cell(config, seed) -> dict[str, float]``.
        grid: the configurations, each a dict of plain values.
        seeds: the seeds every configuration runs with.
        tolerance: largest absolute difference of any metric between a re-run
            cell and the record (floating-point kernels differ between CPUs);
            a per-item metric (a list, e.g. whether each test item was right)
            may differ in at most this share of its items.
        chapter: the chapter that shows it.
        description: one line for ``list``.
        metrics: the names of the numbers ``cell`` returns.
        threads: torch threads a cell runs with (as in its chapter), so that a
            re-run repeats the recorded arithmetic.
        item_tolerance: for a per-item metric of real numbers (e.g. each
            test item's probability): how far an item may move before it
            counts as differing (0: any change counts, right for 0/1 items).
        timings: metrics that are wall-clock seconds: recorded, shown, but
            not compared by :func:`check_cell` (they depend on the machine
            and its load, not on the code).
        metric_tolerances: a tolerance of its own for a metric on another
            scale than ``tolerance`` (e.g. a count per 100 sentences, which
            one item moves by more than a share's tolerance).
    """

    name: str
    cell: str
    grid: tuple[dict, ...]
    seeds: tuple[int, ...]
    tolerance: float
    chapter: str
    description: str
    metrics: tuple[str, ...] = field(default=())
    threads: int = 1
    item_tolerance: float = 0.0
    timings: tuple[str, ...] = ()
    metric_tolerances: dict = field(default_factory=dict)

    def function(self) -> Callable[[dict, int], dict]:
        module, _, name = self.cell.partition(":")
        return getattr(import_module(module), name)

    def cells(self) -> list[tuple[dict, int]]:
        return [(dict(config), seed) for config in self.grid for seed in self.seeds]


_TAGGER_FEATURES = ("random vectors (50-d)", "GloVe 6B (50-d)", "biLM layer 0", "biLM layer 1",
                    "biLM layer 2", "biLM scalar mix")  # tlbook.bilm.TAGGER_FEATURES, unimported

_LITE_LR = 1e-4  # tlbook.profiles: lite's finetune_lr, unimported

_LM_LR = 0.003  # tlbook.modes.RATES["chat model + LoRA"], chosen on validation at 128 labels

_MODE_METRICS = ("accuracy", "validation accuracy", "trainable", "bytes", "train seconds",
                 "label seconds per 1000", "steps", "correct")  # tlbook.modes.mode_cell

SWEEPS: dict[str, Sweep] = {s.name: s for s in [
    Sweep(
        name="ch1-learning-curve",
        cell="tlbook.sample_efficiency:curve_cell",
        grid=tuple({"size": n} for n in (16, 32, 64, 128, 256, 512, 1024, 2048)),
        seeds=(0, 1, 2, 3, 4),
        # On another CPU a C whose validation score ties with another's can flip,
        # which moves a test accuracy by a few of the 1,000 sentences.
        tolerance=0.01,
        chapter="Why transfer learning",
        description="TF-IDF, averaged GloVe and frozen MiniLM + logistic regression (C tuned "
                    "on validation) at 16 to 2,048 labels",
        metrics=("scratch (TF-IDF)", "static (GloVe average)", "pretrained (MiniLM)"),
        threads=2,
    ),
    Sweep(
        name="ch3-taggers",
        cell="tlbook.bilm:tagging_cell",
        grid=tuple({"features": f, "train_sentences": n}
                   for n in (None, 100) for f in _TAGGER_FEATURES),
        seeds=(0, 1, 2, 3, 4),
        tolerance=0.003,
        chapter="ELMo",
        description="POS taggers on frozen features (random, GloVe, biLM layers, scalar mix), "
                    "all training sentences or 100 drawn per seed",
        metrics=("accuracy", "unseen_accuracy"),
    ),
    Sweep(
        name="ch4-strategies",
        cell="tlbook.strategies:strategy_cell",
        grid=({"strategy": "feature extraction", "lr": None},)
        + tuple({"strategy": s, "lr": _LITE_LR}
                for s in ("full fine-tuning", "gradual unfreezing", "discriminative rates")),
        seeds=(0, 1, 2),
        # 150 optimizer steps carry a rounding difference of another CPU's kernels
        # into a few of the 500 test sentences
        tolerance=0.02,
        chapter="BERT fine-tuning",
        description="feature extraction, full fine-tuning, gradual unfreezing and "
                    "discriminative rates, mean-pooled head, one budget and peak rate",
        metrics=("accuracy", "validation", "steps", "best_step", "stopped_early", "correct"),
        threads=2,
    ),
    Sweep(
        name="ch5-probes",
        cell="tlbook.probing:probe_cell",
        # Every layer but of the random init, whose three initialisations would triple
        # the cost: the embeddings, the middle and the top. GloVe last: its cell is the
        # cheap one the tests re-run.
        grid=tuple({"representation": r, "layer": k}
                   for r, layers in (("encoder", range(7)), ("encoder, random init", (0, 3, 6)),
                                     ("biLM", range(3)), ("GloVe", (0,)))
                   for k in layers),
        seeds=(0, 1, 2),
        tolerance=0.003,
        chapter="Layer probing",
        description="linear POS and control-task probes at four capacities (C) on the layers "
                    "of the encoder, a random-init encoder, the biLM and GloVe",
        metrics=("control dev C=0.1", "control test C=0.1", "iterations"),
    ),
    Sweep(
        name="ch4b-class-weights",
        cell="tlbook.evaluation:spam_cell",
        grid=({"class_weights": False}, {"class_weights": True}),
        seeds=(0, 1, 2),
        # 25 optimizer steps: another CPU's rounding moves a probability by far
        # less than 0.01, and only a message near a cut could change its decision
        tolerance=0.02,
        item_tolerance=0.01,
        chapter="Fine-tuning in practice",
        description="spam fine-tuning without and with class weights: p(spam) of every "
                    "validation and test message",
        metrics=("validation", "test"),
        threads=2,
    ),
    Sweep(
        name="ch7-lora",
        cell="tlbook.lora:sentiment_cell",
        # alpha = 2r: the scale alpha/r of the update is 2 in every LoRA run, so
        # rank is not confounded with scale. q+v r=55 and all-linear r=12 train
        # the same number of parameters. The head, the cheapest cell, last.
        grid=({"method": "full", "lr": 1e-4},)
        + tuple({"method": "lora", "targets": t, "r": r, "alpha": 2 * r, "lr": lr}
                for t, r, lr in (("q+v", 8, 2e-3), ("q+v", 4, 2e-3), ("q+v", 16, 2e-3),
                                 ("q+v", 55, 2e-3), ("all-linear", 12, 2e-3),
                                 ("q+v", 8, 2e-4), ("q+v", 8, 5e-4)))
        + ({"method": "head", "lr": 1e-2},),
        seeds=(0, 1, 2),
        # 50 optimizer steps carry another CPU's rounding into a few test sentences
        tolerance=0.02,
        chapter="LoRA",
        description="movie sentiment: full fine-tuning, LoRA at ranks 4-55 (alpha/r = 2), "
                    "q+v against all-linear at matched parameters, three learning rates, "
                    "head only",
        metrics=("accuracy", "trainable", "correct"),
        threads=2,
    ),
    Sweep(
        name="ch9-names",
        cell="tlbook.token_classification:names_cell",
        grid=({"init": "pretrained", "names_only": True},
              {"init": "pretrained", "names_only": False},
              {"init": "random", "names_only": True},
              {"init": "frozen", "names_only": True}),
        seeds=(0, 1, 2, 3, 4),
        # 75 optimizer steps carry another CPU's rounding into a few test spans
        tolerance=0.02,
        chapter="Token classification",
        description="name spans: fine-tuned MiniLM (names-only or natural training "
                    "sentences), the same model from random weights, a frozen-encoder probe",
        metrics=("precision", "recall", "f1", "precision_with_names",
                 "spans_per_100_without", "rate", "found"),
        # a count per 100 of the 622 sentences without names: one span moves it by 0.16
        metric_tolerances={"spans_per_100_without": 0.5},
        threads=2,
    ),
    Sweep(
        name="ch10-distill",
        cell="tlbook.distill:student_cell",
        # The 1-layer student on hard labels needs no teacher: the cheap cell, last.
        grid=tuple({"student": s, "method": m} for s, methods in (
            ("3 layers", ("hard labels", "distillation", "distillation + unlabelled")),
            ("1 layer", ("distillation + unlabelled", "distillation", "hard labels")))
            for m in methods),
        seeds=(0, 1, 2),
        # 100 optimizer steps carry another CPU's rounding into a few test sentences
        tolerance=0.02,
        chapter="Smaller and faster",
        description="3- and 1-layer students cut from the encoder: hard labels, distillation "
                    "from the fine-tuned teacher, distillation with unlabelled sentences; "
                    "each scored in float32 and int8",
        metrics=("accuracy", "int8 accuracy", "steps", "parameters", "correct",
                 "int8 correct"),
        threads=2,
    ),
    Sweep(
        name="ch11-dapt",
        cell="tlbook.pretraining:dapt_cell",
        # continued pretraining is computed once per domain and seed, by the first cell
        # that needs it; without it, at 32 labels, is the cheap cell, last. The Brown
        # control is Gururangan et al.'s: as much continued pretraining on other text
        grid=tuple({"pretraining": p, "labels": n}
                   for p in ("movie reviews", "Brown (control)", "none") for n in (128, 32)),
        seeds=(0, 1, 2),
        # 40 optimizer steps carry another CPU's rounding into a few test sentences
        tolerance=0.02,
        chapter="How pretraining works",
        description="fine-tuning with 32 or 128 labels after continued masked-LM "
                    "pretraining on 2,000 unlabelled movie-review sentences, on 2,000 Brown "
                    "sentences (the control), or none",
        metrics=("accuracy", "steps", "mlm loss first", "mlm loss last", "correct"),
        threads=2,
    ),
    Sweep(
        name="ch12-zero-shot",
        cell="tlbook.prompting:icl_cell",
        # nothing is drawn at k = 0: one run is the whole result (its interval is
        # over the test sentences); chapter "One task, every transfer mode" reads it
        grid=({"k": 0, "test_size": 500},),
        seeds=(0,),
        tolerance=0.01,
        chapter="Prompting and in-context learning",
        description="the chat model labels 500 movie-review test sentences with no "
                    "demonstration, with and without contextual calibration",
        metrics=("accuracy", "calibrated accuracy", "label seconds per 1000", "prompt bytes",
                 "correct", "calibrated correct"),
        threads=2,
        timings=("label seconds per 1000",),
    ),
    Sweep(
        name="ch12-icl",
        cell="tlbook.prompting:icl_cell",
        # k = 0 has nothing to draw and runs live in the chapter; 1-shot, the cheapest, last
        grid=tuple({"k": k, "test_size": 500} for k in (8, 4, 2, 1)),
        seeds=(0, 1, 2, 3, 4),
        # a 135M model's label scores in float32: another CPU's rounding can flip a
        # sentence whose two label words are almost tied
        tolerance=0.01,
        chapter="Prompting and in-context learning",
        description="the chat model labels 500 movie-review test sentences after k = 1 to 8 "
                    "demonstrations, five draws of examples and order each, with and without "
                    "contextual calibration",
        metrics=("accuracy", "calibrated accuracy", "positive share",
                 "calibrated positive share", "content-free positive",
                 "label seconds per 1000", "prompt bytes", "correct", "calibrated correct"),
        threads=2,
        timings=("label seconds per 1000",),
    ),
    Sweep(
        name="ch12-lm-lora",
        cell="tlbook.modes:mode_cell",
        # First four learning rates at 128 labels, chosen between on the validation
        # sentences; then the chosen rate (tlbook.modes.RATES) at the other label
        # counts. The fewest labels, the cheapest, last.
        grid=tuple({"method": "chat model + LoRA", "labels": 128, "lr": lr}
                   for lr in (3e-4, 1e-3, 3e-3, 1e-2))
        + tuple({"method": "chat model + LoRA", "labels": n, "lr": _LM_LR} for n in (800, 32)),
        seeds=(0, 1, 2),
        # 40 optimizer steps carry another CPU's rounding into a few test sentences
        tolerance=0.02,
        chapter="Prompting and in-context learning",
        description="the chat model with a classification head trained by LoRA (r = 8, q+v): "
                    "four learning rates at 128 labels, then the chosen one at 32 and 800 "
                    "labelled movie-review sentences, 40 steps or one pass",
        metrics=_MODE_METRICS,
        threads=2,
        timings=("train seconds", "label seconds per 1000"),
    ),
    Sweep(
        name="ch13-modes",
        cell="tlbook.modes:mode_cell",
        # the trained modes first; TF-IDF, the cheapest, last
        grid=tuple({"method": m, "labels": n}
                   for m in ("DAPT + fine-tuning", "full fine-tuning", "LoRA", "frozen encoder",
                             "biLM average", "GloVe average", "word2vec average", "TF-IDF")
                   for n in (800, 128, 32)),  # tlbook.modes: MODES, BUDGETS, unimported
        seeds=(0, 1, 2),
        # 40 optimizer steps carry another CPU's rounding into a few test sentences
        tolerance=0.02,
        chapter="One task, every transfer mode",
        description="movie sentiment with 32, 128 or 800 labels: TF-IDF, word2vec, GloVe and "
                    "biLM averages, frozen encoder (+ logistic regression), LoRA, full "
                    "fine-tuning, continued pretraining + fine-tuning",
        metrics=_MODE_METRICS,
        threads=2,
        timings=("train seconds", "label seconds per 1000"),
    ),
    Sweep(
        name="ch8-sequential",
        cell="tlbook.forgetting:sequential_cell",
        # EWC (a Fisher pass) is the dearest cell, "lower learning rate" among the cheapest: last
        grid=tuple({"variant": v} for v in ("plain fine-tuning", "frozen lower layers",
                                             "rehearsal", "L2-SP", "EWC", "LoRA",
                                             "lower learning rate")),
        seeds=(0, 1, 2, 3, 4),
        # 50 optimizer steps: another CPU's rounding moves a few test sentences
        tolerance=0.02,
        chapter="Catastrophic forgetting",
        description="sentiment, then 640 spam e-mails: plain fine-tuning and six ways to "
                    "forget less (lower rate, frozen layers, rehearsal, L2-SP, EWC, LoRA)",
        metrics=("sentiment after A", "sentiment after B", "sentiment lost", "probe after A",
                 "probe after B", "probe lost", "spam after B", "weights moved",
                 "sentiment correct after A", "sentiment correct after B"),
        threads=2,
    ),
    Sweep(
        name="ch8-chat",
        cell="tlbook.forgetting:chat_cell",
        # each method at its usual learning rate and at ten times it; LoRA, the cheaper, last
        grid=({"method": "full fine-tuning", "lr": 1e-4},
              {"method": "full fine-tuning", "lr": 1e-3},
              {"method": "LoRA", "lr": 2e-2}, {"method": "LoRA", "lr": 2e-3}),
        seeds=(0, 1, 2),
        # 16 steps of a 135M model: another CPU's rounding moves the losses in the third
        # decimal and may flip a prompt or two of 64
        tolerance=0.04,
        item_tolerance=0.05,
        chapter="Catastrophic forgetting",
        description="the chat model trained on raw government prose, full vs LoRA at two "
                    "learning rates: what it learns (held-out loss) and forgets (zero-shot "
                    "chat sentiment, answer loss)",
        metrics=tuple(f"{m} {w}" for w in ("before", "after")
                      for m in ("text loss", "chat accuracy", "answer loss", "chat correct",
                                "answer losses")),
        threads=2,
    ),
]}


def _sweep(name: str) -> Sweep:
    if not isinstance(name, str):
        raise TypeError(f"name must be a sweep name (str), got {type(name).__name__}")
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; known sweeps: {', '.join(sorted(SWEEPS))}")
    return SWEEPS[name]


def record_path(name: str, profile: str | None = None) -> Path:
    """Where the record of sweep ``name`` for ``profile`` (default: the active one) lives.

    The ``lite`` records ship inside the package; a record of another profile
    (made by ``python -m tlbook.sweeps run NAME`` under that profile, e.g. on a
    GPU) goes to the cache folder, ``$TLBOOK_CACHE/sweeps/NAME-PROFILE.json``.
    """
    from .profiles import get_profile
    from .resources import cache_dir

    sweep = _sweep(name)
    profile = get_profile(profile).name
    if profile == "lite":
        return RECORDS / f"{sweep.name}.json"
    return cache_dir() / "sweeps" / f"{sweep.name}-{profile}.json"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("tlbook", "torch", "transformers", "numpy", "scikit-learn", "scipy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def _run_cell(sweep: Sweep, config: dict, seed: int) -> dict[str, float]:
    import torch

    from .runtime import seed_everything

    threads = torch.get_num_threads()
    torch.set_num_threads(sweep.threads)
    try:
        seed_everything(seed)
        metrics = sweep.function()(dict(config), seed)
    finally:
        torch.set_num_threads(threads)
    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not isinstance(metrics, dict) or not all(
            number(v) or (isinstance(v, list) and all(number(x) for x in v))
            for v in metrics.values()):
        raise TypeError(f"{sweep.cell} must return a dict of numbers or lists of numbers, "
                        f"got {metrics!r:.200}")
    return {k: [float(x) for x in v] if isinstance(v, list) else float(v)
            for k, v in metrics.items()}


def _disagreement(recorded, rerun, item_tolerance: float = 0.0) -> float:
    """How far a re-run metric is from its record: the absolute difference of a
    number, the share of items that differ by more than ``item_tolerance``
    for a per-item list (``inf`` when the kinds or lengths do not match)."""
    if isinstance(recorded, list):
        if not isinstance(rerun, list) or len(rerun) != len(recorded):
            return float("inf")
        return sum(abs(a - b) > item_tolerance for a, b in zip(recorded, rerun)) \
            / max(len(recorded), 1)
    if isinstance(rerun, list) or rerun is None:
        return float("inf")
    return abs(recorded - rerun)


def partial_path(out: str | Path) -> Path:
    """Where :func:`run` keeps the cells done so far of the record ``out``."""
    out = Path(out)
    return out.with_name(out.stem + ".partial.json")


def run(name: str, out: str | Path | None = None, progress: bool = True,
        max_minutes: float | None = None) -> Path | None:
    """Run every cell of sweep ``name`` and write its record; returns the path.

    The record holds, besides the results, how it was made: the command, the
    seeds and grid, package versions, the machine, the date, seconds per cell.

    Each finished cell is also kept in :func:`partial_path` of the record,
    and a later call continues from there (cells whose configuration and
    seed match, in order), so an interrupted sweep loses at most one cell.
    With ``max_minutes``, no new cell starts after that many minutes: the
    call returns ``None`` and the next one carries on. The partial file is
    removed once the record is written.
    """
    sweep = _sweep(name)
    if max_minutes is not None and not (isinstance(max_minutes, (int, float))
                                        and max_minutes > 0):
        raise ValueError(f"max_minutes must be a positive number of minutes or None, got "
                         f"{max_minutes!r}")
    out = Path(out) if out is not None else record_path(name)
    partial = partial_path(out)
    cells = sweep.cells()
    results: list[dict] = []
    if partial.is_file():
        kept = json.loads(partial.read_text())
        for done, (config, seed) in zip(kept, cells):
            if done.get("config") != config or done.get("seed") != seed:
                break
            results.append(done)
        if progress:
            print(f"continuing from {partial}: {len(results)} of {len(cells)} cells done",
                  flush=True)
    start = time.perf_counter()
    for i, (config, seed) in enumerate(cells[len(results):], start=len(results)):
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            if progress:
                print(f"stopped after {max_minutes} minutes with {i} of {len(cells)} cells "
                      f"done; run the same command again to continue", flush=True)
            return None
        t0 = time.perf_counter()
        metrics = _run_cell(sweep, config, seed)
        results.append({"config": config, "seed": seed, "metrics": metrics,
                        "seconds": round(time.perf_counter() - t0, 2)})
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(results))
        if progress:
            print(f"[{i + 1}/{len(cells)}] {config} seed {seed}: "
                  + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                              if not isinstance(v, list)), flush=True)
    from .profiles import get_profile

    record = {
        "name": sweep.name,
        "profile": get_profile().name,
        "description": sweep.description,
        "chapter": sweep.chapter,
        "command": f"python -m tlbook.sweeps run {sweep.name}",
        "seeds": list(sweep.seeds),
        "grid": [dict(c) for c in sweep.grid],
        "tolerance": sweep.tolerance,
        "provenance": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "versions": _versions(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "cpus": os.cpu_count(),
            "threads": sweep.threads,
            "python": platform.python_version(),
            "seconds": round(sum(r["seconds"] for r in results), 1),
        },
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(record_json(record))
    partial.unlink(missing_ok=True)
    return out


def record_json(record: dict) -> str:
    """A record as the text of its file: indented, but each per-item list of
    numbers on one line (a record of per-token results stays small and its
    diffs readable)."""
    lists: list[str] = []

    def pack(value):
        if isinstance(value, dict):
            return {k: pack(v) for k, v in value.items()}
        if isinstance(value, list) and value and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            lists.append(json.dumps(value, separators=(",", ":")))
            return f"\0{len(lists) - 1}\0"
        if isinstance(value, list):
            return [pack(v) for v in value]
        return value

    text = json.dumps(pack(record), indent=1)
    for i, packed in enumerate(lists):
        text = text.replace(f'"\\u0000{i}\\u0000"', packed, 1)
    return text + "\n"


def load(name: str, path: str | Path | None = None):
    """The record of sweep ``name`` as a pandas table: one row per (config, seed).

    Columns: the configuration's keys, ``seed``, and one column per metric.
    The record itself (provenance included) is in ``table.attrs["record"]``.

    Raises:
        FileNotFoundError: the sweep was never recorded (the message says how).
    """
    import pandas as pd

    from .profiles import get_profile

    path = Path(path) if path is not None else record_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"sweep {name!r} has no record for the {get_profile().name!r} "
                                f"profile at {path}; make it with `python -m tlbook.sweeps run "
                                f"{name}` (under that profile)")
    record = json.loads(path.read_text())
    rows = [{**r["config"], "seed": r["seed"], **r["metrics"]} for r in record["results"]]
    table = pd.DataFrame(rows)
    table.attrs["record"] = record
    return table


def describe(name: str) -> str:
    """One sentence for a chapter: what was recorded, when, and how to re-run it."""
    record = load(name).attrs["record"]
    prov = record["provenance"]
    minutes = prov["seconds"] / 60
    return (f"Recorded sweep {record['name']!r}: {len(record['grid'])} configurations x "
            f"{len(record['seeds'])} seeds, run on {prov['date']} with tlbook "
            f"{prov['versions']['tlbook']} and torch {prov['versions']['torch']} "
            f"({minutes:.0f} min on {prov['cpus']} CPU cores); reproduce it with "
            f"`{record['command']}`.")


def rerun_cell(name: str, index: int) -> tuple[dict, dict]:
    """Re-run cell ``index`` of the record: returns ``(recorded, rerun)`` metrics."""
    record = load(name).attrs["record"]
    if isinstance(index, bool) or not isinstance(index, int) or not \
            0 <= index < len(record["results"]):
        raise ValueError(f"index must be an int in [0, {len(record['results'])}), got {index!r}")
    cell = record["results"][index]
    return cell["metrics"], _run_cell(_sweep(name), cell["config"], cell["seed"])


def check_cell(name: str, index: int = 0) -> list[str]:
    """Differences beyond the sweep's tolerance between cell ``index`` and its record
    (empty: they agree)."""
    recorded, rerun = rerun_cell(name, index)
    sweep = _sweep(name)
    tol = sweep.tolerance
    problems = []
    for k, value in recorded.items():
        if k in sweep.timings:
            if k not in rerun:
                problems.append(f"{k}: missing")
            continue
        gap = _disagreement(value, rerun.get(k), sweep.item_tolerance)
        if gap <= sweep.metric_tolerances.get(k, tol):
            continue
        if isinstance(value, list):
            by = f" by more than {sweep.item_tolerance:g}" if sweep.item_tolerance else ""
            problems.append(f"{k}: {gap:.1%} of the {len(value)} items differ from the "
                            f"record{by}")
        else:
            now = rerun.get(k)
            problems.append(f"{k}: recorded {value:.4f}, now "
                            f"{now:.4f}" if isinstance(now, float) else f"{k}: missing")
    problems += [f"{k}: not in the record" for k in rerun if k not in recorded]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlbook.sweeps",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the sweeps and whether they are recorded")
    p = sub.add_parser("run", help="run a sweep and write its record")
    p.add_argument("name")
    p.add_argument("--out", help="write here instead of into the package")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="start no new cell after this many minutes; the next run continues")
    p = sub.add_parser("check", help="re-run one cell and compare it with the record")
    p.add_argument("name")
    p.add_argument("--cell", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for sweep in SWEEPS.values():
                recorded = "recorded" if record_path(sweep.name).is_file() else "not recorded"
                print(f"{sweep.name:<16} {len(sweep.cells()):>4} cells  {recorded:<13} "
                      f"chapter {sweep.chapter}: {sweep.description}")
            return 0
        if args.command == "run":
            from .runtime import setup

            setup(seed=0, verbose=False)
            path = run(args.name, args.out, max_minutes=args.max_minutes)
            print(f"wrote {path}" if path is not None else "not finished yet")
            return 0
        from .runtime import setup

        setup(seed=0, verbose=False)
        problems = check_cell(args.name, args.cell)
        print("agrees with the record" if not problems else "\n".join(problems))
        return 1 if problems else 0
    except (ValueError, FileNotFoundError) as e:
        print(f"tlbook.sweeps: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
