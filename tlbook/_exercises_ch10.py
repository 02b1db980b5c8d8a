"""Checkers of the exercises of chapter "Smaller and faster" (ids ``10.N``).

Loaded by :func:`tlbook.exercises.check` when a ``10.N`` id is checked.
Expected values are computed here with real code (the profile's encoder,
:mod:`tlbook.distill`), never pasted in.
"""

from __future__ import annotations

from typing import Any

from .exercises import close_to, register, same_as

__all__: list[str] = []

EVERY_OTHER = (1, 3, 5)
"""The blocks of exercise 10.1's student."""


def _classifier():
    import torch

    from .models import load_encoder

    torch.manual_seed(0)
    return load_encoder(num_labels=2, pooling="mean")[0]


@register("10.1", hint="cut_layers(model, keep) keeps the blocks you name; parameter_count "
                       "counts every weight, embeddings and head included. Every block has "
                       "the same shapes, so it does not matter which three you keep.")
def _three_block_count(answer: Any) -> bool:
    def expected():
        from .distill import cut_layers, parameter_count

        return parameter_count(cut_layers(_classifier(), list(EVERY_OTHER)))

    return close_to(expected, tol=0)(answer)


def _loss_inputs():
    import torch

    g = torch.Generator().manual_seed(0)
    cases = []
    for batch, classes, T, alpha in [(4, 2, 1.0, 0.0), (5, 3, 2.0, 0.5), (3, 2, 4.0, 1.0),
                                     (6, 4, 0.5, 0.3)]:
        cases.append((torch.randn(batch, classes, generator=g) * 3,
                      torch.randn(batch, classes, generator=g) * 3,
                      torch.randint(0, classes, (batch,), generator=g), T, alpha))
    return cases


def _loss_reference(student_logits, teacher_logits, labels, temperature, alpha):
    from .distill import distillation_loss

    return distillation_loss(student_logits, teacher_logits, labels, temperature, alpha)


@register("10.2", hint="(1 - alpha) * cross_entropy(student, labels) + alpha * T**2 * "
                       "KL(softmax(teacher / T) || softmax(student / T)), the KL averaged over "
                       "the batch (sum over classes, mean over sentences).")
def _loss_by_hand(answer: Any) -> bool:
    return same_as(_loss_reference, _loss_inputs, tol=1e-5)(answer)


@register("10.3", hint="Divide size_on_disk of the quantised teacher by size_on_disk of the "
                       "float32 teacher (a number below 1).")
def _int8_size_ratio(answer: Any) -> bool:
    def expected():
        from .distill import quantize, size_on_disk

        model = _classifier()
        return size_on_disk(quantize(model)) / size_on_disk(model)

    return close_to(expected, tol=0.005)(answer)


@register("10.4", hint="Sum p.numel() over the weight and bias of every torch.nn.Linear "
                       "module and divide by parameter_count(model).")
def _linear_share(answer: Any) -> bool:
    def expected():
        import torch

        from .distill import parameter_count

        model = _classifier()
        linear = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)
                     for p in m.parameters())
        return linear / parameter_count(model)

    return close_to(expected, tol=0.005)(answer)
