"""The book's corpora: Brown (tagged), movie-review sentiment, and spam.

Each loader reads a resource from the offline catalog (:mod:`tlbook.resources`)
in the ``lite`` profile, or a Hugging Face Hub dataset in the ``full`` profile,
and returns the same shape under both.

- Brown Corpus: :func:`brown_sentences`, with the Brown -> Universal POS map
  (:data:`BROWN_TO_UNIVERSAL`, :func:`to_universal`). Used in chapters
  "word2vec", "ELMo", "Layer probing", "Bank-sense separation",
  "Catastrophic forgetting" and "Token classification".
- Movie-review sentiment: :func:`load_movie_sentiment`. Used in chapters
  "Why transfer learning", "BERT fine-tuning", "LoRA" and
  "Catastrophic forgetting".
- Spam: :func:`load_spam`. Used in chapters "BERT fine-tuning" and
  "Catastrophic forgetting".

Splits never depend on a random generator or a library version: examples are
ordered by the sha256 of their identifier, and the first ones form the test
split, the next ones the validation split, the rest the training split. Rows
inside each split stay in that hash order, a fixed shuffle, so the first
``n`` training rows are a fair sample of the training split (the source files
are sorted by label).
"""

from __future__ import annotations

import email
import email.header
import email.message
import hashlib
import html
import json
import re
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import datasets

from . import _validate as _v
from .profiles import Profile, get_profile, is_hub_id
from .resources import FetchError, check_hub, resource_path

__all__ = [
    "BROWN_GENRES",
    "BROWN_TO_UNIVERSAL",
    "SENTIMENT_LABELS",
    "SENTIMENT_THRESHOLD",
    "SPAM_LABELS",
    "UNIVERSAL_TAGS",
    "BrownSentence",
    "brown_sentences",
    "email_text",
    "load_movie_sentiment",
    "load_spam",
    "sentences_containing",
    "to_universal",
]

# ---------------------------------------------------------------- Brown -> UPOS

UNIVERSAL_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "VERB", "X", ".",
)
"""The 12 universal part-of-speech tags of Petrov, Das & McDonald (2012)."""

# Base Brown tags (no -tl/-hl/-nc, fw- or + parts) grouped by universal tag.
# Where Brown's classes do not fit one universal tag, the choice follows
# Petrov et al.: subordinating conjunctions (CS) go with adpositions, the
# existential "there" (EX) with determiners, Brown's post-determiners
# ("many", "few", AP) and ordinals (OD) with adjectives, qualifiers ("very",
# "enough", QL/QLP) and pre-qualifiers ("quite", ABL) with adverbs.
_UNIVERSAL_GROUPS: dict[str, str] = {
    ".": ". , : ( ) -- '' `` '",
    "ADJ": "ap jj jjr jjs jjt od",
    "ADP": "cs in",
    "ADV": "* abl ql qlp rb rbr rbt rn wql wrb",
    "CONJ": "cc",
    "DET": "abn abx at dt dti dts dtx ex wdt",
    "NOUN": "nn nns np nps nr nrs",
    "NUM": "cd",
    "PRON": "pn pp$ pp$$ ppl ppls ppo pps ppss wp$ wpo wps",
    "PRT": "rp to",
    "VERB": "be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md "
            "vb vbd vbg vbn vbz",
    "X": "fw nil uh",
}

BROWN_TO_UNIVERSAL: dict[str, str] = {
    brown: upos for upos, tags in _UNIVERSAL_GROUPS.items() for brown in tags.split()
}
"""Base Brown tag (lower case) -> universal tag; :func:`to_universal` handles
the compound forms (``np$``, ``nn-tl``, ``fw-nn``, ``ppss+bem``, ``bez*``)."""

_TAG_SUFFIXES = ("-tl", "-hl", "-nc")  # title, headline, cited word: not a part of speech


def to_universal(brown_tag: str) -> str:
    """Map one Brown tag, compound forms included, to a universal tag.

    Rules, applied in order to the lower-cased tag:

    1. ``fw-...`` (foreign word) -> ``"X"``, once the rest is checked to be a tag.
    2. A contraction ``a+b`` (``ppss+bem`` "I'm") takes its first part.
    3. Suffixes ``-tl``, ``-hl``, ``-nc`` are stripped, however many there are.
    4. A trailing ``*`` after a verb (``bez*`` "isn't") is stripped: the word is
       still a verb; a bare ``*`` ("not", "n't") is an adverb.
    5. A trailing possessive ``$`` (``np$``, ``nn$``) is stripped unless the tag
       is itself a base tag ending in ``$`` (``pp$``, ``pp$$``, ``wp$``).

    Args:
        brown_tag: a tag as it appears in the Brown Corpus, e.g. ``"nn-tl"``.

    Returns:
        One of :data:`UNIVERSAL_TAGS`.

    Raises:
        TypeError: ``brown_tag`` is not a str.
        ValueError: ``brown_tag`` is not a Brown tag.
    """
    if not isinstance(brown_tag, str):
        raise TypeError(f"brown_tag must be a str, got {type(brown_tag).__name__}")
    tag = brown_tag.strip().lower()
    if tag.startswith("fw-") and len(tag) > 3:
        _base_universal(tag[3:], brown_tag)
        return "X"
    return _base_universal(tag, brown_tag)


def _base_universal(tag: str, original: str) -> str:
    tag = tag.split("+", 1)[0]
    while tag.endswith(_TAG_SUFFIXES) and len(tag) > 3:
        tag = tag[:-3]
    if len(tag) > 1 and tag.endswith("*"):
        tag = tag[:-1]
    if tag not in BROWN_TO_UNIVERSAL and tag.endswith("$"):
        tag = tag[:-1]
    if tag not in BROWN_TO_UNIVERSAL:
        raise ValueError(
            f"brown_tag {original!r} is not a Brown tag: its base {tag!r} is not one of "
            f"{sorted(BROWN_TO_UNIVERSAL)}."
        )
    return BROWN_TO_UNIVERSAL[tag]


# ---------------------------------------------------------------- Brown corpus

BROWN_GENRES: tuple[str, ...] = (
    "adventure", "belles_lettres", "editorial", "fiction", "government", "hobbies",
    "humor", "learned", "lore", "mystery", "news", "religion", "reviews", "romance",
    "science_fiction",
)
"""The 15 genres (NLTK's category names) of the Brown Corpus."""


class BrownSentence(NamedTuple):
    """One tagged sentence of the Brown Corpus.

    Attributes:
        file: corpus file, e.g. ``"ca01"``.
        genre: one of :data:`BROWN_GENRES`.
        words: the tokens, ``len(words) == n_tokens``.
        tags: the Brown tags, same length, e.g. ``"np-tl"``.
        upos: the universal tags (:func:`to_universal` of ``tags``), same length.
    """

    file: str
    genre: str
    words: list[str]
    tags: list[str]
    upos: list[str]


_Row = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@lru_cache(maxsize=1)
def _brown_corpus() -> tuple[_Row, ...]:
    """``(file, genre, words, tags, upos)`` of every sentence, parsed once per
    process; tuples keep the cache immutable."""
    root = resource_path("brown") / "package"
    # cats.txt lists exactly the 500 corpus files, which keeps README and
    # the other package files out.
    genre_of = dict(line.split() for line in (root / "cats.txt").read_text().splitlines()
                    if line.strip())
    upos_of: dict[str, str] = {}
    corpus = []
    for file in sorted(genre_of):
        genre = genre_of[file]
        with open(root / file, encoding="utf-8") as f:
            for line in f:
                tokens = line.split()
                if not tokens:
                    continue
                # Words may contain "/" ("1/2"), tags never do.
                words, tags = zip(*(token.rsplit("/", 1) for token in tokens), strict=True)
                for tag in tags:
                    if tag not in upos_of:
                        upos_of[tag] = to_universal(tag)
                corpus.append((file, genre, words, tags, tuple(upos_of[t] for t in tags)))
    return tuple(corpus)


def _check_genres(genres: Sequence[str] | str | None) -> set[str] | None:
    if genres is None:
        return None
    if isinstance(genres, str):
        genres = [genres]
    if not isinstance(genres, Sequence) or not all(isinstance(g, str) for g in genres):
        raise TypeError(f"genres must be a str, a list of str or None, got {genres!r}")
    if not genres:
        raise ValueError(f"genres must name at least one of {list(BROWN_GENRES)}, or be None.")
    bad = [g for g in genres if g not in BROWN_GENRES]
    if bad:
        raise ValueError(f"genres must be among {list(BROWN_GENRES)}; unknown: {bad}.")
    return set(genres)


def _fresh(row: _Row) -> BrownSentence:
    """A :class:`BrownSentence` with its own lists, detached from the cache."""
    file, genre, words, tags, upos = row
    return BrownSentence(file, genre, list(words), list(tags), list(upos))


def brown_sentences(genres: Sequence[str] | str | None = None) -> list[BrownSentence]:
    """The tagged sentences of the Brown Corpus, in corpus order (files sorted).

    Used in chapters "word2vec" (training sentences), "ELMo" (biLM training,
    POS tagger), "Layer probing" (probe labels from ``upos``), "Catastrophic
    forgetting" (one genre vs the others) and "Token classification" (proper
    names from ``np`` tags). The corpus is parsed once per process (about 2 s);
    every call returns fresh lists, so changing them cannot corrupt later calls.

    Args:
        genres: one genre, a list of genres (from :data:`BROWN_GENRES`), or
            ``None`` for all 15.

    Returns:
        ``list[BrownSentence]``: 57,340 sentences (1,161,192 tokens) for the
        whole corpus; 4,623 for ``"news"``.
    """
    keep = _check_genres(genres)
    return [_fresh(row) for row in _brown_corpus() if keep is None or row[1] in keep]


def sentences_containing(word: str, genres: Sequence[str] | str | None = None
                         ) -> list[BrownSentence]:
    """Brown sentences in which ``word`` occurs as a token, ignoring case.

    Used in chapters "word2vec" and "Bank-sense separation" (the sentences with
    "bank": 76 in the whole corpus).

    Args:
        word: a single token, e.g. ``"bank"`` (``"banks"`` does not match).
        genres: as in :func:`brown_sentences`.

    Returns:
        ``list[BrownSentence]`` in corpus order.
    """
    if not isinstance(word, str):
        raise TypeError(f"word must be a str, got {type(word).__name__}")
    if len(word.split()) != 1:
        raise ValueError(f"word must be a single token without spaces, got {word!r}")
    target = word.strip().lower()
    keep = _check_genres(genres)
    return [_fresh(row) for row in _brown_corpus()
            if (keep is None or row[1] in keep) and any(w.lower() == target for w in row[2])]


# ---------------------------------------------------------------- fixed splits

def _hash_order(keys: Sequence[str]) -> list[int]:
    """Indices of ``keys`` sorted by the sha256 of each key: a fixed shuffle."""
    return sorted(range(len(keys)), key=lambda i: hashlib.sha256(keys[i].encode("utf-8")).digest())


def _split_indices(keys: Sequence[str], n_test: int, n_validation: int) -> dict[str, list[int]]:
    order = _hash_order(keys)
    return {"train": order[n_test + n_validation:],
            "validation": order[n_test:n_test + n_validation],
            "test": order[:n_test]}


def _from_hub(dataset_id: str) -> datasets.DatasetDict:
    check_hub(dataset_id)  # fails in seconds, not after the client's minutes of retries
    try:
        return datasets.load_dataset(dataset_id)
    except Exception as err:  # the Hub client raises many types: offline, 404, auth...
        raise FetchError(
            f"Could not load {dataset_id!r} from the Hugging Face Hub ({type(err).__name__}; "
            "the full profile needs internet). Use the lite profile (TLBOOK_PROFILE=lite) "
            "offline."
        ) from None


# ---------------------------------------------------------------- sentiment

SENTIMENT_THRESHOLD = 0.5
"""Mean ratings ``>= +0.5`` are positive, ``<= -0.5`` negative, others dropped."""

SENTIMENT_LABELS = datasets.ClassLabel(names=["negative", "positive"])
_MOVIE_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
_MOVIE_TAR = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"


@lru_cache(maxsize=1)
def _movie_snippets() -> tuple[tuple[str, float, str], ...]:
    """All 10,605 ``(id, mean rating, text)`` rows, read straight from the tar."""
    with tarfile.open(resource_path("movie-sentiment") / _MOVIE_TAR) as tar:
        raw = tar.extractfile(_MOVIE_MEMBER).read().decode("utf-8")
    rows = []
    # Split on "\n" only: str.splitlines would also split on rare separators
    # inside a sentence. The last line has no newline.
    for line in raw.split("\n"):
        if line.strip():
            snippet_id, rating, text = line.rstrip("\r").split("\t", 2)
            rows.append((snippet_id, float(rating), text.strip()))
    return tuple(rows)


def load_movie_sentiment(profile: str | Profile | None = None) -> datasets.DatasetDict:
    """Binary sentiment of movie-review sentences, split train/validation/test.

    Used in chapters "Why transfer learning", "BERT fine-tuning", "LoRA" and
    "Catastrophic forgetting".

    ``lite``: the 10,605 movie-review sentences of Hutto & Gilbert (2014),
    taken from Pang & Lee's sentence polarity data, each with a mean human
    rating in [-4, +4]. Ratings ``> 0.5`` are positive, ``< -0.5`` negative;
    the 562 sentences rated in [-0.5, 0.5] are dropped, leaving 10,043 (4,982
    positive, 5,061 negative). Ordered by sha256 of the snippet id: 1,000
    test, 1,000 validation, 8,043 train.

    ``full``: the Hub dataset ``profile.sentiment`` (rotten_tomatoes: 8,530 /
    1,066 / 1,066), its own splits, each reordered by the sha256 of
    ``"<split>/<row>"`` and with the same label names.

    Args:
        profile: ``"lite"``, ``"full"``, a :class:`~tlbook.profiles.Profile`,
            or ``None`` for the current profile.

    Returns:
        ``DatasetDict`` with splits ``train``, ``validation``, ``test`` and
        columns ``text`` (str) and ``label`` (ClassLabel ``["negative",
        "positive"]``); ``lite`` adds ``rating`` (float) and ``id`` (str).

    Raises:
        FetchError: ``full`` profile and the Hub cannot be reached.
    """
    profile = get_profile(profile)
    if is_hub_id(profile.sentiment):
        return _sentiment_from_hub(_from_hub(profile.sentiment))
    rows = [r for r in _movie_snippets() if abs(r[1]) > SENTIMENT_THRESHOLD]
    features = datasets.Features({"text": datasets.Value("string"), "label": SENTIMENT_LABELS,
                                  "rating": datasets.Value("float64"),
                                  "id": datasets.Value("string")})
    splits = _split_indices([r[0] for r in rows], n_test=1000, n_validation=1000)
    return datasets.DatasetDict({
        name: datasets.Dataset.from_dict(
            {"text": [rows[i][2] for i in idx], "label": [int(rows[i][1] > 0) for i in idx],
             "rating": [rows[i][1] for i in idx], "id": [rows[i][0] for i in idx]},
            features=features)
        for name, idx in splits.items()})


def _sentiment_from_hub(hub: datasets.DatasetDict) -> datasets.DatasetDict:
    """rotten_tomatoes-like splits (``text``, ``label`` 0/1) -> the book's shape."""
    out = {}
    for name in ("train", "validation", "test"):
        ds = hub[name].select_columns(["text", "label"])
        ds = ds.cast_column("label", SENTIMENT_LABELS)
        out[name] = ds.select(_hash_order([f"{name}/{i}" for i in range(len(ds))]))
    return datasets.DatasetDict(out)


# ---------------------------------------------------------------- spam

SPAM_LABELS = datasets.ClassLabel(names=["ham", "spam"])
_SPAM_GROUPS = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
_HTML_HINT = re.compile(r"<\s*/?\s*(html|body|head|font|table|div|br|p|a|img)\b", re.IGNORECASE)
_HTML_BLOCK = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes to text in ``charset``, never failing: bad bytes become U+FFFD."""
    if charset is None:
        # Undeclared 8-bit text in 2002 mail is mostly Windows-1252.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # a charset name Python does not know
        return data.decode("utf-8", errors="replace")


def _decoded_part(part: email.message.Message) -> str:
    """Text of one non-multipart part, decoded with its charset."""
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        return _decode(part.get_payload(decode=True) or b"", part.get_content_charset())
    payload = part.get_payload()
    if not isinstance(payload, str):
        return ""
    # The corpus stores e-mails as str: 8-bit bodies are already decoded,
    # but 7-bit ones in a stateful charset (iso-2022-jp) still need it.
    if not payload.isascii():
        return payload
    return _decode(payload.encode("ascii"), part.get_content_charset())


def _subject(msg: email.message.Message) -> str:
    """The Subject header with its RFC 2047 encoded words decoded."""
    pieces = []
    for chunk, charset in email.header.decode_header(str(msg.get("subject", ""))):
        if isinstance(chunk, bytes):
            # decode_header hands back the unencoded stretches as raw-unicode-escape.
            chunk = _decode(chunk, charset or "raw-unicode-escape")
        pieces.append(chunk)
    return "".join(pieces)


def _without_html(text: str) -> str:
    return html.unescape(_HTML_TAG.sub(" ", _HTML_BLOCK.sub(" ", text)))


def email_text(raw: str) -> str:
    """Subject and body text of a raw e-mail: ``"<subject>\\n<body>"``.

    The body is the text/plain parts, or the text/html parts when there is no
    plain one; HTML tags are removed from any part that looks like HTML (many
    spams send HTML as text/plain). Runs of whitespace become one space.

    Raises:
        TypeError: ``raw`` is not a str.
    """
    _v.string("raw", raw, allow_empty=True)
    # compat32 (the email default) parses the corpus in ~2 s; policy.default
    # builds header objects for every header and takes ~10 s.
    msg = email.message_from_string(raw)
    subject = _subject(msg)
    plain, rich = [], []
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            plain.append(_decoded_part(part))
        elif part.get_content_type() == "text/html":
            rich.append(_decoded_part(part))
    body = " ".join(plain or rich)
    if _HTML_HINT.search(body):
        body = _without_html(body)
    return _SPACES.sub(" ", subject).strip() + "\n" + _SPACES.sub(" ", body).strip()


@lru_cache(maxsize=1)
def _spam_emails() -> tuple[tuple[str, str, str], ...]:
    """All ``(key, group, text)`` e-mails; ``key`` is ``"<group>/<id>"``, since
    ids repeat across groups."""
    root = resource_path("spam") / "package" / "data"
    rows = []
    for group in _SPAM_GROUPS:
        for path in sorted((root / group).glob("*.json")):
            record = json.loads(path.read_text(encoding="utf-8"))
            rows.append((f"{group}/{record['id']}", group, email_text(record["text"])))
    return tuple(rows)


def load_spam(profile: str | Profile | None = None) -> datasets.DatasetDict:
    """Spam vs ham messages, split train/validation/test.

    Used in chapters "BERT fine-tuning" (class weights for an imbalanced task)
    and "Catastrophic forgetting" (the second task after sentiment).

    ``lite``: the SpamAssassin public corpus, 6,046 raw e-mails (1,896 spam,
    4,150 ham) reduced to ``"<subject>\\n<body text>"`` by :func:`email_text`.
    Ordered by sha256 of ``"<group>/<id>"``: 907 test, 907 validation,
    4,232 train (15% / 15% / rest, rounded).

    ``full``: the Hub dataset ``profile.spam`` (ucirvine/sms_spam: one split of
    5,574 SMS), column ``sms`` renamed ``text``, split the same way on the
    sha256 of the row index: 836 test, 836 validation, 3,902 train.

    Args:
        profile: ``"lite"``, ``"full"``, a :class:`~tlbook.profiles.Profile`,
            or ``None`` for the current profile.

    Returns:
        ``DatasetDict`` with splits ``train``, ``validation``, ``test`` and
        columns ``text`` (str) and ``label`` (ClassLabel ``["ham", "spam"]``);
        ``lite`` adds ``group`` (the corpus folder, e.g. ``"spam-2"``) and
        ``id`` (``"<group>/<id>"``).

    Raises:
        FetchError: ``full`` profile and the Hub cannot be reached.
    """
    profile = get_profile(profile)
    if is_hub_id(profile.spam):
        return _spam_from_hub(_from_hub(profile.spam))
    rows = _spam_emails()
    n_held_out = round(0.15 * len(rows))
    features = datasets.Features({"text": datasets.Value("string"), "label": SPAM_LABELS,
                                  "group": datasets.Value("string"),
                                  "id": datasets.Value("string")})
    splits = _split_indices([r[0] for r in rows], n_test=n_held_out, n_validation=n_held_out)
    return datasets.DatasetDict({
        name: datasets.Dataset.from_dict(
            {"text": [rows[i][2] for i in idx],
             "label": [int(rows[i][1].startswith("spam")) for i in idx],
             "group": [rows[i][1] for i in idx], "id": [rows[i][0] for i in idx]},
            features=features)
        for name, idx in splits.items()})


def _spam_from_hub(hub: datasets.DatasetDict) -> datasets.DatasetDict:
    """sms_spam-like single split (``sms``, ``label`` 0/1) -> the book's shape."""
    ds = hub["train"].rename_column("sms", "text").select_columns(["text", "label"])
    ds = ds.cast_column("label", SPAM_LABELS)
    n_held_out = round(0.15 * len(ds))
    splits = _split_indices([str(i) for i in range(len(ds))], n_held_out, n_held_out)
    return datasets.DatasetDict({name: ds.select(idx) for name, idx in splits.items()})


def first_rows(split: datasets.Dataset, n: int | None) -> datasets.Dataset:
    """The first ``n`` rows of a split (all of them for ``None``).

    Splits are stored in hash order, so the first rows are a fair sample; the
    profiles use this to size a chapter's runs.

    Raises:
        ValueError: ``n`` is not None or a positive int (``True`` is not).
    """
    if n is None:
        return split
    _v.positive_int("n", n, rule="None or a positive int")
    return split.select(range(min(n, len(split))))

