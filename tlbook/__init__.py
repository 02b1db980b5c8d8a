"""tlbook: the companion package of the book "Transfer Learning for NLP"."""

import warnings

__version__ = "0.1.0"

# tqdm.auto warns on import in a notebook without ipywidgets; progress bars are
# off in the book anyway, and the warning would land in every chapter's stderr.
warnings.filterwarnings("ignore", message="IProgress not found")

from .runtime import setup  # noqa: E402

__all__ = ["setup", "__version__"]
