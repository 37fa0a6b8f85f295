"""The metric that summarises each scorer, its *primary metric* (AUROC unless the scorer
declares another), in one place that storage can read without importing the scorers.

A scorer declares it as its ``primary_metric`` class attribute; registering the scorer in
``scorers.SCORERS`` records it here (:func:`declare`). The pandas reads
(:func:`autointerp.store.query.primary_score`, the run summary) and the SQL queries
(:func:`autointerp.store.duck.score_sql`) all read it through :func:`primary_metrics`.

A process may read before any scorer was imported (``autointerp scores``, an API worker):
:func:`primary_metrics` first runs the loaders added with :func:`add_loader`, once. The
package adds one that imports the scorer plugins (``autointerp/__init__.py``), so neither
this module nor the store depends on ``scorers``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["DEFAULT", "add_loader", "declare", "primary_metric", "primary_metrics"]

DEFAULT = "auroc"
"""The primary metric of a scorer that declares none (or is not registered)."""

_METRICS: dict[str, str] = {}
_LOADERS: list[Callable[[], object]] = []
_LOCK = threading.Lock()
"""Guards ``_LOADERS``; never held while a loader runs (a loader imports modules, and a
module being imported in another thread may be calling :func:`declare`)."""


def declare(scorer: str, metric: str) -> None:
    """Record ``scorer``'s primary metric; declaring a different one for a name is an error."""
    known = _METRICS.setdefault(scorer, metric)
    if known != metric:
        raise ValueError(f"scorer {scorer!r} already has primary metric {known!r}, not {metric!r}")


def add_loader(loader: Callable[[], object]) -> None:
    """Run ``loader`` (which declares metrics, e.g. by importing plugins) before the next read."""
    with _LOCK:
        _LOADERS.append(loader)


def primary_metrics() -> dict[str, str]:
    """Every declared scorer -> its primary metric (after running any pending loaders)."""
    while True:
        with _LOCK:
            if not _LOADERS:
                return dict(_METRICS)
            loader = _LOADERS[0]
        loader()  # a failed loader stays, to be tried again on the next read
        with _LOCK:
            if _LOADERS and _LOADERS[0] is loader:
                _LOADERS.pop(0)


def primary_metric(scorer: str) -> str:
    """The metric that summarises ``scorer`` (:data:`DEFAULT` for an unknown scorer)."""
    return primary_metrics().get(scorer, DEFAULT)
