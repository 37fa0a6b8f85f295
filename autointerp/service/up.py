"""``autointerp up``: the whole service on one machine, for a newcomer.

Starts, as child processes: an embedded redis-server with persistence under ``<store>/redis``
unless ``REDIS_URL`` / ``AUTOINTERP_REDIS_URL`` is set, ``--workers`` workers on every queue,
beat when a schedule file is given, and the HTTP API. The API token is
``AUTOINTERP_API_TOKEN`` or, when unset, a random one kept in ``<store>/api-token`` (mode
0600).

A :class:`Supervisor` keeps the workers, beat and the API running: a child that exits (crash,
out of memory, SIGKILL) is started again after 1, 2, 4 ... seconds (at most 30; back to 1 once
it had stayed up for a minute), with a line on stdout naming it, its exit code, its restart
count and the delay; the other children keep running. Only Ctrl-C or SIGTERM to ``up``
stops everything (each child by its PID, SIGTERM then SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autointerp.service.redis_server import EmbeddedRedis, free_port

__all__ = ["Supervisor", "api_token", "run_up"]


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


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return str(code)


@dataclass
class _Child:
    name: str
    cmd: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    failures: int = 0
    """Exits in a row that came before ``stable_after`` seconds of running."""
    due: float | None = None
    """When a dead child is started again (monotonic clock)."""


@dataclass
class Supervisor:
    """Runs named commands as children and restarts any that exits, with exponential
    backoff; :meth:`stop` stops them all by PID."""

    commands: dict[str, list[str]]
    env: dict[str, str]
    logs: Path
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    stable_after: float = 60.0
    """A child that ran this long before exiting starts again after ``backoff_base``."""
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    children: list[_Child] = field(init=False, default_factory=list)

    def start(self) -> None:
        self.children = [_Child(name, cmd) for name, cmd in self.commands.items()]
        for child in self.children:
            self._spawn(child)

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children if c.proc and c.proc.poll() is None}

    def _spawn(self, child: _Child) -> subprocess.Popen[bytes]:
        with (self.logs / f"{child.name}.log").open("ab") as log:
            # A session of its own: Ctrl-C reaches `up` alone, which stops the children.
            child.proc = subprocess.Popen(
                child.cmd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child.started, child.due = time.monotonic(), None
        return child.proc

    def poll(self) -> None:
        """Notice exited children and start those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.due is not None:
                if now >= child.due:
                    proc = self._spawn(child)
                    self.say(f"{child.name} restarted (pid {proc.pid})")
                continue
            if child.proc is None or (code := child.proc.poll()) is None:
                continue
            stable = now - child.started >= self.stable_after
            child.failures = 1 if stable else child.failures + 1
            child.restarts += 1
            delay = min(self.backoff_max, self.backoff_base * 2 ** (child.failures - 1))
            child.due = now + delay
            self.say(
                f"{child.name} (pid {child.proc.pid}) exited with {_describe(code)}; "
                f"restart {child.restarts} in {delay:g} s; see {self.logs / child.name}.log"
            )

    def stop(self) -> None:
        _stop([c.proc for c in self.children if c.proc is not None])


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
    supervisor = Supervisor(commands, env, logs)
    try:
        supervisor.start()
        print(f"redis   {url}{' (embedded)' if redis else ''}")
        print(f"store   {store}")
        print(f"api     http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        print(f"web     http://{host}:{port}/ui/")
        token_src = (
            "AUTOINTERP_API_TOKEN" if "AUTOINTERP_API_TOKEN" in os.environ else store / "api-token"
        )
        print(f"token   in {token_src}")
        print("pids    " + ", ".join(f"{n} {pid}" for n, pid in supervisor.pids().items()))
        print(f"logs    {logs}/ ; Ctrl-C stops everything", flush=True)
        while True:
            supervisor.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut this short
            signal.signal(signum, signal.SIG_IGN)
        supervisor.stop()
        if redis is not None:
            redis.stop()
