"""Scorers: each measures how well an explanation predicts its latent. Registered by name
in ``SCORERS``; prompt templates live in ``scorers/templates``."""

from scorers import detection as _detection  # noqa: F401  (registers "detection")
from scorers import embedding as _embedding  # noqa: F401  (registers "embedding")
from scorers import fuzzing as _fuzzing  # noqa: F401  (registers "fuzz")
from scorers import intervention as _intervention  # noqa: F401  (registers "intervention")
from scorers import intruder as _intruder  # noqa: F401  (registers "intruder")
from scorers import simulation as _simulation  # noqa: F401  (registers "simulation")
from scorers import surprisal as _surprisal  # noqa: F401  (registers "surprisal")
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
