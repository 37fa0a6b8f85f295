"""A job through the real task graph: real Redis, real `autointerp worker` processes.

The job (3 latents in 2 batches, 2 corpus shards, detection + fuzz) must write the same
Parquet tables as the in-process pipeline — also after a worker is SIGKILLed in the middle
of a task and Redis is restarted while the job runs."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from autointerp.config import RunConfig
from autointerp.store import read_table
from autointerp.store.schema import KEYS
from tests.service.conftest import Service

pytestmark = pytest.mark.slow

TABLES = ("latents", "examples", "explanations", "scores", "judgements")


def assert_same_tables(service_root: Path, in_process: Path, run_id: str) -> None:
    for name in TABLES:
        path = service_root / name / f"{run_id}.parquet"
        raw = pq.read_table(path).to_pandas()
        dupes = raw.duplicated(subset=list(KEYS[name]))
        assert not dupes.any(), f"{name}: duplicated rows {raw[dupes]}"
        got = read_table(service_root, name).drop(columns=["created_at"])
        want = read_table(in_process, name).drop(columns=["created_at"])
        assert len(got) == len(want) > 0, name
        pd.testing.assert_frame_equal(got, want, obj=name)


def test_job_through_two_workers_equals_the_in_process_run(
    service: Service, small_cfg: RunConfig, in_process: Path
) -> None:
    service.start_worker("w1")
    service.start_worker("w2")
    job_id = service.submit(small_cfg)
    status = service.wait(job_id)
    assert status["state"] == "done", status
    assert (status["n_shards"], status["n_batches"], status["n_latents"]) == (2, 2, 3)
    assert status["latents_done"] == 3
    assert_same_tables(service.store.root, in_process, status["run_id"])
    # Both workers did part of the job (tasks spread over the two processes).
    for name in ("w1", "w2"):
        assert "succeeded" in service.log(name).read_text()
    # Resubmitting the finished job is a no-op: same id, nothing re-run, no new rows.
    mtime = (service.store.root / "scores" / f"{status['run_id']}.parquet").stat().st_mtime
    assert service.submit(small_cfg) == job_id
    time.sleep(3)
    assert service.store.status(job_id)["state"] == "done"
    assert (service.store.root / "scores" / f"{status['run_id']}.parquet").stat().st_mtime == mtime


def _in_flight(log: str) -> str | None:
    """The name of a task this worker received and has not finished."""
    received = re.findall(r"Task (autointerp\.\w+)\[([0-9a-f-]+)\] received", log)
    finished = set(
        re.findall(r"Task autointerp\.\w+\[([0-9a-f-]+)\] (?:succeeded|retry|raised)", log)
    )
    pending = [name for name, tid in received if tid not in finished]
    return pending[-1] if pending else None


def test_worker_sigkill_and_redis_restart_lose_and_duplicate_nothing(
    service: Service, small_cfg: RunConfig, in_process: Path
) -> None:
    victim = service.start_worker("victim")
    service.start_worker("survivor")
    job_id = service.submit(small_cfg)
    # Kill the victim while it is in the middle of a batch step (sample/explain/score).
    deadline = time.monotonic() + 600
    killed = None
    while time.monotonic() < deadline and killed is None:
        task = _in_flight(service.log("victim").read_text(errors="replace"))
        if task in ("autointerp.sample", "autointerp.explain", "autointerp.score"):
            time.sleep(0.5)
            if _in_flight(service.log("victim").read_text(errors="replace")) == task:
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                killed = task
        time.sleep(0.2)
    assert killed, "the victim never ran a batch step"
    assert service.store.status(job_id)["state"] == "running"
    # Restart Redis (it keeps its queues in the append-only file) while the job runs.
    service.redis.restart()
    status = service.wait(job_id)
    assert status["state"] == "done", status
    assert status["latents_done"] == 3
    assert_same_tables(service.store.root, in_process, status["run_id"])
    # The killed task ran again on the survivor.
    assert killed in service.log("survivor").read_text()
