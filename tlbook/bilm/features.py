"""Token features for feature-based transfer: the biLM's layers (ELMo), and
static GloVe and random vectors to compare them with.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import _validate as _v
from .corpus import _as_token_lists, _batch_indices, _pad
from .model import BiLM, _check_keyed_vectors, _check_model, _check_positive


@torch.inference_mode()
def contextual_vectors(model: BiLM, sentences, batch_size: int = 64) -> list[np.ndarray]:
    """The biLM's vectors for every word of every sentence, all layers.

    Layer 0 is the context-free token layer, repeated twice
    (``[x_k; x_k]``) so it has the width of the others, as in ELMo; layer
    ``j >= 1`` is ``[forward_j(k); backward_j(k)]``. The ``<s>``/``</s>``
    positions are dropped. Dropout is off.

    Args:
        model: a :class:`BiLM`.
        sentences: token lists or Brown records.

    Returns:
        One float32 array per sentence, shape
        ``(num_layers + 1, n_words, 2 * hidden_dim)``.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``sentences`` not token
            lists.
        ValueError: ``batch_size`` is not a positive int, or a sentence is
            empty.
    """
    _check_model(model)
    _check_positive("batch_size", batch_size)
    sentences = _as_token_lists(sentences)
    if any(len(s) == 0 for s in sentences):
        raise ValueError("sentences must not contain an empty sentence")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    encoded = [model.vocab.encode(s) for s in sentences]
    out: list[np.ndarray | None] = [None] * len(encoded)
    for batch in _batch_indices([len(e) for e in encoded], batch_size, False, 0, 1):
        ids, lengths = _pad(encoded, batch)
        tokens, forward_states, backward_states = model(ids.to(device), lengths.to(device))
        layers = [torch.cat([tokens, tokens], -1)] + [
            torch.cat([f, b], -1) for f, b in zip(forward_states, backward_states)]
        stacked = torch.stack(layers, 1).float().cpu().numpy()  # (batch, L+1, seq_len, 2h)
        for row, (j, length) in enumerate(zip(batch, lengths.tolist())):
            out[j] = stacked[row, :, 1:length - 1].copy()
    model.train(was_training)
    return out


def elmo_features(model: BiLM, sentences, batch_size: int = 64) -> np.ndarray:
    """All layers' vectors of all tokens, sentences one after another.

    Returns:
        float32 array ``(num_layers + 1, n_tokens, 2 * hidden_dim)``, the
        :func:`contextual_vectors` of every sentence concatenated along the
        token axis (the order of ``[w for s in sentences for w in s]``).
    """
    return np.concatenate(contextual_vectors(model, sentences, batch_size), axis=1)


def glove_features(keyed_vectors, sentences) -> np.ndarray:
    """Each token's static vector (lower-cased look-up; zeros for unknown words).

    Args:
        keyed_vectors: gensim ``KeyedVectors`` (:func:`tlbook.models.load_glove`).
        sentences: token lists or Brown records.

    Returns:
        float32 array ``(n_tokens, vector_size)``.

    Raises:
        TypeError: ``keyed_vectors`` is not a gensim ``KeyedVectors``, or
            ``sentences`` not token lists.
    """
    _check_keyed_vectors(keyed_vectors)
    words = [w.lower() for s in _as_token_lists(sentences) for w in s]
    out = np.zeros((len(words), keyed_vectors.vector_size), dtype=np.float32)
    for i, w in enumerate(words):
        if w in keyed_vectors.key_to_index:
            out[i] = keyed_vectors[w]
    return out


def random_features(sentences, dim: int = 50, seed: int = 0) -> np.ndarray:
    """A fixed random Gaussian vector per lower-cased word: an embedding
    table that learned nothing.

    The vector of a word depends only on the word, ``dim`` and ``seed``, so
    the same word gets the same vector in every call (training and test
    sentences alike).

    Returns:
        float32 array ``(n_tokens, dim)``.

    Raises:
        ValueError: ``dim`` not a positive int, ``seed`` not an int >= 0.
    """
    _check_positive("dim", dim)
    _v.non_negative_int("seed", seed)
    table: dict[str, np.ndarray] = {}
    rows = []
    for s in _as_token_lists(sentences):
        for w in s:
            w = w.lower()
            if w not in table:
                key = int.from_bytes(b"\1" + w.encode("utf-8"), "little")
                table[w] = np.random.default_rng([seed, key]).normal(
                    size=dim).astype(np.float32)
            rows.append(table[w])
    return np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
