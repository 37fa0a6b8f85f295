"""``autointerp run``: the service's steps (:mod:`autointerp.service.steps`) driven one after
another in this process — no Celery, no Redis — so both front doors write provenance, batch
tables and the manifest through the same code.

The job's records and staged batches live under ``<out>/.autointerp/jobs/<job id>/`` (under
the user cache when ``out`` is a URL), the corpus shards in the activation cache. Every
finished shard and batch stays on disk, so an interrupted run resumes when the same command
runs again, and a rerun of a finished run redoes only its failed rows (explanations whose
LLM call failed, score rows with failed judgements) and rewrites its tables; a run with
nothing to redo only reads its tables back.

With ``progress`` off, one line per stage and per finished batch goes to the
``autointerp.run`` logger (counts and elapsed seconds), for unattended runs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autointerp.cache.shards import activations_dir
from autointerp.config import RunConfig
from autointerp.llm import LLM
from autointerp.paths import cache_dir
from autointerp.pipeline import Prepared, RunResult, prepare
from autointerp.service import codec, steps
from autointerp.service.jobs import JobStore, shard_step
from autointerp.service.settings import get_settings
from autointerp.service.stepdata import ExplainResult, ManifestExtra, ScoreStepResult
from autointerp.statuses import ExplanationStatus, ScoreStatus
from autointerp.store import read_table
from autointerp.store.files import glob, rmtree
from autointerp.store.remote import is_url

__all__ = ["STAGING", "run_in_process", "staging_root"]

log = logging.getLogger("autointerp.run")
STAGING = ".autointerp"
"""The folder under ``--out`` that holds the run's job records and staged batches."""


def staging_root(out: Path | str) -> Path:
    """Where a run writing to ``out`` keeps its job records."""
    if is_url(out):
        digest = hashlib.sha256(str(out).encode()).hexdigest()[:16]
        return cache_dir("runs", digest)
    return Path(out) / STAGING


class _Clock:
    """Seconds per stage (summed over batches) and the lines of an unattended run."""

    def __init__(self, lines: bool) -> None:
        self.start = time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.lines = lines

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + spent, 2)

    def say(self, message: str) -> None:
        if self.lines:
            log.info("%s (%.0f s elapsed)", message, time.perf_counter() - self.start)


def run_in_process(
    cfg: RunConfig, out: Path | str, *, progress: bool = True, llm: LLM | None = None
) -> RunResult:
    """Run (or resume, or repair) the job of ``cfg`` here; its tables go under ``out``."""
    clock = _Clock(lines=not progress)
    with clock("load"):
        prep = prepare(cfg, llm=llm)  # every input checked before anything is written
    clock.say(
        f"load: {prep.sae.info.format} checkpoint, d_sae {prep.sae.d_sae}, model "
        f"{prep.subject.name}, {prep.windows.n_windows} windows, LLM {prep.llm.name}"
    )
    if prep.windows.skipped_documents:
        log.warning(
            "corpus: skipped %d documents that are not text (e.g. %s)",
            prep.windows.skipped_documents,
            "; ".join(prep.windows.skipped_examples[:2]),
        )
    store = JobStore(staging_root(out), results=out, progress=progress)
    job_id, _ = store.create(cfg, origin="run", batch_size=get_settings().batch_size)
    # the run's activation cache is local: the shared one, or the job's own folder
    reused = activations_dir() if cfg.cache.reuse else None
    store.activations = reused or store.paths(job_id).root / "activations"
    _drop_if_stale(store, job_id, prep)
    steps.adopt(job_id, prep)
    try:
        files = _drive(store, job_id, prep, clock)
    finally:
        steps.release(job_id)
    run_id = prep.run_id
    explanations = read_table(out, "explanations", run_id=run_id)
    scores = read_table(out, "scores", run_id=run_id)
    skipped = prep.windows.skipped_documents
    return RunResult(
        run_id,
        Path(str(out)),
        files,
        explanations,
        scores,
        clock.seconds,
        skipped,
        llm_requests=prep.llm.requests,
    )


def _drop_if_stale(store: JobStore, job_id: str, prep: Prepared) -> None:
    """A job folder planned for other inputs (the corpus or checkpoint changed on disk, not
    the config) is started afresh."""
    plan = store.plan(job_id)
    if plan is not None and plan.get("run_id") != prep.run_id:
        log.warning(
            "the inputs of job %s changed since it was staged (run %s, now %s): starting over",
            job_id,
            plan.get("run_id"),
            prep.run_id,
        )
        record = store.record(job_id)
        rmtree(store.paths(job_id).root)
        store.create(RunConfig.from_dict(record["config"]), "run", int(record["batch_size"]))


def _drive(store: JobStore, job_id: str, prep: Prepared, clock: _Clock) -> dict[str, Any]:
    repairs = store.repairs(job_id)
    if any(repairs.values()):
        clock.say(
            f"repair: redoing {repairs['explanations']} failed explanations and "
            f"{repairs['scores']} score rows with failed judgements"
        )
    with clock("cache"):
        n_shards = int(steps.plan(store, job_id)["n_shards"])
        resumed = sum(store.is_marked(job_id, shard_step(i)) for i in range(n_shards))
        for i in range(n_shards):
            steps.cache_shard(store, job_id, i)
        size = int(store.record(job_id)["batch_size"])
        merged = steps.merge_stats(store, job_id, size)
    n_batches, n_replay = int(merged["n_batches"]), int(merged["n_replay"])
    clock.say(f"cache: {n_shards} shards ({resumed} resumed), {n_batches} batches of latents")
    with clock("replay"):
        for i in range(n_replay):
            steps.replay_shard(store, job_id, i)
    replay = steps.replay_plan(store, job_id)
    if replay:
        share = replay["windows"] / max(1, replay["corpus_windows"])
        clock.say(
            f"replay: {replay['windows']} windows once ({share:.0%} of the corpus's "
            f"{replay['corpus_windows']}), {n_replay} shards"
        )
    scorers = list(prep.cfg.scoring.scorers)
    for b in range(n_batches):
        started = time.perf_counter()
        with clock("sample"):
            steps.sample_batch(store, job_id, b)
        with clock("explain"):
            explained = steps.explain_batch(store, job_id, b)
        outcomes: list[ScoreStepResult] = []
        with clock("score"):
            for name in scorers:
                outcomes.append(steps.score_batch(store, job_id, b, name))
        with clock("write"):
            steps.write_batch(store, job_id, b)
        clock.say(_batch_line(store, job_id, b, n_batches, [explained, *outcomes], started))
    with clock("write"):
        extra: ManifestExtra = {
            "timings_s": dict(clock.seconds),
            "llm_requests": prep.llm.requests,
        }
        done = steps.finalise(store, job_id, extra)
    finished = codec.load(store.paths(job_id).finished)
    clock.say(f"write: run {prep.run_id} ({'unchanged' if done.get('skipped') else 'written'})")
    files: dict[str, Any] = finished["files"]
    return files


def _batch_line(
    store: JobStore,
    job_id: str,
    index: int,
    n_batches: int,
    outcomes: list[ExplainResult | ScoreStepResult],
    started: float,
) -> str:
    folder = store.paths(job_id).batch(index)
    expl = codec.load(folder / "explanations.json")

    def count(rows: list[dict[str, Any]], status: str) -> int:
        return sum(r["status"] == status for r in rows)

    parts = [f"{count(expl, ExplanationStatus.OK)}/{len(expl)} explanations ok"]
    for path in glob(folder, "scores-*.json"):
        rows = codec.load(path)
        name = path.stem.removeprefix("scores-")
        ok = count(rows, ScoreStatus.OK)
        bad = len(rows) - ok
        parts.append(f"{name} {ok}/{len(rows)} ok" + (f" ({bad} not)" if bad else ""))
    if all(o.get("skipped") for o in outcomes):
        parts.append("already done")
    elif any("repaired" in o for o in outcomes):
        parts.append(f"repaired {sum(int(o.get('repaired', 0)) for o in outcomes)} rows")
    sent = sum(int(o.get("requests", 0)) for o in outcomes)
    if sent:
        latents = len({r["latent"] for r in expl}) or 1
        parts.append(f"{sent} LLM requests ({sent / latents:.1f} per latent)")
    took = time.perf_counter() - started
    return f"batch {index + 1}/{n_batches}: " + ", ".join(parts) + f" in {took:.0f} s"
