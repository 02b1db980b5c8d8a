"""Using a chat model without training it: prompts, label-word scores, answer losses.

A chat model such as SmolLM2-Instruct can label a sentence with no gradient
step: put the sentence in a user turn, begin the assistant's answer, and
compare the probabilities the model gives to the label words that could come
next. The same prompts measure how much of that ability survives when the
model is later trained on something else.

- :func:`chat_prompts` writes the prompts with the tokenizer's own chat
  template.
- :func:`label_logprobs` scores every label word for a batch of prompts with
  one forward pass (left padding, explicit positions, only the last logits),
  so a batch gives the same scores as one prompt at a time.
- :func:`response_losses` is the loss, in nats per token, of a given answer
  after each prompt: how likely the model still finds the answer it used to
  give; :func:`answer_scores` gives it and the label-word scores from one
  pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from . import _validate as _v

__all__ = ["chat_prompts", "label_token_ids", "label_logprobs", "response_losses",
           "answer_scores"]


def chat_prompts(tokenizer, texts: Sequence[str], instruction: str,
                 answer_prefix: str = "") -> list[str]:
    """One chat prompt per text: a user turn holding ``instruction``, a blank
    line and the text, then the start of the assistant's turn followed by
    ``answer_prefix`` (words the answer should begin with, e.g. "The
    sentiment of this review is"), as the tokenizer's chat template writes
    them (its default system turn included).

    Raises:
        TypeError: ``texts`` is not a sequence of str, ``instruction`` or
            ``answer_prefix`` not a str.
        ValueError: ``texts`` is empty, ``instruction`` is empty, or the
            tokenizer has no chat template.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of str, not a single str")
    _v.str_sequence("texts", texts, allow_empty=False)
    _v.string("instruction", instruction)
    _v.string("answer_prefix", answer_prefix, allow_empty=True)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template: chat_prompts needs a chat "
                         "(Instruct) model's tokenizer")
    return [tokenizer.apply_chat_template([{"role": "user", "content": f"{instruction}\n\n{t}"}],
                                          tokenize=False, add_generation_prompt=True)
            + answer_prefix for t in texts]


def label_token_ids(tokenizer, label_words: Sequence[str]) -> list[int]:
    """The token id of each label word, which must be exactly one token
    (write the space in front where the word follows one: ``" positive"``).

    Raises:
        TypeError: ``label_words`` is not a sequence of str.
        ValueError: fewer than two label words, a word that is not one token
            (the message shows its pieces), or two words with the same token.
    """
    if isinstance(label_words, str):
        raise TypeError("label_words must be a list of str, not a single str")
    _v.str_sequence("label_words", label_words, allow_empty=False)
    if len(label_words) < 2:
        raise ValueError(f"label_words needs at least two words to choose between, got "
                         f"{list(label_words)!r}")
    ids = []
    for word in label_words:
        pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(pieces) != 1:
            raise ValueError(f"label word {word!r} is {len(pieces)} tokens "
                             f"({tokenizer.convert_ids_to_tokens(pieces)}); choose words that "
                             f"are one token each, with their leading space")
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"label_words {list(label_words)!r} do not all map to different tokens")
    return ids


def _left_padded(tokenizer, prompts: Sequence[str], device) -> dict[str, torch.Tensor]:
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return {"input_ids": ids, "attention_mask": mask,
            "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)}


@torch.no_grad()
def label_logprobs(model: nn.Module, tokenizer, prompts: Sequence[str],
                   label_words: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """Log-probability of each label word as the next token after each prompt.

    Prompts are batched with left padding and positions counted from each
    prompt's first real token, and only the last position's logits are
    computed, so one forward pass scores every label word of a whole batch
    and gives what one prompt at a time gives (up to float rounding).

    Returns:
        ``(len(prompts), len(label_words))`` float array of natural-log
        probabilities (over the whole vocabulary, not renormalised over the
        labels); ``argmax(axis=1)`` is the predicted label.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``prompts`` not a
            sequence of str.
        ValueError: ``prompts`` empty, ``batch_size`` not an int >= 1, and
            what :func:`label_token_ids` raises.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of str, not a single str")
    _v.str_sequence("prompts", prompts, allow_empty=False)
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    ids = label_token_ids(tokenizer, label_words)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(prompts), batch_size):
        batch = _left_padded(tokenizer, prompts[i:i + batch_size], device)
        logits = model(**batch, logits_to_keep=1).logits[:, -1].float()
        out.append(torch.log_softmax(logits, dim=-1)[:, ids].cpu())
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64)


def response_losses(model: nn.Module, tokenizer, prompts: Sequence[str],
                    responses: Sequence[str], batch_size: int = 8) -> list[float]:
    """Mean next-token loss (nats per token) of each response given its prompt.

    Only the response's tokens count; the prompt is context. A chat model's
    own answers score low; a model that has drifted away from answering so
    scores higher.

    Returns:
        one float per (prompt, response) pair, in order.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, ``prompts`` or
            ``responses`` not sequences of str.
        ValueError: they are empty or differ in length, a response is empty,
            ``batch_size`` not an int >= 1.
    """
    return _answer_pass(model, tokenizer, prompts, responses, batch_size, None)[0]


def answer_scores(model: nn.Module, tokenizer, prompts: Sequence[str],
                  responses: Sequence[str], label_words: Sequence[str],
                  batch_size: int = 8) -> tuple[list[float], np.ndarray]:
    """:func:`response_losses` and :func:`label_logprobs` from one forward pass.

    The logits that predict a response's first token are the ones that
    score the label words after the prompt, so one pass over prompt and
    response gives both (half the work of calling the two functions).

    Returns:
        ``(losses, logprobs)``: one loss per pair, and the
        ``(len(prompts), len(label_words))`` log-probabilities.

    Raises:
        what :func:`response_losses` and :func:`label_token_ids` raise.
    """
    ids = label_token_ids(tokenizer, label_words)
    return _answer_pass(model, tokenizer, prompts, responses, batch_size, ids)


@torch.no_grad()
def _answer_pass(model, tokenizer, prompts, responses, batch_size, label_ids):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, value in (("prompts", prompts), ("responses", responses)):
        if isinstance(value, str):
            raise TypeError(f"{name} must be a list of str, not a single str")
        _v.str_sequence(name, value, allow_empty=False)
    _v.same_length("prompts", prompts, "responses", responses)
    _v.positive_int("batch_size", batch_size, rule="an int >= 1")
    answers = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    if any(not a for a in answers):
        raise ValueError("every response must hold at least one token")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    losses: list[float] = []
    scores = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for i in range(0, len(prompts), batch_size):
        rows, labels, ends = [], [], []
        for prompt, answer in zip(prompts[i:i + batch_size], answers[i:i + batch_size]):
            context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            rows.append(context + answer)
            labels.append([-100] * len(context) + answer)
            ends.append(len(context) - 1)  # the position that predicts the first answer token
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
        gold = torch.tensor([y + [-100] * (width - len(y)) for y in labels], device=device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), gold[:, 1:],
                                          ignore_index=-100, reduction="none")
        losses += (nll.sum(-1) / (gold[:, 1:] != -100).sum(-1)).tolist()
        if label_ids is not None:
            last = logits[torch.arange(len(rows)), torch.tensor(ends)]
            scores.append(torch.log_softmax(last, dim=-1)[:, label_ids].cpu())
    model.train(was_training)
    logprobs = (torch.cat(scores).numpy().astype(np.float64) if label_ids is not None
                else None)
    return losses, logprobs
