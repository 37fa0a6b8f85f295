"""Submitting a job: record it on the store, then start its task graph with the 'plan'
task (which fans out into the rest; see :mod:`autointerp.tasks.tasks`)."""

from __future__ import annotations

from autointerp.config import RunConfig
from autointerp.errors import ServiceUnavailableError
from autointerp.service.jobs import JobStore
from autointerp.service.settings import ServiceSettings, get_settings
from autointerp.tasks.routing import load_routes

__all__ = ["submit"]


def submit(
    cfg: RunConfig, origin: str = "cli", settings: ServiceSettings | None = None
) -> tuple[str, bool]:
    """Record and enqueue a job; returns (job id, whether the job is new). A finished job
    is enqueued again only when it has failed rows (explanations whose LLM call failed,
    score rows with failed judgements: the steps redo those alone and rewrite the tables);
    any other resubmission restarts the graph, whose steps skip what is on the store."""
    settings = settings or get_settings()
    _ping(settings.redis_url)
    store = JobStore(settings.store)
    job_id, new = store.create(cfg, origin, settings.batch_size)
    if store.paths(job_id).finished.is_file() and not store.reopen_failed(job_id):
        return job_id, new  # finished, nothing to repair
    from autointerp.tasks.app import app
    from autointerp.tasks.tasks import plan_job

    # The broker named by ``settings`` (not the one the app read at import time).
    with app.connection_for_write(settings.redis_url) as conn:
        plan_job.apply_async((job_id,), queue=load_routes()["plan"], connection=conn)
    return job_id, new


def _ping(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        raise ServiceUnavailableError(
            f"cannot reach Redis at {_redact(url)} ({exc}); start it (autointerp up) or set "
            "AUTOINTERP_REDIS_URL"
        ) from exc


def _redact(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if sep else url
