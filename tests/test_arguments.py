"""Every public function rejects a bad argument before doing any work, with an
error that names the argument (a ``ValueError`` for a bad value, a
``TypeError`` for a bad type).

One table of bad calls on tiny real inputs: the lite encoder (MiniLM), a
biLM with a five-word vocabulary, gensim vectors of two words.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from gensim.models import KeyedVectors
from test_bilm import tiny_model
from test_lora import fresh_copy
from torch import nn

from tlbook import bilm as bl
from tlbook import data, embeddings, finetune, forgetting, hidden_states, lora, plotting
from tlbook import probing, runtime, sample_efficiency, senses, word2vec
from tlbook import token_classification as tc
from tlbook._validate import ArgumentTypeError
from tlbook.models import load_encoder

INF, NAN = float("inf"), float("nan")
SENTS = [["I", "deposited", "cash", "at", "the", "bank"], ["The", "river", "bank"]]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
_MPS = getattr(torch.backends, "mps", None)
NO_MPS = pytest.mark.skipif(bool(_MPS and _MPS.is_available()), reason="this machine has MPS")


@pytest.fixture(scope="module")
def c():
    """What the calls need, built once."""
    encoder, tok = load_encoder("lite")
    torch.manual_seed(0)
    classifier, _ = load_encoder("lite", num_labels=2)
    # More words than tiny_model's adaptive-softmax head of 100.
    vocab = bl.Vocabulary(list(bl.SPECIALS) + ["the", "bank", "river"]
                          + [f"w{i}" for i in range(120)])
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["bank", "river"], np.eye(3, dtype=np.float32)[:2])
    ours = senses.load_bank_senses()
    clf = senses.SenseClassifier(encoder, tok, layer=1).fit(ours[:3] + ours[-3:])
    layers = np.random.default_rng(0).normal(size=(2, 8, 4))
    sense_labels = ["financial", "river"] * 4
    probes = pd.DataFrame({"task": [0.8, 0.9], "control": [0.5, 0.6]})
    curve = pd.DataFrame({"model": ["a", "a"], "size": [2, 2], "seed": [0, 1],
                          "accuracy": [0.5, 0.7]})
    return SimpleNamespace(
        enc=encoder, tok=tok, clf=classifier, bilm=tiny_model(vocab), kv=kv,
        mh=forgetting.MultiHeadClassifier.from_classifier(classifier, new_heads=1),
        senses=clf, example=ours[0], layers=layers, sense_labels=sense_labels,
        probes=probes, curve_table=sample_efficiency.summarize_curve(curve),
        sense_table=pd.DataFrame({"accuracy": [0.5, 0.6], "ratio": [1.0, 1.1]}),
        blocks=[[1, 2, 3], [4, 5, 6]])


def bad_target(example, target):
    return [example._replace(target=target)]


def case(call, error, match, id, marks=()):
    return pytest.param(call, error, match, id=id, marks=marks)


V, T = ValueError, TypeError
FTC = finetune.FineTuneConfig

CASES = [
    # ---------------------------------------------------------------- finetune
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a", "b", "c"], [0, 1]), V,
         "train_texts and train_labels", "fine_tune: fewer labels than texts"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a", "b"], [0, 1, 1]), V,
         "train_labels", "fine_tune: more labels than texts"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, [], []), V, "train_texts",
         "fine_tune: no examples"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a"], [0], val_texts=["b"]), V,
         "val_labels", "fine_tune: val_texts without val_labels"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a"], [0], ["b", "c"], [0]), V,
         "val_texts and val_labels", "fine_tune: validation lengths differ"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a"], [0], config={"lr": 1e-3}), T,
         "config", "fine_tune: config a dict"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a"], [0], config=FTC(max_length=1024)),
         V, "max_length must be at most 512", "fine_tune: max_length above the model's"),
    case(lambda c: finetune.fine_tune(c.clf, c.tok, ["a"], [0],
                                      config=FTC(class_weights=[1.0, 1.0, 1.0])),
         V, "class_weights", "fine_tune: class_weights of the wrong length"),
    case(lambda c: FTC(lr="2e-5"), T, "lr must be a positive finite number", "config: lr str"),
    case(lambda c: FTC(lr=INF), V, "lr must be a positive finite number, got inf",
         "config: lr inf"),
    case(lambda c: FTC(lr=NAN), V, "lr", "config: lr nan"),
    case(lambda c: FTC(max_length=0), V, "max_length", "config: max_length 0"),
    case(lambda c: FTC(early_stopping_patience=-3), V, "early_stopping_patience",
         "config: negative patience"),
    case(lambda c: FTC(weight_decay=-1), V, "weight_decay", "config: negative weight_decay"),
    case(lambda c: FTC(batch_size=True), T, "batch_size", "config: batch_size True"),
    case(lambda c: FTC(epochs=2.0), T, "epochs", "config: epochs float"),
    case(lambda c: FTC(grad_accum=0), V, "grad_accum", "config: grad_accum 0"),
    case(lambda c: FTC(warmup_ratio=1.0), V, "warmup_ratio", "config: warmup_ratio 1"),
    case(lambda c: FTC(unfreeze_every=0), V, "unfreeze_every", "config: unfreeze_every 0"),
    case(lambda c: FTC(evals_per_epoch=0), V, "evals_per_epoch", "config: evals_per_epoch 0"),
    case(lambda c: FTC(class_weights=[1.0, -1.0]), V, "class_weights",
         "config: negative class weight"),
    case(lambda c: FTC(class_weights=[]), V, "class_weights", "config: empty class_weights"),
    case(lambda c: FTC(seed=-1), V, "seed", "config: negative seed"),
    case(lambda c: FTC(progress="yes"), T, "progress", "config: progress str"),
    case(lambda c: FTC(gradual_unfreezing=1), T, "gradual_unfreezing",
         "config: gradual_unfreezing int"),
    case(lambda c: FTC(layer_lr_decay=0.0), V, "layer_lr_decay", "config: layer_lr_decay 0"),
    case(lambda c: finetune.encode_labels([0.7, 1.6]), T, "labels",
         "encode_labels: fractional floats"),
    case(lambda c: finetune.encode_labels("pos"), T, "labels", "encode_labels: one str"),
    case(lambda c: finetune.encode_labels(["a"], [("a", 0)]), T, "label2id",
         "encode_labels: label2id a list"),
    case(lambda c: finetune.tokenize(["a"], c.tok, max_length=0), V, "max_length",
         "tokenize: max_length 0"),
    case(lambda c: finetune.length_grouped_order([1, 2], 0, 0), V, "batch_size",
         "length_grouped_order: batch_size 0"),
    case(lambda c: finetune.length_grouped_order([1, 2], 2, -1), V, "seed",
         "length_grouped_order: negative seed"),
    case(lambda c: finetune.length_grouped_order([1, 2], 2, 0, mega=0), V, "mega",
         "length_grouped_order: mega 0"),
    case(lambda c: finetune.length_grouped_order([1, -2], 2, 0), V, "lengths",
         "length_grouped_order: negative length"),
    case(lambda c: finetune.make_loader(["a", "b"], c.tok, [0]), V, "labels",
         "make_loader: labels shorter"),
    case(lambda c: finetune.make_loader(["a"], c.tok, batch_size=0), V, "batch_size",
         "make_loader: batch_size 0"),
    case(lambda c: finetune.make_loader(["a"], c.tok, shuffle_seed=-1), V, "shuffle_seed",
         "make_loader: negative shuffle_seed"),
    case(lambda c: finetune.encoder_layers(nn.Linear(2, 2)), T, "model",
         "encoder_layers: not a transformer"),
    case(lambda c: finetune.parameter_groups(c.clf, lr=-1, weight_decay=0), V, "lr",
         "parameter_groups: negative lr"),
    case(lambda c: finetune.parameter_groups(c.clf, lr=1e-3, weight_decay=NAN), V,
         "weight_decay", "parameter_groups: weight_decay nan"),
    case(lambda c: finetune.parameter_groups(c.clf, 1e-3, 0.0, layer_lr_decay=1.5), V,
         "layer_lr_decay", "parameter_groups: layer_lr_decay above 1"),
    case(lambda c: finetune.trainable_parameters("model"), T, "model",
         "trainable_parameters: a str"),
    case(lambda c: finetune.class_weights_for([]), V, "labels", "class_weights_for: empty"),
    case(lambda c: finetune.class_weights_for([0, -1]), V, "labels",
         "class_weights_for: negative id"),
    case(lambda c: finetune.class_weights_for([0.5]), T, "labels",
         "class_weights_for: float id"),
    case(lambda c: finetune.predict(c.clf, c.tok, ["a"], max_length=600), V, "max_length",
         "predict: max_length above the model's"),
    case(lambda c: finetune.predict(c.clf, c.tok, ["a"], batch_size=0), V, "batch_size",
         "predict: batch_size 0"),
    case(lambda c: finetune.train_and_score("config", None, None, None), T, "config",
         "train_and_score: config a str"),
    case(lambda c: finetune.train_and_score(FTC(), None, None, None, num_labels=1), V,
         "num_labels", "train_and_score: one label"),
    case(lambda c: finetune.train_and_score(FTC(), {"text": ["a"]}, None, None), T, "train",
         "train_and_score: train a dict"),
    # ---------------------------------------------------------------- hidden states
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS[:1],
                                                        targets=["bank"]),
         T, "targets", "hidden_states_by_layer: a word as target"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, [-1, 0]), V,
         "target index -1", "hidden_states_by_layer: negative target"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, max_length=1000),
         V, "max_length must be at most 512", "hidden_states_by_layer: max_length too big"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, batch_size=True),
         T, "batch_size", "hidden_states_by_layer: batch_size True"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS,
                                                        batch_size=np.int64(0)),
         V, "batch_size", "hidden_states_by_layer: batch_size numpy 0"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, device="tpu"), V,
         "device", "hidden_states_by_layer: unknown device"),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, device="cuda"),
         V, "device", "hidden_states_by_layer: cuda without a GPU", NO_CUDA),
    case(lambda c: hidden_states.hidden_states_by_layer(c.enc, c.tok, [["a", 3]]), T,
         "sentences", "hidden_states_by_layer: a non-str word"),
    case(lambda c: hidden_states.length_sorted_batches([1, 2], True), T, "batch_size",
         "length_sorted_batches: batch_size True"),
    # ---------------------------------------------------------------- embeddings
    case(lambda c: embeddings.sentence_embeddings(c.enc, c.tok, ["a"], max_length=513), V,
         "max_length must be at most 512", "sentence_embeddings: max_length too big"),
    case(lambda c: embeddings.sentence_embeddings(c.enc, c.tok, ["a"], batch_size=0), V,
         "batch_size", "sentence_embeddings: batch_size 0"),
    case(lambda c: embeddings.sentence_embeddings(c.enc, c.tok, ["a"], normalize="yes"), T,
         "normalize", "sentence_embeddings: normalize str"),
    case(lambda c: embeddings.sentence_embeddings(c.enc, c.tok, ["a"], device="gpu"), V,
         "device", "sentence_embeddings: unknown device"),
    case(lambda c: embeddings.mean_pool(torch.zeros(2, 3, 4), torch.ones(2, 4)), V,
         "attention_mask", "mean_pool: shapes differ"),
    # ---------------------------------------------------------------- runtime
    case(lambda c: runtime.setup(device="cuda", verbose=False), V, "device",
         "setup: cuda without a GPU", NO_CUDA),
    case(lambda c: runtime.setup(device="mps", verbose=False), V, "device",
         "setup: mps where unavailable", NO_MPS),
    case(lambda c: runtime.setup(device="gpu", verbose=False), V, "device",
         "setup: unknown device"),
    case(lambda c: runtime.setup(seed=True, verbose=False), T, "seed", "setup: seed True"),
    case(lambda c: runtime.setup(threads=1.5, verbose=False), T, "threads",
         "setup: threads float"),
    case(lambda c: runtime.setup(verbose="no"), T, "verbose", "setup: verbose str"),
    case(lambda c: runtime.setup(profile=3, verbose=False), T, "profile", "setup: profile int"),
    case(lambda c: runtime.seed_everything(-1), V, "seed", "seed_everything: negative"),
    case(lambda c: runtime.seed_everything("1"), T, "seed", "seed_everything: str"),
    # ---------------------------------------------------------------- probing
    case(lambda c: probing.probe_accuracy_by_layer(np.zeros((1, 6, 2)), [0, 1, 0],
                                                   ["a", "b", "a"]),
         V, "y_train and y_test share no label", "probe_accuracy_by_layer: int vs str labels"),
    case(lambda c: probing.probe_accuracy_by_layer(np.zeros((1, 4, 2)), [0, 1], [0, 1], C=INF),
         V, "C must be", "probe_accuracy_by_layer: C inf"),
    case(lambda c: probing.probe_accuracy_by_layer(np.zeros((1, 4, 2)), [0, 1], [0, 1], C="1"),
         T, "C must be", "probe_accuracy_by_layer: C str"),
    case(lambda c: probing.majority_baseline([0, 1], ["a"]), V, "y_train and y_test",
         "majority_baseline: int vs str labels"),
    case(lambda c: probing.type_lookup_accuracy(["a"], ["X"], ["a"], ["Y"]), V,
         "y_train and y_test", "type_lookup_accuracy: disjoint labels"),
    case(lambda c: probing.type_lookup_accuracy(["a"], ["X"], ["a"], ["X"], lowercase="no"), T,
         "lowercase", "type_lookup_accuracy: lowercase str"),
    case(lambda c: probing.control_labels(["a", 3], ["X", "Y"]), T, "words",
         "control_labels: non-str word"),
    case(lambda c: probing.control_labels(["a"], ["X"], lowercase=1), T, "lowercase",
         "control_labels: lowercase int"),
    case(lambda c: probing.static_word_features({"a": 1}, ["a"]), T, "keyed_vectors",
         "static_word_features: a dict"),
    case(lambda c: probing.static_word_features(c.kv, ["bank", None]), T, "words",
         "static_word_features: a None word"),
    case(lambda c: probing.probe_table(np.zeros((1, 4, 2)), [0, 1, 0, 1], ([0, 1], [0, 1])), T,
         "task", "probe_table: task not a pair"),
    case(lambda c: probing.plot_probe_accuracy(c.probes, majority="0.5"), T, "majority",
         "plot_probe_accuracy: majority str"),
    case(lambda c: probing.plot_probe_accuracy(c.probes, majority=1.5), V, "majority",
         "plot_probe_accuracy: majority above 1"),
    case(lambda c: probing.plot_probe_accuracy(c.probes, 0.5, reference={"glove": 0.5}), T,
         "reference", "plot_probe_accuracy: reference not a pair"),
    case(lambda c: probing.plot_probe_accuracy([0.5], 0.5), T, "table",
         "plot_probe_accuracy: table a list"),
    case(lambda c: probing.probing_split(n_train=True), T, "n_train", "probing_split: True"),
    # ---------------------------------------------------------------- senses
    case(lambda c: senses.glove_target_vectors(c.kv, bad_target(c.example, -1)), V, "target",
         "glove_target_vectors: target -1"),
    case(lambda c: senses.glove_target_vectors({}, [c.example]), T, "keyed_vectors",
         "glove_target_vectors: a dict"),
    case(lambda c: senses.bilm_target_vectors(c.bilm, bad_target(c.example, -1)), V, "target",
         "bilm_target_vectors: target -1"),
    case(lambda c: senses.bilm_target_vectors(c.bilm, bad_target(c.example, 99)), V, "target",
         "bilm_target_vectors: target past the end"),
    case(lambda c: senses.bilm_target_vectors("bilm", [c.example]), T, "bilm",
         "bilm_target_vectors: a str"),
    case(lambda c: senses.SenseClassifier(c.enc, c.tok, layer=True), T, "layer",
         "SenseClassifier: layer True"),
    case(lambda c: senses.SenseClassifier("model", c.tok, layer=1), T, "model",
         "SenseClassifier: model a str"),
    case(lambda c: c.senses.predict_sentence("The shop is open.", "bank"), V, "target_word",
         "SenseClassifier.predict_sentence: absent target"),
    case(lambda c: senses.pca_by_layer(c.layers, n_components=np.int64(0)), V, "n_components",
         "pca_by_layer: numpy 0"),
    case(lambda c: senses.pca_by_layer(c.layers, n_components=True), T, "n_components",
         "pca_by_layer: True"),
    case(lambda c: senses.nn_sense_accuracy(c.layers[0], c.sense_labels, folds=True), T,
         "folds", "nn_sense_accuracy: folds True"),
    case(lambda c: senses.nn_sense_accuracy(c.layers[0], c.sense_labels, folds=2, seed=-1), V,
         "seed", "nn_sense_accuracy: negative seed"),
    case(lambda c: senses.separation_by_layer(c.layers, c.sense_labels, folds="5"), T, "folds",
         "separation_by_layer: folds str"),
    case(lambda c: senses.plot_pca_by_layer(c.layers[:, :, :2], c.sense_labels, ncols=0), V,
         "ncols", "plot_pca_by_layer: ncols 0"),
    case(lambda c: senses.plot_separation_by_layer({"m": "table"}), T, "tables",
         "plot_separation_by_layer: not a table"),
    case(lambda c: senses.plot_separation_by_layer({"m": c.sense_table}, chance=2), V, "chance",
         "plot_separation_by_layer: chance 2"),
    # ---------------------------------------------------------------- token classification
    case(lambda c: tc.encode_word_labels([[0.5]], None, [["a"]]), T, "labels_list",
         "encode_word_labels: fractional label"),
    case(lambda c: tc.encode_word_labels([["O"]], [("O", 0)]), T, "label2id",
         "encode_word_labels: label2id a list"),
    case(lambda c: tc.align_labels([0], ["x"]), T, "word_ids", "align_labels: str word id"),
    case(lambda c: tc.word_predictions(np.zeros((2, 2)), [None, 0], n_words=-1), V, "n_words",
         "word_predictions: negative n_words"),
    case(lambda c: tc.word_predictions(np.zeros((2, 2)), [None, 0], 1, fill=0.5), T, "fill",
         "word_predictions: fill float"),
    case(lambda c: tc.tokenize_words([["a"]], c.tok, max_length=0), V, "max_length",
         "tokenize_words: max_length 0"),
    case(lambda c: tc.predict_words(c.enc, c.tok, [["a"]], max_length=1000), V,
         "max_length must be at most 512", "predict_words: max_length too big"),
    case(lambda c: tc.predict_words(c.enc, c.tok, [["a"]], batch_size=True), T, "batch_size",
         "predict_words: batch_size True"),
    case(lambda c: tc.load_token_classifier(tc.NAME_LABELS, device="tpu"), V, "device",
         "load_token_classifier: unknown device"),
    case(lambda c: tc.span_scores([["O"]], [[1]]), T, "pred", "span_scores: id labels"),
    case(lambda c: tc.span_report([["O"]], [["O"]], digits=-1), V, "digits",
         "span_report: negative digits"),
    case(lambda c: tc.bio_labels("TTF"), T, "flags", "bio_labels: flags a str"),
    case(lambda c: tc.bio_labels([True], name=""), V, "name", "bio_labels: empty name"),
    case(lambda c: tc.name_labels("np"), T, "brown_tags", "name_labels: one str"),
    case(lambda c: tc.spans("B-NAME"), T, "labels", "spans: one str"),
    case(lambda c: tc.label_names({"a": 1}), T, "dataset", "label_names: a dict"),
    case(lambda c: tc.untyped("O"), T, "labels_list", "untyped: one str"),
    case(lambda c: tc.untyped([["O"]], name=3), T, "name", "untyped: name int"),
    case(lambda c: tc.bracket_spans("abc", ["O"]), T, "words", "bracket_spans: words a str"),
    case(lambda c: tc.capitalisation_baseline([["A"]], name=None), T, "name",
         "capitalisation_baseline: name None"),
    # ---------------------------------------------------------------- lora
    case(lambda c: lora.LoRALinear(nn.Linear(2, 2), alpha=INF), V, "alpha",
         "LoRALinear: alpha inf"),
    case(lambda c: lora.LoRALinear(nn.Linear(2, 2), dropout="0.1"), T, "dropout",
         "LoRALinear: dropout str"),
    case(lambda c: lora.lora_parameter_count(4, 4, True), T, "r", "lora_parameter_count: r True"),
    case(lambda c: lora.add_lora(fresh_copy(c.clf), ("query",), alpha=-1), V, "alpha",
         "add_lora: negative alpha"),
    case(lambda c: lora.add_lora(fresh_copy(c.clf), [1]), T, "targets", "add_lora: int target"),
    case(lambda c: lora.add_lora("model"), T, "model", "add_lora: model a str"),
    case(lambda c: lora.lora_layers("model"), T, "model", "lora_layers: a str"),
    case(lambda c: lora.merge_lora("model"), T, "model", "merge_lora: a str"),
    case(lambda c: lora.copy_peft_lora_weights(c.clf, "peft"), T, "peft_model",
         "copy_peft_lora_weights: not a peft model"),
    case(lambda c: lora.copy_peft_lora_weights(c.clf, None, adapter=3), T, "adapter",
         "copy_peft_lora_weights: adapter int"),
    case(lambda c: lora.linear_layer_shapes(3), T, "model", "linear_layer_shapes: an int"),
    case(lambda c: lora.fit(c.clf, [], lr=INF), V, "lr", "fit: lr inf"),
    case(lambda c: lora.fit(c.clf, [], lr="1e-3"), T, "lr", "fit: lr str"),
    case(lambda c: lora.fit(c.clf, [], lr=1e-3, weight_decay=-1), V, "weight_decay",
         "fit: negative weight_decay"),
    case(lambda c: lora.fit(c.clf, [], lr=1e-3, max_grad_norm=0), V, "max_grad_norm",
         "fit: max_grad_norm 0"),
    case(lambda c: lora.fit(c.clf, [], lr=1e-3, seed=-1), V, "seed", "fit: negative seed"),
    case(lambda c: lora.fit(c.clf, [], lr=1e-3, progress="no"), T, "progress",
         "fit: progress str"),
    case(lambda c: lora.fit(c.clf, [], lr=1e-3, fused=1), T, "fused", "fit: fused int"),
    case(lambda c: lora.fit(c.clf, 3, lr=1e-3), T, "loader", "fit: loader an int"),
    case(lambda c: lora.train_classifier("lora", None, None, lr=INF), V, "lr",
         "train_classifier: lr inf"),
    case(lambda c: lora.train_classifier("lora", None, None, lr=1e-3, r=0), V, "r",
         "train_classifier: r 0"),
    case(lambda c: lora.train_classifier("full", None, None, lr=1e-3, batch_size=0), V,
         "batch_size", "train_classifier: batch_size 0"),
    case(lambda c: lora.lm_blocks(["a"], c.tok, block_size=np.int64(1)), V, "block_size",
         "lm_blocks: numpy 1"),
    case(lambda c: lora.lm_loader([[1, 2], [1]]), V, "blocks", "lm_loader: ragged blocks"),
    case(lambda c: lora.lm_loader("abc"), T, "blocks", "lm_loader: a str"),
    case(lambda c: lora.lm_loader(c.blocks, shuffle_seed=-1), V, "shuffle_seed",
         "lm_loader: negative shuffle_seed"),
    case(lambda c: lora.lm_loss(c.clf, []), V, "loader", "lm_loss: empty loader"),
    case(lambda c: lora.generate_greedy(c.clf, c.tok, ["a"], max_new_tokens=0), V,
         "max_new_tokens", "generate_greedy: max_new_tokens 0"),
    case(lambda c: lora.generate_greedy(c.clf, c.tok, ["a", 1]), T, "prompts",
         "generate_greedy: non-str prompt"),
    case(lambda c: lora.PeakMemory(device="cuda"), V, "device", "PeakMemory: cuda without GPU",
         NO_CUDA),
    case(lambda c: lora.PeakMemory(interval=0), V, "interval", "PeakMemory: interval 0"),
    case(lambda c: lora.saved_size(3), T, "path", "saved_size: an int"),
    # ---------------------------------------------------------------- forgetting
    case(lambda c: forgetting.L2SPPenalty(nn.Linear(2, 2), alpha=INF), V, "alpha",
         "L2SPPenalty: alpha inf"),
    case(lambda c: forgetting.rehearsal_mix([1], [2, 3], np.int64(5)), V, "n_old",
         "rehearsal_mix: n_old too big"),
    case(lambda c: forgetting.rehearsal_mix("ab", [1], 0), T, "new", "rehearsal_mix: new str"),
    case(lambda c: forgetting.rehearsal_mix([1], [2], 0, seed=1.5), T, "seed",
         "rehearsal_mix: seed float"),
    case(lambda c: forgetting.MultiHeadClassifier("encoder", [nn.Linear(2, 2)]), T, "encoder",
         "MultiHeadClassifier: encoder a str"),
    case(lambda c: forgetting.MultiHeadClassifier(nn.Linear(2, 2), [nn.Linear(2, 2)],
                                                  dropout=1.0),
         V, "dropout", "MultiHeadClassifier: dropout 1"),
    case(lambda c: forgetting.MultiHeadClassifier.from_classifier(c.clf, seed=-1), V, "seed",
         "MultiHeadClassifier.from_classifier: negative seed"),
    case(lambda c: forgetting.probe_head(c.mh, c.tok, ["a", "b"], [0, 1], task=1, c=0), V, "c",
         "probe_head: c 0"),
    case(lambda c: forgetting.task_loader(["a"], [0.5], 0, c.tok), T, "labels",
         "task_loader: fractional label"),
    case(lambda c: forgetting.task_loader(["a"], [0], -1, c.tok), V, "tasks",
         "task_loader: negative task"),
    case(lambda c: forgetting.task_loader(["a"], [0], 0, c.tok, max_length=0), V, "max_length",
         "task_loader: max_length 0"),
    case(lambda c: forgetting.task_accuracy(c.mh, c.tok, ["a"], [0], task=True), T, "task",
         "task_accuracy: task True"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, [], [], [], lr=1e-3), V, "tasks",
         "train_task: no tasks"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0, 0], lr=1e-3), V, "tasks",
         "train_task: tasks longer than texts"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0], lr=INF), V, "lr",
         "train_task: lr inf"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0], 1e-3, l2sp_alpha=-1), V,
         "l2sp_alpha", "train_task: negative l2sp_alpha"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0], 1e-3, lora_r=0), V,
         "lora_r", "train_task: lora_r 0"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0], 1e-3, frozen_heads=[5]),
         V, "frozen_heads", "train_task: unknown frozen head"),
    case(lambda c: forgetting.train_task(c.mh, c.tok, ["a"], [0], [0], 1e-3, callback=3), T,
         "callback", "train_task: callback an int"),
    case(lambda c: forgetting.parameter_distance("a", nn.Linear(2, 2)), T, "a",
         "parameter_distance: a str"),
    case(lambda c: forgetting.genre_blocks("news", c.tok, block_size=1), V, "block_size",
         "genre_blocks: block_size 1"),
    case(lambda c: forgetting.perplexity(c.clf, []), V, "blocks", "perplexity: no blocks"),
    # ---------------------------------------------------------------- word2vec
    case(lambda c: word2vec.keep_probabilities([1, 2], subsample=np.float64(2)), V, "subsample",
         "keep_probabilities: subsample 2"),
    case(lambda c: word2vec.keep_probabilities([]), V, "counts", "keep_probabilities: empty"),
    case(lambda c: word2vec.keep_probabilities("abc"), T, "counts",
         "keep_probabilities: counts a str"),
    case(lambda c: word2vec.noise_distribution([1, -1]), V, "counts",
         "noise_distribution: negative count"),
    case(lambda c: word2vec.noise_distribution([1], power="1"), T, "power",
         "noise_distribution: power str"),
    case(lambda c: word2vec.noise_table(np.array([0.5, 0.2])), V, "probs",
         "noise_table: probs not summing to 1"),
    case(lambda c: word2vec.noise_table(np.array([1.0]), size=True), T, "size",
         "noise_table: size True"),
    case(lambda c: word2vec.encode([["a"]], ["a"]), T, "index", "encode: index a list"),
    case(lambda c: word2vec.subsample(np.zeros(2, int), np.zeros(2, int), np.ones(1), rng=0), T,
         "rng", "subsample: rng an int"),
    case(lambda c: word2vec.subsample(np.zeros(2, int), np.zeros(1, int), np.ones(1),
                                      np.random.default_rng(0)),
         V, "sentence_ids", "subsample: lengths differ"),
    case(lambda c: word2vec.skipgram_pairs(np.array([0, 1]), np.array([0]), 2), V,
         "sentence_ids", "skipgram_pairs: lengths differ"),
    case(lambda c: word2vec.skipgram_pairs(np.array([0]), np.array([0]), 2, rng=3), T, "rng",
         "skipgram_pairs: rng an int"),
    case(lambda c: word2vec.SGNS(0, 3), V, "vocab_size", "SGNS: vocab_size 0"),
    case(lambda c: word2vec.SGNS(2, 3, generator=0), T, "generator", "SGNS: generator an int"),
    case(lambda c: word2vec.SkipGram(lr=INF), V, "lr", "SkipGram: lr inf"),
    case(lambda c: word2vec.SkipGram(device="cuda"), V, "device", "SkipGram: cuda without GPU",
         NO_CUDA),
    case(lambda c: word2vec.SkipGram(seed=1.5), T, "seed", "SkipGram: seed float"),
    case(lambda c: word2vec.SkipGram(dim=np.int64(0)), V, "dim", "SkipGram: dim numpy 0"),
    case(lambda c: word2vec.gensim_skipgram([["a"]], seed=-1), V, "seed",
         "gensim_skipgram: negative seed"),
    case(lambda c: word2vec.evaluate_similarity("kv"), T, "kv", "evaluate_similarity: a str"),
    case(lambda c: word2vec.evaluate_analogies(c.kv, restrict_vocab=0), V, "restrict_vocab",
         "evaluate_analogies: restrict_vocab 0"),
    # ---------------------------------------------------------------- bilm
    case(lambda c: bl.held_out_files([["the", "bank"]]), T, "sentences",
         "held_out_files: token lists"),
    case(lambda c: bl.BiLM(c.bilm.vocab, cutoffs=(6, 2)), V, "cutoffs",
         "BiLM: decreasing cutoffs"),
    case(lambda c: bl.BiLM(c.bilm.vocab, dropout="0.1"), T, "dropout", "BiLM: dropout str"),
    case(lambda c: bl.train_bilm("model", [["a"]], steps=1), T, "model", "train_bilm: a str"),
    case(lambda c: bl.train_bilm(c.bilm, [["a"]], steps=1, lr=INF), V, "lr",
         "train_bilm: lr inf"),
    case(lambda c: bl.train_bilm(c.bilm, [["a"]], steps=1, seed=-1), V, "seed",
         "train_bilm: negative seed"),
    case(lambda c: bl.train_bilm(c.bilm, [["a"]], steps=1, log_every=True), T, "log_every",
         "train_bilm: log_every True"),
    case(lambda c: bl.train_bilm(c.bilm, [["a"]], steps=1, device="cuda"), V, "device",
         "train_bilm: cuda without GPU", NO_CUDA),
    case(lambda c: bl.perplexities("model", [["a"]]), T, "model", "perplexities: a str"),
    case(lambda c: bl.contextual_vectors("model", [["a"]]), T, "model",
         "contextual_vectors: a str"),
    case(lambda c: bl.predict_gap(c.bilm, ["the"], ["bank"], k=0), V, "k", "predict_gap: k 0"),
    case(lambda c: bl.save_bilm(c.bilm, "/nonexistent/x.pt", half="yes"), T, "half",
         "save_bilm: half str"),
    case(lambda c: bl.load_bilm(bl.SHIPPED_CHECKPOINT, device="tpu"), V, "device",
         "load_bilm: unknown device"),
    case(lambda c: bl.glove_init(c.bilm, {}), T, "keyed_vectors", "glove_init: a dict"),
    case(lambda c: bl.glove_features({}, [["a"]]), T, "keyed_vectors", "glove_features: a dict"),
    case(lambda c: bl.random_features([["a"]], seed=1.5), T, "seed", "random_features: seed"),
    case(lambda c: bl.ScalarMix(2, gamma=NAN), V, "gamma", "ScalarMix: gamma nan"),
    case(lambda c: bl.TokenTagger(1, 2, 2).fit(np.zeros((4, 2)), [0, 1, 0, 1], lr=INF), V, "lr",
         "TokenTagger.fit: lr inf"),
    case(lambda c: bl.TokenTagger(1, 2, 2).fit(np.zeros((4, 2)), [0, 1, 0, 1],
                                               weight_decay=-1),
         V, "weight_decay", "TokenTagger.fit: negative weight_decay"),
    case(lambda c: list(bl.length_sorted_batches([[2, 3]], 2, shuffle="yes")), T, "shuffle",
         "length_sorted_batches: shuffle str"),
    case(lambda c: bl.build_vocabulary([["a"]], min_count=np.int64(0)), V, "min_count",
         "build_vocabulary: numpy 0"),
    # ---------------------------------------------------------------- sample efficiency
    case(lambda c: sample_efficiency.balanced_subsample([0, 1], n=True, seed=0), T, "n",
         "balanced_subsample: n True"),
    case(lambda c: sample_efficiency.balanced_subsample([0, 1], n=2, seed=-1), V, "seed",
         "balanced_subsample: negative seed"),
    case(lambda c: sample_efficiency.balanced_subsample([], n=2, seed=0), V, "labels",
         "balanced_subsample: no labels"),
    case(lambda c: sample_efficiency.tfidf_classifier(C=0), V, "C", "tfidf_classifier: C 0"),
    case(lambda c: sample_efficiency.embedding_classifier(C="1"), T, "C",
         "embedding_classifier: C str"),
    case(lambda c: sample_efficiency.learning_curve(
        {"m": (sample_efficiency.tfidf_classifier, ["a"], ["b"])}, [0, 1], [0], [2], [0]),
        V, "X_train", "learning_curve: features not aligned"),
    case(lambda c: sample_efficiency.learning_curve({"m": ["make", [], []]}, [], [], [2], [0]),
         T, "models", "learning_curve: entry a list"),
    case(lambda c: sample_efficiency.learning_curve(
        {"m": (sample_efficiency.tfidf_classifier, ["a", "b"], ["b"])}, [0, 1], [0], [], [0]),
        V, "sizes", "learning_curve: no sizes"),
    case(lambda c: sample_efficiency.learning_curve(
        {"m": (sample_efficiency.tfidf_classifier, ["a", "b"], ["b"])}, [0, 1], [0], [2], [-1]),
        V, "seeds", "learning_curve: negative seed"),
    case(lambda c: sample_efficiency.summarize_curve("curve"), T, "curve",
         "summarize_curve: a str"),
    # ---------------------------------------------------------------- plotting and data
    case(lambda c: plotting.plot_learning_curves("table"), T, "table",
         "plot_learning_curves: a str"),
    case(lambda c: plotting.plot_learning_curves(c.curve_table, chance=1.5), V, "chance",
         "plot_learning_curves: chance 1.5"),
    case(lambda c: plotting.plot_learning_curves(c.curve_table, labels=["a"]), T, "labels",
         "plot_learning_curves: labels a list"),
    case(lambda c: data.email_text(b"Subject: hi"), T, "raw", "email_text: bytes"),
    case(lambda c: data.first_rows(None, True), T, "n", "first_rows: n True"),
]


@pytest.mark.parametrize("call, error, match", CASES)
def test_bad_argument_is_rejected_with_its_name(c, call, error, match):
    with pytest.raises(error, match=match):
        call(c)


def test_a_wrong_type_is_a_type_error_that_older_callers_catch_as_value_error():
    with pytest.raises(TypeError) as info:
        finetune.FineTuneConfig(batch_size=2.5)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ArgumentTypeError)
    assert str(info.value) == "batch_size must be a positive int, got 2.5"


def test_numpy_numbers_are_accepted_where_python_ones_are(c):
    cfg = finetune.FineTuneConfig(lr=np.float32(1e-4), batch_size=np.int64(8),
                                  epochs=np.int64(1), class_weights=np.array([1.0, 2.0]))
    assert cfg.batch_size == 8
    assert lora.lora_parameter_count(np.int64(4), np.int64(4), np.int64(2)) == 16
    assert [len(b) for b in hidden_states.length_sorted_batches([3, 1, 2], np.int64(2))] == [2, 1]
    states = hidden_states.hidden_states_by_layer(c.enc, c.tok, SENTS, [np.int64(5), 2],
                                                  batch_size=np.int64(1))
    assert states.shape == (7, 2, 384)
    assert finetune.encode_labels(np.array([1.0, 0.0])) == [1, 0]
    assert probing.majority_baseline(np.array([1, 1, 2]), [1, 2]) == 0.5


def test_add_lora_with_a_bad_alpha_leaves_the_model_untouched(c):
    model = fresh_copy(c.clf)
    with pytest.raises(ValueError, match="alpha"):
        lora.add_lora(model, ("query",), alpha=0)
    assert all(p.requires_grad for p in model.parameters()) and not lora.lora_layers(model)


@pytest.mark.parametrize("sentence, word", [
    ("The bank's new mobile app keeps crashing.", "bank's"),
    ("Banks raised their rates again.", "Banks"),
    ("THE BANK IS CLOSED TODAY.", "BANK"),
    ("We walked along both banks' muddy edges.", "banks"),
])
def test_sense_classifier_finds_inflections_and_possessives(c, sentence, word):
    words, index = c.senses._locate(sentence, "bank")
    assert words[index] == word
    assert c.senses.predict_sentence(sentence, "bank") in senses.SENSES
    example, similarity = c.senses.nearest(sentence, "bank")
    assert example.sense in senses.SENSES and math.isfinite(similarity)


def test_sense_classifier_prefers_the_word_itself_to_an_inflection(c):
    words, index = c.senses._locate("The banks and the bank agreed.", "bank")
    assert (words[index], index) == ("bank", 4)


def test_absent_target_names_what_was_looked_for_and_the_closest_words(c):
    with pytest.raises(ValueError) as info:
        c.senses.predict_sentence("The bnak approved my loan.", "bank")
    message = str(info.value)
    assert "target_word 'bank' does not occur" in message
    assert "'banks'" in message and "\"bank's\"" in message
    assert "closest words of the sentence are ['bnak'," in message
