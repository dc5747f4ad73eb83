"""The custom generation method transformers loads from `breadcrumbs.hf.CUSTOM_GENERATE` (see that package)."""

from breadcrumbs.hf.decode import generate

__all__ = ["generate"]
