"""Tests of tlbook.prompting on the lite chat model and a few real reviews: prompts,
label-word scores, in-context learning, calibration and the classifier head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tlbook.prompting import (CONTENT_FREE, answer_scores, calibrate, chat_prompts,
                              content_free_logprobs, draw_demonstrations, few_shot_prompts,
                              icl_cell, label_logprobs, label_token_ids,
                              load_causal_lm_classifier, response_losses, train_lm_classifier)

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

QUESTION = "Is the sentiment of this movie review positive or negative?"
PREFIX = "The sentiment of this movie review is"
DEMOS = [("a warm and witty delight", 1), ("a tedious mess", 0)]


def test_few_shot_prompts_write_the_demonstrations_as_earlier_turns(chat, prompts):
    _, tok = chat
    assert few_shot_prompts(tok, REVIEWS, QUESTION, PREFIX, [], WORDS) == prompts
    shot = few_shot_prompts(tok, REVIEWS, QUESTION, PREFIX, DEMOS, WORDS)
    turns = [{"role": "user", "content": f"{QUESTION}\n\na warm and witty delight"},
             {"role": "assistant", "content": f"{PREFIX} positive."},
             {"role": "user", "content": f"{QUESTION}\n\na tedious mess"},
             {"role": "assistant", "content": f"{PREFIX} negative."},
             {"role": "user", "content": f"{QUESTION}\n\n{REVIEWS[2]}"}]
    assert shot[2] == tok.apply_chat_template(turns, tokenize=False,
                                              add_generation_prompt=True) + PREFIX
    # the demonstrations come before the test text, in the order given
    text = shot[0]
    assert text.index("witty") < text.index("tedious") < text.index(REVIEWS[0])
    with pytest.raises(ValueError, match="labels must be ints from 0 to 1"):
        few_shot_prompts(tok, REVIEWS, QUESTION, PREFIX, [("fine", 2)], WORDS)
    with pytest.raises(TypeError, match=r"demonstrations\[0\]"):
        few_shot_prompts(tok, REVIEWS, QUESTION, PREFIX, ["fine"], WORDS)
    with pytest.raises(TypeError, match="demonstrations"):
        few_shot_prompts(tok, REVIEWS, QUESTION, PREFIX, "fine", WORDS)


def test_draws_are_reproducible_balanced_and_checked():
    texts = [f"review {i}" for i in range(20)]
    labels = [i % 2 for i in range(20)]
    a = draw_demonstrations(texts, labels, 4, seed=3)
    assert a == draw_demonstrations(texts, labels, 4, seed=3)
    assert sorted(y for _, y in a) == [0, 0, 1, 1]
    assert all(labels[texts.index(t)] == y for t, y in a)
    assert len({t for t, _ in a}) == 4
    # other seeds give other examples or orders, and one demonstration is either class
    draws = [draw_demonstrations(texts, labels, 4, seed=s) for s in range(8)]
    assert len({tuple(d) for d in draws}) > 1
    assert {draw_demonstrations(texts, labels, 1, seed=s)[0][1] for s in range(8)} == {0, 1}
    assert draw_demonstrations(texts, labels, 0, seed=0) == []
    assert len(draw_demonstrations(texts, labels, 20, seed=0, balanced=False)) == 20
    with pytest.raises(ValueError, match="k must be an int from 0 to 20"):
        draw_demonstrations(texts, labels, 21, seed=0)
    with pytest.raises(ValueError, match="k"):
        draw_demonstrations(texts, labels, -1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        draw_demonstrations(texts, labels, 2, seed=-1)
    with pytest.raises(ValueError, match="class 1 has only 1"):
        draw_demonstrations(texts[:3], [0, 0, 1], 3, seed=0)
    with pytest.raises(ValueError, match="same length"):
        draw_demonstrations(texts, labels[:5], 2, seed=0)


def test_the_cached_prefix_scores_what_the_full_prompts_score(chat):
    model, tok = chat
    shot = few_shot_prompts(tok, REVIEWS + ["the plot"], QUESTION, PREFIX, DEMOS, WORDS)
    full = label_logprobs(model, tok, shot, WORDS, batch_size=2)
    for batch_size in (1, 3, 16):
        fast = label_logprobs(model, tok, shot, WORDS, batch_size=batch_size,
                              shared_prefix=True)
        assert np.allclose(fast, full, atol=1e-4)
    # prompts that share nothing but the chat template, and one prompt that is the
    # start of another (the shared part stops a token short of the shorter one)
    mixed = [shot[0], "Hello", shot[0] + " truly"]
    assert np.allclose(label_logprobs(model, tok, mixed, WORDS, shared_prefix=True),
                       label_logprobs(model, tok, mixed, WORDS), atol=1e-4)
    nested = [shot[1], shot[1] + " truly"]
    assert np.allclose(label_logprobs(model, tok, nested, WORDS, shared_prefix=True),
                       label_logprobs(model, tok, nested, WORDS), atol=1e-4)
    with pytest.raises(TypeError, match="shared_prefix"):
        label_logprobs(model, tok, shot, WORDS, shared_prefix="yes")


def test_calibration_removes_a_constant_bias_and_leaves_an_unbiased_model_alone():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(200, 3))
    bias = np.array([3.0, 0.0, -1.0])

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    biased = log_softmax(signal + bias)
    # the content-free input carries no signal: the model shows only its bias
    content_free = log_softmax(bias)
    assert np.mean(biased.argmax(1) == signal.argmax(1)) < 0.6  # the bias wins often
    fixed = calibrate(biased, content_free)
    assert np.array_equal(fixed.argmax(1), signal.argmax(1))
    assert np.allclose(fixed, log_softmax(signal), atol=1e-10)
    # a uniform content-free distribution changes nothing but the normalisation
    uniform = np.log(np.full(3, 1 / 3))
    assert np.allclose(calibrate(signal, uniform), log_softmax(signal), atol=1e-12)
    assert np.allclose(np.exp(fixed).sum(1), 1)
    with pytest.raises(ValueError, match=r"content_free must have shape \(3,\)"):
        calibrate(biased, content_free[:2])
    with pytest.raises(ValueError, match="logprobs must have shape"):
        calibrate(biased[0], content_free)
    with pytest.raises(ValueError, match="finite"):
        calibrate(np.array([[0.0, np.nan, 1.0]]), content_free)
    with pytest.raises(TypeError, match="arrays of numbers"):
        calibrate([["a", "b"]], [0.0, 0.0])


def test_content_free_scores_on_the_chat_model(chat):
    model, tok = chat

    def build(texts):
        return few_shot_prompts(tok, texts, QUESTION, PREFIX, DEMOS, WORDS)

    cf = content_free_logprobs(model, tok, build, WORDS)
    assert cf.shape == (2,) and np.isclose(np.exp(cf).sum(), 1)
    by_hand = label_logprobs(model, tok, build(list(CONTENT_FREE)), WORDS)
    p = np.exp(by_hand) / np.exp(by_hand).sum(1, keepdims=True)
    assert np.allclose(np.exp(cf), p.mean(0), atol=1e-6)
    assert np.allclose(content_free_logprobs(model, tok, build, WORDS, shared_prefix=True),
                       cf, atol=1e-4)
    # swapping the label words swaps the content-free scores and flips the
    # calibrated prediction
    swapped = content_free_logprobs(model, tok, build, WORDS[::-1])
    assert np.allclose(swapped, cf[::-1], atol=1e-6)
    shot = build(REVIEWS)
    a = calibrate(label_logprobs(model, tok, shot, WORDS), cf).argmax(1)
    b = calibrate(label_logprobs(model, tok, shot, WORDS[::-1]), swapped).argmax(1)
    assert np.array_equal(b, 1 - a)
    with pytest.raises(TypeError, match="prompt_builder"):
        content_free_logprobs(model, tok, "prompts", WORDS)
    with pytest.raises(ValueError, match="one prompt per input"):
        content_free_logprobs(model, tok, lambda t: build(t)[:1], WORDS)
    with pytest.raises(TypeError, match="not a single str"):
        content_free_logprobs(model, tok, build, WORDS, content_free="N/A")


def test_icl_cell_scores_a_draw_on_the_first_test_sentences():
    out = icl_cell({"k": 2, "test_size": 6}, 1)
    assert len(out["correct"]) == len(out["calibrated correct"]) == 6
    assert out["accuracy"] == pytest.approx(np.mean(out["correct"]))
    assert out["calibrated accuracy"] == pytest.approx(np.mean(out["calibrated correct"]))
    assert 0 < out["content-free positive"] < 1
    assert out["label seconds per 1000"] > 0
    # the prompt without its sentence: the question and answer prefix twice more
    # than at k = 0 (the two demonstrations), so more bytes than a zero-shot prompt
    zero = icl_cell({"k": 0, "test_size": 6}, 0)
    assert out["prompt bytes"] > zero["prompt bytes"] > 0
    for bad, error in [([2], TypeError), ({"k": 2, "n": 3}, ValueError), ({}, ValueError),
                       ({"k": -1}, ValueError), ({"k": 10**6}, ValueError),
                       ({"k": 1.5}, ValueError), ({"k": 1, "test_size": 0}, ValueError)]:
        with pytest.raises(error):
            icl_cell(bad, 0)
    with pytest.raises(ValueError, match="seed"):
        icl_cell({"k": 1}, -1)


@pytest.fixture(scope="module")
def classifier():
    return load_causal_lm_classifier(num_labels=2, seed=0)


def test_the_classifier_head_is_seeded_and_ignores_padding(classifier):
    model, tok = classifier
    assert model.config.pad_token_id == tok.pad_token_id is not None
    assert tuple(model.score.weight.shape) == (2, model.config.hidden_size)
    other, _ = load_causal_lm_classifier(num_labels=3, seed=1)
    assert tuple(other.score.weight.shape) == (3, model.config.hidden_size)
    again, _ = load_causal_lm_classifier(num_labels=2, seed=0)
    assert torch.equal(again.score.weight, model.score.weight)
    assert not torch.equal(other.score.weight[:2], model.score.weight)
    with torch.no_grad():
        batch = tok(REVIEWS[:3], return_tensors="pt", padding=True)
        logits = model(**batch).logits
        alone = model(**tok(REVIEWS[2:3], return_tensors="pt")).logits
    assert logits.shape == (3, 2)
    assert batch["attention_mask"][2].sum() < batch["attention_mask"].shape[1]  # padded
    assert torch.allclose(logits[2], alone[0], atol=1e-4)
    with pytest.raises(ValueError, match="num_labels"):
        load_causal_lm_classifier(num_labels=1)
    with pytest.raises(ValueError, match="seed"):
        load_causal_lm_classifier(seed=-2)


def test_a_few_lora_steps_lower_the_training_loss(classifier):
    from tlbook.data import first_rows, load_movie_sentiment
    from tlbook.finetune import evaluate, make_loader

    train = first_rows(load_movie_sentiment()["train"], 8)
    model, tok = classifier
    texts, labels = list(train["text"]), list(train["label"])
    before = evaluate(model, make_loader(texts, tok, labels, batch_size=8))["loss"]
    out = train_lm_classifier(train, train, lr=2e-3, epochs=4, batch_size=4, seed=0)
    after = evaluate(out["model"], make_loader(texts, out["tokenizer"], labels,
                                               batch_size=8))["loss"]
    assert after < before
    assert len(out["losses"]) == 8 and out["predictions"].shape == (8,)
    # LoRA on q and v of 30 layers (r = 8) plus the 2 x 576 head
    assert out["trainable"] == 30 * 8 * (576 + 576 + 576 + 192) + 2 * 576
    # what the task stores: the trained tensors in float32, plus the file's header
    assert 4 * out["trainable"] < out["saved_bytes"] < 4 * out["trainable"] + 100_000
    assert out["label_seconds"] > 0 and out["seconds"] > 0
    for kwargs in [{"lr": 0}, {"epochs": 0}, {"r": 0}, {"batch_size": 2.5}, {"seed": -1}]:
        with pytest.raises(ValueError):
            train_lm_classifier(train, **kwargs)
