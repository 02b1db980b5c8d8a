"""Pretraining objectives and the fill-mask head (tlbook.pretraining) on the
real MiniLM encoder and tokenizer with tiny real inputs."""

import json

import numpy as np
import pytest
import torch

from tlbook import pretraining as pt
from tlbook.finetune import FineTuneConfig
from tlbook.models import load_encoder

SENTENCES = ["the bank raised its interest rates .", "she walked along the river bank .",
             "a gripping , moving film", "dull , long and badly acted",
             "the jury said the election was conducted well .",
             "he sat by the fire and read the paper ."]


@pytest.fixture(scope="module")
def encoder_and_tokenizer():
    return load_encoder("lite")


@pytest.fixture(scope="module")
def tokenizer(encoder_and_tokenizer):
    return encoder_and_tokenizer[1]


def fresh_mlm(seed=0):
    torch.manual_seed(seed)
    encoder, tok = load_encoder("lite")
    return pt.MaskedLM(encoder), tok


def batch_of(tokenizer, texts, repeat=1):
    enc = tokenizer(list(texts) * repeat, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


# ------------------------------------------------------------------ masking

def test_masking_proportions_hold_on_a_large_sample(tokenizer):
    ids, _ = batch_of(tokenizer, SENTENCES, repeat=400)
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    out, labels = pt.mask_tokens(ids, tokenizer, generator=0)
    selected = labels != -100
    n_ordinary = int((~special).sum())
    n_sel = int(selected.sum())
    # binomial: sd of the share is sqrt(.15 * .85 / n) ~ 0.002 for n ~ 30,000
    assert abs(n_sel / n_ordinary - 0.15) < 0.01
    masked = (out == tokenizer.mask_token_id) & selected
    same = (out == ids) & selected
    other = selected & ~masked & ~same
    assert abs(masked.sum().item() / n_sel - 0.8) < 0.02
    assert abs(other.sum().item() / n_sel - 0.1) < 0.015
    # unchanged: the 10% kept plus the few random draws that hit the original
    assert abs(same.sum().item() / n_sel - 0.1) < 0.015


def test_special_tokens_and_padding_are_never_masked_and_labels_are_minus_100_elsewhere(
        tokenizer):
    ids, attention = batch_of(tokenizer, SENTENCES, repeat=50)
    assert (attention == 0).any()  # the batch really has padding
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids))
    out, labels = pt.mask_tokens(ids, tokenizer, probability=1.0, generator=1)
    assert torch.equal(out[special], ids[special])
    assert (labels[special] == -100).all()
    assert torch.equal(labels[~special], ids[~special])  # every ordinary token selected
    # replacements are never special tokens other than [MASK]
    changed = out != ids
    assert not torch.isin(out[changed & (out != tokenizer.mask_token_id)],
                          torch.tensor(tokenizer.all_special_ids)).any()
    out, labels = pt.mask_tokens(ids, tokenizer, generator=2)
    unselected = labels == -100
    assert torch.equal(out[unselected], ids[unselected])


def test_masking_is_seeded_and_leaves_its_input_alone(tokenizer):
    ids, _ = batch_of(tokenizer, SENTENCES)
    before = ids.clone()
    a = pt.mask_tokens(ids, tokenizer, probability=0.5, generator=7)
    b = pt.mask_tokens(ids, tokenizer, probability=0.5, generator=7)
    c = pt.mask_tokens(ids, tokenizer, probability=0.5, generator=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert torch.equal(ids, before)


def test_all_mask_setting_replaces_every_selected_token(tokenizer):
    ids, _ = batch_of(tokenizer, SENTENCES, repeat=20)
    out, labels = pt.mask_tokens(ids, tokenizer, mask_share=1.0, random_share=0.0, generator=3)
    assert (out[labels != -100] == tokenizer.mask_token_id).all()


@pytest.mark.parametrize("call, error, words", [
    (lambda t: pt.mask_tokens([[1, 2]], t), TypeError, "input_ids"),
    (lambda t: pt.mask_tokens(torch.zeros(2, 3), t), TypeError, "input_ids"),
    (lambda t: pt.mask_tokens(torch.ones(2, 3, dtype=torch.long), t, probability=0),
     ValueError, "probability"),
    (lambda t: pt.mask_tokens(torch.ones(2, 3, dtype=torch.long), t, mask_share=0.95),
     ValueError, r"mask_share \+ random_share"),
    (lambda t: pt.mask_tokens(torch.ones(2, 3, dtype=torch.long), t, generator=-1),
     ValueError, "generator"),
])
def test_mask_tokens_rejects_bad_arguments(tokenizer, call, error, words):
    with pytest.raises(error, match=words):
        call(tokenizer)


# ------------------------------------------------------------------ span corruption

def rebuild(inputs, targets):
    """Put the hidden spans back in place of their sentinels."""
    spans, current = {}, None
    for w in targets:
        if w.startswith("<extra_id_"):
            current = w
            spans[current] = []
        else:
            spans[current].append(w)
    return [x for w in inputs for x in (spans[w] if w in spans else [w])]


@pytest.mark.parametrize("seed", range(5))
def test_span_corruption_hides_spans_that_the_target_restores(seed):
    words = "the quick brown fox jumps over the lazy dog near the old river bank today".split()
    inputs, targets = pt.span_corrupt(words, noise_density=0.3, mean_span_length=2, seed=seed)
    assert rebuild(inputs, targets) == words
    sentinels = [w for w in inputs if w.startswith("<extra_id_")]
    assert sentinels == [f"<extra_id_{i}>" for i in range(len(sentinels))]
    assert targets[-1] == f"<extra_id_{len(sentinels)}>"
    hidden = len(targets) - len(sentinels) - 1
    assert hidden == round(0.3 * len(words))
    assert len(inputs) == len(words) - hidden + len(sentinels)
    assert not inputs[0].startswith("<extra_id_")


@pytest.mark.parametrize("kwargs, error, words", [
    ({"words": "one string"}, TypeError, "words"),
    ({"words": ["one"]}, ValueError, "at least 2"),
    ({"words": ["a", "b"], "noise_density": 1.0}, ValueError, "noise_density"),
    ({"words": ["a", "b"], "mean_span_length": 0.5}, ValueError, "mean_span_length"),
])
def test_span_corrupt_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        pt.span_corrupt(**kwargs)


# ------------------------------------------------------------------ the head

def test_the_decoder_is_tied_to_the_input_embeddings_and_not_saved(tmp_path):
    model, tok = fresh_mlm()
    emb = model.encoder.embeddings.word_embeddings
    assert model.head.word_embeddings.weight is emb.weight
    own = model.head.own_state()
    assert set(own) == {"dense.weight", "dense.bias", "norm.weight", "norm.bias", "bias"}
    path = pt.save_mlm_head(model, tmp_path / "head.pt")
    assert path.stat().st_size < 2_000_000  # the 30,522 x 384 matrix alone is 47 MB
    ids, attention = batch_of(tok, SENTENCES[:2])
    before = model(input_ids=ids, attention_mask=attention).logits
    with torch.no_grad():
        emb.weight[tok.convert_tokens_to_ids("bank")] += 1.0
    after = model(input_ids=ids, attention_mask=attention).logits
    assert not torch.allclose(before, after)


def test_loss_with_labels_is_the_cross_entropy_at_the_labelled_positions(tokenizer):
    model, tok = fresh_mlm()
    ids, attention = batch_of(tok, SENTENCES)
    corrupted, labels = pt.mask_tokens(ids, tok, probability=0.3, generator=0)
    with torch.no_grad():
        full = model(input_ids=corrupted, attention_mask=attention).logits
        out = model(input_ids=corrupted, attention_mask=attention, labels=labels)
    keep = labels != -100
    assert out.logits.shape == (int(keep.sum()), len(tok))
    expected = torch.nn.functional.cross_entropy(full[keep], labels[keep])
    assert abs(out.loss.item() - expected.item()) < 1e-4


def test_fitting_the_head_lowers_its_loss_and_leaves_the_encoder_alone():
    model, tok = fresh_mlm()
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.head.own_state().items()}
    texts = pt.brown_texts("train")[:200]
    losses = pt.fit_mlm_head(model, tok, texts, steps=30, batch_size=64, lr=1e-2)
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, encoder_before[k]), k
    assert any(not torch.equal(v, head_before[k]) for k, v in model.head.own_state().items())
    assert all(p.requires_grad for p in model.parameters())  # left trainable, as found


def test_save_load_round_trip_gives_the_same_predictions(tmp_path):
    model, tok = fresh_mlm(0)
    pt.fit_mlm_head(model, tok, pt.brown_texts("train")[:100], steps=5, batch_size=32)
    path = pt.save_mlm_head(model, tmp_path / "head.pt")
    other, _ = fresh_mlm(1)  # another random head, replaced by the saved one
    pt.load_mlm_head(other, path)
    ids, attention = batch_of(tok, SENTENCES)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, attention_mask=attention).logits,
                              other(input_ids=ids, attention_mask=attention).logits)


def test_a_damaged_head_is_refused_with_the_file_and_the_fix(tmp_path):
    model, tok = fresh_mlm()
    path = pt.save_mlm_head(model, tmp_path / "head.pt")
    path.with_suffix(".json").write_text(json.dumps({"sha256": pt._sha256(path),
                                                     "command": "python -m rebuild"}))
    pt.load_mlm_head(model, path)  # intact: loads
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"head\.pt does not match the sha256.*python -m rebuild"):
        pt.load_mlm_head(model, path)
    with pytest.raises(FileNotFoundError, match="train-head"):
        pt.load_mlm_head(model, tmp_path / "missing.pt")
    with pytest.raises(TypeError, match="MaskedLM"):
        pt.load_mlm_head(torch.nn.Linear(2, 2), path)


def test_the_shipped_head_matches_its_record_and_beats_the_unigram_baseline():
    meta = json.loads(pt.HEAD_PATH.with_suffix(".json").read_text())
    assert meta["sha256"] == pt._sha256(pt.HEAD_PATH)
    assert meta["bytes"] == pt.HEAD_PATH.stat().st_size < 2_000_000
    assert meta["held_out_masked_accuracy"] > meta["held_out_unigram_accuracy"]
    model, tok = pt.load_mlm("lite")
    held_out = pt.brown_texts("held_out")[:meta["held_out_sentences"]]
    assert abs(pt.masked_accuracy(model, tok, held_out)["accuracy"]
               - meta["held_out_masked_accuracy"]) < 0.005


def test_fill_mask_returns_probable_tokens_per_mask(tokenizer):
    model, tok = pt.load_mlm("lite")
    out = pt.fill_mask(model, tok, "the [MASK] was [MASK] .", top_k=3)
    assert len(out) == 2 and all(len(o) == 3 for o in out)
    probs = [p for _, p in out[0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        pt.fill_mask(model, tok, "no blank here")
    with pytest.raises(ValueError, match="top_k"):
        pt.fill_mask(model, tok, "a [MASK]", top_k=0)


def test_unigram_baseline_is_the_share_of_the_most_frequent_token(tokenizer):
    counts = pt.token_counts(tokenizer, ["the cat the dog the end"])
    the = tokenizer.convert_tokens_to_ids("the")
    assert counts.argmax() == the and counts[the] == 3
    assert counts[tokenizer.cls_token_id] == 0
    assert pt.unigram_accuracy(counts, [the, 5, the, 7]) == 0.5
    with pytest.raises(ValueError, match="labels"):
        pt.unigram_accuracy(counts, [])


# ------------------------------------------------------------------ the recipe

def test_recipe_writes_a_head_and_a_record_that_load_verifies(tmp_path, capsys):
    out = tmp_path / "head.pt"
    assert pt.main(["train-head", "--out", str(out), "--sentences", "60", "--steps", "20",
                    "--batch-size", "64", "--eval-sentences", "20", "--log-every", "10"]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["command"].startswith("python -m tlbook.pretraining train-head --out")
    assert meta["sha256"] == pt._sha256(out) and meta["bytes"] == out.stat().st_size
    assert meta["train_sentences"] == 60 and meta["steps"] == 20
    assert meta["loss_curve"]["loss"][-1] < meta["loss_curve"]["loss"][0]
    assert 0 <= meta["held_out_unigram_accuracy"] <= 1
    model, _ = fresh_mlm()
    pt.load_mlm_head(model, out)


@pytest.mark.parametrize("argv", [
    ["train-head"],
    ["train-head", "--out", "x.pt", "--steps", "0"],
    ["train-head", "--out", "x.pt", "--lr", "-1"],
    ["fit"],
])
def test_recipe_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit):
        pt.main(argv)


# ------------------------------------------------------------------ continued pretraining

def test_continued_pretraining_trains_the_whole_model_and_lowers_the_loss():
    model, tok = pt.load_mlm("lite")
    before = model.encoder.encoder.layer[0].attention.self.query.weight.clone()
    texts = SENTENCES * 8
    config = FineTuneConfig(lr=1e-3, epochs=4, batch_size=12, seed=0, progress=False)
    losses = pt.continue_pretraining(model, tok, texts, config)
    assert len(losses) == 16
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert not torch.equal(before, model.encoder.encoder.layer[0].attention.self.query.weight)


def test_continued_pretraining_rejects_bad_arguments():
    model, tok = fresh_mlm()
    with pytest.raises(TypeError, match="config"):
        pt.continue_pretraining(model, tok, SENTENCES, config={"lr": 1e-3})
    with pytest.raises(ValueError, match="freeze"):
        pt.continue_pretraining(model, tok, SENTENCES, FineTuneConfig(freeze="encoder"))
    with pytest.raises(ValueError, match="texts"):
        pt.continue_pretraining(model, tok, [], FineTuneConfig())


def test_pretraining_texts_are_disjoint_from_the_labelled_sentences():
    from tlbook.strategies import splits

    movie = pt.pretraining_texts("movie reviews", 300)
    brown = pt.pretraining_texts("Brown (control)", 300)
    assert len(movie) == len(brown) == 300
    labelled = {t for split in splits() for t in split["text"]}
    assert not labelled & set(movie)
    with pytest.raises(ValueError, match="domain"):
        pt.pretraining_texts("news")
    with pytest.raises(ValueError, match="pretraining"):
        pt.dapt_cell({"pretraining": "wiki", "labels": 32}, 0)
