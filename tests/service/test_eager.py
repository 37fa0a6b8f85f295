"""The fast check that both front doors run one orchestration: the Celery task graph (its
tasks, chords, chains and routing) run in this process by Celery's eager mode writes the
same tables as ``autointerp run`` of the same config.

Celery's eager mode stands in for Redis and the worker processes here, to keep this test
fast (a tiny random Llama, a tiny SAE, a scripted LLM server); tests/service/test_graph.py
runs the same comparison through a real Redis and real workers (slow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    RunConfig,
    SamplingConfig,
    ScoringConfig,
)
from autointerp.pipeline import run
from autointerp.service import steps
from autointerp.service.jobs import JobStore
from tests.helpers import write_saelens
from tests.servers.scripted_openai import ScriptedServer
from tests.service.test_graph import assert_same_tables

pytestmark = pytest.mark.slow  # the pipeline end to end


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    from autointerp.tasks.app import app

    store = tmp_path / "store"
    monkeypatch.setenv("AUTOINTERP_STORE", str(store))
    monkeypatch.setenv("AUTOINTERP_BATCH_SIZE", "2")
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
    yield store


def test_the_task_graph_run_eagerly_equals_autointerp_run(
    eager: Path, tiny_llama: Path, tmp_path: Path
) -> None:
    from autointerp.tasks.tasks import plan_job

    sae = write_saelens(tmp_path / "sae", d_in=64, d_sae=256, k=4, model_name=None)
    with ScriptedServer(p_yes=0.7) as srv:
        cfg = RunConfig(
            sae=str(sae),
            model=str(tiny_llama),
            latents="live:5",
            corpus=CorpusConfig(n_tokens=3200),
            # reuse off: the in-process run keeps its shards in its own folder, not in the
            # user's activation cache that other tests read
            cache=CacheConfig(dtype="float32", shard_windows=40, reuse=False),
            sampling=SamplingConfig(n_explain=4, n_score=4, n_nonactivating=4, min_examples=6),
            explain=ExplainConfig(explainer="stats"),
            llm=LLMConfig(backend="openai", base_url=srv.url, model="", chat_as_text=True),
            scoring=ScoringConfig(scorers=("detection", "fuzz"), n_bootstrap=0),
        )
        result = run(cfg, tmp_path / "in-process", progress=False)
        store = JobStore(eager)
        job_id, _ = store.create(cfg, "cli", batch_size=2)
        try:
            plan_job.apply((job_id,))
        finally:
            steps.release(job_id)
    status = store.status(job_id)
    assert status["state"] == "done", status
    assert status["n_shards"] == 3 and status["n_batches"] == 3 and status["n_latents"] == 5
    replay = store.plan(job_id)["replay"]  # type: ignore[index]
    assert 0 < replay["windows"] <= replay["corpus_windows"] == 100
    assert_same_tables(eager, tmp_path / "in-process", result.run_id)
