"""One task, every transfer mode: the book's methods side by side on movie sentiment.

Chapter "One task, every transfer mode" puts every way of transferring that the
book teaches on one task, one test set and the same labelled examples:

- features that learn only from the labels (TF-IDF), averaged static word
  vectors (word2vec trained on Brown by :func:`tlbook.word2vec.gensim_skipgram`,
  GloVe), the biLM's contextual vectors averaged over a sentence, the frozen
  encoder's sentence vectors: each read by the same logistic regression, its
  ``C`` chosen on the validation sentences (:data:`LINEAR_MODES`);
- the encoder fine-tuned in full, with LoRA, or in full after continued
  masked-LM pretraining on unlabelled movie reviews (:data:`ENCODER_MODES`),
  each for the same number of optimizer steps;
- the chat model with a classification head trained by LoRA (:data:`LM_MODE`).

Prompting (zero- and few-shot) trains nothing; its record is the sweep
``ch12-icl`` (:func:`tlbook.prompting.icl_cell`), on the same test sentences.

:func:`mode_cell` runs one method on one draw of labels and measures what the
chapter tabulates: accuracy (and which test sentences were right), trainable
parameters, bytes stored per task, seconds to train and seconds to label 1,000
sentences.
"""

from __future__ import annotations

import math
import pickle
import re
import time
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from . import _validate as _v

__all__ = ["LINEAR_MODES", "ENCODER_MODES", "LM_MODE", "MODES", "BUDGETS", "STEPS",
           "RATES", "labelled_draw", "epochs_for", "brown_word2vec", "words",
           "bilm_sentence_vectors", "sentence_features", "mode_cell"]

LINEAR_MODES = ("TF-IDF", "word2vec average", "GloVe average", "biLM average",
                "frozen encoder")
"""Features + logistic regression (``C`` tuned on validation), cheapest first."""

ENCODER_MODES = ("LoRA", "full fine-tuning", "DAPT + fine-tuning")
"""The encoder trained on the labels: LoRA adapters (r = 8 on query and value),
every weight, or every weight after continued masked-LM pretraining on
unlabelled movie reviews (chapter "How pretraining works")."""

LM_MODE = "chat model + LoRA"
"""The chat model with a classification head, trained by LoRA (chapter
"Prompting and in-context learning")."""

MODES = LINEAR_MODES + ENCODER_MODES + (LM_MODE,)

BUDGETS = (32, 128, 800)
"""Labelled training sentences every mode gets: a few, some, all of them."""

STEPS = 40
"""Optimizer steps of every trained mode at batch 16 (at least one pass)."""

RATES = {"LoRA": 2e-3, "full fine-tuning": 1e-4, "DAPT + fine-tuning": 1e-4,
         LM_MODE: 0.003}
"""Peak learning rates: the encoder's from chapters "BERT fine-tuning" and
"LoRA"; the chat model's LoRA rate from chapter "Prompting and in-context
learning"."""

_BATCH = 16
_MAX_LENGTH = 64


def labelled_draw(labels: int, seed: int):
    """The ``labels`` training sentences of draw ``seed``: the first ``labels``
    of a seeded shuffle of the chapter's training split
    (:func:`tlbook.strategies.splits`), in their original order; the draw of
    sweep ``ch11-dapt``. Returns ``(subset, validation, test)`` datasets."""
    from .strategies import splits

    train, validation, test = splits()
    _v.integer("labels", labels, 2, len(train), rule=f"an int from 2 to {len(train)}")
    _v.non_negative_int("seed", seed)
    pick = np.random.default_rng(seed).permutation(len(train))[:labels]
    return train.select(sorted(pick.tolist())), validation, test


def epochs_for(labels: int, steps: int = STEPS, batch_size: int = _BATCH) -> int:
    """Passes over ``labels`` examples that give about ``steps`` optimizer
    steps of ``batch_size`` (at least one pass)."""
    _v.positive_int("labels", labels)
    _v.positive_int("steps", steps)
    _v.positive_int("batch_size", batch_size)
    return max(1, round(steps / math.ceil(labels / batch_size)))


@lru_cache(maxsize=1)
def brown_word2vec():
    """Skip-gram vectors (50-d, chapter "word2vec"'s settings) trained by gensim on
    the lower-cased Brown corpus, once per process; returns the ``KeyedVectors``."""
    from .data import brown_sentences
    from .word2vec import gensim_skipgram

    sentences = [[w.lower() for w in s.words] for s in brown_sentences()]
    return gensim_skipgram(sentences, dim=50, window=5, negative=5, min_count=5,
                           subsample=1e-3, epochs=5, workers=1, seed=0).wv


_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def words(text: str) -> list[str]:
    """A sentence cut into words and punctuation marks, as Brown cuts them
    (``"it's bad."`` -> ``["it's", "bad", "."]``); never empty (``["."]``)."""
    _v.string("text", text, allow_empty=True)
    return _TOKEN.findall(text) or ["."]


def bilm_sentence_vectors(model, texts: Sequence[str]) -> np.ndarray:
    """One vector per text from the biLM: the mean over its words of the
    equal-weight mix of all layers (ELMo's scalar mix before any training).

    Returns:
        float32 array ``(len(texts), 2 * hidden_dim)``.
    """
    from .bilm import contextual_vectors

    _v.str_sequence("texts", texts)
    per_sentence = contextual_vectors(model, [words(t) for t in texts])
    return np.stack([v.mean(axis=(0, 1)) for v in per_sentence]).astype(np.float32)


@lru_cache(maxsize=None)
def _pretrained(method: str):
    """The pretrained part a linear mode reads (``None`` for TF-IDF), loaded
    or trained once per process, before any cell is timed."""
    from .bilm import load_shipped_bilm
    from .models import load_encoder, load_glove

    return {"TF-IDF": lambda: None, "word2vec average": brown_word2vec,
            "GloVe average": load_glove, "biLM average": load_shipped_bilm,
            "frozen encoder": load_encoder}[method]()


def sentence_features(method: str, texts: Sequence[str]):
    """What the logistic regression of a linear mode reads: the texts
    themselves (TF-IDF) or ``(len(texts), dim)`` float32 vectors: the mean
    word2vec or GloVe vector (:func:`tlbook.embeddings.averaged_word_vectors`),
    :func:`bilm_sentence_vectors`, or the encoder's mean-pooled sentence
    vector (:func:`tlbook.embeddings.sentence_embeddings`)."""
    from .embeddings import averaged_word_vectors, sentence_embeddings

    _v.one_of("method", method, LINEAR_MODES)
    _v.str_sequence("texts", texts)
    texts = list(texts)
    model = _pretrained(method)
    if method == "TF-IDF":
        return texts
    if method in ("word2vec average", "GloVe average"):
        return averaged_word_vectors(model, texts)
    if method == "biLM average":
        return bilm_sentence_vectors(model, texts)
    return sentence_embeddings(*model, texts)


def _linear_mode(method, subset, validation, test) -> dict:
    from .sample_efficiency import (CURVE_CS, embedding_classifier, tfidf_classifier,
                                    tuned_classifier)

    make = tfidf_classifier if method == "TF-IDF" else embedding_classifier
    _pretrained(method)  # loading the shared vectors or encoder is not per-task work
    start = time.perf_counter()
    X_train = sentence_features(method, subset["text"])
    X_val = sentence_features(method, validation["text"])
    _, classifier = tuned_classifier(make, CURVE_CS, X_train, np.asarray(subset["label"]),
                                     X_val, np.asarray(validation["label"]))
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pred = classifier.predict(sentence_features(method, test["text"]))
    label_seconds = time.perf_counter() - start
    regression = classifier.steps[-1][1]
    validation_pred = classifier.predict(X_val)
    return {"predictions": pred, "validation predictions": validation_pred,
            "trainable": regression.coef_.size + regression.intercept_.size,
            "bytes": len(pickle.dumps(classifier)), "train seconds": train_seconds,
            "label seconds": label_seconds, "steps": 0}


def _validation_predictions(res: dict, texts) -> np.ndarray:
    from .finetune import predict

    return predict(res["model"], res["tokenizer"], list(texts), max_length=_MAX_LENGTH)[0]


def _encoder_mode(method, subset, validation, test, seed, lr) -> dict:
    from .lora import train_classifier

    state, pretrain_seconds = None, 0.0
    if method == "DAPT + fine-tuning":
        from .pretraining import _adapted_encoder

        adapted = _adapted_encoder("movie reviews", seed)  # once per seed and process
        state, pretrain_seconds = adapted["state"], adapted["seconds"]
    res = train_classifier("lora" if method == "LoRA" else "full", subset, test,
                           lr=lr, epochs=epochs_for(len(subset)),
                           batch_size=_BATCH, max_length=_MAX_LENGTH, r=8, alpha=16.0,
                           targets=("query", "value"), seed=seed, pooling="mean",
                           encoder_state=state)
    return {"predictions": res["predictions"],
            "validation predictions": _validation_predictions(res, validation["text"]),
            "trainable": res["trainable"], "bytes": res["saved_bytes"],
            "train seconds": res["seconds"] + pretrain_seconds,
            "label seconds": res["label_seconds"], "steps": len(res["losses"])}


def _lm_mode(subset, validation, test, seed, lr) -> dict:
    from .prompting import train_lm_classifier

    res = train_lm_classifier(subset, test, lr=lr, epochs=epochs_for(len(subset)),
                              batch_size=_BATCH, max_length=_MAX_LENGTH, r=8, alpha=16.0,
                              seed=seed)
    return {"predictions": res["predictions"],
            "validation predictions": _validation_predictions(res, validation["text"]),
            "trainable": res["trainable"], "bytes": res["saved_bytes"],
            "train seconds": res["seconds"], "label seconds": res["label_seconds"],
            "steps": len(res["losses"])}


def mode_cell(config: dict, seed: int) -> dict:
    """One method on one draw of labels: a cell of sweeps ``ch13-modes`` and
    ``ch12-lm-lora``.

    Args:
        config: ``{"method": one of MODES, "labels": int}``, and for a trained
            mode optionally ``"lr"``, its peak learning rate (default
            :data:`RATES`).
        seed: the draw of labelled sentences (:func:`labelled_draw`), the new
            head and the order of batches.

    Returns:
        ``accuracy`` on the chapter's 500 test sentences; ``trainable``
        parameters; ``bytes`` stored for this task (the fitted classifier, the
        adapters and head, or the whole model); ``train seconds`` (from raw
        labelled texts to a classifier: features, tuning on validation,
        training; for DAPT including the continued pretraining, which cells of
        one seed share); ``label seconds per 1000`` (raw texts to labels, per 1,000
        test sentences); ``steps`` (optimizer steps; 0 for the linear modes);
        ``validation accuracy`` (on the 200 validation sentences; for the
        linear modes the sentences ``C`` was chosen on);
        ``correct`` (1/0 per test sentence).

    Raises:
        TypeError: ``config`` not a dict.
        ValueError: an unknown method, key or label count.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict like {{'method': 'TF-IDF', 'labels': 32}}, "
                        f"got {type(config).__name__}")
    if not {"labels", "method"} <= set(config) <= {"labels", "method", "lr"}:
        raise ValueError(f"config takes the keys 'labels', 'method' and optionally 'lr', got "
                         f"{sorted(config)}")
    _v.one_of("method", config["method"], MODES)
    method = config["method"]
    if "lr" in config and method in LINEAR_MODES:
        raise ValueError(f"{method!r} trains no network: 'lr' is only for {list(RATES)}")
    lr = _v.positive_float("lr", config.get("lr", RATES.get(method, 1.0)))
    subset, validation, test = labelled_draw(config["labels"], seed)
    if method in LINEAR_MODES:
        out = _linear_mode(method, subset, validation, test)
    elif method in ENCODER_MODES:
        out = _encoder_mode(method, subset, validation, test, seed, lr)
    else:
        out = _lm_mode(subset, validation, test, seed, lr)
    correct = np.asarray(out.pop("predictions")) == np.asarray(test["label"])
    validation_correct = (np.asarray(out.pop("validation predictions"))
                          == np.asarray(validation["label"]))
    return {"accuracy": float(correct.mean()),
            "validation accuracy": float(validation_correct.mean()),
            "trainable": int(out["trainable"]),
            "bytes": int(out["bytes"]), "train seconds": float(out["train seconds"]),
            "label seconds per 1000": 1000 * float(out["label seconds"]) / len(test),
            "steps": int(out["steps"]), "correct": [int(c) for c in correct]}
