"""Words, subword tokens and spans: the pieces that sequence and token
classification share.

Used by :mod:`tlbook.finetune` (which trains on strings or on word lists) and
:mod:`tlbook.token_classification` (chapter "Token classification"), so that
both depend on this module and neither on the other:

- tokenising with truncation that says how many inputs lost their ends
  (:func:`truncating_tokenize`, :class:`TruncationWarning`);
- word labels to ids (:func:`encode_word_labels`), aligned to subword tokens
  (:func:`align_labels`: the label on the first subword of each word,
  :data:`IGNORE_INDEX` elsewhere) and back (:func:`word_predictions`);
- spans of BIO labels (:func:`spans`) and their scores with ``seqeval``
  (:func:`span_scores`), also by group of spans or of sentences
  (:func:`span_scores_by`);
- the loss of each word under a model's probabilities (:func:`word_losses`),
  to sort errors by how confidently they were made.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from . import _validate as _v

__all__ = [
    "IGNORE_INDEX",
    "TruncationWarning",
    "align_labels",
    "encode_word_labels",
    "span_scores",
    "span_scores_by",
    "spans",
    "tokenize_words",
    "truncating_tokenize",
    "word_losses",
    "word_predictions",
]

IGNORE_INDEX = -100
"""Label of positions the loss skips (PyTorch's ``cross_entropy`` default)."""


class TruncationWarning(UserWarning):
    """Some inputs were longer than the model takes and lost their ends."""


def truncating_tokenize(tokenizer, inputs: list, max_length: int, warning: str, **kwargs):
    """``tokenizer(inputs, truncation=True, ...)`` that first counts the inputs
    it has to cut and, if any, warns with ``warning.format(n_long=, n=, limit=)``
    (attributed to the caller's caller, as :func:`tokenize` is called from a
    loader). ``limit`` is ``max_length`` capped by the tokenizer's own maximum;
    ``kwargs`` go to both tokenizer calls (e.g. ``is_split_into_words``)."""
    limit = min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)
    full = tokenizer(inputs, truncation=False, verbose=False, **kwargs)
    n_long = sum(len(ids) > limit for ids in full["input_ids"])
    if n_long:
        warnings.warn(warning.format(n_long=n_long, n=len(inputs), limit=limit),
                      TruncationWarning, stacklevel=3)
    return tokenizer(inputs, truncation=True, max_length=limit, **kwargs)


def spans(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """The spans of a BIO label sequence as ``(type, start, end)`` with ``end``
    exclusive, read the way ``seqeval`` reads them (an ``I-`` after ``O`` or
    after another type starts a span).

    Raises:
        TypeError: ``labels`` is a single str or holds a non-str.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    _v.str_sequence("labels", labels)

    return [(kind, start, end + 1) for kind, start, end in get_entities(list(labels))]


def _check_word_lists(words_list, name: str = "words_list", what: str = "words"
                      ) -> list[list[str]]:
    """``words_list`` as lists: one list of str (``what``: words, or label
    names) per sentence."""
    if isinstance(words_list, str) or not isinstance(words_list, Sequence):
        raise TypeError(f"{name} must be a list of sentences, each a list of {what} "
                        f"(e.g. [sentence.split()]), got {type(words_list).__name__}")
    out = []
    for i, words in enumerate(words_list):
        if isinstance(words, str):
            raise TypeError(f"{name}[{i}] is a str; each sentence must be a list of {what} "
                            "already split, e.g. text.split()")
        if not isinstance(words, Sequence) or not all(isinstance(w, str) for w in words):
            raise TypeError(f"{name}[{i}] must be a list of str (the {what} of one sentence)")
        out.append(list(words))
    return out


def encode_word_labels(labels_list: Sequence[Sequence], label2id: dict | None = None,
                       words_list: Sequence[Sequence[str]] | None = None) -> list[list[int]]:
    """Integer label ids for each word of each sentence.

    Args:
        labels_list: one label list per sentence (names like ``"B-NAME"`` or
            ids).
        label2id: the mapping from names to ids; needed for names.
        words_list: the sentences, to check that every sentence has exactly
            one label per word.

    Raises:
        TypeError: ``labels_list`` is not a list of label lists, a label is
            a number with a fraction (``0.7``), ``label2id`` is not a dict.
        ValueError: a label list's length differs from its sentence's, or a
            label name is not in ``label2id``.
    """
    if isinstance(labels_list, str) or not isinstance(labels_list, Sequence):
        raise TypeError("labels_list must be a list with one list of labels per sentence")
    if label2id is not None and not isinstance(label2id, dict):
        raise _v.ArgumentTypeError(f"label2id must be a dict from label name to id, got "
                                   f"{type(label2id).__name__}")
    if words_list is not None and len(words_list) != len(labels_list):
        raise ValueError(f"got {len(words_list)} sentences but {len(labels_list)} label lists; "
                         "pass one label list per sentence")
    out = []
    for i, labels in enumerate(labels_list):
        if isinstance(labels, str) or not isinstance(labels, Sequence):
            raise TypeError(f"labels_list[{i}] must be a list of labels, one per word, "
                            f"got {type(labels).__name__}")
        labels = list(labels)
        if words_list is not None and len(labels) != len(words_list[i]):
            raise ValueError(
                f"sentence {i} has {len(words_list[i])} words but {len(labels)} labels; "
                "give exactly one label per word (subword alignment is done for you)")
        if any(isinstance(x, str) for x in labels):
            if label2id is None:
                raise ValueError("labels are strings (e.g. 'B-NAME') but no label2id mapping "
                                 "was given; pass label2id={'O': 0, 'B-NAME': 1, ...}")
            unknown = sorted({x for x in labels if x not in label2id})
            if unknown:
                raise ValueError(f"sentence {i} has labels {unknown} that are not in label2id "
                                 f"(known: {sorted(label2id)})")
            labels = [label2id[x] for x in labels]
        _v.whole_labels(f"labels_list[{i}]", labels)
        out.append([int(x) for x in labels])
    return out


def align_labels(word_labels: Sequence[int], word_ids: Sequence[int | None]) -> list[int]:
    """Subword labels from word labels: each word's label on its first subword,
    :data:`IGNORE_INDEX` on its other subwords and on special tokens.

    Args:
        word_labels: one label id per word, ``(n_words,)``.
        word_ids: for each subword position, the index of its word or ``None``
            (``[CLS]``, ``[SEP]``, padding): ``encoding.word_ids()`` of a fast
            tokenizer.

    Returns:
        ``(seq_len,)`` labels. Words cut off by truncation get no position.

    Raises:
        ValueError: ``word_ids`` points at a word ``word_labels`` has no label
            for (the label list is shorter than the sentence).
        TypeError: an argument is not a sequence, or a word id is neither an
            int nor ``None``.
    """
    for name, value in (("word_labels", word_labels), ("word_ids", word_ids)):
        if isinstance(value, str) or not hasattr(value, "__len__"):
            raise _v.ArgumentTypeError(f"{name} must be a sequence, got {value!r:.60}")
    for word in word_ids:
        if word is not None:
            _v.non_negative_int("each of word_ids", word,
                                rule="None or a word index (an int >= 0)")
    out, previous = [], None
    for word in word_ids:
        if word is None:
            out.append(IGNORE_INDEX)
        elif word >= len(word_labels):
            raise ValueError(f"the tokens refer to word {word} but word_labels has only "
                             f"{len(word_labels)} labels; give one label per word")
        elif word != previous:
            out.append(int(word_labels[word]))
        else:
            out.append(IGNORE_INDEX)
        previous = word
    return out


def word_predictions(logits, word_ids: Sequence[int | None], n_words: int,
                     fill: int = 0) -> np.ndarray:
    """Word labels back from subword logits: each word takes the prediction
    at its first subword (the position trained by :func:`align_labels`).

    Args:
        logits: ``(seq_len, num_labels)`` scores of one sentence (array or
            tensor); rows past ``len(word_ids)`` (padding) are ignored.
        word_ids: ``(seq_len,)`` word index per position, ``None`` for special
            tokens.
        n_words: words in the sentence.
        fill: label id for words with no subword (cut off by truncation).

    Returns:
        ``(n_words,)`` int label ids.

    Raises:
        ValueError: ``logits`` not 2-D, ``n_words`` not an int >= 0,
            ``fill`` not an int, or a word id at or past ``n_words``.
    """
    _v.non_negative_int("n_words", n_words)
    _v.integer("fill", fill)
    scores = np.asarray(logits.detach().cpu() if hasattr(logits, "detach") else logits)
    if scores.ndim != 2:
        raise ValueError(f"logits must have shape (seq_len, num_labels), got {scores.shape}")
    out = np.full(n_words, fill, dtype=np.int64)
    seen = set()
    for position, word in enumerate(word_ids):
        if word is None or word in seen:
            continue
        if word >= n_words:
            raise ValueError(f"word_ids refers to word {word} but n_words is {n_words}")
        seen.add(word)
        out[word] = int(scores[position].argmax())
    return out


def tokenize_words(words_list: Sequence[Sequence[str]], tokenizer, max_length: int = 128,
                   labels_list: Sequence[Sequence[int]] | None = None) -> dict[str, list]:
    """Tokenise pre-split sentences and align their word labels.

    Warns (once) when sentences are truncated.

    Args:
        words_list: sentences as lists of words.
        tokenizer: a *fast* tokenizer (it must provide ``word_ids()``).
        max_length: longest subword sequence kept, special tokens included.
        labels_list: optional label ids per word (see :func:`encode_word_labels`).

    Returns:
        ``{"input_ids", "attention_mask", "word_ids"}`` with one list per
        sentence, plus ``"labels"`` (aligned by :func:`align_labels`) when
        ``labels_list`` is given.

    Raises:
        TypeError: ``words_list`` is not a list of word lists.
        ValueError: the tokenizer is a slow (Python) one without ``word_ids``,
            or ``max_length`` is not a positive int.
    """
    words_list = _check_word_lists(words_list)
    _v.positive_int("max_length", max_length)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"tokenizer ({type(tokenizer).__name__}) is a slow Python tokenizer without "
            "word_ids(), which label alignment needs; load the fast one, e.g. "
            "AutoTokenizer.from_pretrained(name) (the default) or tlbook.models.load_encoder")
    if labels_list is not None:
        labels_list = encode_word_labels(labels_list, None, words_list)

    enc = truncating_tokenize(tokenizer, words_list, max_length,
                              "{n_long} of {n} sentences are longer than {limit} subword tokens "
                              "and were truncated; their last words get no prediction "
                              "(raise max_length to keep them)", is_split_into_words=True)
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
           "word_ids": [enc.word_ids(i) for i in range(len(words_list))]}
    if labels_list is not None:
        out["labels"] = [align_labels(lab, ids) for lab, ids in zip(labels_list, out["word_ids"])]
    return out


def _check_pairs(gold, pred) -> tuple[list[list[str]], list[list[str]]]:
    gold = _check_word_lists(gold, "gold", "label names")
    pred = _check_word_lists(pred, "pred", "label names")
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} labels but pred has {len(p)}")
    return gold, pred


def span_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Span-level precision, recall and F1 (``seqeval``, micro-averaged over
    span types): a predicted span counts only if its type, start and end all
    match a gold span.

    Returns:
        ``{"precision", "recall", "f1", "n_gold", "n_pred", "report"}`` where
        ``report`` is seqeval's per-type report as a dict.

    Raises:
        TypeError: ``gold`` or ``pred`` is not a list of label-name lists.
        ValueError: they differ in sentences or in labels per sentence.
    """
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    gold, pred = _check_pairs(gold, pred)
    return {"precision": precision_score(gold, pred, zero_division=0),
            "recall": recall_score(gold, pred, zero_division=0),
            "f1": f1_score(gold, pred, zero_division=0),
            "n_gold": sum(len(spans(g)) for g in gold),
            "n_pred": sum(len(spans(p)) for p in pred),
            "report": classification_report(gold, pred, output_dict=True, zero_division=0)}


def span_scores_by(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                   group: Callable[[int, tuple[str, int, int]], Hashable]) -> dict:
    """Span precision and recall inside groups of spans: the precision of a
    group is computed on the *predicted* spans that fall in it, its recall on
    the *gold* spans that fall in it, so a group (for example "names that
    start their sentence") gets both halves of the score.

    A predicted span is correct when the same ``(type, start, end)`` is a
    gold span of the same sentence, as in :func:`span_scores`.

    Args:
        gold, pred: one BIO label list per sentence (names such as ``"B-NAME"``).
        group: ``group(sentence_index, (type, start, end)) -> key``, called on
            every gold and every predicted span. A key that depends only on
            the sentence groups sentences (e.g. with or without a gold name).

    Returns:
        a dict from each key (sorted) to a dict with the counts ``gold``,
        ``found``, ``predicted``, ``correct`` and the shares ``recall`` and
        ``precision``; ``recall`` (``precision``) is ``nan`` for a group
        without gold (predicted) spans.

    Raises:
        TypeError: ``gold`` or ``pred`` is not a list of label-name lists,
            or ``group`` is not callable.
        ValueError: they differ in sentences or in labels per sentence.
    """
    if not callable(group):
        raise TypeError(f"group must be a function group(sentence_index, span) -> key, got "
                        f"{type(group).__name__}")
    gold, pred = _check_pairs(gold, pred)
    counts: dict = {}

    def add(key, field):
        counts.setdefault(key, dict.fromkeys(("gold", "found", "predicted", "correct"), 0))
        counts[key][field] += 1

    for i, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = set(spans(g)), set(spans(p))
        for span in gs:
            key = group(i, span)
            add(key, "gold")
            if span in ps:
                add(key, "found")
        for span in ps:
            key = group(i, span)
            add(key, "predicted")
            if span in gs:
                add(key, "correct")
    out = {}
    for key in sorted(counts, key=str):
        c = counts[key]
        out[key] = {"gold": c["gold"], "found": c["found"],
                    "recall": c["found"] / c["gold"] if c["gold"] else float("nan"),
                    "predicted": c["predicted"], "correct": c["correct"],
                    "precision": c["correct"] / c["predicted"] if c["predicted"] else float("nan")}
    return out


def word_losses(probabilities: Sequence, labels_list: Sequence[Sequence],
                label2id: dict | None = None) -> list[np.ndarray]:
    """The cross-entropy of each word: ``-log p(gold label)``.

    Args:
        probabilities: one ``(n_words, num_labels)`` array per sentence, rows
            summing to 1 (e.g. from
            :func:`tlbook.token_classification.word_probabilities`); a row of
            ``nan`` (a word cut off by truncation) gives a ``nan`` loss.
        labels_list: the gold labels, names (with ``label2id``) or ids.
        label2id: mapping from label names to columns of ``probabilities``.

    Returns:
        one float array ``(n_words,)`` per sentence. A sentence's mean is the
        loss the training minimised on it; its largest entries are the
        words the model got most confidently wrong.

    Raises:
        TypeError: as :func:`encode_word_labels`.
        ValueError: a probability array is not 2-D, has a row count other
            than its sentence's labels, or a label id has no column.
    """
    if isinstance(probabilities, np.ndarray) or not isinstance(probabilities, Sequence):
        raise TypeError("probabilities must be a list with one (n_words, num_labels) array "
                        "per sentence")
    ids = encode_word_labels(labels_list, label2id)
    if len(ids) != len(probabilities):
        raise ValueError(f"got {len(probabilities)} probability arrays but {len(ids)} label "
                         "lists; pass one of each per sentence")
    out = []
    for i, (probs, y) in enumerate(zip(probabilities, ids)):
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or len(probs) != len(y):
            raise ValueError(f"probabilities[{i}] must have shape ({len(y)}, num_labels), got "
                             f"{probs.shape}")
        if any(j >= probs.shape[1] for j in y):
            raise ValueError(f"sentence {i} has a label id >= num_labels ({probs.shape[1]})")
        with np.errstate(divide="ignore"):
            out.append(-np.log(probs[np.arange(len(y)), y]) if len(y) else np.zeros(0))
    return out
