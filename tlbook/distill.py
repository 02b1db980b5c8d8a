"""Smaller and faster: knowledge distillation and int8 quantisation.

Used in chapter "Smaller and faster". A *teacher*, the profile's encoder
fine-tuned on movie sentiment as in chapter "BERT fine-tuning"
(:func:`train_teacher`), passes what it learnt to a *student* with fewer
layers:

- :func:`cut_layers` builds the student from some of the pretrained
  encoder's own blocks, as DistilBERT takes every other layer of BERT
  (Sanh et al., 2019);
- :func:`distillation_loss` is Hinton et al.'s (2015) objective, the
  cross-entropy with the hard labels plus the KL divergence from the
  teacher's softened distribution, scaled by ``T**2``;
- :func:`distil` is the training loop: the batches, parameter groups,
  schedule and ``accelerate`` placement of :mod:`tlbook.finetune`, with the
  teacher's logits looked up for each example of a batch;
- :func:`quantize` applies PyTorch's dynamic int8 quantisation to the linear
  layers, :func:`size_on_disk` and :func:`sentences_per_second` measure what
  that buys.

:func:`student_cell` is one run of the recorded sweep ``ch10-distill``.
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Sequence

import numpy as np

from . import _validate as _v

__all__ = ["STUDENTS", "METHODS", "TEMPERATURE", "ALPHA", "EPOCHS", "distillation_loss", "cut_layers",
           "parameter_count", "student_config", "distil", "train_teacher", "teacher_logits",
           "unlabelled_pool", "quantize", "size_on_disk", "sentences_per_second",
           "student_cell"]

STUDENTS = {"3 layers": (0, 2, 4), "1 layer": (0,)}
"""The students of the chapter: which blocks of the pretrained encoder each keeps."""

METHODS = ("hard labels", "distillation", "distillation + unlabelled")
"""How a student is trained: cross-entropy with the labels only; Hinton's
loss on the same labelled sentences; Hinton's loss on the labelled sentences
and twice as many unlabelled ones (the teacher's soft targets only), in the
same number of steps."""

TEMPERATURE = 2.0
"""Softmax temperature of the chapter's distillation runs."""

ALPHA = 0.5
"""Weight of the soft (teacher) term of the chapter's distillation runs."""

EPOCHS = 2
"""Passes over the labelled sentences of the teacher and of the students
(chapter "BERT fine-tuning" makes 3 with early stopping; 2 keep the chapter
within its time on a CPU)."""


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                      alpha: float = 0.5):
    """Hinton et al.'s distillation loss, averaged over the batch.

    ``(1 - alpha) * CE(student, labels) + alpha * T**2 * KL(p_T(teacher) ||
    p_T(student))``, where ``p_T`` is the softmax of the logits divided by
    the temperature ``T``. The factor ``T**2`` keeps the soft term's
    gradients of the same size as the hard term's when ``T`` changes. The
    hard term averages over the examples with a label (``-100`` marks an
    unlabelled one, which only the soft term sees) and is 0 when there are
    none; the soft term averages over all examples.

    Args:
        student_logits: ``(batch, num_labels)`` tensor.
        teacher_logits: ``(batch, num_labels)`` tensor (no gradient flows into it).
        labels: ``(batch,)`` class ids, ``-100`` for unlabelled examples.
        temperature: ``T > 0``.
        alpha: weight of the soft term, in ``[0, 1]``.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: ``temperature`` not a positive number, ``alpha`` outside
            ``[0, 1]``, or shapes that do not match.
    """
    import torch.nn.functional as F

    _v.positive_float("temperature", temperature)
    _v.probability("alpha", alpha)
    if student_logits.ndim != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must both have shape (batch, "
                         f"num_labels), got {tuple(student_logits.shape)} and "
                         f"{tuple(teacher_logits.shape)}")
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must have shape (batch,) = {tuple(student_logits.shape[:1])}, "
                         f"got {tuple(labels.shape)}")
    student_logits = student_logits.float()
    labelled = labels != -100
    hard = (F.cross_entropy(student_logits[labelled], labels[labelled])
            if labelled.any() else student_logits.sum() * 0.0)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    soft = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft


def cut_layers(model, keep: Sequence[int]):
    """A copy of ``model`` that keeps only the transformer blocks ``keep``
    (indices from the bottom, 0-based), in their order, with every other
    weight (embeddings, head) copied as it is.

    Works on a bare BERT-style encoder and on a classifier around one
    (:class:`tlbook.heads.MeanPooledClassifier`, transformers' sequence
    classifiers). The copy's ``config.num_hidden_layers`` is ``len(keep)``.

    Raises:
        TypeError: ``model`` has no BERT-style blocks, or ``keep`` is not a
            sequence of ints.
        ValueError: ``keep`` is empty, repeats a block, is not increasing, or
            names a block the model does not have.
    """
    import torch

    from .finetune import encoder_layers

    if isinstance(model, torch.nn.Module) and hasattr(model, "encoder") \
            and hasattr(model.encoder, "layer"):
        blocks_owner = model
    else:
        encoder_layers(model)  # raises TypeError for a model without blocks
        blocks_owner = getattr(model, model.base_model_prefix)
    if isinstance(keep, (str, bytes)) or not isinstance(keep, Sequence):
        raise _v.ArgumentTypeError(f"keep must be a sequence of block indices, got "
                                   f"{keep!r:.60}")
    n = len(blocks_owner.encoder.layer)
    for i in keep:
        _v.integer("each of keep", i, 0, n - 1)
    if not keep:
        raise ValueError(f"keep must name at least one of the model's {n} blocks, got []")
    if any(b <= a for a, b in zip(keep, keep[1:])):
        raise ValueError(f"keep must be increasing block indices without repeats, got "
                         f"{list(keep)}")
    student = copy.deepcopy(model)
    owner = student if blocks_owner is model else getattr(student, student.base_model_prefix)
    owner.encoder.layer = torch.nn.ModuleList([owner.encoder.layer[i] for i in keep])
    # the copy's modules share one copied config, as the original's share theirs
    owner.config.num_hidden_layers = len(keep)
    return student


def parameter_count(model) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def student_config(seed: int = 0, epochs: int = EPOCHS, profile: str | None = None):
    """The :class:`~tlbook.finetune.FineTuneConfig` of the teacher and of every
    student run: the profile's fine-tuning rate and batch size, ``epochs``
    passes, 10% warm-up, no early stopping.

    Raises:
        ValueError: ``seed`` not an int >= 0, ``epochs`` not a positive int.
    """
    from .finetune import FineTuneConfig
    from .profiles import get_profile

    _v.positive_int("epochs", epochs)
    sizes = get_profile(profile).sizes
    return FineTuneConfig(lr=sizes["finetune_lr"], epochs=epochs,
                          batch_size=sizes["finetune_batch_size"], warmup_ratio=0.1,
                          seed=seed, progress=False)


def distil(student, tokenizer, texts: Sequence[str], labels: Sequence[int],
           teacher_logits, config=None, temperature: float = 2.0,
           alpha: float = 0.5) -> list[float]:
    """Train ``student`` in place with :func:`distillation_loss`.

    The loop is :func:`tlbook.finetune.fine_tune`'s, reduced to what
    distillation needs: the same length-grouped batches
    (:func:`~tlbook.finetune.make_loader`), parameter groups, AdamW, linear
    warm-up and decay, gradient clipping and ``accelerate`` placement. The
    loader carries each example's index, and the loop looks up its label and
    the teacher's logits by it. ``alpha=0`` is plain fine-tuning on the hard
    labels.

    Args:
        student: a sequence classifier (e.g. from :func:`cut_layers`).
        tokenizer: its tokenizer.
        texts: training sentences.
        labels: one class id per sentence, ``-100`` for an unlabelled one.
        teacher_logits: ``(len(texts), num_labels)`` array.
        config: a :class:`~tlbook.finetune.FineTuneConfig`; its ``lr``,
            ``epochs``, ``batch_size``, ``grad_accum``, ``weight_decay``,
            ``warmup_ratio``, ``max_length``, ``mixed_precision``, ``seed``
            and ``progress`` are used (default: :func:`student_config`).
        temperature, alpha: as in :func:`distillation_loss`.

    Returns:
        The training loss of every optimizer step.

    Raises:
        TypeError: ``config`` is not a ``FineTuneConfig``.
        ValueError: no texts; ``labels`` or ``teacher_logits`` not one row per
            text; labels outside ``0..num_labels - 1`` (or ``-100``); a
            config option the loop does not support (``freeze``,
            ``layer_lr_decay``, ``gradual_unfreezing``, ``class_weights``,
            ``early_stopping_patience``).
    """
    import torch

    from .finetune import check_fixed_budget, train_for_budget

    config = config or student_config()
    check_fixed_budget(config, "distil")
    _v.str_sequence("texts", texts, allow_empty=False)
    _v.same_length("texts", texts, "labels", labels)
    teacher = np.asarray(teacher_logits, dtype=np.float32)
    n_labels = student.config.num_labels
    if teacher.shape != (len(texts), n_labels):
        raise ValueError(f"teacher_logits must have shape (len(texts), num_labels) = "
                         f"{(len(texts), n_labels)}, got {teacher.shape}")
    y = np.asarray(labels)
    if not np.all((y == -100) | ((y >= 0) & (y < n_labels))):
        raise ValueError(f"labels must be in 0..{n_labels - 1} or -100 (unlabelled), got "
                         f"values {sorted(set(y.tolist()))[:10]}")
    _v.max_length("config.max_length", config.max_length, student)
    hard_labels, soft = torch.as_tensor(y, dtype=torch.long), torch.from_numpy(teacher)

    def batch_loss(model, batch):  # the loader's labels are the texts' indices
        index = batch.pop("labels").cpu()
        logits = model(**batch).logits
        return distillation_loss(logits, soft[index].to(logits.device),
                                 hard_labels[index].to(logits.device), temperature, alpha)

    losses = train_for_budget(student, tokenizer, texts, list(range(len(texts))), config,
                              batch_loss)
    return losses


_TEACHERS: dict = {}


def train_teacher(seed: int = 0, profile: str | None = None) -> dict:
    """The teacher: the profile's encoder with a mean-pooled head, fully
    fine-tuned on the movie-sentiment training sentences of chapter "BERT
    fine-tuning" (:func:`tlbook.strategies.splits`) with
    :func:`student_config` (:data:`EPOCHS` passes at the profile's rate, no
    validation), and scored on the test sentences.

    Trained once per process and seed; later calls return the same model.

    Returns:
        :func:`tlbook.finetune.train_and_score`'s dict (``model``,
        ``tokenizer``, ``accuracy``, ``correct``, ...).
    """
    from .finetune import train_and_score
    from .profiles import get_profile
    from .strategies import splits

    _v.non_negative_int("seed", seed)
    key = (get_profile(profile).name, seed)
    if key not in _TEACHERS:
        train, _, test = splits(profile)
        _TEACHERS[key] = train_and_score(student_config(seed, profile=profile), train, None,
                                         test, pooling="mean", profile=profile)
    return _TEACHERS[key]


def teacher_logits(model, tokenizer, texts: Sequence[str]) -> np.ndarray:
    """``(len(texts), num_labels)`` log-probabilities of ``model``: its logits up
    to a constant per sentence, which every softmax (at any temperature)
    ignores."""
    from .finetune import predict

    _, probs = predict(model, tokenizer, texts)
    return np.log(np.clip(probs, 1e-30, None))


def unlabelled_pool(n: int, profile: str | None = None) -> list[str]:
    """``n`` movie-review sentences for distillation without labels: the
    training split's sentences after the first ``finetune_train`` (the
    labelled ones), so that none is a labelled training, validation or test
    sentence of the chapter. Their labels are not used.

    Raises:
        ValueError: ``n`` is not a positive int, or larger than what is left.
    """
    from .data import load_movie_sentiment
    from .profiles import get_profile

    _v.positive_int("n", n)
    train = load_movie_sentiment(profile)["train"]
    start = get_profile(profile).sizes["finetune_train"] or len(train)
    if start + n > len(train):
        raise ValueError(f"n must be at most {len(train) - start} (the training sentences "
                         f"after the labelled ones), got {n}")
    return list(train.select(range(start, start + n))["text"])


def quantize(model):
    """A copy of ``model`` whose ``nn.Linear`` layers compute in int8: PyTorch's
    dynamic quantisation (``torch.ao.quantization.quantize_dynamic``). Weights
    are stored as int8 with one scale per layer; activations are quantised on
    the fly, batch by batch. Embeddings and LayerNorms stay in float32. The
    copy runs on the CPU."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    if not isinstance(model, torch.nn.Module):
        raise _v.ArgumentTypeError(f"model must be a torch.nn.Module, got "
                                   f"{type(model).__name__}")
    float_copy = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        return quantize_dynamic(float_copy, {torch.nn.Linear}, dtype=torch.qint8)


def size_on_disk(model) -> int:
    """Bytes of ``torch.save(model.state_dict())``: what storing the model's
    weights takes (int8 layers count one byte per weight plus their scales)."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise _v.ArgumentTypeError(f"model must be a torch.nn.Module, got "
                                   f"{type(model).__name__}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def sentences_per_second(model, tokenizer, texts: Sequence[str], batch_size: int,
                         max_length: int = 128, repeats: int = 1) -> float:
    """Sentences per second of ``model``'s forward pass on the CPU, batches of
    ``batch_size`` padded to their longest sentence, after one warm-up batch;
    the best of ``repeats`` passes over ``texts``. Wall-clock: it depends on
    the machine and on what else runs on it.

    Raises:
        ValueError: ``batch_size`` or ``repeats`` not a positive int, no texts.
    """
    import torch

    _v.str_sequence("texts", texts, allow_empty=False)
    _v.positive_int("batch_size", batch_size)
    _v.positive_int("max_length", max_length)
    _v.positive_int("repeats", repeats)
    texts = list(texts)
    batches = [tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                         max_length=max_length, return_tensors="pt")
               for i in range(0, len(texts), batch_size)]
    model.eval()
    best = 0.0
    with torch.inference_mode():
        model(**batches[0])
        for _ in range(repeats):
            start = time.perf_counter()
            for batch in batches:
                model(**batch)
            best = max(best, len(texts) / (time.perf_counter() - start))
    return best


def student_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch10-distill``: ``config = {"student", "method"}``,
    a student of :data:`STUDENTS` trained one of the :data:`METHODS` ways
    from the pretrained encoder's blocks (new head from ``seed``) with
    :func:`student_config`, :data:`TEMPERATURE` and :data:`ALPHA`, and scored
    on the test sentences of :func:`tlbook.strategies.splits`.

    Every method takes the same number of optimizer steps: "hard labels" and
    "distillation" make :data:`EPOCHS` passes over the labelled sentences,
    "distillation + unlabelled" one pass over them and ``EPOCHS - 1`` times
    as many unlabelled ones
    (:func:`unlabelled_pool`). The teacher (:func:`train_teacher`, seed 0) is
    only trained when a method needs it.

    Returns:
        ``accuracy``, ``steps``, ``parameters`` and ``correct`` (1/0 for each
        test sentence), and ``int8 accuracy`` and ``int8 correct`` of the
        same student after :func:`quantize`.
    """
    import torch

    from .finetune import predict
    from .models import load_encoder
    from .strategies import splits

    _v.one_of("student", config.get("student"), tuple(STUDENTS))
    _v.one_of("method", config.get("method"), METHODS)
    train, _, test = splits()
    texts, labels = list(train["text"]), list(train["label"])
    cfg = student_config(seed)
    if config["method"] == "hard labels":
        logits = np.zeros((len(texts), 2), dtype=np.float32)
    else:
        teacher = train_teacher(0)
        if config["method"] == "distillation + unlabelled":
            pool = unlabelled_pool((cfg.epochs - 1) * len(texts))
            texts, labels = texts + pool, labels + [-100] * len(pool)
            cfg = student_config(seed, epochs=1)
        logits = teacher_logits(teacher["model"], teacher["tokenizer"], texts)
    torch.manual_seed(seed)  # the same new head whether or not the teacher trained first
    encoder, tokenizer = load_encoder(num_labels=2, pooling="mean")
    student = cut_layers(encoder, STUDENTS[config["student"]])
    losses = distil(student, tokenizer, texts, labels, logits, cfg, TEMPERATURE,
                    ALPHA if config["method"] != "hard labels" else 0.0)
    gold = np.asarray(test["label"])
    correct = predict(student, tokenizer, test["text"])[0] == gold
    correct_int8 = predict(quantize(student), tokenizer, test["text"])[0] == gold
    return {"accuracy": float(correct.mean()), "int8 accuracy": float(correct_int8.mean()),
            "steps": len(losses), "parameters": parameter_count(student),
            "correct": [int(c) for c in correct], "int8 correct": [int(c) for c in correct_int8]}
