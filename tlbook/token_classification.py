"""Token classification: one label per word, predicted from subword tokens.

Used in chapter "Token classification (NER-style)". The chapter's pieces, in
the order it builds them:

- the data: :func:`load_names` gives sentences as word lists with BIO labels,
  proper-name spans from the Brown Corpus's gold tags (``lite``) or the
  CoNLL-2003 entities (``full``);
- the alignment of word labels to subword tokens (:func:`align_labels`, the
  label on the first subword, ``-100`` elsewhere) and its inverse
  (:func:`word_predictions`), defined in :mod:`tlbook.labels` and re-exported;
- a token classifier on the profile's encoder (:func:`load_token_classifier`),
  trained by :func:`tlbook.finetune.fine_tune`, which accepts word lists;
- span-level scoring with ``seqeval`` (:func:`span_scores`), by group of
  spans or sentences (:func:`span_scores_by`, :func:`name_kind`), the density
  of names (:func:`span_rate`) and a rule baseline that calls every
  capitalised non-initial word a name (:func:`capitalisation_baseline`);
- a model's confidence per word (:func:`word_probabilities`,
  :func:`label_table`) and the loss of each word (:func:`word_losses`);
- the baselines without transfer or without fine-tuning: the same classifier
  from random weights, and a linear probe on the frozen encoder
  (:func:`probe_predictions`), compared over seeds by :func:`names_cell`,
  the cell of the recorded sweep ``ch9-names``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import datasets
import numpy as np

from . import _validate as _v
from .hidden_states import length_sorted_batches
from .labels import (  # the shared pieces, re-exported: chapters import them from here
    IGNORE_INDEX,
    _check_pairs,
    _check_word_lists,
    align_labels,
    encode_word_labels,
    span_scores,
    span_scores_by,
    spans,
    tokenize_words,
    word_losses,
    word_predictions,
)
from .profiles import Profile, get_profile, is_hub_id
from .resources import FetchError

__all__ = [
    "CONLL_LABELS",
    "INITS",
    "NAME_KINDS",
    "PROBE_C",
    "IGNORE_INDEX",
    "NAME_LABELS",
    "NAME_TAGS",
    "align_labels",
    "bio_labels",
    "bracket_spans",
    "capitalisation_baseline",
    "cell_scores",
    "encode_word_labels",
    "is_name_tag",
    "label_names",
    "label_table",
    "load_names",
    "load_token_classifier",
    "name_kind",
    "name_labels",
    "names_cell",
    "predict_words",
    "probe_predictions",
    "span_report",
    "span_rate",
    "span_scores",
    "span_scores_by",
    "spans",
    "task_sizes",
    "task_splits",
    "tokenize_words",
    "untyped",
    "word_losses",
    "word_predictions",
    "word_probabilities",
]

NAME_LABELS: tuple[str, ...] = ("O", "B-NAME", "I-NAME")
"""The lite profile's labels: outside, first word of a name, later word of a name."""

CONLL_LABELS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC",
                                 "B-MISC", "I-MISC")
"""CoNLL-2003's labels in the order of the Hub dataset's ``ner_tags`` ids."""

NAME_TAGS = frozenset({"np", "np$", "nps", "nps$"})
"""Brown's proper-noun tags (singular, possessive, plural, plural possessive)."""

_TAG_SUFFIXES = ("-tl", "-hl", "-nc")  # in a title, in a headline, a cited word

_SIZES = {
    "lite": {"train": 1200, "names_only": True, "validation": 200, "test": 1000,
             "max_length": 64, "epochs": 1, "batch_size": 16, "lr": 2e-4},
    "full": {"train": None, "names_only": False, "validation": None, "test": None,
             "max_length": 128, "epochs": 3, "batch_size": 32, "lr": 5e-5},
}

# Brown corpus files held out as whole documents, so that no article lends
# its names to both sides of a split.
_N_TEST_FILES, _N_VALIDATION_FILES = 50, 50
_CONLL_PARQUET_REVISION = "refs/convert/parquet"


def task_sizes(profile: str | Profile | None = None) -> dict:
    """The chapter's sizes for a profile: sentences per split (``None``: all),
    ``names_only`` (train only on sentences with at least one name),
    ``max_length``, ``epochs``, ``batch_size`` and ``lr``."""
    return dict(_SIZES[get_profile(profile).name])


# ---------------------------------------------------------------- labels

def is_name_tag(brown_tag: str) -> bool:
    """True when a Brown tag marks a proper noun: its base, after removing the
    suffixes ``-tl``, ``-hl`` and ``-nc``, is one of :data:`NAME_TAGS`.

    ``"np-tl"`` (a proper noun inside a title, "Fulton" in "Fulton County")
    counts; ``"nn-tl"`` ("County") does not: the suffix says where a word
    stands, not what it is. Contractions (``"np+bez"``, "Bill's" for "Bill
    is") and foreign words (``"fw-np"``) do not count either.
    """
    if not isinstance(brown_tag, str):
        raise TypeError(f"brown_tag must be a str, got {type(brown_tag).__name__}")
    return _is_name_base(brown_tag)


@lru_cache(maxsize=None)
def _is_name_base(brown_tag: str) -> bool:
    tag = brown_tag.strip().lower()
    while tag.endswith(_TAG_SUFFIXES) and len(tag) > 3:
        tag = tag[:-3]
    return tag in NAME_TAGS


def bio_labels(flags: Sequence[bool], name: str = "NAME") -> list[str]:
    """BIO labels for a run of flags: each maximal run of True words is one
    span, ``B-<name>`` on its first word and ``I-<name>`` on the rest.

    Raises:
        TypeError: ``flags`` is a str or not a sequence, ``name`` not a str.
        ValueError: ``name`` is empty.
    """
    if isinstance(flags, str) or not hasattr(flags, "__iter__"):
        raise _v.ArgumentTypeError(f"flags must be a sequence of bools, one per word, got "
                                   f"{flags!r:.60}")
    _v.string("name", name)
    out, inside = [], False
    for flag in flags:
        out.append(("I-" if inside else "B-") + name if flag else "O")
        inside = bool(flag)
    return out


def name_labels(brown_tags: Sequence[str]) -> list[str]:
    """BIO name labels of one Brown sentence: consecutive proper nouns
    (:func:`is_name_tag`) form one span.

    Raises:
        TypeError: ``brown_tags`` is a single str or holds a non-str.
    """
    _v.str_sequence("brown_tags", brown_tags)
    return bio_labels([is_name_tag(t) for t in brown_tags])


def label_names(dataset: datasets.Dataset | datasets.DatasetDict) -> list[str]:
    """The label names of a dataset's ``ner_tags`` column, in id order.

    Raises:
        TypeError: ``dataset`` is not a ``Dataset``/``DatasetDict`` whose
            ``ner_tags`` column is a list of ``ClassLabel``.
    """
    if isinstance(dataset, datasets.DatasetDict):
        dataset = next(iter(dataset.values()), None)
    feature = getattr(getattr(dataset, "features", {}).get("ner_tags"), "feature", None)
    if not isinstance(feature, datasets.ClassLabel):
        raise _v.ArgumentTypeError("dataset must be a datasets.Dataset or DatasetDict with a "
                                   "'ner_tags' column of ClassLabel lists (from load_names), "
                                   f"got {type(dataset).__name__}")
    return list(feature.names)


# ---------------------------------------------------------------- data

def _ner_features(names: Sequence[str], extra: dict | None = None) -> datasets.Features:
    cols = {"id": datasets.Value("string"), "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=list(names)))}
    return datasets.Features({**cols, **(extra or {})})


def load_names(profile: str | Profile | None = None) -> datasets.DatasetDict:
    """Sentences with BIO labels for names, split train/validation/test.

    ``lite``: every sentence of the Brown Corpus, labelled with
    :data:`NAME_LABELS` from its gold tags (:func:`name_labels`). The split is
    by corpus file, so no document contributes to two splits: files ordered by
    the sha256 of their name, 50 files test, 50 validation, 400 train. Inside
    each split sentences are ordered by the sha256 of ``"<file>/<index>"``, a
    fixed shuffle, so the first ``n`` rows are a fair sample.

    ``full``: the Hub dataset ``profile.ner`` (CoNLL-2003,
    ``eriktks/conll2003``; labels :data:`CONLL_LABELS`) with its own splits,
    each reordered by the sha256 of ``"<split>/<row>"``. The dataset is read
    from the Hub's Parquet export: its main branch holds a loading script,
    which ``datasets`` 4 and later no longer run.

    Args:
        profile: ``"lite"``, ``"full"``, a :class:`~tlbook.profiles.Profile`,
            or ``None`` for the current profile.

    Returns:
        ``DatasetDict`` with splits ``train``, ``validation``, ``test`` and
        columns ``id`` (str), ``tokens`` (list of str) and ``ner_tags`` (list
        of ClassLabel); ``lite`` adds ``file``, ``genre`` and ``brown_tags``.

    Raises:
        FetchError: ``full`` profile and the Hub cannot be reached.
    """
    from .data import _hash_order, brown_sentences

    profile = get_profile(profile)
    if is_hub_id(profile.ner):
        return _conll_from_hub(_load_hub_parquet(profile.ner))
    if profile.ner != "brown":
        raise ValueError(f"profile.ner must be 'brown' or a Hub id, got {profile.ner!r}")
    sentences = brown_sentences()
    files = sorted({s.file for s in sentences})
    order = [files[i] for i in _hash_order(files)]
    split_of = {f: "test" for f in order[:_N_TEST_FILES]}
    split_of.update({f: "validation"
                     for f in order[_N_TEST_FILES:_N_TEST_FILES + _N_VALIDATION_FILES]})
    rows: dict[str, list] = {"train": [], "validation": [], "test": []}
    position: dict[str, int] = {}
    for s in sentences:
        index = position[s.file] = position.get(s.file, -1) + 1
        rows[split_of.get(s.file, "train")].append((f"{s.file}/{index}", s))
    extra = {"file": datasets.Value("string"), "genre": datasets.Value("string"),
             "brown_tags": datasets.List(datasets.Value("string"))}
    features = _ner_features(NAME_LABELS, extra)
    label_id = {name: i for i, name in enumerate(NAME_LABELS)}
    out = {}
    for split, items in rows.items():
        items = [items[i] for i in _hash_order([key for key, _ in items])]
        out[split] = datasets.Dataset.from_dict({
            "id": [key for key, _ in items],
            "tokens": [s.words for _, s in items],
            "ner_tags": [[label_id[x] for x in name_labels(s.tags)] for _, s in items],
            "file": [s.file for _, s in items],
            "genre": [s.genre for _, s in items],
            "brown_tags": [s.tags for _, s in items]}).cast(features)
    return datasets.DatasetDict(out)


def _load_hub_parquet(dataset_id: str) -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(dataset_id, revision=_CONLL_PARQUET_REVISION)
    except Exception as err:  # the Hub client raises many types: offline, 404, auth...
        raise FetchError(
            f"Could not load {dataset_id!r} (revision {_CONLL_PARQUET_REVISION!r}) from the "
            "Hugging Face Hub (the full profile needs internet). Use the lite profile "
            "(TLBOOK_PROFILE=lite) offline."
        ) from err


def _conll_from_hub(hub: datasets.DatasetDict) -> datasets.DatasetDict:
    """CoNLL-2003-like splits (``tokens``, ``ner_tags``) -> the book's shape.

    The Parquet export normally keeps the label names; where ``ner_tags`` holds
    bare integers they are given the names of :data:`CONLL_LABELS`.
    """
    from .data import _hash_order

    out = {}
    for split in ("train", "validation", "test"):
        ds = hub[split]
        feature = getattr(ds.features["ner_tags"], "feature", None)
        names = (list(feature.names) if isinstance(feature, datasets.ClassLabel)
                 else list(CONLL_LABELS))
        if "id" not in ds.column_names:
            ds = ds.add_column("id", [str(i) for i in range(len(ds))])
        ds = ds.select_columns(["id", "tokens", "ner_tags"])
        ds = ds.cast(_ner_features(names))
        out[split] = ds.select(_hash_order([f"{split}/{i}" for i in range(len(ds))]))
    return datasets.DatasetDict(out)


# ---------------------------------------------------------------- alignment

# ---------------------------------------------------------------- model

def load_token_classifier(labels: Sequence[str], profile: str | Profile | None = None,
                          device: str | None = None, pretrained: bool = True, **kwargs):
    """The profile's pretrained encoder with a new token-classification head.

    Args:
        labels: the label names in id order, e.g. :data:`NAME_LABELS`; they
            are stored in ``model.config.id2label``.
        profile: ``"lite"`` (all-MiniLM-L6-v2) or ``"full"`` (bert-base-uncased);
            ``None`` uses the current profile.
        device: move the model there (``None`` leaves it on the CPU).
        pretrained: ``False`` gives the same architecture with freshly
            initialised weights (the no-transfer baseline; seed torch first),
            as in :func:`tlbook.models.load_encoder`.
        **kwargs: passed to ``from_pretrained``.

    Returns:
        ``(model, tokenizer)``: an ``AutoModelForTokenClassification`` in eval
        mode, whose logits have shape ``(batch, seq_len, len(labels))``.

    Raises:
        ValueError: ``labels`` is not at least 2 distinct names, or
            ``device`` is unknown or not available on this machine.
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from .models import _from_hub, _load, model_source

    if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) < 2 \
            or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be a list of at least 2 distinct label names, e.g. "
                         f"{list(NAME_LABELS)}, got {labels!r}")
    _v.device("device", device)
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}")
    source = model_source("encoder", profile)
    tokenizer = _from_hub(AutoTokenizer.from_pretrained, source)
    model = _load(AutoModelForTokenClassification, source, pretrained,
                  num_labels=len(labels), id2label=dict(enumerate(labels)),
                  label2id={x: i for i, x in enumerate(labels)}, **kwargs)
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def _check_inference(model, words_list, batch_size: int, max_length: int) -> list[list[str]]:
    """The checks of every function that runs ``model`` on word lists; returns
    ``words_list`` as lists."""
    words_list = _check_word_lists(words_list)
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    _v.max_length("max_length", max_length, model)
    return words_list


def predict_words(model, tokenizer, words_list: Sequence[Sequence[str]], batch_size: int = 64,
                  max_length: int = 128) -> list[list[str]]:
    """Predicted label names, one per word, for each sentence.

    Words cut off by truncation are labelled ``"O"`` (id 0 if there is no
    ``"O"``).

    Returns:
        ``list[list[str]]`` in the order of ``words_list``.

    Raises:
        TypeError: ``words_list`` is not a list of word lists.
        ValueError: ``batch_size`` not a positive int, ``max_length`` not a
            positive int within the model's positions.
    """
    words_list = _check_inference(model, words_list, batch_size, max_length)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    fill = next((i for i, name in id2label.items() if name == "O"), 0)
    out = []
    for logits in _first_piece_rows(model, tokenizer, words_list, batch_size, max_length,
                                    "logits"):
        cut = np.isnan(logits).any(axis=1)  # words that truncation cut off
        ids = np.where(cut, fill, np.nan_to_num(logits).argmax(axis=1))
        out.append([id2label[int(j)] for j in ids])
    return out


# ---------------------------------------------------------------- scoring

def span_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                digits: int = 3) -> str:
    """``seqeval``'s classification report as text (one row per span type).

    Raises:
        TypeError: as :func:`span_scores`.
        ValueError: as :func:`span_scores`, or ``digits`` not an int >= 0.
    """
    from seqeval.metrics import classification_report

    _v.non_negative_int("digits", digits)
    gold, pred = _check_pairs(gold, pred)
    return classification_report(gold, pred, digits=digits, zero_division=0)


def untyped(labels_list: Sequence[Sequence[str]], name: str = "NAME") -> list[list[str]]:
    """The same BIO labels with every span type replaced by ``name``
    (``B-PER`` -> ``B-NAME``), to compare a typed tagger with an untyped rule.
    Labels that are already untyped come back unchanged.

    Raises:
        TypeError: ``labels_list`` is not a list of label lists, ``name``
            not a str.
    """
    labels_list = _check_word_lists(labels_list, "labels_list", "label names")
    _v.string("name", name)
    return [[x if x == "O" else f"{x[:2]}{name}" for x in labels] for labels in labels_list]


def bracket_spans(words: Sequence[str], labels: Sequence[str]) -> str:
    """The sentence as one string with each span in square brackets, e.g.
    ``"[Mr. Hawksley] flew to [Kalamazoo] ."``.

    Raises:
        TypeError: ``words`` or ``labels`` is a str or holds a non-str.
        ValueError: they differ in length.
    """
    _v.str_sequence("words", words)
    _v.str_sequence("labels", labels)
    words = list(words)
    if len(words) != len(labels):
        raise ValueError(f"words has {len(words)} items but labels has {len(labels)}")
    out = list(words)
    for _, start, end in spans(labels):
        out[start] = "[" + out[start]
        out[end - 1] = out[end - 1] + "]"
    return " ".join(out)


def capitalisation_baseline(words_list: Sequence[Sequence[str]], name: str = "NAME"
                            ) -> list[list[str]]:
    """The rule "a capitalised word that does not start the sentence is a
    name", with consecutive such words merged into one span.

    The sentence starts at its first word that begins with a letter, so an
    opening quote or bracket does not hide the initial capital.

    Returns:
        BIO labels, one list per sentence.

    Raises:
        TypeError: ``words_list`` is not a list of word lists, ``name`` not
            a str.
    """
    _v.string("name", name)
    out = []
    for words in _check_word_lists(words_list):
        first = next((i for i, w in enumerate(words) if w[:1].isalpha()), None)
        out.append(bio_labels([i != first and w[:1].isupper() for i, w in enumerate(words)],
                              name))
    return out


# ---------------------------------------------------------------- the chapter's splits

def task_splits(names: datasets.DatasetDict, profile: str | Profile | None = None,
                names_only: bool | None = None) -> tuple:
    """``(train, validation, test)``: the first sentences of each split of
    :func:`load_names`, as many as :func:`task_sizes` gives (``None``: all).

    Args:
        names: the output of :func:`load_names`.
        profile: whose sizes to use; ``None`` the current profile.
        names_only: keep only training sentences with at least one name
            before taking the first ones; ``None`` uses the profile's choice.
            Validation and test sentences are always taken as they come.

    Raises:
        TypeError: ``names`` is not a ``DatasetDict`` with the three splits,
            or ``names_only`` not ``None``/bool.
    """
    if not isinstance(names, datasets.DatasetDict) or \
            not {"train", "validation", "test"} <= set(names):
        raise TypeError("names must be the DatasetDict of load_names() (splits train, "
                        f"validation, test), got {type(names).__name__}")
    if names_only is not None and not isinstance(names_only, bool):
        raise TypeError(f"names_only must be None, True or False, got {names_only!r}")
    sizes = task_sizes(profile)
    names_only = sizes["names_only"] if names_only is None else names_only

    def first(split, n):
        return split if n is None else split.select(range(min(n, len(split))))

    pool = names["train"]
    if names_only:
        pool = pool.select([i for i, row in enumerate(pool["ner_tags"]) if any(row)])
    return (first(pool, sizes["train"]), first(names["validation"], sizes["validation"]),
            first(names["test"], sizes["test"]))


def span_rate(labels_list: Sequence[Sequence[str]]) -> float:
    """Spans per 100 words of BIO-labelled sentences (the prior of a name
    starting at a word, times 100).

    Raises:
        TypeError: ``labels_list`` is not a list of label-name lists.
        ValueError: the sentences hold no words.
    """
    labels_list = _check_word_lists(labels_list, "labels_list", "label names")
    n_words = sum(map(len, labels_list))
    if n_words == 0:
        raise ValueError("labels_list holds no words; a rate per 100 words needs some")
    return 100 * sum(len(spans(labels)) for labels in labels_list) / n_words


NAME_KINDS = ("starts the sentence", "also a lower-case word", "other names")
"""The kinds of :func:`name_kind`, in the order it tests them."""


def name_kind(words: Sequence[str], start: int, end: int,
              lowercase_words: set[str] | frozenset[str]) -> str:
    """Which of :data:`NAME_KINDS` the span ``words[start:end]`` is.

    ``"starts the sentence"``: it begins at the sentence's first word that
    starts with a letter (the capitalisation rule cannot see those);
    ``"also a lower-case word"``: one of its words, lower-cased, is in
    ``lowercase_words`` (words seen in lower case, e.g. in the training
    files), so an uncased tokenizer gives it the pieces of a common word;
    ``"other names"``: the rest. It applies to gold and predicted spans
    alike, so a kind has both a recall and a precision
    (:func:`span_scores_by`).

    Raises:
        TypeError: ``words`` is not a list of str, ``lowercase_words`` not a set.
        ValueError: ``start``/``end`` do not delimit a non-empty span of ``words``.
    """
    _v.str_sequence("words", words)
    if not isinstance(lowercase_words, (set, frozenset)):
        raise TypeError(f"lowercase_words must be a set of str, got "
                        f"{type(lowercase_words).__name__}")
    _v.non_negative_int("start", start)
    _v.positive_int("end", end)
    if not start < end <= len(words):
        raise ValueError(f"start and end must satisfy 0 <= start < end <= len(words) = "
                         f"{len(words)}, got start={start}, end={end}")
    first = next((i for i, w in enumerate(words) if w[:1].isalpha()), None)
    if start == first:
        return NAME_KINDS[0]
    if any(w.lower() in lowercase_words for w in words[start:end]):
        return NAME_KINDS[1]
    return NAME_KINDS[2]


# ---------------------------------------------------------------- confidence and loss

def _first_piece_rows(model, tokenizer, words_list: list[list[str]], batch_size: int,
                      max_length: int, output: str) -> list[np.ndarray]:
    """Per sentence, ``(n_words, d)``: the row of ``output`` (``"logits"`` or
    ``"last_hidden_state"``) at each word's first piece; ``nan`` rows for
    words cut off by truncation."""
    import torch

    enc = tokenize_words(words_list, tokenizer, max_length)
    device = next(model.parameters()).device
    out: list[np.ndarray] = [np.zeros((0, 0))] * len(words_list)
    model.eval()
    with torch.inference_mode():
        for idx in length_sorted_batches([len(ids) for ids in enc["input_ids"]], batch_size):
            batch = tokenizer.pad({"input_ids": [enc["input_ids"][i] for i in idx],
                                   "attention_mask": [enc["attention_mask"][i] for i in idx]},
                                  return_tensors="pt")
            rows = getattr(model(**{k: v.to(device) for k, v in batch.items()}), output)
            rows = rows.float().cpu().numpy()
            for row, i in enumerate(idx):
                words = np.full((len(words_list[i]), rows.shape[-1]), np.nan, dtype=np.float32)
                seen = set()
                for position, word in enumerate(enc["word_ids"][i]):
                    if word is not None and word not in seen:
                        seen.add(word)
                        words[word] = rows[row, position]
                out[i] = words
    return out


def word_probabilities(model, tokenizer, words_list: Sequence[Sequence[str]],
                       batch_size: int = 64, max_length: int = 128) -> list[np.ndarray]:
    """The model's label probabilities for each word (softmax of the logits at
    its first piece, the position :func:`predict_words` reads).

    Returns:
        one float32 array ``(n_words, num_labels)`` per sentence, columns in
        the order of ``model.config.id2label``; words cut off by truncation
        get a row of ``nan``.

    Raises:
        TypeError: ``words_list`` is not a list of word lists.
        ValueError: ``batch_size`` not a positive int, ``max_length`` not a
            positive int within the model's positions.
    """
    words_list = _check_inference(model, words_list, batch_size, max_length)
    out = []
    for logits in _first_piece_rows(model, tokenizer, words_list, batch_size, max_length,
                                    "logits"):
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        out.append((e / e.sum(axis=1, keepdims=True)).astype(np.float32))
    return out


def label_table(model, tokenizer, sentence: str | Sequence[str], max_length: int = 128):
    """One sentence, word by word: the predicted label and its probability.

    Args:
        sentence: a string (split at white space; punctuation attached to a
            word stays part of it, so separate it with spaces as Brown does)
            or a list of words.

    Returns:
        pandas ``DataFrame`` with columns ``word``, ``label``, ``confidence``
        (the predicted label's probability), one row per word.

    Raises:
        TypeError: ``sentence`` is neither a str nor a list of str.
        ValueError: ``sentence`` holds no words.
    """
    import pandas as pd

    words = sentence.split() if isinstance(sentence, str) else sentence
    _v.str_sequence("sentence", words)
    if not words:
        raise ValueError("sentence holds no words")
    probs = word_probabilities(model, tokenizer, [list(words)], max_length=max_length)[0]
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    best = probs.argmax(axis=1)
    return pd.DataFrame({"word": list(words), "label": [id2label[int(j)] for j in best],
                         "confidence": probs[np.arange(len(words)), best].astype(float)})


# ---------------------------------------------------------------- baselines and the sweep

PROBE_C = 0.1
"""L2 strength (inverse) of the frozen-encoder probe, as in chapter "Layer probing"."""

INITS = ("pretrained", "random", "frozen")
"""The ways :func:`names_cell` starts: fine-tune the pretrained encoder,
fine-tune the same architecture from random weights, or fit a linear probe
on the frozen pretrained encoder."""


def probe_predictions(encoder, tokenizer, train_words: Sequence[Sequence[str]],
                      train_labels: Sequence[Sequence[str]],
                      test_words: Sequence[Sequence[str]], C: float = PROBE_C,
                      max_length: int = 128) -> list[list[str]]:
    """A linear probe on a frozen encoder, read as a tagger: logistic
    regression on the last layer's vector of each word's first piece
    (standardised), one label per word, no fine-tuning.

    Args:
        encoder: a transformers encoder (``AutoModel``), e.g. from
            :func:`tlbook.models.load_encoder`.
        train_words, train_labels: training sentences and their label names.
        test_words: sentences to label.
        C: inverse L2 strength of the logistic regression (> 0).

    Returns:
        label names, one list per test sentence (``"O"`` for words cut off).

    Raises:
        TypeError: the word or label lists are not lists of str lists.
        ValueError: a label list's length differs from its sentence's,
            fewer than two labels occur, ``C`` not a positive number.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    train_words = _check_word_lists(train_words, "train_words")
    test_words = _check_word_lists(test_words, "test_words")
    train_labels, _ = _check_pairs(train_labels, train_labels)
    encode_word_labels(train_labels, {x: i for i, x in enumerate(sorted(
        {x for row in train_labels for x in row}))}, train_words)  # one label per word
    _v.positive_float("C", C, rule="a positive number")
    y = np.array([x for row in train_labels for x in row])
    if len(set(y)) < 2:
        raise ValueError("train_labels must contain at least two different labels")
    X = np.concatenate(_first_piece_rows(encoder, tokenizer, train_words, 64, max_length,
                                         "last_hidden_state"))
    keep = ~np.isnan(X).any(axis=1)
    scaler = StandardScaler().fit(X[keep])
    probe = LogisticRegression(C=C, max_iter=1000, solver="lbfgs")
    with threadpool_limits(limits=1):
        probe.fit(scaler.transform(X[keep]), y[keep])
    out = []
    for rows in _first_piece_rows(encoder, tokenizer, test_words, 64, max_length,
                                  "last_hidden_state"):
        labels = np.full(len(rows), "O", dtype=object)
        ok = ~np.isnan(rows).any(axis=1)
        if ok.any():
            labels[ok] = probe.predict(scaler.transform(rows[ok]))
        out.append([str(x) for x in labels])
    return out


def names_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch9-names`` on the lite task: ``config = {"init":
    one of INITS, "names_only": bool}`` (the training sentences: only those
    with a name, or the first ones as they come).

    ``"pretrained"`` and ``"random"`` fine-tune :func:`load_token_classifier`
    (``pretrained=True``/``False``) with the chapter's settings
    (:func:`task_sizes`, validation span F1 selects the weights);
    ``"frozen"`` fits :func:`probe_predictions` and ignores ``seed``.

    Returns:
        on the test sentences: ``precision``, ``recall``, ``f1``;
        ``precision_with_names`` (on sentences with a gold name);
        ``spans_per_100_without`` (predicted spans per 100 sentences without
        one, all of them false); ``rate`` (predicted spans per 100 words);
        ``found``, each gold span 1 (found) or 0, in sentence order.
    """
    from .finetune import FineTuneConfig, fine_tune
    from .models import load_encoder

    if not isinstance(config, dict) or set(config) != {"init", "names_only"}:
        raise ValueError(f"config must be a dict with keys 'init' and 'names_only', got "
                         f"{config!r}")
    _v.one_of("init", config["init"], INITS)
    _v.boolean("names_only", config["names_only"])
    sizes = task_sizes()
    names = load_names()
    labels = label_names(names)
    train, validation, test = task_splits(names, names_only=config["names_only"])

    def as_names(split):
        return [[labels[i] for i in row] for row in split["ner_tags"]]

    if config["init"] == "frozen":
        encoder, tokenizer = load_encoder()
        pred = probe_predictions(encoder, tokenizer, train["tokens"], as_names(train),
                                 test["tokens"])
    else:
        model, tokenizer = load_token_classifier(labels,
                                                 pretrained=config["init"] == "pretrained")
        cfg = FineTuneConfig(lr=sizes["lr"], epochs=sizes["epochs"],
                             batch_size=sizes["batch_size"], max_length=sizes["max_length"],
                             metric="span_f1", progress=False, seed=seed)
        fine_tune(model, tokenizer, train["tokens"], as_names(train), validation["tokens"],
                  as_names(validation), config=cfg,
                  label2id={x: i for i, x in enumerate(labels)})
        pred = predict_words(model, tokenizer, test["tokens"], max_length=128)
    return cell_scores(as_names(test), pred)


def cell_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """The numbers :func:`names_cell` returns, from gold and predicted labels."""
    gold, pred = untyped(gold), untyped(pred)
    total = span_scores(gold, pred)
    by_type = span_scores_by(gold, pred, lambda i, span: bool(spans(gold[i])))
    without = [p for g, p in zip(gold, pred) if not spans(g)]
    found = [int(s in set(spans(p))) for g, p in zip(gold, pred) for s in spans(g)]
    return {"precision": float(total["precision"]), "recall": float(total["recall"]),
            "f1": float(total["f1"]),
            "precision_with_names": float(by_type.get(True, {}).get("precision", np.nan)),
            "spans_per_100_without": 100 * sum(len(spans(p)) for p in without)
            / max(len(without), 1),
            "rate": span_rate(pred), "found": found}
