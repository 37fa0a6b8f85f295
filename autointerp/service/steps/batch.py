"""The steps of one latent batch before its tables: sample (records from the replay store),
explain, score with one scorer. A rerun of explain or score redoes only the rows that
failed and reopens the batch."""

from __future__ import annotations

from autointerp.cache.replayed import ReplayReader
from autointerp.explain import uses_logit_lens
from autointerp.explain.grounded import promoted_tokens
from autointerp.records import Explanation, ScoreResult
from autointerp.sampling import sample_latent
from autointerp.service import codec
from autointerp.service.jobs import REDO_EXPLANATIONS, REDO_SCORES, JobStore, replay_step
from autointerp.service.stepdata import ExplainResult, SampleResult, ScoreStepResult
from autointerp.service.steps.loaded import merged_stats, prepared
from autointerp.service.steps.replay import replay_shards
from autointerp.service.steps.staged import NotReadyError, batch_of, job_plan, missing, replay_root
from autointerp.stages import build_records, explanations_for, score_all
from autointerp.statuses import ExplanationStatus, ScoreStatus
from autointerp.store.files import StorePath

__all__ = ["explain_batch", "sample_batch", "score_batch"]


def sample_batch(store: JobStore, job_id: str, index: int) -> SampleResult:
    """Sample the batch's examples and read their activations from the job's replay store
    (records on the store)."""
    folder, latents = batch_of(store, job_id, index)
    if (folder / "records.json").is_file():
        return {"batch": index, "skipped": True}
    info = job_plan(store, job_id)
    prep = prepared(store, job_id)
    cfg = prep.cfg
    stats = merged_stats(store, job_id)
    samples = [sample_latent(stats, latent, cfg.sampling, cfg.seed) for latent in latents]
    acts_for = None
    if "replay" in info:  # a job planned before replay-once replays its batches itself
        n_replay = replay_shards(store, job_id)
        not_done = missing(store, job_id, replay_step, n_replay)
        if not_done:
            raise NotReadyError(f"job {job_id}: replay shards {not_done} not done yet")
        n_positions = prep.windows.tokens.shape[1] - 1
        acts_for = ReplayReader(replay_root(store, job_id), n_replay, index, latents, n_positions)
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


def explain_batch(store: JobStore, job_id: str, index: int) -> ExplainResult:
    """Explain the batch's latents; when its explanations are already staged, redo only
    those whose LLM call failed (and reopen the batch if any)."""
    folder, _ = batch_of(store, job_id, index)
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
        row.status == ScoreStatus.SKIPPED
        and (row.error or "").startswith("no usable explanation")
        and explanation is not None
        and explanation.status == ExplanationStatus.OK
    )


def score_batch(store: JobStore, job_id: str, index: int, scorer: str) -> ScoreStepResult:
    """Score the batch's explanations with one scorer; when its rows are already staged,
    redo only the stale ones (see ``_stale``) and reopen the batch if any."""
    folder, _ = batch_of(store, job_id, index)
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
    done: ScoreStepResult = {
        "batch": index,
        "scorer": scorer,
        "requests": prep.llm.requests - sent,
    }
    if old is None:
        codec.save(path, codec.dump_scores(results))
        return {**done, "rows": len(results)}
    fresh = {_key(r): r for r in results}
    merged = [fresh.get(_key(r), r) for r in old]
    codec.save(path, codec.dump_scores(merged))
    store.reopen_batch(job_id, index)
    return {**done, "repaired": len(fresh), "rows": len(merged)}
