"""Job records on shared storage: what was submitted, how far it got, whether it was cancelled.

Everything about a job lives in files under ``<store>/jobs/<job_id>/`` so that any worker,
the API and the CLI see the same state, and so that a Redis restart loses nothing::

    job.json              the submitted run config, origin and submission time
    plan.json             written by the 'plan' step: run id, shard count, latent batches
    done/shard-00003      one marker per finished step (shards, batches)
    batches/00003/        staged results of one latent batch (records, explanations,
                          one file per scorer, the batch's tables)
    activations/          the corpus shards' statistics (unless the store says elsewhere)
    cancelled             present once the job is cancelled
    error.json            present when a step failed for good (the message names the input)
    finished.json         present once the job's tables are written

The job id is a hash of the run config, so submitting the same config again names the same
job: its finished steps are skipped and only missing latents are worked on, and rows that
failed (explanations with status ``llm_error``, score rows ``partial`` or ``failed``) are
redone (:meth:`JobStore.repairs` counts them). ``autointerp run`` keeps its jobs the same way
under ``<out>/.autointerp/``, so a rerun resumes and repairs too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autointerp.config import RunConfig
from autointerp.errors import ConfigError, UserInputError
from autointerp.inputs import parse_latents
from autointerp.service.stepdata import JobPlan, JobStatus
from autointerp.statuses import ExplanationStatus, JobState, ScoreStatus
from autointerp.store.files import (
    RemotePath,
    StorePath,
    glob,
    read_json,
    store_path,
    write_json,
)

__all__ = [
    "JobNotFoundError",
    "JobStore",
    "batch_step",
    "job_id_for",
    "replay_step",
    "shard_step",
    "write_json",
]


class JobNotFoundError(UserInputError):
    """No job with this id exists in the store."""


def job_id_for(cfg: RunConfig) -> str:
    """The job id of a run config (stable: the same config is the same job)."""
    return f"j{cfg.fingerprint()[:15]}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class JobPaths:
    root: StorePath

    @property
    def job(self) -> StorePath:
        return self.root / "job.json"

    @property
    def plan(self) -> StorePath:
        return self.root / "plan.json"

    @property
    def cancelled(self) -> StorePath:
        return self.root / "cancelled"

    @property
    def error(self) -> StorePath:
        return self.root / "error.json"

    @property
    def finished(self) -> StorePath:
        return self.root / "finished.json"

    def marker(self, step: str) -> StorePath:
        return self.root / "done" / step

    def batch(self, index: int) -> StorePath:
        return self.root / "batches" / f"{index:05d}"


def shard_step(index: int) -> str:
    """The marker of a cached corpus shard."""
    return f"shard-{index:05d}"


def replay_step(index: int) -> str:
    """The marker of a replayed shard of the needed windows."""
    return f"replay-{index:05d}"


def batch_step(index: int) -> str:
    """The marker of a batch whose tables are written."""
    return f"batch-{index:05d}"


REDO_EXPLANATIONS = (ExplanationStatus.LLM_ERROR,)
"""Explanation statuses a rerun redoes (the LLM call failed; an unparsable reply is an
answer, kept)."""
REDO_SCORES = (ScoreStatus.PARTIAL, ScoreStatus.FAILED)
"""Score statuses a rerun redoes (some or all judgements failed)."""


class JobStore:
    """Job records under ``<root>/jobs``; ``root`` is the service's store, a local path or
    an fsspec URL (``s3://bucket/prefix``: every file of a job is then read and written
    through fsspec, see :mod:`autointerp.store.files`).

    ``results``: where finished jobs write their tables (default: the service settings'
    results root); ``activations``: where corpus shards are cached (default:
    ``<root>/activations``); ``progress``: whether steps show progress bars (the in-process
    run does, workers do not)."""

    def __init__(
        self,
        root: Path | str | RemotePath,
        *,
        results: Path | str | None = None,
        activations: StorePath | None = None,
        progress: bool = False,
    ) -> None:
        self.root = store_path(root)
        self.results = results
        self.activations = activations if activations is not None else self.root / "activations"
        self.progress = progress

    def paths(self, job_id: str) -> JobPaths:
        if not job_id or not all(c.isalnum() or c in "-_" for c in job_id):
            raise JobNotFoundError(f"unknown job {job_id!r}")
        return JobPaths(self.root / "jobs" / job_id)

    def exists(self, job_id: str) -> bool:
        return self.paths(job_id).job.is_file()

    def create(self, cfg: RunConfig, origin: str = "cli", batch_size: int = 32) -> tuple[str, bool]:
        """Record a job for ``cfg``; returns (job id, whether it was new). A resubmitted job
        loses its cancelled/failed markers and keeps every finished step (and its batches).
        ``batch_size``: latents per sample/explain/score batch."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        check_config(cfg)
        job_id = job_id_for(cfg)
        paths = self.paths(job_id)
        new = not paths.job.is_file()
        if new:
            record = {
                "job_id": job_id,
                "config": cfg.to_dict(),
                "origin": origin,
                "batch_size": batch_size,
                "submitted_at": _now(),
            }
            write_json(paths.job, record)
        else:
            record = self.record(job_id)
            record["resubmitted_at"] = _now()
            write_json(paths.job, record)
        paths.cancelled.unlink(missing_ok=True)
        paths.error.unlink(missing_ok=True)
        return job_id, new

    def record(self, job_id: str) -> dict[str, Any]:
        paths = self.paths(job_id)
        if not paths.job.is_file():
            raise JobNotFoundError(f"unknown job {job_id!r} (no {paths.job})")
        data: dict[str, Any] = read_json(paths.job)
        return data

    def config(self, job_id: str) -> RunConfig:
        return RunConfig.from_dict(self.record(job_id)["config"])

    def plan(self, job_id: str) -> JobPlan | None:
        path = self.paths(job_id).plan
        if not path.is_file():
            return None
        info: JobPlan = read_json(path)
        return info

    def mark(self, job_id: str, step: str, info: dict[str, Any] | None = None) -> None:
        write_json(self.paths(job_id).marker(step), info or {"at": _now()})

    def is_marked(self, job_id: str, step: str) -> bool:
        return self.paths(job_id).marker(step).is_file()

    def unmark(self, job_id: str, step: str) -> None:
        self.paths(job_id).marker(step).unlink(missing_ok=True)

    def reopen_batch(self, job_id: str, index: int) -> None:
        """A batch's staged rows changed (a repair): its tables and the job's are stale."""
        self.unmark(job_id, batch_step(index))
        self.paths(job_id).finished.unlink(missing_ok=True)

    def repairs(self, job_id: str) -> dict[str, int]:
        """Staged rows a rerun would redo: explanations whose LLM call failed and score rows
        with failed judgements (counted from the batches' files alone)."""
        out = {"explanations": 0, "scores": 0}
        for counts in self._failed_rows(job_id).values():
            out["explanations"] += counts[0]
            out["scores"] += counts[1]
        return out

    def reopen_failed(self, job_id: str) -> list[int]:
        """Reopen every batch with failed rows (before a resubmission repairs them, so the
        job reads as running and is finalised only after all of them are rewritten)."""
        failed = [i for i, counts in self._failed_rows(job_id).items() if any(counts)]
        for index in failed:
            self.reopen_batch(job_id, index)
        return failed

    def _failed_rows(self, job_id: str) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        for folder in glob(self.paths(job_id).root / "batches", "*"):
            n_expl = n_scores = 0
            expl = folder / "explanations.json"
            if expl.is_file():
                n_expl = sum(r.get("status") in REDO_EXPLANATIONS for r in read_json(expl))
            for path in folder.glob("scores-*.json"):
                n_scores += sum(r.get("status") in REDO_SCORES for r in read_json(path))
            out[int(folder.name)] = (n_expl, n_scores)
        return out

    def cancel(self, job_id: str) -> JobStatus:
        paths = self.paths(job_id)
        if not paths.job.is_file():
            raise JobNotFoundError(f"unknown job {job_id!r}")
        if not paths.finished.is_file():
            write_json(paths.cancelled, {"at": _now()})
        return self.status(job_id)

    def is_cancelled(self, job_id: str) -> bool:
        return self.paths(job_id).cancelled.is_file()

    def fail(self, job_id: str, step: str, error: BaseException) -> None:
        write_json(
            self.paths(job_id).error,
            {"step": step, "error": f"{type(error).__name__}: {error}", "at": _now()},
        )

    def status(self, job_id: str) -> JobStatus:
        """State and progress of a job, from the files alone."""
        record = self.record(job_id)
        paths = self.paths(job_id)
        plan = self.plan(job_id)
        done = {p.name for p in (paths.root / "done").glob("*")}
        batches: list[list[int]] = plan.get("batches", []) if plan else []
        batches_done = [i for i in range(len(batches)) if batch_step(i) in done]
        chosen = plan is not None and "batches" in plan
        finished: dict[str, Any] | None = None
        error: dict[str, Any] | None = None
        if paths.finished.is_file():
            state, finished = JobState.DONE, read_json(paths.finished)
        elif paths.cancelled.is_file():
            state = JobState.CANCELLED
        elif paths.error.is_file():
            state, error = JobState.FAILED, read_json(paths.error)
        elif plan is None:
            state = JobState.QUEUED
        elif not chosen:
            state = JobState.CACHING
        else:
            state = JobState.RUNNING
        out = JobStatus(
            job_id=job_id,
            origin=record.get("origin"),
            submitted_at=record.get("submitted_at"),
            run_id=plan.get("run_id") if plan else None,
            shards_done=sum(1 for d in done if d.startswith("shard-")),
            n_shards=plan["n_shards"] if plan else None,
            batches_done=len(batches_done),
            n_batches=len(batches) if chosen else None,
            latents_done=sum(len(batches[i]) for i in batches_done),
            n_latents=sum(len(b) for b in batches) if chosen else None,
            error=error,
            state=state,
        )
        if finished is not None:
            out["finished"] = finished
            out["failed_rows"] = finished.get("failed_rows", {})
        return out

    def list_jobs(self) -> list[JobStatus]:
        """Every job's status, newest submission first."""
        folder = self.root / "jobs"
        ids = sorted(p.name for p in folder.glob("*") if (p / "job.json").is_file())
        rows = [self.status(i) for i in ids]
        return sorted(rows, key=lambda r: str(r.get("submitted_at")), reverse=True)


def check_latents_syntax(spec: str) -> None:
    """The form of a latent selection, before the SAE's size is known (the 'plan' step
    checks the range against the checkpoint)."""
    where = f"latents {spec!r}"
    text = spec.strip()
    if ":" in text and not text.startswith("live:"):
        a, b = (x.strip() for x in text.split(":", 1))
        if not all(x.isdigit() for x in (a, b) if x):
            raise ConfigError(f"{where}: expected 'A:B' with non-negative integers A < B")
        if a and b and int(a) >= int(b):
            raise ConfigError(f"{where}: A:B needs A < B (B is exclusive)")
        return
    parse_latents(spec, 1 << 62)  # syntax only: no index is that large


def check_config(cfg: RunConfig) -> None:
    """The checks a client can make without loading anything (the 'plan' step checks the
    rest: checkpoint, model, corpus, latent range against the SAE's size)."""
    check_latents_syntax(cfg.latents)
    if not cfg.scoring.scorers and cfg.explanations is None:
        raise ConfigError("scoring.scorers: give at least one scorer")
