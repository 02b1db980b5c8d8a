"""Tests of tlbook.forgetting (and the penalty / fused options of lora.fit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tlbook.forgetting import (EWCPenalty, L2SPPenalty, MultiHeadClassifier, debiased_cka,
                               fisher_diagonal, layer_cka, linear_cka, parameter_distance,
                               probe_head, rehearsal_mix, task_accuracy, task_correct,
                               task_loader, train_task)


def _random(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


# ------------------------------------------------------------------ CKA


@pytest.mark.parametrize("n, d", [(50, 8), (6, 20)])  # feature-space and Gram branches
def test_cka_of_a_matrix_with_itself_is_one(n, d):
    x = _random(n, d, 0)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_ignores_orthogonal_rotation_isotropic_scaling_and_shift():
    x = _random(40, 6, 1)
    q, _ = np.linalg.qr(_random(6, 6, 2))  # a random orthogonal matrix
    assert np.allclose(q.T @ q, np.eye(6))
    y = 3.7 * x @ q + 5.0
    assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-10)
    z = _random(40, 6, 3)
    assert linear_cka(y, z) == pytest.approx(linear_cka(x, z), abs=1e-10)


def test_cka_is_not_invariant_to_scaling_one_feature():
    # Anisotropic scaling changes which directions dominate: CKA drops below 1.
    x = _random(200, 5, 4)
    y = x * np.array([10.0, 1, 1, 1, 1])
    assert linear_cka(x, y) < 0.9


def test_cka_of_independent_random_matrices_is_small():
    # Expected value ~ d1 * d2 / n^2 scale for independent Gaussians; n >> d here.
    x, y = _random(2000, 10, 5), _random(2000, 12, 6)
    assert linear_cka(x, y) < 0.02


def test_cka_is_symmetric_accepts_torch_and_different_widths():
    x, y = _random(30, 4, 7), _random(30, 9, 8)
    a = linear_cka(x, y)
    assert linear_cka(y, x) == pytest.approx(a, abs=1e-12)
    assert linear_cka(torch.tensor(x, dtype=torch.float32), torch.tensor(y)) == \
        pytest.approx(a, abs=1e-6)
    assert 0.0 <= a <= 1.0


def test_cka_feature_and_gram_forms_agree():
    # Fewer rows than columns takes the Gram form, more rows the feature form;
    # both must equal the HSIC ratio computed directly from the Gram matrices.
    x, y = _random(9, 10, 9), _random(9, 3, 10)
    xc, yc = x - x.mean(0), y - y.mean(0)
    k, l_ = xc @ xc.T, yc @ yc.T
    direct = np.trace(k @ l_) / np.sqrt(np.trace(k @ k) * np.trace(l_ @ l_))
    assert linear_cka(x, y) == pytest.approx(direct, abs=1e-12)
    x2 = _random(30, 3, 11)
    y2 = _random(30, 2, 12)
    xc, yc = x2 - x2.mean(0), y2 - y2.mean(0)
    k, l_ = xc @ xc.T, yc @ yc.T
    direct = np.trace(k @ l_) / np.sqrt(np.trace(k @ k) * np.trace(l_ @ l_))
    assert linear_cka(x2, y2) == pytest.approx(direct, abs=1e-12)


def test_cka_rejects_bad_arguments_with_clear_messages():
    x = _random(10, 3, 0)
    with pytest.raises(ValueError, match="same number of rows"):
        linear_cka(x, x[:9])
    with pytest.raises(ValueError, match="at least 2 rows"):
        linear_cka(x[:1], x[:1])
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(x[:, 0], x)
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        linear_cka(x.tolist(), x)
    with pytest.raises(ValueError, match="y is constant"):
        linear_cka(x, np.ones((10, 2)))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        linear_cka(bad, x)


def test_layer_cka_one_value_per_layer():
    a = np.stack([_random(20, 4, i) for i in range(3)])  # (layers, n, hidden)
    b = a.copy()
    b[2] = _random(20, 4, 99)
    out = layer_cka(a, list(b))
    assert out.shape == (3,)
    assert out[:2] == pytest.approx([1.0, 1.0])
    assert out[2] < 1.0
    unbiased = layer_cka(a, b, debiased=True)
    assert unbiased[:2] == pytest.approx([1.0, 1.0])
    assert unbiased[2] == pytest.approx(debiased_cka(a[2], b[2]))
    with pytest.raises(TypeError, match="debiased"):
        layer_cka(a, b, debiased="yes")
    with pytest.raises(ValueError, match="same, non-zero number of layers"):
        layer_cka(a, a[:2])
    with pytest.raises(TypeError, match="states_a"):
        layer_cka(3, a)


def test_debiased_cka_removes_the_width_bias_and_keeps_the_invariances():
    # Independent Gaussian representations: plain linear CKA grows with d/n,
    # the debiased estimator stays near 0.
    x, y = _random(300, 120, 10), _random(300, 120, 11)
    assert linear_cka(x, y) > 0.15
    assert abs(debiased_cka(x, y)) < 0.02
    assert debiased_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    q, _ = np.linalg.qr(_random(120, 120, 12))
    assert debiased_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-10)
    z = x[:, :60] + 0.5 * _random(300, 60, 13)  # related: shares half of x
    assert 0.2 < debiased_cka(x, z) < 0.9
    assert debiased_cka(z, x) == pytest.approx(debiased_cka(x, z), abs=1e-12)
    with pytest.raises(ValueError, match="at least 4 rows"):
        debiased_cka(x[:3], y[:3])
    with pytest.raises(ValueError, match="constant"):
        debiased_cka(np.ones((10, 3)), y[:10])
    with pytest.raises(ValueError, match="same number of rows"):
        debiased_cka(x, y[:10])


# ------------------------------------------------------------------ L2-SP, EWC and rehearsal


class _Softmax(nn.Module):
    """Logistic regression over two classes, fed through the batch key a
    classifier reads (``input_ids``), for known-answer Fisher values."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, input_ids, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        return SequenceClassifierOutput(logits=self.linear(input_ids.double()))


def test_fisher_of_logistic_regression_has_its_closed_form():
    torch.manual_seed(0)
    model = _Softmax().double()
    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]], dtype=torch.float64)
    loader = [{"input_ids": x, "labels": torch.tensor([0, 1])}]
    fisher = fisher_diagonal(model, loader)
    # d log p_c / d z_k = [c == k] - p_k, so sum_c p_c (..)^2 = p_k (1 - p_k) for each
    # logit; the weight row k gets that times x_j^2, the bias times 1.
    with torch.no_grad():
        p = torch.softmax(model.linear(x), dim=-1)
    v = p * (1 - p)  # (examples, classes)
    expected_w = (v.unsqueeze(-1) * x.unsqueeze(1) ** 2).mean(0)
    assert torch.allclose(fisher["linear.weight"], expected_w, atol=1e-12)
    assert torch.allclose(fisher["linear.bias"], v.mean(0), atol=1e-12)
    assert torch.allclose(fisher_diagonal(model, loader, max_examples=1)["linear.bias"], v[0],
                          atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        fisher_diagonal(model, [])
    with pytest.raises(ValueError, match="max_examples"):
        fisher_diagonal(model, loader, max_examples=0)


def test_ewc_weights_each_squared_change_by_its_fisher():
    layer = nn.Linear(2, 1)
    fisher = {"weight": torch.tensor([[4.0, 0.0]]), "bias": torch.tensor([1.0])}
    penalty = EWCPenalty(layer, fisher, alpha=0.5)
    assert float(penalty().detach()) == 0.0
    with torch.no_grad():
        layer.weight += 1.0  # both weights move by 1, only the first matters
        layer.bias -= 2.0
    # alpha / 2 * (4 * 1 + 0 * 1 + 1 * 4) = 0.25 * 8
    assert float(penalty().detach()) == pytest.approx(2.0)
    twos = {n: torch.full_like(p, 2.0) for n, p in layer.named_parameters()}
    l2sp = L2SPPenalty(layer, alpha=0.5)
    ewc = EWCPenalty(layer, twos, alpha=0.5)
    with torch.no_grad():
        layer.weight -= 0.3
    assert float(ewc().detach()) == pytest.approx(float(l2sp().detach()))
    with pytest.raises(ValueError, match="does not have"):
        EWCPenalty(layer, {"nope": torch.ones(1)}, alpha=1.0)
    with pytest.raises(ValueError, match="shape"):
        EWCPenalty(layer, {"bias": torch.ones(3)}, alpha=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        EWCPenalty(layer, {"bias": -torch.ones(1)}, alpha=1.0)
    with pytest.raises(TypeError, match="fisher must be a dict"):
        EWCPenalty(layer, [torch.ones(1)], alpha=1.0)



def test_l2sp_is_zero_at_start_and_alpha_times_squared_distance_after_a_change():
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    penalty = L2SPPenalty(layer, alpha=0.5)
    assert float(penalty().detach()) == 0.0
    with torch.no_grad():
        layer.weight[0, 0] += 2.0
        layer.bias[1] -= 1.0
    assert float(penalty.squared_distance().detach()) == pytest.approx(5.0)
    assert float(penalty().detach()) == pytest.approx(2.5)


def test_l2sp_gradient_points_back_to_the_start():
    layer = nn.Linear(2, 1, bias=False)
    penalty = L2SPPenalty(layer, alpha=1.0)
    start = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight += 1.0
    penalty().backward()
    # d/dw (w - w0)^2 = 2 (w - w0) = 2: a gradient step moves w back towards w0.
    assert torch.allclose(layer.weight.grad, torch.full_like(start, 2.0))


def test_l2sp_ignores_frozen_parameters_and_checks_arguments():
    layer = nn.Linear(2, 2)
    penalty = L2SPPenalty(layer, alpha=1.0)
    layer.bias.requires_grad = False
    with torch.no_grad():
        layer.bias += 1.0
    assert float(penalty().detach()) == 0.0
    with pytest.raises(ValueError, match="alpha must be a number >= 0"):
        L2SPPenalty(layer, alpha=-1)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        L2SPPenalty([layer.weight], alpha=1.0)


def test_rehearsal_mix_sizes_membership_and_determinism():
    new = [f"b{i}" for i in range(10)]
    old = [f"a{i}" for i in range(50)]
    mixed = rehearsal_mix(new, old, 7, seed=3)
    assert len(mixed) == 17
    assert sorted(x for x in mixed if x.startswith("b")) == sorted(new)
    drawn = [x for x in mixed if x.startswith("a")]
    assert len(set(drawn)) == 7 and set(drawn) <= set(old)
    assert rehearsal_mix(new, old, 7, seed=3) == mixed
    assert rehearsal_mix(new, old, 7, seed=4) != mixed
    assert sorted(rehearsal_mix(new, old, 0)) == sorted(new)
    with pytest.raises(ValueError, match="n_old must be an int between 0 and len"):
        rehearsal_mix(new, old, 51)
    with pytest.raises(ValueError, match="n_old"):
        rehearsal_mix(new, old, -1)


# ------------------------------------------------------------------ models


@pytest.fixture(scope="module")
def encoder():
    from tlbook.models import load_encoder

    torch.manual_seed(0)
    return load_encoder(num_labels=2)


TEXTS = ["a wonderful, moving film", "dull and far too long", "free money, click now",
         "meeting moved to tuesday"]


def test_multihead_routes_each_example_to_its_head(encoder):
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=1, seed=0).eval()
    assert torch.equal(mh.heads[0].weight, model.classifier.weight)
    assert mh.heads[0] is not model.classifier  # a copy: the original is untouched
    batch = next(iter(task_loader(TEXTS, [1, 0, 1, 0], [0, 0, 1, 1], tok)))
    with torch.no_grad():
        out = mh(**batch)
        pooled = mh.encoder(input_ids=batch["input_ids"],
                            attention_mask=batch["attention_mask"]).pooler_output
    for row, t in enumerate(batch["task"].tolist()):
        assert torch.allclose(out.logits[row], mh.heads[t](pooled[row]), atol=1e-6)
    assert out.loss is not None and out.loss.ndim == 0
    with pytest.raises(ValueError, match="task ids must be in 0..1"):
        mh(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
           task=torch.full((len(batch["input_ids"]),), 2))
    with pytest.raises(TypeError, match="classifier"):
        MultiHeadClassifier.from_classifier(mh.encoder)


def test_train_task_variants_change_what_they_should(encoder):
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=1, seed=0)
    texts, labels, tasks = TEXTS[2:] * 4, [1, 0] * 4, [1] * 8
    args = dict(lr=1e-3, batch_size=4, max_length=16)
    plain, losses = train_task(mh, tok, texts, labels, tasks, **args)
    assert len(losses) == 2
    assert torch.equal(plain.heads[0].weight, mh.heads[0].weight)  # old head untouched
    assert not torch.equal(plain.heads[1].weight, mh.heads[1].weight)
    assert parameter_distance(mh.encoder, plain.encoder) > 0
    frozen, _ = train_task(mh, tok, texts, labels, tasks, freeze_layers=6, **args)
    assert parameter_distance(mh.encoder.embeddings, frozen.encoder.embeddings) == 0
    assert parameter_distance(mh.encoder.encoder, frozen.encoder.encoder) == 0
    lora, _ = train_task(mh, tok, texts, labels, tasks, lora_r=2, **args)
    assert type(lora.encoder.encoder.layer[0].attention.self.query) is nn.Linear  # merged
    assert parameter_distance(mh.encoder.embeddings, lora.encoder.embeddings) == 0
    held, _ = train_task(mh, tok, texts, labels, tasks, l2sp_alpha=1e4, **args)
    assert parameter_distance(mh.encoder, held.encoder) < parameter_distance(mh.encoder,
                                                                             plain.encoder)
    mixed, _ = train_task(mh, tok, TEXTS, [1, 0, 1, 0], [0, 0, 1, 1], frozen_heads=[0], **args)
    assert torch.equal(mixed.heads[0].weight, mh.heads[0].weight)
    assert not torch.equal(mixed.heads[1].weight, mh.heads[1].weight)
    acc = task_accuracy(plain, tok, TEXTS[2:], [1, 0], task=1)
    assert acc in (0.0, 0.5, 1.0)
    fisher = fisher_diagonal(mh, task_loader(TEXTS[:2], [1, 0], 0, tok), module=mh.encoder)
    assert set(fisher) == {n for n, _ in mh.encoder.named_parameters()}
    assert all((f >= 0).all() for f in fisher.values()) and \
        sum(float(f.sum()) for f in fisher.values()) > 0
    # EWC with every importance 2 is L2-SP with the same strength: the same training run
    twos = {n: torch.full_like(f, 2.0) for n, f in fisher.items()}
    ewc, _ = train_task(mh, tok, texts, labels, tasks, ewc_alpha=1e4, fisher=twos, **args)
    assert parameter_distance(held.encoder, ewc.encoder) < \
        1e-3 * parameter_distance(mh.encoder, held.encoder)
    with pytest.raises(ValueError, match="needs fisher"):
        train_task(mh, tok, texts, labels, tasks, ewc_alpha=1.0, **args)
    with pytest.raises(ValueError, match="freeze_layers must be an int in 0..6"):
        train_task(mh, tok, texts, labels, tasks, freeze_layers=7, **args)
    with pytest.raises(ValueError, match="lora_r"):
        train_task(mh, tok, texts, labels, tasks, lora_r=2, freeze_layers=1, **args)
    with pytest.raises(ValueError, match="task must be an int in 0..1"):
        task_accuracy(plain, tok, TEXTS, [0] * 4, task=2)


def test_task_correct_follows_the_order_of_the_texts(encoder):
    # task_loader serves texts sorted by length; task_correct must undo that.
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=1, seed=0)
    texts = ["a film that is long and long and long and long", "good", "bad one",
             "a very very good film"]
    loader = task_loader(texts, [0, 1, 0, 1], 0, tok)
    assert sorted(loader.order) == [0, 1, 2, 3] and loader.order[0] == 1  # shortest first
    preds = []
    with torch.no_grad():
        for text in texts:  # one at a time: order cannot be mixed up
            batch = next(iter(task_loader([text], [0], 0, tok)))
            batch.pop("labels")
            preds.append(int(mh.eval()(**batch).logits.argmax(-1)))
    # gold labels equal to each prediction, then flipped: 1s, then 0s, in text order
    assert task_correct(mh, tok, texts, preds, task=0) == [1, 1, 1, 1]
    flipped = [1 - p for p in preds[:2]] + preds[2:]
    assert task_correct(mh, tok, texts, flipped, task=0, batch_size=3) == [0, 0, 1, 1]
    assert task_accuracy(mh, tok, texts, flipped, task=0) == 0.5


def test_task_loader_checks_lengths(encoder):
    _, tok = encoder
    with pytest.raises(ValueError, match="equally long"):
        task_loader(TEXTS, [0, 1], 0, tok)
    with pytest.raises(TypeError, match="texts must be a sequence of str"):
        task_loader("one text", [0], 0, tok)


def test_fit_adds_the_penalty_and_fused_matches_the_default():
    from tlbook.lora import fit

    def data():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 3, generator=g)
        return [{"x": x[i:i + 4], "y": x[i:i + 4].sum(1, keepdim=True)} for i in range(0, 16, 4)]

    class Reg(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = nn.Linear(3, 1)

        def forward(self, x, y):
            return type("Out", (), {"loss": nn.functional.mse_loss(self.lin(x), y)})()

    plain, fused, held = Reg(), Reg(), Reg()
    start = copy_state(plain)
    loss_plain = fit(plain, data(), lr=0.1, epochs=3, progress=False, warmup_ratio=0.0)
    loss_fused = fit(fused, data(), lr=0.1, epochs=3, progress=False, warmup_ratio=0.0,
                     fused=True)
    assert np.allclose(loss_plain, loss_fused, atol=1e-5)
    fit(held, data(), lr=0.1, epochs=3, progress=False, warmup_ratio=0.0,
        penalty=L2SPPenalty(held, alpha=1e3))
    def moved(m):
        return sum(float((p.detach() - start[n]).pow(2).sum()) for n, p in m.named_parameters())

    assert moved(held) < moved(plain)
    with pytest.raises(TypeError, match="penalty must be None or a callable"):
        fit(held, data(), lr=0.1, progress=False, penalty=1.0)


def copy_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_mean_pooling_averages_the_real_tokens_only(encoder):
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=0, pooling="mean").eval()
    batch = next(iter(task_loader(TEXTS[:2], [1, 0], 0, tok)))
    with torch.no_grad():
        pooled = mh.pooled(batch["input_ids"], batch["attention_mask"])
        for row in range(2):
            n = int(batch["attention_mask"][row].sum())
            alone = mh.encoder(input_ids=batch["input_ids"][row:row + 1, :n]).last_hidden_state
            assert torch.allclose(pooled[row], alone[0].mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="pooling must be one of"):
        MultiHeadClassifier(mh.encoder, list(mh.heads), pooling="max")


def test_probe_head_makes_the_head_predict_like_the_probe(encoder):
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=1, pooling="mean")
    texts = TEXTS * 3
    labels = [1, 0, 1, 0] * 3  # separable: the same four texts repeat
    train_acc = probe_head(mh, tok, texts, labels, task=1, c=100.0)
    assert train_acc == 1.0
    assert task_accuracy(mh, tok, texts, labels, task=1) == 1.0
    with pytest.raises(ValueError, match="task must be an int in 0..1"):
        probe_head(mh, tok, texts, labels, task=5)


def test_callback_sees_every_step(encoder):
    model, tok = encoder
    mh = MultiHeadClassifier.from_classifier(model, new_heads=0, pooling="mean")
    seen = []
    _, losses = train_task(mh, tok, TEXTS * 2, [1, 0, 1, 0] * 2, [0] * 8, lr=1e-4, batch_size=2,
                           max_length=16, freeze_layers=6,
                           callback=lambda step, m: seen.append((step, m.training)))
    assert [s for s, _ in seen] == list(range(1, len(losses) + 1)) == [1, 2, 3, 4]
    assert all(training for _, training in seen)


# ------------------------------------------------------------------ exercise checkers


def test_chapter_8_checkers_accept_correct_answers_and_reject_wrong_ones(capsys):
    from tlbook.exercises import check

    def gram_cka(x, y):
        n = x.shape[0]
        h = np.eye(n) - np.ones((n, n)) / n
        k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h
        return (k * l_).sum() / (np.linalg.norm(k) * np.linalg.norm(l_))

    assert check("8.1", gram_cka)
    assert not check("8.1", lambda x, y: float(np.corrcoef(x[:, 0], y[:, 0])[0, 1]))

    def l2sp(model, start, alpha):
        return alpha * sum(((p - start[n]) ** 2).sum() for n, p in model.named_parameters())

    assert check("8.2", l2sp)
    assert not check("8.2", lambda model, start, alpha: 0.0)

    def best(table):
        return (table["sentiment after B"] + table["spam after B"]).idxmax()

    assert check("8.4", best)
    assert not check("8.4", lambda table: table["spam after B"].idxmax())
    assert not check("8.3", 2.0)  # a CKA is at most 1
    out = capsys.readouterr().out
    assert out.count("correct.") == 3 and out.count("not yet") == 4


def test_the_sequential_cell_refuses_unknown_variants_before_loading_anything():
    from tlbook.forgetting import SEQUENTIAL_VARIANTS, sequential_cell

    assert "EWC" in SEQUENTIAL_VARIANTS and "plain fine-tuning" in SEQUENTIAL_VARIANTS
    with pytest.raises(ValueError, match="variant"):
        sequential_cell({"variant": "forget nothing"}, 0)
    with pytest.raises(ValueError, match="config must be"):
        sequential_cell({"variant": "EWC", "lr": 1.0}, 0)


def test_the_chapter_data_have_the_sizes_it_states_and_disjoint_splits():
    from tlbook.forgetting import sequential_data

    data = sequential_data()
    assert {k: len(v) for k, v in data.items()} == {
        "train": 160, "validation": 100, "test": 200, "spam train": 640, "spam test": 200}
    assert not set(data["train"]["text"]) & set(data["test"]["text"])
    assert set(data["spam train"]["label"]) == set(data["spam test"]["label"]) == {0, 1}


def test_the_chat_cell_refuses_unknown_methods_before_loading_anything():
    from tlbook.forgetting import CHAT_METHODS, chat_answers, chat_cell

    assert CHAT_METHODS == ("full fine-tuning", "LoRA")
    with pytest.raises(ValueError, match="method"):
        chat_cell({"method": "prompting", "lr": 1e-3}, 0)
    with pytest.raises(ValueError, match="config must be"):
        chat_cell({"method": "LoRA", "lr": 1e-3, "steps": 3}, 0)
    with pytest.raises(ValueError, match="lr"):
        chat_cell({"method": "LoRA", "lr": -1e-3}, 0)
    assert chat_answers([0, 1]) == [" negative.<|im_end|>", " positive.<|im_end|>"]


def test_the_chat_data_hold_out_blocks_it_never_trains_on_and_pair_prompts_with_answers():
    from tlbook.data import first_rows, load_movie_sentiment
    from tlbook.forgetting import CHAT_ANSWER_PREFIX, chat_data, chat_train
    from tlbook.models import load_causal_lm

    lm, tok = load_causal_lm()
    data = chat_data(tok, n_prompts=5)
    assert len(data["held"]) == 16 and len(data["pool"]) >= 32  # 16 steps of 2 blocks
    held = {tuple(b) for b in data["held"]}
    assert len(held) == 16 and not held & {tuple(b) for b in data["pool"]}
    assert all(len(b) == 64 for b in data["held"] + data["pool"])
    gold = first_rows(load_movie_sentiment()["test"], 5)
    assert data["labels"] == list(gold["label"])
    for text, prompt, label, answer in zip(gold["text"], data["prompts"], data["labels"],
                                           data["answers"]):
        assert text in prompt and prompt.endswith(CHAT_ANSWER_PREFIX)
        assert answer.startswith(" positive" if label else " negative")
    # the same held-out blocks whatever else is asked for
    assert chat_data(tok, n_prompts=2)["held"] == data["held"]
    with pytest.raises(ValueError, match="method"):
        chat_train(lm, data, "prompting", 1e-3)
    with pytest.raises(ValueError, match="lr"):
        chat_train(lm, data, "LoRA", 0.0)
