"""Token classification: Brown name spans, subword label alignment on the real
MiniLM tokenizer, the token-classification path of the fine-tuning loop, and
span scores."""

import dataclasses

import datasets
import numpy as np
import pytest
import torch

from tlbook import token_classification as tc
from tlbook.data import brown_sentences
from tlbook.finetune import FineTuneConfig, evaluate, fine_tune, make_loader
from tlbook.profiles import get_profile
from tlbook.resources import FetchError

LABEL2ID = {name: i for i, name in enumerate(tc.NAME_LABELS)}


@pytest.fixture(scope="module")
def names():
    return tc.load_names("lite")


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return tc.load_token_classifier(tc.NAME_LABELS, profile="lite")


@pytest.fixture(scope="module")
def tokenizer(classifier):
    return classifier[1]


# ---------------------------------------------------------------- labels

@pytest.mark.parametrize("tag, expected", [
    ("np", True), ("np-tl", True), ("np$", True), ("nps", True), ("nps$-tl", True),
    ("np-tl-hl", True), ("NP", True), ("nn-tl", False), ("jj-tl", False), ("nn", False),
    ("np+bez", False), ("fw-np", False)])
def test_is_name_tag(tag, expected):
    assert tc.is_name_tag(tag) is expected


def test_is_name_tag_rejects_non_strings():
    with pytest.raises(TypeError, match="brown_tag"):
        tc.is_name_tag(3)


def test_bio_labels_merge_consecutive_words():
    assert tc.bio_labels([False, True, True, False, True]) == ["O", "B-NAME", "I-NAME", "O",
                                                              "B-NAME"]
    assert tc.bio_labels([], "PER") == []


def test_name_labels_on_the_first_brown_sentence():
    first = brown_sentences("news")[0]  # "The Fulton County Grand Jury said ... Atlanta's ..."
    labels = tc.name_labels(first.tags)
    named = [w for w, lab in zip(first.words, labels) if lab != "O"]
    # "Fulton" is np-tl (a name), "County" nn-tl (a common noun in a title),
    # "Atlanta's" np$ (a possessive name).
    assert named == ["Fulton", "Atlanta's"]
    assert labels[first.words.index("Fulton")] == "B-NAME"


def test_spans_are_end_exclusive_and_read_like_seqeval():
    assert tc.spans(["B-NAME", "I-NAME", "O", "I-NAME"]) == [("NAME", 0, 2), ("NAME", 3, 4)]
    assert tc.spans(["B-PER", "I-ORG"]) == [("PER", 0, 1), ("ORG", 1, 2)]
    assert tc.spans(["O", "O"]) == []


# ---------------------------------------------------------------- data

def test_load_names_splits_by_file(names):
    assert set(names) == {"train", "validation", "test"}
    assert sum(len(s) for s in names.values()) == 57_340  # every Brown sentence once
    files = {k: set(v["file"]) for k, v in names.items()}
    assert (len(files["test"]), len(files["validation"]), len(files["train"])) == (50, 50, 400)
    assert not (files["test"] & files["train"] or files["validation"] & files["train"]
                or files["test"] & files["validation"])
    assert tc.label_names(names) == list(tc.NAME_LABELS)


def test_load_names_labels_follow_the_brown_tags(names):
    test = names["test"]
    for row in test.select(range(200)):
        assert len(row["tokens"]) == len(row["ner_tags"]) == len(row["brown_tags"])
        expected = tc.name_labels(row["brown_tags"])
        assert [tc.NAME_LABELS[i] for i in row["ner_tags"]] == expected
    # The rows are in hash order, not corpus order.
    assert test["id"][:50] != sorted(test["id"][:50])


def test_conll_from_hub_shape():
    conll = datasets.ClassLabel(names=list(tc.CONLL_LABELS))
    labelled = datasets.Features({"id": datasets.Value("string"),
                                  "tokens": datasets.List(datasets.Value("string")),
                                  "ner_tags": datasets.List(conll)})
    plain = datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                               "ner_tags": datasets.List(datasets.Value("int64"))})

    def split(n, features):
        rows = {"tokens": [["EU", "rejects", "German", "call"]] * n,
                "ner_tags": [[3, 0, 7, 0]] * n}
        if "id" in features:
            rows["id"] = [str(i) for i in range(n)]
        return datasets.Dataset.from_dict(rows, features=features)

    for features in (labelled, plain):
        hub = datasets.DatasetDict({name: split(n, features) for name, n in
                                    [("train", 12), ("validation", 4), ("test", 4)]})
        out = tc._conll_from_hub(hub)
        assert {k: len(v) for k, v in out.items()} == {"train": 12, "validation": 4, "test": 4}
        assert out["train"].column_names == ["id", "tokens", "ner_tags"]
        assert tc.label_names(out) == list(tc.CONLL_LABELS)
        row = out["test"][0]
        assert [tc.CONLL_LABELS[i] for i in row["ner_tags"]] == ["B-ORG", "O", "B-MISC", "O"]
        assert out["train"]["id"] != [str(i) for i in range(12)]  # reordered by hash


def test_full_profile_offline_is_a_fetch_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    missing = "tlbook-tests/no-such-ner-dataset"
    profile = dataclasses.replace(get_profile("full"), ner=missing)
    with pytest.raises(FetchError, match="TLBOOK_PROFILE=lite") as info:
        tc.load_names(profile)
    assert missing in str(info.value)


def test_task_sizes():
    lite = tc.task_sizes("lite")
    assert lite["max_length"] == 64 and lite["train"] >= 500 and lite["names_only"]
    assert tc.task_sizes("full")["train"] is None
    with pytest.raises(ValueError, match="profile"):
        tc.task_sizes("huge")


# ---------------------------------------------------------------- alignment

WORDS = ["Mr.", "Hawksley", "visited", "Kalamazoo", "."]
WORD_LABELS = [1, 2, 0, 1, 0]  # B-NAME I-NAME O B-NAME O


def test_alignment_on_words_split_into_several_subwords(tokenizer):
    enc = tc.tokenize_words([WORDS], tokenizer, labels_list=[WORD_LABELS])
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    word_ids, labels = enc["word_ids"][0], enc["labels"][0]
    n_pieces = [word_ids.count(i) for i in range(len(WORDS))]
    assert n_pieces[1] >= 2 and n_pieces[3] >= 2  # the test needs multi-piece words
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert labels[0] == labels[-1] == tc.IGNORE_INDEX
    for pos, (word, label) in enumerate(zip(word_ids, labels)):
        first = word is not None and (pos == 0 or word_ids[pos - 1] != word)
        assert label == (WORD_LABELS[word] if first else tc.IGNORE_INDEX)
        if pieces[pos].startswith("##"):
            assert label == tc.IGNORE_INDEX  # a continuation piece is never scored
    assert [lab for lab in labels if lab != tc.IGNORE_INDEX] == WORD_LABELS


def test_word_predictions_invert_the_alignment(tokenizer):
    enc = tc.tokenize_words([WORDS], tokenizer, labels_list=[WORD_LABELS])
    aligned = enc["labels"][0]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(aligned) + 3, 3))  # 3 rows of padding at the end
    for pos, label in enumerate(aligned):
        if label != tc.IGNORE_INDEX:
            logits[pos, label] += 100.0  # only first subwords carry the answer
    out = tc.word_predictions(logits, enc["word_ids"][0], len(WORDS))
    assert out.tolist() == WORD_LABELS
    assert tc.word_predictions(torch.tensor(logits), enc["word_ids"][0],
                               len(WORDS)).tolist() == WORD_LABELS


def test_truncated_words_get_the_fill_label(tokenizer):
    with pytest.warns(UserWarning, match="truncated"):
        enc = tc.tokenize_words([WORDS], tokenizer, max_length=5, labels_list=[WORD_LABELS])
    word_ids = enc["word_ids"][0]
    assert len(word_ids) == 5 and max(w for w in word_ids if w is not None) < len(WORDS) - 1
    out = tc.word_predictions(np.zeros((5, 3)) + [0, 1, 0], word_ids, len(WORDS), fill=0)
    covered = {w for w in word_ids if w is not None}
    assert [int(x) for x in out] == [1 if i in covered else 0 for i in range(len(WORDS))]


def test_bad_inputs_name_the_problem(tokenizer):
    with pytest.raises(ValueError, match="sentence 0 has 5 words but 4 labels"):
        tc.tokenize_words([WORDS], tokenizer, labels_list=[WORD_LABELS[:4]])
    with pytest.raises(ValueError, match=r"\['B-PERSON'\].*not in label2id"):
        tc.encode_word_labels([["B-PERSON", "O"]], LABEL2ID, [["Ann", "ran"]])
    with pytest.raises(ValueError, match="no label2id"):
        tc.encode_word_labels([["B-NAME", "O"]])
    with pytest.raises(ValueError, match="2 sentences but 1 label lists"):
        tc.encode_word_labels([[0]], None, [["a"], ["b"]])
    with pytest.raises(TypeError, match="already split"):
        tc.tokenize_words(["Mr. Hawksley visited Kalamazoo ."], tokenizer)
    with pytest.raises(TypeError, match="list of sentences"):
        tc.tokenize_words("Mr. Hawksley", tokenizer)
    with pytest.raises(ValueError, match="only 2 labels"):
        tc.align_labels([0, 1], [None, 0, 1, 2, None])


def test_a_slow_tokenizer_is_refused_with_the_fix():
    from transformers import BertTokenizerLegacy

    from tlbook.models import model_source

    slow = BertTokenizerLegacy.from_pretrained(model_source("encoder", "lite"))
    assert not slow.is_fast
    with pytest.raises(ValueError, match="slow Python tokenizer.*AutoTokenizer"):
        tc.tokenize_words([WORDS], slow)


# ---------------------------------------------------------------- model

def test_token_classifier_head(classifier):
    model, tok = classifier
    assert model.config.id2label == dict(enumerate(tc.NAME_LABELS))
    batch = tok([WORDS], is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], 3)
    with pytest.raises(ValueError, match="labels must be a list"):
        tc.load_token_classifier(["O"], profile="lite")
    with pytest.raises(ValueError, match="labels must be a list"):
        tc.load_token_classifier("O B-NAME", profile="lite")
    fresh, _ = tc.load_token_classifier(tc.NAME_LABELS, profile="lite", pretrained=False)
    assert fresh.config.id2label == model.config.id2label
    weight = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(dict(fresh.named_parameters())[weight],
                           dict(model.named_parameters())[weight])


def test_predict_words_keeps_order_and_lengths(classifier):
    model, tok = classifier
    sents = [WORDS, ["Yes", "."], ["The", "committee", "met", "in", "Providence", ",", "Rhode",
                                    "Island", ",", "on", "Monday", "."]]
    together = tc.predict_words(model, tok, sents)
    alone = [tc.predict_words(model, tok, [s])[0] for s in sents]
    assert together == alone
    assert [len(p) for p in together] == [len(s) for s in sents]
    assert {x for p in together for x in p} <= set(tc.NAME_LABELS)


def test_fine_tune_token_task_learns_and_evaluates_spans(names):
    torch.manual_seed(0)
    model, tok = tc.load_token_classifier(tc.NAME_LABELS, profile="lite")
    with_names = [i for i, row in enumerate(names["train"]["ner_tags"][:400]) if any(row)]
    train = names["train"].select(with_names[:64])
    val = names["validation"].select(range(48))
    to_names = lambda rows: [[tc.NAME_LABELS[i] for i in r] for r in rows]  # noqa: E731
    cfg = FineTuneConfig(lr=2e-4, epochs=3, batch_size=16, warmup_ratio=0.0, metric="span_f1",
                         max_length=128, progress=False)
    hist = fine_tune(model, tok, train["tokens"], to_names(train["ner_tags"]), val["tokens"],
                     to_names(val["ner_tags"]), config=cfg, label2id=LABEL2ID)
    assert len(hist.train_loss) == 3 * 4
    assert np.mean(hist.train_loss[-3:]) < np.mean(hist.train_loss[:3])
    assert {"span_precision", "span_recall", "span_f1", "accuracy"} <= set(hist.evals[-1])
    assert hist.best_score == max(e["span_f1"] for e in hist.evals)
    # Loader-based evaluation and word-level prediction agree (no sentence is
    # truncated at 128 subwords here), and the model holds the best weights.
    loader = make_loader(val["tokens"], tok, tc.encode_word_labels(val["ner_tags"]),
                         batch_size=16, max_length=128)
    result = evaluate(model, loader)
    pred = tc.predict_words(model, tok, val["tokens"], max_length=128)
    scores = tc.span_scores(to_names(val["ner_tags"]), pred)
    assert result["span_f1"] == pytest.approx(scores["f1"])
    assert result["span_f1"] == pytest.approx(hist.best_score, abs=0.02)
    assert scores["f1"] > 0.2  # far above chance after 12 steps on real names


def test_span_f1_needs_a_token_task_with_bio_labels(classifier):
    from tlbook.models import load_encoder

    model, tok = load_encoder("lite", num_labels=2)
    with pytest.raises(ValueError, match="span_f1"):
        fine_tune(model, tok, ["a", "b"], [0, 1],
                  config=FineTuneConfig(metric="span_f1", progress=False))


# ---------------------------------------------------------------- scoring

def test_span_scores_count_exact_spans_only():
    gold = [["B-NAME", "I-NAME", "O", "B-NAME"]]
    missed = tc.span_scores(gold, [["B-NAME", "I-NAME", "O", "O"]])
    assert (missed["precision"], missed["recall"]) == (1.0, 0.5)
    assert missed["f1"] == pytest.approx(2 / 3)
    # A span cut short is wrong twice: a false positive and a missed gold span.
    short = tc.span_scores(gold, [["B-NAME", "O", "O", "B-NAME"]])
    assert (short["precision"], short["recall"], short["n_gold"], short["n_pred"]) == (
        0.5, 0.5, 2, 2)
    assert "NAME" in short["report"] and "NAME" in tc.span_report(gold, gold)
    with pytest.raises(ValueError, match="sentence 0"):
        tc.span_scores(gold, [["O"]])


def test_capitalisation_baseline():
    words = ["``", "The", "man", "met", "John", "Smith", "in", "Paris", "."]
    assert tc.capitalisation_baseline([words]) == [
        ["O", "O", "O", "O", "B-NAME", "I-NAME", "O", "B-NAME", "O"]]
    # The rule has no notion of pronouns: "I" is capitalised and not initial.
    assert tc.capitalisation_baseline([["Then", "I", "left"]]) == [["O", "B-NAME", "O"]]
    assert tc.capitalisation_baseline([[]]) == [[]]


def test_untyped_keeps_spans_and_drops_types():
    assert tc.untyped([["B-PER", "I-PER", "O", "B-LOC"], []]) == [
        ["B-NAME", "I-NAME", "O", "B-NAME"], []]
    assert tc.untyped([["B-NAME", "O"]]) == [["B-NAME", "O"]]


def test_bracket_spans():
    words = ["Mr.", "Hawksley", "flew", "to", "Kalamazoo", "."]
    labels = ["B-NAME", "I-NAME", "O", "O", "B-NAME", "O"]
    assert tc.bracket_spans(words, labels) == "[Mr. Hawksley] flew to [Kalamazoo] ."
    with pytest.raises(ValueError, match="labels has 1"):
        tc.bracket_spans(words, ["O"])


# ---------------------------------------------------------------- exercises

def test_chapter_checks_accept_the_references_and_reject_near_misses(names, capsys):
    from tlbook import _exercises_ch9 as ex
    from tlbook.exercises import check

    assert check("9.1", tc.spans)
    # Ignoring an I- that follows O is a common near miss.
    assert not check("9.1", lambda labels: [s for s in tc.spans(labels)
                                            if labels[s[1]].startswith("B-")])
    assert check("9.2", ex.every_subword_reference)

    def first_piece_only(word_labels, word_ids):
        return [None if w is None else word_labels[w] for w in word_ids]

    assert not check("9.2", first_piece_only)  # later pieces of B- words must become I-
    # 9.3: dropping "I" can only remove false names, so the F1 must not fall.
    test = names["test"].select(range(ex.BASELINE_TEST_SENTENCES))
    gold = [[tc.NAME_LABELS[i] for i in row] for row in test["ner_tags"]]
    plain = tc.span_scores(gold, tc.capitalisation_baseline(test["tokens"]))["f1"]
    better = ex.baseline_without_i_f1()
    assert better >= plain
    assert check("9.3", better) and not check("9.3", plain)
    assert check("9.4", ex.keep_capitalised_reference)
    assert not check("9.4", lambda words, labels: list(labels))
    assert "Exercise 9.4: not yet" in capsys.readouterr().out
