"""Which queue each task goes to. The defaults below equal ``queue/routing.toml``; a file
named by ``AUTOINTERP_ROUTING_FILE`` replaces them (e.g. to put LLM scoring on the model
workers of a single-GPU machine)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from autointerp.errors import ConfigError

__all__ = ["DEFAULT_ROUTES", "STEPS", "load_routes", "queue_for"]

STEPS = (
    "plan",
    "cache_shard",
    "merge_stats",
    "sample",
    "explain",
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
    "sample": "model",
    "explain": "llm",
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
