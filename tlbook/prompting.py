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

In-context learning (Brown et al., 2020) puts a few labelled examples in
front of the question:

- :func:`draw_demonstrations` draws them, and their order, from a labelled
  pool; :func:`few_shot_prompts` writes them as earlier chat turns.
- ``label_logprobs(..., shared_prefix=True)`` runs the part every prompt
  shares (the demonstrations) once and reuses its keys and values.
- :func:`content_free_logprobs` and :func:`calibrate` are contextual
  calibration (Zhao et al., 2021): the label bias the prompt gives an input
  that says nothing is divided out of every prediction.
- :func:`icl_cell` scores one draw of ``k`` demonstrations on the test
  sentences of chapter "Why transfer learning", with and without
  calibration.
- :func:`load_causal_lm_classifier` puts a classification head on the same
  model and :func:`train_lm_classifier` fine-tunes it with LoRA: the trained
  alternative to prompting.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from . import _validate as _v

__all__ = ["chat_prompts", "label_token_ids", "label_logprobs", "response_losses",
           "answer_scores", "few_shot_prompts", "draw_demonstrations", "MOVIE_INSTRUCTION",
           "MOVIE_ANSWER_PREFIX", "MOVIE_LABEL_WORDS", "CONTENT_FREE",
           "content_free_logprobs", "calibrate", "icl_cell", "load_causal_lm_classifier",
           "train_lm_classifier"]


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
                   label_words: Sequence[str], batch_size: int = 16,
                   shared_prefix: bool = False) -> np.ndarray:
    """Log-probability of each label word as the next token after each prompt.

    Prompts are batched with left padding and positions counted from each
    prompt's first real token, and only the last position's logits are
    computed, so one forward pass scores every label word of a whole batch
    and gives what one prompt at a time gives (up to float rounding).

    With ``shared_prefix=True`` the longest run of tokens that every prompt
    begins with (the system turn, the demonstrations of a few-shot prompt)
    goes through the model once; each batch then runs only the rest of its
    prompts on top of that prefix's keys and values (its KV cache), padded
    on the left of the rest. The scores are the same up to float rounding;
    the work per prompt shrinks from the whole prompt to its own part.

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
    _v.boolean("shared_prefix", shared_prefix)
    ids = label_token_ids(tokenizer, label_words)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    order = np.arange(len(prompts))
    if shared_prefix:
        rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        prefix = _common_prefix(rows)
        cache = _prefix_cache(model, prefix, device) if prefix else None
        # batches of similar length waste less on padding; rows are independent
        order = np.argsort([len(r) for r in rows], kind="stable")
        rows = [rows[j] for j in order]
    for i in range(0, len(prompts), batch_size):
        if shared_prefix and prefix:
            batch = _after_prefix(model, cache, len(prefix), rows[i:i + batch_size],
                                  tokenizer.pad_token_id, device)
        elif shared_prefix:
            batch = _left_padded(tokenizer, [prompts[j] for j in order[i:i + batch_size]],
                                 device)
        else:
            batch = _left_padded(tokenizer, prompts[i:i + batch_size], device)
        logits = model(**batch, logits_to_keep=1).logits[:, -1].float()
        out.append(torch.log_softmax(logits, dim=-1)[:, ids].cpu())
    model.train(was_training)
    scores = np.empty((len(prompts), len(ids)))
    scores[order] = torch.cat(out).numpy().astype(np.float64)
    return scores


def _common_prefix(rows: list[list[int]]) -> list[int]:
    """The longest token run every row begins with, leaving each row at
    least one token of its own (whose logits score the labels)."""
    n = min(len(r) for r in rows) - 1
    first = rows[0]
    for r in rows[1:]:
        n = min(n, next((j for j in range(n) if r[j] != first[j]), n))
    return first[:max(n, 0)]


def _cache_argument(model: nn.Module) -> str:
    """The name under which the model's forward takes a KV cache
    (``cache`` in recent transformers 5 releases, ``past_key_values`` before)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _prefix_cache(model: nn.Module, prefix: list[int], device) -> list[tuple]:
    """Keys and values of every layer for ``prefix``, each ``(1, kv_heads,
    len(prefix), head_dim)``."""
    from transformers import DynamicCache

    cache = DynamicCache()
    model(input_ids=torch.tensor([prefix], device=device), use_cache=True,
          **{_cache_argument(model): cache})
    return [(keys, values) for keys, values, *_ in cache]


def _after_prefix(model, prefix_kv, n_prefix, rows, pad, device) -> dict:
    """Model inputs for the rest of each row after a cached prefix: the rests
    left-padded, the mask covering prefix, padding and rest, positions
    continuing the prefix's, and a fresh cache holding the prefix once per row
    (the model appends to it, so the prefix's own tensors stay untouched)."""
    from transformers import DynamicCache

    rests = [r[n_prefix:] for r in rows]
    width = max(len(r) for r in rests)
    pad = pad if pad is not None else 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rests], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rests], device=device)
    positions = n_prefix + (mask.cumsum(-1) - 1).clamp(min=0)
    full_mask = torch.cat([torch.ones(len(rests), n_prefix, dtype=mask.dtype, device=device),
                           mask], dim=1)
    cache = DynamicCache([(k.expand(len(rests), -1, -1, -1), v.expand(len(rests), -1, -1, -1))
                          for k, v in prefix_kv])
    return {"input_ids": ids, "attention_mask": full_mask, "position_ids": positions,
            "use_cache": True, _cache_argument(model): cache}


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


def _check_demonstrations(demonstrations, n_labels: int) -> None:
    if (isinstance(demonstrations, str) or not hasattr(demonstrations, "__len__")
            or not hasattr(demonstrations, "__iter__")):
        raise TypeError(f"demonstrations must be a list of (text, label) pairs, got "
                        f"{type(demonstrations).__name__}")
    for i, pair in enumerate(demonstrations):
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not isinstance(pair[0], str)):
            raise TypeError(f"demonstrations[{i}] must be a (text, label) pair, got {pair!r:.60}")
        label = pair[1]
        if (isinstance(label, bool) or not isinstance(label, (int, np.integer))
                or not 0 <= label < n_labels):
            raise ValueError(f"demonstrations[{i}] has label {label!r}; labels must be ints "
                             f"from 0 to {n_labels - 1}, one per label word")


def few_shot_prompts(tokenizer, texts: Sequence[str], instruction: str, answer_prefix: str,
                     demonstrations: Sequence[tuple[str, int]],
                     label_words: Sequence[str]) -> list[str]:
    """Prompts that show the model ``k`` solved examples before each text.

    Each demonstration ``(text, label)`` becomes an earlier exchange: a user
    turn written as :func:`chat_prompts` writes the question, and an
    assistant turn ``answer_prefix + label_words[label] + "."`` (e.g. "The
    sentiment of this movie review is positive."). The question about each
    text follows, as in :func:`chat_prompts`; with no demonstrations the
    prompts are exactly those of :func:`chat_prompts`. Every prompt of one
    call begins with the same demonstrations, in the given order, so
    ``label_logprobs(..., shared_prefix=True)`` computes them once.

    Args:
        tokenizer: a chat model's tokenizer (with a chat template).
        texts: the texts to label.
        instruction, answer_prefix: as in :func:`chat_prompts`.
        demonstrations: ``(text, label)`` pairs, ``label`` an index into
            ``label_words`` (e.g. from :func:`draw_demonstrations`).
        label_words: the answer words, with their leading space
            (``[" negative", " positive"]``).

    Returns:
        One prompt per text.

    Raises:
        TypeError: ``texts`` or ``label_words`` not sequences of str, a
            demonstration not a ``(str, int)`` pair.
        ValueError: what :func:`chat_prompts` raises, ``label_words`` empty,
            or a demonstration's label outside ``range(len(label_words))``.
    """
    if isinstance(label_words, str):
        raise TypeError("label_words must be a list of str, not a single str")
    _v.str_sequence("label_words", label_words, allow_empty=False)
    _check_demonstrations(demonstrations, len(label_words))
    prompts = chat_prompts(tokenizer, texts, instruction, answer_prefix)
    if not demonstrations:
        return prompts
    shown = []
    for text, label in demonstrations:
        shown += [{"role": "user", "content": f"{instruction}\n\n{text}"},
                  {"role": "assistant", "content": f"{answer_prefix}{label_words[label]}."}]
    return [tokenizer.apply_chat_template(shown + [{"role": "user",
                                                    "content": f"{instruction}\n\n{t}"}],
                                          tokenize=False, add_generation_prompt=True)
            + answer_prefix for t in texts]


def draw_demonstrations(texts: Sequence[str], labels: Sequence[int], k: int, seed: int,
                        balanced: bool = True) -> list[tuple[str, int]]:
    """``k`` labelled examples drawn from a pool, in a random order.

    Which examples, and in which order, both change what a prompted model
    answers (Zhao et al., 2021; Lu et al., 2022): a seed fixes both, so
    several seeds measure the spread. Draw from examples the model is not
    tested on (the training split).

    Args:
        texts, labels: the pool, one int label per text.
        k: how many demonstrations, an int from 0 to ``len(texts)``.
        seed: the draw (an int >= 0); the same seed gives the same list.
        balanced: give each class ``k // n_classes`` examples and the
            remaining ``k % n_classes`` to classes chosen at random (so one
            demonstration is a random class); ``False``: a plain random
            sample of the pool.

    Returns:
        ``k`` ``(text, label)`` pairs, shuffled.

    Raises:
        TypeError: ``texts`` not a sequence of str, ``balanced`` not a bool.
        ValueError: ``texts`` empty, ``labels`` of another length or not
            ints, ``k`` or ``seed`` out of range, or (balanced) a class
            with fewer examples than its share.
    """
    _v.str_sequence("texts", texts, allow_empty=False)
    _v.same_length("texts", texts, "labels", labels)
    _v.whole_labels("labels", labels)
    _v.integer("k", k, 0, len(texts), rule=f"an int from 0 to {len(texts)} (the pool size)")
    _v.non_negative_int("seed", seed)
    _v.boolean("balanced", balanced)
    labels = np.asarray(labels, dtype=int)
    rng = np.random.default_rng(seed)
    if balanced:
        classes = np.unique(labels)
        share = np.full(len(classes), k // len(classes))
        share[rng.choice(len(classes), k % len(classes), replace=False)] += 1
        picked = []
        for c, n in zip(classes, share):
            pool = np.flatnonzero(labels == c)
            if n > len(pool):
                raise ValueError(f"class {c} has only {len(pool)} examples, {n} requested; "
                                 f"lower k or use balanced=False")
            picked.append(rng.choice(pool, size=n, replace=False))
        chosen = np.concatenate(picked)
    else:
        chosen = rng.choice(len(texts), size=k, replace=False)
    return [(texts[i], int(labels[i])) for i in rng.permutation(chosen)]


MOVIE_INSTRUCTION = "Is the sentiment of this movie review positive or negative?"
"""The question :func:`icl_cell` asks about each movie-review sentence."""

MOVIE_ANSWER_PREFIX = "The sentiment of this movie review is"
"""The words the answer to :data:`MOVIE_INSTRUCTION` begins with."""

MOVIE_LABEL_WORDS: tuple[str, ...] = (" negative", " positive")
"""The label words of the movie task, for labels 0 and 1."""

CONTENT_FREE: tuple[str, ...] = ("N/A", "", "[MASK]")
"""The inputs that say nothing, whose label scores measure a prompt's bias
(Zhao et al., 2021)."""


def _mean_label_probs(logprobs: np.ndarray) -> np.ndarray:
    """Log of the mean, over rows, of the label probabilities renormalised
    over the labels: ``(n, n_labels) -> (n_labels,)``."""
    probs = np.exp(logprobs - logprobs.max(1, keepdims=True))
    return np.log((probs / probs.sum(1, keepdims=True)).mean(0))


def content_free_logprobs(model: nn.Module, tokenizer,
                          prompt_builder: Callable[[list[str]], list[str]],
                          label_words: Sequence[str],
                          content_free: Sequence[str] = CONTENT_FREE,
                          shared_prefix: bool = False) -> np.ndarray:
    """The label distribution a prompt gives when the input says nothing.

    Each content-free input (``"N/A"``, the empty string, ``"[MASK]"``) is
    put into the prompt by ``prompt_builder``; the label probabilities,
    renormalised over the label words, are averaged over the inputs. A
    prompt with no bias gives the uniform distribution; a model that
    favours one label whatever it reads gives that label more.

    Args:
        model, tokenizer, label_words: as in :func:`label_logprobs`.
        prompt_builder: texts -> prompts, the same function that builds the
            prompts to calibrate, e.g. ``lambda t: few_shot_prompts(tok, t,
            ...)``.
        content_free: the inputs to average over.
        shared_prefix: as in :func:`label_logprobs`.

    Returns:
        ``(len(label_words),)`` log-probabilities (their exponentials sum to
        1), the ``content_free`` argument of :func:`calibrate`.

    Raises:
        TypeError: ``prompt_builder`` not callable, ``content_free`` not a
            sequence of str; what :func:`label_logprobs` raises.
        ValueError: ``content_free`` empty, ``prompt_builder`` returned
            another number of prompts.
    """
    if not callable(prompt_builder):
        raise TypeError(f"prompt_builder must be a function from texts to prompts, got "
                        f"{type(prompt_builder).__name__}")
    if isinstance(content_free, str):
        raise TypeError("content_free must be a list of str, not a single str")
    _v.str_sequence("content_free", content_free, allow_empty=False)
    prompts = prompt_builder(list(content_free))
    if isinstance(prompts, str) or len(prompts) != len(content_free):
        raise ValueError(f"prompt_builder must return one prompt per input: got "
                         f"{1 if isinstance(prompts, str) else len(prompts)} for "
                         f"{len(content_free)} inputs")
    return _mean_label_probs(label_logprobs(model, tokenizer, prompts, label_words,
                                            shared_prefix=shared_prefix))


def calibrate(logprobs: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration (Zhao et al., 2021): remove a prompt's label bias.

    Each row's label probabilities, renormalised over the labels, are
    divided by the content-free ones and renormalised again: ``q ∝ W p``
    with ``W = diag(p_cf)^-1`` (the paper's choice with no offset). A label
    the prompt favours for any input loses exactly that advantage; with a
    uniform ``p_cf`` nothing changes but the renormalisation.

    Args:
        logprobs: ``(n, n_labels)`` label log-probabilities, e.g. from
            :func:`label_logprobs` (normalised over the vocabulary or not).
        content_free: ``(n_labels,)`` log-probabilities from
            :func:`content_free_logprobs`.

    Returns:
        ``(n, n_labels)`` calibrated log-probabilities, normalised over the
        labels; ``argmax(axis=1)`` is the calibrated prediction.

    Raises:
        TypeError: an argument is not array-like of numbers.
        ValueError: ``logprobs`` not 2-D with at least two columns and one
            row, ``content_free`` not 1-D with one entry per column, or a
            value that is not finite.
    """
    try:
        logprobs = np.asarray(logprobs, dtype=np.float64)
        content_free = np.asarray(content_free, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"logprobs and content_free must be arrays of numbers ({e})") from None
    if logprobs.ndim != 2 or logprobs.shape[0] < 1 or logprobs.shape[1] < 2:
        raise ValueError(f"logprobs must have shape (n, n_labels) with n >= 1 and n_labels "
                         f">= 2, got {logprobs.shape}")
    if content_free.shape != (logprobs.shape[1],):
        raise ValueError(f"content_free must have shape ({logprobs.shape[1]},), one "
                         f"log-probability per label, got {content_free.shape}")
    if not (np.isfinite(logprobs).all() and np.isfinite(content_free).all()):
        raise ValueError("logprobs and content_free must be finite log-probabilities")
    scores = logprobs - content_free
    scores -= scores.max(1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(1, keepdims=True))


_ICL_KEYS = ("k", "test_size")


@lru_cache(maxsize=1)
def _chat_model(profile: str):
    """The profile's chat model, loaded once per process for :func:`icl_cell`."""
    from .models import load_causal_lm

    return load_causal_lm(profile)


def icl_cell(config: dict, seed: int) -> dict:
    """``k``-shot in-context learning on the test sentences of chapter "Why
    transfer learning", with and without contextual calibration.

    The profile's chat model is asked :data:`MOVIE_INSTRUCTION` (answer
    :data:`MOVIE_ANSWER_PREFIX` and :data:`MOVIE_LABEL_WORDS`) after ``k`` demonstrations drawn by
    :func:`draw_demonstrations` (balanced) from chapter 1's training pool,
    the first ``pool_size`` training sentences. The content-free prompts use
    the same demonstrations. Scores come from ``label_logprobs(...,
    shared_prefix=True)``.

    Args:
        config: ``{"k": int >= 0}``, optionally ``"test_size"``: score only
            the first that many test sentences (default: all of them).
        seed: the draw of demonstrations and their order (with ``k = 0``
            there is nothing to draw and every seed gives the same result).

    Returns:
        ``accuracy`` and ``calibrated accuracy``; ``positive share`` and
        ``calibrated positive share`` (how often " positive" is predicted);
        ``content-free positive`` (its content-free probability);
        ``label seconds per 1000`` (wall-clock seconds of the scoring,
        content-free prompts included, per 1,000 test sentences);
        ``prompt bytes`` (what must be stored for the task: the UTF-8 bytes of
        a prompt without its test sentence); and the per-sentence 0/1 lists
        ``correct`` and ``calibrated correct``.

    Raises:
        TypeError: ``config`` not a dict.
        ValueError: an unknown key or a missing ``k``, ``k`` not an int from
            0 to the pool size, ``test_size`` not an int >= 1, ``seed`` not
            an int >= 0.
    """
    from .data import first_rows, load_movie_sentiment
    from .profiles import get_profile

    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict like {{'k': 4}}, got {type(config).__name__}")
    unknown = sorted(set(config) - set(_ICL_KEYS))
    if unknown or "k" not in config:
        raise ValueError(f"config takes the keys {list(_ICL_KEYS)} ('k' required), got "
                         f"{sorted(config)}")
    n_pool = get_profile().sizes["pool_size"]
    ds = load_movie_sentiment()
    pool = ds["train"].select(range(n_pool)) if n_pool else ds["train"]
    _v.integer("k", config["k"], 0, len(pool), rule=f"an int from 0 to {len(pool)}")
    test_size = config.get("test_size")
    _v.optional_int("test_size", test_size, 1)
    _v.non_negative_int("seed", seed)
    test = ds["test"] if test_size is None else first_rows(ds["test"], test_size)
    shown = draw_demonstrations(pool["text"], pool["label"], config["k"], seed)
    model, tok = _chat_model(get_profile().name)
    prompts = few_shot_prompts(tok, list(test["text"]) + list(CONTENT_FREE), MOVIE_INSTRUCTION,
                               MOVIE_ANSWER_PREFIX, shown, MOVIE_LABEL_WORDS)
    # one call: the test and content-free prompts share the demonstrations' cache
    start = time.perf_counter()
    scores = label_logprobs(model, tok, prompts, MOVIE_LABEL_WORDS, batch_size=16,
                            shared_prefix=True)
    seconds = time.perf_counter() - start
    n = len(test)
    content_free = _mean_label_probs(scores[n:])
    gold = np.asarray(test["label"])
    plain, calibrated = scores[:n].argmax(1), calibrate(scores[:n], content_free).argmax(1)
    return {"accuracy": float(np.mean(plain == gold)),
            "calibrated accuracy": float(np.mean(calibrated == gold)),
            "positive share": float(np.mean(plain == 1)),
            "calibrated positive share": float(np.mean(calibrated == 1)),
            "content-free positive": float(np.exp(content_free[1])),
            "label seconds per 1000": 1000 * seconds / n,
            "prompt bytes": len(prompts[0].encode()) - len(test[0]["text"].encode()),
            "correct": (plain == gold).astype(int).tolist(),
            "calibrated correct": (calibrated == gold).astype(int).tolist()}


def load_causal_lm_classifier(num_labels: int = 2, profile: str | None = None,
                              seed: int = 0, device: str | None = None):
    """The profile's causal LM with a classification head in place of its
    language-model head (``LlamaForSequenceClassification`` for SmolLM2).

    The body has the weights :func:`tlbook.models.load_causal_lm` loads; the
    head (``model.score``, ``(num_labels, hidden)``, no bias) is new, drawn
    from a normal distribution of the config's ``initializer_range`` with
    ``seed``. A sentence is classified from the hidden state of its last
    token that is not padding, so ``model.config.pad_token_id`` is set to the
    tokenizer's padding token (added as its end-of-sequence token when it has
    none).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, float32.

    Raises:
        ValueError: ``num_labels`` not an int >= 2, ``seed`` not an int >= 0.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import _from_hub, model_source

    _v.integer("num_labels", num_labels, 2, rule="an int >= 2")
    _v.non_negative_int("seed", seed)
    source = model_source("causal_lm", profile)
    tokenizer = _from_hub(AutoTokenizer.from_pretrained, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = _from_hub(AutoModelForSequenceClassification.from_pretrained, source,
                      num_labels=num_labels, dtype=torch.float32,
                      pad_token_id=tokenizer.pad_token_id)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.score.weight.copy_(torch.randn(model.score.weight.shape, generator=generator)
                                 * model.config.initializer_range)
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def train_lm_classifier(train, test=None, lr: float = 1e-3, epochs: int = 1,
                        batch_size: int = 16, max_length: int = 64, r: int = 8,
                        alpha: float = 16.0,
                        targets: Sequence[str] | str = ("q_proj", "v_proj"),
                        seed: int = 0, profile: str | None = None) -> dict:
    """Fine-tune the causal LM with a classification head by LoRA, and score it.

    A fresh :func:`load_causal_lm_classifier` (head drawn from ``seed``)
    gets :func:`tlbook.lora.add_lora` adapters on ``targets`` and a head that
    trains in full; :func:`tlbook.lora.fit` trains them (AdamW, 10% warm-up,
    linear decay) on batches from :func:`tlbook.finetune.make_loader`
    (length-grouped, shuffled with ``seed``).

    Args:
        train: ``datasets.Dataset`` (or dict) with ``text`` and ``label``.
        test: the same, or ``None`` to skip scoring.
        lr, epochs, batch_size, max_length, seed: the training run.
        r, alpha, targets: the LoRA adapters.
        profile: which causal LM (``None``: the current profile).

    Returns:
        ``{"accuracy", "predictions", "losses", "trainable", "seconds",
        "label_seconds", "saved_bytes", "model", "tokenizer"}``: test
        accuracy and ``(n,)`` predicted labels (``None`` without ``test``),
        the loss of every step, the number of trained parameters, the
        training time, the time to label ``test`` (0 without it), and the
        bytes on disk of what the task needs stored (the adapters and the
        head, as safetensors).

    Raises:
        ValueError, TypeError: a training or LoRA argument out of range,
            checked before the model is loaded.
    """
    from .finetune import make_loader, predict
    from .lora import _check_rank, _check_scale, add_lora, fit

    _v.positive_float("lr", lr, rule="a positive float")
    _v.positive_int("epochs", epochs, rule="an int >= 1")
    _v.positive_int("batch_size", batch_size)
    _v.positive_int("max_length", max_length)
    _check_rank(r)
    _check_scale(alpha, 0.0)
    if not isinstance(targets, str):
        _v.str_sequence("targets", targets)
    _v.non_negative_int("seed", seed)
    _v.string("profile", profile, allow_none=True)
    model, tok = load_causal_lm_classifier(2, profile=profile, seed=seed)
    add_lora(model, targets, r=r, alpha=alpha, train_also=("score",))
    loader = make_loader(list(train["text"]), tok, list(train["label"]), batch_size,
                         max_length, shuffle_seed=seed)
    start = time.perf_counter()
    losses = fit(model, loader, lr=lr, epochs=epochs, seed=seed, progress=False)
    seconds = time.perf_counter() - start
    accuracy = predictions = None
    label_seconds = 0.0
    if test is not None:
        start = time.perf_counter()
        predictions, _ = predict(model, tok, list(test["text"]), max_length=max_length)
        label_seconds = time.perf_counter() - start
        accuracy = float(np.mean(predictions == np.asarray(test["label"])))
    return {"accuracy": accuracy, "predictions": predictions, "losses": losses,
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "seconds": seconds, "label_seconds": label_seconds,
            "saved_bytes": _trained_bytes(model), "model": model, "tokenizer": tok}


def _trained_bytes(model: nn.Module) -> int:
    """Bytes of a safetensors file holding the parameters of ``model`` that train."""
    import tempfile
    from pathlib import Path

    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trained.safetensors"
        save_file({n: p.detach().contiguous() for n, p in model.named_parameters()
                   if p.requires_grad}, str(path))
        return path.stat().st_size
