"""The first steps: check the inputs and plan the job, cache the corpus in shards, merge the
shards' statistics and plan the batches and the replay."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from autointerp.cache.replayed import save_windows
from autointerp.cache.shards import cached_stats, compute_shards, shard_ranges
from autointerp.cache.stats import LatentStats
from autointerp.pipeline import Prepared
from autointerp.sampling.build import needed_windows
from autointerp.service.jobs import JobStore, shard_step, write_json
from autointerp.service.stepdata import JobPlan, MergeResult, PlanResult, ShardResult
from autointerp.service.steps.loaded import prepared
from autointerp.service.steps.staged import NotReadyError, job_plan, missing, replay_root
from autointerp.stages import run_inputs, select_samples

__all__ = ["cache_shard", "merge_stats", "plan"]


def plan(store: JobStore, job_id: str) -> PlanResult:
    """Load and check every input (a bad checkpoint or latent range fails the job here);
    write the job's plan: run id, provenance and the number of corpus shards."""
    old = store.plan(job_id)
    if old is not None:
        return {"n_shards": old["n_shards"], "skipped": True}
    prep = prepared(store, job_id)
    cfg = prep.cfg
    n_shards = len(shard_ranges(prep.windows.n_windows, cfg.cache.shard_windows))
    info: JobPlan = {
        "job_id": job_id,
        "run_id": prep.run_id,
        "n_shards": n_shards,
        "created_at": datetime.now(UTC).isoformat(),
        "provenance": {
            "run_id": prep.run_id,
            "model": prep.subject.name,
            "sae_sha256": prep.sae.info.sha256,
            "hook_name": prep.sae.info.hook_name,
            "seed": cfg.seed,
        },
        "llm": prep.llm.name,
        "d_sae": prep.sae.d_sae,
        "n_units": prep.sae.n_units,
        "inputs": run_inputs(prep),
    }
    write_json(store.paths(job_id).plan, info)
    return {"n_shards": n_shards}


def cache_shard(store: JobStore, job_id: str, index: int) -> ShardResult:
    """Cache one shard of the corpus (activation statistics, saved on the store)."""
    step = shard_step(index)
    if store.is_marked(job_id, step):
        return {"shard": index, "skipped": True}
    prep = prepared(store, job_id)
    cfg = prep.cfg
    compute_shards(
        prep.subject,
        [prep.sae],
        prep.windows.tokens,
        prep.windows.fingerprint,
        cfg.cache,
        seed=cfg.seed,
        shards=[index],
        root=store.activations,
        progress=store.progress,
    )
    store.mark(job_id, step)
    return {"shard": index}


def merge_stats(store: JobStore, job_id: str, batch_size: int) -> MergeResult:
    """Merge the shards (exactly), choose the latents, split them into batches, and plan
    the replay: the union of the windows every batch needs, in shards of windows."""
    info = job_plan(store, job_id)
    if "batches" in info:
        return _merged(info, skipped=True)
    not_cached = missing(store, job_id, shard_step, info["n_shards"])
    if not_cached:
        raise NotReadyError(f"job {job_id}: shards {not_cached} not cached yet")
    prep = prepared(store, job_id)
    cfg = prep.cfg
    stats = _stats(store, prep)
    samples = select_samples(stats, prep)
    latents = [s.latent for s in samples]
    stats.save(store.paths(job_id).root / "stats.npz")
    batches = [latents[i : i + batch_size] for i in range(0, len(latents), batch_size)]
    by_latent = {s.latent: s for s in samples}
    union: set[int] = set()
    for batch in batches:  # each batch's needs, as its sample step will compute them
        needs = needed_windows(
            prep.sae,
            stats,
            [by_latent[u] for u in batch],
            cfg.sampling,
            cfg.seed,
            prep.windows.n_windows,
        )
        union.update(needs.windows.tolist())
    windows = np.asarray(sorted(union), dtype=np.int64)
    save_windows(replay_root(store, job_id), windows)
    info["replay"] = {
        "windows": len(windows),
        "corpus_windows": prep.windows.n_windows,
        "n_shards": len(shard_ranges(len(windows), cfg.cache.shard_windows)),
    }
    info["batches"] = batches
    write_json(store.paths(job_id).plan, info)
    return {**_merged(info), "n_latents": len(latents)}


def _stats(store: JobStore, prep: Prepared) -> LatentStats:
    cfg = prep.cfg
    (stats,) = cached_stats(
        prep.subject,
        [prep.sae],
        prep.windows.tokens,
        prep.windows.fingerprint,
        cfg.cache,
        seed=cfg.seed,
        root=store.activations,
        progress=store.progress,
    )
    return stats


def _merged(info: JobPlan, skipped: bool = False) -> MergeResult:
    replay = info.get("replay")
    out: MergeResult = {
        "n_batches": len(info.get("batches", [])),
        "n_replay": int(replay["n_shards"]) if replay else 0,
    }
    if skipped:
        out["skipped"] = True
    return out
