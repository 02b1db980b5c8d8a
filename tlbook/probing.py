"""Linear probes: how much part-of-speech information each layer holds.

Used in chapter "Layer probing".

A probe is a small classifier trained on frozen representations to predict a
linguistic label, here the universal part-of-speech tag of each word
(Tenney et al. 2019). It is linear on purpose: a probe powerful enough could
learn the task itself from any input that tells words apart, and then its
accuracy would measure the probe, not the representation. Hewitt & Liang
(2019) make this concrete with a *control task*: every word type gets a
random but fixed label (:func:`control_labels`), a task that can only be
solved by memorising word identities. The *selectivity* of a probe is its
accuracy on the real task minus its accuracy on the control task.

The module reads in the order the chapter uses it:

1. :func:`probing_split` -- Brown sentences split into train and test by
   document, with their words and universal tags;
2. :func:`control_labels` -- the control task;
3. :func:`majority_baseline`, :func:`type_lookup_accuracy` -- the bars to beat;
4. :func:`static_word_features` -- one vector per word type (GloVe);
5. :func:`probe_accuracy_by_layer`, :func:`selectivity`, :func:`probe_table`
   -- the probes;
6. :func:`plot_probe_accuracy` -- the accuracy-per-layer figure;
7. :func:`fit_probe`, :func:`probing_features`, :func:`probe_cell` -- the
   recorded sweep ``ch5-probes`` (every layer of every representation, four
   capacities, three control seeds, the capacity chosen on dev), read back by
   :func:`probe_summary` and :func:`capacity_table`, drawn by
   :func:`plot_capacity`;
8. :func:`self_similarity` -- how context-specific each layer's vectors are.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import _validate as _v

__all__ = [
    "PROBING_GENRES",
    "ProbingSet",
    "DEV_FILES_PER_GENRE",
    "probing_split",
    "control_labels",
    "majority_baseline",
    "type_lookup_accuracy",
    "static_word_features",
    "probe_accuracy_by_layer",
    "selectivity",
    "probe_table",
    "plot_probe_accuracy",
    "fit_probe",
    "PROBE_CS",
    "REPRESENTATIONS",
    "probing_features",
    "probe_cell",
    "probe_summary",
    "capacity_table",
    "plot_capacity",
    "self_similarity",
]

PROBING_GENRES: tuple[str, ...] = ("news", "fiction", "learned")
"""Three Brown genres with different registers: reportage, narrative prose and
academic writing."""


class ProbingSet(NamedTuple):
    """The words of one split, flattened sentence by sentence.

    Attributes:
        sentences: each a list of words, ``n_sentences`` in all.
        words: every word of every sentence, in order, ``(n_words,)``.
        tags: the universal tag of each word, ``(n_words,)`` array of str.
        sentence_index: the sentence each word belongs to, ``(n_words,)`` ints.
        files: the Brown file of each sentence, ``n_sentences`` in all.
    """

    sentences: list[list[str]]
    words: list[str]
    tags: np.ndarray
    sentence_index: np.ndarray
    files: list[str]


def _check_int(name: str, value, minimum: int) -> None:
    _v.integer(name, value, minimum, rule=f"an int >= {minimum}")


def _sentence_key(words: Sequence[str]) -> bytes:
    return hashlib.sha256(" ".join(words).encode("utf-8")).digest()


DEV_FILES_PER_GENRE = 2
"""Training-side Brown files per genre set aside for the development split: the
ones just before the held-out files, in the corpus's file order."""


def probing_split(genres: Sequence[str] | str = PROBING_GENRES, n_train: int = 1500,
                  n_test: int = 500, min_words: int = 3, max_words: int = 40,
                  n_dev: int = 500) -> dict[str, ProbingSet]:
    """Brown sentences with universal tags, split into train, dev and test by document.

    The test sentences come from the Brown files that the book's biLM never
    saw in pretraining (:func:`tlbook.bilm.held_out_files`: the last two files
    of each genre); the development sentences from the
    :data:`DEV_FILES_PER_GENRE` files of each genre just before those; the
    training sentences from the other files of ``genres``. The split is
    therefore by sentence *and* by document: a probe is tested on sentences it
    never saw, from texts it never saw (though many of their words it did),
    choices such as the layer or the penalty are made on the development
    split, never on the test split, and the biLM of chapter "ELMo" can be
    probed on the same split without having read the test text.

    Within each side, sentences of ``min_words`` to ``max_words`` words are
    kept, repeated sentences once, and ordered by the sha256 of their text (a
    fixed shuffle, the same on every machine); the first ``n_test`` (resp.
    ``n_dev``, ``n_train``) are taken.

    Args:
        genres: Brown genres (see :data:`tlbook.data.BROWN_GENRES`).
        n_train: training sentences.
        n_test: test sentences.
        min_words: shortest sentence kept.
        max_words: longest sentence kept (keeps every sentence well inside the
            encoder's ``max_length``).
        n_dev: development sentences.

    Returns:
        ``{"train": ProbingSet, "dev": ProbingSet, "test": ProbingSet}``.

    Raises:
        ValueError: a size is not a positive int, ``min_words > max_words``,
            an unknown genre, or the genres hold fewer than ``n_train``
            training, ``n_dev`` development or ``n_test`` test sentences.
    """
    from .bilm import held_out_files
    from .data import brown_sentences

    _check_int("n_train", n_train, 1)
    _check_int("n_dev", n_dev, 1)
    _check_int("n_test", n_test, 1)
    _check_int("min_words", min_words, 1)
    _check_int("max_words", max_words, 1)
    if min_words > max_words:
        raise ValueError(f"min_words ({min_words}) must be <= max_words ({max_words})")
    sentences = brown_sentences(genres)
    held_out = set(held_out_files(sentences))
    files_of: dict[str, set[str]] = {}
    for s in sentences:
        if s.file not in held_out:
            files_of.setdefault(s.genre, set()).add(s.file)
    dev_files = {f for files in files_of.values()
                 for f in sorted(files)[-DEV_FILES_PER_GENRE:]}
    sides: dict[str, dict[bytes, object]] = {"train": {}, "dev": {}, "test": {}}
    for s in sentences:
        if min_words <= len(s.words) <= max_words:
            side = "test" if s.file in held_out else "dev" if s.file in dev_files else "train"
            sides[side].setdefault(_sentence_key(s.words), s)
    # A sentence repeated across splits stays in the test split, else in dev, only.
    for key in sides["test"]:
        sides["dev"].pop(key, None)
        sides["train"].pop(key, None)
    for key in sides["dev"]:
        sides["train"].pop(key, None)
    wanted = {"train": n_train, "dev": n_dev, "test": n_test}
    where = {"train": "training", "dev": "development", "test": "held-out"}
    for side, n in wanted.items():
        if len(sides[side]) < n:
            raise ValueError(f"genres {genres!r} hold {len(sides[side])} sentences of "
                             f"{min_words}-{max_words} words in their {where[side]} files; "
                             f"n_{side} = {n} is too many")
    return {side: _probing_set([unique[k] for k in sorted(unique)][:wanted[side]])
            for side, unique in sides.items()}


def _probing_set(records) -> ProbingSet:
    sentences = [list(r.words) for r in records]
    return ProbingSet(
        sentences=sentences,
        words=[w for s in sentences for w in s],
        tags=np.array([t for r in records for t in r.upos]),
        sentence_index=np.repeat(np.arange(len(sentences)), [len(s) for s in sentences]),
        files=[r.file for r in records],
    )


def _uniform(seed: int, word: str) -> float:
    """A number in [0, 1) fixed by ``(seed, word)``: the same on every machine and
    independent of the other words (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256(f"{seed}\x00{word}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def control_labels(words: Sequence[str], tags: Sequence[str], seed: int = 0,
                   lowercase: bool = True) -> np.ndarray:
    """The control task of Hewitt & Liang (2019): a random label per word type.

    Each word type gets one label drawn from the empirical distribution of
    ``tags`` (token frequencies), so the control task has the same label set
    and roughly the same label frequencies as the real one, but the label of a
    word says nothing about its context: a probe can only do well by
    memorising which type has which label. The draw for a type depends only on
    ``seed`` and the type, not on the order of ``words``.

    Pass the words of both splits at once (train and test), so a word type has
    the same control label wherever it occurs; the tags are used only for
    their distribution.

    Args:
        words: ``(n_words,)`` tokens.
        tags: ``(n_words,)`` the real labels of the same tokens.
        seed: a non-negative int; a different seed is a different control task.
        lowercase: treat ``"The"`` and ``"the"`` as one type, as an uncased
            encoder (MiniLM, bert-base-uncased) and GloVe do.

    Returns:
        ``(n_words,)`` array of labels, each one of the values in ``tags``.

    Raises:
        ValueError: ``words`` and ``tags`` differ in length or are empty, or
            ``seed`` is not a non-negative int.
        TypeError: ``words`` is a single string or holds a non-str,
            ``lowercase`` is not a bool.
    """
    if isinstance(words, str):
        raise TypeError("words must be a sequence of tokens, not one string")
    _check_int("seed", seed, 0)
    _v.boolean("lowercase", lowercase)
    _v.str_sequence("words", words)
    tags = np.asarray(tags)
    if len(words) != len(tags):
        raise ValueError(f"words and tags must have the same length, got {len(words)} "
                         f"and {len(tags)}")
    if len(words) == 0:
        raise ValueError("words must not be empty")
    labels, counts = np.unique(tags, return_counts=True)
    cdf = np.cumsum(counts) / counts.sum()
    label_of: dict[str, object] = {}
    out = []
    for word in words:
        key = word.lower() if lowercase else word
        if key not in label_of:
            # min() guards against cdf[-1] rounding to just below 1.
            label_of[key] = labels[min(np.searchsorted(cdf, _uniform(seed, key), side="right"),
                                       len(labels) - 1)]
        out.append(label_of[key])
    return np.array(out, dtype=labels.dtype)


def majority_baseline(y_train: Sequence, y_test: Sequence) -> float:
    """Test accuracy of always predicting the most frequent training label.

    Ties go to the label that sorts first. Any probe should beat this.

    Args:
        y_train: ``(n_train,)`` training labels.
        y_test: ``(n_test,)`` test labels.

    Raises:
        TypeError: a label set is a single string.
        ValueError: a label set is empty or not 1-D, or the two share no
            label (e.g. ints against strings).
    """
    y_train, y_test = _labels("y_train", y_train), _labels("y_test", y_test)
    _same_label_set(y_train, y_test)
    values, counts = np.unique(y_train, return_counts=True)
    return float(np.mean(y_test == values[np.argmax(counts)]))


def type_lookup_accuracy(train_words: Sequence[str], y_train: Sequence,
                         test_words: Sequence[str], y_test: Sequence,
                         lowercase: bool = True) -> float:
    """Test accuracy of a lookup table from word type to its most frequent label.

    The classic part-of-speech baseline, and the perfect memoriser: a test
    word seen in training gets the label it had most often there (ties: the
    label that sorts first); an unseen word gets the most frequent training
    label overall.

    Args:
        train_words: ``(n_train,)`` training tokens.
        y_train: ``(n_train,)`` their labels.
        test_words: ``(n_test,)`` test tokens.
        y_test: ``(n_test,)`` their labels.
        lowercase: look words up lower-cased.

    Raises:
        TypeError: words that are not sequences of str, ``lowercase`` not a bool.
        ValueError: words and labels of different lengths, empty labels, or
            label sets that share no label.
    """
    y_train, y_test = _labels("y_train", y_train), _labels("y_test", y_test)
    _same_label_set(y_train, y_test)
    _v.str_sequence("train_words", train_words)
    _v.str_sequence("test_words", test_words)
    _v.boolean("lowercase", lowercase)
    if len(train_words) != len(y_train) or len(test_words) != len(y_test):
        raise ValueError("train_words/y_train and test_words/y_test must have equal lengths, "
                         f"got {len(train_words)}/{len(y_train)} and "
                         f"{len(test_words)}/{len(y_test)}")
    norm = (lambda w: w.lower()) if lowercase else (lambda w: w)
    counts: dict[str, Counter] = {}
    for word, label in zip(train_words, y_train):
        counts.setdefault(norm(word), Counter())[label] += 1
    best = {w: min(c, key=lambda label: (-c[label], label)) for w, c in counts.items()}
    overall = Counter(y_train.tolist())
    fallback = min(overall, key=lambda label: (-overall[label], label))
    predicted = [best.get(norm(w), fallback) for w in test_words]
    return float(np.mean(np.array(predicted, dtype=object) == y_test.astype(object)))


def static_word_features(keyed_vectors, words: Sequence[str], lowercase: bool = True
                         ) -> tuple[np.ndarray, np.ndarray]:
    """One static vector per token (GloVe, word2vec): the same for every context.

    Args:
        keyed_vectors: a gensim ``KeyedVectors`` (e.g. from
            :func:`tlbook.models.load_glove`).
        words: ``(n_words,)`` tokens.
        lowercase: look words up lower-cased (GloVe 6B is uncased).

    Returns:
        ``(features, known)``: float32 ``(n_words, vector_size)``, zeros for a
        word the vectors do not know, and a bool ``(n_words,)`` mask of the
        known ones.

    Raises:
        TypeError: ``keyed_vectors`` is not a gensim ``KeyedVectors``,
            ``words`` not a sequence of str, ``lowercase`` not a bool.
    """
    if isinstance(words, str):
        raise TypeError("words must be a sequence of tokens, not one string")
    _check_keyed_vectors(keyed_vectors)
    _v.str_sequence("words", words)
    _v.boolean("lowercase", lowercase)
    keys = [w.lower() if lowercase else w for w in words]
    known = np.array([k in keyed_vectors.key_to_index for k in keys], dtype=bool)
    features = np.zeros((len(keys), keyed_vectors.vector_size), dtype=np.float32)
    if known.any():
        features[known] = keyed_vectors[[k for k, ok in zip(keys, known) if ok]]
    return features, known


def _check_keyed_vectors(keyed_vectors) -> None:
    if not hasattr(keyed_vectors, "key_to_index") or not hasattr(keyed_vectors, "vector_size"):
        raise _v.ArgumentTypeError(f"keyed_vectors must be a gensim KeyedVectors (e.g. "
                                   f"tlbook.models.load_glove()), got "
                                   f"{type(keyed_vectors).__name__}")


def _same_label_set(y_train: np.ndarray, y_test: np.ndarray) -> None:
    """The test labels can be compared with the training ones: with no label
    in common (ints against strings, say) every accuracy would be 0."""
    if not set(y_train.tolist()) & set(y_test.tolist()):
        raise ValueError(f"y_train and y_test share no label, so no prediction could be right: "
                         f"y_train has e.g. {sorted(set(y_train.tolist()), key=str)[:3]} "
                         f"({y_train.dtype}), y_test {sorted(set(y_test.tolist()), key=str)[:3]} "
                         f"({y_test.dtype})")


def _labels(name: str, y) -> np.ndarray:
    if isinstance(y, str):
        raise TypeError(f"{name} must be a sequence of labels, not one string")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of labels, got shape {y.shape}")
    return y


def probe_accuracy_by_layer(features: np.ndarray, y_train: Sequence, y_test: Sequence,
                            C: float = 0.1, max_iter: int = 1000) -> np.ndarray:
    """Train one linear probe per layer and return its test accuracy.

    The first ``len(y_train)`` rows of ``features`` are the training words,
    the remaining ``len(y_test)`` the test words: the order in which
    :func:`tlbook.hidden_states.hidden_states_by_layer` returns the words of
    ``train.sentences + test.sentences``. For each layer the features are
    standardised with the training words' mean and standard deviation, then
    a multinomial logistic regression (L2 penalty ``1 / C``, solver L-BFGS)
    is fitted. L-BFGS is deterministic, and each probe is run to convergence
    (scikit-learn's tolerance ``1e-4``; about 60 to 170 iterations on the
    book's probing set), because a probe stopped early reports a number that
    depends on the optimiser's budget and on the machine's rounding, and the
    control task, which asks the probe to memorise word types, is the one
    that moves most. A probe that does not converge within ``max_iter`` emits
    a ``ConvergenceWarning``. The fits run on one BLAS thread, which is faster
    for problems of this size and keeps the floating-point reductions the
    same everywhere.

    Args:
        features: ``(n_layers + 1, n_train + n_test, hidden)`` word vectors of
            every layer, or ``(n_train + n_test, hidden)`` for a single one.
        y_train: ``(n_train,)`` labels of the training words.
        y_test: ``(n_test,)`` labels of the test words.
        C: inverse L2 regularisation strength (> 0).
        max_iter: L-BFGS iterations per probe (>= 1).

    Returns:
        float array ``(n_layers + 1,)`` of test accuracies (``(1,)`` for 2-D
        features).

    Raises:
        ValueError: wrong shapes, fewer than two training labels, training
            and test labels with no label in common (ints against strings),
            ``C`` not a positive finite number, ``max_iter`` not a positive
            int, non-finite features.
    """
    features = np.asarray(features)
    if features.ndim == 2:
        features = features[None]
    if features.ndim != 3:
        raise ValueError("features must have shape (n_layers + 1, n_words, hidden) or "
                         f"(n_words, hidden), got {features.shape}")
    y_train, y_test = _labels("y_train", y_train), _labels("y_test", y_test)
    _same_label_set(y_train, y_test)
    n_train = len(y_train)
    if features.shape[1] != n_train + len(y_test):
        raise ValueError(f"features has {features.shape[1]} words, but y_train and y_test "
                         f"have {n_train} + {len(y_test)} = {n_train + len(y_test)}")
    if len(np.unique(y_train)) < 2:
        raise ValueError("y_train must contain at least two different labels")
    _v.positive_float("C", C, rule="a positive number")
    _check_int("max_iter", max_iter, 1)
    if not np.isfinite(features).all():
        raise ValueError("features must be finite (no NaN or inf)")
    accuracies = []
    for layer in features:
        probe = _fit(layer[:n_train], y_train, C, max_iter)
        accuracies.append(float(np.mean(probe.predict(layer[n_train:]) == y_test)))
    return np.array(accuracies)


def _fit(x_train: np.ndarray, y_train: np.ndarray, C: float, max_iter: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs"))
    with threadpool_limits(limits=1):
        probe.fit(np.asarray(x_train, dtype=np.float32), y_train)
    return probe


def fit_probe(x_train: np.ndarray, y_train: Sequence, C: float = 0.1, max_iter: int = 1000):
    """One linear probe: standardisation, then multinomial logistic regression.

    The probe of :func:`probe_accuracy_by_layer`, returned fitted so it can be
    scored on several splits (``probe.score(x_dev, y_dev)``) and its
    iteration count read (``probe[-1].n_iter_``). L-BFGS runs on one BLAS
    thread until scikit-learn's tolerance is met; a ``ConvergenceWarning``
    says it was not within ``max_iter``.

    Args:
        x_train: ``(n_words, hidden)`` finite features of the training words.
        y_train: ``(n_words,)`` their labels, at least two different ones.
        C: inverse L2 regularisation strength (> 0): the probe's capacity.
        max_iter: L-BFGS iterations (>= 1).

    Returns:
        a fitted scikit-learn ``Pipeline`` (``StandardScaler`` then
        ``LogisticRegression``).

    Raises:
        ValueError: ``x_train`` not 2-D, not finite or not one row per label;
            fewer than two labels; ``C`` or ``max_iter`` out of range.
    """
    x_train = np.asarray(x_train)
    y_train = _labels("y_train", y_train)
    if x_train.ndim != 2 or len(x_train) != len(y_train):
        raise ValueError(f"x_train must have shape (n_words, hidden) with one row per label "
                         f"in y_train ({len(y_train)}), got {x_train.shape}")
    if len(np.unique(y_train)) < 2:
        raise ValueError("y_train must contain at least two different labels")
    _v.positive_float("C", C, rule="a positive number")
    _check_int("max_iter", max_iter, 1)
    if not np.isfinite(x_train).all():
        raise ValueError("x_train must be finite (no NaN or inf)")
    return _fit(x_train, y_train, C, max_iter)


def selectivity(task_accuracy, control_accuracy) -> np.ndarray:
    """Task accuracy minus control accuracy (Hewitt & Liang 2019), per layer.

    High selectivity: the probe reads the property from the representation.
    Low selectivity: the probe could have learned the labels by memorising
    word identities, so its task accuracy says little about the representation.

    Args:
        task_accuracy: ``(n_layers + 1,)`` accuracies on the real task.
        control_accuracy: ``(n_layers + 1,)`` accuracies on the control task.
    """
    task, control = np.asarray(task_accuracy, float), np.asarray(control_accuracy, float)
    if task.shape != control.shape:
        raise ValueError(f"task_accuracy and control_accuracy must have the same shape, "
                         f"got {task.shape} and {control.shape}")
    return task - control


def probe_table(features: np.ndarray, task: tuple[Sequence, Sequence],
                control: tuple[Sequence, Sequence], C: float = 0.1, max_iter: int = 1000,
                layer_names: Sequence | None = None):
    """Task accuracy, control accuracy and selectivity of a probe on every layer.

    Args:
        features: as in :func:`probe_accuracy_by_layer`.
        task: ``(y_train, y_test)`` real labels.
        control: ``(y_train, y_test)`` control labels (:func:`control_labels`).
        C, max_iter: as in :func:`probe_accuracy_by_layer`.
        layer_names: one name per layer (default ``0, 1, ...``).

    Returns:
        ``pandas.DataFrame`` indexed by ``layer`` with columns ``task``,
        ``control`` and ``selectivity``.

    Raises:
        TypeError: ``task`` or ``control`` is not a pair, ``layer_names``
            not a list.
        ValueError: ``layer_names`` not one per layer (and what
            :func:`probe_accuracy_by_layer` raises).
    """
    import pandas as pd

    for name, pair in (("task", task), ("control", control)):
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise _v.ArgumentTypeError(f"{name} must be a pair (y_train, y_test), got "
                                       f"{pair!r:.60}")
    if layer_names is not None and (isinstance(layer_names, str)
                                    or not hasattr(layer_names, "__len__")):
        raise _v.ArgumentTypeError(f"layer_names must be None or a list of names, got "
                                   f"{layer_names!r:.60}")
    task_acc = probe_accuracy_by_layer(features, *task, C=C, max_iter=max_iter)
    control_acc = probe_accuracy_by_layer(features, *control, C=C, max_iter=max_iter)
    index = list(range(len(task_acc))) if layer_names is None else list(layer_names)
    if len(index) != len(task_acc):
        raise ValueError(f"layer_names has {len(index)} names for {len(task_acc)} layers")
    return pd.DataFrame({"task": task_acc, "control": control_acc,
                         "selectivity": selectivity(task_acc, control_acc)},
                        index=pd.Index(index, name="layer"))


def plot_probe_accuracy(table, majority: float,
                        reference: Mapping[str, tuple[float, float]] | None = None,
                        title: str = "Part-of-speech probes, layer by layer", ax=None,
                        others: Mapping[str, object] | None = None, name: str = "encoder"):
    """Task and control accuracy per layer, with the majority-class line.

    Colour says which labels (task or control, the book's colours), line
    style which representation: solid with circles for ``table``, dash-dot
    with triangles, then squares, for each of ``others``, dashed without
    markers for a static ``reference``.

    Args:
        table: output of :func:`probe_table` (integer layer index).
        majority: majority-class test accuracy (:func:`majority_baseline`).
        reference: ``{name: (task accuracy, control accuracy)}`` drawn as
            horizontal lines, e.g. GloVe.
        title: the figure title.
        ax: matplotlib axes to draw on (a new figure by default).
        others: ``{name: probe_table}`` of other layered models (e.g. the
            biLM), drawn on the same layer axis.
        name: the legend name of ``table``.

    Returns:
        The matplotlib axes.

    Raises:
        ValueError: ``majority`` or a reference accuracy outside [0, 1].
        TypeError: ``table`` or one of ``others`` is not a probe table, a
            reference is not a pair of accuracies, ``title``/``name`` not str.
    """
    import matplotlib.pyplot as plt

    from .runtime import COLORS

    _v.probability("majority", majority, rule="an accuracy in [0, 1]")
    for label, t in [(name, table), *(others or {}).items()]:
        if not all(c in getattr(t, "columns", ()) for c in ("task", "control")):
            raise _v.ArgumentTypeError(f"table and others must be probe_table outputs (columns "
                                       f"'task' and 'control'), got {type(t).__name__} for "
                                       f"{label!r}")
    for label, pair in (reference or {}).items():
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise _v.ArgumentTypeError(f"reference[{label!r}] must be a pair (task accuracy, "
                                       f"control accuracy), got {pair!r:.60}")
        for value in pair:
            _v.probability(f"reference[{label!r}]", value, rule="accuracies in [0, 1]")
    _v.string("title", title, allow_empty=True)
    _v.string("name", name)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.6))
    series = [(name, table, dict(ls="-", marker="o"))]
    series += [(n, t, dict(ls="-.", marker="^s"[i % 2]))
               for i, (n, t) in enumerate((others or {}).items())]
    for label, t, style in series:
        ax.plot(t.index, t["task"], color=COLORS["pretrained"], label=f"{label}, POS task",
                **style)
        ax.plot(t.index, t["control"], color=COLORS["control"], label=f"{label}, control",
                **style)
    for label, (task, control) in (reference or {}).items():
        ax.axhline(task, ls="--", lw=1.2, color=COLORS["pretrained"], label=f"{label}, POS task")
        ax.axhline(control, ls="--", lw=1.2, color=COLORS["control"],
                   label=f"{label}, control")
    ax.axhline(majority, ls=":", color=COLORS["other"], label="majority class")
    depth = max(len(t) for _, t, _ in series)
    ax.set_xticks(list(range(depth)))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("test accuracy (fraction of words)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, ncol=2)
    return ax


PROBE_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
"""The probe capacities of the recorded sweep ``ch5-probes``: inverse L2 penalties
from strong (``0.001``) to weak (``1``); each layer's is chosen on the
development split."""

REPRESENTATIONS: tuple[str, ...] = ("encoder", "encoder, random init", "biLM", "GloVe")
"""What the chapter probes: the profile's pretrained encoder, the same
architecture with random weights, the ELMo chapter's biLM and static GloVe."""


def probing_features(representation: str, sentences: Sequence[Sequence[str]], seed: int = 0,
                     pooling: str = "first") -> np.ndarray:
    """Word vectors of every layer of one of :data:`REPRESENTATIONS`.

    ``"encoder"`` is :func:`tlbook.models.load_encoder`'s model,
    ``"encoder, random init"`` the same architecture initialised from
    ``torch.manual_seed(seed)`` (``load_encoder(pretrained=False)``), both
    read by :func:`tlbook.hidden_states.hidden_states_by_layer`;
    ``"biLM"`` is the shipped biLM of chapter "ELMo"
    (:func:`tlbook.bilm.contextual_vectors`); ``"GloVe"`` the static vectors
    (:func:`static_word_features`, zeros for unknown words) as one layer.

    Args:
        representation: one of :data:`REPRESENTATIONS`.
        sentences: each a list of words.
        seed: the initialisation seed (random init only; a non-negative int).
        pooling: ``"first"`` or ``"mean"`` subword piece (the encoders only).

    Returns:
        float32 ``(n_layers + 1, n_words, hidden)``; words in sentence order.

    Raises:
        ValueError: an unknown representation or pooling, a negative seed.
    """
    from .hidden_states import POOLINGS

    _v.one_of("representation", representation, REPRESENTATIONS)
    _v.one_of("pooling", pooling, POOLINGS)
    _check_int("seed", seed, 0)
    if representation.startswith("encoder"):
        import torch

        from .hidden_states import hidden_states_by_layer
        from .models import load_encoder

        pretrained = representation == "encoder"
        if not pretrained:
            torch.manual_seed(seed)
        model, tokenizer = load_encoder(pretrained=pretrained)
        return hidden_states_by_layer(model, tokenizer, sentences, pooling=pooling)
    if representation == "biLM":
        from .bilm import contextual_vectors, load_shipped_bilm

        return np.concatenate(contextual_vectors(load_shipped_bilm(), sentences), axis=1)
    from .models import load_glove

    return static_word_features(load_glove(), [w for s in sentences for w in s])[0][None]


_SPLITS = ("train", "dev", "test")


@lru_cache(maxsize=1)
def _default_split():
    split = probing_split()
    words = [w for side in _SPLITS for w in split[side].words]
    tags = np.concatenate([split[side].tags for side in _SPLITS])
    return split, words, tags


@lru_cache(maxsize=3)
def _cell_features(representation: str, seed: int) -> np.ndarray:
    """The sweep's features, kept while a run visits the layers of a model (three
    entries: the random-init seeds of one layer follow each other)."""
    split = _default_split()[0]
    return probing_features(representation, [s for side in _SPLITS
                                              for s in split[side].sentences], seed=seed)


def probe_cell(config: dict, seed: int, features: np.ndarray | None = None) -> dict:
    """One cell of the recorded sweep ``ch5-probes``: every capacity at one layer.

    On the default :func:`probing_split` (train, dev and test), for each
    ``C`` in :data:`PROBE_CS` a probe (:func:`fit_probe`) is fitted on the
    training words with the control labels of ``seed``
    (:func:`control_labels` over the three splits) and, when the task
    depends on ``seed`` (random initialisation) or ``seed == 0``, one with
    the real tags; each is scored on dev and test. The layer's ``C`` is the
    one with the best dev task accuracy (ties: the smaller ``C``, the
    stronger penalty), and the per-word test correctness of the task probe
    at that ``C`` is kept for paired comparisons. Every probe must converge:
    a ``ConvergenceWarning`` is raised as an error.

    Args:
        config: ``{"representation": one of REPRESENTATIONS, "layer": int}``.
        seed: control-task seed, and the initialisation seed of
            ``"encoder, random init"``.
        features: the representation's features of the default split's
            words (train, dev, test in order), if already computed;
            otherwise :func:`probing_features` makes them.

    Returns:
        ``{"control dev C=...", "control test C=...", "iterations"}`` and,
        where the task is fitted, ``"task dev C=..."``, ``"task test C=..."``,
        ``"C"`` and ``"task correct"`` (a 0/1 list over the test words).

    Raises:
        ValueError: an unknown representation, a layer the features lack,
            a negative seed, features of the wrong number of words.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    if not isinstance(config, dict) or set(config) != {"representation", "layer"}:
        raise _v.ArgumentTypeError(f"config must be a dict with keys 'representation' and "
                                   f"'layer', got {config!r:.80}")
    representation, layer = config["representation"], config["layer"]
    _v.one_of("representation", representation, REPRESENTATIONS)
    _check_int("seed", seed, 0)
    _check_int("layer", layer, 0)
    split, words, tags = _default_split()
    if features is None:
        features = _cell_features(representation,
                                  seed if representation == "encoder, random init" else 0)
    features = np.asarray(features)
    if features.ndim != 3 or features.shape[1] != len(words):
        raise ValueError(f"features must have shape (n_layers + 1, {len(words)}, hidden), got "
                         f"{features.shape}")
    if layer >= len(features):
        raise ValueError(f"layer must be < {len(features)} for {representation!r}, got {layer}")
    bounds = np.cumsum([0] + [len(split[side].words) for side in _SPLITS])
    x = {side: features[layer, bounds[i]:bounds[i + 1]] for i, side in enumerate(_SPLITS)}
    labels = {"control": control_labels(words, tags, seed=seed)}
    if seed == 0 or representation == "encoder, random init":
        labels = {"task": tags, **labels}
    out: dict = {}
    iterations = 0
    kept = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for name, y in labels.items():
            y = {side: y[bounds[i]:bounds[i + 1]] for i, side in enumerate(_SPLITS)}
            for C in PROBE_CS:
                probe = fit_probe(x["train"], y["train"], C=C)
                iterations = max(iterations, int(probe[-1].n_iter_.max()))
                out[f"{name} dev C={C:g}"] = float(probe.score(x["dev"], y["dev"]))
                correct = probe.predict(x["test"]) == y["test"]
                out[f"{name} test C={C:g}"] = float(correct.mean())
                if name == "task":
                    kept[C] = correct
    if kept:
        best = max(PROBE_CS, key=lambda C: (out[f"task dev C={C:g}"], -C))
        out["C"] = best
        out["task correct"] = kept[best].astype(int).tolist()
    out["iterations"] = iterations
    return out


def _sweep_rows(sweep_table, representation: str, layer: int | None = None):
    for column in ("representation", "layer", "seed"):
        if column not in getattr(sweep_table, "columns", ()):
            raise _v.ArgumentTypeError(f"sweep_table must be tlbook.sweeps.load('ch5-probes'), "
                                       f"got {type(sweep_table).__name__} without {column!r}")
    _v.one_of("representation", representation, REPRESENTATIONS)
    rows = sweep_table[sweep_table["representation"] == representation]
    if layer is not None:
        rows = rows[rows["layer"] == layer]
    if rows.empty:
        raise ValueError(f"sweep_table holds no rows for {representation!r}"
                         + ("" if layer is None else f" at layer {layer}"))
    return rows.sort_values("seed")


def _task_seeds(rows):
    """The rows that fitted the task: every seed of a random init, else seed 0."""
    return rows[rows["task correct"].map(lambda v: isinstance(v, list))]


def probe_summary(sweep_table, representation: str, level: float = 0.95):
    """Per layer, the probe chosen on dev and its test scores with intervals.

    For each layer the capacity ``C`` is the one the sweep chose on the
    development split (per initialisation seed for a random init). Test
    accuracy on the task has a percentile bootstrap interval over the test
    words (:func:`tlbook.stats.bootstrap_interval`) when the task does not
    depend on the seed, and a Student-t interval over the initialisation
    seeds otherwise; control accuracy and selectivity (task minus control,
    seed by seed, at the same ``C``) have Student-t intervals over the
    control seeds (:func:`tlbook.stats.seed_interval`).

    Args:
        sweep_table: :func:`tlbook.sweeps.load` of ``"ch5-probes"``.
        representation: one of :data:`REPRESENTATIONS`.
        level: confidence level of the intervals.

    Returns:
        ``pandas.DataFrame`` indexed by ``layer``: ``C`` (the chosen
        capacities, as text), ``dev`` (dev task accuracy, mean over seeds),
        and :class:`tlbook.stats.Interval` objects in ``task``, ``control``
        and ``selectivity``.

    Raises:
        TypeError: ``sweep_table`` is not the sweep's table.
        ValueError: an unknown representation or one the table lacks.
    """
    import pandas as pd

    from .stats import bootstrap_interval, seed_interval

    rows = _sweep_rows(sweep_table, representation)
    out = {}
    for layer, at in rows.groupby("layer"):
        fitted = _task_seeds(at)
        chosen = dict(zip(fitted["seed"], fitted["C"]))
        # one C for every control seed of a seed-independent task
        c_of = {s: chosen.get(s, chosen.get(0)) for s in at["seed"]}
        task = {r.seed: r[f"task test C={c_of[r.seed]:g}"] for _, r in fitted.iterrows()}
        control = [r[f"control test C={c_of[r.seed]:g}"] for _, r in at.iterrows()]
        if len(fitted) > 1:
            task_iv = seed_interval(list(task.values()), level)
            sel = [task[r.seed] - c for (_, r), c in zip(at.iterrows(), control)]
        else:
            task_iv = bootstrap_interval(fitted["task correct"].iloc[0], level)
            sel = [task_iv.mean - c for c in control]
        out[layer] = {"C": ", ".join(f"{c:g}" for c in sorted(set(chosen.values()))),
                      "dev": float(np.mean([r[f"task dev C={chosen[r.seed]:g}"]
                                            for _, r in fitted.iterrows()])),
                      "task": task_iv, "control": seed_interval(control, level),
                      "selectivity": seed_interval(sel, level)}
    return pd.DataFrame(out).T.rename_axis("layer")


def capacity_table(sweep_table, representation: str, layer: int, level: float = 0.95):
    """Task and control accuracy of one layer's probe at every capacity ``C``.

    Hewitt & Liang's (2019) question: as the probe gets more capacity (a
    larger ``C``, a weaker penalty), how much of its gain is memorisation
    (control) rather than the task?

    Args:
        sweep_table: :func:`tlbook.sweeps.load` of ``"ch5-probes"``.
        representation: one of :data:`REPRESENTATIONS`.
        layer: the layer.
        level: confidence level of the intervals over seeds.

    Returns:
        ``pandas.DataFrame`` indexed by ``C`` (ascending, :data:`PROBE_CS`):
        ``dev`` and ``task`` (mean task accuracy on dev and test over the
        seeds that fitted it), :class:`tlbook.stats.Interval` objects in
        ``control`` and ``selectivity`` (over the control seeds).

    Raises:
        TypeError: ``sweep_table`` is not the sweep's table.
        ValueError: an unknown representation, a layer the table lacks.
    """
    import pandas as pd

    from .stats import seed_interval

    _check_int("layer", layer, 0)
    rows = _sweep_rows(sweep_table, representation, layer)
    fitted = _task_seeds(rows)
    seed_dependent = len(fitted) > 1
    out = {}
    for C in PROBE_CS:
        task = dict(zip(fitted["seed"], fitted[f"task test C={C:g}"]))
        control = rows[f"control test C={C:g}"].tolist()
        sel = [(task[s] if seed_dependent else task[0]) - c
               for s, c in zip(rows["seed"], control)]
        out[C] = {"dev": float(fitted[f"task dev C={C:g}"].mean()),
                  "task": float(np.mean(list(task.values()))),
                  "control": seed_interval(control, level), "selectivity": seed_interval(sel, level)}
    return pd.DataFrame(out).T.rename_axis("C")


def plot_capacity(tables: Mapping[str, object], title: str = "Probe capacity", axes=None):
    """Task and control accuracy against the probe's capacity ``C``, one panel each.

    Args:
        tables: ``{panel title: capacity_table(...)}``.
        title: the figure's title.
        axes: a sequence of matplotlib axes, one per table (new ones by default).

    Returns:
        the axes.

    Raises:
        TypeError: a table is not a :func:`capacity_table`, ``title`` not str.
        ValueError: ``tables`` empty, or a different number of axes.
    """
    import matplotlib.pyplot as plt

    from .runtime import COLORS
    from .stats import errorbar

    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("tables must be a non-empty dict of panel title -> capacity_table")
    for name, t in tables.items():
        if not all(c in getattr(t, "columns", ()) for c in ("task", "control")):
            raise _v.ArgumentTypeError(f"tables[{name!r}] must be a capacity_table, got "
                                       f"{type(t).__name__}")
    _v.string("title", title, allow_empty=True)
    if axes is None:
        fig, axes = plt.subplots(1, len(tables), figsize=(3.6 * len(tables) + 0.6, 3.8),
                                 sharey=True, squeeze=False)
        axes = axes[0]
        fig.suptitle(title)
    if len(axes) != len(tables):
        raise ValueError(f"axes must hold one axes per table ({len(tables)}), got {len(axes)}")
    for ax, (name, t) in zip(axes, tables.items()):
        cs = [float(c) for c in t.index]
        ax.plot(cs, t["task"], marker="o", color=COLORS["pretrained"], label="POS task")
        errorbar(ax, cs, list(t["control"]), color=COLORS["control"],
                 label=f"control ({t['control'].iloc[0].n} seeds)")
        ax.set_xscale("log")
        ax.set_xlabel("C (inverse L2 penalty; larger = more capacity)")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0.4, 1.0)
    axes[0].set_ylabel("test accuracy (fraction of words)")
    axes[0].legend(loc="lower right", fontsize=8)
    return axes


def self_similarity(features: np.ndarray, words: Sequence[str], min_count: int = 5,
                    lowercase: bool = True):
    """How context-specific each layer is: Ethayarajh's (2019) self-similarity.

    A word type's self-similarity at a layer is the mean cosine similarity
    between the vectors of its occurrences, over all pairs of them: 1 if the
    layer gives the word the same vector in every sentence (GloVe, the
    embedding layer), lower the more its vector depends on the context. It is
    averaged over the types with at least ``min_count`` occurrences. Because
    a layer whose vectors all point one way (*anisotropy*) makes every cosine
    high, the mean cosine between the vectors of all pairs of tokens is
    reported beside it, and their difference, the adjusted self-similarity.
    All three are exact pair averages, computed from sums of unit vectors
    (the mean cosine over the pairs of ``n`` unit vectors with sum ``s`` is
    ``(|s|^2 - n) / (n (n - 1))``), so nothing is sampled.

    Args:
        features: ``(n_layers + 1, n_words, hidden)`` or ``(n_words, hidden)``.
        words: ``(n_words,)`` the tokens.
        min_count: occurrences a type needs to count (>= 2).
        lowercase: treat ``"The"`` and ``"the"`` as one type.

    Returns:
        ``pandas.DataFrame`` indexed by ``layer``: ``self_similarity``,
        ``anisotropy`` (mean cosine between all tokens), ``adjusted``
        (their difference) and ``types`` (how many types were averaged).

    Raises:
        ValueError: features not 2-D/3-D or not one row per word, non-finite
            features, ``min_count`` < 2, no type occurring ``min_count`` times.
        TypeError: ``words`` not a sequence of str, ``lowercase`` not a bool.
    """
    import pandas as pd

    if isinstance(words, str):
        raise TypeError("words must be a sequence of tokens, not one string")
    _v.str_sequence("words", words)
    _v.boolean("lowercase", lowercase)
    _check_int("min_count", min_count, 2)
    features = np.asarray(features)
    if features.ndim == 2:
        features = features[None]
    if features.ndim != 3 or features.shape[1] != len(words):
        raise ValueError(f"features must have shape (n_layers + 1, {len(words)}, hidden), got "
                         f"{features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features must be finite (no NaN or inf)")
    keys = [w.lower() if lowercase else w for w in words]
    types, codes, counts = np.unique(keys, return_inverse=True, return_counts=True)
    kept = counts >= min_count
    if not kept.any():
        raise ValueError(f"no word type occurs {min_count} times; lower min_count")

    def mean_pair_cosine(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
        return ((sums**2).sum(axis=-1) - n) / (n * (n - 1))

    from scipy.sparse import csr_matrix

    # (types, words) membership: one product sums the unit vectors of every type
    member = csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))),
                        shape=(len(types), len(codes)))
    rows = {}
    for layer, x in enumerate(features):
        x = x.astype(np.float64)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
        sums = member @ unit
        self_sim = float(mean_pair_cosine(sums[kept], counts[kept].astype(float)).mean())
        aniso = float(mean_pair_cosine(unit.sum(axis=0), float(len(unit))))
        rows[layer] = {"self_similarity": self_sim, "anisotropy": aniso,
                       "adjusted": self_sim - aniso, "types": int(kept.sum())}
    return pd.DataFrame(rows).T.astype({"types": int}).rename_axis("layer")
