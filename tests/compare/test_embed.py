"""Embedders: an OpenAI-compatible endpoint (a real HTTP server on loopback), the offline
MiniLM, sentence-transformers names, the on-disk cache and de-duplication."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autointerp.compare.embed import (
    EmbedderOptions,
    NamedEmbedder,
    cached,
    embed_texts,
    make_embedder,
)
from autointerp.errors import ConfigError, LLMRequestError, LLMUnavailableError

DIM = 16


def raw_vector(text: str) -> np.ndarray:
    """The server's deterministic, deliberately not unit-norm, vector for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return 3.0 * np.random.default_rng(seed).standard_normal(DIM)


class EmbeddingServer:
    """A real HTTP server on loopback speaking the OpenAI embeddings API (POST
    /v1/embeddings). It stands in for a remote embeddings server (OpenAI, vLLM, TEI), which
    cannot run here: vectors are deterministic per text, returned in reverse order with
    their ``index`` (clients must reorder), and ``statuses`` script failures of the next
    requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["authorization"] = self.headers.get("Authorization")
                body["path"] = self.path
                server.requests.append(body)
                status = server.statuses.popleft() if server.statuses else 200
                if status != 200:
                    reply: dict[str, Any] = {"error": {"message": f"scripted {status}"}}
                elif self.path != "/v1/embeddings":
                    status, reply = 404, {"error": {"message": "not found"}}
                else:
                    texts = body["input"]
                    data = [
                        {"object": "embedding", "index": i, "embedding": raw_vector(t).tolist()}
                        for i, t in enumerate(texts)
                    ]
                    reply = {
                        "object": "list",
                        "model": body["model"],
                        "data": data[::-1],
                        "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
                    }
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    srv = EmbeddingServer()
    yield srv
    srv.close()


def _openai(server: EmbeddingServer, **kw: Any) -> NamedEmbedder:
    opts = EmbedderOptions(base_url=server.url, api_key_env="TEST_EMBED_KEY", **kw)
    return make_embedder("openai:test-embed", opts)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_openai_endpoint_vectors_come_back_in_order_unit_norm_and_batched(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-test")
    embed = _openai(server, batch_size=3)
    texts = [f"explanation {i}" for i in range(7)]
    vectors = embed(texts)
    assert vectors.shape == (7, DIM) and vectors.dtype == np.float32
    for text, v in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(v, _unit(raw_vector(text)), atol=1e-6)
    assert [len(r["input"]) for r in server.requests] == [3, 3, 1]
    assert {r["model"] for r in server.requests} == {"test-embed"}
    assert {r["authorization"] for r in server.requests} == {"Bearer sk-test"}
    assert {r["encoding_format"] for r in server.requests} == {"float"}
    assert embed.name == f"openai:test-embed@{server.url}"
    assert embed([]).shape[0] == 0 and len(server.requests) == 3  # nothing sent


def test_openai_endpoint_retries_server_errors_then_gives_up(server: EmbeddingServer) -> None:
    embed = _openai(server, max_retries=2)
    server.statuses.extend([503, 500])
    np.testing.assert_allclose(embed(["a"])[0], _unit(raw_vector("a")), atol=1e-6)
    assert len(server.requests) == 3
    server.statuses.extend([500, 500, 500])
    with pytest.raises(LLMUnavailableError, match="gave up after 3 attempts"):
        embed(["b"])
    assert len(server.requests) == 6


def test_openai_endpoint_request_errors_fail_at_once(server: EmbeddingServer) -> None:
    server.statuses.append(400)
    with pytest.raises(LLMRequestError, match="HTTP 400"):
        _openai(server, max_retries=3)(["a"])
    assert len(server.requests) == 1
    server.statuses.append(401)
    with pytest.raises(LLMUnavailableError, match="API key"):
        _openai(server)(["a"])


def test_openai_endpoint_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="--embed-url"):
        make_embedder("openai:text-embedding-3-small")
    with pytest.raises(ConfigError, match="openai:<model>"):
        make_embedder("openai:", EmbedderOptions(base_url="http://x"))


def test_unloadable_sentence_transformers_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be loaded offline") as info:
        make_embedder(f"st:{tmp_path / 'no-such-model'}")
    assert "no-such-model" in str(info.value)


@pytest.mark.slow
def test_minilm_puts_paraphrases_closer_than_unrelated_explanations() -> None:
    embed = make_embedder("minilm")
    assert embed.name == "minilm" and make_embedder("all-MiniLM-L6-v2").name == "minilm"
    v = embed(
        [
            "the keyword def at the start of a Python function definition",
            "Python function definitions",
            "animals such as dogs, cats and horses",
        ]
    )
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7 and v[0] @ v[2] < 0.3


class Counting:
    """An embedder that records what it was asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return np.stack([_unit(raw_vector(t)) for t in texts]).astype(np.float32)


def test_each_distinct_text_is_embedded_once() -> None:
    counting = Counting()
    out = embed_texts(counting, ["x", "y", "x", "x", "z"])
    assert counting.seen == ["x", "y", "z"]
    np.testing.assert_array_equal(out[0], out[2])
    assert out.shape == (5, DIM)


def test_the_cache_embeds_new_texts_only_and_survives_a_new_process_view(
    server: EmbeddingServer, tmp_path: Path
) -> None:
    embed = cached(_openai(server), tmp_path / "cache")
    first = embed(["a", "b"])
    assert [r["input"] for r in server.requests] == [["a", "b"]]
    again = cached(_openai(server), tmp_path / "cache")(["b", "c", "a"])
    assert [r["input"] for r in server.requests] == [["a", "b"], ["c"]]
    np.testing.assert_allclose(again[[2, 0]], first, atol=1e-7)
    files = [f.name for f in (tmp_path / "cache").iterdir()]
    assert len(files) == 1 and files[0].startswith("openai_test-embed_http_127.0.0.1_")
