"""A fault-injecting HTTP proxy in front of an OpenAI-compatible server (seeded).

Each LLM request (POST .../completions) is forwarded to the upstream server, or answered with
a fault instead. The fault is a function of the seed, the request body and how many times
that same body was seen before, so a run's faults do not depend on the order in which
concurrent requests arrive, and a retry of a request meets a fresh draw:

* ``500``        HTTP 500 with a JSON error
* ``429``        HTTP 429 with ``Retry-After: 1``
* ``hang``       no reply for ``--hang`` seconds (past the client's timeout), then close
* ``truncated``  HTTP 200 whose JSON body is cut in the middle (Content-Length honest)
* ``html502``    HTTP 502 with an HTML page, as a reverse proxy sends
* ``html200``    HTTP 200 with an HTML page (``text/html``)
* ``reset``      headers promising the whole body, half of it, then the connection closes
* ``nochoices``  the upstream reply with ``choices: []``
* ``nologprobs`` the upstream reply with every ``logprobs`` removed (requests asking for
                 log-probabilities only)
* ``badtype``    the upstream reply with what the client reads (log-probabilities, else the
                 message content or text) a number

``doomed``: a share of request bodies (by hash; never the endpoint probe "Say yes."), and
the first ``--doom-explanations`` distinct explanation requests (``max_tokens`` > 3), get
HTTP 500 on every attempt while ``doom`` is on, so some rows exhaust their retries.
``POST /_mode`` with ``{"faults": bool, "doom": bool}`` switches either; ``GET /_stats``
returns the counts of forwarded requests and of each fault.

    python tests/servers/fault_proxy.py --upstream http://127.0.0.1:PORT/v1 --seed 1

prints ``listening on http://127.0.0.1:PORT/v1``. From a test: ``FaultProxy(upstream_url)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

KINDS = {
    "500": 0.06,
    "429": 0.03,
    "hang": 0.02,
    "truncated": 0.03,
    "html502": 0.02,
    "html200": 0.02,
    "reset": 0.02,
    "nochoices": 0.02,
    "nologprobs": 0.02,
    "badtype": 0.01,
}
"""Probability of each fault per attempt (about one attempt in four fails)."""
HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


def _unit(*parts: object) -> float:
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=6).digest(), "big") / 2**48


class Proxy:
    def __init__(
        self, upstream: str, seed: int, doom: float, hang: float, rates: dict[str, float]
    ) -> None:
        parts = urlsplit(upstream)
        self.host = parts.hostname or "127.0.0.1"
        self.port = int(parts.port or 80)
        self.prefix = parts.path.rstrip("/")  # e.g. /v1
        self.seed = seed
        self.doom_share = doom
        self.hang = hang
        self.rates = rates
        self.faults_on = True
        self.doom_on = True
        self.seen: Counter[str] = Counter()
        self.doom_explanations = 0
        self.doomed: set[str] = set()
        self.stats: Counter[str] = Counter()

    # ----------------------------------------------------------------------- faults
    def fault(self, body: bytes) -> str | None:
        digest = hashlib.sha256(body).hexdigest()
        attempt = self.seen[digest]
        self.seen[digest] += 1
        probe = b"Say yes." in body
        if attempt == 0 and not probe and len(self.doomed) < self.doom_explanations:
            with contextlib.suppress(ValueError, AttributeError):
                if int(json.loads(body).get("max_tokens") or 0) > 3:
                    self.doomed.add(digest)
        hashed = _unit(self.seed, "doom", digest) < self.doom_share
        if self.doom_on and not probe and (hashed or digest in self.doomed):
            return "doomed"
        if not self.faults_on:
            return None
        draw = _unit(self.seed, digest, attempt)
        for kind, rate in self.rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return None

    # ------------------------------------------------------------------------- HTTP
    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await self.one(reader, writer):
                pass
        with contextlib.suppress(Exception):
            writer.close()

    async def one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        line = await reader.readline()
        if not line:
            return False
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        path = target.split("?", 1)[0]
        if path.startswith("/_"):
            status, payload = self.control(method, path, body)
            await self.send(writer, status, json.dumps(payload).encode())
            return True
        kind = self.fault(body) if method == "POST" and path.endswith("completions") else None
        if kind == "nologprobs" and b'"logprobs"' not in body:
            kind = None  # nothing to take away: no fault (and none counted)
        if kind is not None:
            self.stats[kind] += 1
        if kind in ("500", "doomed"):
            error = {"error": {"message": "injected failure", "type": "server_error"}}
            await self.send(writer, 500, json.dumps(error).encode())
            return True
        if kind == "429":
            error = {"error": {"message": "slow down", "type": "rate_limit"}}
            await self.send(writer, 429, json.dumps(error).encode(), {"Retry-After": "1"})
            return True
        if kind == "hang":
            await asyncio.sleep(self.hang)
            return False
        if kind == "html502":
            await self.send(writer, 502, HTML, content_type="text/html")
            return True
        if kind == "html200":
            await self.send(writer, 200, HTML, content_type="text/html")
            return True
        self.stats["forwarded"] += 1
        status, data = await self.forward(method, target, body)
        if kind == "truncated":
            data = data[: max(1, len(data) // 2)]
        elif kind in ("nochoices", "nologprobs", "badtype") and status == 200:
            data = json.dumps(_spoil(json.loads(data), kind)).encode()
        if kind == "reset":
            head = _head(status, len(data), "application/json", {})
            writer.write(head + data[: len(data) // 2])
            await writer.drain()
            return False
        await self.send(writer, status, data)
        return True

    async def forward(self, method: str, target: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            head = (
                f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        head_bytes, _, data = raw.partition(b"\r\n\r\n")
        status = int(head_bytes.split(b" ", 2)[1])
        return status, data

    @staticmethod
    async def send(
        writer: asyncio.StreamWriter,
        status: int,
        data: bytes,
        extra: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        writer.write(_head(status, len(data), content_type, extra or {}) + data)
        await writer.drain()

    def control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/_stats":
            return 200, dict(self.stats)
        if method == "POST" and path == "/_mode":
            mode = json.loads(body or b"{}")
            self.faults_on = bool(mode.get("faults", self.faults_on))
            self.doom_on = bool(mode.get("doom", self.doom_on))
            return 200, {"faults": self.faults_on, "doom": self.doom_on}
        if method == "POST" and path == "/_reset":
            self.stats.clear()
            return 200, {}
        return 404, {"error": {"message": f"no route {method} {path}"}}


def _head(status: int, length: int, content_type: str, extra: dict[str, str]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} X",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        "Connection: keep-alive",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _spoil(reply: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "nochoices":
        reply["choices"] = []
    for choice in reply.get("choices", []):
        if kind == "nologprobs":
            choice["logprobs"] = None
        elif kind == "badtype":  # wrongly typed where the client reads
            if choice.get("logprobs"):
                choice["logprobs"] = {"content": 12345, "top_logprobs": 12345}
            elif "message" in choice:
                choice["message"]["content"] = 12345
            else:
                choice["text"] = 12345
    return reply


class FaultProxy:
    """The proxy in a child process, stopped by its PID: ``with FaultProxy(url) as p: p.url``."""

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 1,
        doom: float = 0.04,
        doom_explanations: int = 0,
        hang: float = 4.0,
        rates: dict[str, float] | None = None,
    ) -> None:
        cmd = [sys.executable, __file__, "--upstream", upstream, "--seed", str(seed)]
        cmd += ["--doom", str(doom), "--hang", str(hang)]
        cmd += ["--doom-explanations", str(doom_explanations)]
        if rates is not None:
            cmd += ["--rates", json.dumps(rates)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the fault proxy did not start (it printed {line!r})")
        self.url = line.split()[-1]
        self.root = self.url.removesuffix("/v1")

    def _call(self, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(
            self.root + path, data=body, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            out: dict[str, Any] = json.loads(reply.read())
            return out

    def stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._call("/_stats").items()}

    def mode(self, *, faults: bool | None = None, doom: bool | None = None) -> None:
        mode = {k: v for k, v in (("faults", faults), ("doom", doom)) if v is not None}
        self._call("/_mode", mode)

    def reset(self) -> None:
        self._call("/_reset", {})

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="Upstream base URL, e.g. http://h:p/v1.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--doom", type=float, default=0.04, help="Share of bodies that always fail.")
    ap.add_argument("--hang", type=float, default=4.0, help="Seconds a hang lasts.")
    ap.add_argument(
        "--doom-explanations", type=int, default=0, help="Explanation requests that always fail."
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rates", help="JSON {kind: probability} instead of the defaults.")
    args = ap.parse_args()
    rates = json.loads(args.rates) if args.rates else dict(KINDS)
    unknown = set(rates) - set(KINDS)
    if unknown:
        ap.error(f"unknown fault kinds {sorted(unknown)}; known: {sorted(KINDS)}")
    proxy = Proxy(args.upstream, args.seed, args.doom, args.hang, rates)
    proxy.doom_explanations = args.doom_explanations

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, _context: None)  # connections cut at exit
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        server = await asyncio.start_server(proxy.connection, "127.0.0.1", args.port)
        port = server.sockets[0].getsockname()[1]
        print(f"listening on http://127.0.0.1:{port}{proxy.prefix}", flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
