"""`autointerp up` keeps its children running: a dead child is restarted with exponential
backoff and a line on stdout, the others keep running, and only SIGTERM stops everything.
Real processes throughout (the Supervisor on short-lived commands, then `up` itself)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from autointerp.config import RunConfig, ScoringConfig
from autointerp.service.redis_server import free_port
from autointerp.service.up import Supervisor


def _supervise(sup: Supervisor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sup.poll()
        time.sleep(0.02)


@pytest.mark.slow
def test_a_crashing_child_is_restarted_with_doubling_capped_delays(tmp_path: Path) -> None:
    lines: list[str] = []
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
    steady = [sys.executable, "-c", "import time; time.sleep(60)"]
    sup = Supervisor(
        {"crash": crash, "steady": steady},
        dict(os.environ),
        tmp_path,
        backoff_base=0.2,
        backoff_max=0.8,
        say=lines.append,
    )
    sup.start()
    steady_pid = sup.pids()["steady"]
    try:
        _supervise(sup, 4.5)
        assert sup.pids()["steady"] == steady_pid  # the other one kept running, untouched
    finally:
        sup.stop()
    exits = [line for line in lines if "exited" in line]
    delays = [float(d) for d in re.findall(r"restart \d+ in ([\d.]+) s", "\n".join(exits))]
    assert delays[:4] == [0.2, 0.4, 0.8, 0.8], lines
    assert all(line.startswith("crash (pid ") and "exited with 3;" in line for line in exits)
    assert re.search(r"restart 3 in 0.8 s; see .*crash\.log", exits[2])
    assert sum("crash restarted (pid " in line for line in lines) >= 3
    assert not any(line.startswith("steady") for line in lines)
    assert not _alive(steady_pid)  # stop() stopped it by its PID


@pytest.mark.slow
def test_a_child_that_stayed_up_restarts_after_the_base_delay(tmp_path: Path) -> None:
    lines: list[str] = []
    crash = [sys.executable, "-c", "import sys; sys.exit(1)"]
    sup = Supervisor({"c": crash}, dict(os.environ), tmp_path, backoff_base=0.2, say=lines.append)
    sup.stable_after = 0.0  # every run counts as long enough: the backoff never grows
    sup.start()
    try:
        _supervise(sup, 2.0)
    finally:
        sup.stop()
    delays = re.findall(r"restart \d+ in ([\d.]+) s", "\n".join(lines))
    assert len(delays) >= 3 and set(delays) == {"0.2"}, lines


def _pids(text: str) -> dict[str, int]:
    match = re.search(r"^pids\s+(.*)$", text, re.M)
    assert match, text
    return {name: int(pid) for name, pid in re.findall(r"(\w+) (\d+)", match.group(1))}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.slow
def test_up_restarts_a_killed_worker_and_still_runs_a_job(
    tmp_path: Path, small_cfg: RunConfig
) -> None:
    store, port, redis_port = tmp_path / "store", free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if "REDIS_URL" not in k}
    env |= {"OMP_NUM_THREADS": "1", "AUTOINTERP_BATCH_SIZE": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("AUTOINTERP_API_TOKEN", None)
    cmd = [sys.executable, "-m", "autointerp", "up", "--store", str(store), "--port", str(port)]
    cmd += ["--redis-port", str(redis_port), "--workers", "2"]
    out = tmp_path / "up.log"
    up = subprocess.Popen(cmd, env=env, stdout=out.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while "pids " not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        pids = _pids(out.read_text())
        assert set(pids) == {"worker0", "worker1", "api"}
        # Kill worker0 once it is up (its log says ready), as the OOM killer would.
        ready = store / "logs" / "worker0.log"
        while not re.search(r"\bready\b", ready.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(pids["worker0"], signal.SIGKILL)
        restarted = re.compile(r"^worker0 restarted \(pid (\d+)\)$", re.M)
        while not restarted.search(out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        text = out.read_text()
        assert f"worker0 (pid {pids['worker0']}) exited with -9 (SIGKILL); restart 1 in 1 s" in text
        match = restarted.search(text)
        assert match, text
        new_pid = int(match.group(1))
        assert new_pid != pids["worker0"] and _alive(new_pid)
        assert _alive(pids["worker1"]) and _alive(pids["api"])  # the others are untouched
        assert "worker1 (pid" not in text and "api (pid" not in text
        assert up.poll() is None
        # A job submitted afterwards still finishes.
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        token = (store / "api-token").read_text().strip()
        cfg = replace(
            small_cfg, latents="4", scoring=ScoringConfig(scorers=("detection",), n_bootstrap=20)
        )
        reply = httpx.post(
            f"{base}/jobs",
            json={"config": cfg.to_dict()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["job_id"]
        deadline = time.monotonic() + 600
        status: dict = {}
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/jobs/{job_id}", timeout=10).json()
            if status["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(1)
        assert status["state"] == "done", (status, out.read_text()[-3000:])
    finally:
        os.kill(up.pid, signal.SIGTERM)
        code = up.wait(60)
    assert code == 0
    for name, pid in pids.items():
        if name != "worker0":
            assert not _alive(pid), f"{name} still running after up stopped"
    assert not _alive(new_pid)
