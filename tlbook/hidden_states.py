"""Word vectors from every layer of a transformer encoder.

Used in chapters "Layer probing" and "Bank-sense separation". Sentences come
as lists of words (as in a tagged corpus); the tokenizer splits words into
subword pieces, and each word's vector at a layer is either its first piece's
vector or the mean over its pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hidden_states_by_layer", "POOLINGS"]

POOLINGS = ("first", "mean")


def hidden_states_by_layer(model, tokenizer, sentences: Sequence[Sequence[str]],
                           targets: Sequence[int | Sequence[int]] | None = None,
                           pooling: str = "first", batch_size: int = 32,
                           max_length: int = 128, device: str | None = None) -> np.ndarray:
    """Vectors of chosen words at every layer, batched.

    Sentences are sorted by length so batches pad little, run under
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
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if any(isinstance(s, str) for s in sentences):
        raise TypeError("sentences must be lists of words, not strings (use text.split())")
    if targets is None:
        targets = [list(range(len(s))) for s in sentences]
    if len(targets) != len(sentences):
        raise ValueError(f"targets has {len(targets)} entries for {len(sentences)} sentences")
    targets = [[t] if isinstance(t, (int, np.integer)) else list(t) for t in targets]
    for s, ts in zip(sentences, targets):
        bad = [t for t in ts if not 0 <= t < len(s)]
        if bad:
            raise ValueError(f"target index {bad[0]} is outside a sentence of {len(s)} words")
    offsets = np.cumsum([0] + [len(t) for t in targets])
    device = device or next(model.parameters()).device
    n_layers = model.config.num_hidden_layers + 1
    out = np.zeros((n_layers, offsets[-1], model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(s) for s in sentences], kind="stable")
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([list(sentences[i]) for i in idx], is_split_into_words=True,
                            padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
            states = model(**{k: v.to(device) for k, v in enc.items()},
                           output_hidden_states=True).hidden_states
            states = torch.stack(states, dim=1).float().cpu().numpy()  # (b, L+1, seq, h)
            for row, i in enumerate(idx):
                word_ids = enc.word_ids(row)
                for k, t in enumerate(targets[i]):
                    pieces = [p for p, w in enumerate(word_ids) if w == t]
                    if not pieces:
                        raise ValueError(f"word {t} of sentence {i} was truncated away; "
                                         "raise max_length")
                    vec = states[row][:, pieces[0]] if pooling == "first" else \
                        states[row][:, pieces].mean(axis=1)
                    out[:, offsets[i] + k] = vec
    return out
