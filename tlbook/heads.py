"""A classification head on the mean of the encoder's token vectors.

``AutoModelForSequenceClassification`` puts BERT's head on the pooled
``[CLS]`` vector (a dense layer and tanh over the first token). Encoders
trained as sentence embedders, such as all-MiniLM-L6-v2, were trained on the
mean of their token vectors instead, so their pooler never received a
gradient in that training. :class:`MeanPooledClassifier` keeps the pretrained
encoder and puts a new linear layer on the masked mean of its last hidden
states, the same vector a frozen-feature baseline uses
(:func:`tlbook.embeddings.sentence_embeddings`). Build it with
``tlbook.models.load_encoder(num_labels=2, pooling="mean")``.
"""

from __future__ import annotations

import torch
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = ["MeanPooledClassifier", "mean_pool"]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``(batch, seq, dim)`` over the positions where
    ``attention_mask`` is 1; padding does not count."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPooledClassifier(torch.nn.Module):
    """A pretrained encoder (``AutoModel``) with a new linear head on the mean
    of its last hidden states.

    The encoder sits under its usual attribute (``model.bert`` for BERT-style
    models, ``base_model_prefix`` says which), so :mod:`tlbook.finetune` finds
    its layers and embeddings as in a transformers classifier; the head is
    ``model.classifier`` with dropout ``config.hidden_dropout_prob`` before it,
    initialised like transformers' heads (normal, std
    ``config.initializer_range``, zero bias). ``model(**batch).logits`` has
    shape ``(batch, num_labels)``.
    """

    def __init__(self, encoder, num_labels: int):
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
        self.base_model_prefix = encoder.base_model_prefix
        setattr(self, self.base_model_prefix, encoder)
        self.config = encoder.config
        self.config.num_labels = num_labels
        hidden = self.config.hidden_size
        self.dropout = torch.nn.Dropout(getattr(self.config, "hidden_dropout_prob", 0.1))
        self.classifier = torch.nn.Linear(hidden, num_labels)
        std = getattr(self.config, "initializer_range", 0.02)
        torch.nn.init.normal_(self.classifier.weight, std=std)
        torch.nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                **kwargs) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        encoder = getattr(self, self.base_model_prefix)
        hidden = encoder(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids, **kwargs).last_hidden_state
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
