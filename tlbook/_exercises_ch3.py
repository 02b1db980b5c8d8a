"""Checkers of the exercises of chapter 3, "ELMo".

Importing this module registers them with :mod:`tlbook.exercises`. Expected
values are computed here from the corpus and the shipped biLM, the same way
the chapter computes them, never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import close_to, one_of, register, same_as

__all__: list[str] = []


@register("3.1", hint="Call build_vocabulary on the training sentences of brown_split() "
                      "with min_count=10 and count every entry, the four special tokens "
                      "included.")
def _vocabulary_size(answer: Any) -> bool:
    def expected():
        from .bilm import brown_split, build_vocabulary

        return len(build_vocabulary(brown_split()["train"], min_count=10))

    return close_to(expected, tol=0)(answer)


def held_out_perplexity_by_genre(direction: str = "forward") -> dict[str, float]:
    """Perplexity of the shipped biLM on the held-out sentences of each genre."""
    from .bilm import brown_split, load_shipped_bilm, perplexity

    model = load_shipped_bilm()
    by_genre: dict[str, list] = {}
    for s in brown_split()["held_out"]:
        by_genre.setdefault(s.genre, []).append(s)
    return {g: perplexity(model, sents, direction) for g, sents in sorted(by_genre.items())}


@register("3.2", hint="Group the held-out sentences by their .genre, call perplexity(bilm, "
                      "sentences, 'forward') on each group and take the genre with the "
                      "largest value.")
def _hardest_genre(answer: Any) -> bool:
    def expected():
        ppl = held_out_perplexity_by_genre("forward")
        return [max(ppl, key=ppl.get)]

    return one_of(expected, answer_type=str)(answer)


def _scalar_mix_reference(layers, logits, gamma):
    import torch

    from .bilm import ScalarMix

    mix = ScalarMix(len(logits), gamma=float(gamma))
    with torch.no_grad():
        mix.logits.copy_(torch.as_tensor(logits, dtype=torch.float32))
        return mix(torch.as_tensor(layers, dtype=torch.float32))


def _scalar_mix_inputs():
    import torch

    g = torch.Generator().manual_seed(3)
    layers = torch.randn(3, 4, 6, generator=g)
    return [(layers, torch.tensor([0.0, 0.0, 0.0]), 1.0),
            (layers, torch.tensor([2.0, -1.0, 0.5]), 0.5),
            (layers[:2], torch.tensor([10.0, -10.0]), 3.0)]


@register("3.3", hint="Normalise the weights with a softmax over the layer axis, reshape them "
                      "to (num_layers, 1, 1) so they broadcast, sum over axis 0 and scale by "
                      "gamma.")
def _scalar_mix(answer: Any) -> bool:
    return same_as(_scalar_mix_reference, _scalar_mix_inputs, tol=1e-5)(answer)


def most_frequent_tag_accuracy() -> float:
    """Test accuracy of the most-frequent-tag tagger on :func:`tlbook.bilm.tagging_split`.

    Each lower-cased word gets the universal tag it carries most often in the
    tagger's training sentences (ties: the tag first in alphabetical order);
    a word never seen there gets the most frequent tag of the whole training
    set.
    """
    from collections import Counter, defaultdict

    from .bilm import tagging_split

    split = tagging_split()
    by_word: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for s in split["train"]:
        for w, t in zip(s.words, s.upos):
            by_word[w.lower()][t] += 1
            overall[t] += 1
    default = min(overall, key=lambda t: (-overall[t], t))
    best = {w: min(c, key=lambda t: (-c[t], t)) for w, c in by_word.items()}
    pairs = [(best.get(w.lower(), default), t) for s in split["test"]
             for w, t in zip(s.words, s.upos)]
    return sum(p == t for p, t in pairs) / len(pairs)


@register("3.4", hint="Count (lower-cased word, tag) pairs in tagging_split()['train'], give "
                      "each word its most frequent tag and unseen words the most frequent "
                      "tag overall, then score every token of tagging_split()['test'].")
def _most_frequent_tag(answer: Any) -> bool:
    # Ties between tags may be broken either way: allow a few tokens in 10,000.
    return close_to(most_frequent_tag_accuracy, tol=5e-4)(answer)
