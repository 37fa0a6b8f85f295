"""The pipeline cut into the steps of the service's task graph, one plain function each.

Every step takes a store and a job id (and a shard/batch index or a scorer name), calls the
same library functions as ``autointerp run`` (:mod:`autointerp.pipeline`), writes its output
atomically to the job's folder and returns a small dict. A step whose output is already on
the store returns at once (``skipped``), so running a step twice — a redelivered task, a
resubmitted job — writes its rows once; the explain and score steps then redo only the rows
that failed (explanations with status ``llm_error``, score rows ``partial`` or ``failed``)
and reopen their batch, so a rerun repairs a finished job. Nothing here imports Celery:
the Celery tasks (:mod:`autointerp.tasks`) and ``autointerp run``
(:mod:`autointerp.service.inprocess`) drive the same steps.

    plan ─► cache_shard × n ─► merge_stats ─► replay_shard × m ─► per batch: sample ─►
        explain ─► score × scorers ─► write_batch ─► finalise

``merge_stats`` plans the replay: the union of the windows every batch needs, replayed once
in shards (``replay_shard``), so the replay costs at most one pass over the corpus whatever
the number of latents; each batch's ``sample`` reads its activations from that store.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from autointerp import __version__
from autointerp.cache.replayed import (
    ReplayReader,
    load_windows,
    save_windows,
    shard_path,
    write_shard,
)
from autointerp.cache.shards import cached_stats, compute_shards, shard_ranges
from autointerp.cache.stats import LatentStats
from autointerp.config import RunConfig
from autointerp.errors import AutointerpError, ConfigError
from autointerp.explain import EXPLAINERS, uses_logit_lens
from autointerp.explain.grounded import promoted_tokens
from autointerp.inputs import load_explanations, parse_latents
from autointerp.llm import LLM
from autointerp.llm.pricing import price_for
from autointerp.pipeline import (
    Inputs,
    Prepared,
    build_records,
    explanations_for,
    load_inputs,
    make_run_llm,
    prepare,
    run_inputs,
    score_all,
    select_samples,
    shares_subject,
)
from autointerp.records import Explanation
from autointerp.sampling import sample_latent
from autointerp.sampling.build import needed_windows
from autointerp.service import codec, warm
from autointerp.service.jobs import REDO_EXPLANATIONS, REDO_SCORES, JobStore, write_json
from autointerp.service.settings import get_settings, results_root
from autointerp.store import RunWriter
from autointerp.store.files import StorePath, read_parquet, write_parquet
from autointerp.store.frames import (
    examples_frame,
    explanations_frame,
    judgements_frame,
    latents_frame,
    scores_frame,
)
from autointerp.store.writer import to_table
from scorers import SCORERS, ScoreResult

__all__ = [
    "BATCH_TABLES",
    "NotReadyError",
    "adopt",
    "cache_shard",
    "explain_batch",
    "finalise",
    "merge_stats",
    "plan",
    "release",
    "replay_plan",
    "replay_shard",
    "replayed",
    "sample_batch",
    "score_batch",
    "write_batch",
]

log = logging.getLogger(__name__)
BATCH_TABLES = ("examples", "explanations", "scores", "judgements")


class NotReadyError(AutointerpError):
    """A step ran before the steps it needs finished (its task retries later)."""


_PREPARED: OrderedDict[str, Prepared] = OrderedDict()
_PREPARED_LOCK = threading.Lock()
_KEEP = 2


def prepared(store: JobStore, job_id: str) -> Prepared:
    """The job's inputs, kept for the next steps of the same job in this worker process (the
    two most recent jobs). Before the plan exists every input is loaded and checked (the plan
    step); after it, the model, the SAE, the corpus and the LLM load on first use, so a worker
    that only explains or scores through an HTTP LLM never loads the model or the SAE. Loaded
    model, SAE and corpus stay warm across jobs (:mod:`autointerp.service.warm`)."""
    with _PREPARED_LOCK:  # a threads-pool worker loads a job once, not once per thread
        if job_id in _PREPARED:
            _PREPARED.move_to_end(job_id)
            return _PREPARED[job_id]
        info = store.plan(job_id)
        cfg = store.config(job_id)
        if info is None:
            prep = prepare(cfg, inputs=warm.get(cfg))
            warm.put(cfg, prep.inputs)
        else:
            prep = _lazy(cfg, info)
        _PREPARED[job_id] = prep
        while len(_PREPARED) > _KEEP:
            _PREPARED.popitem(last=False)
        return prep


def _lazy(cfg: RunConfig, info: dict[str, Any]) -> Prepared:
    """A planned job's inputs, each loaded when a step first needs it; the loaded checkpoint
    and corpus must be those the job was planned with."""
    n_units = int(info.get("n_units") or info["d_sae"])
    user = load_explanations(cfg.explanations, n_units) if cfg.explanations else None

    def inputs() -> Inputs:
        loaded = warm.get(cfg) or load_inputs(cfg)
        # The identity covers the checkpoint's config as well as its weights file.
        planned = info["inputs"]["sae_identity"], info["inputs"]["corpus_fingerprint"]
        found = loaded.sae.info.identity, loaded.windows.fingerprint
        if found != planned:
            raise ConfigError(
                f"job {info['job_id']}: the checkpoint or the corpus changed since the job was "
                f"planned (checkpoint {planned[0][:12]} -> {found[0][:12]}, corpus "
                f"{planned[1][:12]} -> {found[1][:12]}); submit it again as a new job"
            )
        warm.put(cfg, loaded)
        return loaded

    def llm(prep: Prepared) -> LLM:
        shared = shares_subject(cfg, str(info["provenance"]["model"]))
        made = make_run_llm(cfg, prep.subject if shared else None)
        made.check()
        return made

    selection = parse_latents(cfg.latents, n_units)
    return Prepared(cfg, selection, user, str(info["run_id"]), _load_inputs=inputs, _load_llm=llm)


def adopt(job_id: str, prep: Prepared) -> None:
    """Use ``prep`` (inputs loaded by the caller, e.g. with its own LLM) for ``job_id``."""
    with _PREPARED_LOCK:
        _PREPARED[job_id] = prep
        _PREPARED.move_to_end(job_id)


def release(job_id: str) -> None:
    """Forget the job's loaded inputs (the model's memory goes back)."""
    with _PREPARED_LOCK:
        _PREPARED.pop(job_id, None)
        _STATS.pop(job_id, None)


_STATS: OrderedDict[str, LatentStats] = OrderedDict()


def _merged_stats(store: JobStore, job_id: str) -> LatentStats:
    """The job's merged statistics (saved by ``merge_stats``), kept for its next batches."""
    with _PREPARED_LOCK:
        if job_id not in _STATS:
            _STATS[job_id] = LatentStats.load(store.paths(job_id).root / "stats.npz")
            while len(_STATS) > _KEEP:
                _STATS.popitem(last=False)
        _STATS.move_to_end(job_id)
        return _STATS[job_id]


def _activations(store: JobStore) -> StorePath:
    return store.activations


def _stats(store: JobStore, job_id: str, prep: Prepared) -> LatentStats:
    cfg = prep.cfg
    (stats,) = cached_stats(
        prep.subject,
        [prep.sae],
        prep.windows.tokens,
        prep.windows.fingerprint,
        cfg.cache,
        seed=cfg.seed,
        root=_activations(store),
        progress=store.progress,
    )
    return stats


def _plan(store: JobStore, job_id: str) -> dict[str, Any]:
    info = store.plan(job_id)
    if info is None:
        raise NotReadyError(f"job {job_id} has no plan yet")
    return info


def plan(store: JobStore, job_id: str) -> dict[str, Any]:
    """Load and check every input (a bad checkpoint or latent range fails the job here);
    write the job's plan: run id, provenance and the number of corpus shards."""
    old = store.plan(job_id)
    if old is not None:
        return {"n_shards": old["n_shards"], "skipped": True}
    prep = prepared(store, job_id)
    cfg = prep.cfg
    n_shards = len(shard_ranges(prep.windows.n_windows, cfg.cache.shard_windows))
    info = {
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


def cache_shard(store: JobStore, job_id: str, index: int) -> dict[str, Any]:
    """Cache one shard of the corpus (activation statistics, saved on the store)."""
    step = f"shard-{index:05d}"
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
        root=_activations(store),
        progress=store.progress,
    )
    store.mark(job_id, step)
    return {"shard": index}


def merge_stats(store: JobStore, job_id: str, batch_size: int) -> dict[str, Any]:
    """Merge the shards (exactly), choose the latents, split them into batches, and plan
    the replay: the union of the windows every batch needs, in shards of windows."""
    info = _plan(store, job_id)
    if "batches" in info:
        return _merged(info, skipped=True)
    missing = [i for i in range(info["n_shards"]) if not store.is_marked(job_id, f"shard-{i:05d}")]
    if missing:
        raise NotReadyError(f"job {job_id}: shards {missing} not cached yet")
    prep = prepared(store, job_id)
    cfg = prep.cfg
    stats = _stats(store, job_id, prep)
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
    save_windows(_replay_root(store, job_id), windows)
    info["replay"] = {
        "windows": len(windows),
        "corpus_windows": prep.windows.n_windows,
        "n_shards": len(shard_ranges(len(windows), cfg.cache.shard_windows)),
    }
    info["batches"] = batches
    write_json(store.paths(job_id).plan, info)
    return {**_merged(info), "n_latents": len(latents)}


def _merged(info: dict[str, Any], skipped: bool = False) -> dict[str, Any]:
    replay = info.get("replay") or {}
    out = {"n_batches": len(info["batches"]), "n_replay": int(replay.get("n_shards", 0))}
    return {**out, "skipped": True} if skipped else out


def _replay_root(store: JobStore, job_id: str) -> StorePath:
    return store.paths(job_id).root / "replay"


def replay_plan(store: JobStore, job_id: str) -> dict[str, Any]:
    """The job's replay plan: windows replayed, windows in the corpus, shards ({} before
    the merge, or for a job planned before replay-once)."""
    return dict(_plan(store, job_id).get("replay") or {})


def replay_shard(store: JobStore, job_id: str, index: int) -> dict[str, Any]:
    """Replay one shard of the job's needed windows once, for every batch's units (sparse
    activations on the store; see :mod:`autointerp.cache.replayed`)."""
    step = f"replay-{index:05d}"
    if store.is_marked(job_id, step):
        return {"replay": index, "skipped": True}
    info = _plan(store, job_id)
    if "replay" not in info:
        raise NotReadyError(f"job {job_id}: no replay planned yet")
    prep = prepared(store, job_id)
    cfg = prep.cfg
    root = _replay_root(store, job_id)
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


def replayed(store: JobStore, job_id: str) -> dict[str, Any]:
    """Whether every replay shard of the job is done (``NotReadyError`` if not); the
    number of batches to start."""
    info = _plan(store, job_id)
    n_replay = int((info.get("replay") or {}).get("n_shards", 0))
    missing = [i for i in range(n_replay) if not store.is_marked(job_id, f"replay-{i:05d}")]
    if "batches" not in info or missing:
        raise NotReadyError(f"job {job_id}: replay shards {missing} not done yet")
    return {"n_batches": len(info["batches"])}


def _batch(store: JobStore, job_id: str, index: int) -> tuple[StorePath, list[int]]:
    batches = _plan(store, job_id).get("batches")
    if batches is None or not 0 <= index < len(batches):
        raise NotReadyError(f"job {job_id}: no batch {index} in its plan")
    return store.paths(job_id).batch(index), [int(x) for x in batches[index]]


def sample_batch(store: JobStore, job_id: str, index: int) -> dict[str, Any]:
    """Sample the batch's examples and read their activations from the job's replay store
    (records on the store)."""
    folder, latents = _batch(store, job_id, index)
    if (folder / "records.json").is_file():
        return {"batch": index, "skipped": True}
    info = _plan(store, job_id)
    prep = prepared(store, job_id)
    cfg = prep.cfg
    stats = _merged_stats(store, job_id)
    samples = [sample_latent(stats, latent, cfg.sampling, cfg.seed) for latent in latents]
    acts_for = None
    if "replay" in info:  # a job planned before replay-once replays its batches itself
        n_replay = int(info["replay"]["n_shards"])
        missing = [i for i in range(n_replay) if not store.is_marked(job_id, f"replay-{i:05d}")]
        if missing:
            raise NotReadyError(f"job {job_id}: replay shards {missing} not done yet")
        n_positions = prep.windows.tokens.shape[1] - 1
        acts_for = ReplayReader(_replay_root(store, job_id), n_replay, index, latents, n_positions)
    records = build_records(prep, stats, samples, store.progress, acts_for)
    if uses_logit_lens(cfg.explain):  # where the model is; before records.json (the marker)
        promoted = promoted_tokens([r.latent for r in records], prep.subject, prep.sae)
        codec.save(folder / "promoted.json", {str(k): v for k, v in promoted.items()})
    codec.save(folder / "records.json", codec.dump_records(records, samples))
    return {"batch": index, "records": len(records)}


def _promoted(folder: StorePath) -> dict[int, list[str]] | None:
    """The batch's promoted tokens (sample step), None when it computed none."""
    path = folder / "promoted.json"
    if not path.is_file():
        return None
    return {int(k): [str(t) for t in v] for k, v in codec.load(path).items()}


def explain_batch(store: JobStore, job_id: str, index: int) -> dict[str, Any]:
    """Explain the batch's latents; when its explanations are already staged, redo only
    those whose LLM call failed (and reopen the batch if any)."""
    folder, _ = _batch(store, job_id, index)
    path = folder / "explanations.json"
    old = codec.load_explanations(codec.load(path)) if path.is_file() else None
    redo = None if old is None else {e.latent for e in old if e.status in REDO_EXPLANATIONS}
    if redo is not None and not redo:
        return {"batch": index, "skipped": True}
    records, samples = codec.load_records(codec.load(folder / "records.json"))
    prep = prepared(store, job_id)
    sent = prep.llm.requests
    promoted = _promoted(folder)
    if old is None or redo is None:
        explanations = explanations_for(prep, records, samples, store.progress, promoted)
        codec.save(path, codec.dump_explanations(explanations))
        return {
            "batch": index,
            "explanations": len(explanations),
            "requests": prep.llm.requests - sent,
        }
    redone = [r for r in records if r.latent in redo]
    fresh = explanations_for(prep, redone, [], store.progress, promoted)
    by_latent: dict[int, list[Explanation]] = {}
    for e in fresh:
        by_latent.setdefault(e.latent, []).append(e)
    merged: list[Explanation] = []
    for e in old:  # the old order; each redone latent's new rows where its old ones were
        if e.latent not in redo:
            merged.append(e)
        elif e.latent in by_latent:
            merged += by_latent.pop(e.latent)
    codec.save(path, codec.dump_explanations(merged))
    store.reopen_batch(job_id, index)
    return {
        "batch": index,
        "repaired": len(redo),
        "explanations": len(merged),
        "requests": prep.llm.requests - sent,
    }


def _key(row: Explanation | ScoreResult) -> tuple[int, int]:
    return row.latent, row.explanation_id


def _stale(row: ScoreResult, explanation: Explanation | None) -> bool:
    """A score row to redo: its judgements (some or all) failed, or it was skipped for an
    explanation that a repair has since made usable."""
    if row.status in REDO_SCORES:
        return True
    return (
        row.status == "skipped"
        and (row.error or "").startswith("no usable explanation")
        and explanation is not None
        and explanation.status == "ok"
    )


def score_batch(store: JobStore, job_id: str, index: int, scorer: str) -> dict[str, Any]:
    """Score the batch's explanations with one scorer; when its rows are already staged,
    redo only the stale ones (see ``_stale``) and reopen the batch if any."""
    folder, _ = _batch(store, job_id, index)
    path = folder / f"scores-{scorer}.json"
    if not (folder / "explanations.json").is_file():
        raise NotReadyError(f"job {job_id}: batch {index} has no explanations yet")
    explanations = codec.load_explanations(codec.load(folder / "explanations.json"))
    old = codec.load_scores(codec.load(path)) if path.is_file() else None
    if old is not None:
        by_key = {_key(e): e for e in explanations}
        redo = {_key(r) for r in old if _stale(r, by_key.get(_key(r)))}
        if not redo:
            return {"batch": index, "scorer": scorer, "skipped": True}
        explanations = [e for e in explanations if _key(e) in redo]
    records, _ = codec.load_records(codec.load(folder / "records.json"))
    prep = prepared(store, job_id)
    sent = prep.llm.requests
    results = score_all(prep, records, explanations, store.progress, scorers=[scorer])
    done = {"batch": index, "scorer": scorer, "requests": prep.llm.requests - sent}
    if old is None:
        codec.save(path, codec.dump_scores(results))
        return {**done, "rows": len(results)}
    fresh = {_key(r): r for r in results}
    merged = [fresh.get(_key(r), r) for r in old]
    codec.save(path, codec.dump_scores(merged))
    store.reopen_batch(job_id, index)
    return {**done, "repaired": len(fresh), "rows": len(merged)}


def _provenance(store: JobStore, job_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    info = _plan(store, job_id)
    prov = {**info["provenance"], "created_at": pd.Timestamp(info["created_at"])}
    return info, prov


def write_batch(store: JobStore, job_id: str, index: int) -> dict[str, Any]:
    """Turn a batch's staged results into its Parquet tables (validated against the
    schemas); returns whether every batch of the job is now written."""
    folder, _ = _batch(store, job_id, index)
    cfg = store.config(job_id)
    step = f"batch-{index:05d}"
    if not store.is_marked(job_id, step):
        names = list(cfg.scoring.scorers)
        missing = [s for s in names if not (folder / f"scores-{s}.json").is_file()]
        if missing:
            raise NotReadyError(f"job {job_id}: batch {index} lacks scores of {missing}")
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
    batches = _plan(store, job_id)["batches"]
    complete = all(store.is_marked(job_id, f"batch-{i:05d}") for i in range(len(batches)))
    return {"batch": index, "complete": complete}


def finalise(store: JobStore, job_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the job's tables (one file per table, named by the run id) and its manifest
    (``extra`` added to it); mark the job finished."""
    paths = store.paths(job_id)
    if paths.finished.is_file():
        return {"skipped": True}
    info, prov = _provenance(store, job_id)
    batches = info.get("batches") or []
    missing = [i for i in range(len(batches)) if not store.is_marked(job_id, f"batch-{i:05d}")]
    if missing:
        raise NotReadyError(f"job {job_id}: batches {missing} not written yet")
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
