"""An OpenAI-compatible HTTP server that answers every request after a fixed latency.

It stands in for an LLM endpoint whose only cost is time (a remote API, a busy vLLM
server), so that a benchmark measures how well a client keeps requests in flight. It runs
on asyncio (one coroutine per connection, HTTP/1.1 keep-alive), so thousands of requests can
wait out their latency at once without threads; it counts requests and the most in flight.

Endpoints (replies are what the ``openai`` backend and the scorers read):

* ``GET /v1/models``: one model, ``--model`` (default ``fake``).
* ``POST /v1/chat/completions``: with ``logprobs``, a one-token "Yes"/"No" answer with
  ``top_logprobs`` alternatives (P(yes) a hash of the prompt); with ``max_tokens <= 3`` a
  plain "Yes"/"No"; otherwise an explanation ("Explanation: ...").
* ``POST /v1/completions`` (one prompt or a list): with ``echo`` and ``logprobs``, the
  prompt split into words (one token each) with log-probabilities and ``logprobs``
  alternatives per position; with ``logprobs`` alone, one " Yes"/" No" token and its
  alternatives; otherwise text.
* ``GET /_stats``: counters (requests by path, in flight, max in flight, latency);
  ``POST /_reset`` zeroes them; ``POST /_latency`` with ``{"latency": s}`` changes the latency.

    python benchmarks/latency_server.py --latency 0.25 [--port 0] [--model fake]

prints ``listening on http://127.0.0.1:PORT/v1`` once it accepts connections; SIGTERM or
Ctrl-C stops it. From a program: ``with ServerProcess(0.25) as server: server.url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["LatencyServer", "Replies", "ServerProcess"]

_WORDS = re.compile(r"\s*\S+|\s+$")
_TOPICS = ("rivers", "numbers", "code", "names", "time", "water", "the letter s", "plurals")
_FILLERS = [f" t{i}" for i in range(64)]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _unit(text: str) -> float:
    """A number in [0, 1) from a hash of ``text`` (deterministic replies)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") / 2**32


def _last_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        messages = body.get("messages") or [{}]
        return str(messages[-1].get("content", ""))
    prompt = body.get("prompt", "")
    return str(prompt[0] if isinstance(prompt, list) and prompt else prompt)


def _usage(prompt: str, completion: int) -> dict[str, int]:
    n_prompt = max(1, len(_WORDS.findall(prompt)))
    return {
        "prompt_tokens": n_prompt,
        "completion_tokens": completion,
        "total_tokens": n_prompt + completion,
    }


class Replies:
    """The reply bodies (pure functions of the request body)."""

    def __init__(self, model: str = "fake") -> None:
        self.model = model

    def models(self) -> dict[str, Any]:
        card = {"id": self.model, "object": "model", "created": 0, "owned_by": "bench"}
        return {"object": "list", "data": [card]}

    @staticmethod
    def _p_yes(text: str) -> float:
        return 0.05 + 0.9 * _unit(text)

    @staticmethod
    def _explanation(text: str) -> str:
        return f"Explanation: words about {_TOPICS[int(_unit(text) * len(_TOPICS))]}"

    @staticmethod
    def _alternatives(first: list[tuple[str, float]], n: int) -> list[tuple[str, float]]:
        """``first`` then filler tokens at low log-probability, ``n`` in all (at least
        ``first``)."""
        rest = [(tok, -8.0 - i * 0.1) for i, tok in enumerate(_FILLERS[: max(0, n - len(first))])]
        return first + rest

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        text = _last_text(body)
        p_yes = self._p_yes(text)
        answer = "Yes" if p_yes >= 0.5 else "No"
        logprobs = None
        if body.get("logprobs"):
            n = int(body.get("top_logprobs") or 0)
            pairs = [("Yes", math.log(p_yes)), ("No", math.log(1 - p_yes))]
            top = [
                {"token": t, "logprob": lp, "bytes": None} for t, lp in self._alternatives(pairs, n)
            ]
            chosen = top[0] if answer == "Yes" else top[1]
            logprobs = {"content": [{**chosen, "top_logprobs": top}]}
            content, n_completion = answer, 1
        elif int(body.get("max_tokens") or 16) <= 3:
            content, n_completion = answer, 1
        else:
            content = self._explanation(text)
            n_completion = len(content.split())
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": logprobs,
            "message": {"role": "assistant", "content": content},
        }
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": _usage(text, n_completion),
        }

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """One prompt, or a list of them (one choice per prompt by ``index``, usage summed,
        as vLLM's server answers)."""
        prompts = body.get("prompt", "")
        if not isinstance(prompts, list):
            return self._completion(body, str(prompts))
        replies = [self._completion(body, str(p)) for p in prompts]
        usage = {
            k: sum(r["usage"][k] for r in replies)
            for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        }
        choices = [{**r["choices"][0], "index": i} for i, r in enumerate(replies)]
        return {**replies[0], "choices": choices, "usage": usage}

    def _completion(self, body: dict[str, Any], prompt: str) -> dict[str, Any]:
        n_top = int(body.get("logprobs") or 0)
        p_yes = self._p_yes(prompt)
        answer = " Yes" if p_yes >= 0.5 else " No"
        logprobs: dict[str, Any] | None = None
        text = answer
        if body.get("logprobs") is not None and body.get("echo"):
            tokens = [*_WORDS.findall(prompt), answer]
            offsets = [0]
            for tok in tokens[:-1]:
                offsets.append(offsets[-1] + len(tok))
            values: list[float | None] = [None]
            tops: list[dict[str, float] | None] = [None]
            for tok in tokens[1:]:
                value = -0.2 - 4.0 * _unit(tok)
                values.append(value)
                tops.append(dict(self._alternatives([(tok, value)], n_top)))
            logprobs = {
                "tokens": tokens,
                "token_logprobs": values,
                "top_logprobs": tops,
                "text_offset": offsets,
            }
        elif body.get("logprobs") is not None:
            pairs = [(" Yes", math.log(p_yes)), (" No", math.log(1 - p_yes))]
            logprobs = {
                "tokens": [answer],
                "token_logprobs": [pairs[0][1] if answer == " Yes" else pairs[1][1]],
                "top_logprobs": [dict(self._alternatives(pairs, n_top))],
                "text_offset": [len(prompt)],
            }
        elif int(body.get("max_tokens") or 16) > 3:
            text = " " + self._explanation(prompt)
        choice = {"index": 0, "finish_reason": "stop", "logprobs": logprobs, "text": text}
        return {
            "id": "cmpl-bench",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [choice],
            "usage": _usage(prompt, max(1, len(text.split()))),
        }


class LatencyServer:
    """The server (``serve()``; run it in its own process, see ``ServerProcess``: on a thread
    of the client's process it shares the GIL with the client, and the client's event loop
    and the server's then slow each other down badly). Counters: ``requests`` (by path),
    ``in_flight``, ``max_in_flight``."""

    def __init__(
        self, latency: float = 0.25, *, host: str = "127.0.0.1", port: int = 0, model: str = "fake"
    ) -> None:
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.latency = latency
        self.host = host
        self.port = port
        self.replies = Replies(model)
        self.requests: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        llm = sum(n for path, n in self.requests.items() if path.endswith("completions"))
        return {
            "requests": llm,
            "by_path": dict(self.requests),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "latency": self.latency,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.max_in_flight = self.in_flight

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until cancelled; ``on_ready()`` is called once connections are accepted."""
        server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=4096, reuse_address=True
        )
        self.port = int(server.sockets[0].getsockname()[1])
        if on_ready is not None:
            on_ready()
        async with server:
            await server.serve_forever()

    # ---------------------------------------------------------------------- HTTP
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection's requests in turn (keep-alive) until it closes; a cancelled
        connection (the server stopping) ends quietly."""
        with contextlib.suppress(
            asyncio.CancelledError, asyncio.IncompleteReadError, ConnectionError, ValueError
        ):
            while await self._one_request(reader, writer):
                pass
        writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request, answer it after the latency; False when the connection ends."""
        line = await reader.readline()
        if not line:
            return False
        method, target, version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        keep = headers.get("connection", "").lower() != "close" and "1.1" in version
        path = target.split("?", 1)[0]
        status, payload = await self._route(method, path, body)
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + data)
        await writer.drain()
        return keep

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path.startswith("/_"):
            return self._control(method, path, body)
        if method == "GET" and path.endswith("/models"):
            self.requests[path] += 1
            return 200, self.replies.models()
        if method != "POST" or not path.endswith(("/chat/completions", "/completions")):
            return 404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}
        start = time.monotonic()
        self.requests[path] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                request = json.loads(body)
            except json.JSONDecodeError as exc:
                return 400, {"error": {"message": f"invalid JSON: {exc}", "type": "bad_request"}}
            chat = path.endswith("/chat/completions")
            reply = self.replies.chat(request) if chat else self.replies.completion(request)
            await asyncio.sleep(max(0.0, self.latency - (time.monotonic() - start)))
            return 200, reply
        finally:
            self.in_flight -= 1

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/_stats":
            return 200, self.stats()
        if method == "POST" and path == "/_reset":
            self.reset()
            return 200, self.stats()
        if method == "POST" and path == "/_latency":
            latency = float(json.loads(body or b"{}").get("latency", -1))
            if latency < 0:
                return 400, {"error": {"message": "give {'latency': seconds >= 0}"}}
            self.latency = latency
            return 200, self.stats()
        return 404, {"error": {"message": f"no route {method} {path}"}}


class ServerProcess:
    """This script in a child process (stopped by its PID), with its control endpoints;
    ``with ServerProcess(0.25) as server: server.url``."""

    def __init__(self, latency: float = 0.25, model: str = "fake") -> None:
        cmd = [sys.executable, __file__, "--latency", str(latency), "--model", model]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the latency server did not start (it printed {line!r})")
        self.url = line.split()[-1]
        self.root = self.url.removesuffix("/v1")

    def _call(self, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        body = None if data is None else json.dumps(data).encode()
        method = "GET" if data is None else "POST"
        request = urllib.request.Request(self.root + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=10) as reply:
            out: dict[str, Any] = json.loads(reply.read())
            return out

    def stats(self) -> dict[str, Any]:
        return self._call("/_stats")

    def reset(self) -> None:
        self._call("/_reset", {})

    def set_latency(self, latency: float) -> None:
        self._call("/_latency", {"latency": latency})

    def burst(self, n: int) -> float:
        """Seconds to get ``n`` replies to ``n`` requests sent at once over raw sockets (a
        client with next to no overhead): ~ the latency when the server keeps up."""
        port = int(self.root.rsplit(":", 1)[1])
        body = json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
        request = (head + "Connection: close\r\n\r\n").encode() + body

        async def one() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await reader.read()
            writer.close()

        async def all_at_once() -> None:
            await asyncio.gather(*(one() for _ in range(n)))

        start = time.perf_counter()
        asyncio.run(all_at_once())
        return time.perf_counter() - start

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.25, help="Seconds per request.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = a free port.")
    ap.add_argument("--model", default="fake", help="The model name /v1/models lists.")
    args = ap.parse_args()
    server = LatencyServer(args.latency, host=args.host, port=args.port, model=args.model)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        await server.serve(lambda: print(f"listening on {server.url}", flush=True))

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
