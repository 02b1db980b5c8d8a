"""Skip-gram with negative sampling (SGNS), written out in torch.

Used in chapter "word2vec".

The model of Mikolov et al. (2013): every word ``w`` has an input vector
``v_w`` (the word vector we keep) and an output vector ``u_w``. Each
(center ``c``, context ``o``) pair taken from a window over the text, with
``K`` noise words ``n_1..n_K`` drawn from the unigram distribution raised to
the power 3/4, contributes the loss

    -log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_{n_k} . v_c)

The module reads top to bottom, in the order the chapter builds the pieces:

1. :func:`build_vocabulary` -- word counts, rare words dropped;
2. :func:`keep_probabilities` -- frequent-word subsampling;
3. :func:`noise_distribution` -- unigram^0.75;
4. :func:`skipgram_pairs` -- (center, context) pairs with a dynamic window,
   vectorised with numpy over the whole corpus;
5. :class:`SGNS` -- the two embedding tables, the loss, and the SGD step;
6. :class:`SkipGram` -- ``fit(sentences)``, the training loop;
7. :func:`cooccurrence_counts`, :func:`shifted_ppmi`, :func:`svd_vectors` --
   the count-based counterpart of SGNS (Levy & Goldberg, 2014): factorise
   the shifted positive PMI matrix that SGNS factorises implicitly;
8. :func:`evaluate_similarity`, :func:`spearman_interval`,
   :func:`evaluate_analogies` -- WordSim-353, SimLex-999 and the Google
   analogy questions; :func:`text_coverage` for a downstream text set.
"""

from __future__ import annotations

import numbers
import time
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import _validate as _v

__all__ = [
    "build_vocabulary",
    "keep_probabilities",
    "noise_distribution",
    "noise_table",
    "encode",
    "subsample",
    "skipgram_pairs",
    "SGNS",
    "SkipGram",
    "gensim_skipgram",
    "cooccurrence_counts",
    "shifted_ppmi",
    "svd_vectors",
    "evaluate_similarity",
    "spearman_interval",
    "text_coverage",
    "benchmark_scores",
    "label_points",
    "evaluate_analogies",
    "benchmark_path",
]


# ------------------------------------------------------------------ vocabulary


def _check_counts(name: str, counts) -> np.ndarray:
    """``counts`` as float64: a non-empty 1-D array of finite numbers >= 0
    with a positive sum."""
    try:
        x = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise _v.ArgumentTypeError(f"{name} must be a 1-D array of numbers, got "
                                   f"{counts!r:.60}") from None
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all() or (x < 0).any() \
            or not x.sum() > 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers >= 0 with a "
                         f"positive sum, got shape {x.shape}")
    return x


def _check_sentences(sentences) -> list[Sequence[str]]:
    if isinstance(sentences, str) or not isinstance(sentences, Iterable):
        raise TypeError("sentences must be an iterable of token lists, e.g. [['the', 'cat'], ...]")
    sentences = list(sentences)
    for s in sentences:
        if isinstance(s, str) or not all(isinstance(w, str) for w in s):
            raise TypeError("sentences must be an iterable of token lists (lists of str); "
                            f"got an element {s!r:.60}")
    return sentences


def build_vocabulary(sentences: Iterable[Sequence[str]], min_count: int = 5
                     ) -> tuple[list[str], np.ndarray]:
    """The words seen at least ``min_count`` times, most frequent first.

    Ties keep the order of first appearance (as gensim does), so the result
    is deterministic.

    Returns:
        ``(words, counts)``: ``words`` is a list of ``V`` str, ``counts`` an
        int64 array ``(V,)``, sorted by decreasing count.
    """
    _check_positive_int("min_count", min_count)
    counter = Counter(w for s in _check_sentences(sentences) for w in s)
    kept = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                  key=lambda wc: -wc[1])  # sorted() is stable: ties keep first appearance
    words = [w for w, _ in kept]
    counts = np.array([c for _, c in kept], dtype=np.int64)
    return words, counts


# ------------------------------------------------- subsampling and noise words


def keep_probabilities(counts: np.ndarray, subsample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word, shape ``(V,)``.

    Frequent words ("the", "of") carry little information about their
    neighbours and dominate the pairs, so each occurrence is dropped at
    random. We use the formula of the word2vec C code (also gensim's), not the
    one printed in Mikolov et al. (2013b), ``1 - sqrt(t / f)``:

        keep(w) = min(1, (sqrt(f(w) / t) + 1) * t / f(w))

    where ``f(w)`` is the word's share of the corpus and ``t = subsample``.
    Words with ``f(w) <= t`` (roughly) are always kept. ``subsample=0``
    keeps everything.

    Args:
        counts: int array ``(V,)`` of word counts.
        subsample: the threshold ``t``, in ``[0, 1)``; 1e-3 to 1e-5 are usual.

    Raises:
        ValueError: ``subsample`` is not a number in [0, 1), or ``counts``
            is not a non-empty 1-D array of counts >= 0 with a positive sum.
    """
    _v.probability("subsample", subsample, include_one=False)
    counts = _check_counts("counts", counts)
    if subsample == 0:
        return np.ones_like(counts)
    freq = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(freq / subsample) + 1) * subsample / freq)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The distribution negative (noise) words are drawn from, shape ``(V,)``.

    ``P(w) = count(w)^power / sum_v count(v)^power``. Mikolov et al. found
    ``power = 3/4`` better than the plain unigram (``1``) or uniform (``0``)
    distribution: it gives rare words a little more chance to be a negative.

    Raises:
        ValueError: ``power`` is not a number in [0, 1], or ``counts`` as in
            :func:`keep_probabilities`.
    """
    _v.probability("power", power)
    weights = _check_counts("counts", counts) ** power
    return weights / weights.sum()


def noise_table(probs: np.ndarray, size: int = 2**22) -> np.ndarray:
    """A table of word ids in which word ``w`` fills a share ``probs[w]`` of the cells.

    Drawing a uniformly random cell then draws a word from ``probs``: this is
    how the word2vec C code samples noise words (its table has 1e8 cells). A
    lookup is much faster than ``torch.multinomial`` or a binary search,
    and ``2**22`` cells give every word of a Brown-sized vocabulary at
    least a few cells.

    Returns:
        int64 array ``(size,)`` of word ids, non-decreasing.

    Raises:
        ValueError: ``size`` is not a positive int, or ``probs`` is not a
            non-empty 1-D array of probabilities summing to 1.
    """
    _check_positive_int("size", size)
    p = _check_counts("probs", probs)
    if abs(p.sum() - 1) > 1e-6:
        raise ValueError(f"probs must sum to 1 (noise_distribution), got a sum of {p.sum():g}")
    cells = (np.arange(size) + 0.5) / size
    return np.minimum(np.searchsorted(np.cumsum(probs), cells), len(probs) - 1)


# ----------------------------------------------------------------------- pairs


def encode(sentences: Iterable[Sequence[str]], index: dict[str, int]
           ) -> tuple[np.ndarray, np.ndarray]:
    """The corpus as one array of word ids, out-of-vocabulary words removed.

    Removing unknown words before windowing (as word2vec and gensim do) lets
    a window reach past them.

    Returns:
        ``(tokens, sentence_ids)``: two int64 arrays ``(N,)``; ``sentence_ids``
        says which sentence each token came from, so windows stop at sentence
        boundaries.

    Raises:
        TypeError: ``sentences`` is not an iterable of token lists, or
            ``index`` not a dict from word to id.
    """
    if not isinstance(index, dict):
        raise _v.ArgumentTypeError(f"index must be a dict from word to id, got "
                                   f"{type(index).__name__}")
    ids, sent = [], []
    for i, s in enumerate(_check_sentences(sentences)):
        row = [index[w] for w in s if w in index]
        ids.extend(row)
        sent.extend([i] * len(row))
    return np.array(ids, dtype=np.int64), np.array(sent, dtype=np.int64)


def subsample(tokens: np.ndarray, sentence_ids: np.ndarray, keep: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Drop each token with probability ``1 - keep[token]`` (a new draw each call).

    Returns:
        ``(tokens, sentence_ids)`` of the kept tokens, shapes ``(N',)``.

    Raises:
        TypeError: ``rng`` is not a ``numpy.random.Generator``.
        ValueError: ``tokens`` and ``sentence_ids`` differ in length.
    """
    _check_rng(rng, allow_none=False)
    _v.same_length("tokens", tokens, "sentence_ids", sentence_ids)
    mask = rng.random(len(tokens)) < keep[tokens]
    return tokens[mask], sentence_ids[mask]


def skipgram_pairs(tokens: np.ndarray, sentence_ids: np.ndarray, window: int,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All (center, context) pairs within a dynamic window, vectorised.

    For each center token a window size ``b`` is drawn uniformly from
    ``1..window`` (word2vec's "dynamic window": near neighbours are used more
    often than far ones); its contexts are the tokens at most ``b`` positions
    away, in the same sentence. ``rng=None`` uses the full window everywhere.

    Instead of a Python loop over tokens we shift the whole corpus by each
    offset ``-window..-1, 1..window`` in turn (``2 * window`` numpy
    operations): a ``(N, 2 * window)`` mask says which offsets of which
    centers stay inside the sentence and the drawn window.

    Returns:
        ``(centers, contexts)``: int64 arrays ``(P,)`` of word ids, ordered by
        center position, then by context position.

    Raises:
        TypeError: ``rng`` is not None or a ``numpy.random.Generator``.
        ValueError: ``window`` is not a positive int, or ``tokens`` and
            ``sentence_ids`` differ in length.
    """
    _check_positive_int("window", window)
    _check_rng(rng, allow_none=True)
    _v.same_length("tokens", tokens, "sentence_ids", sentence_ids)
    n = len(tokens)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    b = np.full(n, window) if rng is None else rng.integers(1, window + 1, size=n)
    valid = np.zeros((n, len(offsets)), dtype=bool)
    for j, o in enumerate(offsets):
        lo, hi = max(0, -o), n - max(0, o)  # centers i with 0 <= i + o < n
        valid[lo:hi, j] = (sentence_ids[lo + o:hi + o] == sentence_ids[lo:hi]) & (b[lo:hi] >= abs(o))
    rows, cols = np.nonzero(valid)  # row-major: by center, then by context position
    return tokens[rows], tokens[rows + offsets[cols]]


# ----------------------------------------------------------------------- model


class SGNS(torch.nn.Module):
    """The two embedding tables of skip-gram and its negative-sampling loss.

    ``center`` holds the input vectors ``v_w`` (the word vectors we keep),
    ``context`` the output vectors ``u_w``. Both are ``sparse=True``
    embeddings: a batch touches a few thousand of the ``V`` rows, and a sparse
    gradient says which. Initialised as in the word2vec C code: ``center``
    uniform in ``[-0.5/dim, 0.5/dim]``, ``context`` zero.

    Args:
        vocab_size: ``V``.
        dim: vector size ``d``.
        generator: a CPU ``torch.Generator`` for the initialisation (the
            same numbers on every device).

    Raises:
        ValueError: ``vocab_size`` or ``dim`` is not a positive int.
        TypeError: ``generator`` is not None or a ``torch.Generator``.
    """

    def __init__(self, vocab_size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        _check_positive_int("vocab_size", vocab_size)
        _check_positive_int("dim", dim)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise _v.ArgumentTypeError(f"generator must be None or a torch.Generator, got "
                                       f"{type(generator).__name__}")
        self.center = torch.nn.Embedding(vocab_size, dim, sparse=True)
        self.context = torch.nn.Embedding(vocab_size, dim, sparse=True)
        with torch.no_grad():
            self.center.weight.copy_((torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim)
            self.context.weight.zero_()

    def forward(self, centers: torch.Tensor, contexts: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        """Loss of each pair.

        Args:
            centers: ids ``(B,)``; contexts: ids ``(B,)``; noise: ids ``(B, K)``.

        Returns:
            ``(B,)``: ``-log sigmoid(u_o.v_c) - sum_k log sigmoid(-u_k.v_c)``.
        """
        v = self.center(centers)  # (B, d)
        u = self.context(torch.cat([contexts[:, None], noise], dim=1))  # (B, 1+K, d)
        scores = (u * v[:, None, :]).sum(-1)  # (B, 1+K)
        sign = torch.ones_like(scores)
        sign[:, 1:] = -1  # the true context is pulled closer, the noise words pushed away
        return -F.logsigmoid(sign * scores).sum(-1)

    @torch.no_grad()
    def sgd_step(self, centers: torch.Tensor, contexts: torch.Tensor,
                 noise: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step on the summed loss of a batch; returns that sum (a 0-d tensor).

        Same shapes as :meth:`forward`. This is the gradient of ``forward``
        written out, as in the word2vec C code: with ``s_j = u_j.v_c`` and
        label ``y_j`` (1 for the context, 0 for noise),
        ``dL/ds_j = sigmoid(s_j) - y_j``, so ``v_c -= lr * sum_j g_j u_j``
        and ``u_j -= lr * g_j v_c``. ``index_add_`` sums the updates of a row
        that occurs several times in the batch (a sparse update: only the
        rows of the batch are touched). The result equals
        ``forward(...).sum().backward()`` followed by ``torch.optim.SGD``
        (a unit test checks it), with less work on CPU: every
        tensor operation costs a few microseconds of overhead and a pass
        over a ``(B, 1+K, d)`` buffer, so the step uses as few as it can
        (the output-vector update is written into the buffer of the
        gathered output vectors, and the learning rate is folded into
        ``g`` rather than passed as ``alpha``, which costs an extra copy).
        """
        ids = torch.cat([contexts[:, None], noise], dim=1).view(-1)  # (B * (1+K),)
        v = F.embedding(centers, self.center.weight)  # (B, d)
        u = F.embedding(ids, self.context.weight).view(len(centers), -1, v.shape[1])  # (B, 1+K, d)
        scores = torch.linalg.vecdot(u, v[:, None, :])  # (B, 1+K)
        # -log sigmoid(s) = softplus(s) - s and -log sigmoid(-s) = softplus(s)
        loss = F.softplus(scores).sum() - scores[:, 0].sum()
        g = torch.sigmoid(scores)  # becomes -lr * dL/ds
        g[:, 0] -= 1
        g *= -lr
        grad_v = torch.bmm(g[:, None, :], u)[:, 0]  # (B, d), uses u before it is overwritten
        torch.mul(g[:, :, None], v[:, None, :], out=u)  # u now holds the output-vector updates
        self.center.weight.index_add_(0, centers, grad_v)
        self.context.weight.index_add_(0, ids, u.view(-1, v.shape[1]))
        return loss


# ------------------------------------------------------------------- training


def _check_positive_int(name: str, value) -> None:
    _v.positive_int(name, value)


def _check_rng(rng, allow_none: bool) -> None:
    if (rng is None and allow_none) or isinstance(rng, np.random.Generator):
        return
    rule = "None or a numpy.random.Generator" if allow_none else "a numpy.random.Generator"
    raise _v.ArgumentTypeError(f"rng must be {rule} (np.random.default_rng(seed)), got "
                               f"{type(rng).__name__}")


class SkipGram:
    """Skip-gram word vectors with negative sampling, trained with SGD.

    Used in chapter "word2vec". Scikit-learn style: set the hyperparameters,
    call :meth:`fit`, read the fitted attributes (trailing ``_``) and
    :attr:`wv`::

        model = SkipGram(dim=100, epochs=5).fit(sentences)
        model.wv.most_similar("money")

    Every epoch the training data is drawn afresh with numpy, in a few
    vectorised calls: subsampling, windows, (center, context) pairs, a
    shuffle, and ``K`` cells of the noise table (:func:`noise_table`) per
    pair. These become id tensors on the device, and SGD runs over batches
    of them, looking the noise words up in the table there. Nothing else
    changes between CPU and GPU, and a seed draws the same pairs and noise
    words on both.

    Why plain SGD with a linearly decaying learning rate (the original
    recipe) rather than ``torch.optim.SparseAdam``: on CPU, SparseAdam must
    coalesce (sort) the sparse gradient and update two moment tables every
    step, which makes each pair slower, and word2vec's learning rate
    schedule is well tuned for this loss. The SGD step is written out in
    :meth:`SGNS.sgd_step` instead of ``loss.backward()`` + ``torch.optim.SGD``
    because building sparse COO gradients through autograd adds work on
    CPU for the same update. Batches are shuffled pairs, so
    one step updates many unrelated words; the loss is summed, not averaged,
    so each pair moves the vectors as much as in the one-pair-at-a-time
    original.

    With ``workers > 1`` (CPU only) that many threads run SGD steps at the
    same time on different batches and write into the same tables without
    locks ("Hogwild!"), as the word2vec C code and gensim do; each step then
    uses one core. This scales better on a CPU than splitting every small
    tensor operation across cores, and much better on a busy machine, but,
    as in gensim, the order of the updates (so the exact vectors) then
    depends on thread timing.

    Args:
        dim: vector size ``d``.
        window: maximum distance between center and context (dynamic window).
        negative: noise words per pair ``K``.
        min_count: words seen fewer times are dropped.
        subsample: frequent-word subsampling threshold ``t`` (0 disables);
            see :func:`keep_probabilities`.
        epochs: passes over the corpus (subsampling and windows are redrawn
            every epoch).
        batch_size: (center, context) pairs per SGD step. Larger batches run
            faster per pair on a GPU (use 8192 or more there) but apply more
            updates with stale vectors; on a CPU about 1024 is fastest,
            because a step's buffers then stay in cache.
        lr: initial learning rate; it decays linearly to ``lr * 1e-4``.
        workers: CPU threads that train in parallel (Hogwild); 1 gives
            reproducible vectors. Must be 1 on a GPU.
        seed: seed for initialisation, subsampling, windows, shuffling and
            noise words: with ``workers=1``, the same seed gives the same
            vectors (on a CPU each worker uses one torch thread, whatever
            ``torch.get_num_threads()`` says, so the thread count does not
            matter).
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None`` (the best one
            available).

    Attributes:
        vocab_: the ``V`` words, most frequent first.
        counts_: int64 ``(V,)`` their counts.
        model_: the :class:`SGNS` tables.
        losses_: mean loss per pair of each epoch, ``(epochs,)``.
        batch_losses_: float64 ``(steps,)``, the mean loss per pair of every
            SGD step, in training order over all epochs (the loss curve; each
            value is measured on the batch just before its update).
        pairs_seen_: number of (center, context) pairs trained on.
        words_seen_: tokens in the training corpus (before subsampling) times
            epochs, the "words" of "words per second".
        fit_seconds_: wall time of :meth:`fit`.

    Raises:
        ValueError: a count is not a positive int, ``subsample`` not in
            [0, 1), ``lr`` not a positive finite number, ``seed`` not an int
            >= 0, ``device`` unknown or not available here, ``workers > 1``
            on a GPU.
    """

    def __init__(self, dim: int = 100, window: int = 5, negative: int = 5, min_count: int = 5,
                 subsample: float = 1e-3, epochs: int = 5, batch_size: int = 1024,
                 lr: float = 0.025, workers: int = 1, seed: int = 0, device: str | None = None):
        for name, value in [("dim", dim), ("window", window), ("negative", negative),
                            ("min_count", min_count), ("epochs", epochs),
                            ("batch_size", batch_size), ("workers", workers)]:
            _check_positive_int(name, value)
        keep_probabilities(np.ones(1), subsample)  # validates subsample
        _v.positive_float("lr", lr, rule="a positive number")
        _v.non_negative_int("seed", seed)
        if device is not None and device not in ("cpu", "cuda", "mps") and not str(device).startswith("cuda:"):
            raise ValueError(f"device must be one of None, 'cpu', 'cuda', 'mps'; got {device!r}")
        if workers > 1 and device not in (None, "cpu"):
            raise ValueError(f"workers > 1 (Hogwild threads) is for CPU training; with "
                             f"device={device!r} use workers=1 and a larger batch_size")
        _v.device("device", device)
        self.dim, self.window, self.negative, self.min_count = dim, window, negative, min_count
        self.subsample, self.epochs, self.batch_size, self.lr = subsample, epochs, batch_size, lr
        self.workers, self.seed, self.device = workers, seed, device

    def fit(self, sentences: Iterable[Sequence[str]]) -> SkipGram:
        """Learn word vectors from ``sentences`` (lists of tokens); returns ``self``."""
        from .runtime import default_device

        start_time = time.perf_counter()
        sentences = _check_sentences(sentences)
        device = torch.device(self.device or ("cpu" if self.workers > 1 else default_device()))
        if self.workers > 1 and device.type != "cpu":
            raise ValueError(f"workers > 1 (Hogwild threads) is for CPU training, but the "
                             f"device is {device.type!r}; use workers=1")
        self.vocab_, self.counts_ = build_vocabulary(sentences, self.min_count)
        if len(self.vocab_) < 2:
            raise ValueError(f"fewer than 2 words occur at least min_count={self.min_count} "
                             "times; lower min_count or give more text")
        tokens, sentence_ids = encode(sentences, {w: i for i, w in enumerate(self.vocab_)})
        keep = keep_probabilities(self.counts_, self.subsample)
        table = torch.from_numpy(noise_table(noise_distribution(self.counts_))).to(device)

        rng = np.random.default_rng(self.seed)
        init = torch.Generator().manual_seed(self.seed)
        self.model_ = SGNS(len(self.vocab_), self.dim, generator=init).to(device)
        self.losses_, self.pairs_seen_, self._wv = [], 0, None
        curve = []
        threads = torch.get_num_threads()
        if device.type == "cpu":
            # One core per worker: a step's tensors are too small to split
            # across cores with profit (and waiting for a busy core is slow).
            torch.set_num_threads(1)
        try:
            for epoch in range(self.epochs):
                # The epoch's pairs, drawn with numpy on the CPU in a few vectorised calls.
                kept, kept_sentences = subsample(tokens, sentence_ids, keep, rng)
                centers, contexts = skipgram_pairs(kept, kept_sentences, self.window, rng)
                order = rng.permutation(len(centers))
                centers, contexts = (torch.from_numpy(x[order]).to(device)
                                     for x in (centers, contexts))
                # Cells of the noise table, K per pair, drawn on the CPU so
                # that every device sees the same noise words for a seed.
                draws = torch.Generator().manual_seed(int(rng.integers(2**62)))
                cells = torch.randint(len(table), (len(centers), self.negative),
                                      generator=draws, dtype=torch.int32).to(device)
                # Summed loss of each batch; the workers write disjoint entries.
                sums = torch.zeros(-(-len(centers) // self.batch_size), device=device,
                                   dtype=torch.float32 if device.type == "mps" else torch.float64)
                if self.workers == 1:
                    self._train_batches(centers, contexts, cells, table, epoch, 0, sums)
                else:
                    from concurrent.futures import ThreadPoolExecutor

                    with ThreadPoolExecutor(self.workers) as pool:
                        jobs = [pool.submit(self._train_batches, centers, contexts, cells, table,
                                            epoch, j, sums) for j in range(self.workers)]
                        for job in jobs:
                            job.result()
                sums = sums.cpu().double().numpy()
                sizes = np.minimum(self.batch_size,
                                   len(centers) - self.batch_size * np.arange(len(sums)))
                curve.append(sums / sizes)
                self.losses_.append(float(sums.sum()) / max(len(centers), 1))
                self.pairs_seen_ += len(centers)
        finally:
            torch.set_num_threads(threads)
        self.batch_losses_ = np.concatenate(curve)
        self.words_seen_ = int(sum(len(s) for s in sentences)) * self.epochs
        self.fit_seconds_ = time.perf_counter() - start_time
        return self

    def _train_batches(self, centers: torch.Tensor, contexts: torch.Tensor, cells: torch.Tensor,
                       table: torch.Tensor, epoch: int, worker: int, sums: torch.Tensor) -> None:
        """SGD over batches ``worker, worker + workers, ...`` of one epoch's pairs.

        ``centers`` and ``contexts`` are ``(P,)`` word ids, ``cells`` ``(P, K)``
        positions in the noise ``table``. The summed loss of batch ``b`` is
        written to ``sums[b]`` (on the device: no synchronisation per step).
        """
        n = len(centers)
        for i in range(worker * self.batch_size, n, self.workers * self.batch_size):
            progress = (epoch + i / n) / self.epochs
            lr = self.lr * max(1.0 - progress, 1e-4)  # linear decay, as in word2vec
            batch = slice(i, i + self.batch_size)
            noise = table.index_select(0, cells[batch].view(-1)).view(-1, self.negative)
            sums[i // self.batch_size] = self.model_.sgd_step(centers[batch], contexts[batch],
                                                              noise, lr)

    @property
    def wv(self):
        """The center vectors as a gensim ``KeyedVectors`` (``most_similar``,
        ``similarity``, ``evaluate_word_pairs``, ...), words most frequent first."""
        if not hasattr(self, "model_"):
            raise AttributeError("this SkipGram is not fitted yet: call fit(sentences) first")
        if self._wv is None:
            from gensim.models import KeyedVectors

            kv = KeyedVectors(vector_size=self.dim, count=0)
            kv.add_vectors(self.vocab_, self.model_.center.weight.detach().float().cpu().numpy())
            for word, count in zip(self.vocab_, self.counts_.tolist(), strict=True):
                kv.set_vecattr(word, "count", count)
            self._wv = kv
        return self._wv


def _stable_hash(text: str) -> int:
    """A hash that does not change between Python processes (``hash`` does)."""
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def gensim_skipgram(sentences: Iterable[Sequence[str]], dim: int = 100, window: int = 5,
                    negative: int = 5, min_count: int = 5, subsample: float = 1e-3,
                    epochs: int = 5, workers: int = 1, seed: int = 0):
    """gensim's ``Word2Vec`` with :class:`SkipGram`'s hyperparameters, as a reference.

    Skip-gram (``sg=1``) with negative sampling (``hs=0``), the same
    subsampling formula, noise distribution and dynamic window. With
    ``workers=1`` the result is reproducible (gensim's initialisation hashes
    the words, so we give it a hash that is the same in every process); more
    workers are faster but thread scheduling then changes the vectors.

    Returns:
        The fitted ``gensim.models.Word2Vec``; its ``.wv`` are the vectors.

    Raises:
        ValueError: a count is not a positive int, ``subsample`` not in
            [0, 1), ``seed`` not an int >= 0.
    """
    from gensim.models import Word2Vec

    for name, value in [("dim", dim), ("window", window), ("negative", negative),
                        ("min_count", min_count), ("epochs", epochs), ("workers", workers)]:
        _check_positive_int(name, value)
    keep_probabilities(np.ones(1), subsample)  # validates subsample
    _v.non_negative_int("seed", seed)
    return Word2Vec(_check_sentences(sentences), sg=1, hs=0, negative=negative,
                    vector_size=dim, window=window, min_count=min_count, sample=subsample,
                    epochs=epochs, workers=workers, seed=seed, hashfxn=_stable_hash)


# ------------------------------------------------------ count-based vectors


def cooccurrence_counts(tokens: np.ndarray, sentence_ids: np.ndarray, vocab_size: int,
                        window: int = 5):
    """How often each word occurs within ``window`` positions of each other word.

    The same pairs as :func:`skipgram_pairs` with ``rng=None`` (the full
    window, inside a sentence), counted once per (center, context) pair, so
    the matrix is symmetric.

    Returns:
        ``scipy.sparse.csr_matrix`` ``(V, V)`` of float64 counts
        ``#(w, c)``, ``V = vocab_size``.

    Raises:
        ValueError: ``vocab_size`` or ``window`` is not a positive int, or a
            token id is outside ``0..vocab_size - 1``.
    """
    import scipy.sparse as sp

    _check_positive_int("vocab_size", vocab_size)
    tokens = np.asarray(tokens, dtype=np.int64)
    if len(tokens) and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"tokens must be ids in 0..{vocab_size - 1} (vocab_size), got ids "
                         f"from {tokens.min()} to {tokens.max()}")
    centers, contexts = skipgram_pairs(tokens, sentence_ids, window)
    counts = sp.coo_matrix((np.ones(len(centers)), (centers, contexts)),
                           shape=(vocab_size, vocab_size))
    return counts.tocsr()  # sums the duplicate (center, context) entries


def shifted_ppmi(counts, shift: float = 5.0, context_power: float = 0.75):
    """The shifted positive PMI matrix ``max(PMI(w, c) - log shift, 0)``, sparse.

    ``PMI(w, c) = log(#(w, c) * |D| / (#(w) * #(c)))`` with ``|D|`` the number
    of pairs. Levy & Goldberg (2014) showed that SGNS with ``K`` noise words
    drawn from the unigram distribution is, at its optimum, a factorisation
    ``u_c . v_w = PMI(w, c) - log K``; so ``shift`` plays the role of ``K``.
    ``context_power`` smooths the context distribution as SGNS's noise
    distribution does (``#(c)^0.75``, renormalised), which keeps rare
    contexts from getting huge PMI values. Entries that were never observed
    (PMI of minus infinity) and negative ones are 0, so the matrix stays as
    sparse as ``counts``.

    Args:
        counts: ``(V, V)`` sparse co-occurrence counts (:func:`cooccurrence_counts`).
        shift: ``K >= 1``; ``1`` gives plain positive PMI.
        context_power: exponent of the context counts, in [0, 1].

    Returns:
        ``scipy.sparse.csr_matrix`` ``(V, V)`` of float64 values >= 0.

    Raises:
        ValueError: ``shift`` is not a number >= 1, ``context_power`` not in
            [0, 1], ``counts`` not a square matrix with a positive sum.
    """
    import scipy.sparse as sp

    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not 1 <= shift < np.inf:
        raise ValueError(f"shift must be a number >= 1 (the K of SGNS), got {shift!r}")
    _v.probability("context_power", context_power)
    if not sp.issparse(counts) or counts.ndim != 2 or counts.shape[0] != counts.shape[1] \
            or not counts.sum() > 0:
        raise ValueError("counts must be a square scipy sparse matrix with a positive sum "
                         "(cooccurrence_counts)")
    coo = counts.tocoo()
    words = np.asarray(counts.sum(axis=1)).ravel() / counts.sum()
    contexts = np.asarray(counts.sum(axis=0)).ravel() ** context_power
    contexts /= contexts.sum()
    pmi = (np.log(coo.data / counts.sum()) - np.log(words[coo.row]) - np.log(contexts[coo.col])
           - np.log(shift))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


def svd_vectors(matrix, words: Sequence[str], dim: int = 50, power: float = 0.5,
                seed: int = 0):
    """Word vectors from a truncated SVD ``M ~ U S V^T``: row ``w`` of ``U S^power``.

    ``power=0.5`` splits the singular values evenly between word and context
    vectors, like the two tables of SGNS (Levy, Goldberg & Dagan, 2015, found
    0.5 or 0 better than 1 on similarity tests). The SVD is scikit-learn's
    randomized one, with ``seed``; each vector's sign is fixed so that its
    largest entry is positive, which makes the result the same from run to
    run.

    Returns:
        gensim ``KeyedVectors`` with ``len(words)`` vectors of size ``dim``,
        in the order of ``words``.

    Raises:
        ValueError: ``dim`` is not a positive int below the matrix size,
            ``power`` not in [0, 1], ``seed`` not an int >= 0, or
            ``words`` not one per row of ``matrix``.
    """
    from gensim.models import KeyedVectors
    from sklearn.utils.extmath import randomized_svd

    _check_positive_int("dim", dim)
    _v.probability("power", power)
    _v.non_negative_int("seed", seed)
    if len(words) != matrix.shape[0]:
        raise ValueError(f"words must name every row of matrix: {len(words)} words for "
                         f"{matrix.shape[0]} rows")
    if dim >= min(matrix.shape):
        raise ValueError(f"dim must be below the matrix size {min(matrix.shape)}, got {dim}")
    u, s, _ = randomized_svd(matrix, dim, n_iter=5, random_state=seed)
    u *= np.sign(u[np.abs(u).argmax(axis=0), np.arange(dim)])
    kv = KeyedVectors(vector_size=dim, count=0)
    kv.add_vectors(list(words), (u * s**power).astype(np.float32))
    return kv


# ----------------------------------------------------------------- evaluation

_BENCHMARKS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt",
               "analogies": "questions-words.txt"}


def benchmark_path(name: str) -> str:
    """Path of a word benchmark shipped with gensim: ``"wordsim353"``,
    ``"simlex999"`` or ``"analogies"`` (Mikolov's questions-words.txt)."""
    from gensim.test.utils import datapath

    if name not in _BENCHMARKS:
        raise ValueError(f"name must be one of {sorted(_BENCHMARKS)}, got {name!r}")
    return datapath(_BENCHMARKS[name])


def evaluate_similarity(kv) -> dict[str, dict[str, float]]:
    """Spearman correlation with human similarity judgements.

    Uses gensim's ``KeyedVectors.evaluate_word_pairs`` (case-insensitive).
    Pairs with a word missing from ``kv`` are skipped, so compare models by
    Spearman *and* coverage.

    Returns:
        A dict with the keys ``"wordsim353"`` and ``"simlex999"``, each a dict
        with ``"spearman"``, ``"pearson"``, ``"coverage"`` and ``"pairs"``;
        ``coverage`` is the fraction of the benchmark's ``pairs`` that were
        scored.

    Raises:
        TypeError: ``kv`` is not a gensim ``KeyedVectors``.
    """
    _check_keyed_vectors(kv)
    out = {}
    for name in ("wordsim353", "simlex999"):
        path = benchmark_path(name)
        pearson, spearman, oov_percent = kv.evaluate_word_pairs(path)
        with open(path, encoding="utf-8") as f:
            pairs = sum(1 for line in f if line.strip() and not line.startswith("#"))
        out[name] = {"spearman": float(spearman.statistic), "pearson": float(pearson.statistic),
                     "coverage": 1.0 - float(oov_percent) / 100.0, "pairs": pairs}
    return out


def spearman_interval(kv, name: str = "wordsim353", level: float = 0.95,
                      n_resamples: int = 1000, seed: int = 0):
    """Spearman correlation on a similarity benchmark, with a bootstrap interval.

    The pairs the model covers are resampled with replacement ``n_resamples``
    times; the interval is the percentile interval of the resampled
    correlations. It says how much the score depends on which few hundred
    pairs the benchmark happens to contain; it does not cover the training
    seed of the vectors.

    Args:
        kv: gensim ``KeyedVectors``.
        name: ``"wordsim353"`` or ``"simlex999"``.

    Returns:
        :class:`tlbook.stats.Interval`: ``mean`` is the correlation on all
        covered pairs (as :func:`evaluate_similarity` reports it), ``n`` the
        number of covered pairs.

    Raises:
        TypeError: ``kv`` is not a gensim ``KeyedVectors``.
        ValueError: unknown ``name``, ``level`` not in (0, 1),
            ``n_resamples`` not a positive int, ``seed`` not an int >= 0,
            fewer than 3 covered pairs.
    """
    from scipy.stats import rankdata, spearmanr

    from .stats import Interval

    _check_keyed_vectors(kv)
    if name not in ("wordsim353", "simlex999"):
        raise ValueError(f"name must be 'wordsim353' or 'simlex999', got {name!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    _check_positive_int("n_resamples", n_resamples)
    _v.non_negative_int("seed", seed)
    human, cosine = [], []
    # The words gensim's evaluate_word_pairs searches: the 300,000 most frequent.
    known = {w: i for w, i in kv.key_to_index.items() if i < 300_000}
    with open(benchmark_path(name), encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split("\t")
            if line.startswith("#") or len(parts) < 3:
                continue
            a, b = parts[0].lower(), parts[1].lower()
            if a in known and b in known:
                human.append(float(parts[2]))
                cosine.append(float(kv.similarity(a, b)))
    if len(human) < 3:
        raise ValueError(f"kv covers only {len(human)} pairs of {name}; need at least 3")
    human, cosine = np.array(human), np.array(cosine)
    rho = float(spearmanr(human, cosine).statistic)
    idx = np.random.default_rng(seed).integers(len(human), size=(n_resamples, len(human)))
    # Spearman = Pearson correlation of the ranks, computed for all resamples at once.
    rh = rankdata(human[idx], axis=1)
    rc = rankdata(cosine[idx], axis=1)
    rh -= rh.mean(axis=1, keepdims=True)
    rc -= rc.mean(axis=1, keepdims=True)
    boot = (rh * rc).sum(1) / np.sqrt((rh**2).sum(1) * (rc**2).sum(1))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(rho, float(min(low, rho)), float(max(high, rho)), float(boot.std(ddof=1)),
                    len(human), float(level))


def text_coverage(kv, texts: Sequence[str]) -> float:
    """Share of the word tokens of ``texts`` that ``kv`` has a vector for.

    Words are split and lower-cased as :func:`tlbook.embeddings.averaged_word_vectors`
    does, so this is the share of words an averaged-vector classifier sees.

    Raises:
        TypeError: ``kv`` is not a gensim ``KeyedVectors`` or ``texts`` not
            a sequence of str.
    """
    from .embeddings import _WORD

    _check_keyed_vectors(kv)
    _v.str_sequence("texts", texts)
    words = [w for t in texts for w in _WORD.findall(t.lower())]
    if not words:
        raise ValueError("texts contain no words")
    return sum(w in kv.key_to_index for w in words) / len(words)


def benchmark_scores(kv, restrict_vocab: int = 30000, level: float = 0.95) -> dict[str, float]:
    """One row of the chapter's comparison table: every test, with its interval.

    WordSim-353 and SimLex-999 Spearman with the half-width of their
    bootstrap interval over word pairs (:func:`spearman_interval`); analogy
    accuracy (:func:`evaluate_analogies`) with the half-width of the normal
    interval of a proportion over the answered questions; and the coverage
    of each test.

    Returns:
        ``{"WS-353 ρ", "WS-353 ±", "WS-353 cov.", "SL-999 ρ", "SL-999 ±",
        "SL-999 cov.", "analogy acc.", "analogy ±", "analogy cov."}``.
    """
    from scipy.stats import norm

    row = {}
    for short, name in [("WS-353", "wordsim353"), ("SL-999", "simlex999")]:
        iv = spearman_interval(kv, name, level=level)
        with open(benchmark_path(name), encoding="utf-8") as f:
            pairs = sum(1 for line in f if line.strip() and not line.startswith("#"))
        row.update({f"{short} ρ": iv.mean, f"{short} ±": iv.half_width,
                    f"{short} cov.": iv.n / pairs})
    ana = evaluate_analogies(kv, restrict_vocab=restrict_vocab)
    z = norm.ppf((1 + level) / 2)
    half = z * np.sqrt(ana["accuracy"] * (1 - ana["accuracy"]) / max(ana["answered"], 1))
    row.update({"analogy acc.": ana["accuracy"], "analogy ±": float(half),
                "analogy cov.": ana["coverage"]})
    return row


def _check_keyed_vectors(kv) -> None:
    if not hasattr(kv, "index_to_key") or not hasattr(kv, "evaluate_word_pairs"):
        raise _v.ArgumentTypeError(f"kv must be a gensim KeyedVectors (e.g. SkipGram(...).wv or "
                                   f"tlbook.models.load_glove()), got {type(kv).__name__}")


def _read_analogies(path: str) -> list[tuple[str, list[str]]]:
    """``(section, [a, b, c, expected])`` per question, upper-cased as gensim does."""
    questions, section = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(": "):
                section = line[2:].strip()
            elif len(line.split()) == 4:
                questions.append((section, [w.upper() for w in line.split()]))
    return questions


def evaluate_analogies(kv, restrict_vocab: int = 30000, batch_size: int = 512) -> dict:
    """Accuracy on Mikolov's analogy questions ("a is to b as c is to ?").

    The answer is the word closest (cosine) to ``b - a + c``, the three
    question words excluded (3CosAdd), searched among the ``restrict_vocab``
    most frequent words; questions with a word outside them are skipped.
    This gives gensim's ``KeyedVectors.evaluate_word_analogies`` answers
    (case-insensitive) but scores all questions with a few matrix products
    instead of one ``most_similar`` call each, about 30x faster on
    GloVe (a unit test checks that both agree).

    Returns:
        ``{"accuracy", "semantic", "syntactic", "coverage", "answered",
        "questions"}``: accuracy over the answered questions (and over the
        answered semantic and ``gram*`` syntactic sections); ``coverage`` =
        answered / questions.

    Raises:
        TypeError: ``kv`` is not a gensim ``KeyedVectors``.
        ValueError: ``restrict_vocab`` or ``batch_size`` not a positive int.
    """
    _check_keyed_vectors(kv)
    _check_positive_int("restrict_vocab", restrict_vocab)
    _check_positive_int("batch_size", batch_size)
    keys = kv.index_to_key[:restrict_vocab]
    upper = [k.upper() for k in keys]
    index = {u: i for i, u in reversed(list(enumerate(upper)))}  # the most frequent case variant
    questions = _read_analogies(benchmark_path("analogies"))
    answered = [(s, q) for s, q in questions if all(w in index for w in q)]
    vectors = np.asarray(kv.vectors[:len(keys)], dtype=np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # All case variants of a question word are excluded, as in gensim.
    variants: dict[str, list[int]] = {}
    for i, u in enumerate(upper):
        variants.setdefault(u, []).append(i)
    canonical = np.array([index[u] for u in upper])  # any case variant of the answer counts
    correct = np.zeros(len(answered), dtype=bool)
    for start in range(0, len(answered), batch_size):
        chunk = answered[start:start + batch_size]
        a, b, c, expected = (np.array([index[q[j]] for _, q in chunk]) for j in range(4))
        query = unit[b] + unit[c] - unit[a]  # (n, d)
        query /= np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
        scores = query @ unit.T  # (n, restrict_vocab)
        for row, (_, q) in enumerate(chunk):
            for word in q[:3]:
                scores[row, variants[word]] = -np.inf
        correct[start:start + len(chunk)] = canonical[scores.argmax(1)] == expected
    semantic = np.array([not s.startswith("gram") for s, _ in answered], dtype=bool)

    def accuracy(mask):
        return float(correct[mask].mean()) if mask.any() else 0.0

    everything = np.ones(len(answered), dtype=bool)
    return {"accuracy": accuracy(everything), "semantic": accuracy(semantic),
            "syntactic": accuracy(~semantic), "coverage": len(answered) / len(questions),
            "answered": len(answered), "questions": len(questions)}


# -------------------------------------------------------------------- figure


def label_points(ax, points, labels: Sequence[str], fontsize: float = 8) -> list:
    """Write ``labels`` next to ``points`` on ``ax`` so that the labels do not overlap.

    For the PCA pictures of the chapter, where related words crowd together.
    Each label in turn takes, among a few positions around its point (right,
    left, above, below, then the same further out), the one that overlaps
    least with the labels already placed, the points and the axes' edges; a
    label placed further out gets a thin line to its point. Call it after
    the points are drawn (the axes limits must be final).

    Args:
        ax: a matplotlib ``Axes``.
        points: array ``(n, 2)`` in data coordinates.
        labels: ``n`` strings.

    Returns:
        The ``n`` matplotlib ``Annotation`` objects.

    Raises:
        ValueError: ``points`` is not ``(n, 2)`` with one label per point.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"points must be (n, 2) with one label each; got shape "
                         f"{points.shape} and {len(labels)} labels")
    ax.autoscale_view()
    scale = ax.figure.dpi / 72  # points -> pixels
    xy = ax.transData.transform(points)  # pixels
    x0, y0, x1, y1 = ax.bbox.extents
    marker = 3 * scale  # half the width of a default scatter marker
    taken = [(x - marker, y - marker, x + marker, y + marker) for x, y in xy]

    def overlap(a, b) -> float:
        width = min(a[2], b[2]) - max(a[0], b[0])
        height = min(a[3], b[3]) - max(a[1], b[1])
        return max(0.0, width) * max(0.0, height)

    renderer = ax.figure.canvas.get_renderer()
    out = []
    for (x, y), text in zip(xy, labels):
        note = ax.annotate(text, points[len(out)], xytext=(0, 0), textcoords="offset points",
                           fontsize=fontsize, va="bottom", ha="left")
        extent = note.get_window_extent(renderer)  # the label's real size, in pixels
        w, h = extent.width + scale, extent.height
        best = None
        for reach in (1.0, 2.6, 4.2):
            g = 4 * scale * reach
            for dx, dy in [(g, g / 2), (-g - w, g / 2), (g, -g / 2 - h), (-g - w, -g / 2 - h),
                           (-w / 2, g), (-w / 2, -g - h)]:
                box = (x + dx, y + dy, x + dx + w, y + dy + h)
                outside = w * h - overlap(box, (x0, y0, x1, y1))
                cost = sum(overlap(box, t) for t in taken) + 2 * outside + (reach > 1)
                if best is None or cost < best[0]:
                    best = (cost, dx, dy, box, reach)
        _, dx, dy, box, reach = best
        taken.append(box)
        note.remove()
        out.append(ax.annotate(text, points[len(out)], xytext=(dx / scale, dy / scale),
                               textcoords="offset points", fontsize=fontsize,
                               va="bottom", ha="left",
                               arrowprops=dict(arrowstyle="-", lw=0.5, color="0.5",
                                               shrinkA=0, shrinkB=2) if reach > 1 else None))
    return out
