"""Tests of tlbook.prompting on the lite chat model and a few real reviews."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tlbook.prompting import (answer_scores, chat_prompts, label_logprobs, label_token_ids,
                              response_losses)

REVIEWS = ["a gorgeous, funny and deeply moving film", "dull, predictable and far too long",
           "the plot is thin", "one of the best performances of the year"]
WORDS = [" negative", " positive"]


@pytest.fixture(scope="module")
def chat():
    from tlbook.models import load_causal_lm

    return load_causal_lm()


@pytest.fixture(scope="module")
def prompts(chat):
    _, tok = chat
    return chat_prompts(tok, REVIEWS, "Is the sentiment of this movie review positive or "
                        "negative?", "The sentiment of this movie review is")


def test_prompts_follow_the_chat_template(chat, prompts):
    _, tok = chat
    assert len(prompts) == len(REVIEWS)
    for review, prompt in zip(REVIEWS, prompts):
        assert prompt.startswith(tok.apply_chat_template(
            [{"role": "user", "content": f"Is the sentiment of this movie review positive or "
                                         f"negative?\n\n{review}"}],
            tokenize=False, add_generation_prompt=True))
        assert prompt.endswith("The sentiment of this movie review is")


def test_a_batch_scores_what_one_prompt_at_a_time_scores(chat, prompts):
    model, tok = chat
    batched = label_logprobs(model, tok, prompts, WORDS, batch_size=4)
    single = np.concatenate([label_logprobs(model, tok, [p], WORDS) for p in prompts])
    assert batched.shape == (4, 2) and np.all(batched < 0)
    assert np.allclose(batched, single, atol=1e-4)
    # the same number as the full forward pass of one unpadded prompt
    ids = tok(prompts[1], add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1], -1)
    assert np.allclose(batched[1], logp[label_token_ids(tok, WORDS)].numpy(), atol=1e-4)


def test_swapping_the_label_words_swaps_the_scores_and_flips_the_prediction(chat, prompts):
    model, tok = chat
    scores = label_logprobs(model, tok, prompts, WORDS)
    swapped = label_logprobs(model, tok, prompts, WORDS[::-1])
    assert np.allclose(swapped, scores[:, ::-1], atol=1e-6)
    assert np.all(swapped.argmax(1) == 1 - scores.argmax(1))


def test_response_losses_are_the_mean_loss_of_the_answer_tokens_only(chat, prompts):
    model, tok = chat
    answers = [" positive.<|im_end|>", " negative.<|im_end|>", " negative.<|im_end|>",
               " positive.<|im_end|>"]
    batched = response_losses(model, tok, prompts, answers, batch_size=3)
    context = tok(prompts[0], add_special_tokens=False)["input_ids"]
    answer = tok(answers[0], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + answer])
    labels = torch.tensor([[-100] * len(context) + answer])
    with torch.no_grad():
        by_hand = model(input_ids=ids, labels=labels).loss.item()  # HF shifts the labels
    assert batched[0] == pytest.approx(by_hand, abs=1e-4)
    single = [response_losses(model, tok, [p], [a])[0] for p, a in zip(prompts, answers)]
    assert np.allclose(batched, single, atol=1e-4)
    losses, logprobs = answer_scores(model, tok, prompts, answers, WORDS, batch_size=3)
    assert np.allclose(losses, batched, atol=1e-5)
    assert np.allclose(logprobs, label_logprobs(model, tok, prompts, WORDS), atol=1e-4)
    # the right sentiment costs less than the wrong one on an unmistakable review
    wrong = response_losses(model, tok, prompts[:1], [" negative.<|im_end|>"])
    assert wrong[0] > batched[0]


def test_bad_arguments_are_refused_with_the_fix(chat, prompts):
    model, tok = chat
    with pytest.raises(ValueError, match="one token each"):
        label_token_ids(tok, [" negative", " overwhelmingly positive"])
    with pytest.raises(ValueError, match="at least two"):
        label_token_ids(tok, [" positive"])
    with pytest.raises(ValueError, match="different tokens"):
        label_token_ids(tok, [" positive", " positive"])
    with pytest.raises(TypeError, match="not a single str"):
        label_logprobs(model, tok, prompts[0], WORDS)
    with pytest.raises(ValueError, match="batch_size"):
        label_logprobs(model, tok, prompts, WORDS, batch_size=0)
    with pytest.raises(ValueError):
        response_losses(model, tok, prompts, [" positive."])
    with pytest.raises(ValueError, match="at least one token"):
        response_losses(model, tok, prompts[:1], [""])
    with pytest.raises(TypeError, match="nn.Module"):
        label_logprobs("model", tok, prompts, WORDS)
    from tlbook.models import load_encoder

    _, bert_tok = load_encoder(num_labels=2)
    with pytest.raises(ValueError, match="no chat template"):
        chat_prompts(bert_tok, REVIEWS, "Sentiment?")
