"""Checkers of the exercises of chapter "How pretraining works" (ids ``11.N``).

Loaded by :func:`tlbook.exercises.check` when an ``11.N`` id is checked.
Expected values are computed here with real code (the profile's encoder
tokenizer, causal LM and :mod:`tlbook.pretraining`), never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import AnswerTypeError, NotYet, close_to, register

__all__: list[str] = []

PERPLEXITY_SENTENCE = "The film is a charming and funny story about growing up."
"""The sentence whose perplexity exercise 11.2 asks for."""


def _masking_batch():
    from .models import load_encoder
    from .pretraining import brown_texts

    _, tokenizer = load_encoder()
    texts = brown_texts("held_out")[:400]
    enc = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    return enc["input_ids"], tokenizer


@register("11.1", hint="Draw one uniform number per position to select 15% of the ordinary "
                       "tokens (not tokenizer.all_special_ids), and a second one to split the "
                       "selected into 80% [MASK], 10% a random ordinary token, 10% unchanged. "
                       "Labels are the original ids where selected and -100 elsewhere.")
def _masking(answer: Any) -> bool:
    import torch

    if not callable(answer):
        raise AnswerTypeError(f"Expected a function, got {type(answer).__name__}.")
    ids, tokenizer = _masking_batch()
    original = ids.clone()
    try:
        out = answer(ids.clone(), tokenizer, torch.Generator().manual_seed(0))
    except Exception as exc:  # the learner's code: report, never a traceback
        raise NotYet(f"Your function raised {type(exc).__name__}: {exc}.") from None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise NotYet("Return a pair (corrupted_ids, labels).")
    corrupted, labels = (torch.as_tensor(x) for x in out)
    if corrupted.shape != ids.shape or labels.shape != ids.shape:
        raise NotYet(f"Both tensors must have the input's shape {tuple(ids.shape)}.")
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    if (labels[special] != -100).any() or (corrupted[special] != original[special]).any():
        raise NotYet("A special token or padding was selected or changed.")
    selected = labels != -100
    if (corrupted[~selected] != original[~selected]).any():
        raise NotYet("A position that was not selected was changed.")
    if (labels[selected] != original[selected]).any():
        raise NotYet("A label must be the original id of its position.")
    share = selected.sum().item() / (~special).sum().item()
    if abs(share - 0.15) > 0.01:
        raise NotYet(f"You selected {share:.3f} of the ordinary tokens, not 0.15.")
    n = selected.sum().item()
    masked = ((corrupted == tokenizer.mask_token_id) & selected).sum().item() / n
    kept = ((corrupted == original) & selected).sum().item() / n
    if abs(masked - 0.8) > 0.03 or abs(kept - 0.1) > 0.03:
        raise NotYet(f"Of the selected tokens {masked:.2f} became [MASK] and {kept:.2f} stayed "
                     "as they were; BERT's shares are 0.8 and 0.1.")
    return True


@register("11.2", hint="Tokenise the sentence, take the model's logits, and score token t+1 "
                       "with the log-softmax at position t: the mean of the negative "
                       "log-probabilities over the predicted tokens is the loss, and exp of it "
                       "the perplexity.")
def _perplexity(answer: Any) -> bool:
    def expected():
        import math

        import torch

        from .models import load_causal_lm

        model, tokenizer = load_causal_lm()
        ids = tokenizer(PERPLEXITY_SENTENCE, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            return math.exp(model(input_ids=ids, labels=ids).loss.item())

    return close_to(expected, tol=0.05)(answer)


@register("11.3", hint="The head's own parameters are the dense layer (weight and bias), the "
                       "LayerNorm (weight and bias) and one bias per vocabulary entry; the "
                       "decoder's matrix is the word embeddings, counted once, in the encoder.")
def _head_parameters(answer: Any) -> bool:
    def expected():
        from .models import load_encoder
        from .pretraining import MaskedLM

        model = MaskedLM(load_encoder()[0])
        return sum(v.numel() for v in model.head.own_state().values())

    return close_to(expected, tol=0)(answer)
