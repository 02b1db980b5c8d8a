"""Training, evaluation and checkpoints of the biLM.

:func:`train_bilm` trains both language models; :func:`perplexity`,
:func:`perplexities`, :func:`unigram_perplexity` and :func:`predict_gap`
evaluate them; :func:`save_bilm` and :func:`load_bilm` write and read
checkpoints, and :func:`load_shipped_bilm` loads the one shipped in
``tlbook/assets`` (:data:`SHIPPED_CHECKPOINT`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import _validate as _v
from .corpus import SPECIALS, Vocabulary, _as_token_lists, length_sorted_batches
from .model import BiLM, _check_model, _check_positive

SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "bilm_brown.pt"
"""The checkpoint the book uses, made by :func:`~tlbook.bilm.main` (its recipe is in the
JSON file next to it)."""


# ------------------------------------------------------------------ training and evaluation


def _check_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        from ..runtime import default_device

        return torch.device(default_device())
    _v.device("device", device)
    return torch.device(device)


def train_bilm(model: BiLM, sentences, steps: int, batch_size: int = 64, lr: float = 2e-3,
               clip_norm: float = 1.0, max_len: int = 60, seed: int = 0,
               device: str | torch.device | None = "cpu", log_every: int = 0
               ) -> dict[str, list[float]]:
    """Train both language models for ``steps`` optimizer steps.

    Adam, a linear warm-up over the first 5% of the steps and a linear decay
    to zero, gradient-norm clipping at ``clip_norm``. The loss of a batch is
    the mean of the forward and the backward negative log-likelihood per
    token (nats). Sentences longer than ``max_len`` tokens are cut; the
    batches cycle through ``sentences`` in a new shuffled order every epoch.
    Deterministic for a given ``seed`` on a given device and thread count.

    Args:
        model: a :class:`BiLM`; trained in place and moved to ``device``.
        sentences: token lists or Brown records.
        steps: optimizer steps.
        device: ``"cpu"``, ``"cuda"``, ``"mps"`` or ``None`` (the best available).
        log_every: print the mean loss of the last ``log_every`` steps every
            ``log_every`` steps; 0 prints nothing.

    Returns:
        ``{"forward": [...], "backward": [...]}``: the loss of each step.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``sentences`` not token
            lists.
        ValueError: ``steps``, ``batch_size``, ``max_len`` not positive ints,
            ``lr``/``clip_norm`` not positive finite numbers, ``seed`` or
            ``log_every`` not an int >= 0, ``device`` unknown or not
            available, no non-empty sentence.
    """
    _check_model(model)
    _check_positive("steps", steps)
    _check_positive("batch_size", batch_size)
    _check_positive("lr", lr, float)
    _check_positive("clip_norm", clip_norm, float)
    _check_positive("max_len", max_len)
    _v.integer("log_every", log_every, 0, rule="an int >= 0")
    _v.non_negative_int("seed", seed)
    device = _check_device(device)
    encoded = [model.vocab.encode(s[:max_len]) for s in _as_token_lists(sentences) if s]
    if not encoded:
        raise ValueError("sentences must contain at least one non-empty sentence")
    torch.manual_seed(seed)  # dropout masks
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, (steps - s) / max(1, steps - warmup)))
    history: dict[str, list[float]] = {"forward": [], "backward": []}
    epoch, batches = 0, iter(())
    while len(history["forward"]) < steps:
        try:
            ids, lengths = next(batches)
        except StopIteration:
            batches = length_sorted_batches(encoded, batch_size, shuffle=True, seed=seed + epoch)
            epoch += 1
            continue
        forward, backward = model.log_likelihoods(ids.to(device), lengths.to(device))
        loss_f, loss_b = -forward.mean(), -backward.mean()
        optimizer.zero_grad(set_to_none=True)
        ((loss_f + loss_b) / 2).backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        schedule.step()
        history["forward"].append(loss_f.item())
        history["backward"].append(loss_b.item())
        step = len(history["forward"])
        if log_every and step % log_every == 0:
            recent = [(f + b) / 2 for f, b in zip(history["forward"][-log_every:],
                                                  history["backward"][-log_every:])]
            print(f"step {step:>6}  loss {np.mean(recent):.3f}", flush=True)
    model.eval()
    return history


@torch.inference_mode()
def _summed_log_likelihoods(model: BiLM, sentences, batch_size: int) -> tuple[float, float, int]:
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    encoded = [model.vocab.encode(s) for s in _as_token_lists(sentences)]
    total_f = total_b = 0.0
    count = 0
    for ids, lengths in length_sorted_batches(encoded, batch_size):
        forward, backward = model.log_likelihoods(ids.to(device), lengths.to(device))
        total_f += forward.double().sum().item()
        total_b += backward.double().sum().item()
        count += forward.numel()
    model.train(was_training)
    return total_f, total_b, count


def perplexities(model: BiLM, sentences, batch_size: int = 64) -> dict[str, float]:
    """Perplexity of both LMs on ``sentences`` in one pass over the data.

    Returns:
        ``{"forward": ..., "backward": ..., "both": ...}``; ``"both"`` is the
        geometric mean of the two. See :func:`perplexity`.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``sentences`` not token
            lists.
        ValueError: ``batch_size`` not a positive int, no sentence.
    """
    _check_model(model)
    _check_positive("batch_size", batch_size)
    total_f, total_b, count = _summed_log_likelihoods(model, sentences, batch_size)
    if count == 0:
        raise ValueError("sentences must contain at least one sentence")
    return {"forward": math.exp(-total_f / count), "backward": math.exp(-total_b / count),
            "both": math.exp(-(total_f + total_b) / 2 / count)}


def perplexity(model: BiLM, sentences, direction: str = "forward", batch_size: int = 64) -> float:
    """Perplexity of one direction's LM on ``sentences``: ``exp`` of the mean
    negative log-likelihood per predicted token.

    Every word and the end marker (forward) or start marker (backward) is
    predicted, so each sentence of ``n`` words counts ``n + 1`` tokens. Words
    outside the vocabulary are predicted as ``<unk>``, so the number depends
    on the vocabulary: compare models with the same one.

    Args:
        direction: ``"forward"``, ``"backward"`` or ``"both"`` (the geometric
            mean of the two).

    Raises:
        ValueError: unknown ``direction`` (and what :func:`perplexities` raises).
    """
    if direction not in ("forward", "backward", "both"):
        raise ValueError(f"direction must be 'forward', 'backward' or 'both'; got {direction!r}")
    return perplexities(model, sentences, batch_size)[direction]


def unigram_perplexity(train, held_out, vocab: Vocabulary) -> float:
    """Perplexity of an add-one unigram model: the bar any LM must clear.

    The model counts the ids of ``train`` (words mapped through ``vocab``,
    ``</s>`` included, every count starting at one) and predicts each token
    of ``held_out`` with the same probability whatever its context. The
    tokens counted are those the forward LM predicts, so the two numbers are
    comparable.

    Raises:
        TypeError: ``vocab`` is not a :class:`Vocabulary`, ``train`` or
            ``held_out`` not token lists.
        ValueError: ``held_out`` holds no sentence.
    """
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    counts = np.ones(len(vocab))
    for s in _as_token_lists(train, "train"):
        np.add.at(counts, vocab.encode(s)[1:], 1)
    log_p = np.log(counts / counts.sum())
    ids = [i for s in _as_token_lists(held_out, "held_out") for i in vocab.encode(s)[1:]]
    if not ids:
        raise ValueError("held_out must contain at least one sentence")
    return float(np.exp(-log_p[ids].mean()))


@torch.inference_mode()
def predict_gap(model: BiLM, left: Sequence[str], right: Sequence[str], k: int = 5
                ) -> dict[str, list[tuple[str, float]]]:
    """What each LM expects in the gap between ``left`` and ``right``.

    The forward LM reads ``<s> + left`` and predicts the next word; the
    backward LM reads ``right + </s>`` from the end and predicts the word
    before it. Neither sees the other side of the gap.

    Args:
        left, right: token lists (either may be empty).
        k: how many words to return per direction.

    Returns:
        ``{"forward": [(word, probability), ...], "backward": [...]}``, the
        ``k`` most probable vocabulary words per direction, most probable
        first. The special tokens (``<unk>`` and the sentence markers) are
        left out of the ranking, not out of the distribution: the
        probabilities are those of the full softmax.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``left``/``right`` not
            token lists.
        ValueError: ``k`` is not a positive int.
    """
    _check_model(model)
    _check_positive("k", k)
    left, right = _as_token_lists([left, right], "left and right")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = torch.tensor([model.vocab.encode(left + ["<unk>"] + right)], device=device)
    _, forward_states, backward_states = model(ids, torch.tensor([ids.shape[1]]))
    gap = len(left) + 1  # position of the gap in ids (after <s>)
    out = {}
    for direction, state in (("forward", forward_states[-1][0, gap - 1]),
                             ("backward", backward_states[-1][0, gap + 1])):
        probs = model.softmax.log_prob(state.unsqueeze(0))[0].exp()
        top = torch.topk(probs[len(SPECIALS):], min(k, len(probs) - len(SPECIALS)))
        out[direction] = [(model.vocab.words[i + len(SPECIALS)], float(p))
                          for p, i in zip(top.values.tolist(), top.indices.tolist())]
    model.train(was_training)
    return out


# ------------------------------------------------------------------ checkpoints

_FORMAT = "tlbook-bilm-1"


def save_bilm(model: BiLM, path: str | Path, half: bool = False) -> Path:
    """Save ``model``: its state_dict, vocabulary and configuration.

    Args:
        half: store the floating-point weights as float16 (half the size;
            :func:`load_bilm` casts them back to float32).

    Returns:
        The path written.

    Raises:
        TypeError: ``model`` is not a :class:`BiLM`, ``half`` not a bool,
            ``path`` not a str or path.
    """
    _check_model(model)
    _v.boolean("half", half)
    if not isinstance(path, (str, Path)):
        raise _v.ArgumentTypeError(f"path must be a str or a pathlib.Path, got "
                                   f"{type(path).__name__}")
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": _FORMAT, "config": model.config, "vocab": model.vocab.words,
                "state_dict": state}, path)
    return path


def load_bilm(path: str | Path, device: str | torch.device | None = "cpu") -> BiLM:
    """Load a checkpoint written by :func:`save_bilm`; the model is in eval
    mode, float32, on ``device``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a biLM checkpoint, or ``device`` is
            unknown or not available (checked before the file is read).
    """
    device = _check_device(device)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no biLM checkpoint at {path}; make one with "
                                "`python -m tlbook.bilm train --out PATH`")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tlbook biLM checkpoint (format {_FORMAT!r})")
    model = BiLM(Vocabulary(list(checkpoint["vocab"])), **checkpoint["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in checkpoint["state_dict"].items()})
    return model.to(device).eval()


def load_shipped_bilm(device: str | torch.device | None = "cpu") -> BiLM:
    """The biLM shipped with ``tlbook`` (:data:`~tlbook.bilm.training.SHIPPED_CHECKPOINT`)."""
    return load_bilm(SHIPPED_CHECKPOINT, device)


def shipped_metadata() -> dict:
    """The recipe and results of the shipped checkpoint (its JSON file)."""
    return json.loads(SHIPPED_CHECKPOINT.with_suffix(".json").read_text())

