"""The lease on held tasks (autointerp/tasks/lease.py), with real Redis and real workers.

* A task that runs longer than the visibility timeout on a live worker runs once (and, as a
  control, twice when the worker does not renew its lease).
* A SIGKILLed worker's task runs again on the other worker within the visibility timeout
  plus one sweep, and the job still finishes with every long step run once. The test uses a
  10 s timeout; benchmarks/bench_redelivery.py measures the default (120 s).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from celery import Celery

from autointerp.config import RunConfig, ScoringConfig
from tests.service.conftest import Service

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _start_hold_worker(service: Service, name: str) -> None:
    """A real worker on the service's app plus the test-only ``tests.hold`` task."""
    cmd = [sys.executable, "-m", "celery", "-A", "tests.service.lease_app", "worker", "-Q", "io"]
    cmd += ["-n", f"{name}@%h", "--pool", "solo", "-l", "INFO"]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    service.workers[name] = service._spawn(cmd, name)
    service.wait_log(name, r"\bready\b", 120)


@pytest.mark.parametrize("lease", [True, False], ids=["lease", "no-lease"])
def test_a_task_outliving_the_visibility_timeout_runs_once(
    service: Service, tmp_path: Path, lease: bool
) -> None:
    service.env |= {
        "AUTOINTERP_VISIBILITY_TIMEOUT": "4",
        "AUTOINTERP_TEST_NO_LEASE": "0" if lease else "1",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("w1", "w2"):
        _start_hold_worker(service, name)
    if lease:
        service.wait_log("w1", r"lease: renewing held tasks every 1\.0 s", 10)
    marker = tmp_path / "starts.txt"
    client = Celery("client", broker=service.redis.url)
    task_id = client.send_task("tests.hold", args=(12.0, str(marker)), queue="io").id
    done = rf"tests\.hold\[{task_id}\] succeeded"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(re.search(done, service.log(n).read_text()) for n in ("w1", "w2")):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"tests.hold did not finish: {service.log('w1').read_text()[-2000:]}")
    starts = marker.read_text().splitlines()
    if lease:
        assert len(starts) == 1, starts  # 12 s of work, 4 s timeout: renewed, never handed out
    else:
        assert len(starts) >= 2, starts  # the control: without the lease it runs again


def _tiny(cfg: RunConfig, latents: str = "4") -> RunConfig:
    scoring = ScoringConfig(scorers=("detection",), n_bootstrap=20)
    return replace(cfg, latents=latents, scoring=scoring)


def _received(log: str) -> list[tuple[str, str]]:
    return re.findall(r"Task (autointerp\.\w+)\[([0-9a-f-]+)\] received", log)


def test_a_killed_workers_task_runs_again_within_the_visibility_timeout(
    service: Service, small_cfg: RunConfig
) -> None:
    # 6 s: shorter than loading the model and caching (plan) or scoring a batch of two
    # latents on any CPU, so the lease is needed; sweep: app.celery_config's
    # max(1, min(10, timeout // 4))
    timeout, sweep = 6, 1
    service.env["AUTOINTERP_VISIBILITY_TIMEOUT"] = str(timeout)
    workers = {name: service.start_worker(name) for name in ("w1", "w2")}
    job_id = service.submit(_tiny(small_cfg, "4,7"))
    # `plan` (it loads the model: many seconds) is the first task; kill whoever holds it.
    deadline = time.monotonic() + 120
    victim = plan_id = None
    while time.monotonic() < deadline and victim is None:
        for name in workers:
            plan = [
                tid
                for task, tid in _received(service.log(name).read_text())
                if task.endswith("plan")
            ]
            if plan:
                victim, plan_id = name, plan[0]
        time.sleep(0.1)
    assert victim is not None and plan_id is not None, "no worker received the plan task"
    time.sleep(1.0)
    os.kill(workers[victim].pid, signal.SIGKILL)
    workers[victim].wait()
    killed_at = time.monotonic()
    survivor = next(name for name in workers if name != victim)
    while time.monotonic() < killed_at + timeout + sweep + 30:
        if plan_id in service.log(survivor).read_text():
            break
        time.sleep(0.1)
    redelivered = time.monotonic() - killed_at
    print(f"plan redelivered to {survivor} {redelivered:.1f} s after SIGKILL (timeout {timeout} s)")
    assert plan_id in service.log(survivor).read_text(), "the killed task never ran again"
    # Within one timeout of the last renewal (<= the kill) plus one sweep, and some slack for
    # a loaded machine; without the lease-sized defaults this would be an hour.
    assert redelivered < timeout + sweep + 8
    status = service.wait(job_id, timeout=600)
    assert status["state"] == "done", status
    # Every task ran once on the survivor although some outlived the timeout.
    log = service.log(survivor).read_text()
    ids = [tid for _, tid in _received(log)]
    retried = set(re.findall(r"Task autointerp\.\w+\[([0-9a-f-]+)\] retry", log))
    twice = {tid for tid in ids if ids.count(tid) > 1 and tid not in retried}
    assert not twice, f"tasks run twice on {survivor}: {twice}"
    durations = [float(s) for s in re.findall(r"succeeded in ([\d.]+)s", log)]
    assert max(durations) > timeout, durations  # the lease was needed, not idle
