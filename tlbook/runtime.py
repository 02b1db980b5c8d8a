"""Runtime set-up: the one call at the top of every chapter.

:func:`setup` makes a chapter reproducible and quiet: it seeds every random
number generator, asks torch for deterministic algorithms, fixes the number of
CPU threads, silences progress bars and known warnings, prints tlbook's own
warnings (such as :class:`tlbook.finetune.TruncationWarning`) as one line
without file paths, sets the plot style, chooses the profile and the device,
and prints one short line that stays the same from run to run.
"""

from __future__ import annotations

import logging
import os
import random
import warnings
from dataclasses import dataclass

import numpy as np

from . import _validate as _v
from .profiles import Profile, set_profile

__all__ = ["setup", "Runtime", "seed_everything", "default_device", "COLORS"]

# One colour per concept, used by every figure in the book.
COLORS = {
    "pretrained": "#1f77b4",  # transfer / pretrained features
    "scratch": "#d62728",  # from-scratch baselines (TF-IDF, random init)
    # The two senses of "bank": Okabe-Ito sky blue and vermillion, told apart
    # with red-green colour blindness and from the other colours they share
    # figures with.
    "financial": "#56B4E9",  # "bank" as an institution
    "river": "#D55E00",  # "bank" as a river side
    "other": "#7f7f7f",
    "lora": "#9467bd",
    "full": "#ff7f0e",
    "control": "#bcbd22",
    "static": "#17becf",  # static word vectors (GloVe, word2vec) used as features
}


@dataclass(frozen=True)
class Runtime:
    """What :func:`setup` chose."""

    profile: Profile
    device: str
    seed: int
    threads: int

    def __str__(self) -> str:
        return (f"tlbook: profile={self.profile.name} device={self.device} "
                f"seed={self.seed} threads={self.threads}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices).

    Raises:
        ValueError: ``seed`` is not an int in [0, 2**32 - 1] (NumPy's range).
    """
    import torch

    _v.integer("seed", seed, 0, 2**32 - 1)

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, then ``"mps"``, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _quiet_libraries() -> None:
    # Progress bars write to stderr, which nbval compares: turn them off.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    for name in ("gensim", "smart_open", "accelerate", "peft", "matplotlib", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


_default_formatwarning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings of tlbook's own kinds read ``TruncationWarning: 387 of 400 ...``:
    no file path of the machine that ran the chapter, no source line. Other
    warnings keep Python's usual format."""
    if category.__module__.split(".")[0] == "tlbook":
        return f"{category.__name__}: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


def _plot_style() -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "figure.figsize": (6.4, 3.8),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 10,
        "legend.frameon": False,
        "svg.hashsalt": "tlbook",
    })
    try:  # inside IPython: PNG figures (small, identical across runs)
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:
        matplotlib.use("Agg")


def setup(seed: int = 0, threads: int = 2, profile: str | None = None,
          device: str | None = None, verbose: bool = True) -> Runtime:
    """Prepare a chapter: seeds, determinism, threads, quiet logs, plots.

    Args:
        seed: seed for Python, NumPy and torch.
        threads: CPU threads torch may use. A fixed number keeps floating
            point reductions, and so the printed results, identical across runs.
        profile: ``"lite"`` or ``"full"``; ``None`` reads ``$TLBOOK_PROFILE``
            and falls back to ``"lite"``.
        device: ``"cpu"``, ``"cuda"`` or ``"mps"``; ``None`` picks the best one
            available.
        verbose: print the one-line summary.

    Returns:
        The :class:`Runtime` that was set up.

    Raises:
        ValueError: ``seed`` not an int in [0, 2**32 - 1], ``threads`` not a
            positive int, ``profile`` unknown, ``device`` not one of
            ``None``, ``"cpu"``, ``"cuda"``, ``"mps"`` or not available on
            this machine (``"cuda"`` without a GPU).
        TypeError: ``verbose`` is not a bool, ``profile`` not a str.
    """
    _v.integer("seed", seed, 0, 2**32 - 1, rule="a non-negative int below 2**32")
    _v.positive_int("threads", threads)
    _v.one_of("device", device, (None, "cpu", "cuda", "mps"))
    _v.device("device", device)
    _v.boolean("verbose", verbose)
    _v.string("profile", profile, allow_none=True)
    # Must be set before the first cuBLAS call for deterministic GPU matmuls.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ["PYTHONHASHSEED"] = str(seed)
    chosen = set_profile(profile) if profile is not None else set_profile(
        os.environ.get("TLBOOK_PROFILE") or "lite")
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    _quiet_libraries()
    warnings.formatwarning = _format_warning
    _plot_style()
    seed_everything(seed)
    runtime = Runtime(profile=chosen, device=device or default_device(), seed=seed,
                      threads=threads)
    if verbose:
        print(runtime)
    return runtime
