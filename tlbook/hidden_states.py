"""Word vectors from every layer of a transformer encoder.

Used in chapters "Layer probing" and "Bank-sense separation". Sentences come
as lists of words (as in a tagged corpus); the tokenizer splits words into
subword pieces, and each word's vector at a layer is either its first piece's
vector or the mean over its pieces.

Speed comes from three things, none of which changes the vectors beyond
float32 rounding: all sentences are tokenized in one call, batches are formed
from sentences of nearly equal length in subword pieces (so padding is a few
percent of the positions), and the word vectors are gathered from each
layer's output with one indexing operation per layer instead of a Python loop
over words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _validate as _v

__all__ = ["hidden_states_by_layer", "length_sorted_batches", "POOLINGS"]

POOLINGS = ("first", "mean")


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices of the sentences in each batch, shortest sentences first.

    Sentences are sorted by length (a stable sort, so equal lengths keep input
    order) and cut into runs of ``batch_size``; each batch is then padded only
    up to its own longest sentence.

    Args:
        lengths: length of each sentence, in the positions the model sees.
        batch_size: sentences per batch (a positive int).

    Returns:
        a list of int arrays that together hold every index once.

    Raises:
        ValueError: ``batch_size`` is not a positive int (``True`` is not).
    """
    _v.positive_int("batch_size", batch_size)
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _piece_positions(word_ids: list[int | None], targets: list[int], pooling: str,
                     sentence: int) -> tuple[list[int], list[int], list[float]]:
    """For one sentence: the position of each piece to read, the target (0, 1,
    ...) it belongs to, and its weight in that target's vector."""
    first: dict[int, int] = {}
    count: dict[int, int] = {}
    for p, w in enumerate(word_ids):
        if w is not None:
            first.setdefault(w, p)
            count[w] = count.get(w, 0) + 1
    positions, owners, weights = [], [], []
    for k, t in enumerate(targets):
        if t not in first:
            raise ValueError(f"word {t} of sentence {sentence} was truncated away; "
                             "raise max_length")
        n = 1 if pooling == "first" else count[t]
        positions.extend(range(first[t], first[t] + n))
        owners.extend([k] * n)
        weights.extend([1.0 / n] * n)
    return positions, owners, weights


def hidden_states_by_layer(model, tokenizer, sentences: Sequence[Sequence[str]],
                           targets: Sequence[int | Sequence[int]] | None = None,
                           pooling: str = "first", batch_size: int = 32,
                           max_length: int = 128, device: str | None = None) -> np.ndarray:
    """Vectors of chosen words at every layer, batched.

    Sentences are sorted by their length in subword pieces so batches pad
    little (:func:`length_sorted_batches`), run under
    ``torch.inference_mode()``, and the results put back in input order.

    Args:
        model: a transformers encoder (``output_hidden_states`` is requested).
        tokenizer: its fast tokenizer (needed for ``word_ids``).
        sentences: each a list of words.
        targets: per sentence, one word index or a list of them; ``None``
            takes every word of every sentence.
        pooling: ``"first"`` (vector of a word's first subword piece) or
            ``"mean"`` (mean over its pieces).
        batch_size: sentences per forward pass.
        max_length: longer sentences are truncated; a target word cut off this
            way raises ``ValueError``.
        device: where to run; ``None`` uses the model's device.

    Returns:
        float32 array ``(n_layers + 1, n_words, hidden)``; index 0 is the
        embedding layer. Words are in sentence order, then word order.

    Raises:
        TypeError: ``sentences`` are strings rather than word lists, or a
            target is not an int (a word such as ``"bank"`` is not its index).
        ValueError: unknown ``pooling``; ``batch_size`` not a positive int;
            ``max_length`` not a positive int within the model's positions
            (``model.config.max_position_embeddings``); ``targets`` not one
            entry per sentence; a target index outside its sentence
            (negative ones too) or truncated away; ``device`` unknown or not
            available.
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    _v.positive_int("batch_size", batch_size)
    _v.max_length("max_length", max_length, model)
    _v.device("device", device)
    if isinstance(sentences, str) or not hasattr(sentences, "__len__"):
        raise _v.ArgumentTypeError(f"sentences must be a list of word lists, got "
                                   f"{sentences!r:.60}")
    if any(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be lists of words, not strings (use text.split())")
    for i, s in enumerate(sentences):
        if not all(isinstance(w, str) for w in s):
            raise TypeError(f"sentences[{i}] must be a list of str words, got {s!r:.60}")
    if targets is None:
        targets = [list(range(len(s))) for s in sentences]
    if isinstance(targets, str) or not hasattr(targets, "__len__"):
        raise _v.ArgumentTypeError(f"targets must be None or one word index (or a list of "
                                   f"them) per sentence, got {targets!r:.60}")
    if len(targets) != len(sentences):
        raise ValueError(f"targets has {len(targets)} entries for {len(sentences)} sentences")
    targets = [[t] if isinstance(t, (int, np.integer)) or isinstance(t, str) else list(t)
               for t in targets]
    for i, ts in enumerate(targets):
        for t in ts:
            _v.integer(f"targets (sentence {i})", t,
                       rule="a word index, an int (or a list of them)")
    for s, ts in zip(sentences, targets):
        bad = [t for t in ts if not 0 <= t < len(s)]
        if bad:
            raise ValueError(f"target index {bad[0]} is outside a sentence of {len(s)} words")
    offsets = np.cumsum([0] + [len(t) for t in targets])
    device = device or next(model.parameters()).device
    n_layers = model.config.num_hidden_layers + 1
    out = np.zeros((n_layers, offsets[-1], model.config.hidden_size), dtype=np.float32)
    if not sentences:
        return out

    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True,
                    truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in enc["input_ids"]]
    pieces = [_piece_positions(enc.word_ids(i), ts, pooling, i) for i, ts in enumerate(targets)]
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
    model.eval()
    with torch.inference_mode():
        for idx in length_sorted_batches(lengths, batch_size):
            # Right padding, so the piece positions stay as tokenized.
            batch = tokenizer.pad({k: [enc[k][i] for i in idx] for k in keys},
                                  padding_side="right", return_tensors="pt")
            states = model(**{k: v.to(device) for k, v in batch.items()},
                           output_hidden_states=True).hidden_states
            # One entry per piece read: its batch row and its position in that row.
            row = np.concatenate([np.full(len(pieces[i][0]), r, dtype=np.int64)
                                  for r, i in enumerate(idx)])
            pos = np.concatenate([pieces[i][0] for i in idx]).astype(np.int64)
            dest = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in idx])
            row, pos = torch.from_numpy(row).to(device), torch.from_numpy(pos).to(device)
            if pooling == "first":  # one piece per word, already in word order
                for layer, h in enumerate(states):
                    out[layer, dest] = h[row, pos].float().cpu().numpy()
            else:  # a weighted sum of each word's pieces
                n_words = [len(targets[i]) for i in idx]
                owner = torch.from_numpy(np.concatenate(
                    [start + np.asarray(pieces[i][1], dtype=np.int64)
                     for start, i in zip(np.cumsum([0] + n_words[:-1]), idx)])).to(device)
                weight = torch.tensor(np.concatenate([pieces[i][2] for i in idx]),
                                      dtype=torch.float32, device=device)[:, None]
                for layer, h in enumerate(states):
                    total = torch.zeros(sum(n_words), h.shape[-1], device=device)
                    total.index_add_(0, owner, h[row, pos].float() * weight)
                    out[layer, dest] = total.cpu().numpy()
    return out
