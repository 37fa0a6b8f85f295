"""Declared schemas of the Parquet tables, with a description of every column.

Layout of an output directory (one file per run and table; the identity of a row is in its
columns, never in the file name)::

    <out>/latents/<run_id>.parquet        per-latent statistics (every latent of the SAE)
    <out>/examples/<run_id>.parquet       the sampled examples, with per-token activations
    <out>/explanations/<run_id>.parquet   explanations (generated or user-supplied)
    <out>/scores/<run_id>.parquet         one row per (latent, explanation, scorer)
    <out>/judgements/<run_id>.parquet     the scorer model's P(yes) for every scored example
    <out>/runs/<run_id>.json              the frozen run config, provenance and timings

Read a whole table across runs with ``pandas.read_parquet("<out>/scores")``.
"""

from __future__ import annotations

import pyarrow as pa

from autointerp.statuses import ScoreStatus

__all__ = ["KEYS", "METRICS", "SCHEMAS", "SCORED", "column_docs"]

SCORED = (ScoreStatus.OK, ScoreStatus.PARTIAL)
"""Score statuses whose metrics are valid (a partial row's leave out its failed judgements)."""

_PROVENANCE = [
    ("run_id", pa.string(), "Run identifier: a hash of the frozen config and the inputs."),
    ("model", pa.string(), "Subject model (hub id or path)."),
    ("sae_sha256", pa.string(), "First 16 hex digits of the SHA-256 of the SAE weights file."),
    ("hook_name", pa.string(), "Hook point the SAE reads (TransformerLens naming)."),
    ("seed", pa.int64(), "Seed of every random choice in the run."),
    ("created_at", pa.timestamp("us", tz="UTC"), "When the run's results were written."),
]
_LLM = [
    ("llm", pa.string(), "Explainer/scorer LLM as backend:model."),
    ("prompt_version", pa.string(), "Versioned prompt template used (file stem)."),
    ("prompt_tokens", pa.int64(), "Prompt tokens sent to the LLM for this row."),
    ("completion_tokens", pa.int64(), "Tokens the LLM generated for this row."),
    (
        "cost_usd",
        pa.float64(),
        "What this row's tokens cost in USD, from the llm.prices table; null without a "
        "table or for a model the table lacks.",
    ),
]


def _metric_columns() -> list[tuple[str, pa.DataType, str]]:
    cols: list[tuple[str, pa.DataType, str]] = []
    for name, doc in [
        ("balanced_accuracy", "Mean of recall on positives and on negatives."),
        ("precision", "Share of predicted positives that are positives."),
        ("recall", "Share of positives predicted positive."),
        ("f1", "Harmonic mean of precision and recall."),
        ("auroc", "Area under the ROC curve of P(yes) (or the scorer's score); threshold-free."),
        ("accuracy", "Share of correct answers (intruder; intervention's judge)."),
        ("correlation", "Pearson correlation of simulated and true activations (simulation)."),
        (
            "mean_delta",
            "Mean change of the log-probability of the explanation's statement after the "
            "steered versus the clean continuation (intervention).",
        ),
    ]:
        cols.append((name, pa.float64(), doc))
        cols.append((f"{name}_ci_low", pa.float64(), "Bootstrap 95 % CI, lower end."))
        cols.append((f"{name}_ci_high", pa.float64(), "Bootstrap 95 % CI, upper end."))
    return cols


_COLUMNS: dict[str, list[tuple[str, pa.DataType, str]]] = {
    "latents": [
        (
            "latent",
            pa.int64(),
            "Unit index: the latent, or d_sae + i for latent i's negative side.",
        ),
        ("sae_latent", pa.int64(), "Latent index in the checkpoint."),
        ("direction", pa.string(), "'+' or '-' (signed architectures such as AbsTopK)."),
        ("fire_count", pa.int64(), "Tokens (BOS excluded) where the latent is > 0."),
        ("density", pa.float64(), "fire_count / tokens seen."),
        ("window_count", pa.int64(), "Windows in which the latent fired at least once."),
        ("mean_act", pa.float64(), "Mean activation over the tokens where it fired."),
        ("max_act", pa.float64(), "Maximum activation seen."),
        ("dead", pa.bool_(), "Never fired on the cached tokens."),
        ("dense", pa.bool_(), "Fires on more than 10 % of tokens."),
        (
            "top_token_share",
            pa.float64(),
            "Upper bound on the share of firings on the most frequent token (hash counts).",
        ),
        ("single_token", pa.bool_(), ">= 90 % of >= 10 firings fall on one token."),
        (
            "act_hist",
            pa.list_(pa.int64()),
            "Firing tokens per activation bin; bin upper edges 10^-3 .. 10^3 in 25 log steps, "
            "then one open bin (autointerp.cache.stats.HIST_EDGES).",
        ),
        ("selected", pa.bool_(), "Whether the run explained/scored this latent."),
        ("sample_status", pa.string(), "ok, dead, too_sparse, or '' when not selected."),
        ("n_tokens", pa.int64(), "Tokens the statistics were computed over."),
    ],
    "examples": [
        ("latent", pa.int64(), "Latent index."),
        ("window", pa.int64(), "Window index in the run's corpus windows."),
        ("start", pa.int64(), "First shown token's position in the window (cropped examples)."),
        (
            "role",
            pa.string(),
            "explain, score (activating, held out), or a negative: nonactivating (random "
            "window), hard_neighbour (a window where decoder-similar units fire) or "
            "hard_similar (close to the activating examples in sentence-embedding space).",
        ),
        ("quantile", pa.int64(), "Activation quantile bin (1 = lowest); 0 if non-activating."),
        ("max_act", pa.float64(), "The latent's maximum activation in the window."),
        ("tokens", pa.list_(pa.string()), "The window's tokens as text (BOS dropped)."),
        ("acts", pa.list_(pa.float32()), "The latent's activation at each token."),
    ],
    "explanations": [
        ("latent", pa.int64(), "Latent index."),
        ("explanation_id", pa.int64(), "0, 1, ... per latent (several may be scored)."),
        ("explanation", pa.string(), "The explanation text ('' when status is not ok)."),
        ("source", pa.string(), "generated:<explainer> or user:<file>."),
        ("status", pa.string(), "ok, unparsable, refusal or llm_error."),
        ("error", pa.string(), "What went wrong, when status is not ok."),
        ("raw_reply", pa.string(), "The LLM's reply before parsing."),
    ],
    "scores": [
        ("latent", pa.int64(), "Latent index."),
        ("explanation_id", pa.int64(), "Which explanation of the latent was scored."),
        ("scorer", pa.string(), "Scorer name (detection, fuzz, ...)."),
        (
            "status",
            pa.string(),
            "ok; partial (some judgements failed: n_failed of them, left out of the metrics; "
            "a rerun redoes the row); failed (every judgement failed); skipped (no usable "
            "explanation or examples).",
        ),
        ("error", pa.string(), "What went wrong, when status is not ok."),
        ("method", pa.string(), "logprob (P(yes) at the answer position) or generate."),
        ("threshold", pa.float64(), "Decision threshold on P(yes) used for the binary metrics."),
        ("n_examples", pa.int64(), "Examples scored (positives + negatives + failed)."),
        ("n_pos", pa.int64(), "Positive examples with a judgement."),
        ("n_neg", pa.int64(), "Negative examples with a judgement."),
        ("n_failed", pa.int64(), "Examples whose judgement failed (left out of the metrics)."),
        *_metric_columns(),
    ],
    "judgements": [
        ("latent", pa.int64(), "Latent index."),
        ("explanation_id", pa.int64(), "Which explanation was judged."),
        ("scorer", pa.string(), "Scorer name."),
        ("item", pa.int64(), "Position of the prompt within the (latent, explanation, scorer)."),
        ("window", pa.int64(), "Window the prompt showed."),
        ("label", pa.bool_(), "Ground truth: should the answer be yes?"),
        (
            "p_yes",
            pa.float64(),
            "The scorer model's P(yes) (or 1/0 parsed), or the scorer's per-item score "
            "(similarity, P(correct), log-prob change); NaN if failed.",
        ),
        ("predicted", pa.bool_(), "p_yes > threshold (null if failed)."),
        ("error", pa.string(), "Why the judgement failed, if it did."),
    ],
}
_LLM_COLUMNS = {"explanations": _LLM, "scores": _LLM, "judgements": _LLM[:2]}

SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema(
        [
            pa.field(n, t, metadata={"doc": d})
            for n, t, d in _PROVENANCE[:1] + cols + _PROVENANCE[1:]
        ]
        + [pa.field(n, t, metadata={"doc": d}) for n, t, d in _LLM_COLUMNS.get(table, [])]
    )
    for table, cols in _COLUMNS.items()
}

KEYS: dict[str, tuple[str, ...]] = {
    "latents": ("run_id", "latent"),
    "examples": ("run_id", "latent", "window", "role"),
    "explanations": ("run_id", "latent", "explanation_id"),
    "scores": ("run_id", "latent", "explanation_id", "scorer"),
    "judgements": ("run_id", "latent", "explanation_id", "scorer", "item"),
}
"""The columns that identify a row: writing the same key twice leaves one row."""


METRICS = tuple(n for n in SCHEMAS["scores"].names if f"{n}_ci_low" in SCHEMAS["scores"].names)
"""Metric columns of the scores table (each with _ci_low / _ci_high), in column order."""


def column_docs(table: str) -> list[tuple[str, str, str]]:
    return [
        (f.name, str(f.type), (f.metadata or {}).get(b"doc", b"").decode()) for f in SCHEMAS[table]
    ]
