"""Fine-tuning a pretrained encoder for text classification.

Used in chapter "BERT fine-tuning" and by the LoRA and forgetting chapters.
The training loop is written out, as in Hugging Face's
``run_glue_no_trainer.py``: ``accelerate`` places the model and batches on the
device, runs mixed precision on a GPU, accumulates gradients and, under
``accelerate launch``, spreads the work over several GPUs. The strategies the
chapter compares are options of one loop:

- ``freeze="encoder"``: feature extraction, only the head trains;
- ``layer_lr_decay``: discriminative learning rates (each layer below the top
  gets the learning rate of the layer above times this factor);
- ``gradual_unfreezing``: ULMFiT's schedule, the top layer first, one more
  layer each epoch, the embeddings last;
- linear warm-up then linear decay, weight decay, class weights, early stopping
  on a validation metric with the best weights restored.

The same loop trains a token classifier (chapter "Token classification"):
give it sentences as lists of words and one label per word, and a model whose
logits have shape ``(batch, seq_len, num_labels)``. Word labels are moved to
the first subword of each word (:func:`tlbook.labels.align_labels`),
every other position gets ``-100`` and is skipped by the loss, and evaluation
adds span-level precision, recall and F1 (``seqeval``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _validate as _v
from .labels import TruncationWarning, encode_word_labels, span_scores, tokenize_words
from .labels import truncating_tokenize as _truncating_tokenize

__all__ = ["FineTuneConfig", "TruncationWarning", "History", "encode_labels", "tokenize",
           "length_grouped_order", "is_token_task", "make_loader", "encoder_layers",
           "parameter_groups", "unfreezing_stages", "check_fixed_budget", "optimizer_step", "train_for_budget", "fine_tune", "evaluate",
           "predict", "trainable_parameters",
           "class_weights_for", "train_and_score"]


_METRICS = ("accuracy", "macro_f1", "span_f1")


@dataclass
class FineTuneConfig:
    """Plain values that define a fine-tuning run.

    Attributes:
        lr: peak learning rate (of the top layer and the head).
        epochs: passes over the training data.
        batch_size: examples per optimizer step, before accumulation.
        grad_accum: batches whose gradients are summed before each step.
        weight_decay: AdamW weight decay (not applied to biases and LayerNorm).
        warmup_ratio: fraction of all steps with a linear warm-up.
        max_length: longer inputs are truncated (with a warning).
        freeze: ``None`` (train everything) or ``"encoder"`` (head only).
        layer_lr_decay: ``None`` or a factor in (0, 1] for discriminative rates.
        gradual_unfreezing: start with the head and the top layer trainable,
            and unfreeze one more layer (from the top) every ``unfreeze_every``
            optimizer steps (default: every epoch, as in ULMFiT), the
            embeddings last, after the bottom layer
            (:func:`unfreezing_stages`).
        unfreeze_every: steps between unfreezings; ``None`` means one epoch.
        class_weights: per-class weights of the cross-entropy loss, or ``None``.
        early_stopping_patience: stop after this many evaluations without
            improvement of ``metric``; ``None`` trains all epochs. The best
            weights are restored at the end either way.
        evals_per_epoch: validation runs per epoch.
        metric: ``"accuracy"``, ``"macro_f1"`` or, for token classification
            with BIO labels, ``"span_f1"``.
        mixed_precision: ``"no"``, ``"bf16"``, ``"fp16"`` or ``None`` (bf16 on
            a GPU that supports it, else no).
        seed: seed of shuffling and of the new head.
        progress: show a tqdm bar (off when ``TQDM_DISABLE`` is set).
    """

    lr: float = 5e-5
    epochs: int = 1
    batch_size: int = 32
    grad_accum: int = 1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    freeze: str | None = None
    layer_lr_decay: float | None = None
    gradual_unfreezing: bool = False
    unfreeze_every: int | None = None
    class_weights: Sequence[float] | None = None
    early_stopping_patience: int | None = None
    evals_per_epoch: int = 1
    metric: str = "accuracy"
    mixed_precision: str | None = None
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        _v.positive_float("lr", self.lr)
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "evals_per_epoch"):
            _v.positive_int(name, getattr(self, name))
        _v.non_negative_float("weight_decay", self.weight_decay)
        _v.probability("warmup_ratio", self.warmup_ratio, include_one=False)
        _v.one_of("freeze", self.freeze, (None, "encoder"))
        if self.layer_lr_decay is not None:
            _v.real("layer_lr_decay", self.layer_lr_decay, 0, 1, low_open=True,
                    rule="None or a number in (0, 1]")
        _v.boolean("gradual_unfreezing", self.gradual_unfreezing)
        _v.optional_int("unfreeze_every", self.unfreeze_every, 1)
        if self.class_weights is not None:
            _v.non_empty("class_weights", self.class_weights, "weight")
            for w in self.class_weights:
                _v.non_negative_float("each of class_weights", w)
        _v.optional_int("early_stopping_patience", self.early_stopping_patience, 1)
        _v.one_of("metric", self.metric, _METRICS)
        _v.one_of("mixed_precision", self.mixed_precision, (None, "no", "bf16", "fp16"))
        _v.non_negative_int("seed", self.seed)
        _v.boolean("progress", self.progress)
        if self.freeze and (self.gradual_unfreezing or self.layer_lr_decay):
            raise ValueError("freeze='encoder' cannot be combined with gradual_unfreezing "
                             "or layer_lr_decay (nothing below the head trains)")


@dataclass
class History:
    """What happened during :func:`fine_tune`."""

    train_loss: list[float] = field(default_factory=list)  # one value per optimizer step
    trainable: list[int] = field(default_factory=list)  # trainable parameters at each step
    # step, epoch, loss, accuracy, macro_f1 (+ span_precision/recall/f1 for BIO token labels)
    evals: list[dict] = field(default_factory=list)
    best_step: int | None = None
    best_score: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    examples_per_second: float = 0.0


def encode_labels(labels: Sequence, label2id: dict | None = None) -> list[int]:
    """Integer class ids for ``labels``.

    Strings need an explicit ``label2id`` mapping, so that the meaning of each
    output unit is a choice the reader makes, not an accident of ordering.

    Raises:
        TypeError: ``labels`` is a single str, a label is a number with a
            fraction (``0.7``), or ``label2id`` is not a dict.
        ValueError: string labels without ``label2id``, or labels it lacks.
    """
    if isinstance(labels, str) or not hasattr(labels, "__iter__"):
        raise _v.ArgumentTypeError(f"labels must be a sequence of class ids or str, got "
                                   f"{labels!r:.60}")
    if label2id is not None and not isinstance(label2id, dict):
        raise _v.ArgumentTypeError(f"label2id must be a dict from label to id, got "
                                   f"{type(label2id).__name__}")
    labels = list(labels)
    if labels and any(isinstance(x, str) for x in labels):
        if label2id is None:
            names = sorted(set(labels))[:5]
            raise ValueError(
                f"labels are strings (e.g. {names}) but no label2id mapping was given; pass "
                "label2id={'negative': 0, 'positive': 1, ...} with every label")
        missing = sorted(set(labels) - set(label2id))
        if missing:
            raise ValueError(f"label2id has no id for labels {missing[:5]}")
        return [int(label2id[x]) for x in labels]
    _v.whole_labels("labels", labels)
    return [int(x) for x in labels]


def tokenize(texts: Sequence[str], tokenizer, max_length: int = 128) -> dict[str, list]:
    """Tokenise without padding; warn (once) when inputs are truncated.

    Returns:
        ``{"input_ids": [...], "attention_mask": [...]}`` with one list per text.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str")
    _v.positive_int("max_length", max_length)
    enc = _truncating_tokenize(tokenizer, list(texts), max_length,
                              "{n_long} of {n} inputs are longer than {limit} tokens and were "
                              "truncated; raise max_length to keep more of them")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def length_grouped_order(lengths: Sequence[int], batch_size: int, seed: int,
                         mega: int = 50) -> list[int]:
    """A shuffled order in which each batch holds examples of similar length.

    Examples are shuffled, cut into groups of ``mega * batch_size``, sorted by
    length inside each group, cut into batches, and the batches shuffled. Each
    batch pads little, and the order still changes from epoch to epoch.

    Raises:
        ValueError: ``batch_size`` or ``mega`` is not a positive int, ``seed``
            not a non-negative int, or a length is not an int >= 0.
    """
    _v.positive_int("batch_size", batch_size)
    _v.positive_int("mega", mega)
    _v.non_negative_int("seed", seed)
    if isinstance(lengths, str) or not hasattr(lengths, "__len__"):
        raise _v.ArgumentTypeError(f"lengths must be a sequence of ints, got {lengths!r:.60}")
    for length in lengths:
        _v.non_negative_int("each of lengths", length)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(lengths))
    size = mega * batch_size
    batches = []
    for start in range(0, len(idx), size):
        group = sorted(idx[start:start + size], key=lambda i: -lengths[i])
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    return [int(i) for b in (batches[j] for j in rng.permutation(len(batches))) for i in b]


class _Examples:
    def __init__(self, enc: dict, labels: list[int] | None):
        self.enc, self.labels = enc, labels

    def __len__(self):
        return len(self.enc["input_ids"])

    def __getitem__(self, i):
        item = {k: v[i] for k, v in self.enc.items()}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item


def is_token_task(texts) -> bool:
    """True when ``texts`` are pre-split sentences (lists of words: token
    classification), False when they are strings (sequence classification)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of str or of word lists, got a single str")
    items = list(texts)
    if all(isinstance(t, str) for t in items):
        return False
    if all(not isinstance(t, str) and isinstance(t, Sequence) for t in items):
        return True
    raise TypeError("texts must be all str (sequence classification) or all lists of words "
                    "(token classification), not a mix")


def make_loader(texts, tokenizer, labels=None, batch_size: int = 32, max_length: int = 128,
                shuffle_seed: int | None = None, group_size: int | None = None):
    """A DataLoader with dynamic padding (each batch padded to its longest
    member). With ``shuffle_seed`` the order is length-grouped and shuffled,
    in groups of ``group_size`` examples (default ``batch_size``; :func:`fine_tune`
    groups one batch of every process, so that a step sees the same examples
    on any number of processes); without, inputs are sorted by length
    (evaluation; outputs come back in the original order from :func:`predict`).

    ``texts`` are strings with one label id each, or (token classification)
    lists of words with one label id per word; word labels are aligned to
    subwords and padded with ``-100``, and ``loader.word_ids`` keeps each
    sentence's word index per position.

    Raises:
        ValueError: ``batch_size``, ``max_length`` or ``group_size`` (if
            given) is not a positive int, ``shuffle_seed`` is not None or an
            int >= 0, or ``labels`` does not have one entry per text.
    """
    import torch

    _v.positive_int("batch_size", batch_size)
    _v.positive_int("max_length", max_length)
    _v.optional_int("shuffle_seed", shuffle_seed, 0)
    _v.optional_int("group_size", group_size, 1)
    if labels is not None:
        _v.same_length("texts", texts, "labels", labels)
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    if is_token_task(texts):

        enc = tokenize_words(texts, tokenizer, max_length, labels)
        data = _Examples({k: enc[k] for k in ("input_ids", "attention_mask")}, enc.get("labels"))
        collate = DataCollatorForTokenClassification(tokenizer)
    else:
        enc = None
        data = _Examples(tokenize(texts, tokenizer, max_length), labels)
        collate = DataCollatorWithPadding(tokenizer)
    lengths = [len(x) for x in data.enc["input_ids"]]
    if shuffle_seed is None:
        order = sorted(range(len(data)), key=lambda i: lengths[i])
    else:
        order = length_grouped_order(lengths, group_size or batch_size, shuffle_seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(data, order),
                                         batch_size=batch_size, collate_fn=collate)
    loader.order = order
    if enc is not None:
        loader.word_ids = enc["word_ids"]
    return loader


def encoder_layers(model) -> list:
    """The transformer blocks of a sequence-classification model, bottom to top
    (BERT-style ``model.<base>.encoder.layer``).

    Raises:
        TypeError: ``model`` has no such blocks.
    """
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None:
        raise _v.ArgumentTypeError(f"model must be a BERT-style transformers model with "
                                   f"<base>.encoder.layer, got {type(model).__name__}")
    return list(layers)


def _head_parameters(model) -> list:
    base = getattr(model, model.base_model_prefix)
    body = {id(p) for p in base.parameters()}
    return [p for p in model.parameters() if id(p) not in body]


def parameter_groups(model, lr: float, weight_decay: float,
                     layer_lr_decay: float | None = None) -> list[dict]:
    """AdamW parameter groups: no weight decay on biases and LayerNorm weights,
    and with ``layer_lr_decay`` a learning rate per layer,
    ``lr * layer_lr_decay ** (depth below the top)`` (embeddings lowest).

    Raises:
        ValueError: ``lr`` not a positive finite number, ``weight_decay`` not
            a finite number >= 0, ``layer_lr_decay`` not None or in (0, 1].
    """
    _v.positive_float("lr", lr)
    _v.non_negative_float("weight_decay", weight_decay)
    if layer_lr_decay is not None:
        _v.real("layer_lr_decay", layer_lr_decay, 0, 1, low_open=True,
                rule="None or a number in (0, 1]")
    base = getattr(model, model.base_model_prefix)
    layers = encoder_layers(model)
    n = len(layers)
    blocks = [(_head_parameters(model), 0)]
    blocks += [(list(layer.parameters()), n - 1 - i) for i, layer in enumerate(layers)]
    blocks.append((list(base.embeddings.parameters()), n))
    placed = {id(p) for ps, _ in blocks for p in ps}
    blocks[0][0].extend(p for p in base.parameters() if id(p) not in placed)  # e.g. pooler
    groups = []
    for params, depth in blocks:
        rate = lr * (layer_lr_decay ** depth if layer_lr_decay else 1.0)
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups += [{"params": decay, "lr": rate, "weight_decay": weight_decay},
                   {"params": no_decay, "lr": rate, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def trainable_parameters(model) -> int:
    """Number of parameters with ``requires_grad``."""
    if not callable(getattr(model, "parameters", None)):
        raise _v.ArgumentTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def class_weights_for(labels: Sequence[int]) -> list[float]:
    """Inverse-frequency class weights, ``n / (n_classes * count)``: a class
    half as frequent counts twice as much in the loss.

    Raises:
        ValueError: ``labels`` is empty, holds something other than class
            ids >= 0, or a class below the largest id has no example.
    """
    _v.non_empty("labels", labels, "class id")
    for y in labels:
        _v.non_negative_int("each of labels", y)
    counts = np.bincount(np.asarray(labels))
    if (counts == 0).any():
        raise ValueError("every class needs at least one example to weight it")
    return (len(labels) / (len(counts) * counts)).tolist()


def _set_trainable(model, n_top_layers: int | None) -> None:
    """Train the head and the top ``n_top_layers`` blocks of the encoder, counting
    the embeddings as the block below the bottom layer, as ULMFiT does
    (``None``, or more blocks than there are: everything trains; 0: the head
    only). From one block up, the encoder's parameters above its top layer
    (BERT's pooler) train with the head."""
    base = getattr(model, model.base_model_prefix)
    for p in model.parameters():
        p.requires_grad = True
    layers = encoder_layers(model)
    if n_top_layers is None or n_top_layers > len(layers):
        return
    for p in base.parameters():
        p.requires_grad = False
    if n_top_layers:
        below = {id(p) for p in base.embeddings.parameters()}
        below |= {id(p) for layer in layers for p in layer.parameters()}
        for p in base.parameters():
            if id(p) not in below:  # the pooler
                p.requires_grad = True
        for layer in layers[len(layers) - n_top_layers:]:
            for p in layer.parameters():
                p.requires_grad = True
    for p in _head_parameters(model):
        p.requires_grad = True


def unfreezing_stages(n_layers: int, every: int, steps: int) -> list[int]:
    """How many encoder blocks train at each of ``steps`` optimizer steps under
    gradual unfreezing: 1 (the top layer) for the first ``every`` steps, one
    more every ``every`` steps after that, up to ``n_layers + 1`` (the
    embeddings too: everything trains).

    Raises:
        ValueError: an argument is not a positive int.
    """
    for name, value in (("n_layers", n_layers), ("every", every), ("steps", steps)):
        _v.positive_int(name, value)
    return [min(step // every + 1, n_layers + 1) for step in range(steps)]


def _auto_precision(choice: str | None) -> str:
    import torch

    if choice is not None:
        return choice
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def check_fixed_budget(config, caller: str) -> None:
    """Reject what a fixed-budget training loop built on this module's
    machinery (every weight trained for a set number of steps, e.g.
    :func:`tlbook.distill.distil`) does not do: a ``config`` that is not a
    :class:`FineTuneConfig`, or one that asks for freezing, layer-wise rates,
    class weights, early stopping or gradual unfreezing. ``caller`` names the
    loop in the message.

    Raises:
        TypeError: ``config`` is not a :class:`FineTuneConfig`.
        ValueError: ``config`` sets an option the loop does not support.
    """
    if not isinstance(config, FineTuneConfig):
        raise _v.ArgumentTypeError(f"config must be a FineTuneConfig or None, got "
                                   f"{type(config).__name__}")
    unsupported = [name for name in ("freeze", "layer_lr_decay", "class_weights",
                                     "early_stopping_patience")
                   if getattr(config, name) is not None] + \
        (["gradual_unfreezing"] if config.gradual_unfreezing else [])
    if unsupported:
        raise ValueError(f"{caller} trains every weight for a fixed budget; config options "
                         f"{unsupported} are not supported (leave them at their defaults)")


def optimizer_step(accelerator, model, optimizer, scheduler, loss,
                   max_grad_norm: float = 1.0) -> None:
    """One training step of the book's loops, inside ``accelerator.accumulate(model)``:
    the backward pass of ``loss``, then, once the accumulated gradients are
    complete, clipping to ``max_grad_norm``; then the optimizer and scheduler
    step and the gradients are zeroed (accelerate's prepared optimizer and
    scheduler skip the step while gradients are still being accumulated)."""
    accelerator.backward(loss)
    if accelerator.sync_gradients:
        accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def train_for_budget(model, tokenizer, texts: Sequence[str], labels, config: FineTuneConfig,
                     batch_loss) -> list[float]:
    """The fixed-budget loop that :func:`tlbook.distill.distil` and
    :func:`tlbook.pretraining.continue_pretraining` share: every weight of
    ``model`` trains for ``config.epochs`` over ``texts`` in
    :func:`make_loader`'s length-grouped batches (``labels`` go with them, or
    ``None``), with AdamW, weight decay off for biases and LayerNorms, linear
    warm-up and decay, clipping and gradient accumulation
    (:func:`optimizer_step`), through ``accelerate``. ``batch_loss(model,
    batch)`` returns the loss of one batch. The caller checks ``config``
    (:func:`check_fixed_budget`).

    Returns:
        The loss of every optimizer step (averaged over processes).
    """
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(config.seed)
    accelerator = Accelerator(mixed_precision=_auto_precision(config.mixed_precision),
                              gradient_accumulation_steps=config.grad_accum)
    loader = make_loader(list(texts), tokenizer, labels, config.batch_size, config.max_length,
                         shuffle_seed=config.seed,
                         group_size=config.batch_size * accelerator.num_processes)
    for p in model.parameters():
        p.requires_grad = True
    optimizer = torch.optim.AdamW(parameter_groups(model, config.lr, config.weight_decay),
                                  lr=config.lr)
    total = math.ceil(len(loader) / config.grad_accum) * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total),
                                                total)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader,
                                                              scheduler)
    losses = []
    bar = tqdm(total=total, disable=not config.progress or not accelerator.is_local_main_process)
    model.train()
    for _ in range(config.epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = batch_loss(model, batch)
                optimizer_step(accelerator, model, optimizer, scheduler, loss)
            if accelerator.sync_gradients:
                losses.append(accelerator.reduce(loss.detach(), "mean").item())
                bar.update(1)
    bar.close()
    accelerator.unwrap_model(model).eval()
    return losses


def _loss(logits, labels, weight=None, reduction: str = "mean"):
    """Cross-entropy of ``(batch, num_labels)`` or ``(batch, seq_len,
    num_labels)`` logits; labels ``-100`` (subwords after the first, special
    tokens, padding) are skipped."""
    import torch

    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             labels.reshape(-1), weight=weight,
                                             ignore_index=-100, reduction=reduction)


def _bio_names(model) -> list[str] | None:
    """The model's label names if they form a BIO scheme, else None."""
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if "O" in names and all(n == "O" or n[:2] in ("B-", "I-") for n in names):
        return names
    return None


def evaluate(model, loader, accelerator=None, class_weights=None) -> dict:
    """Loss, accuracy, macro-F1 and per-class report on a labelled loader.

    For token classification (3-d logits) the scores are over labelled
    positions (the first subword of each word that survived truncation), and
    when the model's labels are BIO names (``model.config.id2label``) the
    result adds ``span_precision``, ``span_recall`` and ``span_f1`` from
    ``seqeval`` (a span counts only if its type and both ends are right) and
    ``span_report``."""
    import torch
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    preds, golds, loss_sum, n_scored = [], [], 0.0, 0
    sentences_pred, sentences_gold = [], []
    was_training = model.training
    model.eval()
    weight = None if class_weights is None else torch.tensor(class_weights)
    # no_grad, not inference_mode: on torch 2.4 gloo (CPU processes) cannot
    # gather inference tensors (pytorch/pytorch#126032)
    with torch.no_grad():
        for batch in loader:
            labels = batch.pop("labels")
            if accelerator is None:
                device = next(model.parameters()).device
                batch, labels = {k: v.to(device) for k, v in batch.items()}, labels.to(device)
            logits = model(**batch).logits.float()
            if accelerator is not None:  # the loss too counts every process's examples, once
                if logits.ndim == 3:  # sequence lengths differ between processes
                    logits = accelerator.pad_across_processes(logits, dim=1)
                    labels = accelerator.pad_across_processes(labels, dim=1, pad_index=-100)
                logits, labels = accelerator.gather_for_metrics((logits, labels))
            w = None if weight is None else weight.to(logits.device)
            loss_sum += _loss(logits, labels, w, reduction="sum").item()
            n_scored += int((labels != -100).sum())
            pred, gold = logits.argmax(-1).cpu().numpy(), labels.cpu().numpy()
            if pred.ndim == 2:
                keep = gold != -100
                sentences_pred += [p[k] for p, k in zip(pred, keep)]
                sentences_gold += [g[k] for g, k in zip(gold, keep)]
                pred, gold = pred[keep], gold[keep]
            preds.append(pred)
            golds.append(gold)
    model.train(was_training)
    y_pred, y_true = np.concatenate(preds), np.concatenate(golds)
    out = {"loss": loss_sum / max(n_scored, 1), "accuracy": accuracy_score(y_true, y_pred),
           "macro_f1": f1_score(y_true, y_pred, average="macro"),
           "report": classification_report(y_true, y_pred, output_dict=True, zero_division=0)}
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    names = _bio_names(unwrapped) if sentences_gold else None
    if names is not None:

        spans = span_scores([[names[i] for i in s] for s in sentences_gold],
                            [[names[i] for i in s] for s in sentences_pred])
        out.update(span_precision=spans["precision"], span_recall=spans["recall"],
                   span_f1=spans["f1"], span_report=spans["report"])
    return out


def fine_tune(model, tokenizer, train_texts, train_labels, val_texts=None, val_labels=None,
              config: FineTuneConfig | None = None, label2id: dict | None = None) -> History:
    """Fine-tune ``model`` (a sequence- or token-classification model) in place.

    Args:
        model: e.g. from :func:`tlbook.models.load_encoder` with ``num_labels``,
            or :func:`tlbook.token_classification.load_token_classifier`.
        tokenizer: its tokenizer (a fast one for token classification).
        train_texts, train_labels: training data (labels ints, or strings with
            ``label2id``). For token classification, ``train_texts`` are lists
            of words and ``train_labels`` one list of labels per sentence, one
            label per word.
        val_texts, val_labels: validation data for evaluation, early stopping
            and best-checkpoint restore (optional).
        config: a :class:`FineTuneConfig`.
        label2id: mapping for string labels; stored in ``model.config``.

    Returns:
        A :class:`History`; the model holds the best weights seen on
        validation (or the last ones without validation data).

    Raises:
        TypeError: ``config`` is not a :class:`FineTuneConfig`, or texts or
            labels of the wrong kind.
        ValueError: no training examples; texts and labels of different
            lengths; only one of ``val_texts`` and ``val_labels``; labels
            outside ``0..num_labels - 1``; ``config.max_length`` above the
            model's positions; ``config.class_weights`` not one per label;
            ``metric="span_f1"`` without BIO labels.
    """
    import time

    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    config = config or FineTuneConfig()
    if not isinstance(config, FineTuneConfig):
        raise _v.ArgumentTypeError(f"config must be a FineTuneConfig or None, got "
                                   f"{type(config).__name__}")
    _v.non_empty("train_texts", train_texts, "text")
    _v.non_empty("train_labels", train_labels, "label")
    _v.same_length("train_texts", train_texts, "train_labels", train_labels)
    if (val_texts is None) != (val_labels is None):
        raise ValueError("val_texts and val_labels must be given together (or both None), got "
                         f"val_texts={'None' if val_texts is None else 'texts'} and "
                         f"val_labels={'None' if val_labels is None else 'labels'}")
    if val_texts is not None:
        _v.non_empty("val_texts", val_texts, "text")
        _v.same_length("val_texts", val_texts, "val_labels", val_labels)
    _v.max_length("config.max_length", config.max_length, model)
    n_classes = getattr(getattr(model, "config", None), "num_labels", None)
    if config.class_weights is not None and len(config.class_weights) != n_classes:
        raise ValueError(f"config.class_weights must have one weight per label "
                         f"(num_labels={n_classes}), got {len(config.class_weights)}")
    token_task = is_token_task(train_texts)
    if token_task:

        y_train = encode_word_labels(train_labels, label2id, train_texts)
        y_val = (encode_word_labels(val_labels, label2id, val_texts)
                 if val_texts is not None else None)
        flat = [y for sentence in y_train for y in sentence]
    else:
        y_train = encode_labels(train_labels, label2id)
        y_val = encode_labels(val_labels, label2id) if val_texts is not None else None
        flat = y_train
    n_labels = model.config.num_labels
    if max(flat) >= n_labels or min(flat) < 0:
        raise ValueError(f"labels must be in 0..{n_labels - 1} for a model with num_labels="
                         f"{n_labels}; got values {sorted(set(flat))[:10]}")
    if label2id is not None:
        model.config.label2id = dict(label2id)
        model.config.id2label = {v: k for k, v in label2id.items()}
    if config.metric == "span_f1" and (not token_task or _bio_names(model) is None):
        raise ValueError("metric='span_f1' needs token classification with BIO label names "
                         "(model.config.id2label or label2id like {'O': 0, 'B-NAME': 1, "
                         "'I-NAME': 2}); use 'accuracy' or 'macro_f1' otherwise")
    has_val = val_texts is not None
    torch.manual_seed(config.seed)
    accelerator = Accelerator(mixed_precision=_auto_precision(config.mixed_precision),
                              gradient_accumulation_steps=config.grad_accum)
    train_loader = make_loader(train_texts, tokenizer, y_train, config.batch_size,
                               config.max_length, shuffle_seed=config.seed,
                               group_size=config.batch_size * accelerator.num_processes)
    val_loader = (make_loader(val_texts, tokenizer, y_val, config.batch_size * 2,
                              config.max_length) if has_val else None)
    n_layers = len(encoder_layers(model))
    if config.freeze == "encoder":
        _set_trainable(model, 0)
    elif config.gradual_unfreezing:
        _set_trainable(model, 1)
    else:
        _set_trainable(model, None)
    groups = parameter_groups(model, config.lr, config.weight_decay, config.layer_lr_decay)
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    steps_per_epoch = math.ceil(len(train_loader) / config.grad_accum)
    total = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total),
                                                total)
    model, optimizer, train_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, scheduler)
    if val_loader is not None:
        val_loader = accelerator.prepare(val_loader)
    # each process now sees its share of the batches (the scheduler, stepped once
    # per process, still counts them all)
    steps_per_epoch = math.ceil(len(train_loader) / config.grad_accum)
    total = steps_per_epoch * config.epochs
    weight = (torch.tensor(config.class_weights, dtype=torch.float32, device=accelerator.device)
              if config.class_weights is not None else None)
    history, best_state, bad_evals, step = History(), None, 0, 0
    eval_points = {round(steps_per_epoch * k / config.evals_per_epoch)
                   for k in range(1, config.evals_per_epoch + 1)}
    bar = tqdm(total=total, disable=not config.progress or not accelerator.is_local_main_process)
    start, seen = time.perf_counter(), 0
    model.train()
    every = config.unfreeze_every or steps_per_epoch
    for epoch in range(config.epochs):
        for i, batch in enumerate(train_loader):
            if config.gradual_unfreezing:
                _set_trainable(accelerator.unwrap_model(model), min(step // every + 1,
                                                                   n_layers + 1))
            with accelerator.accumulate(model):
                labels = batch.pop("labels")
                logits = model(**batch).logits.float()
                loss = _loss(logits, labels, weight)
                optimizer_step(accelerator, model, optimizer, scheduler, loss)
            seen += len(labels)
            if not accelerator.sync_gradients:
                continue
            step += 1
            history.trainable.append(trainable_parameters(model))
            history.train_loss.append(accelerator.reduce(loss.detach(), "mean").item())
            bar.update(1)
            if val_loader is None or (step - epoch * steps_per_epoch) not in eval_points:
                continue
            result = evaluate(model, val_loader, accelerator, config.class_weights)
            result.update(step=step, epoch=epoch + 1)
            history.evals.append({k: v for k, v in result.items()
                                  if k not in ("report", "span_report")})
            score = result[config.metric]
            if history.best_score is None or score > history.best_score:
                history.best_score, history.best_step, bad_evals = score, step, 0
                best_state = copy.deepcopy(accelerator.unwrap_model(model).state_dict())
            else:
                bad_evals += 1
            if config.early_stopping_patience is not None and \
                    bad_evals >= config.early_stopping_patience:
                history.stopped_early = True
                break
        if history.stopped_early:
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    history.examples_per_second = seen / max(history.seconds, 1e-9)
    model = accelerator.unwrap_model(model)
    if best_state is not None:
        model.load_state_dict(best_state)
    _set_trainable(model, None)
    model.eval()
    return history


def predict(model, tokenizer, texts: Sequence[str], batch_size: int = 64,
            max_length: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class ids and class probabilities for ``texts``.

    Returns:
        ``(labels, probs)`` with shapes ``(n,)`` and ``(n, num_labels)``, in the
        order of ``texts``.

    Raises:
        TypeError: ``texts`` are word lists or not str.
        ValueError: ``batch_size`` not a positive int, ``max_length`` not a
            positive int within the model's positions.
    """
    import torch

    _v.positive_int("batch_size", batch_size)
    _v.max_length("max_length", max_length, model)

    if is_token_task(texts):
        raise TypeError("texts are lists of words (token classification); use "
                        "tlbook.token_classification.predict_words for one label per word")
    loader = make_loader(texts, tokenizer, None, batch_size, max_length)
    device = next(model.parameters()).device
    probs = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    out = []
    with torch.inference_mode():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            out.append(torch.softmax(model(**batch).logits.float(), -1).cpu().numpy())
    probs[loader.order] = np.concatenate(out) if out else probs
    return probs.argmax(-1), probs


def train_and_score(config: FineTuneConfig, train, validation, test, num_labels: int = 2,
                    profile: str | None = None, pooling: str = "cls") -> dict:
    """Fine-tune a fresh copy of the profile's encoder and score it on ``test``.

    The new head is initialised from ``config.seed``, so runs that differ only
    in their strategy start from identical weights.

    Args:
        config: the run's settings.
        train, validation, test: ``datasets.Dataset`` splits with ``text`` and
            ``label`` columns (``validation`` may be ``None``).
        num_labels: number of classes.
        profile: which encoder to load (``None``: the current profile).
        pooling: the head's input, ``"cls"`` or ``"mean"``
            (:func:`tlbook.models.load_encoder`).

    Returns:
        ``{"model", "tokenizer", "history", "accuracy", "macro_f1", "report",
        "trainable", "correct"}``; ``trainable`` counts parameters that were
        trained at some point of the run, ``correct`` is a boolean array,
        whether each test example was classified right (for paired
        comparisons, :mod:`tlbook.stats`).

    Raises:
        TypeError: ``config`` is not a :class:`FineTuneConfig`, or a split is
            not a dataset with ``text`` and ``label`` columns.
        ValueError: ``num_labels`` is not an int >= 2.
    """
    if not isinstance(config, FineTuneConfig):
        raise _v.ArgumentTypeError(f"config must be a FineTuneConfig, got "
                                   f"{type(config).__name__}")
    _v.integer("num_labels", num_labels, 2)
    for name, split in (("train", train), ("validation", validation), ("test", test)):
        if split is None and name == "validation":
            continue
        if not all(c in getattr(split, "column_names", ()) for c in ("text", "label")):
            raise _v.ArgumentTypeError(f"{name} must be a datasets.Dataset with 'text' and "
                                       f"'label' columns, got {type(split).__name__}")
    _v.string("profile", profile, allow_none=True)
    import torch
    from sklearn.metrics import accuracy_score, classification_report, f1_score

    from .models import load_encoder

    torch.manual_seed(config.seed)
    model, tok = load_encoder(profile=profile, num_labels=num_labels, pooling=pooling)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    val_text = None if validation is None else validation["text"]
    val_label = None if validation is None else validation["label"]
    history = fine_tune(model, tok, train["text"], train["label"], val_text, val_label,
                        config=config)
    pred, _ = predict(model, tok, test["text"], max_length=config.max_length)
    gold = np.asarray(test["label"])
    trained = sum(p.numel() for n, p in model.named_parameters()
                  if not torch.equal(p.detach(), before[n]))
    return {"model": model, "tokenizer": tok, "history": history,
            "accuracy": accuracy_score(gold, pred), "macro_f1": f1_score(gold, pred,
                                                                           average="macro"),
            "report": classification_report(gold, pred, output_dict=True, zero_division=0),
            "trainable": trained, "correct": pred == gold}

