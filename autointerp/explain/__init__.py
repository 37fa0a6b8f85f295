"""Explainers, registered by name; prompt templates live in ``templates/``."""

from autointerp.config import ExplainConfig
from autointerp.explain import best_of_n as _best_of_n  # noqa: F401  (registers "best_of_n")
from autointerp.explain import contrastive as _contrastive  # noqa: F401  (registers "contrastive")
from autointerp.explain import default as _default  # noqa: F401  (registers "default")
from autointerp.explain import grounded as _grounded  # noqa: F401  (registers "grounded", "stats")
from autointerp.explain import output as _output  # noqa: F401  (registers "output")
from autointerp.explain import token_pairs as _token_pairs  # noqa: F401  (registers "token_pairs")
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.parse import parse_explanation

__all__ = [
    "EXPLAINERS",
    "ExplainContext",
    "Explainer",
    "explainer_names",
    "needs_model",
    "parse_explanation",
    "uses_logit_lens",
]


def explainer_names(cfg: ExplainConfig) -> list[str]:
    """The explainers a run with ``cfg`` uses: the configured one and, with refinement, the
    refine_with ones (best_of_n's candidate writer too)."""
    names = [cfg.explainer, *(cfg.refine_with if cfg.refine else ())]
    if "best_of_n" in names:
        names.append(cfg.candidate_explainer)
    return names


def needs_model(cfg: ExplainConfig) -> bool:
    """Whether explaining needs the subject model and the SAE: an explainer that runs them
    (``output``), or one that scores candidates with a scorer that does (best_of_n and
    refinement with the intervention scorer)."""
    from scorers import SCORERS

    names = explainer_names(cfg)
    if any(EXPLAINERS.get(n).needs_model for n in names):
        return True
    selects = cfg.refine or "best_of_n" in names
    return selects and SCORERS.get(cfg.selection_scorer).needs_model


def uses_logit_lens(cfg: ExplainConfig) -> bool:
    """Whether an explainer of the run reads the decoder's promoted tokens (the grounded
    explainer's facts), computed where the model is (the sample step)."""
    return any(EXPLAINERS.get(n).uses_logit_lens for n in explainer_names(cfg))
