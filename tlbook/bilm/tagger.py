"""Feature-based transfer: :class:`TokenTagger`, a linear POS tagger on frozen
features, and :func:`tagging_cell`, one run of chapter "ELMo"'s comparison of
:data:`TAGGER_FEATURES`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .. import _validate as _v
from .corpus import tagging_split
from .features import elmo_features, glove_features, random_features
from .model import ScalarMix, _check_positive
from .training import load_shipped_bilm


class TokenTagger(nn.Module):
    """A linear tagger on frozen token features, with a learned scalar mix.

    ``fit`` standardises each layer (mean and std of every feature over the
    training tokens), then learns a :class:`ScalarMix` of the layers and a
    linear softmax classifier together: mini-batch Adam, weight decay, a
    linear decay of the learning rate to zero. Each token is tagged on its own
    features, so any use of context must come from the features. With one
    layer the mix is just a scale, and the tagger is multinomial logistic
    regression.

    Args:
        num_layers: layers in the features (``1`` for static vectors).
        dim: features per layer.
        num_tags: classes.

    Raises:
        ValueError: a size is not a positive int.
    """

    def __init__(self, num_layers: int, dim: int, num_tags: int):
        super().__init__()
        for name, value in (("num_layers", num_layers), ("dim", dim), ("num_tags", num_tags)):
            _check_positive(name, value)
        self.mix = ScalarMix(num_layers)
        self.linear = nn.Linear(dim, num_tags)
        self.register_buffer("mean", torch.zeros(num_layers, 1, dim))
        self.register_buffer("std", torch.ones(num_layers, 1, dim))

    def _as_layers(self, features) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        if x.dim() == 2:
            x = x.unsqueeze(0)
        expected = (self.mean.shape[0], self.mean.shape[2])
        if x.dim() != 3 or (x.shape[0], x.shape[2]) != expected:
            raise ValueError(f"features must have shape (num_layers, n_tokens, dim) = "
                             f"({expected[0]}, n_tokens, {expected[1]}) (or (n_tokens, dim) for "
                             f"one layer), got {tuple(np.shape(features))}")
        return x

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(num_layers, n_tokens, dim)`` -> logits ``(n_tokens, num_tags)``."""
        return self.linear(self.mix((features - self.mean) / self.std))

    def fit(self, features, tags, steps: int = 600, batch_size: int = 2048, lr: float = 2e-2,
            weight_decay: float = 1e-4, seed: int = 0) -> TokenTagger:
        """Fit on ``features`` and integer ``tags``.

        Args:
            features: ``(num_layers, n_tokens, dim)``, or ``(n_tokens, dim)``
                for one layer.
            tags: ``(n_tokens,)`` ints in ``[0, num_tags)``.
            steps: Adam steps on mini-batches of ``batch_size`` tokens drawn
                in a new random order every pass over the data.
            seed: the classifier's initialisation and the batch order
                depend only on it.

        Returns:
            ``self``, fitted.

        Raises:
            ValueError: ``steps``/``batch_size`` not positive ints, ``lr``
                not a positive finite number, ``weight_decay`` not a finite
                number >= 0, ``seed`` not an int >= 0, features or tags of
                the wrong shape, tags outside ``[0, num_tags)``.
        """
        _check_positive("steps", steps)
        _check_positive("batch_size", batch_size)
        _check_positive("lr", lr, float)
        _v.non_negative_float("weight_decay", weight_decay)
        _v.non_negative_int("seed", seed)
        x = self._as_layers(features)
        y = torch.as_tensor(np.asarray(tags), dtype=torch.long)
        if y.shape != (x.shape[1],):
            raise ValueError(f"tags must have shape ({x.shape[1]},), got {tuple(y.shape)}")
        if x.shape[1] < 2:
            raise ValueError("features must hold at least 2 tokens")
        num_tags = self.linear.out_features
        if y.min() < 0 or y.max() >= num_tags:
            raise ValueError(f"tags must be ints in [0, {num_tags}), got values from "
                             f"{int(y.min())} to {int(y.max())}")
        self.mean = x.mean(1, keepdim=True)
        self.std = x.std(1, keepdim=True) + 1e-6
        z = (x - self.mean) / self.std  # standardised once, not at every step
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.linear.reset_parameters()
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
        self.train()
        order, start = torch.randperm(x.shape[1], generator=generator), 0
        for _ in range(steps):
            if start >= len(order):
                order, start = torch.randperm(x.shape[1], generator=generator), 0
            batch = order[start:start + batch_size]
            start += batch_size
            loss = nn.functional.cross_entropy(self.linear(self.mix(z[:, batch])), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        return self.eval()

    @torch.no_grad()
    def predict(self, features) -> np.ndarray:
        """Tag ids ``(n_tokens,)``."""
        return self(self._as_layers(features)).argmax(-1).numpy()

    def score(self, features, tags) -> float:
        """Per-token accuracy."""
        return float(np.mean(self.predict(features) == np.asarray(tags)))


TAGGER_FEATURES = ("random vectors (50-d)", "GloVe 6B (50-d)", "biLM layer 0", "biLM layer 1",
                   "biLM layer 2", "biLM scalar mix")
"""The feature sets of chapter "ELMo"'s tagging comparison, in table order."""


@lru_cache(maxsize=1)
def _tagging_data():
    """Tags, unseen-word mask and the seed-free features of :func:`tagging_split`,
    computed once per process."""
    from ..data import UNIVERSAL_TAGS
    from ..models import load_glove

    split = tagging_split()
    tag_id = {t: i for i, t in enumerate(UNIVERSAL_TAGS)}
    y = {k: np.array([tag_id[t] for s in v for t in s.upos]) for k, v in split.items()}
    seen = {w.lower() for s in split["train"] for w in s.words}
    unseen = np.array([w.lower() not in seen for s in split["test"] for w in s.words])
    model = load_shipped_bilm()
    elmo = {k: elmo_features(model, v) for k, v in split.items()}
    glove = load_glove()
    return split, y, unseen, elmo, {k: glove_features(glove, v) for k, v in split.items()}


def tagging_cell(config: dict, seed: int) -> dict[str, float]:
    """One run of chapter "ELMo"'s tagging comparison (a cell of the recorded sweep
    ``ch3-taggers``, :mod:`tlbook.sweeps`).

    Args:
        config: ``{"features": one of TAGGER_FEATURES, "train_sentences": None
            or n}``; with ``n``, the tagger trains on ``n`` training sentences
            drawn with ``seed`` (200 steps), else on all of them (600 steps).
        seed: the tagger's initialisation and batch order, the random vectors,
            and the drawn sentences.

    Returns:
        ``{"accuracy": ..., "unseen_accuracy": ...}`` on the test tokens, and
        on those whose word never occurs in the (full) training sentences.
    """
    from ..data import UNIVERSAL_TAGS

    name, n = config.get("features"), config.get("train_sentences")
    if name not in TAGGER_FEATURES:
        raise ValueError(f"config['features'] must be one of {TAGGER_FEATURES}, got {name!r}")
    _v.non_negative_int("seed", seed)
    split, y, unseen, elmo, glove = _tagging_data()
    if name.startswith("random"):
        features = {k: random_features(v, dim=50, seed=seed) for k, v in split.items()}
    elif name.startswith("GloVe"):
        features = glove
    elif name == "biLM scalar mix":
        features = elmo
    else:
        layer = int(name.rsplit(" ", 1)[1])
        features = {k: v[layer] for k, v in elmo.items()}
    train_x, train_y, steps = features["train"], y["train"], 600
    if n is not None:
        _check_positive("config['train_sentences']", n)
        lengths = np.array([len(s.words) for s in split["train"]])
        picked = np.random.default_rng(seed).choice(len(lengths), size=n, replace=False)
        keep = np.repeat(np.isin(np.arange(len(lengths)), picked), lengths)
        train_x, train_y, steps = train_x[..., keep, :], train_y[keep], 200
    layers, dim = (1, train_x.shape[1]) if train_x.ndim == 2 else train_x.shape[::2]
    tagger = TokenTagger(layers, dim, len(UNIVERSAL_TAGS)).fit(train_x, train_y, steps=steps,
                                                               seed=seed)
    correct = tagger.predict(features["test"]) == y["test"]
    return {"accuracy": float(correct.mean()), "unseen_accuracy": float(correct[unseen].mean())}
