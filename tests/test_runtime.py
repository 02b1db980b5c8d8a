import numpy as np
import pytest
import torch

import tlbook
from tlbook import profiles
from tlbook.runtime import setup


def test_setup_is_reproducible(capsys, monkeypatch):
    monkeypatch.setattr(profiles, "_current", None)
    monkeypatch.delenv("TLBOOK_PROFILE", raising=False)
    rt = setup(seed=3, threads=1)
    a = (torch.rand(3), np.random.rand(2))
    setup(seed=3, threads=1)
    b = (torch.rand(3), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    assert rt.profile.name == "lite" and rt.device in ("cpu", "cuda", "mps")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f"tlbook: profile=lite device={rt.device} seed=3 threads=1"


def test_setup_profile_argument_sets_current(monkeypatch):
    monkeypatch.setattr(profiles, "_current", None)
    setup(profile="full", verbose=False)
    assert profiles.get_profile().name == "full"
    setup(profile="lite", verbose=False)
    assert profiles.get_profile().name == "lite"


@pytest.mark.parametrize("kwargs, word", [({"seed": -1}, "seed"), ({"threads": 0}, "threads"),
                                          ({"device": "tpu"}, "device"),
                                          ({"profile": "x"}, "profile")])
def test_setup_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        setup(verbose=False, **kwargs)


def test_package_exports_setup():
    assert tlbook.setup is setup


def test_setup_shortens_tlbook_warnings_only():
    import warnings

    from tlbook.finetune import tokenize
    from tlbook.models import load_encoder

    setup(verbose=False)
    _, tok = load_encoder("lite")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokenize(["word " * 50], tok, max_length=8)
        warnings.warn("not from tlbook", UserWarning)
    ours, other = (warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                   for w in caught)
    assert ours.startswith("TruncationWarning: 1 of 1 inputs are longer than 8 tokens")
    assert ours.count("\n") == 1  # no path of this machine, no source line
    assert other.startswith(__file__) and "UserWarning: not from tlbook" in other
