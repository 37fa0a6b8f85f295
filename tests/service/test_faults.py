"""No bad reply or dead worker can stop a job or lose a row; a rerun repairs what failed.

The LLM is a real fixed-latency OpenAI-compatible server (benchmarks/latency_server.py:
deterministic replies) behind a seeded fault-injecting proxy (tests/servers/fault_proxy.py:
HTTP 500, 429 + Retry-After, hangs past the timeout, truncated JSON, HTML 502 and 200 pages,
a reset mid-body, empty choices, missing log-probabilities, wrongly typed fields), which also
fails some requests on every attempt ("doomed": one explanation and ~8 % of the judgement
prompts) until it is told to stop. Both front doors — ``autointerp run`` in process and a
service job on two real workers, one SIGKILLed during scoring — must end with the tables of
the fault-free run, except the rows whose retries ran out, which say so; running the same
command (resubmitting the same job) then repairs exactly those, and the tables equal the
fault-free run's."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from autointerp.config import LLMConfig, RunConfig
from autointerp.pipeline import run
from autointerp.store import read_table
from autointerp.store.schema import KEYS
from benchmarks.latency_server import ServerProcess
from tests.servers.fault_proxy import FaultProxy
from tests.service.conftest import Service
from tests.service.test_graph import _in_flight

pytestmark = pytest.mark.slow

PROVENANCE = ["run_id", "llm", "created_at"]
TABLES = ("explanations", "scores", "judgements")


def _llm(url: str) -> LLMConfig:
    return LLMConfig(
        backend="openai", base_url=url, model="", max_retries=6, timeout_s=2.0, max_concurrency=8
    )


def _table(root: Path, name: str, run_id: str) -> pd.DataFrame:
    df = read_table(root, name, run_id=run_id).drop(columns=PROVENANCE)
    return df.sort_values(list(KEYS[name][1:])).reset_index(drop=True)


def _tables(root: Path, run_id: str) -> dict[str, pd.DataFrame]:
    return {name: _table(root, name, run_id) for name in TABLES}


def _run_id(root: Path) -> str:
    return str(read_table(root, "scores")["run_id"].iloc[0])


@pytest.fixture(scope="module")
def upstream() -> Iterator[ServerProcess]:
    with ServerProcess(0.01) as server:
        yield server


@pytest.fixture(scope="module")
def clean(
    small_cfg: RunConfig, upstream: ServerProcess, tmp_path_factory
) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The fault-free run's tables (straight to the server)."""
    out = tmp_path_factory.mktemp("clean")
    run(replace(small_cfg, llm=_llm(upstream.url)), out, progress=False)
    tables = _tables(out, _run_id(out))
    assert (tables["scores"]["status"] == "ok").all()
    return tables


def assert_marked_or_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> int:
    """Every row equals the fault-free one, except rows marked as failed; returns how many
    rows are marked."""
    marked = 0
    expl, want_expl = got["explanations"], want["explanations"]
    assert len(expl) == len(want_expl)
    bad_expl = expl["status"] == "llm_error"
    assert expl.loc[bad_expl, "error"].str.contains("gave up after 7 attempts").all()
    pd.testing.assert_frame_equal(
        expl[~bad_expl].reset_index(drop=True),
        want_expl[~bad_expl].reset_index(drop=True),
        check_dtype=False,  # a column with NaNs among the marked rows reads back as float
    )
    marked += int(bad_expl.sum())
    scores, want_scores = got["scores"], want["scores"]
    assert len(scores) == len(want_scores)
    failed_latents = set(expl.loc[bad_expl, "latent"])
    redo = scores["status"].isin(["partial", "failed"])
    skipped = scores["latent"].isin(failed_latents)
    assert (scores.loc[skipped, "status"] == "skipped").all()
    assert scores.loc[redo, "error"].str.contains("failed").all()
    assert (scores.loc[scores["status"] == "partial", "n_failed"] > 0).all()
    keep = ~(redo | skipped)
    pd.testing.assert_frame_equal(
        scores[keep].reset_index(drop=True),
        want_scores[keep].reset_index(drop=True),
        check_dtype=False,
    )
    marked += int(redo.sum())
    return marked


SPOILED = ("truncated", "reset", "nochoices", "nologprobs", "badtype")
"""Faults made by spoiling a forwarded reply (the server saw those requests)."""


def _answered(stats: dict[str, int]) -> int:
    """Requests the server answered and the client got intact."""
    return stats.get("forwarded", 0) - sum(stats.get(k, 0) for k in SPOILED)


def _requests_to_redo(got: dict[str, pd.DataFrame], clean: dict[str, pd.DataFrame]) -> int:
    """What a repair must send: each failed explanation once, and every prompt (examples +
    the calibration prompt) of each score row to redo, plus the endpoint check (GET
    /models and one probe)."""
    expl = got["explanations"]
    failed = set(expl.loc[expl["status"] == "llm_error", "latent"])
    scores = got["scores"]
    redo = scores["status"].isin(["partial", "failed"]) | scores["latent"].isin(failed)
    return 2 + len(failed) + int((clean["scores"].loc[redo, "n_examples"] + 1).sum())


def test_in_process_run_survives_faults_and_a_rerun_repairs_it(
    small_cfg: RunConfig, upstream: ServerProcess, clean: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    with FaultProxy(upstream.url, seed=11, doom=0.03, doom_explanations=1, hang=2.5) as proxy:
        cfg = replace(small_cfg, llm=_llm(proxy.url))
        run(cfg, tmp_path, progress=False)
        stats = proxy.stats()
        assert stats.get("doomed", 0) > 0 and set(SPOILED) & set(stats), stats
        got = _tables(tmp_path, _run_id(tmp_path))
        assert (got["explanations"]["status"] == "llm_error").sum() == 1
        assert assert_marked_or_equal(got, clean) >= 2
        assert (got["scores"]["status"] == "ok").any()  # some rows need no repair
        # The same command again, the endpoint healed: only the failed rows are redone.
        proxy.mode(doom=False)
        proxy.reset()
        run(cfg, tmp_path, progress=False)
        # Exactly the failed rows' requests (+ at most 3 whose reply came after the client's
        # timeout on a loaded machine and was asked for again).
        expected = _requests_to_redo(got, clean)
        assert expected <= _answered(proxy.stats()) <= expected + 3
        for name, want in clean.items():
            pd.testing.assert_frame_equal(
                _tables(tmp_path, _run_id(tmp_path))[name], want, obj=name
            )
        # A third run has nothing to redo: it sends nothing but the endpoint check.
        proxy.mode(faults=False)
        proxy.reset()
        run(cfg, tmp_path, progress=False)
        assert 2 <= _answered(proxy.stats()) <= 3


def test_service_job_survives_faults_and_a_worker_kill_then_resubmission_repairs_it(
    service: Service, small_cfg: RunConfig, upstream: ServerProcess, clean: dict[str, pd.DataFrame]
) -> None:
    with FaultProxy(upstream.url, seed=11, doom=0.03, doom_explanations=1, hang=2.5) as proxy:
        cfg = replace(small_cfg, llm=_llm(proxy.url))
        victim = service.start_worker("victim")
        service.start_worker("survivor")
        job_id = service.submit(cfg)
        deadline = time.monotonic() + 600
        killed = None
        while time.monotonic() < deadline and killed is None:
            task = _in_flight(service.log("victim").read_text(errors="replace"))
            if task == "autointerp.score":
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                killed = task
            time.sleep(0.1)
        assert killed, "the victim never ran a scoring step"
        status = service.wait(job_id)
        assert status["state"] == "done", status
        root = service.store.root
        got = _tables(root, status["run_id"])
        assert assert_marked_or_equal(got, clean) >= 2
        assert service.store.repairs(job_id)["scores"] > 0
        proxy.mode(doom=False)
        assert service.submit(cfg) == job_id
        status = service.wait(job_id)
        assert status["state"] == "done", status
    assert service.store.repairs(job_id) == {"explanations": 0, "scores": 0}
    for name, want in clean.items():
        pd.testing.assert_frame_equal(_tables(root, status["run_id"])[name], want, obj=name)
