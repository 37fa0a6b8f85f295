"""A real HTTP server on loopback that speaks the OpenAI chat-completions and completions APIs
with scripted behaviour: the next N requests can fail with a status code, stall past the client's
timeout, or return an empty or malformed reply. It stands in for a misbehaving LLM
provider, which cannot be produced on demand with a real one (vLLM never answers 429 or 503
when asked to); the well-behaved path is tested against a real vLLM server in
tests/llm/test_vllm.py."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    status: int = 200
    delay: float = 0.0
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    """``faults`` are consumed one per request; when empty, requests succeed with
    ``reply_text`` and yes/no log-probabilities (``p_yes``). On the completions endpoint,
    ``echo`` with ``logprobs`` returns the prompt split into words (each word a token with
    log-probability -1 and the alternative ``" x"`` at -2), unless ``echo_logprobs`` is off."""

    def __init__(
        self,
        reply_text: str = "Explanation: test pattern",
        p_yes: float = 0.8,
        logprobs: bool = True,
        replies: list[str] | None = None,
        reject: Callable[[dict[str, Any]], int | None] | None = None,
        echo_logprobs: bool = True,
        lists: bool = True,
        shuffle_choices: bool = False,
    ) -> None:
        self.echo_logprobs = echo_logprobs
        self.lists = lists
        """Whether a list of prompts is answered (else 400, like a server without lists)."""
        self.shuffle_choices = shuffle_choices
        """Answer a list's choices in reverse order (their ``index`` says which is which)."""
        self.reply_text = reply_text
        self.replies: deque[str] = deque(replies or [])
        """Texts for the next generation requests (then ``reply_text``)."""
        self.reject = reject
        """Status code to answer a request with instead of replying (None = reply)."""
        self.p_yes = p_yes
        self.logprobs = logprobs
        self.faults: deque[Fault] = deque()
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        """The Authorization header of each request (the API key the client sent)."""
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        import math

        text = self.reply_text
        if body.get("max_tokens", 0) > 1 and self.replies:
            text = self.replies.popleft()

        logprobs = None
        if self.logprobs and body.get("logprobs"):
            top = [
                {"token": "Yes", "logprob": math.log(self.p_yes), "bytes": None},
                {"token": "No", "logprob": math.log(1 - self.p_yes), "bytes": None},
            ]
            logprobs = {
                "content": [
                    {
                        "token": "Yes",
                        "logprob": top[0]["logprob"],
                        "bytes": None,
                        "top_logprobs": top,
                    }
                ]
            }
        return {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "scripted"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": logprobs,
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        }

    def _completion_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The completions endpoint: one plain-text prompt, or a list of them (one choice per
        prompt, by ``index``, usage summed), as vLLM's server and OpenAI's API answer."""
        prompts = body.get("prompt", "")
        if not isinstance(prompts, list):
            return self._one_completion(body, str(prompts))
        replies = [self._one_completion(body, str(p)) for p in prompts]
        choices = [{**r["choices"][0], "index": i} for i, r in enumerate(replies)]
        if self.shuffle_choices:
            choices.reverse()
        usage = {
            k: sum(r["usage"][k] for r in replies)
            for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        }
        return {**replies[0], "choices": choices, "usage": usage}

    def _one_completion(self, body: dict[str, Any], prompt: str) -> dict[str, Any]:
        import math
        import re

        text = self.reply_text
        if body.get("max_tokens", 0) > 1 and self.replies:
            text = self.replies.popleft()
        words = re.findall(r"\s*\S+|\s+$", prompt)
        n_prompt = len(words) or 1
        logprobs = None
        if self.logprobs and body.get("logprobs") and body.get("echo"):
            if self.echo_logprobs:
                tokens = [*words, " Yes"]
                offsets = [0]
                for w in tokens[:-1]:
                    offsets.append(offsets[-1] + len(w))
                logprobs = {
                    "tokens": tokens,
                    "token_logprobs": [None] + [-1.0] * (len(tokens) - 1),
                    "top_logprobs": [None] + [{t: -1.0, " x": -2.0} for t in tokens[1:]],
                    "text_offset": offsets,
                }
        elif self.logprobs and body.get("logprobs"):
            top = {" Yes": math.log(self.p_yes), " No": math.log(1 - self.p_yes)}
            logprobs = {
                "tokens": [" Yes"],
                "token_logprobs": [top[" Yes"]],
                "top_logprobs": [top],
                "text_offset": [len(prompt)],
            }
        return {
            "id": "x",
            "object": "text_completion",
            "created": 0,
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs, "text": text}],
            "usage": {
                "prompt_tokens": n_prompt,
                "completion_tokens": 3,
                "total_tokens": n_prompt + 3,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": "scripted-model",
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "me",
                                }
                            ],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.authorizations.append(self.headers.get("Authorization"))
                    fault = server.faults.popleft() if server.faults else Fault()
                    status = server.reject(body) if server.reject else None
                    if isinstance(body.get("prompt"), list) and not server.lists:
                        status = 400
                    if status is not None:
                        fault = Fault(status)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    time.sleep(fault.delay + server.delay)
                    with server._lock:  # done working; the reply may overlap the next request
                        server.in_flight -= 1
                    if fault.status != 200:
                        self._send(
                            fault.status,
                            {"error": {"message": f"scripted {fault.status}", "type": "x"}},
                            fault.headers,
                        )
                    else:
                        chat = self.path.endswith("/chat/completions")
                        reply = server._reply if chat else server._completion_reply
                        self._send(200, fault.body or reply(body), fault.headers)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
