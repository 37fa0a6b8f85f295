"""Scorers: each measures how well an explanation predicts its latent. Registered by name
in ``SCORERS``; prompt templates live in ``scorers/templates``."""

from scorers import detection as _detection  # noqa: F401  (registers "detection")
from scorers import fuzzing as _fuzzing  # noqa: F401  (registers "fuzz")
from scorers.base import SCORERS, Item, Scorer, ScoreResult, ScoringContext, YesNoScorer
from scorers.metrics import METRICS, binary_metrics

__all__ = [
    "METRICS",
    "SCORERS",
    "Item",
    "ScoreResult",
    "Scorer",
    "ScoringContext",
    "YesNoScorer",
    "binary_metrics",
]
