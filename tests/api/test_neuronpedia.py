"""Neuronpedia's autointerp-server endpoints, called with Neuronpedia's own generated client
(``neuronpedia-autointerp-client``) against a real ``autointerp serve`` subprocess, whose LLM
is a scripted OpenAI-compatible server on loopback that judges like a perfect scorer model:
Yes (P = 0.9) when the judged text has a feline word in it (fuzz: marked), else No."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Installed by `make install` (the Makefile's pip line); never imported by autointerp itself.
from neuronpedia_autointerp_client import (
    ApiClient,
    Configuration,
    DefaultApi,
    ExplainDefaultPostRequest,
    NPActivation,
    NPScoreFuzzDetectionType,
    ScoreEmbeddingPostRequest,
    ScoreFuzzDetectionPostRequest,
)
from neuronpedia_autointerp_client.exceptions import (
    BadRequestException,
    ForbiddenException,
    ServiceException,
    UnauthorizedException,
    UnprocessableEntityException,
)

import autointerp
from tests.api.conftest import Server, start_server, stop_server
from tests.servers.scripted_openai import ScriptedServer

SECRET = "localhost-secret"
KEY = "sk-or-test-key"
MODEL = "openai/gpt-4o-mini"
FELINE = re.compile(r"\b(cat|cats|kitten|kittens)\b", re.IGNORECASE)
MARKED_FELINE = re.compile(r"<<\s*(cat|cats|kitten|kittens)\b", re.IGNORECASE)

TEXTS = [
    ("The", " cat", " sat", " on", " the", " mat"),
    ("My", " kitten", " chased", " a", " ball"),
    ("A", " cat", " purred", " all", " night"),
    ("Stock", " prices", " fell", " sharply", " today"),
    ("The", " train", " left", " the", " station"),
    ("Rain", " is", " expected", " this", " weekend"),
]


def _activations() -> list[NPActivation]:
    """The feline word fires in the first three texts; the last three are non-activating."""
    out = []
    for tokens in TEXTS:
        values = [2.5 if FELINE.search(tok) else 0.0 for tok in tokens]
        out.append(NPActivation(tokens=list(tokens), values=values))
    return out


class Judge(ScriptedServer):
    """Explains every latent as 'feline words'; answers yes/no questions about a text
    correctly (log-probabilities and generated answers); the calibration prompt gets 0.5."""

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = super()._reply(body)
        content = body["messages"][-1]["content"]
        if "\nText: " not in content:
            return reply  # the explanation prompt, or the endpoint probe
        text = content.rsplit("\nText: ", 1)[1]
        fuzz = "<<like this>>" in content
        p = (
            0.5
            if text == "N/A"
            else 0.9
            if (MARKED_FELINE if fuzz else FELINE).search(text)
            else 0.1
        )
        top = [
            {"token": "Yes", "logprob": math.log(p), "bytes": None},
            {"token": "No", "logprob": math.log(1 - p), "bytes": None},
        ]
        choice = reply["choices"][0]
        choice["message"]["content"] = "Yes" if p > 0.5 else "No"
        if choice["logprobs"]:
            choice["logprobs"]["content"][0].update(top_logprobs=top, logprob=top[0]["logprob"])
        return reply


@pytest.fixture(scope="module")
def judge() -> Iterator[Judge]:
    with Judge(reply_text="Explanation: feline words") as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, judge: Judge) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("neuronpedia")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINTERP_")}
    env.update(
        AUTOINTERP_NEURONPEDIA_SECRET=SECRET,
        AUTOINTERP_NEURONPEDIA_LLM=judge.url,
        AUTOINTERP_ACTIVATIONS_DIR=os.environ.get("AUTOINTERP_ACTIVATIONS_DIR", ""),
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    srv = start_server(root / "store", root / "server.log", env)
    yield srv
    stop_server(srv)


def _api(server: Server, secret: str | None = SECRET) -> DefaultApi:
    """Configured as Neuronpedia configures it: base URL + /v1, the secret as X-SECRET-KEY."""
    keys = {"SimpleSecretAuth": secret} if secret else None
    return DefaultApi(ApiClient(Configuration(host=f"{server.url}/v1", api_key=keys)))


def _fuzz_detection(kind: NPScoreFuzzDetectionType) -> ScoreFuzzDetectionPostRequest:
    return ScoreFuzzDetectionPostRequest(
        activations=_activations(),
        explanation="feline words",
        openrouter_key=KEY,
        model=MODEL,
        type=kind,
    )


@pytest.mark.slow
def test_explain(server: Server, judge: Judge) -> None:
    request = ExplainDefaultPostRequest(activations=_activations(), openrouter_key=KEY, model=MODEL)
    reply = _api(server).explain_default_post(request)
    assert reply.explanation == "feline words"
    # the request's model and key reached the LLM; the firing tokens were marked
    asked = judge.requests[-1]
    assert asked["model"] == MODEL and judge.authorizations[-1] == f"Bearer {KEY}"
    prompt = asked["messages"][-1]["content"]
    assert "The <<cat>> sat on the mat" in prompt and "Stock prices" not in prompt


@pytest.mark.slow
def test_score_detection(server: Server) -> None:
    reply = _api(server).score_fuzz_detection_post(
        _fuzz_detection(NPScoreFuzzDetectionType.DETECTION)
    )
    assert reply.score == 1.0
    assert [item.str_tokens for item in reply.breakdown] == [list(t) for t in TEXTS]
    assert [item.ground_truth for item in reply.breakdown] == [True] * 3 + [False] * 3
    assert [item.distance for item in reply.breakdown] == [1] * 3 + [-1] * 3
    for item in reply.breakdown:
        assert item.prediction == item.ground_truth and item.correct and not item.highlighted
        assert item.probability == pytest.approx(0.9 if item.ground_truth else 0.1)


@pytest.mark.slow
def test_score_fuzz(server: Server) -> None:
    reply = _api(server).score_fuzz_detection_post(_fuzz_detection(NPScoreFuzzDetectionType.FUZZ))
    assert reply.score == 1.0
    # each activating text twice: its firing tokens marked (yes), as many others marked (no)
    assert len(reply.breakdown) == 6
    assert [item.ground_truth for item in reply.breakdown] == [True, False] * 3
    assert all(item.highlighted and item.correct for item in reply.breakdown)
    assert reply.breakdown[0].activations == [0.0, 2.5, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.slow
def test_score_embedding(server: Server) -> None:
    request = ScoreEmbeddingPostRequest(activations=_activations(), explanation="cats and kittens")
    reply = _api(server).score_embedding_post(request)
    assert reply.score == 1.0  # MiniLM puts every feline text nearer the explanation
    assert [item.text for item in reply.breakdown] == ["".join(t) for t in TEXTS]
    assert [item.distance for item in reply.breakdown] == [1] * 3 + [-1] * 3
    feline = min(item.similarity for item in reply.breakdown[:3])
    assert feline > max(item.similarity for item in reply.breakdown[3:])


@pytest.mark.slow
def test_malformed_payload_is_422(server: Server) -> None:
    bad = _activations()
    bad[0] = NPActivation(tokens=["The", " cat"], values=[0.0, 1.0, 2.0])  # the client lets it by
    request = ScoreEmbeddingPostRequest(activations=bad, explanation="cats")
    with pytest.raises(UnprocessableEntityException) as caught:
        _api(server).score_embedding_post(request)
    [error] = json.loads(caught.value.body)["detail"]
    assert error["loc"] == ["body", "activations", 0] and "2 tokens but 3 values" in error["msg"]
    # not JSON of the schema at all: FastAPI's 422 too
    reply = httpx.post(
        f"{server.url}/v1/score/fuzz-detection",
        json={"activations": [], "type": "SOMETIMES"},
        headers={"X-SECRET-KEY": SECRET},
    )
    assert reply.status_code == 422
    missing = {tuple(e["loc"]) for e in reply.json()["detail"]}
    assert {("body", "explanation"), ("body", "model"), ("body", "type")} <= missing


@pytest.mark.slow
def test_unscorable_payload_is_400(server: Server) -> None:
    only_firing = _activations()[:3]
    request = ScoreEmbeddingPostRequest(activations=only_firing, explanation="cats")
    with pytest.raises(BadRequestException) as caught:
        _api(server).score_embedding_post(request)
    assert "non-activating" in caught.value.body
    quiet = _activations()[3:]
    explain = ExplainDefaultPostRequest(activations=quiet, openrouter_key=KEY, model=MODEL)
    with pytest.raises(BadRequestException, match="nothing to explain"):
        _api(server).explain_default_post(explain)


@pytest.mark.slow
def test_secret(server: Server) -> None:
    request = ScoreEmbeddingPostRequest(activations=_activations(), explanation="cats")
    with pytest.raises(UnauthorizedException):
        _api(server, secret=None).score_embedding_post(request)
    with pytest.raises(ForbiddenException):
        _api(server, secret="not-it").score_embedding_post(request)


@pytest.mark.slow
def test_rejected_key_is_500_with_the_reason(server: Server, judge: Judge) -> None:
    judge.reject = lambda _body: 401 if judge.authorizations[-1] == "Bearer sk-revoked" else None
    try:
        request = _fuzz_detection(NPScoreFuzzDetectionType.DETECTION)
        request.openrouter_key = "sk-revoked"
        with pytest.raises(ServiceException) as caught:
            _api(server).score_fuzz_detection_post(request)
    finally:
        judge.reject = None
    assert "401" in caught.value.body


@pytest.mark.slow
def test_camel_case_as_neuronpedia_webapp_sends_it(server: Server) -> None:
    """The current webapp (openapi-fetch) sends openrouterKey and reads strTokens/groundTruth."""
    body = {
        "activations": [a.to_dict() for a in _activations()],
        "explanation": "feline words",
        "openrouterKey": KEY,
        "model": MODEL,
        "type": "DETECTION",
    }
    reply = httpx.post(
        f"{server.url}/v1/score/fuzz-detection",
        json=body,
        headers={"X-SECRET-KEY": SECRET},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    first = reply.json()["breakdown"][0]
    assert first["strTokens"] == list(TEXTS[0]) and first["groundTruth"] is True


def test_client_package_is_not_a_runtime_dependency() -> None:
    """Nothing under autointerp/ imports the client (only these tests use it)."""
    root = Path(autointerp.__file__ or "").parent
    users = [p for p in root.rglob("*.py") if "neuronpedia_autointerp_client" in p.read_text()]
    assert users == []


@pytest.mark.slow
def test_openapi_lists_the_endpoints_and_the_secret_header(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    for path in ("/v1/explain/default", "/v1/score/fuzz-detection", "/v1/score/embedding"):
        assert "post" in spec["paths"][path], path
    schemes = spec["components"]["securitySchemes"].values()
    assert {"type": "apiKey", "in": "header", "name": "X-SECRET-KEY"}.items() <= next(
        s for s in schemes if s.get("name") == "X-SECRET-KEY"
    ).items()


def test_the_request_model_and_key_map_onto_the_llm_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autointerp.api.neuronpedia import OPENROUTER, NeuronpediaSettings, _cached_llm, _llm_config

    for name in ("LLM", "LLM_MODEL", "API_KEY_ENV"):
        monkeypatch.delenv(f"AUTOINTERP_NEURONPEDIA_{name}", raising=False)
    cfg = _llm_config(NeuronpediaSettings(), MODEL)  # default: OpenRouter, the request's model
    assert (cfg.backend, cfg.base_url, cfg.model) == ("openai", OPENROUTER, MODEL)
    assert cfg.api_key_env == "OPENROUTER_API_KEY"
    monkeypatch.setenv("AUTOINTERP_NEURONPEDIA_LLM", "http://gpu-box:8000/v1")
    monkeypatch.setenv("AUTOINTERP_NEURONPEDIA_LLM_MODEL", "Qwen/Qwen2.5-7B-Instruct")
    cfg = _llm_config(NeuronpediaSettings(), MODEL)  # the server names the served model
    assert (cfg.base_url, cfg.model) == ("http://gpu-box:8000/v1", "Qwen/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("AUTOINTERP_NEURONPEDIA_LLM", "local")
    monkeypatch.delenv("AUTOINTERP_NEURONPEDIA_LLM_MODEL")
    cfg = _llm_config(NeuronpediaSettings(), MODEL)  # in process: the request's model ignored
    assert (cfg.backend, cfg.model) == ("local", "HuggingFaceTB/SmolLM2-135M-Instruct")
    # the request's key is the instance's own; an empty one falls back to the server's variable
    http = _llm_config(NeuronpediaSettings(llm=OPENROUTER), MODEL)
    assert _cached_llm(http, KEY)._api_key == KEY
    assert _cached_llm(http, None)._api_key is None


def test_an_explainer_that_needs_the_model_is_refused() -> None:
    from pydantic import ValidationError

    from autointerp.api.neuronpedia import NeuronpediaSettings

    with pytest.raises(ValidationError, match="needs the subject model"):
        NeuronpediaSettings(explainer="output")
