"""LoRA: low-rank adaptation of pretrained weights.

Chapter "LoRA" derives the method; this module keeps the finished pieces.

A pretrained linear layer computes ``h = W0 x + b`` with ``W0`` of shape
``(d_out, d_in)``. LoRA (Hu et al., 2021) freezes ``W0`` and learns an update
of rank ``r``: ``h = W0 x + b + (alpha / r) B A x`` with ``A`` of shape
``(r, d_in)`` and ``B`` of shape ``(d_out, r)``, ``r(d_in + d_out)`` trainable
numbers instead of ``d_in d_out``. ``B`` starts at zero, so the adapted model
starts exactly where the pretrained one was.

- :class:`LoRALinear` wraps one ``nn.Linear``; :func:`add_lora` wraps a
  model's linear layers by name and freezes everything else;
  :func:`merge_lora` folds the updates back into plain linear layers.
- :func:`copy_peft_lora_weights` copies the adapters of a ``peft`` model into
  a model wrapped by :func:`add_lora`: the chapter and the tests use it to
  show that both compute the same function.
- :func:`linear_layer_shapes` and :func:`lora_parameter_count`: what LoRA
  costs on a real model.
- :func:`fit` trains whatever parameters require gradients (an adapter, a
  head, or the whole model) with ``accelerate``; :func:`detokenize`,
  :func:`lm_blocks`, :func:`lm_loader`, :func:`lm_loss` and :func:`generate_greedy` serve the
  causal language model; :class:`PeakMemory` and :func:`saved_size` measure
  what a run costs.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from . import _validate as _v

__all__ = ["LoRALinear", "add_lora", "merge_lora", "lora_layers", "copy_peft_lora_weights",
           "lora_parameter_count", "linear_layer_shapes", "fit", "detokenize", "lm_blocks", "lm_loader",
           "lm_loss", "generate_greedy", "PeakMemory", "saved_size", "METHODS",
           "train_classifier", "SENTIMENT_BUDGET", "sentiment_cell"]

ALL_LINEAR = "all-linear"
"""Target every linear layer except the output layer (as ``peft`` does)."""

# Classification heads that "all-linear" leaves alone (peft's convention).
_HEAD_NAMES = ("classifier", "score")


def _check_rank(r) -> None:
    _v.positive_int("r", r, rule="a positive int (the rank of the update)")


def _check_scale(alpha, dropout) -> None:
    _v.positive_float("alpha", alpha, rule="a positive number")
    _v.probability("dropout", dropout, include_one=False, rule="a float in [0, 1)")


def _check_module(name: str, value) -> None:
    if not isinstance(value, nn.Module):
        raise _v.ArgumentTypeError(f"{name} must be a torch.nn.Module, got "
                                   f"{type(value).__name__}")


def lora_parameter_count(d_in: int, d_out: int, r: int) -> int:
    """Trainable numbers of a rank-``r`` update of a ``d_in -> d_out`` layer:
    ``r * (d_in + d_out)`` (``A`` is ``(r, d_in)``, ``B`` is ``(d_out, r)``).

    Raises:
        ValueError: an argument is not a positive int.
    """
    _check_rank(r)
    _v.positive_int("d_in", d_in)
    _v.positive_int("d_out", d_out)
    return r * (d_in + d_out)


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update.

    ``forward(x) = base(x) + (alpha / r) * dropout(x) @ A.T @ B.T`` for ``x`` of
    shape ``(..., d_in)``. ``A`` is initialised like a fresh ``nn.Linear``
    (Kaiming-uniform with ``a = sqrt(5)``, as in ``peft`` and the original
    LoRA code) and ``B`` with zeros, so the layer first computes exactly what
    ``base`` computes.

    Args:
        base: the pretrained layer; its parameters are frozen.
        r: rank of the update, a positive int.
        alpha: scale; the update is multiplied by ``alpha / r``.
        dropout: dropout probability on the input of the update, in [0, 1).

    Raises:
        TypeError: ``base`` is not an ``nn.Linear``.
        ValueError: ``r`` not a positive int, ``alpha`` not a positive finite
            number, ``dropout`` not in [0, 1).
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        _check_rank(r)
        _check_scale(alpha, dropout)
        self.base = base
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        self.A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.merged = False
        for p in base.parameters():
            p.requires_grad = False

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A``, shape ``(d_out, d_in)`` like ``base.weight``."""
        return (self.B @ self.A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.merged:
            return out
        return out + (self.dropout(x) @ self.A.T @ self.B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Add the update into ``base.weight``: one matmul per layer at inference."""
        if self.merged:
            raise RuntimeError("this LoRALinear is already merged; call unmerge() first")
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Subtract the update again (up to float rounding)."""
        if not self.merged:
            raise RuntimeError("this LoRALinear is not merged")
        self.base.weight -= self.delta_weight()
        self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, merged={self.merged}"


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """The :class:`LoRALinear` modules of ``model`` by qualified name."""
    _check_module("model", model)
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def add_lora(model: nn.Module, targets: Sequence[str] | str = ("query", "value"), r: int = 8,
             alpha: float = 16.0, dropout: float = 0.0,
             train_also: Sequence[str] = ()) -> list[str]:
    """Wrap the target linear layers of ``model`` in :class:`LoRALinear`, in place.

    Every parameter is frozen except the new ``A`` and ``B`` matrices and the
    parameters of the modules named in ``train_also`` (e.g. ``("classifier",)``
    for a new classification head, which ``peft`` calls ``modules_to_save``).

    Args:
        model: a ``torch.nn.Module``, e.g. a Hugging Face model.
        targets: last components of module names (``("query", "value")`` for
            BERT, ``("q_proj", "v_proj")`` for Llama), or ``"all-linear"``:
            every ``nn.Linear`` except the output layer, a classification head
            named ``classifier`` or ``score``, and the ``train_also`` modules.
        r, alpha, dropout: as in :class:`LoRALinear`.
        train_also: qualified names of modules that train in full.

    Returns:
        The qualified names of the wrapped layers, in module order.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, a target or a
            ``train_also`` name is not a str.
        ValueError: ``r`` is not a positive int, ``alpha`` not a positive
            finite number, ``dropout`` not in [0, 1); a target names no
            linear layer (the message lists those available); a
            ``train_also`` name is not a module; the model already has LoRA
            layers. Nothing is changed in ``model`` then.
    """
    _check_module("model", model)
    _check_rank(r)
    _check_scale(alpha, dropout)
    if not isinstance(targets, str):
        _v.str_sequence("targets", targets)
    if not isinstance(train_also, str):
        _v.str_sequence("train_also", train_also)
    if lora_layers(model):
        raise ValueError("model already has LoRA layers; merge_lora(model) first or start "
                         "from a fresh model")
    if isinstance(train_also, str):
        train_also = (train_also,)
    modules = dict(model.named_modules())
    bad = [n for n in train_also if n not in modules or not n]
    if bad:
        raise ValueError(f"train_also names no module of this model: {bad}; top-level "
                         f"modules are {[n for n, _ in model.named_children()]}")
    linear = {n: m for n, m in modules.items() if isinstance(m, nn.Linear)}
    available = sorted({_leaf(n) for n in linear})
    if isinstance(targets, str):
        if targets != ALL_LINEAR:
            raise ValueError(f"targets must be {ALL_LINEAR!r} or a list of names among "
                             f"{available}, got {targets!r}")
        skip = set(train_also) | {n for n, _ in model.named_children() if n in _HEAD_NAMES}
        out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        chosen = [n for n, m in linear.items() if m is not out
                  and not any(n == s or n.startswith(s + ".") for s in skip)]
    else:
        targets = list(targets)
        unknown = [t for t in targets if t not in available]
        if not targets or unknown:
            raise ValueError(f"targets {unknown or targets} name no linear layer of this model; "
                             f"available: {available} (or {ALL_LINEAR!r})")
        chosen = [n for n in linear if _leaf(n) in targets]
    for p in model.parameters():
        p.requires_grad = False
    for name in chosen:
        _replace(model, name, LoRALinear(linear[name], r=r, alpha=alpha, dropout=dropout))
    for name in train_also:
        for p in model.get_submodule(name).parameters():
            p.requires_grad = True
    return chosen


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its base layer and put the plain
    ``nn.Linear`` back (what ``peft``'s ``merge_and_unload`` does).

    Returns:
        ``model`` (changed in place): same architecture as before
        :func:`add_lora`, no extra cost at inference.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    for name, layer in lora_layers(model).items():
        if not layer.merged:
            layer.merge()
        _replace(model, name, layer.base)
    return model


@torch.no_grad()
def copy_peft_lora_weights(model: nn.Module, peft_model, adapter: str = "default") -> int:
    """Copy ``A``, ``B`` and the fully trained modules of a ``peft`` LoRA
    model into ``model`` (wrapped by :func:`add_lora` with the same targets).

    Returns:
        The number of LoRA layers copied.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``peft_model`` not a
            ``peft`` model, ``adapter`` not a str.
        ValueError: a layer of ``model`` has no LoRA counterpart in
            ``peft_model``, or their shapes or scalings differ.
    """
    _check_module("model", model)
    _v.string("adapter", adapter)
    inner = getattr(getattr(peft_model, "base_model", None), "model", None)
    if not isinstance(inner, nn.Module):
        raise _v.ArgumentTypeError(f"peft_model must be a peft model (peft.get_peft_model), "
                                   f"got {type(peft_model).__name__}")
    ours = lora_layers(model)
    for name, layer in ours.items():
        try:
            src = inner.get_submodule(name)
            src_a, src_b = src.lora_A[adapter].weight, src.lora_B[adapter].weight
        except (AttributeError, KeyError):
            raise ValueError(f"peft_model has no LoRA adapter {adapter!r} at {name!r}") from None
        if src_a.shape != layer.A.shape or src_b.shape != layer.B.shape:
            raise ValueError(f"{name}: shapes differ, ours A{tuple(layer.A.shape)} "
                             f"B{tuple(layer.B.shape)}, peft A{tuple(src_a.shape)} "
                             f"B{tuple(src_b.shape)}")
        if not math.isclose(src.scaling[adapter], layer.scaling):
            raise ValueError(f"{name}: scaling differs, ours {layer.scaling}, "
                             f"peft {src.scaling[adapter]}")
        layer.A.copy_(src_a)
        layer.B.copy_(src_b)
    for name, module in inner.named_modules():
        saved = getattr(module, "modules_to_save", None)
        if isinstance(saved, nn.ModuleDict) and adapter in saved:
            model.get_submodule(name).load_state_dict(saved[adapter].state_dict())
    return len(ours)


def _kind(name: str) -> str:
    """``bert.encoder.layer.3.attention.self.query`` -> ``attention.self.query``:
    the part after the last layer index, or the whole name if there is none."""
    parts = name.split(".")
    idx = [i for i, p in enumerate(parts) if p.isdigit()]
    return ".".join(parts[idx[-1] + 1:]) if idx else name


def linear_layer_shapes(model: nn.Module):
    """Every kind of linear layer in ``model``, with its shape and how often it occurs.

    Returns:
        ``pandas.DataFrame`` with columns ``name`` (the module name after the
        last layer index, e.g. ``attention.self.query`` or ``self_attn.q_proj``;
        the full name for modules outside the repeated layers, e.g.
        ``classifier``; a layer wrapped by :class:`LoRALinear` counts under
        its own name), ``d_in``, ``d_out`` and ``layers`` (how many modules
        have that name and shape), in order of first appearance.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
    """
    import pandas as pd

    _check_module("model", model)

    rows: dict[tuple[str, int, int], int] = {}
    wrapped = {f"{n}.base": n for n in lora_layers(model)}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            key = (_kind(wrapped.get(name, name)), m.in_features, m.out_features)
            rows[key] = rows.get(key, 0) + 1
    return pd.DataFrame([(*k, v) for k, v in rows.items()],
                        columns=["name", "d_in", "d_out", "layers"])


# ------------------------------------------------------------------ training


def fit(model: nn.Module, loader, lr: float, epochs: int = 1, warmup_ratio: float = 0.1,
        weight_decay: float = 0.0, max_grad_norm: float = 1.0, seed: int = 0,
        mixed_precision: str | None = None, progress: bool = True,
        penalty: Callable[[], torch.Tensor] | None = None,
        fused: bool = False,
        callback: Callable[[int, nn.Module], None] | None = None) -> list[float]:
    """Train the parameters of ``model`` that require gradients.

    The loss is the model's own (``model(**batch).loss``), so the same loop
    trains a classifier (batches with ``labels``) and a causal language model
    (batches with ``labels`` = ``input_ids``). AdamW, linear warm-up then
    linear decay, gradient clipping; ``accelerate`` places model and batches
    and runs mixed precision on a GPU.

    Args:
        model: e.g. after :func:`add_lora`, ``peft.get_peft_model``, or with
            all parameters trainable for full fine-tuning.
        loader: a DataLoader of dict batches, e.g. from
            :func:`tlbook.finetune.make_loader` or :func:`lm_loader`.
        lr: peak learning rate, positive.
        epochs: passes over ``loader``, an int >= 1.
        warmup_ratio: share of the steps with a linear warm-up, in [0, 1).
        weight_decay: AdamW weight decay.
        max_grad_norm: clip the gradient norm to this (``None``: no clipping).
        seed: seeds torch before training (dropout masks).
        mixed_precision: ``None`` (bf16 on a GPU that has it, else none),
            ``"no"``, ``"bf16"`` or ``"fp16"``.
        progress: show a tqdm bar (silent when ``TQDM_DISABLE`` is set).
        penalty: ``None``, or a function of no arguments returning a scalar
            tensor that is added to each step's loss, e.g.
            :class:`tlbook.forgetting.L2SPPenalty` (chapter "Catastrophic
            forgetting").
        fused: use the fused AdamW kernel: one pass over the weights per
            step instead of several, much faster when many weights train
            (full fine-tuning of a large model on a CPU).
        callback: ``None``, or a function called after every optimizer step
            as ``callback(steps_done, model)``, e.g. to evaluate every few
            steps (it may switch the model to eval mode; training resumes in
            train mode).

    Returns:
        The training loss of every step (the model's loss, without
        ``penalty``). The model is left in eval mode.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``loader`` has no
            length, ``penalty``/``callback`` not callable, a flag not a bool.
        ValueError: ``lr`` not a positive finite number, ``epochs`` not an
            int >= 1, ``warmup_ratio`` not in [0, 1), ``weight_decay`` not a
            finite number >= 0, ``max_grad_norm`` not None or positive,
            ``seed`` not an int >= 0, unknown ``mixed_precision``, or no
            parameter requires gradients.
    """
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from .finetune import _auto_precision

    _check_module("model", model)
    if not hasattr(loader, "__len__") or not hasattr(loader, "__iter__"):
        raise _v.ArgumentTypeError(f"loader must be a DataLoader (or a list) of dict batches, "
                                   f"got {type(loader).__name__}")
    _v.positive_float("lr", lr, rule="a positive float")
    _v.positive_int("epochs", epochs, rule="an int >= 1")
    _v.probability("warmup_ratio", warmup_ratio, include_one=False, rule="a float in [0, 1)")
    _v.non_negative_float("weight_decay", weight_decay)
    if max_grad_norm is not None:
        _v.positive_float("max_grad_norm", max_grad_norm, rule="None or a positive number")
    _v.non_negative_int("seed", seed)
    _v.boolean("progress", progress)
    _v.boolean("fused", fused)
    if mixed_precision not in (None, "no", "bf16", "fp16"):
        raise ValueError(f"mixed_precision must be None, 'no', 'bf16' or 'fp16', "
                         f"got {mixed_precision!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a callable, got {type(callback).__name__}")
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be None or a callable returning a scalar tensor, "
                        f"got {type(penalty).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameter that requires gradients: nothing to train")
    torch.manual_seed(seed)
    accelerator = Accelerator(mixed_precision=_auto_precision(mixed_precision))
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay,
                                  **({"fused": True} if fused else {}))
    total = len(loader) * epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total), total)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    losses = []
    model.train()
    with tqdm(total=total, disable=not progress) as bar:
        for _ in range(epochs):
            for batch in loader:
                loss = model(**batch).loss
                accelerator.backward(loss if penalty is None else loss + penalty())
                if max_grad_norm is not None:
                    accelerator.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                bar.update(1)
                if callback is not None:
                    callback(len(losses), accelerator.unwrap_model(model))
                    model.train()
    model.eval()
    return losses


METHODS = ("head", "lora", "full")
"""What :func:`train_classifier` trains: the new head only, LoRA adapters (with
the head), or every parameter."""


def train_classifier(method: str, train, test, lr: float, epochs: int = 1,
                     batch_size: int = 32, max_length: int = 64, r: int = 8,
                     alpha: float = 16.0, targets: Sequence[str] | str = ("query", "value"),
                     seed: int = 0, profile: str | None = None, pooling: str = "cls",
                     encoder_state: dict | None = None) -> dict:
    """Fine-tune a fresh copy of the profile's encoder one way and score it.

    Every method starts from the same weights (the new head is drawn from
    ``seed``), sees the same batches in the same order and is trained by
    :func:`fit` (no weight decay, 10% warm-up); only what trains and the
    learning rate differ. LoRA comes from ``peft`` (``task_type="SEQ_CLS"``,
    so the head trains too).

    Args:
        method: one of :data:`METHODS`.
        train, test: ``datasets.Dataset`` with ``text`` and ``label``.
        lr, epochs, batch_size, max_length, seed: the training run.
        r, alpha, targets: the LoRA adapters (ignored by the other methods).
        profile: which encoder (``None``: the current profile).
        pooling: the head's input, as in :func:`tlbook.models.load_encoder`:
            ``"cls"`` (BERT's pooled first token) or ``"mean"`` (the masked
            mean of the last hidden states; LoRA then comes from
            :func:`add_lora`, with the head training in full).
        encoder_state: ``None``, or a ``state_dict`` of the encoder body to
            start from instead of the pretrained weights (e.g. after continued
            pretraining, :func:`tlbook.pretraining.continue_pretraining`).

    Returns:
        ``{"method", "accuracy", "predictions", "trainable", "total", "seconds",
        "label_seconds", "peak_mb", "saved_bytes", "losses", "model", "tokenizer"}``
        (``predictions``: the ``(n,)`` predicted labels of ``test``;
        ``seconds`` of training, ``label_seconds`` of labelling ``test``): ``total`` counts the
        parameters of the model as it runs (with adapters), ``peak_mb`` the
        memory of training (:class:`PeakMemory`), ``saved_bytes`` what must be
        stored for this task: the adapter folder (LoRA), the head's weights
        (head), or the whole model folder (full).

    Raises:
        ValueError: unknown ``method``, or a training or LoRA argument out
            of range (checked before the encoder is loaded).
        TypeError: an argument of the wrong type.
    """
    import tempfile
    import time

    import numpy as np
    from safetensors.torch import save_file

    from .finetune import make_loader, predict
    from .models import load_encoder

    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    _v.positive_float("lr", lr, rule="a positive float")
    _v.positive_int("epochs", epochs, rule="an int >= 1")
    _v.positive_int("batch_size", batch_size)
    _v.positive_int("max_length", max_length)
    _check_rank(r)
    _v.positive_float("alpha", alpha, rule="a positive number")
    if not isinstance(targets, str):
        _v.str_sequence("targets", targets)
    _v.non_negative_int("seed", seed)
    _v.string("profile", profile, allow_none=True)
    _v.one_of("pooling", pooling, ("cls", "mean"))
    if encoder_state is not None and not isinstance(encoder_state, dict):
        raise _v.ArgumentTypeError(f"encoder_state must be None or a state_dict (dict), got "
                                   f"{type(encoder_state).__name__}")
    torch.manual_seed(seed)
    model, tok = load_encoder(profile=profile, num_labels=2, pooling=pooling)
    if encoder_state is not None:
        getattr(model, model.base_model_prefix).load_state_dict(encoder_state)
    own_files = pooling == "mean"  # no save_pretrained: the trained tensors are saved
    if method == "lora" and pooling == "mean":
        add_lora(model, targets, r=r, alpha=alpha, train_also=("classifier",))
    elif method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        targets = targets if isinstance(targets, str) else list(targets)
        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=targets,
                                                 task_type=TaskType.SEQ_CLS))
    else:
        for name, p in model.named_parameters():
            p.requires_grad = method == "full" or name.startswith("classifier.")
    loader = make_loader(train["text"], tok, list(train["label"]), batch_size, max_length,
                         shuffle_seed=seed)
    with PeakMemory() as mem:
        start = time.perf_counter()
        losses = fit(model, loader, lr=lr, epochs=epochs, seed=seed, progress=False)
        seconds = time.perf_counter() - start
    start = time.perf_counter()
    pred, _ = predict(model, tok, test["text"], max_length=max_length)
    label_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        if method == "head" or (own_files and method == "lora"):
            save_file({n: p.detach().contiguous() for n, p in model.named_parameters()
                       if p.requires_grad}, f"{tmp}/trained.safetensors")
        elif own_files:
            save_file({n: p.detach().contiguous() for n, p in model.state_dict().items()},
                      f"{tmp}/model.safetensors")
        else:
            model.save_pretrained(tmp)
        size = saved_size(tmp)
    return {"method": method, "accuracy": float(np.mean(pred == np.asarray(test["label"]))),
            "predictions": pred,
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters()), "seconds": seconds,
            "label_seconds": label_seconds, "peak_mb": mem.peak_mb, "saved_bytes": size,
            "losses": losses, "model": model, "tokenizer": tok}


SENTIMENT_BUDGET = {"epochs": 1, "batch_size": 16, "max_length": 64}
"""The training budget of every run of the chapter's sentiment comparison."""


def sentiment_cell(config: dict, seed: int) -> dict:
    """One cell of sweep ``ch7-lora``: :func:`train_classifier` on the
    profile's movie-sentiment train and test sentences (the first
    ``finetune_train`` and ``finetune_test``) with :data:`SENTIMENT_BUDGET`.

    ``config`` holds ``method`` and ``lr``, and for LoRA ``r``, ``alpha`` and
    ``targets`` (``"q+v"`` for the query and value projections, or
    ``"all-linear"``).

    Returns:
        ``accuracy``, ``trainable`` and ``correct`` (1/0 for each test sentence).

    Raises:
        ValueError: ``targets`` is neither ``"q+v"`` nor ``"all-linear"``; as
            :func:`train_classifier` for the rest.
    """
    import numpy as np

    from .data import first_rows, load_movie_sentiment
    from .profiles import get_profile

    config = dict(config)
    targets = config.pop("targets", "q+v")
    if targets not in ("q+v", ALL_LINEAR):
        raise ValueError(f"targets must be 'q+v' or {ALL_LINEAR!r}, got {targets!r}")
    sizes = get_profile().sizes
    ds = load_movie_sentiment()
    train = first_rows(ds["train"], sizes["finetune_train"])
    test = first_rows(ds["test"], sizes["finetune_test"])
    res = train_classifier(train=train, test=test, seed=seed, **SENTIMENT_BUDGET, **config,
                           targets=("query", "value") if targets == "q+v" else ALL_LINEAR)
    pred = np.asarray(res.pop("predictions"))
    return {"accuracy": res["accuracy"], "trainable": res["trainable"],
            "correct": [int(x) for x in pred == np.asarray(test["label"])]}


# ------------------------------------------------------------------ causal LM


_SPACE_BEFORE = re.compile(r" ([,.;:?!)\]}%])")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")


def detokenize(words: Sequence[str]) -> str:
    """Running text from corpus tokens (Brown's conventions): no space before
    punctuation, ````word''`` becomes ``"word"``. For feeding a language model
    text that looks like text, not like a tokenised corpus."""
    if isinstance(words, str) or not all(isinstance(w, str) for w in words):
        raise TypeError("words must be a sequence of str")
    text = " ".join(words).replace("`` ", '"').replace(" ''", '"')
    text = text.replace("``", '"').replace("''", '"')
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def lm_blocks(texts: Sequence[str], tokenizer, block_size: int = 64) -> list[list[int]]:
    """Token ids of ``texts`` joined with spaces into one running text and cut
    into blocks of ``block_size``; the incomplete last block is dropped, so no
    block needs padding.

    No end-of-text (``eos``) token is put between texts. For a chat model such
    as SmolLM2-Instruct that token is the end-of-turn marker, and a separator
    after every sentence would be a pattern so easy to learn that it would
    dominate a short fine-tuning run; running text teaches the text itself.
    :func:`tlbook.forgetting.genre_blocks` calls this on the sentences of a
    Brown genre.

    Returns:
        ``list`` of ``len(ids) // block_size`` lists of ``block_size`` ints.

    Raises:
        TypeError: ``texts`` is not a sequence of str.
        ValueError: ``block_size`` is not an int >= 2.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a sequence of str")
    _v.integer("block_size", block_size, 2)
    ids = tokenizer(" ".join(texts), add_special_tokens=False)["input_ids"]
    n = len(ids) // block_size
    return [ids[i * block_size:(i + 1) * block_size] for i in range(n)]


def lm_loader(blocks: Sequence[Sequence[int]], batch_size: int = 8,
              shuffle_seed: int | None = None):
    """A DataLoader of causal-LM batches: ``input_ids``, ``attention_mask`` and
    ``labels`` (= ``input_ids``; the model shifts them), each
    ``(batch, block_size)``. With ``shuffle_seed`` the blocks are shuffled
    once, reproducibly; without, they keep their order.

    Raises:
        ValueError: ``blocks`` is empty or its blocks differ in length,
            ``batch_size`` is not an int >= 1, ``shuffle_seed`` not None or
            an int >= 0.
    """
    if isinstance(blocks, str) or not hasattr(blocks, "__len__"):
        raise _v.ArgumentTypeError(f"blocks must be a list of token-id lists (lm_blocks), got "
                                   f"{blocks!r:.60}")
    if not blocks:
        raise ValueError("blocks is empty: give more text or a smaller block_size")
    if len({len(b) for b in blocks}) != 1:
        raise ValueError(f"blocks must all have the same length (lm_blocks cuts them so), got "
                         f"lengths {sorted({len(b) for b in blocks})[:5]}")
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    _v.optional_int("shuffle_seed", shuffle_seed, 0)
    data = torch.tensor([list(b) for b in blocks], dtype=torch.long)
    if shuffle_seed is not None:
        data = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(shuffle_seed))]

    def collate(rows):
        ids = torch.stack(rows)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}

    return torch.utils.data.DataLoader(list(data), batch_size=batch_size, collate_fn=collate)


@torch.no_grad()
def lm_loss(model: nn.Module, loader) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on ``loader``;
    ``exp`` of it is the perplexity.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: ``loader`` holds no batch.
    """
    _check_module("model", model)
    if hasattr(loader, "__len__") and len(loader) == 0:
        raise ValueError("loader must hold at least one batch")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        tokens = batch["labels"][:, 1:].numel()
        total += model(**batch).loss.item() * tokens
        n += tokens
    model.train(was_training)
    return total / n


@torch.no_grad()
def generate_greedy(model: nn.Module, tokenizer, prompts: Sequence[str],
                    max_new_tokens: int = 30) -> list[str]:
    """Greedy continuations (deterministic) of each prompt, without the prompt.

    Raises:
        TypeError: ``prompts`` is a single str or holds a non-str.
        ValueError: ``max_new_tokens`` is not a positive int.
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of str, not a single str")
    _v.str_sequence("prompts", prompts)
    _v.positive_int("max_new_tokens", max_new_tokens)
    device = next(model.parameters()).device
    model.eval()
    out = []
    for prompt in prompts:
        enc = tokenizer(prompt, return_tensors="pt").to(device)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             temperature=None, top_p=None, top_k=None,
                             pad_token_id=tokenizer.eos_token_id)
        out.append(tokenizer.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


# ------------------------------------------------------------------ measuring


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil  # not on Linux: psutil, if installed

        return psutil.Process().memory_info().rss


def _release_free_memory() -> None:
    import gc

    gc.collect()
    try:  # glibc keeps freed memory; give it back so the baseline is honest
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory used inside a ``with`` block, above what was in use when it began.

    On a CUDA device this is ``torch.cuda.max_memory_allocated``; on the CPU
    it is the process's resident set size, sampled every ``interval``
    seconds in a background thread (so a peak shorter than that can be
    missed). Run variants to be compared in the same way: a fresh process
    each is the cleanest (see ``benchmarks/lora_vs_full_causal_lm.py``).

    Example::

        with PeakMemory() as mem:
            fit(model, loader, lr=1e-3)
        print(mem.peak_mb)

    Raises:
        ValueError: ``device`` is not ``"cpu"``, ``"cuda"`` or None, or is
            ``"cuda"`` without a GPU; ``interval`` is not a positive number.
    """

    def __init__(self, device: str | None = None, interval: float = 0.005):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
        _v.device("device", device)
        _v.positive_float("interval", interval, rule="a positive number of seconds")
        self.device, self.interval = device, interval
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        _release_free_memory()
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._base = self._max = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._max = max(self._max, _rss_bytes())

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated() - self._base
            return
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, _rss_bytes())
        self.peak_bytes = self._max - self._base

    @property
    def peak_mb(self) -> float:
        """The peak in megabytes (10**6 bytes)."""
        return self.peak_bytes / 1e6


def saved_size(path: str | Path) -> int:
    """Bytes on disk of a file, or of every file under a folder.

    Raises:
        TypeError: ``path`` is not a str or path.
        ValueError: ``path`` is neither a file nor a folder.
    """
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise _v.ArgumentTypeError(f"path must be a str or a pathlib.Path, got "
                                   f"{type(path).__name__}")
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise ValueError(f"path {str(path)!r} is neither a file nor a folder")
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
