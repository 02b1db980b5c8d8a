"""tlbook: the companion package of the book "Transfer Learning for NLP"."""

__version__ = "0.1.0"

from .runtime import setup  # noqa: E402

__all__ = ["setup", "__version__"]
