"""The steps as the workers of each queue run them, without Celery: a worker of the llm
queue (explain, score through an HTTP LLM) never loads the subject model, the SAE or the
corpus; the model queue's steps compute what the explainers read from the model (the
grounded explainer's logit-lens tokens) beforehand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autointerp.config import LLMConfig, RunConfig
from autointerp.service import codec, steps
from autointerp.service.jobs import JobStore
from autointerp.service.steps import loaded as steps_loaded
from autointerp.store import read_table
from tests.servers.scripted_openai import ScriptedServer

pytestmark = pytest.mark.slow


def _model_steps(store: JobStore, job_id: str) -> None:
    for i in range(int(steps.plan(store, job_id)["n_shards"])):
        steps.cache_shard(store, job_id, i)
    for i in range(int(steps.merge_stats(store, job_id, 32)["n_replay"])):
        steps.replay_shard(store, job_id, i)
    steps.sample_batch(store, job_id, 0)


def test_llm_steps_never_load_the_model_or_the_sae(
    small_cfg: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model worker plans, caches and samples; then, in a process that holds nothing of the
    job (released), explain and both scorers run with every loader of the model, the SAE and
    the corpus made to fail; the tables are written from what they staged."""
    with ScriptedServer(reply_text="Explanation: numbers") as srv:
        llm = LLMConfig(backend="openai", base_url=srv.url, model="")
        cfg = replace(small_cfg, llm=llm)
        store = JobStore(tmp_path / "jobs", results=tmp_path / "out", progress=False)
        job_id, _ = store.create(cfg, origin="run", batch_size=32)
        store.activations = tmp_path / "activations"
        try:
            _model_steps(store, job_id)
            folder = store.paths(job_id).batch(0)
            promoted = codec.load(folder / "promoted.json")
            assert set(promoted) == {"4", "7", "10"} and all(len(v) == 5 for v in promoted.values())
            steps.release(job_id)  # as if in another worker process

            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise AssertionError("an llm-queue step loaded the model, the SAE or the corpus")

            for target in ("load_inputs", "prepare"):
                monkeypatch.setattr(steps_loaded, target, refuse)
            monkeypatch.setattr("autointerp.pipeline.load_inputs", refuse)
            steps.explain_batch(store, job_id, 0)
            for scorer in cfg.scoring.scorers:
                steps.score_batch(store, job_id, 0, scorer)
            prep = steps.prepared(store, job_id)
            assert not prep.inputs_loaded
            assert prep.llm.requests > 0
            steps.write_batch(store, job_id, 0)
            steps.finalise(store, job_id)
        finally:
            steps.release(job_id)
    explanations = read_table(tmp_path / "out", "explanations")
    assert sorted(explanations["latent"]) == [4, 7, 10]
    assert (explanations["status"] == "ok").all()
    assert explanations["llm"].str.startswith("openai:scripted-model").all()
    scores = read_table(tmp_path / "out", "scores")
    assert set(scores["scorer"]) == set(cfg.scoring.scorers) and (scores["status"] == "ok").all()


def test_a_worker_refuses_inputs_that_changed_since_the_plan(
    small_cfg: RunConfig, tmp_path: Path
) -> None:
    """A model worker that loads a planned job's inputs checks them against the plan: a
    checkpoint rewritten on disk after planning fails the step with a message that says so."""
    import shutil

    from safetensors.torch import load_file, save_file

    sae = tmp_path / "sae"
    shutil.copytree(small_cfg.sae, sae)
    cfg = replace(small_cfg, sae=str(sae))
    store = JobStore(tmp_path / "jobs", results=tmp_path / "out", progress=False)
    job_id, _ = store.create(cfg, origin="run", batch_size=32)
    store.activations = tmp_path / "activations"
    try:
        steps.plan(store, job_id)
        steps.release(job_id)
        weights = load_file(str(sae / "sae_weights.safetensors"))
        weights["b_enc"] = weights["b_enc"] + 1.0
        save_file(weights, str(sae / "sae_weights.safetensors"))
        with pytest.raises(Exception, match="changed since the job was planned"):
            steps.cache_shard(store, job_id, 0)
    finally:
        steps.release(job_id)


def test_replay_once_gives_the_records_of_a_direct_replay(
    small_cfg: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The windows a job's batches need are replayed once (their union, in shards): fewer
    windows go through the model than batch-by-batch replay would send, none more than once,
    no batch replays anything itself, and every batch's records equal those of replaying its
    own windows directly."""
    import numpy as np

    from autointerp.cache import LatentStats
    from autointerp.cache import replayed as replayed_mod
    from autointerp.sampling import sample_latent
    from autointerp.sampling.build import needed_windows
    from autointerp.stages import build_records

    cfg = replace(small_cfg, cache=replace(small_cfg.cache, shard_windows=20))
    store = JobStore(tmp_path / "jobs", results=tmp_path / "out", progress=False)
    job_id, _ = store.create(cfg, origin="run", batch_size=1)
    store.activations = tmp_path / "activations"
    seen: list[int] = []
    encode = replayed_mod.encode_windows

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.extend(int(w) for w in kwargs["window_ids"])
        return encode(*args, **kwargs)

    try:
        for i in range(int(steps.plan(store, job_id)["n_shards"])):
            steps.cache_shard(store, job_id, i)
        merged = steps.merge_stats(store, job_id, 1)
        assert merged["n_batches"] == 3 and merged["n_replay"] >= 2
        monkeypatch.setattr(replayed_mod, "encode_windows", counting)
        for i in range(merged["n_replay"]):
            steps.replay_shard(store, job_id, i)
        plan = steps.replay_plan(store, job_id)
        assert plan is not None
        assert len(seen) == len(set(seen)) == plan["windows"] <= plan["corpus_windows"]
        prep = steps.prepared(store, job_id)
        stats = LatentStats.load(store.paths(job_id).root / "stats.npz")
        batches = store.plan(job_id)["batches"]
        n = prep.windows.n_windows
        samples = {b[0]: sample_latent(stats, b[0], cfg.sampling, cfg.seed) for b in batches}
        per_batch = [
            needed_windows(prep.sae, stats, [samples[b[0]]], cfg.sampling, cfg.seed, n).windows
            for b in batches
        ]
        assert sorted(set(np.concatenate(per_batch).tolist())) == sorted(seen)
        assert sum(len(w) for w in per_batch) > len(seen)  # the shared pool, replayed once

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a batch replayed windows itself")

        monkeypatch.setattr("autointerp.sampling.build.replay", refuse)
        for b in range(len(batches)):
            steps.sample_batch(store, job_id, b)
        monkeypatch.undo()
        for b, batch in enumerate(batches):
            staged, _ = codec.load_records(
                codec.load(store.paths(job_id).batch(b) / "records.json")
            )
            fresh = [sample_latent(stats, batch[0], cfg.sampling, cfg.seed)]
            (direct,) = build_records(prep, stats, fresh, False)
            (got,) = staged
            for mine, theirs in (
                (got.explain, direct.explain),
                (got.score, direct.score),
                (got.nonactivating, direct.nonactivating),
            ):
                assert [(e.window, e.tokens, e.role) for e in mine] == [
                    (e.window, e.tokens, e.role) for e in theirs
                ]
                for e, d in zip(mine, theirs, strict=True):
                    np.testing.assert_allclose(e.acts, d.acts, atol=1e-5)
    finally:
        steps.release(job_id)


def test_a_model_worker_keeps_the_inputs_warm_across_jobs(
    small_cfg: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second job on the same model, checkpoint and corpus (another scorer setting) is
    planned and cached without loading anything again; the same inputs are shared."""
    from autointerp.service import warm

    store = JobStore(tmp_path / "jobs", results=tmp_path / "out", progress=False)
    store.activations = tmp_path / "activations"
    first, _ = store.create(small_cfg, origin="run", batch_size=32)
    other = replace(small_cfg, scoring=replace(small_cfg.scoring, n_bootstrap=5))
    second, _ = store.create(other, origin="run", batch_size=32)
    warm.clear()
    try:
        steps.plan(store, first)
        loaded = steps.prepared(store, first).inputs

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the second job loaded its inputs again")

        monkeypatch.setattr(steps_loaded, "load_inputs", refuse)
        monkeypatch.setattr("autointerp.pipeline.load_inputs", refuse)
        steps.plan(store, second)
        steps.release(second)  # as if planned by another task: loaded lazily from here on
        steps.cache_shard(store, second, 0)
        assert steps.prepared(store, second).inputs is loaded
    finally:
        steps.release(first)
        steps.release(second)
        warm.clear()
