"""Celery beat for schedule files (see :mod:`autointerp.service.schedules`).

Beat sends each fire as the ``autointerp.scheduled`` task with the entry itself as its
argument (workers need not see the schedule file). Missed and overlapping fires:

* beat keeps its last-run times in a state file (``<store>/beat/``): after downtime an entry
  that missed its slot runs once, not once per missed slot;
* a fire first takes a Redis lock per entry (``SET NX`` with a time limit): a fire that
  overlaps a running one of the same entry is skipped;
* jobs are named by their config and only jobs that do not exist yet are submitted, so even a
  second beat (a configuration mistake) never runs the same job twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Task
from celery.schedules import crontab

from autointerp.errors import ConfigError
from autointerp.service.jobs import JobStore, job_id_for
from autointerp.service.schedules import (
    Entry,
    compare_entry,
    export_entry,
    load_schedule,
    planned_jobs,
)
from autointerp.service.settings import get_settings, results_root
from autointerp.statuses import JobState
from autointerp.store.remote import is_url
from autointerp.tasks.app import app
from autointerp.tasks.graph import submit
from autointerp.tasks.routing import load_routes

__all__ = ["beat_schedule", "run_beat", "scheduled"]

RESTARTABLE = (JobState.FAILED, JobState.CANCELLED)
"""The states in which a fire submits an existing job again."""

log = logging.getLogger(__name__)
LOCK_SECONDS = 3600


@app.task(bind=True, name="autointerp.scheduled")
def scheduled(self: Task, entry: dict[str, Any]) -> dict[str, Any]:
    """One fire of a schedule entry: submit the jobs it stands for that do not exist yet."""
    import redis

    settings = get_settings()
    item = Entry(**entry)
    client = redis.Redis.from_url(settings.redis_url)
    lock = client.lock(f"autointerp:schedule:{item.name}", timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return {"entry": item.name, "skipped": "a fire of this entry is still running"}
    try:
        store = JobStore(settings.store)
        root = _local(settings.store, "schedule entries")
        if item.action == "compare":
            return compare_entry(item, root, results_root(settings))
        if item.action == "export":
            return export_entry(item, root, results_root(settings))
        submitted, existing = [], []
        for cfg in planned_jobs(item, root, results_root(settings)):
            job_id = job_id_for(cfg)
            if store.exists(job_id) and store.status(job_id)["state"] not in RESTARTABLE:
                existing.append(job_id)
                continue
            submitted.append(submit(cfg, origin=f"schedule:{item.name}", settings=settings)[0])
        log.info("schedule %s: submitted %s, existing %s", item.name, submitted, existing)
        return {"entry": item.name, "submitted": submitted, "existing": existing}
    finally:
        lock.release()


def _local(store: Path | str, what: str) -> Path:
    """The store as a local folder (schedules keep their files there)."""
    if is_url(store):
        raise ConfigError(
            f"{what} keep files in a local store; AUTOINTERP_STORE is the URL {store} "
            "(set AUTOINTERP_BEAT_STATE, or run beat with a local --store)"
        )
    return Path(store)


def _schedule_of(entry: Entry) -> Any:
    if entry.every is not None:
        return timedelta(seconds=entry.every)
    assert entry.cron is not None
    minute, hour, dom, month, dow = entry.cron.split()
    return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow)


def beat_schedule(entries: list[Entry]) -> dict[str, Any]:
    queue = load_routes()["scheduled"]
    return {
        e.name: {
            "task": "autointerp.scheduled",
            "schedule": _schedule_of(e),
            "args": (e.to_dict(),),
            "options": {"queue": queue},
        }
        for e in entries
    }


def run_beat(loglevel: str = "INFO") -> None:
    settings = get_settings()
    if settings.schedule_file is None:
        raise ConfigError("no schedule file: pass --schedule or set AUTOINTERP_SCHEDULE_FILE")
    entries = load_schedule(settings.schedule_file)
    app.conf.beat_schedule = beat_schedule(entries)
    state = settings.beat_state or _local(settings.store, "beat") / "beat" / "schedule-state"
    state.parent.mkdir(parents=True, exist_ok=True)
    app.Beat(schedule=str(state), loglevel=loglevel, max_interval=5).run()
