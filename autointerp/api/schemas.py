"""Request and response models, and the conversion of query results to plain JSON."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Health",
    "JobRequest",
    "JobSubmitted",
    "LatentDetailOut",
    "Listing",
    "Page",
    "jsonable",
    "records",
]


class Health(BaseModel):
    status: str = "ok"


class JobRequest(BaseModel):
    """A run config to submit: ``config`` (any part of a run config, as saved in
    runs/<run_id>.json; see ``autointerp config``) and/or the flat shortcuts below, which
    override it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    config: dict[str, Any] = Field(
        default_factory=dict, description="Partial run config; unset fields keep defaults."
    )
    sae: str | None = Field(None, description="Checkpoint (config 'sae').")
    model: str | None = Field(None, description="Subject model (config 'model').")
    corpus: str | None = Field(None, description="Corpus (config 'corpus.path').")
    latents: str | None = Field(None, description="'A:B', 'i,j,k' or 'live:N'.")
    explainer: str | None = Field(None, description="Explainer (config 'explain.explainer').")
    scorers: list[str] | str | None = Field(
        None, description="Scorers, a list or a comma-separated string."
    )
    llm: str | None = Field(
        None, description="'local', 'local:<model>', 'openai' or an OpenAI-compatible URL."
    )
    llm_model: str | None = Field(None, description="Model name on the LLM server.")
    seed: int | None = Field(None, description="Seed (config 'seed').")


class JobSubmitted(BaseModel):
    job_id: str
    new: bool = Field(description="False when the same config was submitted before.")
    status_url: str


class Page(BaseModel):
    total: int = Field(description="Rows matching the filters.")
    limit: int
    offset: int
    items: list[dict[str, Any]]


class Listing(BaseModel):
    total: int
    items: list[dict[str, Any]]


class LatentDetailOut(BaseModel):
    checkpoint: str = Field(description="The full sae_sha256 the prefix resolved to.")
    latent: int
    stats: dict[str, Any] | None = Field(description="Newest statistics row of the latent.")
    explanations: list[dict[str, Any]]
    scores: list[dict[str, Any]] = Field(description="Every metric with its bootstrap CI.")
    examples: list[dict[str, Any]]


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: NaN/NaT/NA -> None, numpy scalars and arrays ->
    Python numbers and lists (float32 by their shortest repr), timestamps -> ISO text."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (bool, str, int)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, np.floating):
        as_float = float(str(value)) if isinstance(value, np.float32) else float(value)
        return _float(as_float)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return _float(float(value))
    if isinstance(value, Path):
        return str(value)
    return str(value)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as JSON-ready dicts."""
    return [jsonable(row) for row in df.to_dict(orient="records")]
