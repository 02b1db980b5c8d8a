"""The corpus, the vocabulary and the batches of the biLM.

The Brown Corpus is split by files (:func:`brown_split`): the last
:data:`HELD_OUT_PER_GENRE` files of each genre are never used for pretraining,
and the POS tagger of :mod:`tlbook.bilm.tagger` trains and tests on them
(:func:`tagging_split`). :class:`Vocabulary` maps the lower-cased words to ids
(the first four are :data:`SPECIALS`), and :func:`length_sorted_batches` cuts
id sequences into padded batches of similar length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import _validate as _v

SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<s>", "</s>")
"""Special tokens, always the first four ids: padding, unknown word, sentence
start and sentence end."""
PAD, UNK, BOS, EOS = 0, 1, 2, 3

HELD_OUT_PER_GENRE = 2
"""The last two files (in sorted order) of each of the 15 Brown genres, 30
files in all, are held out from pretraining: they measure perplexity and give
the POS tagger sentences the biLM never saw."""


# ------------------------------------------------------------------ corpus and vocabulary


def held_out_files(sentences: Sequence) -> list[str]:
    """The Brown files held out from pretraining: the last
    :data:`~tlbook.bilm.corpus.HELD_OUT_PER_GENRE` files of each genre, sorted.

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
    from ..data import brown_sentences

    sentences = brown_sentences()
    held_out = set(held_out_files(sentences))
    return {"train": [s for s in sentences if s.file not in held_out],
            "held_out": [s for s in sentences if s.file in held_out]}


def tagging_split() -> dict[str, list]:
    """Sentences for feature-based POS tagging, all from the held-out files.

    The biLM never saw these sentences, so a tagger's test accuracy measures
    transfer, not memory. ``"train"`` holds the sentences of the first
    held-out file of each genre, ``"test"`` those of the second (15 files
    each; see :data:`~tlbook.bilm.corpus.HELD_OUT_PER_GENRE`).

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
    """Lower-cased words <-> ids; ids 0-3 are :data:`~tlbook.bilm.corpus.SPECIALS`.

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
