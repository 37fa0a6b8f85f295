"""What earlier steps left on the store, as the later steps read it: the job's plan, a
batch's folder and latents, the replay store, the steps not marked done yet (markers named by
:mod:`autointerp.service.jobs`)."""

from __future__ import annotations

from collections.abc import Callable

from autointerp.errors import AutointerpError
from autointerp.service.jobs import JobStore
from autointerp.service.stepdata import JobPlan
from autointerp.store.files import StorePath

__all__ = [
    "NotReadyError",
    "batch_of",
    "job_plan",
    "missing",
    "replay_root",
]


class NotReadyError(AutointerpError):
    """A step ran before the steps it needs finished (its task retries later)."""


def missing(store: JobStore, job_id: str, marker: Callable[[int], str], n: int) -> list[int]:
    """The indices below ``n`` whose step (``marker``: one of the ``*_step`` functions) has
    no marker yet."""
    return [i for i in range(n) if not store.is_marked(job_id, marker(i))]


def job_plan(store: JobStore, job_id: str) -> JobPlan:
    """The job's plan (``NotReadyError`` before the 'plan' step wrote it)."""
    info = store.plan(job_id)
    if info is None:
        raise NotReadyError(f"job {job_id} has no plan yet")
    return info


def batch_of(store: JobStore, job_id: str, index: int) -> tuple[StorePath, list[int]]:
    """A batch's folder and latents (``NotReadyError`` before 'merge_stats' planned it)."""
    batches = job_plan(store, job_id).get("batches")
    if batches is None or not 0 <= index < len(batches):
        raise NotReadyError(f"job {job_id}: no batch {index} in its plan")
    return store.paths(job_id).batch(index), [int(x) for x in batches[index]]


def replay_root(store: JobStore, job_id: str) -> StorePath:
    """The job's replay-once store (:mod:`autointerp.cache.replayed`)."""
    return store.paths(job_id).root / "replay"
