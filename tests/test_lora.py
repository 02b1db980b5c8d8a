"""LoRA from scratch (tlbook.lora) against peft, on the real MiniLM encoder and
SmolLM2 causal LM with tiny real inputs."""

import copy
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from tlbook.data import brown_sentences, first_rows, load_movie_sentiment
from tlbook.lora import (LoRALinear, PeakMemory, add_lora, copy_peft_lora_weights, fit,
                         generate_greedy, linear_layer_shapes, lm_blocks, lm_loader, lm_loss,
                         lora_layers, lora_parameter_count, merge_lora, saved_size,
                         train_classifier)
from tlbook.models import load_causal_lm, load_encoder

peft = pytest.importorskip("peft")

SENTENCES = ["a gripping, moving film", "dull, long and badly acted", "fine"]


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return load_encoder("lite", num_labels=2)


@pytest.fixture(scope="module")
def causal_lm():
    return load_causal_lm("lite")


def fresh_copy(model):
    return copy.deepcopy(model).eval()


def n_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def logits(model, tok, texts=SENTENCES):
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits


def peft_model(model, targets, r=8, alpha=16, task_type="SEQ_CLS", random_b=True):
    from peft import LoraConfig, get_peft_model

    # init_lora_weights=False draws B at random too: a zero B would make any
    # comparison of outputs trivially true.
    cfg = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, task_type=task_type,
                     init_lora_weights=not random_b)
    return get_peft_model(fresh_copy(model), cfg).eval()


# ------------------------------------------------------------------ the layer


def test_lora_linear_starts_as_the_base_layer_and_has_r_times_din_plus_dout_parameters():
    torch.manual_seed(0)
    base = nn.Linear(6, 4)
    layer = LoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), base(x))
    assert layer.A.shape == (2, 6) and layer.B.shape == (4, 2)
    assert torch.count_nonzero(layer.B) == 0 and torch.count_nonzero(layer.A) > 0
    assert n_trainable(layer) == lora_parameter_count(6, 4, 2) == 2 * (6 + 4)
    assert not base.weight.requires_grad and not base.bias.requires_grad


def test_a_is_initialised_like_a_fresh_linear_layer():
    # peft and the original LoRA code use nn.Linear's default (Kaiming-uniform,
    # a=sqrt(5)): bound 1/sqrt(d_in).
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(400, 10), r=64)
    bound = 1 / math.sqrt(400)
    assert layer.A.abs().max() <= bound
    assert layer.A.abs().max() > 0.95 * bound


def test_forward_is_base_plus_scaled_low_rank_update():
    torch.manual_seed(0)
    base = nn.Linear(5, 3)
    layer = LoRALinear(base, r=2, alpha=6)
    nn.init.normal_(layer.B)
    x = torch.randn(4, 5)
    expected = x @ base.weight.T + base.bias + 3.0 * (x @ layer.A.T @ layer.B.T)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.delta_weight(), 3.0 * layer.B @ layer.A)


def test_merge_and_unmerge_keep_outputs_and_restore_weights():
    torch.manual_seed(0)
    base = nn.Linear(8, 8)
    w0 = base.weight.detach().clone()
    layer = LoRALinear(base, r=3, alpha=6)
    nn.init.normal_(layer.B)
    x = torch.randn(2, 8)
    before = layer(x)
    layer.merge()
    assert layer.merged
    torch.testing.assert_close(layer(x), before)
    torch.testing.assert_close(base(x), before)  # the update now lives in W0
    with pytest.raises(RuntimeError, match="already merged"):
        layer.merge()
    layer.unmerge()
    torch.testing.assert_close(base.weight, w0)
    with pytest.raises(RuntimeError, match="not merged"):
        layer.unmerge()


def test_dropout_acts_only_on_the_update_and_only_in_training():
    torch.manual_seed(0)
    base = nn.Linear(16, 4)
    layer = LoRALinear(base, r=2, dropout=0.5)
    x = torch.randn(8, 16)
    torch.testing.assert_close(layer.eval()(x), base(x))  # B = 0
    nn.init.normal_(layer.B)
    layer.train()
    a, b = layer(x), layer(x)
    assert not torch.allclose(a, b)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))


@pytest.mark.parametrize("r", [0, -1, 2.5, True])
def test_rank_must_be_a_positive_int(r):
    with pytest.raises(ValueError, match=r"r must be a positive int"):
        LoRALinear(nn.Linear(4, 4), r=r)
    with pytest.raises(ValueError, match=r"r must be a positive int"):
        lora_parameter_count(4, 4, r)


def test_other_bad_layer_arguments_are_named():
    with pytest.raises(TypeError, match="base must be a torch.nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        LoRALinear(nn.Linear(4, 4), alpha=0)
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\)"):
        LoRALinear(nn.Linear(4, 4), dropout=1.0)
    with pytest.raises(ValueError, match="d_in must be a positive int"):
        lora_parameter_count(0, 4, 2)


# ------------------------------------------------------------------ wrapping a model


def test_add_lora_on_query_value_freezes_all_but_adapters_and_head(encoder):
    model, _ = encoder
    ours = fresh_copy(model)
    names = add_lora(ours, ("query", "value"), r=4, train_also=("classifier",))
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    assert len(names) == 2 * layers and all(n.endswith((".query", ".value")) for n in names)
    head = hidden * 2 + 2
    assert n_trainable(ours) == 2 * layers * 4 * (hidden + hidden) + head
    trainable = {n for n, p in ours.named_parameters() if p.requires_grad}
    assert all(n.endswith((".A", ".B")) or n.startswith("classifier.") for n in trainable)


def test_unknown_target_lists_the_available_names(encoder):
    model, _ = encoder
    with pytest.raises(ValueError, match=r"\['querry'\] name no linear layer.*available: "
                                         r"\[.*'key'.*'query'.*'value'\]"):
        add_lora(fresh_copy(model), ("querry", "value"))
    with pytest.raises(ValueError, match="targets must be 'all-linear' or a list"):
        add_lora(fresh_copy(model), "all")
    with pytest.raises(ValueError, match="r must be a positive int"):
        add_lora(fresh_copy(model), ("query",), r=0)
    with pytest.raises(ValueError, match=r"train_also names no module.*\['head'\]"):
        add_lora(fresh_copy(model), ("query",), train_also=("head",))


def test_wrapping_twice_is_refused(encoder):
    model, _ = encoder
    ours = fresh_copy(model)
    add_lora(ours, ("query",))
    with pytest.raises(ValueError, match="already has LoRA layers"):
        add_lora(ours, ("value",))


@pytest.mark.parametrize("targets", [["query", "value"], "all-linear"])
def test_same_outputs_and_trainable_count_as_peft_on_the_encoder(encoder, targets):
    model, tok = encoder
    reference = peft_model(model, targets)
    ours = fresh_copy(model)
    names = add_lora(ours, targets, r=8, alpha=16, train_also=("classifier",))
    assert n_trainable(ours) == reference.get_nb_trainable_parameters()[0]
    assert copy_peft_lora_weights(ours, reference) == len(names)
    # Not zero before the copy: peft's random B changes the outputs.
    assert (logits(reference, tok) - logits(model, tok)).abs().max() > 1e-4
    torch.testing.assert_close(logits(ours, tok), logits(reference, tok), atol=1e-5, rtol=1e-5)


def test_all_linear_skips_the_head_and_covers_every_other_linear_layer(encoder):
    model, _ = encoder
    ours = fresh_copy(model)
    names = add_lora(ours, "all-linear", train_also=("classifier",))
    linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert names == [n for n in linear if n != "classifier"]


def test_same_outputs_as_peft_on_the_causal_lm(causal_lm):
    model, tok = causal_lm
    reference = peft_model(model, ["q_proj", "v_proj"], task_type="CAUSAL_LM")
    ours = fresh_copy(model)
    add_lora(ours, ("q_proj", "v_proj"), r=8, alpha=16)
    cfg = model.config
    kv = cfg.num_key_value_heads * cfg.hidden_size // cfg.num_attention_heads
    per_layer = 8 * (2 * cfg.hidden_size) + 8 * (cfg.hidden_size + kv)
    assert n_trainable(ours) == cfg.num_hidden_layers * per_layer
    assert n_trainable(ours) == reference.get_nb_trainable_parameters()[0]
    copy_peft_lora_weights(ours, reference)
    enc = tok(["The old house stood"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(ours(**enc).logits, reference(**enc).logits,
                                   atol=1e-4, rtol=1e-4)
    assert "lm_head" not in add_lora(fresh_copy(model), "all-linear")


def test_copy_refuses_a_different_rank(encoder):
    model, _ = encoder
    reference = peft_model(model, ["query", "value"], r=4)
    ours = fresh_copy(model)
    add_lora(ours, ("query", "value"), r=8)
    with pytest.raises(ValueError, match="shapes differ"):
        copy_peft_lora_weights(ours, reference)


def test_one_adamw_step_moves_ours_and_peft_to_the_same_parameters(encoder):
    """Same weights copied, same labelled batch, one AdamW step each: the
    from-scratch layer must compute the same gradients as peft, so every
    trained tensor (A, B and the head) ends where peft's does."""
    model, tok = encoder
    theirs = peft_model(model, ["query", "value"], r=4, alpha=8)
    ours = fresh_copy(model)
    add_lora(ours, ("query", "value"), r=4, alpha=8, train_also=("classifier",))
    copy_peft_lora_weights(ours, theirs)
    start = {n: p.detach().clone() for n, p in ours.named_parameters() if p.requires_grad}
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    for m in (ours, theirs):
        m(**enc, labels=torch.tensor([1, 0, 1])).loss.backward()
        torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-3).step()
    inner = theirs.base_model.model
    pairs = [(ours.classifier.weight, inner.classifier.modules_to_save["default"].weight),
             (ours.classifier.bias, inner.classifier.modules_to_save["default"].bias)]
    for name, layer in lora_layers(ours).items():
        pairs += [(layer.A, inner.get_submodule(name).lora_A["default"].weight),
                  (layer.B, inner.get_submodule(name).lora_B["default"].weight)]
    assert len(pairs) == 2 + 2 * 12
    for a, b in pairs:
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    # the step moved every trained tensor: Adam's first step is about lr per entry
    for n, p in ours.named_parameters():
        if n in start:
            assert 5e-4 < (p - start[n]).abs().max().item() < 2e-3, n


def test_sentiment_cell_rejects_unknown_targets():
    from tlbook.lora import sentiment_cell

    with pytest.raises(ValueError, match="targets must be 'q\\+v' or 'all-linear'"):
        sentiment_cell({"method": "lora", "lr": 1e-3, "targets": "query"}, 0)


def test_merge_lora_restores_plain_linear_layers_with_the_same_outputs(encoder):
    model, tok = encoder
    ours = fresh_copy(model)
    add_lora(ours, ("query", "value"), r=4, train_also=("classifier",))
    torch.manual_seed(1)
    for layer in lora_layers(ours).values():
        nn.init.normal_(layer.B, std=0.02)
    before = logits(ours, tok)
    merged = merge_lora(ours)
    assert not lora_layers(merged)
    assert sum(p.numel() for p in merged.parameters()) == sum(p.numel()
                                                              for p in model.parameters())
    torch.testing.assert_close(logits(merged, tok), before, atol=1e-5, rtol=1e-5)


def test_linear_layer_shapes_of_the_encoder(encoder):
    model, _ = encoder
    table = linear_layer_shapes(model)
    h, n = model.config.hidden_size, model.config.num_hidden_layers
    rows = {(r.name, r.d_in, r.d_out): r.layers for r in table.itertuples()}
    assert rows[("attention.self.query", h, h)] == n
    assert rows[("intermediate.dense", h, model.config.intermediate_size)] == n
    assert rows[("classifier", h, 2)] == 1
    assert table["layers"].sum() == sum(isinstance(m, nn.Linear) for m in model.modules())
    wrapped = fresh_copy(model)
    add_lora(wrapped, ("query",))
    assert linear_layer_shapes(wrapped).equals(table)


# ------------------------------------------------------------------ training


def test_fit_trains_only_what_requires_grad_and_lowers_the_loss(encoder):
    from tlbook.finetune import make_loader

    model, tok = encoder
    ds = load_movie_sentiment("lite")
    train = first_rows(ds["train"], 32)
    ours = fresh_copy(model)
    add_lora(ours, ("query", "value"), r=4, train_also=("classifier",))
    frozen = {n: p.detach().clone() for n, p in ours.named_parameters() if not p.requires_grad}
    loader = make_loader(train["text"], tok, list(train["label"]), batch_size=16,
                         max_length=32, shuffle_seed=0)
    losses = fit(ours, loader, lr=5e-3, epochs=5, warmup_ratio=0.0, progress=False)
    assert len(losses) == 5 * 2
    assert np.mean(losses[-2:]) < np.mean(losses[:2])
    for n, p in ours.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n
    assert all(torch.count_nonzero(layer.B) > 0 for layer in lora_layers(ours).values())
    assert not ours.training


def test_fit_rejects_bad_arguments(encoder):
    model, _ = encoder
    frozen = fresh_copy(model).requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter that requires gradients"):
        fit(frozen, [], lr=1e-3)
    with pytest.raises(ValueError, match="lr must be a positive float"):
        fit(model, [], lr=0)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        fit(model, [], lr=1e-3, epochs=0)


def test_train_classifier_rejects_unknown_method():
    with pytest.raises(ValueError, match=r"method must be one of \['head', 'lora', 'full'\]"):
        train_classifier("adapter", None, None, lr=1e-3)


def test_train_classifier_head_only_trains_the_head_and_saves_it():
    ds = load_movie_sentiment("lite")
    res = train_classifier("head", first_rows(ds["train"], 16), first_rows(ds["test"], 8),
                           lr=1e-3, batch_size=8, max_length=32)
    hidden = res["model"].config.hidden_size
    assert res["trainable"] == 2 * hidden + 2
    assert len(res["losses"]) == 2 and 0 <= res["accuracy"] <= 1
    # float32 weights plus a small safetensors header
    assert 4 * res["trainable"] < res["saved_bytes"] < 4 * res["trainable"] + 1000


def test_train_classifier_with_a_mean_pooled_head_and_a_given_encoder_state():
    from tlbook.models import load_encoder

    ds = load_movie_sentiment("lite")
    train, test = first_rows(ds["train"], 16), first_rows(ds["test"], 8)
    args = dict(lr=2e-3, batch_size=8, max_length=32, seed=0, pooling="mean")
    lora = train_classifier("lora", train, test, **args)
    hidden = lora["model"].config.hidden_size
    # r = 8 on query and value of 6 layers, and the mean-pooled linear head
    assert lora["trainable"] == 6 * 2 * 8 * (hidden + hidden) + 2 * hidden + 2
    assert 4 * lora["trainable"] < lora["saved_bytes"] < 4 * lora["trainable"] + 10_000
    assert lora["label_seconds"] > 0
    # starting from the pretrained body's own weights changes nothing ...
    body = load_encoder()[0].state_dict()
    same = train_classifier("full", train, test, **args)
    given = train_classifier("full", train, test, encoder_state=body, **args)
    assert given["losses"] == pytest.approx(same["losses"], abs=1e-6)
    # ... and other weights are really used
    damaged = {k: v * 0 if "layer.5.output.dense.weight" in k else v for k, v in body.items()}
    other = train_classifier("full", train, test, encoder_state=damaged, **args)
    assert other["losses"][0] != pytest.approx(same["losses"][0], abs=1e-4)
    # the whole model is stored: at least 4 bytes per parameter
    assert same["saved_bytes"] >= 4 * same["trainable"]
    with pytest.raises(ValueError, match="pooling"):
        train_classifier("full", train, test, lr=1e-3, pooling="max")
    with pytest.raises(TypeError, match="encoder_state"):
        train_classifier("full", train, test, lr=1e-3, encoder_state=[1])


# ------------------------------------------------------------------ causal LM helpers


def test_lm_blocks_are_one_running_text_cut_and_drop_the_remainder(causal_lm):
    _, tok = causal_lm
    texts = [" ".join(s.words) for s in brown_sentences("humor")[:20]]
    ids = tok(" ".join(texts), add_special_tokens=False)["input_ids"]
    blocks = lm_blocks(texts, tok, block_size=16)
    assert len(blocks) == len(ids) // 16
    assert all(len(b) == 16 for b in blocks)
    assert [i for b in blocks for i in b] == ids[:16 * len(blocks)]
    with pytest.raises(ValueError, match="block_size must be an int >= 2"):
        lm_blocks(texts, tok, block_size=1)
    with pytest.raises(TypeError, match="texts must be a sequence of str"):
        lm_blocks("one string", tok)


def test_no_block_holds_the_end_of_text_separator(causal_lm):
    """For the chat model eos is the end-of-turn marker: a separator after every
    sentence would be the easiest thing to learn, so no block may contain it."""
    from tlbook.forgetting import genre_blocks

    _, tok = causal_lm
    assert tok.eos_token == "<|im_end|>"
    texts = [" ".join(s.words) for s in brown_sentences("humor")[:50]]
    for blocks in (lm_blocks(texts, tok, block_size=16), genre_blocks("humor", tok)):
        assert len(blocks) > 10
        assert not any(tok.eos_token_id in b for b in blocks)
        assert "<|im_end|>" not in tok.decode([i for b in blocks for i in b])


def test_genre_blocks_are_the_blocks_the_forgetting_chapter_was_run_on(causal_lm):
    """Chapter "Catastrophic forgetting" was executed on these blocks (one
    text per genre, the last incomplete block dropped): its stored outputs
    stay valid only while the same ids come back. Fingerprints of the token
    ids (sha256 of their JSON) as they were when that chapter ran."""
    import hashlib
    import json

    from tlbook.forgetting import genre_blocks

    _, tok = causal_lm
    expected = {"government": (1219, "a26eb56f31e9c73a"), "romance": (1183, "fde47304e9d6696d"),
                "adventure": (1192, "ba396fc891c5e8a5")}
    for genre, (n, digest) in expected.items():
        blocks = genre_blocks(genre, tok, block_size=64)
        assert (len(blocks), hashlib.sha256(json.dumps(blocks).encode()).hexdigest()[:16]) \
            == (n, digest), genre


def test_lm_loader_and_loss_match_the_model_loss(causal_lm):
    model, tok = causal_lm
    texts = [" ".join(s.words) for s in brown_sentences("humor")[:10]]
    blocks = lm_blocks(texts, tok, block_size=12)[:4]
    loader = lm_loader(blocks, batch_size=3)
    batch = next(iter(loader))
    assert batch["input_ids"].shape == (3, 12) and torch.equal(batch["labels"],
                                                               batch["input_ids"])
    ids = torch.tensor(blocks)
    with torch.no_grad():
        expected = model(input_ids=ids, labels=ids).loss.item()
    assert lm_loss(model, loader) == pytest.approx(expected, rel=1e-4)
    shuffled = [b["input_ids"] for b in lm_loader(blocks, batch_size=1, shuffle_seed=0)]
    assert sorted(x[0].tolist() for x in shuffled) == sorted(blocks)
    with pytest.raises(ValueError, match="blocks is empty"):
        lm_loader([], batch_size=2)


def test_generate_greedy_is_deterministic_and_returns_only_the_continuation(causal_lm):
    model, tok = causal_lm
    a = generate_greedy(model, tok, ["The weather today is"], max_new_tokens=5)
    b = generate_greedy(model, tok, ["The weather today is"], max_new_tokens=5)
    assert a == b and len(a) == 1 and "The weather today is" not in a[0]
    assert 1 <= len(tok(a[0], add_special_tokens=False)["input_ids"]) <= 6
    with pytest.raises(TypeError, match="prompts must be a list of str"):
        generate_greedy(model, tok, "The weather", max_new_tokens=2)


# ------------------------------------------------------------------ measuring


def test_peak_memory_sees_a_large_allocation():
    with PeakMemory(interval=0.001) as mem:
        x = torch.ones(50_000_000)  # 200 MB
        time.sleep(0.05)
        del x
    assert mem.peak_mb > 150
    with PeakMemory() as small:
        pass
    assert small.peak_mb < 50
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or None"):
        PeakMemory(device="tpu")


def test_saved_size_of_file_and_folder(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 50)
    assert saved_size(tmp_path / "a.bin") == 100
    assert saved_size(tmp_path) == 150
    with pytest.raises(ValueError, match="neither a file nor a folder"):
        saved_size(tmp_path / "missing")


# ------------------------------------------------------------------ exercise checkers


def test_checkers_of_the_chapter_exercises(causal_lm, encoder, tmp_path, capsys):
    from peft import LoraConfig, get_peft_model

    from tlbook.exercises import check

    def forward(x, weight, bias, A, B, alpha):
        return x @ weight.T + bias + (alpha / A.shape[0]) * (x @ A.T) @ B.T

    assert check("7.2", forward)
    assert not check("7.2", lambda x, weight, bias, A, B, alpha:
                     x @ weight.T + bias + alpha * (x @ A.T) @ B.T)
    assert check("7.3", lambda d_in, d_out: math.ceil(d_in * d_out / (d_in + d_out)))
    assert not check("7.3", lambda d_in, d_out: d_in * d_out // (d_in + d_out))
    # 7.1: r=16 on q, k, v, o of every layer; k and v map hidden -> kv width.
    cfg = causal_lm[0].config
    h = cfg.hidden_size
    kv = cfg.num_key_value_heads * h // cfg.num_attention_heads
    assert check("7.1", cfg.num_hidden_layers * 16 * (2 * (h + h) + 2 * (h + kv)))
    assert not check("7.1", cfg.num_hidden_layers * 16 * 4 * (h + h))
    # 7.4: how many r=8 q+v adapters fit in the bytes of one full copy.
    model = fresh_copy(encoder[0])
    model.save_pretrained(tmp_path / "full")
    adapter = get_peft_model(fresh_copy(model), LoraConfig(
        r=8, lora_alpha=16, target_modules=["query", "value"], task_type="SEQ_CLS"))
    adapter.save_pretrained(tmp_path / "lora")
    n = saved_size(tmp_path / "full") // saved_size(tmp_path / "lora")
    assert n > 100
    assert check("7.4", n)
    assert not check("7.4", n // 2)
    # 7.6: B = 0 at the first step, so A gets no gradient and Adam moves B by
    # about lr per entry whatever alpha is: (alpha / r) B A doubles with alpha.
    assert check("7.6", 2.0)
    assert not check("7.6", 1.0) and not check("7.6", 4.0)
    capsys.readouterr()
