"""What to read from the store: one frozen query object per kind of row, validated once.

The ``autointerp scores`` command, the HTTP endpoints ``/scores`` and ``/latents`` and the
store's own functions (:func:`~autointerp.store.search.search_scores`,
:func:`~autointerp.store.search.search_latents`, :func:`~autointerp.store.search.scores_page`)
all take a :class:`ScoreQuery` or a :class:`LatentQuery`; a bad value raises
:class:`~autointerp.errors.UserInputError` naming the field when the object is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from autointerp.errors import UserInputError
from autointerp.store.schema import METRICS

__all__ = ["LATENT_SORTS", "SCORE_SORTS", "LatentQuery", "ScoreQuery"]

SCORE_SORTS = ("key", "score", "latent", "run_id", "checkpoint", "scorer", "created_at", *METRICS)
"""Sort keys of score rows ('key' = run, latent, explanation, scorer)."""
LATENT_SORTS = ("key", "score", "latent", "run_id", "checkpoint", "created_at")
"""Sort keys of latent rows ('key' = run, latent, explanation)."""


@dataclass(frozen=True, kw_only=True)
class _Query:
    """The filters, order and page shared by both kinds of query."""

    checkpoint: str | None = None
    """Only this checkpoint: a prefix of its ``sae_sha256``."""
    run_id: str | None = None
    """Only this run."""
    latent: int | None = None
    """Only this latent."""
    scorer: str | None = None
    """Only this scorer (see each query for what it means there)."""
    min_score: float | None = None
    """Only rows whose ``score`` (a primary metric: AUROC, or the scorer's own, e.g.
    correlation for simulation) is at least this."""
    contains: str | None = None
    """Only explanations containing this text (case-insensitive)."""
    sort: str = "key"
    """Sort by this: one of the query's ``SORTS``."""
    descending: bool = False
    """Sort in descending order."""
    limit: int | None = 50
    """At most this many rows; ``None``: every row."""
    offset: int = 0
    """Skip this many rows first."""

    SORTS: ClassVar[tuple[str, ...]] = ("key",)

    def __post_init__(self) -> None:
        if self.sort not in self.SORTS:
            raise UserInputError(f"sort {self.sort!r}: expected one of {', '.join(self.SORTS)}")
        if self.offset < 0:
            raise UserInputError(f"offset {self.offset}: expected >= 0")
        if self.limit is not None and self.limit < 0:
            raise UserInputError(f"limit {self.limit}: expected >= 0")
        if self.min_score is not None:
            try:
                object.__setattr__(self, "min_score", float(self.min_score))
            except (TypeError, ValueError):
                raise UserInputError(f"min_score {self.min_score!r}: expected a number") from None


@dataclass(frozen=True, kw_only=True)
class ScoreQuery(_Query):
    """Score rows (one per run, latent, explanation, scorer): ``scorer`` keeps that
    scorer's rows; ``score`` is each row's primary metric."""

    SORTS: ClassVar[tuple[str, ...]] = SCORE_SORTS


@dataclass(frozen=True, kw_only=True)
class LatentQuery(_Query):
    """Explained latents (one row per run, latent, explanation): with ``scorer``, only the
    rows it scored, and ``score`` is its primary metric; else ``score`` is the highest
    primary metric of the row's scorers."""

    SORTS: ClassVar[tuple[str, ...]] = LATENT_SORTS
