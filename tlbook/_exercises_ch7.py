"""Checkers of the exercises of chapter "LoRA" (ids ``7.N``).

Loaded by :func:`tlbook.exercises.check` when a ``7.N`` id is checked.
Expected values are computed here with real code (``peft`` on the real
models, :class:`tlbook.lora.LoRALinear`), never pasted in.
"""

from __future__ import annotations

import math
from typing import Any

from .exercises import close_to, register, same_as

__all__: list[str] = []

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""The targets of exercise 7.1."""


@register("7.1", hint="Use r * (d_in + d_out) for each targeted layer kind, with the shapes "
                      "from linear_layer_shapes: k_proj and v_proj are narrower than q_proj "
                      "and o_proj, and every kind occurs once per layer.")
def _attention_lora_count(answer: Any) -> bool:
    def expected():
        from peft import LoraConfig, TaskType, get_peft_model

        from .models import load_causal_lm

        model, _ = load_causal_lm()
        cfg = LoraConfig(r=16, lora_alpha=16, target_modules=list(ATTENTION_PROJECTIONS),
                         task_type=TaskType.CAUSAL_LM)
        return get_peft_model(model, cfg).get_nb_trainable_parameters()[0]

    return close_to(expected, tol=0)(answer)


def _forward_inputs():
    import torch

    g = torch.Generator().manual_seed(0)
    cases = []
    for batch, d_in, d_out, r, alpha in [(2, 5, 3, 2, 4.0), (4, 8, 8, 1, 1.0), (1, 6, 10, 4, 16.0)]:
        cases.append((torch.randn(batch, d_in, generator=g), torch.randn(d_out, d_in, generator=g),
                      torch.randn(d_out, generator=g), torch.randn(r, d_in, generator=g),
                      torch.randn(d_out, r, generator=g), alpha))
    return cases


def _forward_reference(x, weight, bias, A, B, alpha):
    import torch

    from .lora import LoRALinear

    base = torch.nn.Linear(weight.shape[1], weight.shape[0])
    layer = LoRALinear(base, r=A.shape[0], alpha=alpha)
    with torch.no_grad():
        base.weight.copy_(weight)
        base.bias.copy_(bias)
        layer.A.copy_(A)
        layer.B.copy_(B)
        return layer(x)


@register("7.2", hint="h = x W0^T + b + (alpha / r) (x A^T) B^T, with r = A.shape[0]; the "
                      "scale is alpha / r, not alpha.")
def _lora_forward(answer: Any) -> bool:
    return same_as(_forward_reference, _forward_inputs, tol=1e-4)(answer)


def _break_even_reference(d_in, d_out):
    return math.ceil(d_in * d_out / (d_in + d_out))


@register("7.3", hint="Solve r * (d_in + d_out) >= d_in * d_out for the smallest integer r.")
def _break_even(answer: Any) -> bool:
    cases = [(384, 384), (384, 1536), (1536, 384), (576, 49152), (1, 1), (10, 3), (7, 7)]
    return same_as(_break_even_reference, cases, tol=0)(answer)


@register("7.4", hint="Divide the bytes of the saved full model by the bytes of the saved "
                      "LoRA folder (r=8 on query and value) and round down.")
def _adapters_per_model(answer: Any) -> bool:
    def expected():
        import tempfile

        import torch
        from peft import LoraConfig, TaskType, get_peft_model

        from .lora import saved_size
        from .models import load_encoder

        torch.manual_seed(0)
        model, _ = load_encoder(num_labels=2)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            full = saved_size(tmp)
        cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"],
                         task_type=TaskType.SEQ_CLS)
        with tempfile.TemporaryDirectory() as tmp:
            get_peft_model(model, cfg).save_pretrained(tmp)
            adapter = saved_size(tmp)
        return full // adapter

    # The adapter folder holds small text files (config, model card) whose
    # length may differ by a few bytes; a count off by one is still right.
    return close_to(expected, tol=1)(answer)


def _first_step_update_norm(alpha: float) -> float:
    """Frobenius norm of the update ``(alpha / r) B A`` of the first query
    projection of the encoder after one AdamW step (lr 1e-3, no weight decay)
    of peft LoRA r=8 on query and value, from the same A for every alpha."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    from .models import load_encoder

    torch.manual_seed(0)
    encoder, tokenizer = load_encoder(num_labels=2)
    cfg = LoraConfig(r=8, lora_alpha=alpha, target_modules=["query", "value"],
                     task_type=TaskType.SEQ_CLS)
    model = get_peft_model(encoder, cfg).eval()
    batch = tokenizer(["a gripping, moving film", "dull, long and badly acted"], padding=True,
                      return_tensors="pt")
    model(**batch, labels=torch.tensor([1, 0])).loss.backward()
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                      weight_decay=0.0).step()
    query = model.base_model.model.bert.encoder.layer[0].attention.self.query
    return float(query.get_delta_weight("default").detach().norm())


@register("7.6", hint="The update is (alpha / r) B A. At the first step A has no gradient "
                      "(B is zero), and Adam's first step of B is about the learning rate in "
                      "every entry, whatever the size of the gradient: what is left that "
                      "depends on alpha?")
def _alpha_first_step_ratio(answer: Any) -> bool:
    # Adam's epsilon damps the smallest gradients slightly more at the smaller
    # alpha, so the measured ratio is a little above 2: both it and 2 are right.
    return close_to(lambda: _first_step_update_norm(32.0) / _first_step_update_norm(16.0),
                    tol=0.05)(answer)
