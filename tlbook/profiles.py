"""Profiles: which models and data a chapter uses, and how big its runs are.

``lite`` (the default) uses only resources from the offline catalog
(:mod:`tlbook.resources`) and sizes every run for a 2-core CPU. ``full`` uses
the classic Hugging Face Hub checkpoints and datasets and full-size settings
for a GPU. A profile only changes names and sizes: every chapter runs the same
code under both.

Choose with ``TLBOOK_PROFILE=full`` in the environment, with
``tlbook.setup(profile="full")``, or per call with ``profile="full"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["Profile", "PROFILES", "get_profile", "set_profile"]


@dataclass(frozen=True)
class Profile:
    """Names and sizes for one profile.

    Model and data fields hold either a catalog name (``lite``) or a Hub id
    (``full``); :func:`tlbook.resources.resource_path` and ``from_pretrained``
    / ``load_dataset`` are the one code path that resolves them.
    """

    name: str
    encoder: str
    causal_lm: str
    static_vectors: str
    sentiment: str
    spam: str
    ner: str
    sizes: dict = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "lite": Profile(
        name="lite",
        encoder="encoder-minilm",
        causal_lm="causal-lm-smollm2",
        static_vectors="glove-6b-50d",
        sentiment="movie-sentiment",
        spam="spam",
        ner="brown",
        sizes={
            "train_sizes": [16, 32, 64, 128, 256, 512, 1024, 2048],
            "seeds": 5,
            "pool_size": 3000,
            "finetune_train": 800,
            "finetune_validation": 200,
            "finetune_test": 500,
            # chapter "BERT fine-tuning": the peak rate of every strategy
            "finetune_lr": 1e-4,
            "finetune_epochs": 3,
            "finetune_batch_size": 16,
            "spam_train": 400,
            "spam_validation": 400,
            "spam_test": 400,
            "spam_max_length": 64,
            "batch_size": 64,
            "max_length": 128,
        },
    ),
    "full": Profile(
        name="full",
        encoder="bert-base-uncased",
        causal_lm="HuggingFaceTB/SmolLM2-135M-Instruct",  # a chat model, as in lite
        static_vectors="glove-6b-50d",
        sentiment="cornell-movie-review-data/rotten_tomatoes",
        spam="ucirvine/sms_spam",
        ner="eriktks/conll2003",
        sizes={
            "train_sizes": [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8000],
            "seeds": 10,
            "pool_size": None,
            "finetune_train": None,
            "finetune_validation": None,
            "finetune_test": None,
            # BERT-base: Sun et al. (2019) found 2e-5 works and 4e-4 fails to converge
            "finetune_lr": 2e-5,
            "finetune_epochs": 3,
            "finetune_batch_size": 32,
            "spam_train": None,
            "spam_validation": None,
            "spam_test": None,
            "spam_max_length": 256,
            "batch_size": 32,
            "max_length": 256,
        },
    ),
}

_current: str | None = None


def set_profile(name: str) -> Profile:
    """Make ``name`` the profile used when a call passes ``profile=None``."""
    global _current
    profile = get_profile(name)
    _current = profile.name
    return profile


def get_profile(profile: str | Profile | None = None) -> Profile:
    """Resolve a profile: an explicit argument, else the one set by
    :func:`set_profile`, else ``$TLBOOK_PROFILE``, else ``"lite"``."""
    if isinstance(profile, Profile):
        return profile
    if profile is None:
        profile = _current or os.environ.get("TLBOOK_PROFILE") or "lite"
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str or None, got {type(profile).__name__}")
    key = profile.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"profile must be one of {sorted(PROFILES)}, got {profile!r} "
            "(check the TLBOOK_PROFILE environment variable)."
        )
    return PROFILES[key]


def is_hub_id(name: str) -> bool:
    """True for a Hub id like ``"org/name"`` or ``"bert-base-uncased"``, False for
    a name in the offline catalog."""
    from .resources import CATALOG

    return name not in CATALOG
