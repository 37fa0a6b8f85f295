"""``autointerp up``: the whole service on one machine, for a newcomer.

Starts (as child processes, stopped by PID on Ctrl-C or when one of them dies): an embedded
redis-server with persistence under ``<store>/redis`` unless ``REDIS_URL`` /
``AUTOINTERP_REDIS_URL`` is set, ``--workers`` workers on every queue, beat when a schedule
file is given, and the HTTP API. The API token is ``AUTOINTERP_API_TOKEN`` or, when unset, a
random one kept in ``<store>/api-token`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from autointerp.service.redis_server import EmbeddedRedis, free_port

__all__ = ["api_token", "run_up"]


def api_token(store: Path) -> str:
    """``AUTOINTERP_API_TOKEN``, else the store's token file (created on first use)."""
    token = os.environ.get("AUTOINTERP_API_TOKEN")
    if token:
        return token
    path = store / "api-token"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(24)
    store.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_up(
    store: Path,
    host: str,
    port: int,
    workers: int = 1,
    schedule: Path | None = None,
    redis_port: int | None = None,
) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    store = store.resolve()
    store.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, AUTOINTERP_STORE=str(store))
    redis: EmbeddedRedis | None = None
    url = env.get("AUTOINTERP_REDIS_URL") or env.get("REDIS_URL")
    if not url:
        if redis_port is None:
            redis_port = 6379 if _port_free(6379) else free_port()
        redis = EmbeddedRedis(store / "redis", port=redis_port, persist=True).start()
        url = redis.url
    env["AUTOINTERP_REDIS_URL"] = url
    env["AUTOINTERP_API_TOKEN"] = api_token(store)
    exe = [sys.executable, "-m", "autointerp"]
    logs = store / "logs"
    logs.mkdir(exist_ok=True)
    commands = {f"worker{i}": [*exe, "worker", "-n", f"up{i}@%h"] for i in range(workers)}
    if schedule is not None:
        commands["beat"] = [*exe, "beat", "--schedule", str(schedule.resolve())]
    commands["api"] = [*exe, "serve", "--host", host, "--port", str(port)]
    procs: list[subprocess.Popen[bytes]] = []
    names: list[str] = []
    try:
        for name, cmd in commands.items():
            log = (logs / f"{name}.log").open("ab")
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
            names.append(name)
        print(f"redis   {url}{' (embedded)' if redis else ''}")
        print(f"store   {store}")
        print(f"api     http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        print(f"web     http://{host}:{port}/ui/")
        token_src = (
            "AUTOINTERP_API_TOKEN" if "AUTOINTERP_API_TOKEN" in os.environ else store / "api-token"
        )
        print(f"token   in {token_src}")
        print(f"logs    {logs}/ ; Ctrl-C stops everything", flush=True)
        while True:
            for name, proc in zip(names, procs, strict=True):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {logs / name}.log")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(procs)
        if redis is not None:
            redis.stop()
