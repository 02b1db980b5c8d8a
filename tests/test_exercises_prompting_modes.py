"""The checkers of chapters "Prompting and in-context learning" (12.N) and "One
task, every transfer mode" (13.N) accept a right answer and refuse the usual
wrong ones."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats as scipy_stats

from tlbook.exercises import verdict


def test_12_2_calibration_needs_both_renormalisations():
    def right(logprobs, content_free):
        p = np.exp(logprobs - logprobs.max(1, keepdims=True))
        q = p / p.sum(1, keepdims=True) / np.exp(content_free)
        return q / q.sum(1, keepdims=True)

    def not_renormalised(logprobs, content_free):
        return np.exp(logprobs) / np.exp(content_free)

    def ignores_the_lean(logprobs, content_free):
        p = np.exp(logprobs)
        return p / p.sum(1, keepdims=True)

    assert verdict("12.2", right)[0] is True
    assert verdict("12.2", not_renormalised)[0] is False
    assert verdict("12.2", ignores_the_lean)[0] is False


def _scores(model, tokenizer, prompts, label_words, left: bool):
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id or 0
    fill = [[pad] * (width - len(r)) for r in rows]
    ids = torch.tensor([f + r if left else r + f for r, f in zip(rows, fill)])
    mask = torch.tensor([[0] * len(f) + [1] * len(r) if left else [1] * len(r) + [0] * len(f)
                         for r, f in zip(rows, fill)])
    with torch.no_grad():
        kwargs = {"position_ids": (mask.cumsum(-1) - 1).clamp(min=0)} if left else {}
        logits = model(input_ids=ids, attention_mask=mask, **kwargs).logits
    labels = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in label_words]
    return torch.log_softmax(logits[:, -1].float(), -1)[:, labels].numpy()


def test_12_4_batched_scores_must_read_each_prompts_own_last_token():
    def left_padded(model, tokenizer, prompts, label_words):
        return _scores(model, tokenizer, prompts, label_words, left=True)

    def right_padded(model, tokenizer, prompts, label_words):
        # reads the last column, which is padding for every prompt but the longest
        return _scores(model, tokenizer, prompts, label_words, left=False)

    assert verdict("12.4", left_padded)[0] is True
    ok, message = verdict("12.4", right_padded)
    assert ok is False and "not yet" in message


def test_13_2_needs_the_t_interval_of_the_paired_differences():
    def right(a, b):
        d = np.asarray(a) - np.asarray(b)
        half = scipy_stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        return d.mean(), d.mean() - half, d.mean() + half

    def normal_interval(a, b):  # 1.96 is far too narrow with three seeds
        d = np.asarray(a) - np.asarray(b)
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
        return d.mean(), d.mean() - half, d.mean() + half

    def unpaired(a, b):
        diff = np.mean(a) - np.mean(b)
        se = np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
        half = scipy_stats.t.ppf(0.975, len(a) - 1) * se
        return diff, diff - half, diff + half

    assert verdict("13.2", right)[0] is True
    assert verdict("13.2", normal_interval)[0] is False
    assert verdict("13.2", unpaired)[0] is False
