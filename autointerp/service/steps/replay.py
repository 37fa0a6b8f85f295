"""Replay once: the windows every batch needs (planned by ``merge_stats``) go through the
model once, in shards, whatever the number of latents; each batch's ``sample`` step reads its
activations from that store (:mod:`autointerp.cache.replayed`)."""

from __future__ import annotations

from autointerp.cache.replayed import load_windows, shard_path, write_shard
from autointerp.cache.shards import shard_ranges
from autointerp.service.jobs import JobStore, replay_step
from autointerp.service.stepdata import BatchesResult, ReplayPlan, ReplayShardResult
from autointerp.service.steps.loaded import prepared
from autointerp.service.steps.staged import NotReadyError, job_plan, missing, replay_root

__all__ = ["replay_plan", "replay_shard", "replay_shards", "replayed"]


def replay_plan(store: JobStore, job_id: str) -> ReplayPlan | None:
    """The job's replay plan: windows replayed, windows in the corpus, shards (None before
    the merge, or for a job planned before replay-once)."""
    return job_plan(store, job_id).get("replay") or None


def replay_shard(store: JobStore, job_id: str, index: int) -> ReplayShardResult:
    """Replay one shard of the job's needed windows once, for every batch's units (sparse
    activations on the store)."""
    step = replay_step(index)
    if store.is_marked(job_id, step):
        return {"replay": index, "skipped": True}
    info = job_plan(store, job_id)
    if "replay" not in info or "batches" not in info:
        raise NotReadyError(f"job {job_id}: no replay planned yet")
    prep = prepared(store, job_id)
    cfg = prep.cfg
    root = replay_root(store, job_id)
    windows = load_windows(root)
    ranges = shard_ranges(len(windows), cfg.cache.shard_windows)
    if not 0 <= index < len(ranges):
        raise NotReadyError(f"job {job_id}: no replay shard {index} in its plan")
    lo, hi = ranges[index]
    entries = write_shard(
        shard_path(root, index),
        prep.subject,
        prep.sae,
        prep.windows.tokens,
        windows[lo:hi],
        info["batches"],
        batch_size=cfg.cache.batch_size,
        progress=store.progress,
    )
    store.mark(job_id, step)
    return {"replay": index, "windows": hi - lo, "entries": entries}


def replay_shards(store: JobStore, job_id: str) -> int:
    """How many replay shards the job's plan has (0 before the merge)."""
    replay = job_plan(store, job_id).get("replay")
    return int(replay["n_shards"]) if replay else 0


def replayed(store: JobStore, job_id: str) -> BatchesResult:
    """Whether every replay shard of the job is done (``NotReadyError`` if not); the
    number of batches to start."""
    info = job_plan(store, job_id)
    not_done = missing(store, job_id, replay_step, replay_shards(store, job_id))
    if "batches" not in info or not_done:
        raise NotReadyError(f"job {job_id}: replay shards {not_done} not done yet")
    return {"n_batches": len(info["batches"])}
