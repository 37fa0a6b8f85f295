"""Explainers, registered by name; prompt templates live in ``templates/``."""

from autointerp.explain import best_of_n as _best_of_n  # noqa: F401  (registers "best_of_n")
from autointerp.explain import contrastive as _contrastive  # noqa: F401  (registers "contrastive")
from autointerp.explain import default as _default  # noqa: F401  (registers "default")
from autointerp.explain import grounded as _grounded  # noqa: F401  (registers "grounded", "stats")
from autointerp.explain import output as _output  # noqa: F401  (registers "output")
from autointerp.explain import token_pairs as _token_pairs  # noqa: F401  (registers "token_pairs")
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.parse import parse_explanation

__all__ = ["EXPLAINERS", "ExplainContext", "Explainer", "parse_explanation"]
