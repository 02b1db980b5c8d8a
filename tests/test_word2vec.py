"""Skip-gram with negative sampling (tlbook.word2vec) on tiny real inputs."""

import numpy as np
import pytest
import torch

from tlbook import data
from tlbook import word2vec as w2v
from tlbook.word2vec import SkipGram


@pytest.fixture(scope="module")
def news():
    """A few hundred lower-cased Brown news sentences."""
    return [[w.lower() for w in s.words] for s in data.brown_sentences("news")[:400]]


@pytest.fixture(scope="module")
def fitted(news):
    return SkipGram(dim=16, min_count=2, epochs=4, batch_size=256, seed=0).fit(news)


def test_vocabulary_is_sorted_and_respects_min_count(news):
    words, counts = w2v.build_vocabulary(news, min_count=3)
    assert words[0] == "the" and counts.dtype == np.int64
    assert np.all(np.diff(counts) <= 0) and counts.min() >= 3
    raw = {}
    for s in news:
        for w in s:
            raw[w] = raw.get(w, 0) + 1
    assert set(words) == {w for w, c in raw.items() if c >= 3}
    assert [raw[w] for w in words] == counts.tolist()


def test_shapes(fitted):
    V = len(fitted.vocab_)
    assert fitted.model_.center.weight.shape == (V, 16)
    assert fitted.model_.context.weight.shape == (V, 16)
    assert fitted.wv.vectors.shape == (V, 16) and fitted.wv.index_to_key == fitted.vocab_
    assert fitted.wv.get_vecattr("the", "count") == fitted.counts_[0]
    loss = fitted.model_(torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]),
                         torch.randint(V, (3, 5)))
    assert loss.shape == (3,) and torch.all(loss > 0)
    assert len(fitted.losses_) == 4 and fitted.pairs_seen_ > 0


def test_loss_decreases_on_real_text(fitted):
    losses = fitted.losses_
    assert losses[-1] < losses[0] - 0.2
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_batch_losses_are_the_loss_curve_of_every_step(fitted):
    curve, epochs = fitted.batch_losses_, fitted.epochs
    steps = fitted.pairs_seen_ / fitted.batch_size  # the last batch of an epoch may be short
    assert steps <= len(curve) < steps + epochs
    # Before the first update every output vector is zero: each pair costs (1 + K) log 2.
    assert curve[0] == pytest.approx((1 + fitted.negative) * np.log(2), rel=1e-5)
    tenth = len(curve) // 10
    assert curve[-tenth:].mean() < curve[:tenth].mean() - 0.3
    # The epoch means are averages of the steps of that epoch.
    assert curve.min() <= min(fitted.losses_) and max(fitted.losses_) <= curve.max()
    assert np.mean(curve[-tenth:]) == pytest.approx(fitted.losses_[-1], abs=0.1)


def test_pairs_on_one_sentence_full_window():
    tokens = np.array([10, 11, 12, 13])
    sentence = np.zeros(4, dtype=np.int64)
    centers, contexts = w2v.skipgram_pairs(tokens, sentence, window=2)
    assert list(zip(centers.tolist(), contexts.tolist())) == [
        (10, 11), (10, 12), (11, 10), (11, 12), (11, 13),
        (12, 10), (12, 11), (12, 13), (13, 11), (13, 12)]


def test_pairs_stop_at_sentence_boundaries_and_match_a_loop(news):
    words, _ = w2v.build_vocabulary(news, min_count=1)
    tokens, sent = w2v.encode(news[:60], {w: i for i, w in enumerate(words)})
    centers, contexts = w2v.skipgram_pairs(tokens, sent, 4, np.random.default_rng(3))
    b = np.random.default_rng(3).integers(1, 5, size=len(tokens))  # the same draws
    expected = [(tokens[i], tokens[j]) for i in range(len(tokens))
                for j in range(i - b[i], i + b[i] + 1)
                if j != i and 0 <= j < len(tokens) and sent[j] == sent[i]]
    assert list(zip(centers.tolist(), contexts.tolist())) == [(int(a), int(c)) for a, c in expected]


def test_subsampling_keeps_rare_words_and_drops_frequent_ones(news):
    words, counts = w2v.build_vocabulary(news, min_count=1)
    keep = w2v.keep_probabilities(counts, subsample=1e-3)
    assert np.all((keep > 0) & (keep <= 1))
    assert keep[words.index("the")] < 0.3
    assert np.all(keep[counts <= 5] == 1.0)
    tokens, sent = w2v.encode(news, {w: i for i, w in enumerate(words)})
    kept, _ = w2v.subsample(tokens, sent, keep, np.random.default_rng(0))
    before, after = np.bincount(tokens, minlength=len(words)), np.bincount(kept, minlength=len(words))
    rare = counts <= 5
    assert np.array_equal(before[rare], after[rare])
    the = words.index("the")
    assert 0 < after[the] < 0.4 * before[the]
    assert np.array_equal(w2v.keep_probabilities(counts, subsample=0), np.ones(len(counts)))


def test_noise_distribution_follows_count_to_the_three_quarters():
    counts = np.array([1000, 100, 10, 1])
    p = w2v.noise_distribution(counts)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] / p[1] == pytest.approx(10 ** 0.75)
    assert p[1] / p[3] == pytest.approx(100 ** 0.75)
    assert np.allclose(w2v.noise_distribution(counts, power=0), 0.25)
    table = w2v.noise_table(p, size=2**16)
    assert np.allclose(np.bincount(table, minlength=4) / len(table), p, atol=1e-4)


def test_sgd_step_equals_autograd_and_torch_sgd():
    torch.manual_seed(0)
    a = w2v.SGNS(30, 8, generator=torch.Generator().manual_seed(1))
    b = w2v.SGNS(30, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # non-zero output vectors, so both gradients are non-trivial
        for m in (a, b):
            m.context.weight.copy_(torch.randn(30, 8, generator=torch.Generator().manual_seed(2)))
    centers = torch.tensor([0, 1, 1, 5])  # repeated rows must add up
    contexts = torch.tensor([2, 3, 3, 0])
    noise = torch.tensor([[4, 5], [6, 6], [0, 7], [8, 9]])
    loss = a.sgd_step(centers, contexts, noise, lr=0.1)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    total = b(centers, contexts, noise).sum()
    total.backward()
    opt.step()
    assert float(loss) == pytest.approx(float(total.detach()), rel=1e-6)
    assert torch.allclose(a.center.weight, b.center.weight, atol=1e-6)
    assert torch.allclose(a.context.weight, b.context.weight, atol=1e-6)


def test_same_seed_same_vectors(news):
    kw = dict(dim=8, min_count=3, epochs=1, batch_size=512)
    one = SkipGram(seed=1, **kw).fit(news).wv.vectors
    two = SkipGram(seed=1, **kw).fit(news).wv.vectors
    other = SkipGram(seed=2, **kw).fit(news).wv.vectors
    assert np.array_equal(one, two)
    assert not np.allclose(one, other)


def _two_topic_corpus(n_sentences=600, seed=0):
    """Sentences about either money or a river, made of real English words."""
    rng = np.random.default_rng(seed)
    topics = [["bank", "money", "loan", "interest", "deposit", "cash", "credit", "account"],
              ["river", "water", "fish", "boat", "shore", "stream", "current", "swim"]]
    glue = ["the", "a", "of", "and", "to", "in", "was", "is"]
    sentences = []
    for i in range(n_sentences):
        words = list(rng.choice(topics[i % 2], size=6)) + list(rng.choice(glue, size=4))
        sentences.append([str(w) for w in rng.permutation(words)])
    return sentences


def test_words_that_co_occur_end_up_closer():
    model = SkipGram(dim=16, window=3, min_count=1, subsample=0, epochs=10,
                     batch_size=256, lr=0.05, seed=0).fit(_two_topic_corpus())
    wv = model.wv
    assert wv.similarity("money", "loan") > wv.similarity("money", "fish") + 0.3
    assert wv.similarity("river", "boat") > wv.similarity("river", "cash") + 0.3


@pytest.mark.parametrize("kwargs, name", [
    (dict(dim=0), "dim"), (dict(window=-1), "window"), (dict(negative=2.5), "negative"),
    (dict(min_count=0), "min_count"), (dict(epochs=True), "epochs"),
    (dict(batch_size=0), "batch_size"), (dict(subsample=1.5), "subsample"),
    (dict(lr=0), "lr"), (dict(seed=-1), "seed"), (dict(device="tpu"), "device"),
    (dict(workers=0), "workers"), (dict(workers=2, device="cuda"), "workers"),
])
def test_bad_arguments_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SkipGram(**kwargs)


def test_bad_inputs_are_rejected():
    with pytest.raises(TypeError, match="sentences"):
        SkipGram().fit("the cat sat")
    with pytest.raises(TypeError, match="sentences"):
        SkipGram().fit(["the cat sat", "on the mat"])
    with pytest.raises(ValueError, match="min_count"):
        SkipGram(min_count=5).fit([["a", "b"]])
    with pytest.raises(AttributeError, match="fit"):
        SkipGram().wv
    with pytest.raises(ValueError, match="power"):
        w2v.noise_distribution(np.array([1, 2]), power=2)
    with pytest.raises(ValueError, match="name"):
        w2v.benchmark_path("toefl")


def test_hogwild_workers_train_and_restore_the_thread_count(news):
    threads = torch.get_num_threads()
    one = SkipGram(dim=16, min_count=2, epochs=4, batch_size=256, seed=0).fit(news)
    two = SkipGram(dim=16, min_count=2, epochs=4, batch_size=256, seed=0, workers=2).fit(news)
    assert torch.get_num_threads() == threads
    assert two.pairs_seen_ == one.pairs_seen_  # the same pairs, split between two threads
    # Same data, same noise words: only the order of the updates differs.
    assert two.losses_[-1] == pytest.approx(one.losses_[-1], rel=0.05)
    assert two.losses_[-1] < two.losses_[0] - 0.2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_gpu_unchanged(news):
    cpu = SkipGram(dim=8, min_count=3, epochs=1, device="cpu").fit(news)
    gpu = SkipGram(dim=8, min_count=3, epochs=1, device="cuda").fit(news)
    assert gpu.model_.center.weight.device.type == "cuda"
    # The same pairs and noise words on both devices; only the order of
    # floating-point additions differs.
    assert gpu.losses_ == pytest.approx(cpu.losses_, rel=1e-3)
    assert np.allclose(cpu.wv.vectors, gpu.wv.vectors, atol=1e-2)


def test_similarity_evaluation_reports_spearman_and_coverage(fitted):
    result = w2v.evaluate_similarity(fitted.wv)
    assert set(result) == {"wordsim353", "simlex999"}
    for r in result.values():
        assert -1 <= r["spearman"] <= 1 and 0 < r["coverage"] < 1
    assert result["wordsim353"]["pairs"] == 353 and result["simlex999"]["pairs"] == 999


def test_analogy_evaluation_agrees_with_gensim():
    from tlbook.models import load_glove

    kv = load_glove(max_words=2000)
    ours = w2v.evaluate_analogies(kv, restrict_vocab=2000)
    score, sections = kv.evaluate_word_analogies(w2v.benchmark_path("analogies"),
                                                 restrict_vocab=2000)
    total = sections[-1]
    answered = len(total["correct"]) + len(total["incorrect"])
    assert ours["answered"] == answered and ours["questions"] == 19544
    assert ours["accuracy"] == pytest.approx(score, abs=1 / answered)
    assert ours["coverage"] == pytest.approx(answered / 19544)
    assert 0.3 < ours["accuracy"] < 0.9


def test_chapter_checks_accept_right_answers_and_reject_wrong_ones(capsys):
    from tlbook.exercises import check

    # Window 3, full windows: 6 contexts per center, minus 1 + 2 + 3 missing at each end.
    n = len(data.brown_sentences()[0].words)
    assert n >= 6
    assert check("2.1", 6 * n - 12) is True
    assert check("2.1", 6 * n) is False

    def loss(v_c, u_o, u_neg):
        return np.logaddexp(0, -(u_o @ v_c)) + np.logaddexp(0, u_neg @ v_c).sum()

    def wrong_sign(v_c, u_o, u_neg):
        return np.logaddexp(0, -(u_o @ v_c)) + np.logaddexp(0, -(u_neg @ v_c)).sum()

    assert check("2.3", loss) is True
    assert check("2.3", wrong_sign) is False
    out = capsys.readouterr().out
    assert "Exercise 2.1: correct." in out and "Exercise 2.3: not yet." in out


def test_cooccurrence_counts_are_the_full_window_pairs_counted():
    tokens = np.array([0, 1, 2, 0, 1, 2])
    sentence = np.array([0, 0, 0, 1, 1, 1])  # "0 1 2" twice, as two sentences
    counts = w2v.cooccurrence_counts(tokens, sentence, vocab_size=4, window=1).toarray()
    assert np.array_equal(counts, counts.T)
    assert counts[0, 1] == 2 and counts[1, 2] == 2 and counts[0, 2] == 0  # 2 is 2 away from 0
    assert counts[3].sum() == 0 and counts.sum() == 8  # 4 pairs per sentence
    wide = w2v.cooccurrence_counts(tokens, sentence, vocab_size=4, window=2).toarray()
    assert wide[0, 2] == 2 and wide[2, 0] == 2  # sentence boundaries still stop the window
    with pytest.raises(ValueError, match="vocab_size"):
        w2v.cooccurrence_counts(tokens, sentence, vocab_size=2)


def test_shifted_ppmi_matches_the_formula():
    import scipy.sparse as sp

    dense = np.array([[0, 4, 1], [4, 0, 2], [1, 2, 6]], dtype=float)
    counts = sp.csr_matrix(dense)
    total = dense.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(dense * total / np.outer(dense.sum(1), dense.sum(0)))
    plain = w2v.shifted_ppmi(counts, shift=1, context_power=1).toarray()
    assert np.allclose(plain, np.maximum(pmi, 0))
    shifted = w2v.shifted_ppmi(counts, shift=2, context_power=1).toarray()
    assert np.allclose(shifted, np.maximum(pmi - np.log(2), 0))
    assert (shifted > 0).sum() < (plain > 0).sum()
    with pytest.raises(ValueError, match="shift"):
        w2v.shifted_ppmi(counts, shift=0.5)


def test_svd_vectors_recover_two_topics_and_are_reproducible():
    sentences = _two_topic_corpus()
    words, _ = w2v.build_vocabulary(sentences, min_count=1)
    tokens, sent = w2v.encode(sentences, {w: i for i, w in enumerate(words)})
    matrix = w2v.shifted_ppmi(w2v.cooccurrence_counts(tokens, sent, len(words), window=3), 1)
    kv = w2v.svd_vectors(matrix, words, dim=4, seed=0)
    assert kv.vectors.shape == (len(words), 4) and kv.index_to_key == words
    assert kv.similarity("money", "loan") > kv.similarity("money", "fish") + 0.3
    assert kv.similarity("river", "boat") > kv.similarity("river", "cash") + 0.3
    assert np.array_equal(kv.vectors, w2v.svd_vectors(matrix, words, dim=4, seed=0).vectors)
    with pytest.raises(ValueError, match="words"):
        w2v.svd_vectors(matrix, words[:-1], dim=4)
    with pytest.raises(ValueError, match="dim"):
        w2v.svd_vectors(matrix, words, dim=len(words))


def test_spearman_interval_brackets_the_reported_correlation():
    from tlbook.models import load_glove

    kv = load_glove(max_words=20000)
    reported = w2v.evaluate_similarity(kv)["wordsim353"]
    iv = w2v.spearman_interval(kv, "wordsim353", n_resamples=300)
    assert iv.mean == pytest.approx(reported["spearman"])
    assert iv.n == round(reported["coverage"] * reported["pairs"])
    assert iv.low < iv.mean < iv.high
    wider = w2v.spearman_interval(kv, "wordsim353", level=0.99, n_resamples=300)
    assert wider.low <= iv.low and wider.high >= iv.high
    # A few hundred pairs cannot pin a correlation down to less than a few hundredths.
    assert 0.02 < iv.half_width < 0.3
    with pytest.raises(ValueError, match="name"):
        w2v.spearman_interval(kv, "toefl")


def test_text_coverage_counts_word_tokens():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=2, count=0)
    kv.add_vectors(["good", "film", "isn't"], np.ones((3, 2), dtype=np.float32))
    assert w2v.text_coverage(kv, ["A good film.", "It isn't GOOD"]) == pytest.approx(4 / 6)
    with pytest.raises(TypeError, match="texts"):
        w2v.text_coverage(kv, "a good film")


def test_label_points_keeps_crowded_labels_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    rng = np.random.default_rng(0)
    # Three words on top of each other and a close pair, as in the chapter's PCA picture.
    points = np.vstack([rng.normal(0, 0.02, size=(3, 2)), [[2, 2], [2.05, 1.97]],
                        rng.uniform(-3, 3, size=(6, 2))])
    labels = ["lake", "river", "sea", "money", "cash", "loan", "loans", "stream", "bank",
              "finance", "island"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(points[:, 0], points[:, 1])
    notes = w2v.label_points(ax, points, labels)
    fig.canvas.draw()
    boxes = [Text.get_window_extent(n) for n in notes]  # the text, without its line
    assert [n.get_text() for n in notes] == labels
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (labels[i], labels[j])
    plt.close(fig)
    with pytest.raises(ValueError, match="points"):
        w2v.label_points(ax, points, labels[:-1])
