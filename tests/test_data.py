"""Tests of tlbook.data on the real corpora from the resource cache."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import datasets
import pytest

from tlbook import data
from tlbook.profiles import get_profile
from tlbook.resources import FetchError

# Sentences per genre as published for NLTK's copy of the Brown Corpus.
NLTK_GENRE_SENTENCES = {
    "adventure": 4637, "belles_lettres": 7209, "editorial": 2997, "fiction": 4249,
    "government": 3032, "hobbies": 4193, "humor": 1053, "learned": 7734, "lore": 4881,
    "mystery": 3886, "news": 4623, "religion": 1716, "reviews": 1751, "romance": 4431,
    "science_fiction": 948,
}
HTML_TAG = re.compile(r"</?(html|head|body|p|br|div|font|table|tr|td|a|img|span)\b[^>]*>",
                      re.IGNORECASE)


@pytest.fixture(scope="module")
def brown() -> list[data.BrownSentence]:
    return data.brown_sentences()


@pytest.fixture(scope="module")
def sentiment() -> datasets.DatasetDict:
    return data.load_movie_sentiment("lite")


@pytest.fixture(scope="module")
def spam() -> datasets.DatasetDict:
    return data.load_spam("lite")


# ---------------------------------------------------------------- Brown

def test_brown_corpus_counts(brown):
    assert len(brown) == 57_340
    assert sum(len(s.words) for s in brown) == 1_161_192
    assert all(len(s.words) == len(s.tags) == len(s.upos) > 0 for s in brown)
    per_genre = Counter(s.genre for s in brown)
    assert set(per_genre) == set(data.BROWN_GENRES) and len(data.BROWN_GENRES) == 15
    assert per_genre["news"] == 4_623
    assert dict(per_genre) == NLTK_GENRE_SENTENCES


def test_brown_corpus_order_and_tokens(brown):
    files = [s.file for s in brown]
    assert files == sorted(files) and len(set(files)) == 500
    first = brown[0]
    assert (first.file, first.genre) == ("ca01", "news")
    assert first.words[:5] == ["The", "Fulton", "County", "Grand", "Jury"]
    assert first.tags[:3] == ["at", "np-tl", "nn-tl"]
    assert first.upos[:3] == ["DET", "NOUN", "NOUN"]
    # Words may contain "/": the tag is what follows the last one.
    fractions = {w: t for s in brown for w, t in zip(s.words, s.tags, strict=True) if "/" in w}
    assert fractions["1-1/2"] == "cd" and len(fractions) > 100


def test_every_brown_tag_maps_to_exactly_the_12_universal_tags(brown):
    brown_tags = {t for s in brown for t in s.tags}
    assert len(brown_tags) == 472
    mapped = {tag: data.to_universal(tag) for tag in brown_tags}  # raises on any gap
    assert set(mapped.values()) == set(data.UNIVERSAL_TAGS)
    assert len(data.UNIVERSAL_TAGS) == 12
    assert set(data.BROWN_TO_UNIVERSAL.values()) == set(data.UNIVERSAL_TAGS)
    assert all(u == mapped[t] for s in brown[:2000] for t, u in zip(s.tags, s.upos, strict=True))


@pytest.mark.parametrize(("tag", "expected"), [
    ("np$", "NOUN"),         # possessive proper noun: "$" stripped
    ("nns$-tl-hl", "NOUN"),  # several suffixes, then the possessive
    ("nn-tl", "NOUN"),       # title suffix stripped
    ("fw-nn", "X"),          # foreign word
    ("fw-in+at-t", "X"),     # foreign contraction with a truncated suffix
    ("ppss+bem", "PRON"),    # "I'm": first part of the contraction
    ("vbn-tl-hl", "VERB"),
    ("bez*", "VERB"),        # "isn't" is still a verb
    ("*", "ADV"),            # "not", "n't"
    ("*-hl", "ADV"),
    ("pp$", "PRON"),         # base tag ending in "$" kept
    ("pp$$", "PRON"),
    ("wp$", "PRON"),
    ("---hl", "."),          # the dash "--" in a headline
    ("``", "."),
    ("NP-TL", "NOUN"),       # upper case accepted
    ("ap", "ADJ"), ("cs", "ADP"), ("ex", "DET"), ("to", "PRT"), ("md", "VERB"),
    ("nil", "X"), ("cd", "NUM"), ("cc", "CONJ"),
])
def test_to_universal_compound_tags(tag, expected):
    assert data.to_universal(tag) == expected


@pytest.mark.parametrize("tag", ["zz", "nn$$", "fw-zz", "", "+", "nn-xx"])
def test_to_universal_rejects_unknown_tags(tag):
    with pytest.raises(ValueError, match="brown_tag"):
        data.to_universal(tag)


def test_to_universal_names_the_bad_tag_and_rejects_non_str():
    with pytest.raises(ValueError, match="'qq-tl'"):
        data.to_universal("qq-tl")
    with pytest.raises(TypeError, match="brown_tag"):
        data.to_universal(3)


def test_brown_genre_selection():
    news = data.brown_sentences("news")
    assert len(news) == 4_623 and {s.genre for s in news} == {"news"}
    both = data.brown_sentences(["news", "humor"])
    assert len(both) == 4_623 + 1_053


@pytest.mark.parametrize(("genres", "error"), [
    ("sports", ValueError), (["news", "Sports"], ValueError), ([], ValueError), (5, TypeError),
])
def test_brown_bad_genres(genres, error):
    with pytest.raises(error, match="genres"):
        data.brown_sentences(genres)


def test_brown_bad_genre_message_lists_the_genres():
    with pytest.raises(ValueError, match=r"science_fiction.*unknown: \['scifi'\]"):
        data.brown_sentences(["news", "scifi"])


def test_brown_cache_cannot_be_corrupted():
    first = data.brown_sentences("humor")
    first[0].words[0] = "CORRUPTED"
    first.clear()
    again = data.brown_sentences("humor")
    assert len(again) == 1_053 and again[0].words[0] != "CORRUPTED"


def test_sentences_containing_bank():
    bank = data.sentences_containing("bank")
    assert len(bank) == 76
    assert all(any(w.lower() == "bank" for w in s.words) for s in bank)
    assert len(data.sentences_containing("BANK")) == 76
    assert len(data.sentences_containing("bank", genres="news")) < 76
    with pytest.raises(ValueError, match="word"):
        data.sentences_containing("river bank")
    with pytest.raises(ValueError, match="word"):
        data.sentences_containing("")
    with pytest.raises(TypeError, match="word"):
        data.sentences_containing(None)


# ---------------------------------------------------------------- sentiment

def test_movie_snippets_raw_count():
    rows = data._movie_snippets()
    assert len(rows) == 10_605
    assert sum(abs(r[1]) <= data.SENTIMENT_THRESHOLD for r in rows) == 562


def test_sentiment_counts_and_splits(sentiment):
    assert {k: len(v) for k, v in sentiment.items()} == {
        "train": 8_043, "validation": 1_000, "test": 1_000}
    labels = Counter(label for split in sentiment.values() for label in split["label"])
    assert labels == {1: 4_982, 0: 5_061}  # the figures of RESOURCES.md
    assert sentiment["train"].features["label"].names == ["negative", "positive"]
    ids = [set(split["id"]) for split in sentiment.values()]
    assert sum(map(len, ids)) == 10_043 and len(set.union(*ids)) == 10_043


def test_sentiment_labels_follow_the_rating(sentiment):
    for split in sentiment.values():
        for label, rating, text in zip(split["label"], split["rating"], split["text"], strict=True):
            assert abs(rating) > 0.5 and label == int(rating > 0) and text


def test_sentiment_split_is_deterministic_and_shuffled(sentiment):
    again = data.load_movie_sentiment("lite")
    for name in ("train", "validation", "test"):
        assert again[name]["id"] == sentiment[name]["id"]
    # The file is sorted by polarity; hash order must mix the classes.
    head = sentiment["train"]["label"][:200]
    assert 0.3 < sum(head) / len(head) < 0.7


def test_sentiment_from_hub_shape():
    hub_labels = datasets.ClassLabel(names=["neg", "pos"])
    features = datasets.Features({"text": datasets.Value("string"), "label": hub_labels})
    hub = datasets.DatasetDict({
        name: datasets.Dataset.from_dict(
            {"text": [f"{name} {i}" for i in range(n)],
             "label": [int(i >= n // 2) for i in range(n)]},
            features=features)
        for name, n in [("train", 40), ("validation", 10), ("test", 10)]})
    out = data._sentiment_from_hub(hub)
    assert {k: len(v) for k, v in out.items()} == {"train": 40, "validation": 10, "test": 10}
    assert out["test"].features["label"].names == ["negative", "positive"]
    for row in out["train"]:
        assert row["label"] == int(int(row["text"].split()[1]) >= 20)
    assert out["train"]["text"] != hub["train"]["text"]  # reordered by hash


# ---------------------------------------------------------------- spam

def test_spam_counts_and_splits(spam):
    assert {k: len(v) for k, v in spam.items()} == {"train": 4_232, "validation": 907, "test": 907}
    labels = Counter(label for split in spam.values() for label in split["label"])
    assert labels == {1: 1_896, 0: 4_150}
    assert spam["train"].features["label"].names == ["ham", "spam"]
    ids = [set(split["id"]) for split in spam.values()]
    assert len(set.union(*ids)) == 6_046
    for split in spam.values():
        pairs = zip(split["label"], split["group"], strict=True)
        assert all(label == group.startswith("spam") for label, group in pairs)


def test_spam_texts(spam):
    texts = [t for split in spam.values() for t in split["text"]]
    assert all(t.strip() for t in texts)
    assert sum(bool(HTML_TAG.search(t)) for t in texts) < 0.01 * len(texts)
    assert sum(bool(t.split("\n", 1)[0]) for t in texts) > 0.99 * len(texts)  # a subject line
    by_id = {i: t for s in spam.values() for i, t in zip(s["id"], s["text"], strict=True)}
    assert by_id["easy-ham-1/00001"].startswith("Re: New Sequences Window\n")
    # An HTML-only, base64, undeclared-charset spam: decoded, tags gone.
    turkish = by_id["spam-1/00336"]
    assert "SMS programimiz çesitli" in turkish and "<" not in turkish


def test_email_text_on_small_messages():
    alternative = (
        "Subject: =?utf-8?q?Caf=C3=A9?=  menu\n"
        'Content-Type: multipart/alternative; boundary="b"\n\n'
        "--b\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "Soup  of the =\nday: cr=C3=A8me\n"
        "--b\nContent-Type: text/html\n\n<p>ignored</p>\n--b--\n")
    assert data.email_text(alternative) == "Café menu\nSoup of the day: crème"
    html_only = ("Subject: Win\nContent-Type: text/html; charset=us-ascii\n"
                 "Content-Transfer-Encoding: base64\n\n"
                 "PGh0bWw+PGJvZHk+PGI+RnJlZTwvYj4gJmFtcDsgZWFzeTwvYm9keT48L2h0bWw+\n")
    assert data.email_text(html_only) == "Win\nFree & easy"


def test_spam_from_hub_shape():
    features = datasets.Features({"sms": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["ham", "spam"])})
    hub = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"sms": [f"m{i}" for i in range(100)], "label": [int(i % 7 == 0) for i in range(100)]},
        features=features)})
    out = data._spam_from_hub(hub)
    assert {k: len(v) for k, v in out.items()} == {"train": 70, "validation": 15, "test": 15}
    assert out["train"].column_names == ["text", "label"]
    assert all(r["label"] == int(int(r["text"][1:]) % 7 == 0) for r in out["validation"])
    texts = [set(split["text"]) for split in out.values()]
    assert len(set.union(*texts)) == 100


# ---------------------------------------------------------------- profiles

@pytest.mark.parametrize("loader", [data.load_movie_sentiment, data.load_spam])
def test_bad_profile(loader):
    with pytest.raises(ValueError, match="profile"):
        loader("huge")
    with pytest.raises(TypeError, match="profile"):
        loader(3)


def test_hub_failure_is_a_fetch_error(monkeypatch):
    import huggingface_hub.constants

    # Offline mode makes the Hub client fail at once instead of retrying.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    missing = "tlbook-tests/no-such-dataset"
    profile = dataclasses.replace(get_profile("full"), sentiment=missing, spam=missing)
    for loader in (data.load_movie_sentiment, data.load_spam):
        with pytest.raises(FetchError, match=r"TLBOOK_PROFILE=lite") as info:
            loader(profile)
        assert missing in str(info.value)


def test_first_rows(sentiment):
    assert data.first_rows(sentiment["test"], 10)["id"] == sentiment["test"]["id"][:10]
    assert len(data.first_rows(sentiment["test"], None)) == 1_000
    assert len(data.first_rows(sentiment["test"], 10**6)) == 1_000
    with pytest.raises(ValueError, match="n must be"):
        data.first_rows(sentiment["test"], 0)
