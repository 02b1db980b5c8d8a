"""Chapter "BERT fine-tuning" as one experiment: four ways to transfer the
pretrained encoder to sentiment, compared like with like.

Every strategy reads the same input, the masked mean of the encoder's last
hidden states (:class:`tlbook.heads.MeanPooledClassifier`, the pooling the
lite encoder was trained with), through the same kind of head, a linear layer:

- ``"feature extraction"``: the frozen encoder's mean-pooled vectors and
  logistic regression, its C chosen on the validation split;
- ``"full fine-tuning"``: every weight trains;
- ``"gradual unfreezing"``: ULMFiT's schedule, the top layer first and one
  block more at regular steps, the embeddings last
  (:func:`tlbook.finetune.unfreezing_stages`);
- ``"discriminative rates"``: every weight trains, each layer at 0.8 times the
  rate of the layer above.

The three fine-tuned strategies share the budget (``finetune_epochs`` passes,
batches of ``finetune_batch_size``), the warm-up and decay schedule, early
stopping on validation accuracy and the peak learning rate (``finetune_lr``
of the profile; the top layer's rate under discriminative rates), so that no
strategy gets more tuning than another. :func:`strategy_cell` is one run, the
cell of the recorded sweep ``ch4-strategies`` (:mod:`tlbook.sweeps`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from . import _validate as _v

__all__ = ["STRATEGIES", "LAYER_LR_DECAY", "splits", "strategy_config", "strategy_cell",
           "frozen_baseline"]

STRATEGIES = ("feature extraction", "full fine-tuning", "gradual unfreezing",
              "discriminative rates")
LAYER_LR_DECAY = 0.8
_FINE_TUNED = STRATEGIES[1:]


def splits(profile: str | None = None) -> tuple:
    """``(train, validation, test)`` of the movie-sentiment task, sized by the
    profile (``finetune_train``, ``finetune_validation``, ``finetune_test``)."""
    from .data import first_rows, load_movie_sentiment
    from .profiles import get_profile

    sizes = get_profile(profile).sizes
    ds = load_movie_sentiment(profile)
    return (first_rows(ds["train"], sizes["finetune_train"]),
            first_rows(ds["validation"], sizes["finetune_validation"]),
            first_rows(ds["test"], sizes["finetune_test"]))


def strategy_config(strategy: str, lr: float, seed: int, n_train: int, n_layers: int,
                    profile: str | None = None):
    """The :class:`~tlbook.finetune.FineTuneConfig` of one fine-tuned strategy.

    Gradual unfreezing adds one block every ``total_steps // (2 * (n_layers +
    1))`` steps, so that everything, embeddings included, trains for the second
    half of the run.

    Raises:
        ValueError: an unknown or not fine-tuned strategy, or a bad number.
    """
    from .finetune import FineTuneConfig
    from .profiles import get_profile

    _v.one_of("strategy", strategy, _FINE_TUNED)
    _v.positive_int("n_train", n_train)
    _v.positive_int("n_layers", n_layers)
    sizes = get_profile(profile).sizes
    base = FineTuneConfig(lr=lr, epochs=sizes["finetune_epochs"],
                          batch_size=sizes["finetune_batch_size"], warmup_ratio=0.1,
                          evals_per_epoch=2, early_stopping_patience=2, seed=seed,
                          progress=False)
    if strategy == "gradual unfreezing":
        total = math.ceil(n_train / base.batch_size) * base.epochs
        return replace(base, gradual_unfreezing=True,
                       unfreeze_every=max(1, total // (2 * (n_layers + 1))))
    if strategy == "discriminative rates":
        return replace(base, layer_lr_decay=LAYER_LR_DECAY)
    return base


def frozen_baseline(train, validation, test, profile: str | None = None) -> dict:
    """Feature extraction: mean-pooled vectors of the frozen encoder and
    logistic regression, C chosen on validation among
    :data:`tlbook.sample_efficiency.CURVE_CS`.

    Returns:
        ``{"accuracy", "validation", "C", "correct", "trainable"}``.
    """
    from .embeddings import sentence_embeddings
    from .models import load_encoder
    from .sample_efficiency import CURVE_CS, embedding_classifier, tuned_predictions

    encoder, tokenizer = load_encoder(profile=profile)
    X = [sentence_embeddings(encoder, tokenizer, split["text"])
         for split in (train, validation, test)]
    y_train, y_val, y_test = (np.asarray(s["label"]) for s in (train, validation, test))
    C, pred = tuned_predictions(embedding_classifier, CURVE_CS, X[0], y_train, X[1], y_val,
                                np.concatenate([X[1], X[2]]))
    val_pred, test_pred = pred[:len(y_val)], pred[len(y_val):]
    return {"accuracy": float(np.mean(test_pred == y_test)),
            "validation": float(np.mean(val_pred == y_val)), "C": C,
            "correct": test_pred == y_test, "trainable": X[0].shape[1] + 1}


def strategy_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch4-strategies``: ``config = {"strategy", "lr"}``.

    Returns:
        ``accuracy`` (test) and ``validation`` (best validation accuracy, the
        one the kept weights had), ``steps`` run, ``best_step``,
        ``stopped_early`` (0/1), ``validation@STEP`` (the validation accuracy
        of each evaluation) and ``correct``, the test sentences one by one (1
        right, 0 wrong). Feature extraction ignores ``lr`` and ``seed``.
    """
    from transformers import AutoConfig

    from .finetune import train_and_score
    from .models import model_source

    strategy = config["strategy"]
    _v.one_of("strategy", strategy, STRATEGIES)
    train, validation, test = splits()
    if strategy == "feature extraction":
        out = frozen_baseline(train, validation, test)
        return {"accuracy": out["accuracy"], "validation": out["validation"], "steps": 0,
                "best_step": 0, "stopped_early": 0,
                "correct": [int(c) for c in out["correct"]]}
    n_layers = AutoConfig.from_pretrained(model_source("encoder")).num_hidden_layers
    cfg = strategy_config(strategy, config["lr"], seed, len(train), n_layers)
    run = train_and_score(cfg, train, validation, test, pooling="mean")
    history = run["history"]
    curve = {f"validation@{e['step']}": float(e["accuracy"]) for e in history.evals}
    return {"accuracy": float(run["accuracy"]), "validation": float(history.best_score),
            "steps": len(history.train_loss), "best_step": int(history.best_step),
            "stopped_early": int(history.stopped_early), **curve,
            "correct": [int(c) for c in run["correct"]]}
