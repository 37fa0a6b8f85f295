"""Turn a run's in-memory results into the DataFrames of the Parquet tables.

The frames are built from the stages' records (statistics, samples, explanations, score
results: :mod:`autointerp.records`), which this module reads only through their attributes:
it imports none of the stages at run time (only for types), and not the scorers at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autointerp.store.schema import METRICS

if TYPE_CHECKING:
    from autointerp.cache.stats import LatentStats
    from autointerp.llm.pricing import Price
    from autointerp.records import Explanation, LatentRecord, LatentSample, ScoreResult

__all__ = [
    "examples_frame",
    "explanations_frame",
    "judgements_frame",
    "latents_frame",
    "scores_frame",
]


DENSE_THRESHOLD = 0.1
"""A latent firing on more than this share of tokens is flagged ``dense``."""
SINGLE_TOKEN_SHARE, SINGLE_TOKEN_MIN = 0.9, 10
"""Flag ``single_token``: >= 90 % of >= 10 firings on one token (upper bound, see stats)."""


def _with(rows: list[dict[str, Any]], columns: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for key, value in columns.items():
        df[key] = value
    return df


def _cost(price: Price | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    return None if price is None else price.cost(prompt_tokens, completion_tokens)


def latents_frame(
    stats: LatentStats, samples: Sequence[LatentSample], prov: dict[str, Any], d_sae: int
) -> pd.DataFrame:
    """One row per unit; for signed SAEs units d_sae.. are the latents' negative sides."""
    status = {s.latent: s.status for s in samples}
    units = np.arange(stats.d_sae)
    df = pd.DataFrame(
        {
            "latent": units,
            "sae_latent": units % d_sae,
            "direction": np.where(units >= d_sae, "-", "+"),
            "fire_count": stats.fire_count.numpy(),
            "density": stats.density().numpy(),
            "window_count": stats.window_count.numpy(),
            "mean_act": stats.mean_activation().numpy(),
            "max_act": stats.act_max.double().numpy(),
        }
    )
    share = stats.top_token_share().numpy()
    df["dead"] = df["fire_count"] == 0
    df["dense"] = df["density"] > DENSE_THRESHOLD
    df["top_token_share"] = share
    df["single_token"] = (share >= SINGLE_TOKEN_SHARE) & (df["fire_count"] >= SINGLE_TOKEN_MIN)
    df["act_hist"] = list(stats.hist.numpy())
    df["selected"] = df["latent"].isin(status)
    df["sample_status"] = df["latent"].map(status).fillna("")
    df["n_tokens"] = stats.n_tokens
    return df.assign(**prov)


def examples_frame(records: Sequence[LatentRecord], prov: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "latent": r.latent,
            "window": ex.window,
            "start": ex.start,
            "role": ex.role,
            "quantile": ex.quantile,
            "max_act": ex.max_act,
            "tokens": list(ex.tokens),
            "acts": list(ex.acts),
        }
        for r in records
        for ex in (*r.explain, *r.score, *r.nonactivating)
    ]
    return _with(rows, prov)


def explanations_frame(
    explanations: Sequence[Explanation],
    prov: dict[str, Any],
    prompt_version: str,
    price: Price | None = None,
) -> pd.DataFrame:
    """One row per explanation; ``price`` (``autointerp.llm.pricing.price_for``) fills
    ``cost_usd``."""
    rows = [
        {
            "latent": e.latent,
            "explanation_id": e.explanation_id,
            "explanation": e.text,
            "source": e.source,
            "status": e.status,
            "error": e.error,
            "raw_reply": e.raw,
            "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens,
            "cost_usd": _cost(price, e.prompt_tokens, e.completion_tokens),
            "prompt_version": prompt_version if e.source.startswith("generated") else "",
        }
        for e in explanations
    ]
    return _with(rows, prov)


def scores_frame(
    results: Sequence[ScoreResult],
    prov: dict[str, Any],
    versions: dict[str, str],
    price: Price | None = None,
) -> pd.DataFrame:
    """One row per (latent, explanation, scorer); ``price`` fills ``cost_usd``."""
    metric_cols = [c for m in METRICS for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "latent": r.latent,
            "explanation_id": r.explanation_id,
            "scorer": r.scorer,
            "status": r.status,
            "error": r.error,
            "method": r.method,
            "prompt_version": r.prompt_version or versions[r.scorer],
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "cost_usd": _cost(price, r.prompt_tokens, r.completion_tokens),
        }
        for col in ("threshold", "n_examples", "n_pos", "n_neg", "n_failed", *metric_cols):
            row[col] = r.metrics.get(col)
        rows.append(row)
    df = _with(rows, prov)
    for col in ("n_examples", "n_pos", "n_neg", "n_failed"):
        df[col] = df[col].astype("Int64")
    return df


def judgements_frame(
    results: Sequence[ScoreResult], prov: dict[str, Any], versions: dict[str, str]
) -> pd.DataFrame:
    rows = [
        {
            "latent": r.latent,
            "explanation_id": r.explanation_id,
            "scorer": r.scorer,
            "item": i,
            **j,
            "prompt_version": r.prompt_version or versions[r.scorer],
        }
        for r in results
        for i, j in enumerate(r.judgements)
    ]
    return _with(rows, prov)
