"""Nightly scoring: a real `autointerp beat` fires a schedule entry on a short test interval,
a real worker runs the job it submits; later fires of the same entry submit nothing twice."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from tests.service.conftest import Service

pytestmark = pytest.mark.slow

SCHEDULE = """
[[entry]]
name = "watch"
every = "3s"
action = "score_folder"
folder = "{folder}"
[entry.config]
latents = "4"
"corpus.n_tokens" = 3200
"cache.dtype" = "float32"
"cache.shard_windows" = 50
"sampling.n_explain" = 6
"sampling.n_score" = 6
"sampling.n_nonactivating" = 6
"sampling.min_examples" = 8
"scoring.scorers" = ["detection"]
"scoring.n_bootstrap" = 20
"""


def test_beat_entry_fires_and_produces_its_job_once(
    service: Service, demo_sae_copy: Path, tmp_path: Path
) -> None:
    watched = tmp_path / "checkpoints"
    watched.mkdir()
    shutil.copytree(demo_sae_copy, watched / "demo")
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(SCHEDULE.format(folder=watched))
    service.start_worker("worker")
    service.start("beat", "beat", "--schedule", str(schedule))
    store = service.store
    deadline = time.monotonic() + 600
    jobs: list[dict] = []
    while time.monotonic() < deadline:
        jobs = store.list_jobs()
        if jobs and jobs[0]["state"] in ("done", "failed"):
            break
        time.sleep(1)
    assert len(jobs) == 1, jobs
    job = jobs[0]
    assert job["state"] == "done", job
    assert job["origin"] == "schedule:watch"
    assert store.config(job["job_id"]).sae == str((watched / "demo").resolve())
    assert (store.root / "scores" / f"{job['run_id']}.parquet").is_file()
    # The entry keeps firing every 3 s; each later fire finds the job and submits nothing.
    log = service.log("worker")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fires = re.findall(
            r"Task autointerp\.scheduled\[[^\]]+\] succeeded in [\d.]+s: (.*)", log.read_text()
        )
        if sum("'existing': ['" in f for f in fires) >= 2:
            break
        time.sleep(1)
    assert sum("'existing': ['" in f for f in fires) >= 2, fires
    assert len(store.list_jobs()) == 1
    assert log.read_text().count("Task autointerp.plan[") == 2  # received + succeeded, once
    # A new checkpoint dropped into the folder is picked up by the next fire.
    shutil.copytree(demo_sae_copy, watched / "demo-2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(store.list_jobs()) < 2:
        time.sleep(1)
    assert len(store.list_jobs()) == 2
