"""Word senses of "bank": labelled sentences, separation measures, a 1-NN classifier.

Used in chapter "Bank-sense separation".

A static embedding gives "bank" one vector whatever the sentence; a contextual
encoder gives it one vector per use. This module measures, layer by layer, how
far those per-use vectors sort themselves by meaning:

1. :func:`load_bank_senses` -- our own 99 labelled sentences (financial,
   river, other), and :func:`load_brown_bank_senses` -- the 76 Brown
   sentences with "bank", labelled by hand;
2. :func:`glove_target_vectors`, :func:`bilm_target_vectors` -- the target
   word's vector from a static table and from the biLM (for the encoder, use
   :func:`tlbook.hidden_states.hidden_states_by_layer`);
3. :func:`separation_ratio` -- mean between-sense over mean within-sense
   cosine distance; :func:`pca_by_layer` -- 2-D pictures;
4. :func:`nn_sense_predictions`, :func:`nn_sense_accuracy`,
   :func:`separation_by_layer` -- a 1-nearest-neighbour word-sense classifier
   under stratified cross-validation, per layer;
5. :func:`nn_sense_correct`, :func:`ratio_resamples`,
   :func:`separation_intervals` -- the same measures averaged over fold seeds
   and with bootstrap intervals over the sentences;
6. :func:`control_vectors`, :func:`context_bow_vectors`, :func:`gap_by_layer`
   -- controls from the same sentences (the other words, the full stop, a bag
   of the context words) and the target's gap over them, with intervals;
7. :func:`anisotropy_by_layer` -- the cosines of the target next to those of
   random word pairs;
8. :class:`SenseClassifier` -- the 1-NN rule fitted on one encoder layer,
   for sentences a reader types in;
9. :func:`plot_pca_by_layer`, :func:`plot_separation_by_layer`,
   :func:`plot_gap_by_layer` -- the chapter's figures, in the book's sense
   colours.

Distances are cosine distances, ``1 - cos(u, v)``, throughout: they ignore a
vector's length, which in transformer layers varies with things other than
meaning (a few outlier dimensions, the position in the sentence).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import NamedTuple

import numpy as np

from . import _validate as _v
from .runtime import COLORS

__all__ = [
    "SENSES",
    "MAIN_SENSES",
    "SenseExample",
    "tokenize",
    "load_bank_senses",
    "load_brown_bank_senses",
    "glove_target_vectors",
    "bilm_target_vectors",
    "separation_ratio",
    "pca_by_layer",
    "nn_sense_predictions",
    "nn_sense_accuracy",
    "separation_by_layer",
    "CONTROLS",
    "control_vectors",
    "context_bow_vectors",
    "nn_sense_correct",
    "ratio_resamples",
    "separation_intervals",
    "gap_by_layer",
    "anisotropy_by_layer",
    "SenseClassifier",
    "plot_pca_by_layer",
    "plot_separation_by_layer",
    "plot_gap_by_layer",
]

SENSES: tuple[str, ...] = ("financial", "river", "other")
"""The sense labels: a financial institution, the side of a river (or any
body of water), and everything else ("bank on", a bank of fog or switches, a
plane banking, a place name)."""

MAIN_SENSES: tuple[str, ...] = ("financial", "river")
"""The two senses the measures compare; ``other`` is only drawn."""

_TOKEN = re.compile(r"\w+(?:['\-]\w+)*|[^\w\s]")
_SAME = 1e-9  # cosine distances this small count as zero (rounding of identical vectors)
# Endings under which a typed-in sentence may carry the target word: "bank's",
# "banks", "boxes", "banks'" (the tokenizer keeps "'s" inside the word).
_INFLECTIONS = ("'s", "s", "es", "'", "s'")


class SenseExample(NamedTuple):
    """One use of a word in a sentence, with its sense.

    Attributes:
        id: ``"fin01"`` for our sentences, ``"<file>:<k>"`` for the ``k``-th
            Brown sentence with "bank" in corpus file ``file``.
        words: the sentence's tokens.
        target: index of the target word in ``words``.
        sense: one of :data:`SENSES`.
        source: ``"tlbook"`` for our sentences, the Brown genre otherwise.
    """

    id: str
    words: list[str]
    target: int
    sense: str
    source: str


def tokenize(text: str) -> list[str]:
    """Split ``text`` into words and punctuation marks, Brown style.

    Words keep inner apostrophes and hyphens (``"don't"``, ``"drive-in"``);
    every other non-space character is a token of its own.

    >>> tokenize("Don't bank on it.")
    ["Don't", 'bank', 'on', 'it', '.']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text)


def _find(words: Sequence[str], word: str) -> int:
    """Index of the first token equal to ``word`` ignoring case, or -1."""
    word = word.lower()
    return next((i for i, w in enumerate(words) if w.lower() == word), -1)


def _find_form(words: Sequence[str], word: str) -> int:
    """Index of the target in a typed-in sentence: the first token equal to
    ``word`` ignoring case, else the first that is ``word`` plus one of
    :data:`_INFLECTIONS` (a plural or a possessive), else -1."""
    index = _find(words, word)
    if index >= 0:
        return index
    forms = {word.lower() + ending for ending in _INFLECTIONS}
    return next((i for i, w in enumerate(words) if w.lower() in forms), -1)


def _read_tsv(name: str) -> list[dict[str, str]]:
    text = resources.files("tlbook").joinpath("assets", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def load_bank_senses(word: str = "bank") -> list[SenseExample]:
    """Our labelled sentences (``tlbook/assets/bank_senses.tsv``).

    99 sentences written for the book: 44 financial, 44 river, 11 other. Each
    has exactly one token "bank" (any case), which is the target; its position
    in the sentence varies, and so does the sentence length.

    Args:
        word: the target word; only ``"bank"`` has a labelled set.

    Returns:
        ``list[SenseExample]`` in file order (financial, river, other).
    """
    if word != "bank":
        raise ValueError(f"word must be 'bank' (the only labelled set), got {word!r}")
    out = []
    for row in _read_tsv("bank_senses.tsv"):
        words = tokenize(row["sentence"])
        out.append(SenseExample(row["id"], words, _find(words, word), row["sense"], "tlbook"))
    return out


def load_brown_bank_senses() -> list[SenseExample]:
    """The Brown sentences with the token "bank", with hand-labelled senses.

    The labels (``tlbook/assets/brown_bank_senses.tsv``, one per sentence of
    ``tlbook.data.sentences_containing("bank")``) are keyed by corpus file and
    the sentence's rank among that file's "bank" sentences; the stored text is
    compared with the corpus so a changed corpus cannot silently shift labels.
    The target is the first "bank" of the sentence. Place names ("Red Bank"),
    a cloud bank, a bank of windows, a faro bank and a railway embankment are
    ``other``.

    Returns:
        76 ``SenseExample`` in corpus order: 52 financial, 18 river, 6 other.

    Raises:
        ValueError: a corpus sentence has no label or its text differs.
    """
    from .data import sentences_containing

    labels = {(r["file"], int(r["key"])): r for r in _read_tsv("brown_bank_senses.tsv")}
    seen: dict[str, int] = {}
    out = []
    for s in sentences_containing("bank"):
        k = seen.get(s.file, 0)
        seen[s.file] = k + 1
        row = labels.get((s.file, k))
        if row is None or row["sentence"] != " ".join(s.words):
            raise ValueError(f"brown_bank_senses.tsv has no matching label for sentence {k} "
                             f"with 'bank' in Brown file {s.file}")
        out.append(SenseExample(f"{s.file}:{k}", list(s.words), _find(s.words, "bank"),
                                row["sense"], s.genre))
    return out


# ------------------------------------------------------------------ target vectors


def _check_examples(examples) -> None:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise ValueError("examples must be a non-empty list of SenseExample")
    if not all(hasattr(e, "words") and hasattr(e, "target") for e in examples):
        raise ValueError("examples must be SenseExample records (with .words and .target)")
    for i, e in enumerate(examples):
        # A negative target would silently pick a word counted from the end.
        _v.integer(f"examples[{i}].target", e.target, 0, len(e.words) - 1,
                   rule=f"a word index in [0, {len(e.words) - 1}]")


def glove_target_vectors(keyed_vectors, examples: Sequence[SenseExample]) -> np.ndarray:
    """The static vector of each example's target word (lower-cased).

    Args:
        keyed_vectors: a gensim ``KeyedVectors`` (:func:`tlbook.models.load_glove`).
        examples: the sentences.

    Returns:
        float32 array ``(1, n_examples, dim)``: one "layer", so it fits
        :func:`separation_by_layer`. The same word gives the same row every time.

    Raises:
        TypeError: ``keyed_vectors`` is not a gensim ``KeyedVectors``.
        ValueError: ``examples`` empty or not records, a target index
            outside its sentence (negative too), or a target word the
            vectors lack.
    """
    if not hasattr(keyed_vectors, "key_to_index"):
        raise _v.ArgumentTypeError(f"keyed_vectors must be a gensim KeyedVectors "
                                   f"(tlbook.models.load_glove()), got "
                                   f"{type(keyed_vectors).__name__}")
    _check_examples(examples)
    words = [e.words[e.target].lower() for e in examples]
    missing = sorted({w for w in words if w not in keyed_vectors.key_to_index})
    if missing:
        raise ValueError(f"examples have target words the keyed_vectors lack: {missing}")
    return np.stack([keyed_vectors[w] for w in words])[None].astype(np.float32)


def bilm_target_vectors(bilm, examples: Sequence[SenseExample]) -> np.ndarray:
    """The biLM's vectors of each example's target word, every layer.

    Args:
        bilm: a :class:`tlbook.bilm.BiLM`.
        examples: the sentences.

    Returns:
        float32 array ``(num_layers + 1, n_examples, 2 * hidden_dim)``; layer
        0 is the context-free token layer (see
        :func:`tlbook.bilm.contextual_vectors`).

    Raises:
        TypeError: ``bilm`` is not a :class:`tlbook.bilm.BiLM`.
        ValueError: ``examples`` empty or not records, or a target index
            outside its sentence (negative too).
    """
    from .bilm import BiLM, contextual_vectors

    if not isinstance(bilm, BiLM):
        raise _v.ArgumentTypeError(f"bilm must be a tlbook.bilm.BiLM, got {type(bilm).__name__}")
    _check_examples(examples)
    per_sentence = contextual_vectors(bilm, [list(e.words) for e in examples])
    return np.stack([v[:, e.target] for v, e in zip(per_sentence, examples)], axis=1)


# ------------------------------------------------------------------ measures


def _as_matrix(vectors, senses) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"vectors must have shape (n_examples, dim) with n_examples >= 2, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("vectors must be finite")
    y = np.asarray(senses, dtype=object)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"senses must have one label per row of vectors ({len(x)}), "
                         f"got {len(y)}")
    return x, y


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("vectors must not contain all-zero rows (cosine is undefined)")
    return x / norms


def separation_ratio(vectors, senses: Sequence[str]) -> float:
    """Mean between-sense over mean within-sense cosine distance.

    Between: the mean of ``1 - cos(u, v)`` over all pairs with different
    senses; within: over all pairs of distinct examples with the same sense.
    A ratio above 1 means uses of one sense are closer to each other than to
    uses of the other sense; 1 means the senses do not separate at all.

    Args:
        vectors: ``(n_examples, dim)``, one vector per use.
        senses: ``n_examples`` labels, at least two different ones, and at
            least one label used twice.

    Returns:
        The ratio (float). When every distance is zero, as when all vectors
        are the same (a static embedding), nothing separates and the ratio is
        1.0; when only the within-sense distances are zero it is ``inf``.
    """
    x, y = _as_matrix(vectors, senses)
    labels, counts = np.unique(y.astype(str), return_counts=True)
    if len(labels) < 2:
        raise ValueError(f"senses must contain at least two different labels, got {list(labels)}")
    if counts.max() < 2:
        raise ValueError("senses must repeat at least one label (no within-sense pairs)")
    u = _unit_rows(x)
    dist = np.clip(1.0 - u @ u.T, 0.0, 2.0)
    same = y[:, None] == y[None, :]
    off_diagonal = ~np.eye(len(y), dtype=bool)
    within = dist[same & off_diagonal].mean()
    between = dist[~same].mean()
    if within <= _SAME:
        return 1.0 if between <= _SAME else float("inf")
    return float(between / within)


def pca_by_layer(vectors, n_components: int = 2) -> np.ndarray:
    """Principal-component coordinates, fitted separately at every layer.

    Each component's sign is fixed so that its largest loading is positive,
    which makes the pictures the same from run to run.

    Args:
        vectors: ``(n_layers, n_examples, dim)``.
        n_components: how many components to keep.

    Returns:
        float64 array ``(n_layers, n_examples, n_components)``.

    Raises:
        ValueError: ``vectors`` not 3-D, ``n_components`` not an int between
            1 and the smaller of ``n_examples`` and ``dim``.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"vectors must have shape (n_layers, n_examples, dim), got {x.shape}")
    _v.integer("n_components", n_components, 1, min(x.shape[1:]))
    out = np.empty(x.shape[:2] + (n_components,))
    for layer, xl in enumerate(x):
        centred = xl - xl.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axes = vt[:n_components]
        signs = np.sign(axes[np.arange(n_components), np.abs(axes).argmax(axis=1)])
        out[layer] = centred @ (axes * signs[:, None]).T
    return out


def _nearest_sense(train: np.ndarray, train_senses: np.ndarray, test: np.ndarray,
                   labels: Sequence[str]) -> np.ndarray:
    """1-NN by cosine on unit rows; equally near neighbours vote, and a tied
    vote goes to the label that comes first in ``labels``."""
    sims = test @ train.T
    tied = sims >= sims.max(axis=1, keepdims=True) - _SAME
    votes = np.stack([(tied & (train_senses == s)[None]).sum(axis=1) for s in labels], axis=1)
    return np.asarray(labels, dtype=object)[votes.argmax(axis=1)]


def _check_fold_arguments(folds, seed) -> None:
    _v.integer("folds", folds, 2)
    # StratifiedKFold takes seeds in [0, 2**32 - 1] only.
    _v.integer("seed", seed, 0, 2**32 - 1, rule="a non-negative int below 2**32")


def _check_folds(folds, seed, y: np.ndarray) -> None:
    _check_fold_arguments(folds, seed)
    _, counts = np.unique(y.astype(str), return_counts=True)
    if len(counts) < 2:
        raise ValueError("senses must contain at least two different labels")
    if counts.min() < folds:
        raise ValueError(f"folds ({folds}) must not exceed the number of examples of the "
                         f"rarest sense ({counts.min()})")


def nn_sense_predictions(vectors, senses: Sequence[str], folds: int = 5,
                         seed: int = 0) -> np.ndarray:
    """Cross-validated 1-nearest-neighbour sense predictions (cosine).

    The examples are split into ``folds`` stratified folds (each keeps the
    sense proportions; scikit-learn's ``StratifiedKFold`` with a fixed
    shuffle); every example is predicted once, from the examples of the other
    folds, as the sense of its most cosine-similar neighbour. Neighbours that
    are equally near vote, so identical vectors predict the majority sense of
    the training folds.

    Args:
        vectors: ``(n_examples, dim)``.
        senses: ``n_examples`` labels.
        folds: number of folds, at least 2 and at most the count of the
            rarest sense.
        seed: the shuffle before splitting.

    Returns:
        object array ``(n_examples,)`` of predicted senses.

    Raises:
        ValueError: ``vectors`` not 2-D with a label per row, fewer than two
            senses, ``folds`` not an int in [2, rarest sense's count],
            ``seed`` not a non-negative int.
    """
    from sklearn.model_selection import StratifiedKFold

    x, y = _as_matrix(vectors, senses)
    _check_folds(folds, seed, y)
    u = _unit_rows(x)
    labels = sorted(set(y.astype(str)))
    pred = np.empty(len(y), dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(u, y.astype(str)):
        pred[test] = _nearest_sense(u[train], y[train], u[test], labels)
    return pred


def nn_sense_accuracy(vectors, senses: Sequence[str], folds: int = 5, seed: int = 0) -> float:
    """Share of examples whose cross-validated 1-NN sense is right.

    See :func:`nn_sense_predictions` for the arguments. With two balanced
    senses, chance is 0.5; with skewed senses, always guessing the majority
    sense already scores its share.
    """
    y = np.asarray(senses, dtype=object)
    return float(np.mean(nn_sense_predictions(vectors, senses, folds, seed) == y))


def separation_by_layer(vectors, senses: Sequence[str], folds: int = 5, seed: int = 0,
                        include: Sequence[str] = MAIN_SENSES):
    """Separation ratio and 1-NN accuracy at every layer.

    Args:
        vectors: ``(n_layers, n_examples, dim)``.
        senses: ``n_examples`` labels.
        folds, seed: as in :func:`nn_sense_predictions`.
        include: the senses compared; examples with other senses are left
            out (by default the two main senses).

    Returns:
        ``pandas.DataFrame`` indexed by ``layer`` with columns ``ratio`` and
        ``accuracy``.

    Raises:
        ValueError: ``vectors`` not 3-D, ``senses`` not one per example,
            ``include`` not senses from :data:`SENSES`, ``folds`` or ``seed``
            as in :func:`nn_sense_predictions`.
    """
    import pandas as pd

    x, y = _layers_and_keep(vectors, senses, include)
    _check_fold_arguments(folds, seed)
    rows = [{"layer": layer, "ratio": separation_ratio(xl, y),
             "accuracy": nn_sense_accuracy(xl, y, folds, seed)}
            for layer, xl in enumerate(x)]
    return pd.DataFrame(rows).set_index("layer")


# ------------------------------------------------------------------ controls and intervals

CONTROLS: tuple[str, ...] = ("mean", "last")
"""Control vectors taken from the same sentences as the target:
``"mean"``, the mean of the vectors of every other word of the sentence
(what the sentence is about), and ``"last"``, the vector of its last token
(the closing full stop in our sentences: a token with no topic of its own,
which sees the same context as the target)."""

_SEEDS = (0, 1, 2, 3, 4)


def _check_word_states(states, examples) -> np.ndarray:
    _check_examples(examples)
    x = np.asarray(states)
    total = sum(len(e.words) for e in examples)
    if x.ndim != 3 or x.shape[1] != total:
        raise ValueError(f"states must have shape (n_layers, n_words, dim) with one row per word "
                         f"of the examples ({total}), got shape {x.shape}")
    return x


def control_vectors(states, examples: Sequence[SenseExample], control: str = "mean") -> np.ndarray:
    """Vectors of another part of each example's sentence, every layer.

    A control for the target's vectors: if the sentence's topic alone sorts
    the senses, a vector that holds the topic but not the target separates
    them as well as the target's does.

    Args:
        states: ``(n_layers, n_words, dim)``, the vector of every word of every
            example in sentence order, then word order
            (:func:`tlbook.hidden_states.hidden_states_by_layer` with
            ``targets=None``, or the biLM's per-sentence arrays concatenated
            along axis 1).
        examples: the sentences.
        control: one of :data:`CONTROLS`.

    Returns:
        float32 array ``(n_layers, n_examples, dim)``.

    Raises:
        ValueError: ``states`` without one row per word, ``control`` unknown,
            a sentence with no word besides its target (``"mean"``) or whose
            last word is its target (``"last"``).
    """
    x = _check_word_states(states, examples)
    _v.one_of("control", control, CONTROLS)
    out, start = [], 0
    for i, e in enumerate(examples):
        words = x[:, start:start + len(e.words)]
        start += len(e.words)
        others = [k for k in range(len(e.words)) if k != e.target]
        if control == "last" and e.target == len(e.words) - 1:
            raise ValueError(f"examples[{i}] ends with its target: 'last' has no other token")
        if not others:
            raise ValueError(f"examples[{i}] has no word besides its target")
        out.append(words[:, others].mean(axis=1) if control == "mean" else words[:, -1])
    return np.stack(out, axis=1).astype(np.float32)


def context_bow_vectors(examples: Sequence[SenseExample], kind: str = "tfidf",
                        keyed_vectors=None) -> np.ndarray:
    """A bag of the context words of each example, without the target.

    ``"tfidf"``: scikit-learn's TF-IDF of the lower-cased words other than the
    target, fitted on these examples (every word counts, none are dropped as
    stop words). ``"glove"``: the mean static vector of those context words the
    table knows. Neither knows the order of the words nor which sense
    "bank" has: they ask how far the words around it give the sense away.

    Args:
        examples: the sentences.
        kind: ``"tfidf"`` or ``"glove"``.
        keyed_vectors: a gensim ``KeyedVectors``, needed for ``"glove"``.

    Returns:
        float32 array ``(1, n_examples, dim)``, one "layer" as for
        :func:`glove_target_vectors`.

    Raises:
        ValueError: ``kind`` unknown, ``examples`` empty or not records, a
            sentence with no context word (``"tfidf"``) or none the table
            knows (``"glove"``).
        TypeError: ``kind="glove"`` without a ``KeyedVectors``.
    """
    _v.one_of("kind", kind, ("tfidf", "glove"))
    _check_examples(examples)
    contexts = [[w.lower() for k, w in enumerate(e.words) if k != e.target] for e in examples]
    if kind == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not all(contexts):
            raise ValueError("examples must have at least one word besides the target")
        vectorizer = TfidfVectorizer(analyzer=lambda words: words)
        return vectorizer.fit_transform(contexts).toarray()[None].astype(np.float32)
    if not hasattr(keyed_vectors, "key_to_index"):
        raise _v.ArgumentTypeError(f"keyed_vectors must be a gensim KeyedVectors for "
                                   f"kind='glove', got {type(keyed_vectors).__name__}")
    rows = []
    for i, words in enumerate(contexts):
        known = [keyed_vectors[w] for w in words if w in keyed_vectors.key_to_index]
        if not known:
            raise ValueError(f"examples[{i}] has no context word that keyed_vectors knows")
        rows.append(np.mean(known, axis=0))
    return np.stack(rows)[None].astype(np.float32)


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of fold seeds, got {seeds!r}")
    for s in seeds:
        _v.integer("seeds[i]", s, 0, 2**32 - 1, rule="a non-negative int below 2**32")
    return [int(s) for s in seeds]


def nn_sense_correct(vectors, senses: Sequence[str], folds: int = 5,
                     seeds: Sequence[int] = _SEEDS) -> np.ndarray:
    """Per example, the share of fold seeds under which its cross-validated
    1-NN sense (:func:`nn_sense_predictions`) is right.

    Each seed shuffles the examples into other folds; averaging over seeds
    takes out the luck of one split, and the result, one number per example,
    can be bootstrapped over examples (:func:`tlbook.stats.bootstrap_interval`)
    or compared example by example (:func:`tlbook.stats.paired_bootstrap`).

    Args:
        vectors: ``(n_examples, dim)``.
        senses: ``n_examples`` labels.
        folds: as in :func:`nn_sense_predictions`.
        seeds: the fold seeds (the book uses five).

    Returns:
        float64 array ``(n_examples,)`` with values in ``[0, 1]``; its mean is
        the accuracy averaged over the seeds.
    """
    seeds = _check_seeds(seeds)
    y = np.asarray(senses, dtype=object)
    return np.mean([nn_sense_predictions(vectors, senses, folds, s) == y for s in seeds], axis=0)


def _resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n)``: how often each example is drawn in each bootstrap sample."""
    _v.integer("n_resamples", n_resamples, 100)
    _v.integer("seed", seed, 0, rule="a non-negative int")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_resamples, n))
    return np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)


def ratio_resamples(vectors, senses: Sequence[str], n_resamples: int = 2000,
                    seed: int = 0) -> np.ndarray:
    """The separation ratio on bootstrap samples of the examples.

    Each sample draws ``n_examples`` examples with replacement; the ratio is
    that of :func:`separation_ratio` with every pair weighted by how often its
    two examples were drawn. A pair of an example with a copy of itself is
    left out, as the diagonal is: a copy is not a second use of the sense.
    The same ``seed`` draws the same samples for any vectors of the same
    examples, so two kinds of vectors can be compared sample by sample.

    Args:
        vectors: ``(n_examples, dim)``.
        senses: ``n_examples`` labels (as for :func:`separation_ratio`).
        n_resamples: how many samples (>= 100).
        seed: seed of the draws.

    Returns:
        float64 array ``(n_resamples,)``; a sample that holds no same-sense
        pair (vanishingly rare) gives ``nan``.
    """
    x, y = _as_matrix(vectors, senses)
    separation_ratio(x, y)  # validates the labels
    u = _unit_rows(x)
    dist = np.clip(1.0 - u @ u.T, 0.0, 2.0)
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    between = (y[:, None] != y[None, :]).astype(np.float64)
    counts = _resample_counts(len(y), n_resamples, seed)

    def weighted_mean(mask):
        weight = np.einsum("ri,ij,rj->r", counts, mask, counts)
        total = np.einsum("ri,ij,rj->r", counts, mask * dist, counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / weight

    within_d, between_d = weighted_mean(same.astype(np.float64)), weighted_mean(between)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = between_d / within_d
    ratio[within_d <= _SAME] = np.where(between_d[within_d <= _SAME] <= _SAME, 1.0, np.inf)
    return ratio


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.nanquantile(samples, [0.5 - level / 2, 0.5 + level / 2])
    return float(low), float(high)


def _layers_and_keep(vectors, senses, include):
    x = np.asarray(vectors)
    if x.ndim != 3:
        raise ValueError(f"vectors must have shape (n_layers, n_examples, dim), got {x.shape}")
    y = np.asarray(senses, dtype=object)
    if len(y) != x.shape[1]:
        raise ValueError(f"senses must have one label per example ({x.shape[1]}), got {len(y)}")
    if isinstance(include, str) or not set(include) <= set(SENSES):
        raise ValueError(f"include must be a list of senses from {SENSES}, got {include!r}")
    keep = np.isin(y.astype(str), list(include))
    return x[:, keep], y[keep]


def separation_intervals(vectors, senses: Sequence[str], folds: int = 5,
                         seeds: Sequence[int] = _SEEDS, include: Sequence[str] = MAIN_SENSES,
                         level: float = 0.95, n_resamples: int = 2000, seed: int = 0):
    """:func:`separation_by_layer` with intervals.

    The accuracy is averaged over the fold ``seeds`` (:func:`nn_sense_correct`)
    and its interval is a bootstrap over examples
    (:func:`tlbook.stats.bootstrap_interval`); the ratio's interval is the
    percentile interval of :func:`ratio_resamples`.

    Args:
        vectors: ``(n_layers, n_examples, dim)``.
        senses: ``n_examples`` labels.
        folds, seeds: as in :func:`nn_sense_correct`.
        include: the senses compared (as in :func:`separation_by_layer`).
        level: confidence level of the intervals.
        n_resamples, seed: the bootstrap.

    Returns:
        ``pandas.DataFrame`` indexed by ``layer`` with columns ``ratio``,
        ``ratio_low``, ``ratio_high``, ``accuracy``, ``accuracy_low``,
        ``accuracy_high``.
    """
    import pandas as pd

    from .stats import bootstrap_interval

    _v.probability("level", level, include_one=False, rule="a number in (0, 1)")
    x, y = _layers_and_keep(vectors, senses, include)
    rows = []
    for layer, xl in enumerate(x):
        acc = bootstrap_interval(nn_sense_correct(xl, y, folds, seeds), level, n_resamples, seed)
        low, high = _percentiles(ratio_resamples(xl, y, n_resamples, seed), level)
        rows.append({"layer": layer, "ratio": separation_ratio(xl, y), "ratio_low": low,
                     "ratio_high": high, "accuracy": acc.mean, "accuracy_low": acc.low,
                     "accuracy_high": acc.high})
    return pd.DataFrame(rows).set_index("layer")


def gap_by_layer(vectors, control, senses: Sequence[str], folds: int = 5,
                 seeds: Sequence[int] = _SEEDS, include: Sequence[str] = MAIN_SENSES,
                 level: float = 0.95, n_resamples: int = 2000, seed: int = 0):
    """How much better the target's vectors separate the senses than a control's.

    Both kinds of vectors belong to the same examples, so the comparison is
    paired: the accuracy gap is :func:`tlbook.stats.paired_bootstrap` of the
    per-example correctness (:func:`nn_sense_correct`, same folds and seeds),
    the ratio gap the percentile interval of the differences of
    :func:`ratio_resamples` on the same bootstrap samples.

    Args:
        vectors: ``(n_layers, n_examples, dim)``, e.g. the target's.
        control: the control's vectors, ``(n_layers, n_examples, dim2)`` layer
            for layer, or ``(1, n_examples, dim2)`` (a bag of words) compared
            with every layer.
        senses, folds, seeds, include, level, n_resamples, seed: as in
            :func:`separation_intervals`.

    Returns:
        ``pandas.DataFrame`` indexed by ``layer`` with columns ``accuracy_gap``,
        ``accuracy_low``, ``accuracy_high``, ``ratio_gap``, ``ratio_low``,
        ``ratio_high`` (target minus control) and ``resolved`` (the accuracy
        interval excludes 0).
    """
    import pandas as pd

    from .stats import paired_bootstrap, resolved

    _v.probability("level", level, include_one=False, rule="a number in (0, 1)")
    x, y = _layers_and_keep(vectors, senses, include)
    c, _ = _layers_and_keep(control, senses, include)
    if len(c) not in (1, len(x)):
        raise ValueError(f"control must have 1 layer or as many as vectors ({len(x)}), "
                         f"got {len(c)}")
    rows = []
    for layer, xl in enumerate(x):
        cl = c[0] if len(c) == 1 else c[layer]
        acc = paired_bootstrap(nn_sense_correct(xl, y, folds, seeds),
                               nn_sense_correct(cl, y, folds, seeds), level, n_resamples, seed)
        diff = (ratio_resamples(xl, y, n_resamples, seed)
                - ratio_resamples(cl, y, n_resamples, seed))
        low, high = _percentiles(diff, level)
        rows.append({"layer": layer, "accuracy_gap": acc.diff, "accuracy_low": acc.low,
                     "accuracy_high": acc.high,
                     "ratio_gap": separation_ratio(xl, y) - separation_ratio(cl, y),
                     "ratio_low": low, "ratio_high": high, "resolved": resolved(acc)})
    return pd.DataFrame(rows).set_index("layer")


def anisotropy_by_layer(vectors, senses: Sequence[str], states, examples: Sequence[SenseExample],
                        n_pairs: int = 2000, level: float = 0.95, seed: int = 0,
                        include: Sequence[str] = MAIN_SENSES):
    """Mean cosines of the target's vectors next to a random-pair baseline.

    In many contextual models all vectors of a layer crowd into a narrow
    cone, so even unrelated words have a high cosine (Ethayarajh 2019). A
    cosine between two uses of "bank" means something only against that
    baseline: here, the cosine of ``n_pairs`` random pairs of words from two
    different sentences, with a bootstrap interval over the pairs.

    Args:
        vectors: ``(n_layers, n_examples, dim)``, the targets' vectors.
        senses: ``n_examples`` labels.
        states: ``(n_layers, n_words, dim)``, every word of the examples (as for
            :func:`control_vectors`).
        examples: the sentences of ``states``.
        n_pairs: random pairs per layer (>= 100).
        level, seed: the interval and the draw of the pairs.
        include: the senses whose within- and between-sense cosines are shown.

    Returns:
        ``pandas.DataFrame`` indexed by ``layer`` with columns ``within``,
        ``between`` (mean cosine of same-sense and different-sense pairs of
        targets), ``random``, ``random_low``, ``random_high``.
    """
    import pandas as pd

    from .stats import bootstrap_interval

    w = _check_word_states(states, examples)
    x, y = _layers_and_keep(vectors, senses, include)
    if len(w) != len(x):
        raise ValueError(f"states must have as many layers as vectors ({len(x)}), got {len(w)}")
    separation_ratio(x[0], y)  # validates the labels: two senses, within-sense pairs
    _v.integer("n_pairs", n_pairs, 100)
    _v.integer("seed", seed, 0, rule="a non-negative int")
    sentence = np.repeat(np.arange(len(examples)), [len(e.words) for e in examples])
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(sentence), (2, 4 * n_pairs))
    apart = sentence[first] != sentence[second]
    first, second = first[apart][:n_pairs], second[apart][:n_pairs]
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    rows = []
    for layer, (xl, wl) in enumerate(zip(x, w)):
        u, v = _unit_rows(xl.astype(np.float64)), _unit_rows(wl.astype(np.float64))
        cos = u @ u.T
        rand = bootstrap_interval(np.sum(v[first] * v[second], axis=1), level, seed=seed)
        rows.append({"layer": layer, "within": cos[same].mean(),
                     "between": cos[y[:, None] != y[None, :]].mean(), "random": rand.mean,
                     "random_low": rand.low, "random_high": rand.high})
    return pd.DataFrame(rows).set_index("layer")


# ------------------------------------------------------------------ classifier


class SenseClassifier:
    """A 1-nearest-neighbour sense classifier on one layer of an encoder.

    ``fit`` stores the unit-length vectors of the labelled uses at ``layer``;
    a new use gets the sense of its most cosine-similar stored use (equally
    near ones vote).

    Args:
        model, tokenizer: a transformers encoder and its fast tokenizer
            (:func:`tlbook.models.load_encoder`).
        layer: which hidden state, 0 (embeddings) to ``num_hidden_layers``.
        pooling: ``"first"`` or ``"mean"`` over a word's subword pieces.

    Example::

        clf = SenseClassifier(model, tokenizer, layer=3).fit(load_bank_senses())
        clf.predict_sentence("We fished from the bank all morning.", "bank")  # "river"
    """

    def __init__(self, model, tokenizer, layer: int, pooling: str = "first"):
        n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
        if n_layers is None:
            raise _v.ArgumentTypeError(f"model must be a transformers encoder (with "
                                       f"config.num_hidden_layers), got {type(model).__name__}")
        _v.integer("layer", layer, 0, n_layers)
        if pooling not in ("first", "mean"):
            raise ValueError(f"pooling must be 'first' or 'mean', got {pooling!r}")
        self.model, self.tokenizer = model, tokenizer
        self.layer, self.pooling = int(layer), pooling
        self.examples_: list[SenseExample] | None = None

    def _vectors(self, sentences: Sequence[Sequence[str]], targets: Sequence[int]) -> np.ndarray:
        from .hidden_states import hidden_states_by_layer

        states = hidden_states_by_layer(self.model, self.tokenizer, sentences, targets,
                                        pooling=self.pooling)
        return _unit_rows(states[self.layer].astype(np.float64))

    def _vectors_of(self, examples, vectors) -> np.ndarray:
        if vectors is None:
            return self._vectors([e.words for e in examples], [e.target for e in examples])
        x = np.asarray(vectors, dtype=np.float64)
        hidden = self.model.config.hidden_size
        if x.shape != (len(examples), hidden):
            raise ValueError(f"vectors must have shape (n_examples, hidden) = "
                             f"({len(examples)}, {hidden}), got {x.shape}")
        return _unit_rows(x)

    def fit(self, examples: Sequence[SenseExample], vectors=None) -> SenseClassifier:
        """Store the labelled uses (any senses; at least two different ones).

        Args:
            examples: the labelled sentences.
            vectors: optional ``(n_examples, hidden)``, the examples' vectors at
                this layer if already computed (``hidden_states_by_layer(...)
                [layer]``), which saves encoding them again.

        Returns:
            ``self``.
        """
        _check_examples(examples)
        if len({e.sense for e in examples}) < 2:
            raise ValueError("examples must carry at least two different senses")
        self.vectors_ = self._vectors_of(examples, vectors)
        self.examples_ = list(examples)
        self.senses_ = np.asarray([e.sense for e in examples], dtype=object)
        self.labels_ = sorted(set(self.senses_))
        return self

    def _check_fitted(self) -> None:
        if self.examples_ is None:
            raise ValueError("this SenseClassifier is not fitted yet: call fit(examples) first")

    def predict(self, examples: Sequence[SenseExample], vectors=None) -> np.ndarray:
        """Predicted senses of records with ``.words`` and ``.target``.

        Args:
            examples: the sentences.
            vectors: optional precomputed ``(n_examples, hidden)``, as in :meth:`fit`.

        Returns:
            object array ``(n_examples,)``.
        """
        self._check_fitted()
        _check_examples(examples)
        x = self._vectors_of(examples, vectors)
        return _nearest_sense(self.vectors_, self.senses_, x, self.labels_)

    def score(self, examples: Sequence[SenseExample], vectors=None) -> float:
        """Accuracy of :meth:`predict` against the examples' ``.sense``."""
        truth = np.asarray([e.sense for e in examples], dtype=object)
        return float(np.mean(self.predict(examples, vectors) == truth))

    def _locate(self, sentence: str, target_word: str) -> tuple[list[str], int]:
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"sentence must be a non-empty str, got {sentence!r}")
        if not isinstance(target_word, str) or len(tokenize(target_word)) != 1:
            raise ValueError(f"target_word must be a single word, got {target_word!r}")
        words = tokenize(sentence)
        index = _find_form(words, target_word)
        if index < 0:
            candidates = [w for w in words if w[:1].isalnum()]
            lowered = {}
            for w in candidates:
                lowered.setdefault(w.lower(), w)
            closest = [lowered[w] for w in difflib.get_close_matches(
                target_word.lower(), list(lowered), n=3, cutoff=0.0)]
            forms = ", ".join(repr(target_word.lower() + e) for e in _INFLECTIONS)
            raise ValueError(f"target_word {target_word!r} does not occur in the sentence "
                             f"{sentence!r}: looked for {target_word.lower()!r} in any case, "
                             f"and for {forms}; the closest words of the sentence are "
                             f"{closest}")
        return words, index

    def predict_sentence(self, sentence: str, target_word: str = "bank") -> str:
        """The predicted sense of ``target_word`` in ``sentence``, a plain string.

        The target is the first word equal to ``target_word`` ignoring case
        (``"Bank"``, ``"BANK"``); if there is none, the first that adds a
        plural or possessive ending (``"banks"``, ``"bank's"``, ``"banks'"``).

        Raises:
            ValueError: the classifier is not fitted, ``sentence`` is empty,
                ``target_word`` is not one word or does not occur in
                ``sentence`` (the message lists the closest words).
        """
        self._check_fitted()
        words, index = self._locate(sentence, target_word)
        return str(_nearest_sense(self.vectors_, self.senses_, self._vectors([words], [index]),
                                  self.labels_)[0])

    def nearest(self, sentence: str, target_word: str = "bank") -> tuple[SenseExample, float]:
        """The stored use most similar to ``target_word`` in ``sentence``,
        and the cosine similarity between the two. The target is found as
        in :meth:`predict_sentence`, which also lists what is raised."""
        self._check_fitted()
        words, index = self._locate(sentence, target_word)
        sims = self.vectors_ @ self._vectors([words], [index])[0]
        best = int(np.argmax(sims))
        return self.examples_[best], float(sims[best])


# ------------------------------------------------------------------ figures


def plot_pca_by_layer(coords, senses: Sequence[str], ncols: int = 4,
                      title: str = "PCA of the vectors of 'bank', layer by layer"):
    """One small scatter panel per layer, points coloured by sense.

    Args:
        coords: ``(n_layers, n_examples, >= 2)`` from :func:`pca_by_layer`.
        senses: ``n_examples`` labels from :data:`SENSES`.
        ncols: panels per row.
        title: the figure title.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    c = np.asarray(coords)
    y = np.asarray(senses, dtype=object)
    if c.ndim != 3 or c.shape[2] < 2 or len(y) != c.shape[1]:
        raise ValueError(f"coords must have shape (n_layers, n_examples, >= 2) matching "
                         f"{len(y)} senses, got {c.shape}")
    _v.positive_int("ncols", ncols)
    _v.string("title", title, allow_empty=True)
    nrows = -(-len(c) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 1.9 * nrows + 0.6),
                             squeeze=False)
    for layer, ax in enumerate(axes.flat):
        if layer >= len(c):
            ax.axis("off")
            continue
        for sense in SENSES:
            mask = y == sense
            ax.scatter(c[layer, mask, 0], c[layer, mask, 1], s=9, color=COLORS[sense],
                       label=sense, alpha=0.8)
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("PC 1", fontsize=8)
        ax.set_ylabel("PC 2", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig



def _check_tables(name: str, tables, kind: str, columns: tuple[str, str]) -> None:
    """``tables`` must be a non-empty dict of name -> a ``kind`` table with ``columns``."""
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError(f"{name} must be a non-empty dict of name -> {kind} table")
    for label, table in tables.items():
        if not all(c in getattr(table, "columns", ()) for c in columns):
            raise _v.ArgumentTypeError(f"{name}[{label!r}] must be a {kind} table "
                                       f"(columns {columns[0]!r} and {columns[1]!r}), got "
                                       f"{type(table).__name__}")

def plot_separation_by_layer(tables: Mapping[str, object], colors: Mapping[str, str] | None = None,
                             chance: float | None = 0.5,
                             title: str = "How well the senses of 'bank' separate, by layer",
                             styles: Mapping[str, Mapping] | None = None):
    """1-NN accuracy (left) and separation ratio (right) against layer.

    Args:
        tables: model name -> :func:`separation_by_layer` or
            :func:`separation_intervals` table; the intervals of the latter
            are drawn as shaded bands. A table with a single row (a static
            embedding) is drawn as a dashed horizontal line across all layers.
        colors: colour per model name (default: matplotlib's cycle).
        chance: dotted line on the accuracy panel (``None`` for none).
        title: the figure title.
        styles: per model name, extra matplotlib line arguments (``ls``,
            ``marker``, ...) that override the defaults, so models that share
            a colour can differ in line style.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    _check_tables("tables", tables, "separation_by_layer", ("accuracy", "ratio"))
    if chance is not None:
        _v.probability("chance", chance, rule="None or an accuracy in [0, 1]")
    _v.string("title", title, allow_empty=True)
    colors, styles = colors or {}, styles or {}
    unknown = sorted(set(colors) - set(tables)) + sorted(set(styles) - set(tables))
    if unknown:
        raise ValueError(f"colors and styles must name models in tables {list(tables)}, "
                         f"got {unknown}")
    fig, (ax_acc, ax_ratio) = plt.subplots(1, 2, figsize=(9, 3.6))
    depth = max(len(t) for t in tables.values())
    for i, (name, table) in enumerate(tables.items()):
        color = colors.get(name, f"C{i}")
        for ax, column in ((ax_acc, "accuracy"), (ax_ratio, "ratio")):
            banded = f"{column}_low" in table.columns and f"{column}_high" in table.columns
            if len(table) == 1:
                style = {"ls": "--", **styles.get(name, {})}
                ax.axhline(table[column].iloc[0], color=color, label=name, **style)
                if banded:
                    ax.axhspan(table[f"{column}_low"].iloc[0], table[f"{column}_high"].iloc[0],
                               color=color, alpha=0.12, lw=0)
            else:
                style = {"marker": "o", "ms": 4, **styles.get(name, {})}
                ax.plot(table.index, table[column], color=color, label=name, **style)
                if banded:
                    ax.fill_between(table.index, table[f"{column}_low"],
                                    table[f"{column}_high"], color=color, alpha=0.15, lw=0)
    if chance is not None:
        ax_acc.axhline(chance, ls=":", color="black", lw=1, label="chance")
    low = min(min(t.get("accuracy_low", t["accuracy"]).min() for t in tables.values()),
              chance or 1.0)
    ax_acc.set_ylim(min(0.4, low - 0.05), 1.02)
    ax_ratio.set_ylim(bottom=min(0.9, min(t.get("ratio_low", t["ratio"]).min()
                                          for t in tables.values()) - 0.1))
    ax_acc.set_ylabel("1-NN accuracy (cross-validated)")
    ax_acc.set_title("Nearest-neighbour sense accuracy", fontsize=10)
    ax_ratio.set_ylabel("between / within cosine distance")
    ax_ratio.set_title("Separation ratio (1 = no separation)", fontsize=10)
    for ax in (ax_acc, ax_ratio):
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_xticks(range(depth))
    ax_acc.legend(loc="center right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gap_by_layer(gaps: Mapping[str, object], colors: Mapping[str, str] | None = None,
                      title: str = "'bank' minus a control from the same sentences"):
    """Accuracy gap (left) and ratio gap (right) against layer, with intervals.

    Args:
        gaps: control name -> :func:`gap_by_layer` table.
        colors: colour per control name (default: matplotlib's cycle).
        title: the figure title.

    Returns:
        The matplotlib figure. A dotted line marks 0 (no gap); a gap whose
        interval crosses it is not resolved.
    """
    import matplotlib.pyplot as plt

    _check_tables("gaps", gaps, "gap_by_layer", ("accuracy_gap", "ratio_gap"))
    _v.string("title", title, allow_empty=True)
    colors = colors or {}
    unknown = sorted(set(colors) - set(gaps))
    if unknown:
        raise ValueError(f"colors must name controls in gaps {list(gaps)}, got {unknown}")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    offsets = np.linspace(-0.15, 0.15, len(gaps)) if len(gaps) > 1 else [0.0]
    for i, (name, table) in enumerate(gaps.items()):
        x = np.asarray(table.index, dtype=float) + offsets[i]
        for ax, column in zip(axes, ("accuracy", "ratio")):
            mid = table[f"{column}_gap"].to_numpy()
            err = [mid - table[f"{column}_low"].to_numpy(), table[f"{column}_high"].to_numpy() - mid]
            ax.errorbar(x, mid, yerr=err, color=colors.get(name, f"C{i}"), marker="o", ms=4,
                        capsize=3, label=name)
    for ax, what in zip(axes, ("1-NN accuracy", "separation ratio")):
        ax.axhline(0, ls=":", color="black", lw=1)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_ylabel(f"{what}: 'bank' minus control")
        ax.set_xticks(range(max(len(t) for t in gaps.values())))
    axes[0].set_title("Accuracy gap (paired bootstrap interval)", fontsize=10)
    axes[1].set_title("Ratio gap (paired bootstrap interval)", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
