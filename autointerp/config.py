"""The frozen run configuration, saved as JSON next to every output.

Every field carries its documentation in ``metadata["doc"]`` (shown by ``autointerp config``).
Configs are immutable: derive a changed copy with ``dataclasses.replace``. ``from_dict``
refuses unknown keys, so a typo in a saved or hand-written config is an error, not a silent
default. Secrets are never stored: the LLM section names the environment variable that holds
the API key, never the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from autointerp.errors import ConfigError

__all__ = [
    "CacheConfig",
    "CorpusConfig",
    "ExplainConfig",
    "LLMConfig",
    "RunConfig",
    "SamplingConfig",
    "ScoringConfig",
    "config_docs",
]

T = TypeVar("T")


def opt(default: Any, doc: str) -> Any:
    """A dataclass field with a default and its documentation."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults in frozen configs")
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class CorpusConfig:
    """Where the text comes from and how it is cut into token windows."""

    path: str = opt(
        "stdlib",
        "'stdlib' (English docstrings, comments and the help() topics of this Python's "
        "standard library; present on every machine), or a folder of .txt/.md files, a "
        ".txt/.md file, a .jsonl file or a .parquet file.",
    )
    text_column: str = opt("text", "Column holding the text in JSONL/Parquet corpora.")
    n_tokens: int = opt(150_000, "Tokens to run through the model (a prefix of the corpus).")
    ctx_len: int = opt(32, "Tokens per window, including the BOS token that starts every window.")


@dataclass(frozen=True)
class CacheConfig:
    """How activations are computed and which per-latent statistics are kept."""

    batch_size: int = opt(32, "Windows per forward pass.")
    dtype: Literal["float32", "bfloat16"] = opt(
        "float32", "Dtype of the subject model's forward pass while caching."
    )
    device: str = opt("auto", "'auto' (CUDA when available, else CPU), 'cpu' or 'cuda[:N]'.")
    top_k: int = opt(24, "Highest-activating windows kept exactly per latent.")
    reservoir: int = opt(
        120,
        "Activating windows kept per latent as a uniform random sample (bottom-k of a "
        "seeded hash), from which quantile-stratified examples are drawn.",
    )


@dataclass(frozen=True)
class SamplingConfig:
    """Which examples are shown to the explainer and the scorers."""

    n_explain: int = opt(15, "Activating examples shown to the explainer per latent.")
    explain_strategy: Literal["quantile", "top"] = opt(
        "quantile",
        "'quantile': examples spread over activation quantiles; 'top': the highest ones.",
    )
    n_score: int = opt(
        20, "Activating examples per latent for scoring (disjoint from the explainer's)."
    )
    n_nonactivating: int = opt(20, "Non-activating examples per latent for scoring.")
    n_quantiles: int = opt(5, "Equal-count activation quantile bins used for stratification.")
    min_examples: int = opt(
        8, "A latent with fewer activating windows than this is skipped as too sparse."
    )


@dataclass(frozen=True)
class LLMConfig:
    """The explainer/scorer LLM. The API key is read from ``api_key_env`` at run time."""

    backend: str = opt("local", "'local' (in-process transformers) or 'openai' (HTTP).")
    model: str = opt(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "Model name: a local path or known offline model for 'local'; the served model "
        "name for 'openai' ('' = the first model the server lists).",
    )
    base_url: str | None = opt(None, "OpenAI-compatible base URL, e.g. http://host:8000/v1.")
    api_key_env: str = opt("OPENAI_API_KEY", "Environment variable that holds the API key.")
    temperature: float = opt(0.0, "Sampling temperature for explanations.")
    max_new_tokens: int = opt(48, "Maximum tokens generated per explanation.")
    timeout_s: float = opt(60.0, "Per-request timeout (HTTP backends).")
    max_retries: int = opt(4, "Retries on retryable errors (timeouts, 429, 5xx).")
    max_concurrency: int = opt(8, "Requests in flight at once (HTTP backends).")
    batch_size: int = opt(16, "Prompts generated together (local backend).")
    judge_batch_size: int = opt(
        32, "Prompts judged together (local backend); each batch's shared prefix is encoded once."
    )


@dataclass(frozen=True)
class ExplainConfig:
    """How explanations are produced."""

    explainer: str = opt("default", "Explainer name (see `autointerp list`).")
    show_activations: bool = opt(
        False, "Also show each marked token's activation (0-9) to the explainer."
    )


@dataclass(frozen=True)
class ScoringConfig:
    """How explanations are scored."""

    scorers: tuple[str, ...] = opt(("detection", "fuzz"), "Scorer names to run.")
    method: Literal["auto", "logprob", "generate"] = opt(
        "auto",
        "'logprob': P(yes) at a fixed answer position; 'generate': parse a generated "
        "answer; 'auto': logprob when the backend offers log-probabilities.",
    )
    n_bootstrap: int = opt(200, "Bootstrap resamples for confidence intervals (0 = none).")
    threshold: float | None = opt(
        None,
        "Decision threshold on P(yes) in logprob mode; None = contextual calibration (the "
        "P(yes) of the same prompt with the content-free text 'N/A').",
    )


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results. Saved as ``runs/<run_id>.json``."""

    sae: str = opt(
        "demo",
        "SAE checkpoint: 'demo', a local folder or file, a hub id 'org/repo/path', "
        "'random:<checkpoint>[:seed=N]' or 'neurons:<hook>[:k=K]' (baselines).",
    )
    model: str | None = opt(
        None, "Subject model (local dir or hub id); default: the one the checkpoint names."
    )
    hook: str | None = opt(
        None,
        "Hook point to read, overriding the checkpoint's (needed for files that name none, "
        "e.g. a bare Gemma Scope params.npz): blocks.L.hook_resid_post, a module path, ...",
    )
    latents: str = opt(
        "live:32",
        "Latents to explain: 'A:B' (range, B exclusive), 'i,j,k', or 'live:N' (the first "
        "N latents with enough activating examples). For signed SAEs (AbsTopK) d_sae + i "
        "is latent i's negative direction.",
    )
    seed: int = opt(0, "Seed for every random choice; the same seed gives the same run.")
    explanations: str | None = opt(
        None,
        "CSV/Parquet with 'latent' and 'explanation' columns: score these instead of "
        "generating explanations (several per latent allowed).",
    )
    corpus: CorpusConfig = field(default_factory=CorpusConfig, metadata={"doc": "Corpus."})
    cache: CacheConfig = field(default_factory=CacheConfig, metadata={"doc": "Caching."})
    sampling: SamplingConfig = field(
        default_factory=SamplingConfig, metadata={"doc": "Example sampling."}
    )
    llm: LLMConfig = field(default_factory=LLMConfig, metadata={"doc": "Explainer LLM."})
    explain: ExplainConfig = field(default_factory=ExplainConfig, metadata={"doc": "Explanation."})
    scoring: ScoringConfig = field(default_factory=ScoringConfig, metadata={"doc": "Scoring."})

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(self)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return _from_dict(cls, data, "config")

    def fingerprint(self) -> str:
        """A short stable hash of every field (used to derive the run id)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    return value


def _from_dict(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(hints[name], data[name], f"{where}.{name}") for name in data}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - all keys were checked above
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, where) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def config_docs(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default, doc) for every leaf field, for ``autointerp config``."""
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if f.default_factory is not dataclasses.MISSING:  # nested section
            rows.extend(config_docs(f.default_factory().__class__, name + "."))
        else:
            rows.append((name, repr(f.default), f.metadata.get("doc", "")))
    return rows
