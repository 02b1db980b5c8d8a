"""Chapter 4's strategies: one budget, one rate, one kind of head."""

import numpy as np
import pytest

from tlbook.data import first_rows, load_movie_sentiment
from tlbook.profiles import get_profile
from tlbook.sample_efficiency import CURVE_CS
from tlbook.strategies import STRATEGIES, frozen_baseline, strategy_config


def test_the_fine_tuned_strategies_differ_only_in_their_device():
    sizes = get_profile("lite").sizes
    configs = {s: strategy_config(s, 1e-4, seed=3, n_train=800, n_layers=6, profile="lite")
               for s in STRATEGIES[1:]}
    shared = {(c.lr, c.epochs, c.batch_size, c.warmup_ratio, c.early_stopping_patience,
               c.evals_per_epoch, c.seed) for c in configs.values()}
    assert shared == {(1e-4, sizes["finetune_epochs"], sizes["finetune_batch_size"], 0.1, 2, 2,
                       3)}
    full, gradual, disc = configs.values()
    assert not full.gradual_unfreezing and full.layer_lr_decay is None
    assert disc.layer_lr_decay == 0.8 and not disc.gradual_unfreezing
    # 800 / 16 = 50 steps per epoch, 3 epochs: 150 steps; 7 blocks (6 layers and the
    # embeddings) in the first half: one more every 150 // 14 = 10 steps
    assert gradual.gradual_unfreezing and gradual.unfreeze_every == 10
    with pytest.raises(ValueError, match="strategy"):
        strategy_config("feature extraction", 1e-4, 0, 800, 6)


def test_the_frozen_baseline_chooses_C_on_validation_and_scores_each_sentence():
    ds = load_movie_sentiment("lite")
    train, val, test = (first_rows(ds[s], n) for s, n in
                        (("train", 64), ("validation", 32), ("test", 40)))
    out = frozen_baseline(train, val, test, profile="lite")
    assert out["C"] in CURVE_CS and out["trainable"] == 384 + 1
    assert out["correct"].shape == (40,)
    assert out["accuracy"] == pytest.approx(np.mean(out["correct"]))
    assert 0.5 < out["accuracy"] <= 1.0  # pretrained features beat chance on 40 sentences
