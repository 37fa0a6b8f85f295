"""The end-of-run summary as text: a table of explanations and scores, the LLM usage line
and the quality notes. Formatting only: the rows come from the caller (or the store)."""

from __future__ import annotations

import pandas as pd

from autointerp.primary_metrics import primary_metric
from autointerp.store.query import primary_score
from autointerp.store.schema import SCORED

__all__ = ["quality_lines", "summary_table", "usage_line"]


SHORT = {
    "auroc": "auroc",
    "correlation": "corr",
    "accuracy": "acc",
    "mean_delta": "delta",
    "balanced_accuracy": "bal.acc",
}


def summary_table(explanations: pd.DataFrame, scores: pd.DataFrame, width: int = 48) -> str:
    """One line per (latent, explanation): the explanation and each scorer's main metric
    (AUROC; correlation for simulation, accuracy for intruder, the log-prob change for
    intervention)."""
    if explanations.empty:
        return "no latents were explained"
    ok = scores[scores["status"].isin(SCORED)].copy()
    ok["primary"] = primary_score(ok)
    wide = ok.pivot_table(index=["latent", "explanation_id"], columns="scorer", values="primary")
    table = explanations[["latent", "explanation_id", "explanation", "status"]].copy()
    table["explanation"] = [
        (t if len(t) <= width else t[: width - 1] + "…") if s == "ok" else f"({s})"
        for t, s in zip(table["explanation"], table["status"], strict=True)
    ]
    for scorer in sorted(scores["scorer"].unique()):
        values = wide[scorer] if scorer in wide.columns else pd.Series(dtype=float)
        metric = primary_metric(scorer)
        table[f"{scorer} {SHORT.get(metric, metric)}"] = [
            values.get((lat, eid), float("nan"))
            for lat, eid in zip(table["latent"], table["explanation_id"], strict=True)
        ]
    table = table.drop(columns=["status"]).sort_values(["latent", "explanation_id"])
    if table["explanation_id"].max() == 0:
        table = table.drop(columns=["explanation_id"])
    text = table.to_string(index=False, float_format=lambda v: f"{v:.2f}")
    notes = [usage_line(explanations, scores), *quality_lines(explanations, scores)]
    return f"{text}\n\n" + "\n".join(notes)


def quality_lines(explanations: pd.DataFrame, scores: pd.DataFrame) -> list[str]:
    """How many explanations are the statistics phrase because the LLM's reply was rejected,
    and which scorers the ground-truth benchmark found unreliable with this run's judge."""
    from autointerp.explain.refine import refine_report
    from autointerp.quality import RELIABLE_AUROC, unreliable_scorers

    lines = []
    refined = refine_report(explanations)
    if refined:
        lines.append(refined)
    if "source" in explanations.columns and "error" in explanations.columns:
        ok = explanations[explanations["status"] == "ok"]
        rejected = ok[(ok["source"] == "generated:stats") & ok["error"].notna()]
        if len(rejected):
            lines.append(
                f"{len(rejected)} of {len(ok)} explanations state the latent's statistics: "
                "the LLM's reply was generic, unsupported or only repeated the tokens (see the "
                "raw_reply and error columns)"
            )
    if "llm" in scores.columns and not scores.empty:
        for judge in sorted(scores["llm"].dropna().unique()):
            bad = unreliable_scorers(str(judge))
            ran = {s: a for s, a in bad.items() if s in set(scores["scorer"])}
            if ran:
                figures = ", ".join(f"{s} {a:.2f}" for s, a in sorted(ran.items()))
                lines.append(
                    f"unreliable in this setup ({judge}): {figures} right-vs-wrong AUROC on "
                    f"make bench-quality (below {RELIABLE_AUROC}); read these columns with care"
                )
    return lines


def usage_line(explanations: pd.DataFrame, scores: pd.DataFrame) -> str:
    """LLM tokens per stage (prompt + completion) and their cost, e.g.
    ``LLM tokens (prompt + completion): explain 1,200 + 300, score 9,000 + 0; cost $0.0031``."""
    parts, costs = [], []
    for stage, df in (("explain", explanations), ("score", scores)):
        if df.empty or "prompt_tokens" not in df.columns:
            continue
        n_prompt, n_completion = int(df["prompt_tokens"].sum()), int(df["completion_tokens"].sum())
        parts.append(f"{stage} {n_prompt:,} + {n_completion:,}")
        if "cost_usd" in df.columns:
            costs.append(df["cost_usd"])
    if not parts:
        return "LLM tokens: none"
    cost = pd.concat(costs) if costs else pd.Series(dtype=float)
    if cost.notna().any():
        priced = f"cost ${cost.sum():.4f}"
        if cost.isna().any():
            priced += f" ({int(cost.isna().sum())} rows without a price)"
    else:
        priced = "cost unknown (no llm.prices entry)"
    return f"LLM tokens (prompt + completion): {', '.join(parts)}; {priced}"
