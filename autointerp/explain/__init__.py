"""Explainers, registered by name; prompt templates live in ``templates/``."""

from autointerp.explain import default as _default  # noqa: F401  (registers "default")
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.parse import parse_explanation

__all__ = ["EXPLAINERS", "ExplainContext", "Explainer", "parse_explanation"]
