"""Sentence embeddings from a frozen encoder (chapter "Why transfer learning").

The encoder is used as a fixed feature extractor: each sentence becomes one
vector, the mean of its token vectors from the last layer, and a small
classifier is trained on top. Chapter 3 reuses this for "feature extraction".
:func:`averaged_word_vectors` does the same with static word vectors (GloVe),
the simplest sentence representation there is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from . import _validate as _v

__all__ = ["mean_pool", "sentence_embeddings", "averaged_word_vectors", "POOLINGS"]

POOLINGS = ("mean", "cls")


def mean_pool(hidden, attention_mask):
    """Average token vectors, ignoring padding.

    Args:
        hidden: tensor ``(batch, seq_len, hidden)``.
        attention_mask: tensor ``(batch, seq_len)``, 1 for real tokens, 0 for pad.

    Returns:
        Tensor ``(batch, hidden)``.

    Raises:
        ValueError: the shapes do not match (``hidden`` 3-D, the mask its
            first two dimensions).
    """
    h_shape, m_shape = tuple(getattr(hidden, "shape", ())), tuple(getattr(attention_mask,
                                                                        "shape", ()))
    if len(h_shape) != 3 or m_shape != h_shape[:2]:
        raise ValueError(f"hidden must have shape (batch, seq_len, hidden) and attention_mask "
                         f"(batch, seq_len); got {h_shape} and {m_shape}")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def sentence_embeddings(model, tokenizer, texts: Sequence[str], batch_size: int = 64,
                        pooling: str = "mean", max_length: int = 128,
                        device: str | None = None, normalize: bool = False) -> np.ndarray:
    """Embed sentences with a frozen encoder.

    Sentences are sorted by length before batching so each batch pads little,
    and the original order is restored at the end.

    Args:
        model: a transformers encoder returning ``last_hidden_state``.
        tokenizer: its tokenizer.
        texts: the sentences.
        batch_size: sentences per forward pass.
        pooling: ``"mean"`` (average of non-padding tokens) or ``"cls"`` (the
            first token's vector).
        max_length: longer inputs are truncated to this many tokens.
        device: where to run; ``None`` uses the model's device.
        normalize: scale each vector to unit length.

    Returns:
        Array ``(len(texts), hidden)`` of float32.

    Raises:
        TypeError: ``texts`` is not a sequence of str, ``normalize`` not a bool.
        ValueError: unknown ``pooling``; ``batch_size`` not a positive int;
            ``max_length`` not a positive int within the model's positions
            (``model.config.max_position_embeddings``, 512 for BERT);
            ``device`` unknown or not available.
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str (wrap a single sentence in a list)")
    _v.positive_int("batch_size", batch_size)
    _v.max_length("max_length", max_length, model)
    _v.device("device", device)
    _v.boolean("normalize", normalize)
    device = device or next(model.parameters()).device
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt").to(device)
            hidden = model(**enc).last_hidden_state
            vec = mean_pool(hidden, enc["attention_mask"]) if pooling == "mean" else hidden[:, 0]
            if normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[idx] = vec.float().cpu().numpy()
    return out


_WORD = re.compile(r"[\w']+")


def averaged_word_vectors(keyed_vectors, texts: Sequence[str], lowercase: bool = True
                          ) -> np.ndarray:
    """One vector per text: the mean of the static vectors of its known words.

    Words are runs of letters, digits and apostrophes (``"isn't"`` stays one
    word, punctuation is dropped); a word the vectors do not know is skipped,
    and a text with no known word gets the zero vector.

    Args:
        keyed_vectors: gensim ``KeyedVectors`` (e.g. :func:`tlbook.models.load_glove`).
        texts: the sentences.
        lowercase: look words up lower-cased (GloVe 6B is uncased).

    Returns:
        float32 array ``(len(texts), vector_size)``.

    Raises:
        TypeError: ``texts`` is not a sequence of str, ``keyed_vectors`` has
            no ``key_to_index``, ``lowercase`` not a bool.
    """
    if not hasattr(keyed_vectors, "key_to_index") or not hasattr(keyed_vectors, "vector_size"):
        raise _v.ArgumentTypeError("keyed_vectors must be gensim KeyedVectors (with "
                                   f"key_to_index), got {type(keyed_vectors).__name__}")
    _v.str_sequence("texts", texts)
    _v.boolean("lowercase", lowercase)
    index = keyed_vectors.key_to_index
    out = np.zeros((len(texts), keyed_vectors.vector_size), dtype=np.float32)
    for i, text in enumerate(texts):
        words = _WORD.findall(text.lower() if lowercase else text)
        rows = [index[w] for w in words if w in index]
        if rows:
            out[i] = keyed_vectors.vectors[rows].mean(axis=0)
    return out

