"""A small ELMo: a bidirectional LSTM language model and the scalar mix of its layers.

Used in chapter "ELMo".

Peters et al. (2018) train two language models on the same text. The forward
LM reads a sentence left to right and predicts each next token; the backward
LM reads it right to left and predicts each previous token. Both share the
token embeddings and the softmax; the loss is the sum of the two negative
log-likelihoods,

    - sum_k [ log p(t_k | t_1..t_{k-1}) + log p(t_k | t_{k+1}..t_N) ].

For a token ``k`` the biLM then offers ``L + 1`` vectors: the context-free
token layer ``h_{k,0}`` and, for each LSTM layer ``j``, the concatenation
``h_{k,j} = [forward_j(k); backward_j(k)]``. A downstream task freezes the biLM
and learns one mix of these layers (:class:`ScalarMix`),

    ELMo_k = gamma * sum_j s_j h_{k,j},   s = softmax(w).

Every name below is importable from ``tlbook.bilm``; the modules of the
package read in the order the chapter uses them, each depending only on
those before it:

1. :mod:`tlbook.bilm.corpus` -- :func:`brown_split`, :func:`tagging_split`,
   :func:`build_vocabulary`, :class:`Vocabulary`: the corpus with a fixed
   held-out set of files, and the words the model knows;
   :func:`length_sorted_batches`: padded batches of similar length;
2. :mod:`tlbook.bilm.model` -- :class:`BiLM`: embeddings, the forward and
   backward LSTM stacks with a residual connection, dropout and an adaptive
   softmax; :func:`glove_init`; :class:`ScalarMix`, the learned mix of layers;
3. :mod:`tlbook.bilm.training` -- :func:`train_bilm`, :func:`perplexity`,
   :func:`unigram_perplexity`, :func:`predict_gap`, :func:`save_bilm`,
   :func:`load_bilm`, :func:`load_shipped_bilm`: training, evaluation and
   checkpoints;
4. :mod:`tlbook.bilm.features` -- :func:`contextual_vectors`,
   :func:`elmo_features`: ELMo features (and :func:`glove_features`,
   :func:`random_features` to compare them with);
5. :mod:`tlbook.bilm.tagger` -- :class:`TokenTagger`, a linear tagger on
   frozen features (feature-based transfer), and :func:`tagging_cell`, one
   run of the chapter's tagging comparison;
6. :mod:`tlbook.bilm.recipe` -- :func:`main`, the pretraining recipe:
   ``python -m tlbook.bilm train ...``.
"""

from .corpus import (BOS, EOS, HELD_OUT_PER_GENRE, PAD, SPECIALS, UNK, Vocabulary, brown_split,
                     build_vocabulary, held_out_files, length_sorted_batches, tagging_split)
from .features import contextual_vectors, elmo_features, glove_features, random_features
from .model import BiLM, ScalarMix, glove_init
from .recipe import main
from .tagger import TAGGER_FEATURES, TokenTagger, tagging_cell
from .training import (SHIPPED_CHECKPOINT, load_bilm, load_shipped_bilm, perplexities, perplexity,
                       predict_gap, save_bilm, shipped_metadata, train_bilm, unigram_perplexity)

__all__ = [
    "SPECIALS",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "HELD_OUT_PER_GENRE",
    "SHIPPED_CHECKPOINT",
    "Vocabulary",
    "build_vocabulary",
    "brown_split",
    "held_out_files",
    "tagging_split",
    "length_sorted_batches",
    "BiLM",
    "glove_init",
    "train_bilm",
    "perplexity",
    "perplexities",
    "unigram_perplexity",
    "predict_gap",
    "save_bilm",
    "load_bilm",
    "load_shipped_bilm",
    "shipped_metadata",
    "contextual_vectors",
    "elmo_features",
    "glove_features",
    "random_features",
    "ScalarMix",
    "TokenTagger",
    "TAGGER_FEATURES",
    "tagging_cell",
    "main",
]
