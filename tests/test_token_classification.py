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


# ---------------------------------------------------------------- grouped scores, rates, kinds

def test_span_scores_by_gives_each_group_its_precision_and_recall():
    gold = [["B-NAME", "O", "B-NAME"], ["O", "O", "O"]]
    pred = [["B-NAME", "O", "O"], ["B-NAME", "O", "B-NAME"]]
    by_sentence = tc.span_scores_by(gold, pred, lambda i, span: i)
    assert by_sentence[0] == {"gold": 2, "found": 1, "recall": 0.5, "predicted": 1,
                              "correct": 1, "precision": 1.0}
    assert by_sentence[1]["predicted"] == 2 and by_sentence[1]["precision"] == 0.0
    assert np.isnan(by_sentence[1]["recall"])  # no gold span there
    # The groups add up to the overall counts of span_scores.
    total = tc.span_scores(gold, pred)
    assert sum(g["correct"] for g in by_sentence.values()) / total["n_pred"] == \
        pytest.approx(total["precision"])
    with pytest.raises(TypeError, match="group"):
        tc.span_scores_by(gold, pred, "kind")


def test_a_tagger_of_every_first_word_has_recall_but_no_precision_by_kind(names):
    """Recall by kind alone would rate this degenerate tagger perfect on
    sentence-initial names; the kind's precision gives it away."""
    test = names["test"].select(range(300))
    gold = [[tc.NAME_LABELS[i] for i in row] for row in test["ner_tags"]]
    def first_word(words):
        first = next((i for i, w in enumerate(words) if w[:1].isalpha()), None)
        return ["B-NAME" if i == first else "O" for i in range(len(words))]

    tagged = [first_word(w) for w in test["tokens"]]
    kinds = tc.span_scores_by(gold, tagged, lambda i, s: tc.name_kind(
        test["tokens"][i], s[1], s[2], set()))
    starts = kinds["starts the sentence"]
    one_word = sum(("NAME", s, s + 1) in tc.spans(g) and p[s] == "B-NAME"
                   for g, p in zip(gold, tagged) for s in range(len(p)))
    assert starts["found"] == one_word and starts["recall"] > 0.8  # most are one word long
    assert starts["predicted"] == sum(any(x != "O" for x in p) for p in tagged)
    assert all(v["predicted"] == 0 for k, v in kinds.items() if k != "starts the sentence")
    assert starts["precision"] < 0.25  # most sentences do not open with a name


def test_span_scores_against_shuffled_gold_are_near_zero(names):
    """Control: the gold labels of other sentences of the same length score at
    chance against the gold (matches only where names sit at the same
    positions by accident, e.g. the first word), the gold itself scores 1."""
    test = names["test"].select(range(1000))
    gold = [[tc.NAME_LABELS[i] for i in row] for row in test["ner_tags"]]
    rng = np.random.default_rng(0)
    by_length: dict = {}
    for i, g in enumerate(gold):
        by_length.setdefault(len(g), []).append(i)
    shuffled = list(gold)
    for group in by_length.values():
        for i, j in zip(group, rng.permutation(group)):
            shuffled[i] = gold[j]
    assert tc.span_scores(gold, gold)["f1"] == 1.0
    # Chance: a sentence receives the labels of a random sentence of its length,
    # so the expected matches are the mean overlap of its spans with its group's.
    sets = [set(tc.spans(g)) for g in gold]
    chance = sum(len(sets[i] & sets[j]) / len(group)
                 for group in by_length.values() for i in group for j in group)
    chance_f1 = chance / sum(map(len, sets))  # as many predicted spans as gold ones
    assert chance_f1 < 0.2
    assert tc.span_scores(gold, shuffled)["f1"] == pytest.approx(chance_f1, abs=0.05)


def test_span_rate_counts_spans_per_hundred_words():
    assert tc.span_rate([["B-NAME", "I-NAME", "O", "O"], ["B-NAME"] + ["O"] * 5]) == \
        pytest.approx(100 * 2 / 10)
    assert tc.span_rate([["O"]]) == 0.0
    with pytest.raises(ValueError, match="no words"):
        tc.span_rate([[]])


def test_name_kind():
    words = ["``", "Brown", "met", "Mr.", "Green", "and", "Mantle", "."]
    lower = {"green", "met"}
    assert tc.name_kind(words, 1, 2, lower) == "starts the sentence"  # the quote is skipped
    assert tc.name_kind(words, 3, 5, lower) == "also a lower-case word"
    assert tc.name_kind(words, 6, 7, lower) == "other names"
    with pytest.raises(ValueError, match="start < end"):
        tc.name_kind(words, 4, 4, lower)
    with pytest.raises(TypeError, match="lowercase_words"):
        tc.name_kind(words, 1, 2, ["green"])


def test_task_splits_follow_the_sizes(names):
    train, val, test = tc.task_splits(names, "lite")
    sizes = tc.task_sizes("lite")
    assert (len(train), len(val), len(test)) == (sizes["train"], sizes["validation"],
                                                 sizes["test"])
    assert all(any(row) for row in train["ner_tags"])  # names only
    natural, _, test2 = tc.task_splits(names, "lite", names_only=False)
    assert natural["id"] == names["train"]["id"][:sizes["train"]]
    assert test2["id"] == test["id"]
    assert not all(any(row) for row in natural["ner_tags"])
    with pytest.raises(TypeError, match="names must be"):
        tc.task_splits(names["train"])


# ---------------------------------------------------------------- confidence and loss

def test_word_losses_are_the_negative_log_probability_of_the_gold_label():
    probs = [np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]), np.zeros((0, 3))]
    losses = tc.word_losses(probs, [["O", "B-NAME"], []], LABEL2ID)
    assert losses[0] == pytest.approx([np.log(2), -np.log(0.8)])
    assert len(losses[1]) == 0
    assert np.isnan(tc.word_losses([np.array([[np.nan] * 3])], [[0]])[0][0])
    with pytest.raises(ValueError, match="shape"):
        tc.word_losses([np.ones((3, 3)) / 3], [["O"]], LABEL2ID)
    with pytest.raises(ValueError, match="label lists"):
        tc.word_losses([np.ones((1, 3)) / 3], [["O"], ["O"]], LABEL2ID)


def test_word_probabilities_agree_with_predict_words(classifier):
    model, tok = classifier
    sents = [WORDS, ["Yes", "."]]
    probs = tc.word_probabilities(model, tok, sents)
    assert [p.shape for p in probs] == [(len(s), 3) for s in sents]
    assert all(np.allclose(p.sum(axis=1), 1, atol=1e-5) for p in probs)
    pred = tc.predict_words(model, tok, sents)
    assert [[tc.NAME_LABELS[j] for j in p.argmax(axis=1)] for p in probs] == pred
    cut = tc.word_probabilities(model, tok, [["word"] * 10], max_length=6)[0]
    assert np.isnan(cut[4:]).all() and not np.isnan(cut[:4]).any()  # [CLS] + 4 + [SEP]
    table = tc.label_table(model, tok, " ".join(WORDS))
    assert list(table.columns) == ["word", "label", "confidence"]
    assert table["word"].tolist() == WORDS
    assert table["label"].tolist() == tc.predict_words(model, tok, [WORDS])[0]
    assert ((table["confidence"] >= 1 / 3) & (table["confidence"] <= 1)).all()
    with pytest.raises(ValueError, match="no words"):
        tc.label_table(model, tok, "   ")


# ---------------------------------------------------------------- baselines

@pytest.fixture(scope="module")
def small_probe_task(names):
    from tlbook.models import load_encoder

    train, _, test = tc.task_splits(names, "lite")
    to_names = lambda rows: [[tc.NAME_LABELS[i] for i in r] for r in rows]  # noqa: E731
    encoder, tok = load_encoder("lite")
    return (encoder, tok, train["tokens"][:200], to_names(train["ner_tags"][:200]),
            test["tokens"][:150], to_names(test["ner_tags"][:150]))


def test_frozen_probe_finds_names_and_is_at_chance_on_shuffled_labels(small_probe_task):
    encoder, tok, train_words, train_labels, test_words, gold = small_probe_task
    pred = tc.probe_predictions(encoder, tok, train_words, train_labels, test_words)
    assert [len(p) for p in pred] == [len(w) for w in test_words]
    assert tc.span_scores(gold, pred)["f1"] > 0.4
    # Control: the same probe on labels shuffled across words has nothing to learn;
    # it does no better on words than always answering "O", and finds no names.
    flat = np.array([x for row in train_labels for x in row])
    flat = np.random.default_rng(0).permutation(flat)
    lengths = np.cumsum([len(r) for r in train_labels])[:-1]
    shuffled = [list(r) for r in np.split(flat, lengths)]
    control = tc.probe_predictions(encoder, tok, train_words, shuffled, test_words)
    words_right = np.mean([p == g for ps, gs in zip(control, gold) for p, g in zip(ps, gs)])
    majority = np.mean([g == "O" for gs in gold for g in gs])
    assert words_right <= majority + 0.005
    assert tc.span_scores(gold, control)["f1"] < 0.1
    with pytest.raises(ValueError, match="two different labels"):
        tc.probe_predictions(encoder, tok, [["a", "b"]], [["O", "O"]], [["c"]])


def test_cell_scores_on_known_predictions():
    gold = [["B-NAME", "O", "O"], ["O", "O", "O", "O"]]
    pred = [["B-NAME", "O", "B-NAME"], ["B-NAME", "O", "O", "O"]]
    out = tc.cell_scores(gold, pred)
    assert out["found"] == [1]
    assert (out["precision"], out["recall"]) == (pytest.approx(1 / 3), 1.0)
    assert out["precision_with_names"] == 0.5  # one of the two spans in sentence 0
    assert out["spans_per_100_without"] == 100.0  # one false span in one empty sentence
    assert out["rate"] == pytest.approx(100 * 3 / 7)


def test_names_cell_rejects_bad_configs():
    with pytest.raises(ValueError, match="init"):
        tc.names_cell({"init": "scratch", "names_only": True}, 0)
    with pytest.raises(ValueError, match="keys"):
        tc.names_cell({"init": "frozen"}, 0)
