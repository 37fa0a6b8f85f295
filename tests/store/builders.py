"""A store of real Parquet files (written by RunWriter) with two checkpoints, several runs
and rewritten keys: the fixture store of tests/store/test_search.py and tests/api."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from autointerp.store import SCHEMAS, RunWriter

SHA_A = "aaaa1111aaaa1111"
SHA_B = "bbbb2222bbbb2222"
T0 = pd.Timestamp("2025-01-01T00:00:00Z")
TEXTS = [
    "names of dogs",
    "Python keywords such as def and class",
    "numbers in dates",
    "French words",
    "closing brackets",
]
SCORERS = ("detection", "fuzz", "simulation")


def frame(table: str, rows: list[dict[str, Any]], prov: dict[str, Any]) -> pd.DataFrame:
    """Rows of ``table`` with every schema column (missing ones null)."""
    df = pd.DataFrame([{**prov, **r} for r in rows])
    for name in SCHEMAS[table].names:
        if name not in df.columns:
            df[name] = None
    return df[SCHEMAS[table].names]


def _metrics(value: float, prefix: str) -> dict[str, float]:
    return {prefix: value, f"{prefix}_ci_low": value - 0.05, f"{prefix}_ci_high": value + 0.05}


def score_row(latent: int, scorer: str, value: float, status: str = "ok") -> dict[str, Any]:
    """detection/fuzz store ``value`` as AUROC; simulation as correlation (AUROC null)."""
    metric = "correlation" if scorer == "simulation" else "auroc"
    row: dict[str, Any] = {
        "latent": latent,
        "explanation_id": 0,
        "scorer": scorer,
        "status": status,
        "method": "logprob",
        "n_examples": 10,
        "llm": "local:m",
        "prompt_tokens": 5,
        "completion_tokens": 0,
    }
    if status == "ok":
        row |= _metrics(value, metric) | _metrics(0.6, "balanced_accuracy")
    return row


def write_run(root: Path, run_id: str, sha: str, hours: int, texts: list[str], base: float) -> None:
    """A run over latents 0..len(texts): texts[i] explains latent i (the last latent's
    explanation failed); detection AUROC = base + 0.1 i, fuzz = 0.4 + 0.1 i, simulation
    correlation = 0.1 i."""
    prov = {
        "run_id": run_id,
        "model": f"model-{sha[:4]}",
        "sae_sha256": sha,
        "hook_name": "blocks.1.hook_resid_post",
        "seed": 0,
        "created_at": T0 + pd.Timedelta(hours=hours),
    }
    n = len(texts)
    latents = [
        {
            "latent": i,
            "sae_latent": i,
            "direction": "+",
            "fire_count": 100 + i,
            "density": 0.01 * (i + 1),
            "max_act": 5.0 + i,
            "mean_act": 1.5,
            "dead": False,
            "dense": False,
            "selected": i <= n,
            "sample_status": "ok" if i <= n else "",
            "act_hist": [1, 2, 3],
            "n_tokens": 1000,
        }
        for i in range(n + 3)
    ]
    expl = [
        {"latent": i, "explanation_id": 0, "explanation": t, "source": "generated:default"}
        | {"status": "ok", "llm": "local:m", "prompt_tokens": 10, "completion_tokens": 5}
        for i, t in enumerate(texts)
    ]
    expl.append(
        {"latent": n, "explanation_id": 0, "explanation": "", "status": "llm_error"}
        | {"source": "generated:default", "error": "timeout", "llm": "local:m"}
    )
    scores = [
        score_row(i, s, v)
        for i in range(n)
        for s, v in zip(SCORERS, (base + 0.1 * i, 0.4 + 0.1 * i, 0.1 * i), strict=True)
    ]
    scores += [score_row(n, s, math.nan, status="skipped") for s in SCORERS]
    examples = [
        {
            "latent": i,
            "window": 10 * i + j,
            "start": 0,
            "role": role,
            "quantile": q,
            "max_act": float(q) if q else 0.0,
            "tokens": ["The", " dog", f" w{j}"],
            "acts": [0.0, float(q), 0.5],
        }
        for i in range(n)
        for j, (role, q) in enumerate([("explain", 2), ("explain", 1), ("nonactivating", 0)])
    ]
    writer = RunWriter(root, run_id)
    for table, rows in (
        ("latents", latents),
        ("explanations", expl),
        ("scores", scores),
        ("examples", examples),
    ):
        writer.add(table, frame(table, rows, prov))
    manifest = {
        "run_id": run_id,
        "created_at": prov["created_at"].isoformat(),
        "inputs": {"sae_path": f"/ckpts/{sha[:4]}", "sae_sha256": sha},
    }
    writer.commit(manifest)


def build_store(root: Path) -> Path:
    """Two checkpoints: A with runs ra1 (latents 0-4 explained, 5 failed) and ra2 (newer;
    latents 0-1 explained again, 2 failed), B with run rb1 (latents 0-2, 3 failed)."""
    write_run(root, "ra1", SHA_A, 0, TEXTS, base=0.5)
    write_run(root, "ra2", SHA_A, 2, ["dog breeds", "the keyword def"], base=0.7)
    write_run(root, "rb1", SHA_B, 1, ["Dogs and cats", "semicolons", "years"], base=0.3)
    return root
