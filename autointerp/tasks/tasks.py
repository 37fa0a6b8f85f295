"""The thin Celery tasks: each takes a job id (and a shard/batch index or a scorer), calls
one step of :mod:`autointerp.service.steps`, and returns the step's small typed dict
(:mod:`autointerp.service.stepdata`). The steps read and write the store; no tensor ever
goes through Redis.

Failure policy (one place, :func:`_step`):

* the job is cancelled or already failed -> the task does nothing;
* ``NotReadyError`` (a callback ran before its inputs were on the store, e.g. a redelivered
  task made a chord fire early) -> retry in a few seconds;
* ``LLMUnavailableError`` (the endpoint kept failing through the client's own retries) ->
  retry with exponential backoff, at most ``AUTOINTERP_LLM_RETRIES`` times, then fail the job;
* any other autointerp error (bad checkpoint, bad latent range, ...) or the soft time limit
  -> the job is marked failed with the message; unexpected exceptions also re-raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task, chain, chord, group
from celery.exceptions import SoftTimeLimitExceeded

from autointerp.errors import AutointerpError, LLMUnavailableError
from autointerp.service import steps
from autointerp.service.jobs import JobStore
from autointerp.service.settings import get_settings
from autointerp.service.stepdata import (
    BatchesResult,
    ExplainResult,
    FinaliseResult,
    Halted,
    MergeResult,
    PlanResult,
    ReplayShardResult,
    SampleResult,
    ScoreStepResult,
    ShardResult,
    WriteResult,
)
from autointerp.tasks.app import app
from autointerp.tasks.routing import explain_step, load_routes, score_step

__all__ = [
    "cache_shard",
    "explain",
    "finalise",
    "merge_stats",
    "plan_job",
    "replay_shard",
    "sample",
    "score",
    "start_batches",
    "write_batch",
]

NOT_READY_COUNTDOWN = 2.0
NOT_READY_RETRIES = 600
R = TypeVar("R")


def _store() -> JobStore:
    return JobStore(get_settings().store)


def _step(task: Task, name: str, job_id: str, fn: Callable[..., R], *args: Any) -> R | Halted:
    store = _store()
    if store.is_cancelled(job_id):
        return {"job_id": job_id, "cancelled": True}
    if store.paths(job_id).error.is_file():
        return {"job_id": job_id, "failed": True}
    try:
        return fn(store, job_id, *args)
    except steps.NotReadyError as exc:
        raise task.retry(
            exc=exc, countdown=NOT_READY_COUNTDOWN, max_retries=NOT_READY_RETRIES
        ) from exc
    except LLMUnavailableError as exc:
        settings = get_settings()
        if task.request.retries < settings.llm_retries:
            wait = min(
                settings.retry_backoff_max,
                settings.retry_backoff_base * 2**task.request.retries,
            )
            raise task.retry(exc=exc, countdown=wait, max_retries=settings.llm_retries) from exc
        store.fail(job_id, name, exc)
        return {"job_id": job_id, "failed": str(exc)}
    except (AutointerpError, SoftTimeLimitExceeded) as exc:
        store.fail(job_id, name, exc)
        return {"job_id": job_id, "failed": str(exc)}
    except Exception as exc:
        store.fail(job_id, name, exc)
        raise


def _on(step: str, sig: Any) -> Any:
    return sig.set(queue=load_routes()[step])


@app.task(bind=True, name="autointerp.plan")
def plan_job(self: Task, job_id: str) -> PlanResult | Halted:
    """Check the inputs, then cache the corpus shards (a group) and merge them (a chord)."""
    out = _step(self, "plan", job_id, steps.plan)
    if "n_shards" in out:
        shards = group(
            _on("cache_shard", cache_shard.si(job_id, i)) for i in range(out["n_shards"])
        )
        chord(shards, _on("merge_stats", merge_stats.si(job_id))).apply_async()
    return out


@app.task(bind=True, name="autointerp.cache_shard")
def cache_shard(self: Task, job_id: str, index: int) -> ShardResult | Halted:
    return _step(self, "cache_shard", job_id, steps.cache_shard, index)


@app.task(bind=True, name="autointerp.merge_stats")
def merge_stats(self: Task, job_id: str) -> MergeResult | Halted:
    """Merge the shards; replay the windows the batches need once (a group of replay shards)
    and then start the batches (the chord's callback)."""
    size = int(_store().record(job_id).get("batch_size") or get_settings().batch_size)
    out = _step(self, "merge_stats", job_id, steps.merge_stats, size)
    if "n_batches" not in out:
        return out
    if out["n_batches"] == 0:
        _on("finalise", finalise.si(job_id)).apply_async()
    elif out["n_replay"] == 0:
        _start_batches(job_id, out["n_batches"])
    else:
        shards = group(
            _on("replay_shard", replay_shard.si(job_id, i)) for i in range(out["n_replay"])
        )
        chord(shards, _on("start_batches", start_batches.si(job_id))).apply_async()
    return out


@app.task(bind=True, name="autointerp.replay_shard")
def replay_shard(self: Task, job_id: str, index: int) -> ReplayShardResult | Halted:
    return _step(self, "replay_shard", job_id, steps.replay_shard, index)


@app.task(bind=True, name="autointerp.start_batches")
def start_batches(self: Task, job_id: str) -> BatchesResult | Halted:
    """Start one chain per latent batch once every replay shard is on the store."""
    out = _step(self, "start_batches", job_id, steps.replayed)
    if "n_batches" in out:
        _start_batches(job_id, out["n_batches"])
    return out


def _start_batches(job_id: str, n_batches: int) -> None:
    """One chain per batch: sample -> explain -> the scorers in parallel (a group) -> write
    the batch (the chord's callback)."""
    cfg = _store().config(job_id)
    for b in range(n_batches):
        scorers = group(_on(score_step(s), score.si(job_id, b, s)) for s in cfg.scoring.scorers)
        chain(
            _on("sample", sample.si(job_id, b)),
            _on(explain_step(cfg.explain, bool(cfg.explanations)), explain.si(job_id, b)),
            chord(scorers, _on("write_batch", write_batch.si(job_id, b))),
        ).apply_async()


@app.task(bind=True, name="autointerp.sample")
def sample(self: Task, job_id: str, batch: int) -> SampleResult | Halted:
    return _step(self, "sample", job_id, steps.sample_batch, batch)


@app.task(bind=True, name="autointerp.explain")
def explain(self: Task, job_id: str, batch: int) -> ExplainResult | Halted:
    return _step(self, "explain", job_id, steps.explain_batch, batch)


@app.task(bind=True, name="autointerp.score")
def score(self: Task, job_id: str, batch: int, scorer: str) -> ScoreStepResult | Halted:
    return _step(self, f"score:{scorer}", job_id, steps.score_batch, batch, scorer)


@app.task(bind=True, name="autointerp.write_batch")
def write_batch(self: Task, job_id: str, batch: int) -> WriteResult | Halted:
    """Write the batch; the batch that completes the job starts ``finalise`` (idempotent,
    so two batches finishing at once start it twice and it writes once)."""
    out = _step(self, "write_batch", job_id, steps.write_batch, batch)
    if out.get("complete"):
        _on("finalise", finalise.si(job_id)).apply_async()
    return out


@app.task(bind=True, name="autointerp.finalise")
def finalise(self: Task, job_id: str) -> FinaliseResult | Halted:
    return _step(self, "finalise", job_id, steps.finalise)
