"""Which queue each task goes to. The defaults below equal ``queue/routing.toml``; a file
named by ``AUTOINTERP_ROUTING_FILE`` replaces them (e.g. to put LLM scoring on the model
workers of a single-GPU machine)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from autointerp.config import ExplainConfig
from autointerp.errors import ConfigError

__all__ = ["DEFAULT_ROUTES", "STEPS", "explain_step", "load_routes", "queue_for", "score_step"]

STEPS = (
    "plan",
    "cache_shard",
    "merge_stats",
    "replay_shard",
    "start_batches",
    "sample",
    "explain",
    "explain_model",
    "score_model",
    "score_llm",
    "write_batch",
    "finalise",
    "scheduled",
)
DEFAULT_ROUTES = {
    "plan": "model",
    "cache_shard": "model",
    "merge_stats": "model",
    "replay_shard": "model",
    "start_batches": "io",
    "sample": "model",
    "explain": "llm",
    "explain_model": "model",
    "score_model": "model",
    "score_llm": "llm",
    "write_batch": "io",
    "finalise": "io",
    "scheduled": "io",
}


def load_routes(path: Path | str | None = None) -> dict[str, str]:
    """The routing table: ``path`` (or ``AUTOINTERP_ROUTING_FILE``), else the defaults."""
    path = path or os.environ.get("AUTOINTERP_ROUTING_FILE")
    if not path:
        return dict(DEFAULT_ROUTES)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"routing file {path}: {exc}") from exc
    routes = data.get("routes")
    if not isinstance(routes, dict):
        raise ConfigError(f"routing file {path}: expected a [routes] table")
    unknown = sorted(set(routes) - set(STEPS))
    if unknown:
        raise ConfigError(f"routing file {path}: unknown steps {unknown}; known: {list(STEPS)}")
    bad = [k for k, v in routes.items() if not isinstance(v, str) or not v]
    if bad:
        raise ConfigError(f"routing file {path}: queue names must be strings ({bad})")
    return {**DEFAULT_ROUTES, **routes}


def queue_for(step: str, routes: dict[str, str] | None = None) -> str:
    return (routes or load_routes())[step]


def explain_step(explain: ExplainConfig, has_explanations: bool = False) -> str:
    """'explain_model' when explaining needs the subject model and the SAE (an explainer
    that declares ``needs_model``, such as ``output``, or candidates selected with the
    intervention scorer), else 'explain'; a job that scores the user's explanations makes no
    LLM call to explain."""
    from autointerp.explain import needs_model

    if has_explanations:
        return "explain"
    return "explain_model" if needs_model(explain) else "explain"


def score_step(scorer: str) -> str:
    """'score_model' for scorers that declare ``needs_model`` (intervention), else
    'score_llm'."""
    from scorers import SCORERS

    return "score_model" if SCORERS.get(scorer).needs_model else "score_llm"
