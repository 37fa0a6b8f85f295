"""A drop-in for Neuronpedia's autointerp server (``apps/autointerp`` of
github.com/hijohnnylin/neuronpedia), served by ``autointerp serve`` next to our own API.

Neuronpedia's webapp (and the ``neuronpedia-autointerp-client`` package) call three
endpoints, with a shared secret in the ``X-SECRET-KEY`` header:

* ``POST /v1/explain/default``: activation records, a model and an OpenRouter key -> one
  explanation, written by our ``default`` explainer (``AUTOINTERP_NEURONPEDIA_EXPLAINER``);
* ``POST /v1/score/fuzz-detection``: records, an explanation, ``type`` FUZZ or DETECTION ->
  balanced accuracy of our ``fuzz`` / ``detection`` scorer, one breakdown row per judged text;
* ``POST /v1/score/embedding``: records and an explanation -> AUROC of our ``embedding``
  scorer (all-MiniLM-L6-v2 by default, offline; Neuronpedia's own server uses stella).

A record with a value above 0 is an activating text, any other a non-activating one.
``distance`` in a breakdown is 1 for an activating text and -1 for the others.

**The LLM.** ``AUTOINTERP_NEURONPEDIA_LLM`` is an ``--llm`` value (default: OpenRouter's
OpenAI-compatible URL). To an HTTP endpoint, a request's ``model`` is the served model and its
``openrouter_key`` the API key, unless ``AUTOINTERP_NEURONPEDIA_LLM_MODEL`` names the model
(e.g. the one a local vLLM serves) and unless the key is empty (then the server's own key,
from the variable ``AUTOINTERP_NEURONPEDIA_API_KEY_ENV`` names). In-process backends
(``local``, ``vllm:<model>``) ignore both. Keys live in memory only, never in any output.

**Errors.** A payload that does not match the schema: 422 with FastAPI's ``detail`` list;
one that parses but cannot be scored (no activating text, an empty explanation):
400 (:class:`~autointerp.errors.PayloadError`); no usable reply from the LLM: 500 with the
reason (:class:`~autointerp.errors.LLMError`); no or a wrong secret: 401 / 403; a server with
no secret (``AUTOINTERP_NEURONPEDIA_SECRET``, else ``AUTOINTERP_API_TOKEN``): 503.

**Casing.** Client 1.0.1 speaks snake_case (``openrouter_key``, ``str_tokens``), Neuronpedia's
current webapp camelCase (``openrouterKey``, ``strTokens``): both are accepted, and a
fuzz-detection reply is written in the casing of its request.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import replace
from functools import lru_cache
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

from autointerp.config import ExplainConfig, LLMConfig, ScoringConfig
from autointerp.errors import AutointerpError, LLMResponseError, LLMUnavailableError, PayloadError
from autointerp.explain import EXPLAINERS, ExplainContext
from autointerp.llm import LLM, llm_config_from_spec, make_llm
from autointerp.llm.openai_http import OpenAICompatibleLLM
from autointerp.records import Example, Explanation, LatentRecord, ScoreResult
from autointerp.statuses import ExplanationStatus, ScoreStatus
from scorers import SCORERS, ScoringContext

__all__ = ["NeuronpediaSettings", "mount", "router"]

OPENROUTER = "https://openrouter.ai/api/v1"


class NeuronpediaSettings(BaseSettings):
    """The Neuronpedia endpoints' settings, each the variable ``AUTOINTERP_NEURONPEDIA_<NAME>``;
    read on every request."""

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_NEURONPEDIA_", extra="ignore")

    secret: str | None = Field(
        None,
        description="The X-SECRET-KEY the caller must send (Neuronpedia's "
        "AUTOINTERP_SERVER_SECRET); default: AUTOINTERP_API_TOKEN; with neither, refused.",
    )
    llm: str = Field(OPENROUTER, description="The LLM, as an --llm value (URL, openai, local).")
    llm_model: str = Field("", description="Served model for every request ('' = the request's).")
    api_key_env: str = Field(
        "OPENROUTER_API_KEY", description="Variable with the key used when a request sends none."
    )
    explainer: str = Field("default", description="The explainer behind /v1/explain/default.")
    scoring_method: Literal["auto", "logprob", "generate"] = Field(
        "auto", description="Fuzz/detection: scoring.method (auto = logprob when served)."
    )
    embedding_model: str = Field(
        ScoringConfig().embedding_model, description="/v1/score/embedding: scoring.embedding_model."
    )

    @field_validator("explainer")
    @classmethod
    def _usable_explainer(cls, name: str) -> str:
        explainer = EXPLAINERS.get(name)  # ConfigError naming the registered ones
        if explainer.needs_model or explainer.uses_logit_lens:
            raise ValueError(f"explainer {name!r} needs the subject model and the SAE")
        return name


# ----------------------------------------------------------------------- wire models
class _Wire(BaseModel):
    """snake_case attributes; camelCase accepted too (and written where asked)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, protected_namespaces=()
    )


class NPActivation(_Wire):
    """One text: its tokens and the latent's activation at each."""

    tokens: list[str] = Field(min_length=1)
    values: list[float]

    @model_validator(mode="after")
    def _one_value_per_token(self) -> NPActivation:
        if len(self.values) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.values)} values")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError("values must be finite numbers")
        return self


class _Records(_Wire):
    activations: list[NPActivation] = Field(min_length=1)


class ExplainRequest(_Records):
    openrouter_key: str
    model: str


class ScoreEmbeddingRequest(_Records):
    explanation: str


class ScoreFuzzDetectionRequest(_Records):
    explanation: str
    openrouter_key: str
    model: str
    type: Literal["FUZZ", "DETECTION"]
    _camel: bool = PrivateAttr(False)

    @model_validator(mode="wrap")
    @classmethod
    def _note_casing(cls, data: Any, handler: Any) -> ScoreFuzzDetectionRequest:
        request = cast(ScoreFuzzDetectionRequest, handler(data))
        request._camel = isinstance(data, dict) and "openrouterKey" in data
        return request


class ExplainResponse(_Wire):
    explanation: str


class FuzzDetectionItem(_Wire):
    str_tokens: list[str]
    activations: list[float]
    distance: int
    ground_truth: bool
    """Fuzz: the marked tokens are the firing ones; detection: the text is activating."""
    prediction: bool | None
    """The scorer model's answer; None where its request failed."""
    highlighted: bool
    probability: float | None
    correct: bool


class ScoreFuzzDetectionResponse(_Wire):
    score: float
    breakdown: list[FuzzDetectionItem]


class EmbeddingItem(_Wire):
    text: str
    distance: int
    similarity: float


class ScoreEmbeddingResponse(_Wire):
    score: float
    breakdown: list[EmbeddingItem]


# ------------------------------------------------------------------------------ auth
_secret_header = APIKeyHeader(
    name="X-SECRET-KEY",
    auto_error=False,
    description="AUTOINTERP_NEURONPEDIA_SECRET (else AUTOINTERP_API_TOKEN) of the server.",
)


def _settings(
    request: Request, sent: Annotated[str | None, Depends(_secret_header)]
) -> NeuronpediaSettings:
    """The settings, once the caller's secret checks out (503 / 401 / 403 otherwise)."""
    settings = NeuronpediaSettings()
    expected = settings.secret or request.app.state.settings.api_token
    if not expected:
        raise HTTPException(
            503, "no secret configured: set AUTOINTERP_NEURONPEDIA_SECRET on the server"
        )
    if not sent:
        raise HTTPException(401, "missing secret: send it in the X-SECRET-KEY header")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "wrong secret in the X-SECRET-KEY header")
    return settings


Settings = Annotated[NeuronpediaSettings, Depends(_settings)]


# ------------------------------------------------------------------- library calls
def _fires(activation: NPActivation) -> bool:
    return any(v > 0 for v in activation.values)


def _record(activations: list[NPActivation]) -> LatentRecord:
    """One latent: each activating text an explaining and scoring example (``window`` = its
    index in the request), the others its non-activating examples."""
    firing: list[Example] = []
    quiet: list[Example] = []
    for i, act in enumerate(activations):
        fires = _fires(act)
        role, quantile = ("score", 1) if fires else ("nonactivating", 0)
        example = Example(i, tuple(act.tokens), tuple(act.values), role, quantile)
        (firing if fires else quiet).append(example)
    max_act = max((ex.max_act for ex in firing), default=0.0)
    return LatentRecord(0, explain=firing, score=firing, nonactivating=quiet, max_act=max_act)


def _llm_config(settings: NeuronpediaSettings, model: str) -> LLMConfig:
    """The LLM a request asks for, on the server's endpoint (see the module docstring)."""
    spec = settings.llm
    http = spec == "openai" or spec.startswith(("http://", "https://"))
    chosen = settings.llm_model or (model if http else None)
    return replace(llm_config_from_spec(spec, model=chosen), api_key_env=settings.api_key_env)


@lru_cache(maxsize=8)
def _cached_llm(cfg: LLMConfig, key: str | None) -> LLM:
    """One backend per (config, key): its endpoint probe and loaded weights are reused."""
    if cfg.backend == "openai":
        return OpenAICompatibleLLM(cfg, api_key=key)
    return make_llm(cfg)


def _score(name: str, record: LatentRecord, text: str, ctx: ScoringContext) -> ScoreResult:
    """Our ``name`` scorer on one (latent, explanation); a 400 or 500 where it has no value."""
    if not text.strip():
        raise PayloadError("explanation: empty; nothing to score")
    explanation = Explanation(0, 0, text, "user:neuronpedia")
    [result] = SCORERS.get(name)().score([(record, explanation)], ctx)
    if result.status == ScoreStatus.SKIPPED:
        raise PayloadError(f"activations: {name} scoring {result.error}")
    if result.status == ScoreStatus.FAILED:
        error = LLMUnavailableError if name != "embedding" else AutointerpError
        raise error(f"{name} scoring failed: {result.error}")
    return result


def _metric(result: ScoreResult, metric: str) -> float:
    value = result.metrics.get(metric)
    if value is None or math.isnan(value):
        raise PayloadError(f"activations: {metric} is undefined for these texts ({result.error})")
    return float(value)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def explain(body: ExplainRequest, settings: NeuronpediaSettings) -> ExplainResponse:
    record = _record(body.activations)
    if not record.explain:
        raise PayloadError("activations: none has a value above 0; nothing to explain")
    llm_cfg = _llm_config(settings, body.model)
    llm = _cached_llm(llm_cfg, body.openrouter_key or None)
    explainer = EXPLAINERS.get(settings.explainer)(ExplainConfig(explainer=settings.explainer))
    ctx = ExplainContext(llm=llm, llm_cfg=llm_cfg, progress=False)
    [result] = explainer.explain([record], ctx)
    if result.status == ExplanationStatus.LLM_ERROR:
        raise LLMUnavailableError(f"explaining failed: {result.error}")
    if result.status != ExplanationStatus.OK:
        raise LLMResponseError(f"the LLM gave no explanation ({result.status}: {result.error})")
    return ExplainResponse(explanation=result.text)


def score_fuzz_detection(
    body: ScoreFuzzDetectionRequest, settings: NeuronpediaSettings
) -> ScoreFuzzDetectionResponse:
    name = "fuzz" if body.type == "FUZZ" else "detection"
    cfg = ScoringConfig(scorers=(name,), method=settings.scoring_method, n_bootstrap=0)
    llm = _cached_llm(_llm_config(settings, body.model), body.openrouter_key or None)
    ctx = ScoringContext(llm=llm, cfg=cfg, progress=False)
    result = _score(name, _record(body.activations), body.explanation, ctx)
    breakdown = []
    for judged in result.judgements:
        act = body.activations[judged["window"]]
        predicted = judged["predicted"]
        breakdown.append(
            FuzzDetectionItem(
                str_tokens=act.tokens,
                activations=act.values,
                distance=1 if _fires(act) else -1,
                ground_truth=judged["label"],
                prediction=predicted,
                highlighted=name == "fuzz",
                probability=_finite(judged["p_yes"]),
                correct=predicted == judged["label"],
            )
        )
    score = _metric(result, "balanced_accuracy")
    return ScoreFuzzDetectionResponse(score=score, breakdown=breakdown)


def score_embedding(
    body: ScoreEmbeddingRequest, settings: NeuronpediaSettings
) -> ScoreEmbeddingResponse:
    cfg = ScoringConfig(
        scorers=("embedding",), embedding_model=settings.embedding_model, n_bootstrap=0
    )
    # The embedding scorer asks no LLM.
    ctx = ScoringContext(llm=cast(LLM, None), cfg=cfg, progress=False)
    result = _score("embedding", _record(body.activations), body.explanation, ctx)
    breakdown = [
        EmbeddingItem(
            text="".join(body.activations[judged["window"]].tokens),
            distance=1 if judged["label"] else -1,
            similarity=judged["p_yes"],
        )
        for judged in result.judgements
    ]
    return ScoreEmbeddingResponse(score=_metric(result, "auroc"), breakdown=breakdown)


# ---------------------------------------------------------------------------- routes
router = APIRouter(prefix="/v1", tags=["neuronpedia"])


@router.post("/explain/default", response_model=ExplainResponse)
def _explain_route(body: ExplainRequest, settings: Settings) -> ExplainResponse:
    """Explain a latent from its activation records (Neuronpedia's explain endpoint)."""
    return explain(body, settings)


@router.post("/score/fuzz-detection", response_model=ScoreFuzzDetectionResponse)
def _fuzz_detection_route(body: ScoreFuzzDetectionRequest, settings: Settings) -> JSONResponse:
    """Score an explanation by fuzzing or detection (Neuronpedia's scoring endpoint)."""
    reply = score_fuzz_detection(body, settings)
    return JSONResponse(reply.model_dump(mode="json", by_alias=body._camel))


@router.post("/score/embedding", response_model=ScoreEmbeddingResponse)
def _embedding_route(body: ScoreEmbeddingRequest, settings: Settings) -> ScoreEmbeddingResponse:
    """Score an explanation by embedding similarity (Neuronpedia's embedding endpoint)."""
    return score_embedding(body, settings)


async def _payload_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=400, content={"detail": str(exc)})


def mount(app: FastAPI) -> None:
    """Add the endpoints, and their 400 for payloads that parse but cannot be used."""
    app.include_router(router)
    app.add_exception_handler(PayloadError, _payload_error)
