"""Catastrophic forgetting: measuring it and holding it back.

Chapter "Catastrophic forgetting" uses these pieces; the chapter explains
them, this module keeps them.

- :func:`linear_cka` and :func:`layer_cka`: how similar two sets of hidden
  states are (linear centred kernel alignment, Kornblith et al., 2019),
  one number per layer when a model is compared with its own earlier self;
  :func:`debiased_cka` is the same measure without its finite-sample bias
  (unrelated representations score about 0 at any width).
- :class:`MultiHeadClassifier`: one shared encoder with one linear head per
  task, so that a model fine-tuned on task A and then on task B can still be
  asked about task A through its old head.
- :func:`train_task` trains such a model on a task in one of the
  ways the chapter compares (plain, frozen lower layers, an L2 penalty towards
  the starting weights, EWC, rehearsal of old examples, LoRA);
  :class:`L2SPPenalty` is the L2-SP penalty (Li et al., 2018),
  :class:`EWCPenalty` elastic weight consolidation (Kirkpatrick et al.,
  2017) with importances from :func:`fisher_diagonal`, and
  :func:`rehearsal_mix` the rehearsal sample; :func:`probe_head` fits a
  head on frozen features (linear probing) and :func:`task_accuracy` scores
  one head.
- :func:`parameter_distance` says how far training moved the weights;
  :func:`genre_blocks` and :func:`perplexity` measure a causal LM on Brown
  genres.
"""

from __future__ import annotations

import copy
import functools
import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import _validate as _v

POOLINGS = ("cls", "mean")
"""What the heads of :class:`MultiHeadClassifier` read."""

__all__ = ["POOLINGS", "probe_head", "linear_cka", "debiased_cka", "layer_cka", "L2SPPenalty",
           "fisher_diagonal", "EWCPenalty", "rehearsal_mix",
           "MultiHeadClassifier", "task_loader", "task_correct", "task_accuracy", "train_task",
           "parameter_distance", "genre_blocks", "perplexity", "SEQUENTIAL_VARIANTS",
           "sequential_data", "train_variant", "sequential_cell", "CHAT_METHODS",
           "CHAT_INSTRUCTION", "CHAT_ANSWER_PREFIX", "CHAT_LABEL_WORDS", "chat_answers",
           "chat_data", "chat_scores", "chat_train", "chat_cell"]


# ------------------------------------------------------------------ CKA


def _as_matrix(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    elif isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.number) or \
                np.issubdtype(value.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        value = value.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor of shape "
                        f"(n_examples, n_features), got {type(value).__name__}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D, (n_examples, n_features), got shape "
                         f"{tuple(value.shape)}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def linear_cka(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Linear CKA between two representations of the same examples.

    ``x`` and ``y`` hold one row per example (the same examples, in the same
    order) and may have different numbers of columns. Both are centred per
    column; then

    ``CKA = ||y^T x||_F^2 / (||x^T x||_F ||y^T y||_F)``,

    a number in [0, 1]: 1 when one representation is an orthogonal
    transformation of the other times a scalar (plus a shift), near 0 for
    unrelated ones (Kornblith et al., 2019). Computed in float64, in feature
    space or, when there are fewer examples than features, with the
    ``(n, n)`` Gram matrices; both give the same number.

    Args:
        x: ``(n, d1)`` numpy array or torch tensor.
        y: ``(n, d2)`` numpy array or torch tensor.

    Returns:
        The CKA as a Python float.

    Raises:
        TypeError: an argument is not a numpy array or a torch tensor.
        ValueError: an argument is not 2-D or not finite, the row counts
            differ, there are fewer than 2 rows, or a representation is
            constant (its CKA is undefined).
    """
    x, y = _as_matrix("x", x), _as_matrix("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows (one per example); got "
                         f"x {x.shape[0]} and y {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"x and y need at least 2 rows (examples) to centre, got {x.shape[0]}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    if x.shape[0] < max(x.shape[1], y.shape[1]):
        k, l_ = x @ x.T, y @ y.T  # (n, n) Gram matrices
        cross, norm_x, norm_y = (k * l_).sum(), np.linalg.norm(k), np.linalg.norm(l_)
    else:
        cross = np.linalg.norm(y.T @ x) ** 2
        norm_x, norm_y = np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y)
    for name, norm in (("x", norm_x), ("y", norm_y)):
        if norm == 0:
            raise ValueError(f"{name} is constant across examples: CKA is undefined")
    return float(cross / (norm_x * norm_y))


def _unbiased_hsic(k: np.ndarray, l_: np.ndarray) -> float:
    """The unbiased HSIC estimator of Song et al. (2012) for two ``(n, n)``
    Gram matrices whose diagonals are zero (n >= 4)."""
    n = len(k)
    ones_k, ones_l = k.sum(axis=0), l_.sum(axis=0)  # 1^T K and 1^T L
    value = (k * l_).sum() + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) \
        - 2 * ones_k @ ones_l / (n - 2)
    return float(value / (n * (n - 3)))


def debiased_cka(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Linear CKA with the finite-sample bias removed.

    :func:`linear_cka` of two *unrelated* representations is not near 0 when
    the number of features is not small against the number of examples: for
    independent Gaussian matrices its expected value grows with ``d / n``
    (about 0.28 at 384 features and 1,000 examples). The debiased form
    replaces each HSIC term by its unbiased estimator (Song et al., 2012;
    the "debiased CKA" of Nguyen, Raghu & Kornblith, 2021), so unrelated
    representations score about 0 at any width, and identical ones (or an
    orthogonal transformation times a scalar) still score 1. It can be
    slightly negative for unrelated inputs.

    Args:
        x: ``(n, d1)`` numpy array or torch tensor, one row per example.
        y: ``(n, d2)``, the same examples in the same order.

    Returns:
        The debiased CKA as a Python float (float64 arithmetic).

    Raises:
        TypeError: an argument is not a numpy array or a torch tensor.
        ValueError: an argument is not 2-D or not finite, the row counts
            differ, there are fewer than 4 rows, or a representation is
            constant.
    """
    x, y = _as_matrix("x", x), _as_matrix("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows (one per example); got "
                         f"x {x.shape[0]} and y {y.shape[0]}")
    if x.shape[0] < 4:
        raise ValueError(f"x and y need at least 4 rows (examples) for the unbiased "
                         f"estimator, got {x.shape[0]}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    k, l_ = x @ x.T, y @ y.T
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    hsic_xx, hsic_yy = _unbiased_hsic(k, k), _unbiased_hsic(l_, l_)
    for name, value in (("x", hsic_xx), ("y", hsic_yy)):
        if value <= 0:
            raise ValueError(f"{name} is constant across examples: CKA is undefined")
    return float(_unbiased_hsic(k, l_) / np.sqrt(hsic_xx * hsic_yy))


def layer_cka(states_a, states_b, debiased: bool = False) -> np.ndarray:
    """Linear CKA layer by layer between two models' states of the same inputs.

    Args:
        states_a, states_b: ``(n_layers, n, hidden)`` arrays (as returned by
            :func:`tlbook.hidden_states.hidden_states_by_layer`) or sequences
            of ``(n, d)`` matrices, one per layer; the same number of layers.
        debiased: use :func:`debiased_cka` instead of :func:`linear_cka`.

    Returns:
        float64 array ``(n_layers,)``: ``linear_cka(states_a[i], states_b[i])``
        (or ``debiased_cka``).

    Raises:
        ValueError: the numbers of layers differ or are zero (and whatever
            :func:`linear_cka` raises for a layer).
    """
    for name, states in (("states_a", states_a), ("states_b", states_b)):
        if isinstance(states, (str, bytes)) or not hasattr(states, "__len__"):
            raise TypeError(f"{name} must be an array (n_layers, n, hidden) or a sequence of "
                            f"2-D arrays, got {type(states).__name__}")
    if len(states_a) != len(states_b) or len(states_a) == 0:
        raise ValueError(f"states_a and states_b must have the same, non-zero number of layers; "
                         f"got {len(states_a)} and {len(states_b)}")
    if not isinstance(debiased, bool):
        raise TypeError(f"debiased must be True or False, got {debiased!r}")
    cka = debiased_cka if debiased else linear_cka
    return np.array([cka(a, b) for a, b in zip(states_a, states_b)])


# ------------------------------------------------------------------ mitigations


class L2SPPenalty:
    """``alpha * sum ||w - w0||^2`` over the parameters of a module.

    L2-SP (Li et al., 2018) pulls fine-tuned weights towards their starting
    point ``w0`` instead of towards zero, as weight decay does. Create it
    before training, when the module holds ``w0``; calling it returns the
    penalty as a scalar tensor that backpropagates into the current weights.
    Pass it as ``penalty`` to :func:`tlbook.lora.fit`.

    Args:
        module: whose parameters are anchored (e.g. the shared encoder, not
            a new head, which has no meaningful start).
        alpha: strength, a number >= 0.

    Example::

        penalty = L2SPPenalty(model.encoder, alpha=0.1)
        fit(model, loader, lr=1e-4, penalty=penalty)

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: ``alpha`` is not a finite number >= 0, or ``module`` has
            no parameters.
    """

    def __init__(self, module: nn.Module, alpha: float):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        _v.non_negative_float("alpha", alpha, rule="a number >= 0 (and finite)")
        self.alpha = float(alpha)
        self._pairs = [(p, p.detach().clone()) for p in module.parameters()]
        if not self._pairs:
            raise ValueError("module has no parameters to anchor")

    def squared_distance(self) -> torch.Tensor:
        """``sum ||w - w0||^2`` over the trainable parameters (a scalar tensor)."""
        total = None
        for i, (p, p0) in enumerate(self._pairs):
            if not p.requires_grad:
                continue
            if p0.device != p.device:  # the model was moved after the snapshot
                p0 = p0.to(p.device)
                self._pairs[i] = (p, p0)
            term = (p - p0).pow(2).sum()
            total = term if total is None else total + term
        return total if total is not None else torch.zeros(())

    def __call__(self) -> torch.Tensor:
        return self.alpha * self.squared_distance()


def fisher_diagonal(model: nn.Module, loader, module: nn.Module | None = None,
                    max_examples: int | None = None) -> dict[str, torch.Tensor]:
    """The diagonal of the Fisher information of a classifier, per parameter.

    For each example ``x`` of ``loader`` (one at a time, in eval mode, so
    without dropout) and each class ``c``, the squared gradient of
    ``log p(c | x)`` is weighted by the model's own ``p(c | x)``: the exact
    expectation over the model's predictive distribution, not the
    "empirical" Fisher of the gold labels, and no sampling. The mean over
    examples is what elastic weight consolidation (Kirkpatrick et al., 2017)
    uses as each weight's importance for the task ``loader`` holds.

    Args:
        model: a classifier whose output has ``logits`` ``(1, n_classes)``
            for a one-example batch (e.g. :class:`MultiHeadClassifier`).
        loader: batches of dicts of tensors (e.g. :func:`task_loader`);
            ``labels`` in them are ignored.
        module: whose parameters to measure (default ``model``; e.g. the
            shared encoder). Only parameters that require gradients count.
        max_examples: stop after this many examples (``None``: all).

    Returns:
        ``{parameter name in module: tensor of its shape}``, every entry >= 0.

    Raises:
        TypeError: ``model``/``module`` not an ``nn.Module``.
        ValueError: ``max_examples`` not None or an int >= 1, ``loader``
            empty, or no parameter of ``module`` requires gradients.
    """
    for name, m in (("model", model), ("module", model if module is None else module)):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
    _v.optional_int("max_examples", max_examples, 1)
    named = [(n, p) for n, p in (model if module is None else module).named_parameters()
             if p.requires_grad]
    if not named:
        raise ValueError("no parameter of module requires gradients: nothing to measure")
    params = [p for _, p in named]
    fisher = [torch.zeros_like(p) for p in params]
    was_training, count = model.training, 0
    model.eval()
    try:
        for batch in loader:
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            for i in range(len(inputs["input_ids"])):
                one = {k: v[i:i + 1] for k, v in inputs.items()}
                logp = torch.log_softmax(model(**one).logits.float(), dim=-1)[0]
                probs = logp.detach().exp()
                for c in range(len(logp)):
                    grads = torch.autograd.grad(logp[c], params, retain_graph=c < len(logp) - 1,
                                                allow_unused=True)
                    for f, g in zip(fisher, grads):
                        if g is not None:
                            f.add_(probs[c] * g.detach() ** 2)
                count += 1
                if max_examples is not None and count >= max_examples:
                    break
            if max_examples is not None and count >= max_examples:
                break
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader is empty: the Fisher information needs examples")
    return {n: f / count for (n, _), f in zip(named, fisher)}


class EWCPenalty(L2SPPenalty):
    """``alpha / 2 * sum F_i (w_i - w0_i)^2``: elastic weight consolidation.

    Kirkpatrick et al. (2017) anchor each weight to the value ``w0`` it had
    after the old task, with a stiffness ``F_i`` from the diagonal of the
    Fisher information on that task (:func:`fisher_diagonal`): weights the
    old task relies on are held hard, the rest move freely. With every
    ``F_i = 2`` it is :class:`L2SPPenalty`. Create it when ``module`` holds
    ``w0`` (right after the old task) and pass it as ``penalty`` to
    :func:`tlbook.lora.fit`.

    Args:
        module: whose parameters are anchored.
        fisher: ``{parameter name in module: importance}``, e.g. from
            :func:`fisher_diagonal` of the same module; parameters without an
            entry are not anchored.
        alpha: strength (the paper's lambda), a number >= 0.

    Raises:
        TypeError: ``module`` not an ``nn.Module``, ``fisher`` not a dict of
            tensors.
        ValueError: ``alpha`` not a finite number >= 0, a name of ``fisher``
            not a parameter of ``module``, a shape that differs, a negative
            or non-finite importance, or nothing to anchor.
    """

    def __init__(self, module: nn.Module, fisher: dict[str, torch.Tensor], alpha: float):
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(fisher, dict) or not all(isinstance(v, torch.Tensor)
                                                   for v in fisher.values()):
            raise TypeError("fisher must be a dict {parameter name: tensor}, e.g. from "
                            "tlbook.forgetting.fisher_diagonal")
        _v.non_negative_float("alpha", alpha, rule="a number >= 0 (and finite)")
        own = dict(module.named_parameters())
        unknown = sorted(set(fisher) - set(own))
        if unknown:
            raise ValueError(f"fisher names parameters that module does not have: "
                             f"{unknown[:3]}; compute it on the same module")
        for name, f in fisher.items():
            if f.shape != own[name].shape:
                raise ValueError(f"fisher[{name!r}] has shape {tuple(f.shape)}, the parameter "
                                 f"{tuple(own[name].shape)}")
            if not torch.isfinite(f).all() or (f < 0).any():
                raise ValueError(f"fisher[{name!r}] must be finite and >= 0")
        if not fisher:
            raise ValueError("fisher is empty: no parameter to anchor")
        self.alpha = float(alpha)
        self._pairs = [(own[n], own[n].detach().clone()) for n in fisher]
        self._weights = [fisher[n].detach().clone() for n in fisher]

    def weighted_distance(self) -> torch.Tensor:
        """``sum F_i (w_i - w0_i)^2`` over the anchored trainable parameters."""
        total = None
        for i, ((p, p0), f) in enumerate(zip(self._pairs, self._weights)):
            if not p.requires_grad:
                continue
            if p0.device != p.device:
                p0, f = p0.to(p.device), f.to(p.device)
                self._pairs[i], self._weights[i] = (p, p0), f
            term = (f * (p - p0).pow(2)).sum()
            total = term if total is None else total + term
        return total if total is not None else torch.zeros(())

    def __call__(self) -> torch.Tensor:
        return 0.5 * self.alpha * self.weighted_distance()


def rehearsal_mix(new: Sequence, old: Sequence, n_old: int, seed: int = 0) -> list:
    """All of ``new`` plus ``n_old`` items drawn from ``old``, shuffled together.

    Rehearsal (replay) keeps a few examples of an earlier task in the training
    data of the next one (Robins, 1995). The draw (without replacement) and
    the shuffle depend only on ``seed``.

    Args:
        new: examples of the task being learned (any items).
        old: examples of the earlier task.
        n_old: how many old examples to mix in, ``0 <= n_old <= len(old)``.
        seed: seed of the draw and the shuffle.

    Returns:
        A list of ``len(new) + n_old`` items.

    Raises:
        TypeError: ``new`` or ``old`` is a str or not a sequence, ``seed``
            not an int.
        ValueError: ``n_old`` is not an int between 0 and ``len(old)``.
    """
    for name, value in (("new", new), ("old", old)):
        if isinstance(value, str) or not hasattr(value, "__len__") \
                or not hasattr(value, "__getitem__"):
            raise _v.ArgumentTypeError(f"{name} must be a sequence of examples, got "
                                       f"{value!r:.60}")
    _v.integer("n_old", n_old, 0, len(old),
               rule=f"an int between 0 and len(old) = {len(old)}")
    _v.integer("seed", seed)
    rng = random.Random(seed)
    mixed = list(new) + [old[i] for i in rng.sample(range(len(old)), n_old)]
    rng.shuffle(mixed)
    return mixed


# ------------------------------------------------------------------ several tasks


class MultiHeadClassifier(nn.Module):
    """A shared encoder with one linear classification head per task.

    ``forward`` takes a batch that says, per example, which task it belongs
    to (``task``, ints) and routes each example's pooled vector to its head,
    so one batch may mix tasks (rehearsal). The loss is the mean
    cross-entropy over the batch, as in a Hugging Face classifier, and
    :func:`tlbook.lora.fit` trains it unchanged.

    Args:
        encoder: a model whose output has ``pooler_output`` of shape
            ``(batch, hidden)`` (e.g. ``BertModel``).
        heads: one ``nn.Linear(hidden, n_classes)`` per task, all with the
            same number of classes.
        dropout: dropout on the pooled vector before the heads.
        pooling: what the heads read: ``"cls"``, the encoder's
            ``pooler_output`` (BERT's pooled ``[CLS]`` vector, what Hugging
            Face classifiers read), or ``"mean"``, the mean of the last
            layer's token vectors over the non-padding tokens (what a
            sentence-embedding model such as all-MiniLM-L6-v2 was trained to
            produce).

    Raises:
        TypeError: ``encoder`` is not an ``nn.Module``, ``heads`` not linear
            layers.
        ValueError: unknown ``pooling``, ``dropout`` not in [0, 1), heads
            with different numbers of classes.
    """

    def __init__(self, encoder: nn.Module, heads: Sequence[nn.Linear], dropout: float = 0.1,
                 pooling: str = "cls"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        if not isinstance(encoder, nn.Module):
            raise _v.ArgumentTypeError(f"encoder must be a torch.nn.Module, got "
                                       f"{type(encoder).__name__}")
        _v.probability("dropout", dropout, include_one=False)
        self.pooling = pooling
        heads = list(heads)
        if not heads or not all(isinstance(h, nn.Linear) for h in heads):
            raise TypeError("heads must be a non-empty sequence of torch.nn.Linear")
        if len({h.out_features for h in heads}) != 1:
            raise ValueError(f"all heads must have the same number of classes, got "
                             f"{[h.out_features for h in heads]}")
        self.encoder = encoder
        self.heads = nn.ModuleList(heads)
        self.dropout = nn.Dropout(dropout)
        self.config = getattr(encoder, "config", None)

    @classmethod
    def from_classifier(cls, model: nn.Module, new_heads: int = 1, seed: int = 0,
                        pooling: str = "cls") -> MultiHeadClassifier:
        """A copy of a sequence classifier (BERT-style: an encoder under
        ``model.base_model_prefix`` and a linear ``classifier``) whose head
        becomes task 0, plus ``new_heads`` freshly initialised heads (normal
        with the model's ``initializer_range``, drawn from ``seed``).

        Raises:
            TypeError: ``model`` has no linear ``classifier``.
            ValueError: ``new_heads`` not an int >= 0, ``seed`` not an int
                >= 0, unknown ``pooling``.
        """
        _v.non_negative_int("seed", seed)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
        classifier = getattr(model, "classifier", None)
        if not isinstance(classifier, nn.Linear):
            raise TypeError("model must be a sequence classifier with a linear 'classifier' "
                            "head (e.g. BertForSequenceClassification)")
        _v.integer("new_heads", new_heads, 0, rule="an int >= 0")
        model = copy.deepcopy(model)
        encoder = getattr(model, model.base_model_prefix)
        std = getattr(model.config, "initializer_range", 0.02)
        g = torch.Generator().manual_seed(seed)
        heads = [model.classifier]
        for _ in range(new_heads):
            head = nn.Linear(classifier.in_features, classifier.out_features)
            with torch.no_grad():
                head.weight.copy_(torch.randn(head.weight.shape, generator=g) * std)
                head.bias.zero_()
            heads.append(head)
        p = getattr(model.config, "classifier_dropout", None)
        p = p if p is not None else getattr(model.config, "hidden_dropout_prob", 0.1)
        return cls(encoder, heads, dropout=p, pooling=pooling)

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               **encoder_kwargs) -> torch.Tensor:
        """The vector the heads read, ``(batch, hidden)``."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **encoder_kwargs)
        if self.pooling == "cls":
            return out.pooler_output
        mask = (torch.ones_like(input_ids) if attention_mask is None else attention_mask)
        mask = mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                task: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **encoder_kwargs):
        """Logits ``(batch, n_classes)`` of each example's own head, and the
        loss when ``labels`` are given. ``task`` (``(batch,)`` ints) defaults
        to task 0 for every example."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        pooled = self.dropout(self.pooled(input_ids, attention_mask, **encoder_kwargs))
        if task is None:
            task = torch.zeros(len(pooled), dtype=torch.long, device=pooled.device)
        if int(task.min()) < 0 or int(task.max()) >= len(self.heads):
            raise ValueError(f"task ids must be in 0..{len(self.heads) - 1}, got "
                             f"{sorted(set(task.tolist()))}")
        logits = torch.empty(len(pooled), self.heads[0].out_features, device=pooled.device,
                             dtype=pooled.dtype)
        for t in task.unique().tolist():  # only the heads this batch needs
            rows = task == t
            logits[rows] = self.heads[t](pooled[rows])
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


@torch.no_grad()
def probe_head(model: MultiHeadClassifier, tokenizer, texts: Sequence[str],
               labels: Sequence[int], task: int, max_length: int = 64, c: float = 1.0) -> float:
    """Set head ``task`` to a logistic regression fitted on the frozen pooled vectors.

    Linear probing first, so that fine-tuning starts from a head that already
    works rather than from a random one (LP-FT, Kumar et al., 2022). Uses
    scikit-learn's ``LogisticRegression`` (L2, inverse strength ``c``); for
    two classes the single weight vector ``w`` becomes the rows ``-w/2`` and
    ``w/2`` of the head, which gives the same probabilities.

    Returns:
        The probe's accuracy on its own training texts.

    Raises:
        TypeError: ``model`` is not a :class:`MultiHeadClassifier`.
        ValueError: ``task`` is not one of its heads, ``c`` not a positive
            finite number, ``max_length`` not a positive int, the labels do
            not fit the head (and what :func:`task_loader` raises).
    """
    from sklearn.linear_model import LogisticRegression

    _check_task(model, task)
    _v.positive_float("c", c)
    _v.positive_int("max_length", max_length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    feats, gold = [], []
    for batch in task_loader(texts, labels, task, tokenizer, 64, max_length):
        gold.append(batch.pop("labels"))
        batch.pop("task")
        feats.append(model.pooled(**{k: v.to(device) for k, v in batch.items()}).cpu())
    model.train(was_training)
    x, y = torch.cat(feats).double().numpy(), torch.cat(gold).numpy()
    probe = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    head = model.heads[task]
    coef, bias = torch.tensor(probe.coef_), torch.tensor(probe.intercept_)
    if head.out_features == 2 and coef.shape[0] == 1:
        coef, bias = torch.cat([-coef / 2, coef / 2]), torch.cat([-bias / 2, bias / 2])
    if coef.shape != head.weight.shape:
        raise ValueError(f"labels have {len(probe.classes_)} classes but head {task} has "
                         f"{head.out_features} outputs")
    head.weight.copy_(coef.to(head.weight))
    head.bias.copy_(bias.to(head.bias))
    return float(probe.score(x, y))


def task_loader(texts: Sequence[str], labels: Sequence[int], tasks: Sequence[int] | int,
                tokenizer, batch_size: int = 16, max_length: int = 64,
                shuffle_seed: int | None = None):
    """A DataLoader of batches for :class:`MultiHeadClassifier`: ``input_ids``,
    ``attention_mask`` (padded per batch), ``labels`` and ``task``.

    Inputs longer than ``max_length`` tokens are cut silently (the chapter
    reads only the start of each e-mail on purpose). With ``shuffle_seed`` the
    order is shuffled in length-grouped batches
    (:func:`tlbook.finetune.length_grouped_order`); without, it is sorted by
    length. The loader's ``order`` attribute says which text each example
    is: the k-th one served is ``texts[order[k]]``.

    Raises:
        TypeError: ``texts`` not a sequence of str, a label or task id not
            an int.
        ValueError: texts, labels and tasks empty or of different lengths,
            a task id < 0, ``batch_size`` or ``max_length`` not a positive
            int, ``shuffle_seed`` not None or an int >= 0.
    """
    from transformers import DataCollatorWithPadding

    from .finetune import length_grouped_order

    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str")
    if isinstance(labels, str) or not hasattr(labels, "__iter__"):
        raise _v.ArgumentTypeError(f"labels must be a sequence of class ids, got "
                                   f"{labels!r:.60}")
    if not hasattr(tasks, "__iter__"):
        _v.non_negative_int("tasks", tasks, rule="a task id (an int >= 0) or one per text")
    tasks = [tasks] * len(texts) if not hasattr(tasks, "__iter__") else list(tasks)
    labels = list(labels)
    _v.whole_labels("labels", labels)
    for t in tasks:
        _v.non_negative_int("each of tasks", t, rule="a task id (an int >= 0)")
    _v.positive_int("max_length", max_length)
    _v.optional_int("shuffle_seed", shuffle_seed, 0)
    if not len(texts) == len(labels) == len(tasks) or not texts:
        raise ValueError(f"texts, labels and tasks must be non-empty and equally long; got "
                         f"{len(texts)}, {len(labels)} and {len(tasks)}")
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": int(y), "task": int(t)}
            for ids, mask, y, t in zip(enc["input_ids"], enc["attention_mask"], labels, tasks)]
    lengths = [len(r["input_ids"]) for r in rows]
    order = (sorted(range(len(rows)), key=lambda i: lengths[i]) if shuffle_seed is None
             else length_grouped_order(lengths, batch_size, shuffle_seed))
    loader = torch.utils.data.DataLoader([rows[i] for i in order], batch_size=batch_size,
                                         collate_fn=DataCollatorWithPadding(tokenizer))
    loader.order = order  # the k-th example served is texts[order[k]]
    return loader


def _check_task(model, task) -> None:
    """``model`` is a :class:`MultiHeadClassifier` and ``task`` one of its heads."""
    if not isinstance(model, MultiHeadClassifier):
        raise TypeError(f"model must be a MultiHeadClassifier, got {type(model).__name__}")
    _v.integer("task", task, 0, len(model.heads) - 1,
               rule=f"an int in 0..{len(model.heads) - 1}")


@torch.no_grad()
def task_correct(model: MultiHeadClassifier, tokenizer, texts: Sequence[str],
                 labels: Sequence[int], task: int, max_length: int = 64,
                 batch_size: int = 64) -> list[int]:
    """Whether head ``task`` of ``model`` gets each of ``texts`` right: 1 or 0
    per text, in the order of ``texts`` (for paired comparisons of two models
    on the same items).

    Raises:
        TypeError: ``model`` is not a :class:`MultiHeadClassifier`.
        ValueError: ``task`` is not one of its heads (and what
            :func:`task_loader` raises).
    """
    _check_task(model, task)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    served: list[int] = []
    loader = task_loader(texts, labels, task, tokenizer, batch_size, max_length)
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            gold = batch.pop("labels")
            served += (model(**batch).logits.argmax(-1) == gold).int().tolist()
    model.train(was_training)
    right = [0] * len(served)
    for k, i in enumerate(loader.order):
        right[i] = served[k]
    return right


def task_accuracy(model: MultiHeadClassifier, tokenizer, texts: Sequence[str],
                  labels: Sequence[int], task: int, max_length: int = 64,
                  batch_size: int = 64) -> float:
    """Accuracy of head ``task`` of ``model`` on ``texts`` (the mean of
    :func:`task_correct`).

    Raises:
        TypeError: ``model`` is not a :class:`MultiHeadClassifier`.
        ValueError: ``task`` is not one of its heads (and what
            :func:`task_loader` raises).
    """
    right = task_correct(model, tokenizer, texts, labels, task, max_length, batch_size)
    return sum(right) / len(texts)


def train_task(model: MultiHeadClassifier, tokenizer, texts: Sequence[str],
                    labels: Sequence[int], tasks: Sequence[int], lr: float, epochs: int = 1,
                    batch_size: int = 16, max_length: int = 64, freeze_layers: int = 0,
                    l2sp_alpha: float = 0.0, lora_r: int | None = None,
                    frozen_heads: Sequence[int] = (), seed: int = 0,
                    callback=None, ewc_alpha: float = 0.0,
                    fisher: dict | None = None) -> tuple[MultiHeadClassifier, list[float]]:
    """Train a copy of ``model`` on a task, in one of the ways the chapter compares.

    The heads of the tasks present in ``tasks`` train, except those listed
    in ``frozen_heads``; the other heads stay frozen. Then, by argument:

    - plain (the defaults): every encoder weight trains;
    - ``freeze_layers=k``: the embeddings and the lowest ``k`` transformer
      layers are frozen;
    - ``l2sp_alpha > 0``: :class:`L2SPPenalty` on the encoder, anchored at
      the weights ``model`` has now;
    - ``ewc_alpha > 0`` with ``fisher`` (:func:`fisher_diagonal` of
      ``model.encoder`` on the old task): :class:`EWCPenalty` on the
      encoder, anchored at the weights ``model`` has now;
    - ``lora_r``: the encoder is frozen and LoRA adapters of rank ``lora_r``
      (``alpha = 16``) on the query and value projections train
      (:func:`tlbook.lora.add_lora`); they are merged into the weights at the
      end, so the result is a plain model again.

    Rehearsal is a matter of the data: mix old-task examples into ``texts``,
    ``labels`` and ``tasks`` (:func:`rehearsal_mix`), and keep the old head
    fixed with ``frozen_heads`` so that the encoder must keep serving it. Training is
    :func:`tlbook.lora.fit` (AdamW, 10% warm-up, linear decay, no weight decay,
    the fused AdamW kernel); ``callback(steps_done, model)`` is passed on to it.

    Returns:
        ``(trained copy, training loss per step)``; ``model`` is not changed.

    Raises:
        TypeError: ``model`` is not a :class:`MultiHeadClassifier`,
            ``callback`` not callable.
        ValueError: (before anything is copied or trained) ``lr`` not a
            positive finite number, ``epochs``/``batch_size``/``max_length``
            not positive ints, ``freeze_layers`` out of range, ``l2sp_alpha``
            not a finite number >= 0, ``lora_r`` not None or a positive int,
            ``ewc_alpha`` not a finite number >= 0 or without ``fisher``,
            ``lora_r`` with another mitigation, ``tasks`` empty, of another
            length than ``texts`` or naming no head, ``frozen_heads`` not
            head ids, ``seed`` not an int >= 0.
    """
    from .lora import add_lora, fit, merge_lora

    if not isinstance(model, MultiHeadClassifier):
        raise TypeError(f"model must be a MultiHeadClassifier, got {type(model).__name__}")
    _v.positive_float("lr", lr, rule="a positive float")
    _v.positive_int("epochs", epochs, rule="an int >= 1")
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    _v.positive_int("max_length", max_length)
    _v.non_negative_float("l2sp_alpha", l2sp_alpha)
    _v.non_negative_float("ewc_alpha", ewc_alpha)
    if ewc_alpha and fisher is None:
        raise ValueError("ewc_alpha > 0 needs fisher, the importance of each encoder weight "
                         "for the old task: fisher_diagonal(model, old_task_loader, "
                         "module=model.encoder)")
    if ewc_alpha and l2sp_alpha:
        raise ValueError("use one penalty at a time: l2sp_alpha or ewc_alpha, not both")
    _v.optional_int("lora_r", lora_r, 1)
    _v.non_negative_int("seed", seed)
    _v.callable_or_none("callback", callback)
    if isinstance(tasks, str) or not hasattr(tasks, "__iter__"):
        raise _v.ArgumentTypeError(f"tasks must be a sequence of task ids, one per text, got "
                                   f"{tasks!r:.60}")
    _v.non_empty("tasks", list(tasks), "task id")
    _v.same_length("texts", texts, "tasks", list(tasks))
    for t in tasks:
        _v.integer("each of tasks", t, 0, len(model.heads) - 1,
                   rule=f"a head id in 0..{len(model.heads) - 1}")
    for t in frozen_heads:
        _v.integer("each of frozen_heads", t, 0, len(model.heads) - 1,
                   rule=f"a head id in 0..{len(model.heads) - 1}")
    layers = model.encoder.encoder.layer
    if isinstance(freeze_layers, bool) or not isinstance(freeze_layers, int) or \
            not 0 <= freeze_layers <= len(layers):
        raise ValueError(f"freeze_layers must be an int in 0..{len(layers)}, got "
                         f"{freeze_layers!r}")
    if lora_r is not None and (freeze_layers or l2sp_alpha or ewc_alpha):
        raise ValueError("lora_r freezes the whole encoder already: use it with "
                         "freeze_layers=0, l2sp_alpha=0 and ewc_alpha=0")
    tasks = list(tasks)
    present = sorted(set(tasks))
    if present[0] < 0 or present[-1] >= len(model.heads):
        raise ValueError(f"tasks must be in 0..{len(model.heads) - 1}, got {present}")
    model = copy.deepcopy(model)
    if lora_r is not None:
        add_lora(model.encoder, ("query", "value"), r=lora_r, alpha=16.0)
    else:
        layers = model.encoder.encoder.layer  # the copy's layers
        frozen = [model.encoder.embeddings, *layers[:freeze_layers]] if freeze_layers else []
        for p in model.encoder.parameters():
            p.requires_grad = True
        for module in frozen:
            for p in module.parameters():
                p.requires_grad = False
    for t, head in enumerate(model.heads):
        for p in head.parameters():
            p.requires_grad = t in present and t not in frozen_heads
    penalty = L2SPPenalty(model.encoder, l2sp_alpha) if l2sp_alpha else None
    if ewc_alpha:
        penalty = EWCPenalty(model.encoder, fisher, ewc_alpha)
    loader = task_loader(texts, labels, tasks, tokenizer, batch_size, max_length,
                         shuffle_seed=seed)
    losses = fit(model, loader, lr=lr, epochs=epochs, seed=seed, progress=False,
                 penalty=penalty, fused=True, callback=callback)
    if lora_r is not None:
        merge_lora(model.encoder)
    for p in model.parameters():
        p.requires_grad = True
    return model.eval(), losses


# ------------------------------------------------------------------ measuring


@torch.no_grad()
def parameter_distance(a: nn.Module, b: nn.Module) -> float:
    """Euclidean distance between the weights of two models of the same
    architecture (over all parameters with the same name and shape).

    Raises:
        TypeError: ``a`` or ``b`` is not an ``nn.Module``.
        ValueError: they share no parameter.
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, nn.Module):
            raise _v.ArgumentTypeError(f"{name} must be a torch.nn.Module, got "
                                       f"{type(value).__name__}")
    pb = dict(b.named_parameters())
    pairs = [(p, pb[n]) for n, p in a.named_parameters() if n in pb and pb[n].shape == p.shape]
    if not pairs:
        raise ValueError("a and b share no parameter names: compare models of the same "
                         "architecture")
    return math.sqrt(sum(float((p - q.to(p.device)).double().pow(2).sum()) for p, q in pairs))


def genre_blocks(genre: str, tokenizer, block_size: int = 64) -> list[list[int]]:
    """Token blocks of one Brown genre as running text, in corpus order.

    The sentences are detokenised (:func:`tlbook.lora.detokenize`) and
    :func:`tlbook.lora.lm_blocks` joins them with spaces into one text and
    cuts it, so no end-of-text token separates sentences: a model trained on
    these blocks learns the genre, not a one-sentence-per-document format
    that every other text cut the same way would share. Chapters "LoRA" and
    "Catastrophic forgetting" both read Brown through this function.

    Raises:
        TypeError: ``genre`` is not a str.
        ValueError: ``genre`` is not a Brown genre, ``block_size`` not an
            int >= 2.
    """
    from .data import brown_sentences
    from .lora import detokenize, lm_blocks

    _v.string("genre", genre)
    _v.integer("block_size", block_size, 2)

    return lm_blocks([detokenize(s.words) for s in brown_sentences(genre)], tokenizer,
                     block_size=block_size)


def perplexity(model: nn.Module, blocks: Sequence[Sequence[int]], batch_size: int = 8) -> float:
    """``exp`` of the mean next-token cross-entropy of a causal LM on ``blocks``.

    Raises:
        ValueError: as :func:`tlbook.lora.lm_loader` and
            :func:`tlbook.lora.lm_loss` (empty ``blocks``, bad ``batch_size``).
    """
    from .lora import lm_loader, lm_loss

    return math.exp(lm_loss(model, lm_loader(blocks, batch_size=batch_size)))


# ------------------------------------------------------------------ the recorded sweep

SEQUENTIAL_VARIANTS: tuple[str, ...] = ("plain fine-tuning", "lower learning rate",
                                        "frozen lower layers", "rehearsal", "L2-SP", "EWC",
                                        "LoRA")
"""The ways :func:`sequential_cell` trains task B, as chapter "Catastrophic
forgetting" lists them (EWC added)."""

_TASK_A_LR, _TASK_B_LR, _SPAM_LEN, _L2SP_ALPHA = 1e-4, 3e-4, 32, 0.1
_SPAM_TRAIN, _REHEARSED = 640, 128


def sequential_data() -> dict:
    """The data of chapter "Catastrophic forgetting": movie sentiment (task A;
    ``train`` 160, ``validation`` 100, ``test`` 200 sentences) and spam
    (task B; ``spam train`` 640, ``spam test`` 200 e-mails), each a
    ``datasets.Dataset`` with ``text`` and ``label``, the first rows of
    their splits."""
    from .data import first_rows, load_movie_sentiment, load_spam

    movies, spam = load_movie_sentiment(), load_spam()
    return {"train": first_rows(movies["train"], 160),
            "validation": first_rows(movies["validation"], 100),
            "test": first_rows(movies["test"], 200),
            "spam train": first_rows(spam["train"], _SPAM_TRAIN),
            "spam test": first_rows(spam["test"], 200)}


@functools.lru_cache(maxsize=8)
def _after_task_a(seed: int):
    """The chapter's data and the model after task A for ``seed`` (kept, so
    that the variants of one seed in one process train task A once; the
    model is never changed in place: :func:`train_task` trains a copy)."""
    from .models import load_encoder

    data = sequential_data()
    pretrained, tokenizer = load_encoder(num_labels=2)
    start = MultiHeadClassifier.from_classifier(pretrained, new_heads=1, seed=seed,
                                                pooling="mean")
    train = data["train"]
    probe_head(start, tokenizer, train["text"], train["label"], task=0)  # LP, then FT
    task_a, _ = train_task(start, tokenizer, train["text"], train["label"],
                           [0] * len(train), lr=_TASK_A_LR, batch_size=16, seed=seed)
    return data, tokenizer, task_a


def train_variant(task_a: MultiHeadClassifier, tokenizer, data: dict, variant: str,
                  seed: int = 0) -> MultiHeadClassifier:
    """Task B (spam, head 1) trained on a copy of ``task_a`` in one of the
    :data:`SEQUENTIAL_VARIANTS`, as :func:`sequential_cell` describes;
    ``data`` is :func:`sequential_data`. The sentiment head stays frozen.

    Raises:
        ValueError: ``variant`` unknown, ``seed`` not an int >= 0.
    """
    _v.one_of("variant", variant, SEQUENTIAL_VARIANTS)
    _v.non_negative_int("seed", seed)
    train, spam_train = data["train"], data["spam train"]
    new = list(zip(spam_train["text"], spam_train["label"], [1] * len(spam_train)))
    kwargs: dict = {"lr": _TASK_B_LR}
    examples = new
    if variant == "lower learning rate":
        kwargs["lr"] = 5e-5
    elif variant == "frozen lower layers":
        kwargs["freeze_layers"] = 4
    elif variant == "rehearsal":
        old = list(zip(train["text"], train["label"], [0] * len(train)))
        examples = rehearsal_mix(new[:len(new) - _REHEARSED], old, _REHEARSED, seed=seed)
        kwargs["frozen_heads"] = [0]
    elif variant == "L2-SP":
        kwargs["l2sp_alpha"] = _L2SP_ALPHA
    elif variant == "EWC":
        fisher = fisher_diagonal(task_a, task_loader(train["text"], train["label"], 0,
                                                     tokenizer), module=task_a.encoder)
        mean_f = float(sum(f.sum() for f in fisher.values())
                       / sum(f.numel() for f in fisher.values()))
        kwargs.update(ewc_alpha=2 * _L2SP_ALPHA / mean_f, fisher=fisher)
    elif variant == "LoRA":
        kwargs.update(lr=1e-3, lora_r=8)
    texts, labels, tasks = map(list, zip(*examples))
    task_b, _ = train_task(task_a, tokenizer, texts, labels, tasks, batch_size=16,
                           max_length=_SPAM_LEN, seed=seed, **kwargs)
    return task_b


def sequential_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch8-sequential``: sentiment (task A), then spam
    (task B) in the way ``config["variant"]`` names (one of
    :data:`SEQUENTIAL_VARIANTS`), on :func:`sequential_data`: 160 training
    sentences (10 steps of 16) for task A, 640 e-mails (40 steps of 16, each
    cut at 32 tokens) for task B, 200 test items of each.

    The sentiment head starts as a linear probe (:func:`probe_head`), as in
    the chapter, and stays frozen during task B. Everything random follows
    ``seed``: the new spam head, the order of both tasks' batches, the
    rehearsed sentences, dropout. Task A trains every weight at 1e-4 (mean
    pooling, as in the chapter); task B at 3e-4, except "lower learning
    rate" (5e-5) and "LoRA" (1e-3, r = 8, merged). Every variant sees 640
    examples: "rehearsal" replaces 128 of the e-mails by 128 of task A's
    training sentences. L2-SP pulls with alpha = 0.1; EWC
    (:class:`EWCPenalty`, the Fisher of task A's training sentences from
    :func:`fisher_diagonal`) gets the same total stiffness, redistributed by
    importance: ``alpha_EWC * mean(F) / 2 = 0.1``.

    Returns:
        ``sentiment after A``, ``sentiment after B``, ``spam after B`` (test
        accuracies), ``sentiment lost`` (the first minus the second),
        ``probe after A``, ``probe after B`` and ``probe lost``: the same
        with the sentiment head refitted as a linear probe on each encoder
        (:func:`probe_head` on task A's training sentences), which tells
        knowledge gone from the encoder apart from a head that no longer
        fits it; ``weights moved`` (:func:`parameter_distance` of the two
        encoders),
        and per test sentence ``sentiment correct after A`` /
        ``sentiment correct after B`` (1 or 0), for paired comparisons.
    """
    from .runtime import seed_everything

    if not isinstance(config, dict) or set(config) != {"variant"}:
        raise ValueError(f"config must be {{'variant': one of {SEQUENTIAL_VARIANTS}}}, got "
                         f"{config!r}")
    _v.one_of("variant", config["variant"], SEQUENTIAL_VARIANTS)
    _v.non_negative_int("seed", seed)
    data, tokenizer, task_a = _after_task_a(seed)
    seed_everything(seed)  # task B's dropout is the same whether task A was kept or not
    task_b = train_variant(task_a, tokenizer, data, config["variant"], seed)
    test = data["test"]
    after_a, after_b = (task_correct(m, tokenizer, test["text"], test["label"], task=0)
                        for m in (task_a, task_b))
    spam_b = task_accuracy(task_b, tokenizer, data["spam test"]["text"],
                           data["spam test"]["label"], task=1, max_length=_SPAM_LEN)

    def refitted(model):  # a new linear probe on the encoder as it is now
        probed = copy.deepcopy(model)
        probe_head(probed, tokenizer, data["train"]["text"], data["train"]["label"], task=0)
        return task_accuracy(probed, tokenizer, test["text"], test["label"], task=0)

    probe_a, probe_b = refitted(task_a), refitted(task_b)
    return {"sentiment after A": float(np.mean(after_a)),
            "sentiment after B": float(np.mean(after_b)),
            "sentiment lost": float(np.mean(after_a) - np.mean(after_b)),
            "probe after A": probe_a, "probe after B": probe_b,
            "probe lost": probe_a - probe_b,
            "spam after B": float(spam_b),
            "weights moved": parameter_distance(task_a.encoder, task_b.encoder),
            "sentiment correct after A": after_a, "sentiment correct after B": after_b}


CHAT_METHODS: tuple[str, ...] = ("full fine-tuning", "LoRA")
"""How :func:`chat_cell` trains the causal LM on raw text."""

CHAT_INSTRUCTION = "Is the sentiment of this movie review positive or negative?"
CHAT_ANSWER_PREFIX = "The sentiment of this movie review is"
CHAT_LABEL_WORDS = (" negative", " positive")
_CHAT_TARGET, _CHAT_STEPS, _CHAT_BATCH, _CHAT_HELD, _CHAT_PROMPTS = "government", 16, 2, 16, 64


def chat_answers(labels: Sequence[int]) -> list[str]:
    """The answer the chat model gives to :data:`CHAT_INSTRUCTION` after
    :data:`CHAT_ANSWER_PREFIX`, for each gold label (0 negative, 1 positive):
    the label word, a full stop and the end-of-turn marker."""
    return [f"{CHAT_LABEL_WORDS[int(y)]}.<|im_end|>" for y in labels]


def chat_data(tokenizer, n_prompts: int = _CHAT_PROMPTS) -> dict:
    """The data of the chat-model experiment: ``pool`` (training blocks of 64
    tokens of the Brown *government* genre), ``held`` (16 other blocks, drawn
    at random with seed 0), and for the first ``n_prompts`` movie test
    sentences their chat ``prompts`` (:func:`tlbook.prompting.chat_prompts`
    with :data:`CHAT_INSTRUCTION` and :data:`CHAT_ANSWER_PREFIX`), gold
    ``labels`` and ``answers`` (:func:`chat_answers`)."""
    from .data import first_rows, load_movie_sentiment
    from .prompting import chat_prompts

    _v.positive_int("n_prompts", n_prompts)
    blocks = genre_blocks(_CHAT_TARGET, tokenizer, block_size=64)
    held_idx = set(np.random.default_rng(0).choice(len(blocks), _CHAT_HELD,
                                                   replace=False).tolist())
    test = first_rows(load_movie_sentiment()["test"], n_prompts)
    return {"pool": [b for i, b in enumerate(blocks) if i not in held_idx],
            "held": [blocks[i] for i in sorted(held_idx)],
            "prompts": chat_prompts(tokenizer, test["text"], CHAT_INSTRUCTION,
                                    CHAT_ANSWER_PREFIX),
            "labels": list(test["label"]), "answers": chat_answers(test["label"])}


def chat_scores(model: nn.Module, tokenizer, data: dict) -> dict:
    """What :func:`chat_cell` measures of a chat LM on :func:`chat_data`: its
    ``text loss`` (nats per token) on the held-out blocks of raw text,
    ``chat correct`` (1 or 0 per prompt: the larger of the two
    :data:`CHAT_LABEL_WORDS` log-probabilities is the gold one) and
    ``answer loss`` per prompt (of the gold answer), the last two from one
    pass of :func:`tlbook.prompting.answer_scores`."""
    from .lora import lm_loader, lm_loss
    from .prompting import answer_scores

    losses, logp = answer_scores(model, tokenizer, data["prompts"], data["answers"],
                                 CHAT_LABEL_WORDS)
    correct = (logp.argmax(axis=1) == np.asarray(data["labels"])).astype(int).tolist()
    return {"text loss": lm_loss(model, lm_loader(data["held"], batch_size=8)),
            "chat correct": correct, "answer loss": losses}


@functools.lru_cache(maxsize=1)
def _chat_before() -> dict:
    """:func:`chat_scores` of the untrained chat model (the same in every cell)."""
    from .models import load_causal_lm

    lm, tokenizer = load_causal_lm()
    return chat_scores(lm, tokenizer, chat_data(tokenizer))


def chat_train(lm: nn.Module, data: dict, method: str, lr: float, seed: int = 0) -> nn.Module:
    """Train the chat model ``lm`` on raw text as :func:`chat_cell` does: 16
    steps of 2 blocks drawn by ``seed`` from ``data["pool"]``
    (:func:`chat_data`), by ``method`` (one of :data:`CHAT_METHODS`) at
    learning rate ``lr``. Returns the trained model: ``lm`` itself for full
    fine-tuning, ``lm`` wrapped in LoRA adapters otherwise (either way ``lm``
    is changed; load a fresh one to start again).

    Raises:
        ValueError: ``method`` unknown, ``lr`` not > 0, ``seed`` not an int >= 0.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    from .lora import fit, lm_loader

    _v.one_of("method", method, CHAT_METHODS)
    _v.positive_float("lr", lr)
    _v.non_negative_int("seed", seed)
    rng = np.random.default_rng(seed)
    train = [data["pool"][i] for i in rng.choice(len(data["pool"]), _CHAT_STEPS * _CHAT_BATCH,
                                                 replace=False)]
    loader = lm_loader(train, batch_size=_CHAT_BATCH, shuffle_seed=seed)
    torch.manual_seed(seed)
    if method == "full fine-tuning":
        model = lm.requires_grad_(True)
        fit(model, loader, lr=lr, fused=True, progress=False, seed=seed)
    else:
        model = get_peft_model(lm, LoraConfig(r=8, lora_alpha=16,
                                              target_modules=["q_proj", "v_proj"],
                                              task_type=TaskType.CAUSAL_LM))
        fit(model, loader, lr=lr, progress=False, seed=seed)
    return model


def chat_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch8-chat``: the lite chat model (SmolLM2-Instruct)
    trained on raw prose of the Brown *government* genre, 16 steps of 2
    blocks of 64 tokens (2,048 tokens drawn from the genre by ``seed``; 16
    other blocks held out), by ``config["method"]`` at learning rate
    ``config["lr"]``: "full fine-tuning" (every weight, fused AdamW) or
    "LoRA" (r = 8, alpha = 16 on the query and value projections, as in
    chapter "LoRA").

    Measured before and after training (:func:`chat_scores`): the held-out
    government loss (what it learns) and its chat ability on the first 64
    movie test sentences (what it may forget): zero-shot sentiment accuracy
    under the chat template, and the loss of the answer it gives.

    Returns:
        ``text loss``, ``chat accuracy`` and ``answer loss`` (the mean), each
        ``before`` and ``after``, and the per-prompt lists ``chat correct
        before/after`` and ``answer losses before/after``.
    """
    from .models import load_causal_lm

    if not isinstance(config, dict) or set(config) != {"method", "lr"}:
        raise ValueError(f"config must be {{'method': one of {CHAT_METHODS}, 'lr': a "
                         f"learning rate}}, got {config!r}")
    _v.one_of("method", config["method"], CHAT_METHODS)
    _v.positive_float("lr", config["lr"])
    _v.non_negative_int("seed", seed)
    before = _chat_before()
    lm, tokenizer = load_causal_lm()
    data = chat_data(tokenizer)
    model = chat_train(lm, data, config["method"], config["lr"], seed)
    after = chat_scores(model, tokenizer, data)
    out: dict = {}
    for when, s in (("before", before), ("after", after)):
        out.update({f"text loss {when}": s["text loss"],
                    f"chat accuracy {when}": float(np.mean(s["chat correct"])),
                    f"answer loss {when}": float(np.mean(s["answer loss"])),
                    f"chat correct {when}": s["chat correct"],
                    f"answer losses {when}": s["answer loss"]})
    return out
