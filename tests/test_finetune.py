"""The fine-tuning loop on the real MiniLM encoder and tiny real data."""

import numpy as np
import pytest
import torch

from tlbook.data import load_movie_sentiment
from tlbook.finetune import (FineTuneConfig, class_weights_for, encode_labels, encoder_layers,
                             fine_tune, length_grouped_order, make_loader, parameter_groups,
                             predict, tokenize, trainable_parameters)
from tlbook.models import load_encoder


@pytest.fixture(scope="module")
def tiny():
    ds = load_movie_sentiment("lite")
    train, val = ds["train"].select(range(48)), ds["validation"].select(range(32))
    return train["text"], train["label"], val["text"], val["label"]


def fresh(num_labels=2):
    torch.manual_seed(0)
    return load_encoder("lite", num_labels=num_labels)


def test_loss_decreases_and_best_weights_are_kept(tiny):
    model, tok = fresh()
    cfg = FineTuneConfig(lr=1e-4, epochs=4, batch_size=16, warmup_ratio=0.0, progress=False)
    hist = fine_tune(model, tok, *tiny, config=cfg)
    losses = hist.train_loss
    assert len(losses) == 4 * 3  # 48 examples / 16 per step, 4 epochs
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert len(hist.evals) == 4 and hist.best_score == max(e["accuracy"] for e in hist.evals)
    # the model now holds the best evaluation's weights
    labels, probs = predict(model, tok, tiny[2])
    assert np.mean(labels == np.array(tiny[3])) == pytest.approx(hist.best_score)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_predict_keeps_input_order():
    model, tok = fresh()
    texts = ["a long sentence that certainly needs many more word pieces than the others do",
             "short", "medium length text here"]
    _, together = predict(model, tok, texts)
    alone = np.stack([predict(model, tok, [t])[1][0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_frozen_encoder_trains_only_the_head(tiny):
    model, tok = fresh()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fine_tune(model, tok, *tiny[:2], config=FineTuneConfig(freeze="encoder", lr=1e-3,
                                                             progress=False, batch_size=16))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("classifier") for n in changed)


def test_gradual_unfreezing_reaches_lower_layers_one_epoch_at_a_time(tiny):
    model, tok = fresh()
    first = [p.detach().clone() for p in encoder_layers(model)[0].parameters()]
    top = [p.detach().clone() for p in encoder_layers(model)[-1].parameters()]
    cfg = FineTuneConfig(gradual_unfreezing=True, epochs=1, progress=False, batch_size=16)
    fine_tune(model, tok, *tiny[:2], config=cfg)
    assert all(torch.equal(a, b) for a, b in zip(first, encoder_layers(model)[0].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(top, encoder_layers(model)[-1].parameters()))


def test_discriminative_rates_shrink_towards_the_embeddings():
    model, _ = fresh()
    groups = parameter_groups(model, lr=1e-4, weight_decay=0.01, layer_lr_decay=0.5)
    rates = sorted({g["lr"] for g in groups}, reverse=True)
    assert rates[0] == pytest.approx(1e-4) and rates[1] == pytest.approx(5e-5)
    assert len(rates) == 6 + 1  # head shares the top layer's rate; 6 layers + embeddings
    assert rates[-1] == pytest.approx(1e-4 * 0.5 ** 6)
    n_grouped = sum(p.numel() for g in groups for p in g["params"])
    assert n_grouped == trainable_parameters(model)  # every parameter exactly once
    assert all(g["weight_decay"] == 0 for g in groups if g["params"][0].ndim == 1)


def test_three_classes_and_class_weights(tiny):
    model, tok = fresh(num_labels=3)
    texts = list(tiny[0][:30])
    labels = [i % 3 for i in range(30)]
    cfg = FineTuneConfig(epochs=1, progress=False, batch_size=10,
                         class_weights=class_weights_for(labels))
    hist = fine_tune(model, tok, texts, labels, texts, labels, config=cfg)
    assert hist.evals and 0 <= hist.evals[0]["accuracy"] <= 1
    assert class_weights_for([0, 0, 0, 1]) == pytest.approx([4 / 6, 2.0])


def test_string_labels_need_a_mapping(tiny):
    with pytest.raises(ValueError, match="label2id"):
        encode_labels(["pos", "neg"])
    assert encode_labels(["pos", "neg"], {"neg": 0, "pos": 1}) == [1, 0]
    with pytest.raises(ValueError, match="no id for labels"):
        encode_labels(["pos", "meh"], {"neg": 0, "pos": 1})
    model, tok = fresh()
    with pytest.raises(ValueError, match="label2id"):
        fine_tune(model, tok, ["good", "bad"], ["pos", "neg"], config=FineTuneConfig(progress=False))


def test_labels_out_of_range_are_rejected():
    model, tok = fresh()
    with pytest.raises(ValueError, match="num_labels=2"):
        fine_tune(model, tok, ["a", "b"], [0, 2], config=FineTuneConfig(progress=False))


def test_long_inputs_are_truncated_with_a_warning():
    _, tok = fresh()
    long_text = "word " * 1000
    with pytest.warns(UserWarning, match="truncated"):
        enc = tokenize([long_text, "short"], tok, max_length=64)
    assert len(enc["input_ids"][0]) == 64
    with pytest.warns(UserWarning):
        loader = make_loader([long_text, "short"], tok, [0, 1], batch_size=2, max_length=600)
    assert next(iter(loader))["input_ids"].shape[1] == 512  # the model's own limit


def test_length_grouped_batches_pad_little():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 200, size=1000).tolist()
    order = length_grouped_order(lengths, batch_size=10, seed=0)
    assert sorted(order) == list(range(1000))
    batches = [order[i:i + 10] for i in range(0, 1000, 10)]
    pad = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    random_pad = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b)
                     for b in np.array_split(rng.permutation(1000), 100))
    assert pad < random_pad / 5
    assert order != length_grouped_order(lengths, batch_size=10, seed=1)


@pytest.mark.parametrize("kwargs, word", [({"lr": 0}, "lr"), ({"epochs": 0}, "epochs"),
                                          ({"freeze": "all"}, "freeze"),
                                          ({"layer_lr_decay": 2.0}, "layer_lr_decay"),
                                          ({"metric": "auc"}, "metric"),
                                          ({"mixed_precision": "fp8"}, "mixed_precision")])
def test_config_rejects_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        FineTuneConfig(**kwargs)


def test_unfreeze_every_step_reaches_one_layer_deeper_per_step(tiny):
    model, tok = fresh()
    before = [[p.detach().clone() for p in layer.parameters()] for layer in encoder_layers(model)]
    cfg = FineTuneConfig(gradual_unfreezing=True, unfreeze_every=1, epochs=1, progress=False,
                         batch_size=16, warmup_ratio=0.0)
    fine_tune(model, tok, *tiny[:2], config=cfg)  # 3 steps: top 1, 2, then 3 layers train
    moved = [not all(torch.equal(a, b) for a, b in zip(old, layer.parameters()))
             for old, layer in zip(before, encoder_layers(model))]
    assert moved == [False, False, False, True, True, True]


def test_train_and_score_counts_what_was_trained():
    from tlbook.data import first_rows
    from tlbook.finetune import train_and_score

    ds = load_movie_sentiment("lite")
    train, test = first_rows(ds["train"], 32), first_rows(ds["test"], 16)
    cfg = FineTuneConfig(freeze="encoder", lr=1e-3, batch_size=16, progress=False)
    out = train_and_score(cfg, train, None, test, profile="lite")
    assert out["trainable"] == 2 * 384 + 2  # only the new head moved
    assert 0 <= out["accuracy"] <= 1 and set(out["report"]) >= {"0", "1", "macro avg"}
    assert out["history"].evals == []  # no validation data, no evaluations


# ---------------------------------------------------------------- token classification

def test_word_lists_make_a_token_loader_with_ignored_positions():
    _, tok = fresh()
    words = [["Mr.", "Hawksley", "left"], ["Yes"]]
    loader = make_loader(words, tok, [[1, 2, 0], [0]], batch_size=2)
    batch = next(iter(loader))
    assert batch["labels"].shape == batch["input_ids"].shape  # one label per position
    for row, sentence in zip(batch["labels"].tolist(), [words[i] for i in loader.order]):
        scored = [x for x in row if x != -100]
        assert len(scored) == len(sentence)  # one scored position per word
        assert row[0] == -100  # [CLS]
    assert len(loader.word_ids) == 2


def test_mixed_inputs_and_word_lists_in_predict_are_refused():
    from tlbook.finetune import is_token_task

    assert is_token_task([["a", "b"], ["c"]]) and not is_token_task(["a b", "c"])
    with pytest.raises(TypeError, match="not a mix"):
        is_token_task(["a b", ["c"]])
    model, tok = fresh()
    with pytest.raises(TypeError, match="predict_words"):
        predict(model, tok, [["a", "b"]])


def test_span_f1_is_an_accepted_metric_name():
    assert FineTuneConfig(metric="span_f1").metric == "span_f1"


def test_unfreezing_stages_end_with_the_embeddings():
    from tlbook.finetune import unfreezing_stages

    assert unfreezing_stages(n_layers=2, every=2, steps=8) == [1, 1, 2, 2, 3, 3, 3, 3]
    with pytest.raises(ValueError, match="every"):
        unfreezing_stages(2, 0, 8)


def test_gradual_unfreezing_reaches_the_embeddings_and_the_pooler(tiny):
    """ULMFiT's schedule: the top layer (with the head and the pooler) first, one
    block more every step here, the embeddings last; the trainable count grows
    at each step until everything trains."""
    model, tok = fresh()
    base = model.bert
    emb = base.embeddings.word_embeddings.weight.detach().clone()
    pooler = base.pooler.dense.weight.detach().clone()
    texts, labels = list(tiny[0]) * 3, list(tiny[1]) * 3  # 144 examples: 9 steps of 16
    cfg = FineTuneConfig(gradual_unfreezing=True, unfreeze_every=1, epochs=1, progress=False,
                         batch_size=16, warmup_ratio=0.0, lr=1e-4)
    history = fine_tune(model, tok, texts, labels, config=cfg)
    counts = history.trainable
    assert len(counts) == 9
    assert all(a < b for a, b in zip(counts[:7], counts[1:7]))  # 1..7 blocks: always more
    assert counts[6] == counts[8] == trainable_parameters(model)  # from step 7: everything
    layer = sum(p.numel() for p in encoder_layers(model)[-1].parameters())
    head = sum(p.numel() for p in model.classifier.parameters())
    pool = sum(p.numel() for p in base.pooler.parameters())
    assert counts[0] == layer + head + pool
    assert not torch.equal(emb, base.embeddings.word_embeddings.weight)
    assert not torch.equal(pooler, base.pooler.dense.weight)


def test_the_mean_pooled_head_ignores_padding_and_trains(tiny):
    from tlbook.heads import MeanPooledClassifier, mean_pool

    torch.manual_seed(0)
    model, tok = load_encoder("lite", num_labels=2, pooling="mean")
    assert isinstance(model, MeanPooledClassifier) and model.config.num_labels == 2
    assert sum(p.numel() for p in model.classifier.parameters()) == 2 * 384 + 2
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]
    # a sentence alone and padded in a batch with a longer one: the same logits
    texts = ["a fine film", "a much longer sentence about a film that is not fine at all"]
    _, together = predict(model, tok, texts)
    _, alone = predict(model, tok, texts[:1])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    cfg = FineTuneConfig(lr=1e-4, epochs=2, batch_size=16, warmup_ratio=0.0, progress=False)
    history = fine_tune(model, tok, *tiny, config=cfg)
    assert np.mean(history.train_loss[-3:]) < np.mean(history.train_loss[:3])
    with pytest.raises(ValueError, match="pooling"):
        load_encoder("lite", num_labels=2, pooling="max")
