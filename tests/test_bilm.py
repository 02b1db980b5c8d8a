"""Tests of tlbook.bilm: the biLM, its checkpoints, ELMo features and the scalar mix.

Small real inputs (a few hundred Brown sentences, a tiny model) keep the file
under half a minute on two CPU cores; the shipped checkpoint is checked
against a unigram model computed here from the corpus.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch

from tlbook import bilm
from tlbook.bilm import (BiLM, ScalarMix, TokenTagger, Vocabulary, build_vocabulary,
                         contextual_vectors, length_sorted_batches, load_bilm, perplexity,
                         save_bilm, train_bilm)


@pytest.fixture(autouse=True)
def one_thread():
    # Small LSTMs run fastest on one thread, and far slower on two when the
    # CPU is shared; restore the setting for the other test modules.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def news():
    from tlbook.data import brown_sentences

    return [s.words for s in brown_sentences("news")[:400]]


@pytest.fixture(scope="module")
def vocab(news):
    return build_vocabulary(news, min_count=2)


def tiny_model(vocab, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault("hidden_dim", 16)
    kwargs.setdefault("embedding_dim", 12)
    return BiLM(vocab, cutoffs=(100,), **kwargs).eval()


# ------------------------------------------------------------------ vocabulary and batches


def test_vocabulary_lowercases_adds_boundaries_and_maps_rare_words_to_unk(news, vocab):
    assert vocab.words[:4] == list(bilm.SPECIALS)
    counts = Counter(w.lower() for s in news for w in s)
    assert len(vocab) == 4 + sum(1 for c in counts.values() if c >= 2)
    assert vocab.words[4] == counts.most_common(1)[0][0]
    ids = vocab.encode(["The", "zyzzyva"])
    assert ids == [bilm.BOS, vocab.index["the"], bilm.UNK, bilm.EOS]


def test_held_out_files_are_the_last_two_of_each_genre():
    from tlbook.data import BROWN_GENRES

    split = bilm.brown_split()
    held = {s.file for s in split["held_out"]}
    assert len(held) == 2 * len(BROWN_GENRES)
    assert not held & {s.file for s in split["train"]}
    news_files = sorted({s.file for s in split["train"] + split["held_out"] if s.genre == "news"})
    assert set(news_files[-2:]) <= held and news_files[-3] not in held


def test_batches_are_padded_on_the_right_and_cover_every_sentence_once(news, vocab):
    encoded = [vocab.encode(s) for s in news[:50]]
    seen = []
    for ids, lengths in length_sorted_batches(encoded, 8, shuffle=True, seed=1):
        assert ids.shape == (len(lengths), int(lengths.max()))
        for row, n in zip(ids, lengths):
            assert (row[n:] == bilm.PAD).all() and row[0] == bilm.BOS and row[n - 1] == bilm.EOS
            seen.append(tuple(row[:n].tolist()))
    assert sorted(seen) == sorted(tuple(e) for e in encoded)


# ------------------------------------------------------------------ the model


def test_contextual_vectors_have_one_array_per_sentence_with_all_layers(vocab):
    model = tiny_model(vocab, num_layers=2)
    sentences = [["the", "bank", "closed"], ["a"], "the river bank was steep".split()]
    vectors = contextual_vectors(model, sentences, batch_size=2)
    assert [v.shape for v in vectors] == [(3, 3, 32), (3, 1, 32), (3, 5, 32)]
    assert all(v.dtype == np.float32 for v in vectors)
    # Layer 0 is the token layer twice over, and does not depend on context.
    v = vectors[0][0]
    np.testing.assert_array_equal(v[:, :16], v[:, 16:])
    np.testing.assert_allclose(vectors[0][0][1], vectors[2][0][2], atol=1e-6)
    # Batching and padding do not change a sentence's vectors.
    alone = contextual_vectors(model, [sentences[2]])[0]
    np.testing.assert_allclose(alone, vectors[2], atol=1e-5)


def test_backward_lm_reads_right_to_left_and_forward_lm_left_to_right(vocab):
    model = tiny_model(vocab, num_layers=2)
    words = "the jury said the bank had no money left".split()
    changed_start = ["a", "city", "told"] + words[3:]
    changed_end = words[:6] + ["several", "new", "debts"]
    base, start, end = contextual_vectors(model, [words, changed_start, changed_end])
    t, h = 3, 16
    for layer in (1, 2):
        # Backward half at position >= t has read only tokens t.. : unchanged.
        np.testing.assert_allclose(start[layer, t:, h:], base[layer, t:, h:], atol=1e-6)
        assert not np.allclose(start[layer, t:, :h], base[layer, t:, :h], atol=1e-4)
        # Forward half at position < 6 has read only tokens ..5: unchanged.
        np.testing.assert_allclose(end[layer, :6, :h], base[layer, :6, :h], atol=1e-6)
        assert not np.allclose(end[layer, :6, h:], base[layer, :6, h:], atol=1e-4)


def test_loss_decreases_in_a_few_steps_on_real_sentences(news, vocab):
    model = tiny_model(vocab, hidden_dim=32, dropout=0.0)
    history = train_bilm(model, news, steps=40, batch_size=32, lr=1e-2, seed=0, device="cpu")
    loss = np.add(history["forward"], history["backward"]) / 2
    assert len(loss) == 40 and np.isfinite(loss).all()
    assert loss[-5:].mean() < loss[:5].mean() - 1.0
    assert not model.training


def test_training_is_deterministic_for_a_seed(news, vocab):
    runs = [train_bilm(tiny_model(vocab), news[:100], steps=3, batch_size=16, seed=3)
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_perplexity_of_an_untrained_model_is_near_the_vocabulary_size(news, vocab):
    model = tiny_model(vocab)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    # All logits zero: a two-level softmax gives each head word 1/(head+clusters).
    ppl = perplexity(model, news[:20], "forward")
    assert 50 < ppl < 50 * len(vocab)
    assert math.isclose(perplexity(model, news[:20], "both"),
                        math.sqrt(ppl * perplexity(model, news[:20], "backward")), rel_tol=1e-9)


# ------------------------------------------------------------------ checkpoints


def test_checkpoint_round_trip_gives_identical_outputs(vocab, tmp_path, news):
    model = tiny_model(vocab, seed=5)
    path = save_bilm(model, tmp_path / "m.pt")
    loaded = load_bilm(path)
    assert loaded.vocab.words == vocab.words and loaded.config == model.config
    for a, b in zip(contextual_vectors(model, news[:5]), contextual_vectors(loaded, news[:5])):
        np.testing.assert_array_equal(a, b)
    assert perplexity(model, news[:5]) == perplexity(loaded, news[:5])


def test_float16_checkpoint_is_smaller_close_and_stable(vocab, tmp_path, news):
    model = tiny_model(vocab, seed=5)
    full = save_bilm(model, tmp_path / "full.pt")
    half = save_bilm(model, tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    once = load_bilm(half)
    assert all(p.dtype == torch.float32 for p in once.parameters())
    twice = load_bilm(save_bilm(once, tmp_path / "again.pt", half=True))
    a, b, c = (contextual_vectors(m, news[:3])[0] for m in (model, once, twice))
    np.testing.assert_array_equal(b, c)
    np.testing.assert_allclose(a, b, atol=1e-2)


# ------------------------------------------------------------------ scalar mix and tagger


def test_scalar_mix_weights_sum_to_one_and_one_hot_returns_that_layer():
    layers = torch.randn(3, 4, 5)
    mix = ScalarMix(3)
    assert torch.isclose(mix.weights.sum(), torch.tensor(1.0))
    torch.testing.assert_close(mix(layers), layers.mean(0))
    mix.logits.data = torch.randn(3)
    assert torch.isclose(mix.weights.sum(), torch.tensor(1.0))
    for j in range(3):
        one_hot = ScalarMix(3, weights=np.eye(3)[j], gamma=1.0)
        torch.testing.assert_close(one_hot(layers), layers[j], rtol=0, atol=0)
    scaled = ScalarMix(3, weights=[0.2, 0.3, 0.5], gamma=2.0)
    torch.testing.assert_close(scaled(layers), 2 * (0.2 * layers[0] + 0.3 * layers[1]
                                                    + 0.5 * layers[2]))


def test_token_tagger_learns_the_informative_layer():
    rng = np.random.default_rng(0)
    tags = rng.integers(0, 3, 300)
    noise = rng.normal(size=(300, 4))
    signal = np.eye(3)[tags] @ rng.normal(size=(3, 4)) * 3 + 0.1 * noise
    features = np.stack([noise, signal])
    tagger = TokenTagger(2, 4, 3).fit(features, tags, steps=300, batch_size=32)
    assert tagger.score(features, tags) > 0.95
    assert tagger.mix.weights[1] > tagger.mix.weights[0]
    again = TokenTagger(2, 4, 3).fit(features, tags, steps=300, batch_size=32)
    np.testing.assert_array_equal(again.linear.weight.detach(), tagger.linear.weight.detach())
    with pytest.raises(ValueError, match=r"features must have shape .*\(2, n_tokens, 4\)"):
        tagger.predict(noise)
    with pytest.raises(ValueError, match=r"tags must be ints in \[0, 3\)"):
        TokenTagger(2, 4, 3).fit(features, tags + 1)
    with pytest.raises(ValueError, match="tags must have shape"):
        TokenTagger(2, 4, 3).fit(features, tags[:10])


# ------------------------------------------------------------------ baselines, gaps and features


def test_unigram_perplexity_matches_add_one_counts_by_hand():
    train = [["a", "b"], ["a"]]
    vocab = build_vocabulary(train, min_count=1)  # specials + a, b
    # Counts start at 1 for the 6 ids; train adds a:2, b:1, </s>:2 -> total 11.
    # Each held-out token (a, </s>) then has probability 3/11.
    assert math.isclose(bilm.unigram_perplexity(train, [["A"]], vocab), 11 / 3)
    with pytest.raises(ValueError, match="held_out must contain"):
        bilm.unigram_perplexity(train, [], vocab)


def test_predict_gap_uses_only_the_side_each_lm_reads(vocab):
    model = tiny_model(vocab, num_layers=2)
    left, right = ["the", "money", "is", "in", "the"], ["of", "the", "city"]
    base = bilm.predict_gap(model, left, right, k=4)
    other_right = bilm.predict_gap(model, left, ["and", "the", "jury"], k=4)
    other_left = bilm.predict_gap(model, ["a", "man", "saw", "the"], right, k=4)
    assert base["forward"] == other_right["forward"] and base["backward"] == other_left["backward"]
    assert base["backward"] != other_right["backward"]
    for direction in ("forward", "backward"):
        probs = [p for _, p in base[direction]]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True) and 0 < probs[0] < 1
        assert all(w in vocab.index for w, _ in base[direction])


def test_tagging_split_uses_one_held_out_file_per_genre_for_each_side():
    split = bilm.tagging_split()
    held_out = {s.file for s in bilm.brown_split()["held_out"]}
    train_files, test_files = ({s.file for s in split[k]} for k in ("train", "test"))
    assert len(train_files) == len(test_files) == 15
    assert train_files | test_files == held_out and not train_files & test_files
    assert all(len(s.upos) == len(s.words) for s in split["test"])


def test_static_features_look_words_up_and_elmo_features_concatenate(vocab):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["bank", "river"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    sentences = [["The", "Bank"], ["river", "zyzzyva", "bank"]]
    glove = bilm.glove_features(kv, sentences)
    np.testing.assert_array_equal(glove, [[0, 0, 0], [1, 2, 3], [4, 5, 6], [0, 0, 0], [1, 2, 3]])
    rand = bilm.random_features(sentences, dim=8, seed=1)
    assert rand.shape == (5, 8) and rand.dtype == np.float32
    np.testing.assert_array_equal(rand[1], rand[4])  # same word, same vector
    np.testing.assert_array_equal(bilm.random_features([["bank"]], dim=8, seed=1)[0], rand[1])
    assert not np.allclose(bilm.random_features([["bank"]], dim=8, seed=2)[0], rand[1])
    model = tiny_model(vocab, num_layers=2)
    features = bilm.elmo_features(model, sentences)
    assert features.shape == (3, 5, 32)
    np.testing.assert_array_equal(features[:, 2:], contextual_vectors(model, sentences)[1])
    with pytest.raises(ValueError, match="dim"):
        bilm.random_features(sentences, dim=0)


# ------------------------------------------------------------------ bad arguments


def test_bad_arguments_are_rejected_with_the_argument_named(vocab, news):
    model = tiny_model(vocab)
    with pytest.raises(ValueError, match="direction must be 'forward', 'backward' or 'both'"):
        perplexity(model, news[:2], "sideways")
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(news, min_count=0)
    with pytest.raises(ValueError, match="batch_size"):
        list(length_sorted_batches([[2, 3]], batch_size=0))
    with pytest.raises(ValueError, match="steps"):
        train_bilm(model, news, steps=0)
    with pytest.raises(ValueError, match="device must be"):
        train_bilm(model, news, steps=1, device="tpu")
    with pytest.raises(ValueError, match="dropout"):
        BiLM(vocab, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_dim"):
        BiLM(vocab, hidden_dim=0)
    with pytest.raises(ValueError, match="weights must be 3 non-negative"):
        ScalarMix(3, weights=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="layers must have 3 layers"):
        ScalarMix(3)(torch.zeros(2, 4))
    with pytest.raises(TypeError, match="lists of str tokens"):
        contextual_vectors(model, ["the bank closed"])
    with pytest.raises(ValueError, match="empty sentence"):
        contextual_vectors(model, [[]])
    with pytest.raises(TypeError, match="Vocabulary"):
        BiLM(["<pad>"])
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["the", "a"])


def test_loading_something_else_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tlbook.bilm train"):
        load_bilm(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a tlbook biLM checkpoint"):
        load_bilm(tmp_path / "other.pt")


# ------------------------------------------------------------------ the shipped checkpoint


def test_shipped_checkpoint_beats_a_unigram_model_on_held_out_files():
    meta = bilm.shipped_metadata()
    model = bilm.load_shipped_bilm()
    assert meta["vocab_size"] == len(model.vocab) and meta["config"] == model.config
    assert bilm.SHIPPED_CHECKPOINT.stat().st_size == meta["checkpoint_bytes"] < 8_000_000
    split = bilm.brown_split()
    assert sorted({s.file for s in split["held_out"]}) == meta["held_out_files"]
    # Add-one unigram model from the training files, in the model's vocabulary.
    counts = Counter(i for s in split["train"] for i in model.vocab.encode(s.words)[1:])
    total = sum(counts.values()) + len(model.vocab)
    sample = split["held_out"][::12]  # every 12th held-out sentence, all genres
    ids = [i for s in sample for i in model.vocab.encode(s.words)[1:]]
    unigram = math.exp(-np.mean([math.log((counts[i] + 1) / total) for i in ids]))
    for direction in ("forward", "backward"):
        ppl = perplexity(model, sample, direction)
        assert ppl < 0.6 * unigram, (direction, ppl, unigram)
        reported = meta["held_out_perplexity"][direction]
        assert reported < 0.6 * meta["held_out_unigram_perplexity"]
        assert 0.7 * reported < ppl < 1.4 * reported  # the sample agrees with the whole set
    json.dumps(meta)  # plain JSON


# ------------------------------------------------------------------ exercise checks of the chapter


def test_chapter_checks_accept_a_right_scalar_mix_and_reject_wrong_answers(capsys):
    from tlbook.exercises import check

    def right(layers, logits, gamma):
        return gamma * (torch.softmax(torch.as_tensor(logits), 0).view(-1, 1, 1) * layers).sum(0)

    def unnormalised(layers, logits, gamma):  # forgets the softmax
        return gamma * (torch.as_tensor(logits).view(-1, 1, 1) * layers).sum(0)

    assert check("3.3", right)
    assert not check("3.3", unnormalised)
    assert not check("3.4", 0.5)  # the most-frequent-tag tagger is far better than chance
    assert "Exercise 3.3: correct." in capsys.readouterr().out


# ------------------------------------------------------------------ the package


def test_package_exports_the_public_names_of_all_its_modules():
    import importlib
    import inspect
    import pkgutil

    assert all(hasattr(bilm, name) for name in bilm.__all__)
    modules = [info.name for info in pkgutil.iter_modules(bilm.__path__)]
    assert set(modules) == {"__main__", "corpus", "model", "training", "features", "tagger",
                            "recipe"}
    for name in set(modules) - {"__main__"}:
        module = importlib.import_module(f"tlbook.bilm.{name}")
        public = {n for n, obj in vars(module).items() if not n.startswith("_")
                  and getattr(obj, "__module__", module.__name__) == module.__name__
                  and not inspect.ismodule(obj)}
        assert public <= set(bilm.__all__), (name, public - set(bilm.__all__))
    # The recorded sweep of chapter "ELMo" names its cell by this string.
    module, attribute = "tlbook.bilm:tagging_cell".split(":")
    assert getattr(importlib.import_module(module), attribute) is bilm.tagging_cell


def test_pretraining_command_runs_as_a_module():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "tlbook.bilm", "train", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m tlbook.bilm train")
    assert "--out" in result.stdout
    assert result.stderr == ""
