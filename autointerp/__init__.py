"""autointerp: explain and score the latents of sparse autoencoders automatically.

The public API is listed in ``__all__``; everything else is private and may change. Heavy
modules (torch, transformers) load on first use, so ``import autointerp`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from autointerp import primary_metrics as _primary_metrics

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "autointerp.config",
    "AutointerpError": "autointerp.errors",
    "load_sae": "autointerp.saes",
    "load_subject_model": "autointerp.models.loader",
    "run": "autointerp.pipeline",
    "read_table": "autointerp.store",
}

__all__ = [
    "AutointerpError",
    "RunConfig",
    "__version__",
    "load_sae",
    "load_subject_model",
    "read_table",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'autointerp' has no attribute {name!r}")


def _load_scorers() -> None:
    """Import the scorer plugins, which declare their primary metrics on registering."""
    importlib.import_module("scorers")


_primary_metrics.add_loader(_load_scorers)
