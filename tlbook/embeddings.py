"""Sentence embeddings from a frozen encoder (chapter "Why transfer learning").

The encoder is used as a fixed feature extractor: each sentence becomes one
vector, the mean of its token vectors from the last layer, and a small
classifier is trained on top. Chapter 3 reuses this for "feature extraction".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["mean_pool", "sentence_embeddings", "POOLINGS"]

POOLINGS = ("mean", "cls")


def mean_pool(hidden, attention_mask):
    """Average token vectors, ignoring padding.

    Args:
        hidden: tensor ``(batch, seq_len, hidden)``.
        attention_mask: tensor ``(batch, seq_len)``, 1 for real tokens, 0 for pad.

    Returns:
        Tensor ``(batch, hidden)``.
    """
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
    """
    import torch

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str (wrap a single sentence in a list)")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
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
