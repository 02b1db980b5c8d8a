"""Distillation and quantisation (tlbook.distill) on the real MiniLM encoder
with tiny real inputs."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tlbook.distill import (cut_layers, distil, distillation_loss, parameter_count, quantize,
                            sentences_per_second, size_on_disk, student_cell, student_config,
                            unlabelled_pool)
from tlbook.finetune import FineTuneConfig, predict
from tlbook.models import load_encoder
from tlbook.strategies import splits

SENTENCES = ["a gripping, moving film", "dull, long and badly acted", "fine",
             "not as bad as I had feared"]


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    return load_encoder("lite", num_labels=2, pooling="mean")


def logits(model, tok, texts=SENTENCES):
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits


# ------------------------------------------------------------------ the loss

def random_logits(seed, shape=(6, 3)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * 3


def test_weight_zero_on_the_soft_term_is_plain_cross_entropy():
    student, teacher = random_logits(0), random_logits(1)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    for temperature in (1.0, 4.0):
        loss = distillation_loss(student, teacher, labels, temperature=temperature, alpha=0.0)
        assert torch.allclose(loss, F.cross_entropy(student, labels))


def test_soft_term_is_zero_when_the_student_equals_the_teacher():
    teacher = random_logits(2)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    loss = distillation_loss(teacher.clone(), teacher, labels, temperature=3.0, alpha=1.0)
    assert abs(loss.item()) < 1e-6
    # a constant added to every logit of a row changes no softmax
    loss = distillation_loss(teacher + 5.0, teacher, labels, temperature=3.0, alpha=1.0)
    assert abs(loss.item()) < 1e-5


def test_soft_term_is_t_squared_times_the_kl_divergence_of_the_softened_distributions():
    student, teacher = random_logits(3), random_logits(4)
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    T = 2.5
    p = torch.softmax(teacher / T, -1)
    q = torch.softmax(student / T, -1)
    kl = (p * (p.log() - q.log())).sum(-1).mean()
    got = distillation_loss(student, teacher, labels, temperature=T, alpha=1.0)
    assert torch.allclose(got, T**2 * kl, atol=1e-5)
    mixed = distillation_loss(student, teacher, labels, temperature=T, alpha=0.3)
    assert torch.allclose(mixed, 0.7 * F.cross_entropy(student, labels) + 0.3 * T**2 * kl,
                          atol=1e-5)


def test_unlabelled_examples_only_enter_the_soft_term():
    student, teacher = random_logits(5), random_logits(6)
    labels = torch.tensor([0, -100, 1, -100, 2, -100])
    hard_only = distillation_loss(student, teacher, labels, alpha=0.0)
    keep = labels != -100
    assert torch.allclose(hard_only, F.cross_entropy(student[keep], labels[keep]))
    nothing_labelled = torch.full((6,), -100)
    assert distillation_loss(student, teacher, nothing_labelled, alpha=0.0).item() == 0.0
    assert distillation_loss(student, teacher, nothing_labelled, alpha=0.5).item() > 0


def test_the_gradient_does_not_reach_the_teacher():
    student = random_logits(7).requires_grad_()
    teacher = random_logits(8).requires_grad_()
    distillation_loss(student, teacher, torch.zeros(6, dtype=torch.long)).backward()
    assert student.grad is not None and teacher.grad is None


@pytest.mark.parametrize("bad, match", [(dict(temperature=0), "temperature"),
                                        (dict(alpha=1.5), "alpha"),
                                        (dict(alpha=-0.1), "alpha")])
def test_bad_loss_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        distillation_loss(random_logits(0), random_logits(1), torch.zeros(6, dtype=torch.long),
                          **bad)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="teacher_logits"):
        distillation_loss(random_logits(0), random_logits(1, (6, 2)),
                          torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(random_logits(0), random_logits(1), torch.zeros(5, dtype=torch.long))


# ------------------------------------------------------------------ the layer-cut student

def test_cut_keeps_the_chosen_blocks_with_the_teachers_weights(classifier):
    model, tok = classifier
    student = cut_layers(model, [0, 2, 4])
    blocks, kept = model.bert.encoder.layer, student.bert.encoder.layer
    assert len(kept) == 3 and student.config.num_hidden_layers == 3
    for new, old in zip(kept, (0, 2, 4)):
        for (name, p), q in zip(new.named_parameters(), blocks[old].parameters()):
            assert torch.equal(p, q), name
    assert torch.equal(student.classifier.weight, model.classifier.weight)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight,
                       model.bert.embeddings.word_embeddings.weight)
    # the original is untouched and shares no tensor with the copy
    assert len(blocks) == 6 and model.config.num_hidden_layers == 6
    assert student.bert.encoder.layer[0].attention.self.query.weight.data_ptr() != \
        blocks[0].attention.self.query.weight.data_ptr()


def test_parameters_drop_by_exactly_the_removed_blocks(classifier):
    model, _ = classifier
    block = parameter_count(model.bert.encoder.layer[0])
    for keep in ([0, 2, 4], [0], [5]):
        assert parameter_count(cut_layers(model, keep)) == parameter_count(model) - \
            (6 - len(keep)) * block


def test_keeping_every_block_computes_the_same_function(classifier):
    model, tok = classifier
    assert torch.allclose(logits(cut_layers(model, range(6)), tok), logits(model, tok))


def test_a_cut_computes_the_teachers_lower_blocks(classifier):
    """Blocks 0 and 1 of the cut are the teacher's: the cut's last hidden state
    is the teacher's hidden state after block 1."""
    model, tok = classifier
    student = cut_layers(model.bert, [0, 1])
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = model.bert(**enc, output_hidden_states=True).hidden_states[2]
        got = student(**enc).last_hidden_state
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("keep, error, match", [([], ValueError, "at least one"),
                                                ([0, 6], ValueError, "keep"),
                                                ([2, 0], ValueError, "increasing"),
                                                ([1, 1], ValueError, "repeats"),
                                                ("0", TypeError, "keep"),
                                                ([0.5], TypeError, "keep")])
def test_bad_keep_is_refused(classifier, keep, error, match):
    with pytest.raises(error, match=match):
        cut_layers(classifier[0], keep)


def test_a_model_without_blocks_is_refused():
    with pytest.raises(TypeError, match="BERT-style"):
        cut_layers(torch.nn.Linear(2, 2), [0])


# ------------------------------------------------------------------ training

def test_distil_with_alpha_zero_learns_the_labels_and_with_alpha_one_the_teacher(classifier):
    """Four sentences, labels opposite to what the 'teacher' logits say: hard
    labels only must fit the labels, the soft term only must fit the teacher."""
    model, tok = classifier
    labels = [1, 0, 1, 0]
    teacher = np.array([[4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [-4.0, 4.0]])
    cfg = FineTuneConfig(lr=1e-3, epochs=15, batch_size=4, warmup_ratio=0.0, progress=False)
    for alpha, want in ((0.0, labels), (1.0, [0, 1, 0, 1])):
        student = cut_layers(model, [0])
        losses = distil(student, tok, SENTENCES, labels, teacher, cfg, temperature=1.0,
                        alpha=alpha)
        assert len(losses) == 15 and losses[-1] < losses[0]
        pred, _ = predict(student, tok, SENTENCES)
        assert pred.tolist() == want


def test_distil_is_deterministic_given_the_seed(classifier):
    model, tok = classifier
    teacher = np.zeros((4, 2))
    cfg = FineTuneConfig(lr=1e-3, epochs=2, batch_size=2, progress=False, seed=3)
    runs = [distil(cut_layers(model, [0]), tok, SENTENCES, [1, 0, 1, 0], teacher, cfg)
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_distil_rejects_bad_arguments(classifier):
    model, tok = classifier
    student = cut_layers(model, [0])
    good = np.zeros((4, 2))
    with pytest.raises(ValueError, match="teacher_logits"):
        distil(student, tok, SENTENCES, [0, 1, 0, 1], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="labels"):
        distil(student, tok, SENTENCES, [0, 1, 2, 1], good)
    with pytest.raises(ValueError, match="labels"):
        distil(student, tok, SENTENCES, [0, 1, 0], good)
    with pytest.raises(ValueError, match="freeze"):
        distil(student, tok, SENTENCES, [0, 1, 0, 1], good, FineTuneConfig(freeze="encoder"))
    with pytest.raises(TypeError, match="config"):
        distil(student, tok, SENTENCES, [0, 1, 0, 1], good, {"lr": 1e-3})


def test_student_config_uses_the_profiles_fine_tuning_budget():
    cfg = student_config(seed=4, profile="lite")
    assert (cfg.lr, cfg.epochs, cfg.batch_size, cfg.seed) == (1e-4, 2, 16, 4)
    assert cfg.early_stopping_patience is None


def test_unlabelled_pool_holds_no_labelled_sentence_of_the_chapter():
    pool = unlabelled_pool(200)
    train, validation, test = splits()
    labelled = set(train["text"]) | set(validation["text"]) | set(test["text"])
    assert len(pool) == 200 and not labelled & set(pool)
    with pytest.raises(ValueError, match="n must be at most"):
        unlabelled_pool(10**6)


def test_student_cell_rejects_unknown_names():
    with pytest.raises(ValueError, match="student"):
        student_cell({"student": "2 layers", "method": "hard labels"}, 0)
    with pytest.raises(ValueError, match="method"):
        student_cell({"student": "1 layer", "method": "soft"}, 0)


# ------------------------------------------------------------------ int8

def test_quantize_replaces_every_linear_layer_and_keeps_the_predictions_close(classifier):
    model, tok = classifier
    q = quantize(model)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    # six per block (q, k, v, out, up, down), the unused pooler's dense layer, the head
    assert n_linear == 6 * 6 + 2
    assert not any(isinstance(m, torch.nn.Linear) for m in q.modules())
    assert sum(isinstance(m, DynamicInt8Linear) for m in q.modules()) == n_linear
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == n_linear  # untouched
    # int8 rounding moves each sentence vector far less than the distance
    # between two sentences: every int8 vector is nearest its own float one
    from tlbook.heads import mean_pool

    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        a, b = (mean_pool(m.bert(**enc).last_hidden_state, enc["attention_mask"])
                for m in (model, q))
    cos = F.cosine_similarity(b[:, None], a[None], dim=-1)  # (int8, float)
    assert cos.argmax(1).tolist() == list(range(len(SENTENCES)))
    assert cos.diagonal().min().item() > 0.8


def test_int8_linear_weights_take_about_a_quarter_of_the_bytes():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(512, 512))
    ratio = size_on_disk(quantize(layer)) / size_on_disk(layer)
    assert 0.24 < ratio < 0.30
    assert size_on_disk(layer) >= 4 * 512 * 513


def test_sentences_per_second_is_positive_and_checks_arguments(classifier):
    model, tok = classifier
    small = cut_layers(model, [0])
    assert sentences_per_second(small, tok, SENTENCES, batch_size=2) > 0
    with pytest.raises(ValueError, match="batch_size"):
        sentences_per_second(small, tok, SENTENCES, batch_size=0)
    with pytest.raises(TypeError, match="model"):
        quantize("model")
    with pytest.raises(TypeError, match="model"):
        size_on_disk(copy.copy)
