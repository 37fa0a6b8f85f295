"""Human-readable views of results: the end-of-run summary and score queries."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autointerp.store import read_table

__all__ = ["query_scores", "summary_table"]


def summary_table(explanations: pd.DataFrame, scores: pd.DataFrame, width: int = 48) -> str:
    """One line per (latent, explanation): the explanation and each scorer's bal. acc / AUROC."""
    if explanations.empty:
        return "no latents were explained"
    ok = scores[scores["status"] == "ok"]
    wide = ok.pivot_table(
        index=["latent", "explanation_id"], columns="scorer", values=["balanced_accuracy", "auroc"]
    )
    table = explanations[["latent", "explanation_id", "explanation", "status"]].copy()
    table["explanation"] = [
        (t if len(t) <= width else t[: width - 1] + "…") if s == "ok" else f"({s})"
        for t, s in zip(table["explanation"], table["status"], strict=True)
    ]
    for scorer in sorted(scores["scorer"].unique()):
        for metric, short in (("balanced_accuracy", "acc"), ("auroc", "auroc")):
            col = (metric, scorer)
            values = wide[col] if col in wide.columns else pd.Series(dtype=float)
            table[f"{scorer} {short}"] = [
                values.get((lat, eid), float("nan"))
                for lat, eid in zip(table["latent"], table["explanation_id"], strict=True)
            ]
    table = table.drop(columns=["status"]).sort_values(["latent", "explanation_id"])
    if table["explanation_id"].max() == 0:
        table = table.drop(columns=["explanation_id"])
    return table.to_string(index=False, float_format=lambda v: f"{v:.2f}")


def query_scores(
    root: Path | str,
    *,
    run_id: str | None = None,
    latent: int | None = None,
    scorer: str | None = None,
    min_score: float | None = None,
) -> pd.DataFrame:
    """Scores joined with their explanation text, filtered."""
    scores = read_table(root, "scores", run_id=run_id)
    expl = read_table(root, "explanations", run_id=run_id)
    df = scores.merge(
        expl[["run_id", "latent", "explanation_id", "explanation"]],
        on=["run_id", "latent", "explanation_id"],
        how="left",
    )
    if latent is not None:
        df = df[df["latent"] == latent]
    if scorer is not None:
        df = df[df["scorer"] == scorer]
    if min_score is not None:
        df = df[df["auroc"] >= min_score]
    cols = [
        "run_id",
        "latent",
        "explanation_id",
        "scorer",
        "status",
        "explanation",
        "balanced_accuracy",
        "f1",
        "auroc",
        "auroc_ci_low",
        "auroc_ci_high",
        "n_examples",
    ]
    return (
        df[cols]
        .sort_values(["run_id", "latent", "explanation_id", "scorer"])
        .reset_index(drop=True)
    )
