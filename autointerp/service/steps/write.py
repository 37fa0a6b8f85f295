"""The last steps: a batch's staged results become its Parquet tables (``write_batch``);
once every batch is written, the job's tables and manifest (``finalise``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from autointerp import __version__
from autointerp.cache.stats import LatentStats
from autointerp.explain import EXPLAINERS
from autointerp.llm.pricing import price_for
from autointerp.service import codec
from autointerp.service.jobs import JobStore, batch_step, write_json
from autointerp.service.settings import get_settings, results_root
from autointerp.service.stepdata import FinaliseResult, JobPlan, ManifestExtra, WriteResult
from autointerp.service.steps.staged import NotReadyError, batch_of, job_plan, missing
from autointerp.store import RunWriter
from autointerp.store.files import read_parquet, write_parquet
from autointerp.store.frames import (
    examples_frame,
    explanations_frame,
    judgements_frame,
    latents_frame,
    scores_frame,
)
from autointerp.store.writer import to_table
from scorers import SCORERS

__all__ = ["BATCH_TABLES", "finalise", "write_batch"]

BATCH_TABLES = ("examples", "explanations", "scores", "judgements")
"""The tables each batch writes (``latents`` is written once, by ``finalise``)."""


def _provenance(store: JobStore, job_id: str) -> tuple[JobPlan, dict[str, Any]]:
    info = job_plan(store, job_id)
    prov = {**info["provenance"], "created_at": pd.Timestamp(info["created_at"])}
    return info, prov


def write_batch(store: JobStore, job_id: str, index: int) -> WriteResult:
    """Turn a batch's staged results into its Parquet tables (validated against the
    schemas); returns whether every batch of the job is now written."""
    folder, _ = batch_of(store, job_id, index)
    cfg = store.config(job_id)
    step = batch_step(index)
    if not store.is_marked(job_id, step):
        names = list(cfg.scoring.scorers)
        unscored = [s for s in names if not (folder / f"scores-{s}.json").is_file()]
        if unscored:
            raise NotReadyError(f"job {job_id}: batch {index} lacks scores of {unscored}")
        info, prov = _provenance(store, job_id)
        records, _ = codec.load_records(codec.load(folder / "records.json"))
        explanations = codec.load_explanations(codec.load(folder / "explanations.json"))
        results = [
            r for s in names for r in codec.load_scores(codec.load(folder / f"scores-{s}.json"))
        ]
        llm_prov = {**prov, "llm": info["llm"]}
        versions = {n: SCORERS.get(n).prompt_version for n in names}
        price = price_for(cfg.llm, info["llm"])
        version = EXPLAINERS.get(cfg.explain.explainer).prompt_version
        frames = {
            "examples": examples_frame(records, prov),
            "explanations": explanations_frame(explanations, llm_prov, version, price=price),
            "scores": scores_frame(results, llm_prov, versions, price=price),
            "judgements": judgements_frame(results, llm_prov, versions),
        }
        for name, df in frames.items():
            write_parquet(folder / "tables" / f"{name}.parquet", to_table(name, df))
        store.mark(job_id, step)
    n_batches = len(job_plan(store, job_id).get("batches", []))
    return {"batch": index, "complete": not missing(store, job_id, batch_step, n_batches)}


def finalise(store: JobStore, job_id: str, extra: ManifestExtra | None = None) -> FinaliseResult:
    """Write the job's tables (one file per table, named by the run id) and its manifest
    (``extra`` added to it); mark the job finished."""
    paths = store.paths(job_id)
    if paths.finished.is_file():
        return {"skipped": True}
    info, prov = _provenance(store, job_id)
    batches = info.get("batches") or []
    unwritten = missing(store, job_id, batch_step, len(batches))
    if unwritten:
        raise NotReadyError(f"job {job_id}: batches {unwritten} not written yet")
    cfg = store.config(job_id)
    stats = LatentStats.load(paths.root / "stats.npz")
    samples = []
    for i in range(len(batches)):
        _, batch_samples = codec.load_records(codec.load(paths.batch(i) / "records.json"))
        samples += batch_samples
    out = store.results  # the in-process run's --out
    if out is None:  # a service job: its --out (submit --out), else the service's root
        out = store.record(job_id).get("out") or results_root(get_settings())
    writer = RunWriter(out, info["run_id"])
    writer.add("latents", latents_frame(stats, samples, prov, int(info["d_sae"])))
    for name in BATCH_TABLES:
        parts = [paths.batch(i) / "tables" / f"{name}.parquet" for i in range(len(batches))]
        frames = [read_parquet(p).to_pandas() for p in parts]
        if frames:
            writer.add(name, pd.concat(frames, ignore_index=True))
        else:
            writer.add(name, pd.DataFrame())
    manifest = {
        "run_id": info["run_id"],
        "job_id": job_id,
        "created_at": info["created_at"],
        "autointerp_version": __version__,
        "config": cfg.to_dict(),
        "inputs": info["inputs"],
        "plan": {"n_shards": info["n_shards"], "n_batches": len(batches)},
        **(extra or {}),
    }
    files = writer.commit(manifest)
    write_json(
        paths.finished,
        {
            "at": datetime.now(UTC).isoformat(),
            "run_id": info["run_id"],
            "files": files,
            "failed_rows": store.repairs(job_id),  # counted once, read by status
        },
    )
    return {"run_id": info["run_id"], "latents": sum(len(b) for b in batches)}
