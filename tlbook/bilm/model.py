"""The network: :class:`BiLM`, its GloVe initialisation and :class:`ScalarMix`.

Also the argument checks that the other modules of :mod:`tlbook.bilm` share
(a model, a positive number, gensim vectors).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .. import _validate as _v
from .corpus import PAD, Vocabulary


# ------------------------------------------------------------------ the model


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` positions, leave the padding
    in place: ``(batch, seq_len, ...)`` -> same shape."""
    positions = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    last = (lengths.to(x.device) - 1).unsqueeze(1)
    index = torch.where(positions <= last, last - positions, positions)
    if x.dim() == 3:
        index = index.unsqueeze(-1).expand_as(x)
    return x.gather(1, index)


class BiLM(nn.Module):
    """An ELMo-style bidirectional LSTM language model.

    Token ids -> embedding (``embedding_dim``, shared by both directions) ->
    linear projection to ``hidden_dim`` (the token layer) -> a forward and a
    backward stack of ``num_layers`` LSTMs of width ``hidden_dim``, with a
    residual connection around every layer after the first (as in ELMo) ->
    one adaptive softmax shared by both directions.

    Args:
        vocab: the :class:`Vocabulary` (kept as ``model.vocab``).
        embedding_dim: 50 matches GloVe 6B-50d (see :func:`glove_init`).
        hidden_dim: LSTM width; each contextual layer has ``2 * hidden_dim``
            features.
        num_layers: LSTM layers per direction.
        dropout: on the token layer, between LSTM layers and before the softmax.
        cutoffs: adaptive-softmax clusters: the ``cutoffs[0]`` most frequent
            words form the head, each later cluster costs less per word.

    Raises:
        TypeError: ``vocab`` is not a :class:`Vocabulary`.
        ValueError: a size is not a positive int, ``dropout`` not in [0, 1),
            ``cutoffs`` not increasing positive ints.
    """

    def __init__(self, vocab: Vocabulary, embedding_dim: int = 50, hidden_dim: int = 256,
                 num_layers: int = 2, dropout: float = 0.1,
                 cutoffs: Sequence[int] = (2000, 6000)):
        super().__init__()
        if not isinstance(vocab, Vocabulary):
            raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
        for name, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
                            ("num_layers", num_layers)):
            _v.positive_int(name, value)
        _v.probability("dropout", dropout, include_one=False, rule="in [0, 1)")
        if isinstance(cutoffs, str) or not hasattr(cutoffs, "__iter__"):
            raise _v.ArgumentTypeError(f"cutoffs must be a sequence of ints, got {cutoffs!r}")
        for c in cutoffs:
            _v.positive_int("each of cutoffs", c)
        if list(cutoffs) != sorted(set(cutoffs)):
            raise ValueError(f"cutoffs must be strictly increasing, got {list(cutoffs)}")
        cutoffs = [c for c in cutoffs if c < len(vocab) - 1]
        self.vocab = vocab
        self.config = {"embedding_dim": embedding_dim, "hidden_dim": hidden_dim,
                       "num_layers": num_layers, "dropout": dropout, "cutoffs": list(cutoffs)}
        self.embedding = nn.Embedding(len(vocab), embedding_dim, padding_idx=PAD)
        self.project = nn.Linear(embedding_dim, hidden_dim)
        self.forward_lstms = nn.ModuleList(
            nn.LSTM(hidden_dim, hidden_dim, batch_first=True) for _ in range(num_layers))
        self.backward_lstms = nn.ModuleList(
            nn.LSTM(hidden_dim, hidden_dim, batch_first=True) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(hidden_dim, len(vocab), list(cutoffs),
                                                     div_value=4.0)

    @property
    def num_layers(self) -> int:
        return self.config["num_layers"]

    def token_layer(self, ids: torch.Tensor) -> torch.Tensor:
        """Context-free token vectors: ``(batch, seq_len)`` -> ``(batch, seq_len, hidden_dim)``."""
        return self.project(self.embedding(ids))

    def _run_stack(self, lstms: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
        states, h = [], x
        for j, lstm in enumerate(lstms):
            out, _ = lstm(self.dropout(h))
            h = out + h if j > 0 else out  # residual connection between LSTM layers
            states.append(h)
        return states

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """All states of both directions.

        Args:
            ids: ``(batch, seq_len)`` padded on the right.
            lengths: ``(batch,)`` real lengths.

        Returns:
            ``(tokens, forward_states, backward_states)``: ``tokens`` is
            ``(batch, seq_len, hidden_dim)``; each state list holds
            ``num_layers`` tensors of that shape, in left-to-right position
            order for both directions. ``forward_states[j][:, t]`` has read
            tokens ``0..t``; ``backward_states[j][:, t]`` has read tokens
            ``t..length-1``. Padding positions hold garbage.
        """
        x = self.token_layer(ids)
        forward_states = self._run_stack(self.forward_lstms, x)
        # Padding sits on the right of every row, after the reversal too, so
        # a left-to-right LSTM never reads it before a real token.
        reversed_states = self._run_stack(self.backward_lstms, _reverse_padded(x, lengths))
        backward_states = [_reverse_padded(h, lengths) for h in reversed_states]
        return x, forward_states, backward_states

    def log_likelihoods(self, ids: torch.Tensor, lengths: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of every predicted token, per direction.

        The forward LM predicts ``ids[:, t+1]`` from its top state at ``t``
        (every word and ``</s>``); the backward LM predicts ``ids[:, t-1]``
        from its top state at ``t`` (every word and ``<s>``).

        Returns:
            ``(forward, backward)``, each a 1-D tensor with one entry per
            predicted token of the batch (``sum(lengths - 1)`` entries).
        """
        _, forward_states, backward_states = self(ids, lengths)
        positions = torch.arange(ids.shape[1] - 1, device=ids.device)
        valid = positions.unsqueeze(0) < (lengths.to(ids.device) - 1).unsqueeze(1)
        top_f = self.dropout(forward_states[-1][:, :-1][valid])
        top_b = self.dropout(backward_states[-1][:, 1:][valid])
        forward = self.softmax(top_f, ids[:, 1:][valid]).output
        backward = self.softmax(top_b, ids[:, :-1][valid]).output
        return forward, backward


def glove_init(model: BiLM, keyed_vectors) -> int:
    """Copy GloVe vectors into the embedding rows of the words GloVe knows.

    Args:
        model: a :class:`BiLM` with ``embedding_dim`` equal to the vectors' size.
        keyed_vectors: gensim ``KeyedVectors`` (:func:`tlbook.models.load_glove`).

    Returns:
        How many vocabulary words were initialised this way.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``keyed_vectors`` not a
            gensim ``KeyedVectors``.
        ValueError: the sizes differ.
    """
    _check_model(model)
    _check_keyed_vectors(keyed_vectors)
    dim = model.embedding.embedding_dim
    if keyed_vectors.vector_size != dim:
        raise ValueError(f"keyed_vectors have size {keyed_vectors.vector_size}, the model's "
                         f"embedding_dim is {dim}; build the model with embedding_dim={dim}")
    found = [(i, w) for i, w in enumerate(model.vocab.words) if w in keyed_vectors.key_to_index]
    with torch.no_grad():
        rows = torch.tensor(np.stack([keyed_vectors[w] for _, w in found]))
        model.embedding.weight[[i for i, _ in found]] = rows
    return len(found)


# ------------------------------------------------------------------ argument checks


def _check_positive(name: str, value, kind=int) -> None:
    if kind is float:
        _v.positive_float(name, value, rule="a positive finite float")
    else:
        _v.positive_int(name, value)


def _check_model(model, name: str = "model") -> None:
    if not isinstance(model, BiLM):
        raise _v.ArgumentTypeError(f"{name} must be a tlbook.bilm.BiLM (e.g. "
                                   f"load_shipped_bilm()), got {type(model).__name__}")


def _check_keyed_vectors(keyed_vectors) -> None:
    if not hasattr(keyed_vectors, "key_to_index") or not hasattr(keyed_vectors, "vector_size"):
        raise _v.ArgumentTypeError(f"keyed_vectors must be a gensim KeyedVectors "
                                   f"(tlbook.models.load_glove()), got "
                                   f"{type(keyed_vectors).__name__}")


# ------------------------------------------------------------------ the scalar mix


class ScalarMix(nn.Module):
    """ELMo's task-specific mix of layers: ``gamma * sum_j softmax(w)_j h_j``.

    Args:
        num_layers: how many layers are mixed (``L + 1`` for a biLM with ``L``
            LSTM layers).
        weights: initial mixing weights ``s_j`` (non-negative, summing to 1);
            ``None`` starts from the uniform average. A weight of 0 gives
            ``w_j = -inf``, a layer left out for good.
        gamma: initial scale.

    Raises:
        ValueError: ``num_layers`` not a positive int, ``weights`` not
            ``num_layers`` numbers >= 0 summing to 1, ``gamma`` not finite.
    """

    def __init__(self, num_layers: int, weights: Sequence[float] | None = None,
                 gamma: float = 1.0):
        super().__init__()
        _check_positive("num_layers", num_layers)
        _v.real("gamma", gamma)
        if weights is None:
            logits = torch.zeros(num_layers)
        else:
            w = torch.as_tensor(weights, dtype=torch.float32)
            if w.shape != (num_layers,) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-5:
                raise ValueError(f"weights must be {num_layers} non-negative numbers summing "
                                 f"to 1, got {list(weights)!r}")
            logits = torch.log(w)
        self.logits = nn.Parameter(logits)
        self.gamma = nn.Parameter(torch.tensor(float(gamma)))

    @property
    def weights(self) -> torch.Tensor:
        """The normalised weights ``s = softmax(w)``, shape ``(num_layers,)``."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """``(num_layers, ..., dim)`` -> ``(..., dim)``."""
        if layers.shape[0] != self.logits.shape[0]:
            raise ValueError(f"layers must have {self.logits.shape[0]} layers on dimension 0, "
                             f"got shape {tuple(layers.shape)}")
        s = self.weights.view(-1, *([1] * (layers.dim() - 1)))
        return self.gamma * (s * layers).sum(0)
