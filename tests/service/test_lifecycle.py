"""Job life cycle with real processes: `autointerp up` as a newcomer runs it (embedded Redis,
worker, API; a job submitted over HTTP), cancelling a running job, an LLM endpoint that is
down (capped retries with backoff, then the job fails with a message naming the endpoint)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from autointerp.config import RunConfig, ScoringConfig
from autointerp.service.redis_server import free_port
from tests.service.conftest import Service

pytestmark = pytest.mark.slow


def _tiny(cfg: RunConfig) -> RunConfig:
    """One latent, one scorer: the smallest real job."""
    return replace(cfg, latents="4", scoring=ScoringConfig(scorers=("detection",), n_bootstrap=20))


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_up_starts_everything_and_runs_a_job_submitted_over_http(
    tmp_path: Path, small_cfg: RunConfig
) -> None:
    store, port, redis_port = tmp_path / "store", free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if "REDIS_URL" not in k}
    env |= {"OMP_NUM_THREADS": "1", "AUTOINTERP_BATCH_SIZE": "2"}
    env.pop("AUTOINTERP_API_TOKEN", None)
    cmd = [sys.executable, "-m", "autointerp", "up", "--store", str(store), "--port", str(port)]
    cmd += ["--redis-port", str(redis_port)]
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        token = (store / "api-token").read_text().strip()
        assert (store / "api-token").stat().st_mode & 0o777 == 0o600
        cfg = _tiny(small_cfg)
        body = {"config": cfg.to_dict()}
        headers = {"Authorization": f"Bearer {token}"}
        reply = httpx.post(f"{base}/jobs", json=body, headers=headers, timeout=30)
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["job_id"]
        deadline = time.monotonic() + 600
        status: dict = {}
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/jobs/{job_id}", timeout=10).json()
            if status["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(1)
        assert status["state"] == "done", (status, (tmp_path / "up.log").read_text()[-3000:])
        latents = httpx.get(f"{base}/latents", params={"run_id": status["run_id"]}).json()
        assert [item["latent"] for item in latents["items"]] == [4]
    finally:
        os.kill(up.pid, signal.SIGTERM)
        code = up.wait(60)
    assert code == 0
    # Everything `up` started is gone: the API and Redis no longer answer.
    assert not _answers(port)
    assert not _answers(redis_port)


def test_cancel_a_running_job(service: Service, small_cfg: RunConfig) -> None:
    service.start_worker("worker")
    job_id = service.submit(small_cfg)
    deadline = time.monotonic() + 300
    while service.store.status(job_id)["state"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
    res = subprocess.run(
        [sys.executable, "-m", "autointerp", "cancel", job_id],
        env=service.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "cancelled" in res.stdout
    # The worker drains what is queued: every later step sees the mark and does nothing.
    log = service.log("worker")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = log.read_text()
        if text.count("received") == text.count("succeeded") and "'cancelled': True" in text:
            time.sleep(3)
            if log.read_text() == text:
                break
        time.sleep(0.5)
    status = service.store.status(job_id)
    assert status["state"] == "cancelled"
    assert status["latents_done"] == 0
    assert not (service.store.root / "scores").exists()
    assert not service.store.paths(job_id).finished.exists()


def test_llm_outage_retries_with_backoff_then_fails_the_job(
    service: Service, small_cfg: RunConfig
) -> None:
    dead = free_port()  # nothing listens here
    service.env |= {"AUTOINTERP_LLM_RETRIES": "2", "AUTOINTERP_RETRY_BACKOFF_BASE": "1"}
    service.start_worker("worker")
    cfg = _tiny(small_cfg)
    cfg = replace(
        cfg,
        llm=replace(
            cfg.llm,
            backend="openai",
            base_url=f"http://127.0.0.1:{dead}/v1",
            model="m",
            max_retries=0,
            timeout_s=2.0,
        ),
    )
    job_id = service.submit(cfg)
    status = service.wait(job_id, timeout=300)
    assert status["state"] == "failed"
    assert status["error"]["step"] == "plan"
    assert f"127.0.0.1:{dead}" in status["error"]["error"]
    text = service.log("worker").read_text()
    assert text.count("Task autointerp.plan[") >= 3  # the first try and two retries
    assert "retry: Retry in 1.0s" in text and "retry: Retry in 2.0s" in text
