"""Measured quality of the scorers and explainers, as shipped with the package.

``make bench-quality`` (benchmarks/bench_quality.py) measures, on ground-truth latents built
from real SmolLM2 activations, how well each scorer tells a right explanation from wrong ones
(AUROC across latents, with a bootstrap CI) and how close each explainer's explanations come
to the truth, with the embedded judge (the local SmolLM2-135M-Instruct). It writes the
figures to ``autointerp/data/quality.json``; ``autointerp list`` shows them next to each
name, and the run summary warns when a scorer that this benchmark found unreliable was run
with that judge.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from autointerp.paths import package_data

__all__ = [
    "RELIABLE_AUROC",
    "explainer_note",
    "figures",
    "publish",
    "quality_source",
    "scorer_note",
    "unreliable_scorers",
]

RELIABLE_AUROC = 0.8
"""Below this right-vs-wrong AUROC a scorer is called unreliable with the measured judge."""
FILE = "quality.json"


@lru_cache(maxsize=1)
def figures() -> dict[str, Any]:
    """The shipped figures ({} when the package has none)."""
    path = package_data(FILE)
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _judge() -> str:
    return str(figures().get("judge", "the embedded judge"))


def quality_source() -> str:
    """Where the shipped figures come from, e.g. '24 ground-truth latents, judge local:...'."""
    data = figures()
    return f"{data.get('latents', '?')} ground-truth latents, judge {_judge()}"


def scorer_note(name: str) -> str | None:
    """'AUROC 0.91 [0.83, 0.97], right first 80%' (+ 'unreliable' when below the bar)."""
    figs = figures().get("scorers", {}).get(name)
    if not figs or "auroc" not in figs:
        return None
    note = f"right-vs-wrong AUROC {figs['auroc']:.2f}"
    if "auroc_ci_low" in figs:
        note += f" [{figs['auroc_ci_low']:.2f}, {figs['auroc_ci_high']:.2f}]"
    if "top1" in figs:
        note += f", right ranked first {100 * figs['top1']:.0f}%"
    if figs["auroc"] < RELIABLE_AUROC:
        judge = _judge() if figs.get("uses_llm", True) else "its embedding model (no LLM)"
        note += f" - below {RELIABLE_AUROC}: unreliable with {judge}"
    return note


def explainer_note(name: str) -> str | None:
    """'cosine to truth 0.52 vs 0.18 shuffled, top-1 40%'."""
    figs = figures().get("explainers", {}).get(name)
    if not figs or "cos_right" not in figs:
        return None
    return (
        f"similarity to the truth {figs['cos_right']:.2f} vs {figs['cos_other']:.2f} shuffled, "
        f"right truth retrieved first {100 * figs['top1']:.0f}%"
    )


def unreliable_scorers(judge: str) -> dict[str, float]:
    """Scorers below ``RELIABLE_AUROC`` on the benchmark, when ``judge`` (an ``llm`` column
    value such as 'local:HuggingFaceTB/SmolLM2-135M-Instruct') is the judge measured."""
    data = figures()
    if not data or data.get("judge") != judge:
        return {}
    return {
        name: float(f["auroc"])
        for name, f in data.get("scorers", {}).items()
        if "auroc" in f and f["auroc"] < RELIABLE_AUROC
    }


def publish(report: dict[str, Any], judge: str, path: Path) -> None:
    """Write the figures the package shows (from a bench-quality report) to ``path``."""
    keep = ("auroc", "auroc_ci_low", "auroc_ci_high", "top1", "cos_right", "cos_other", "gap")
    data = {
        "judge": judge,
        "benchmark": "make bench-quality",
        "latents": len(report.get("settings", {}).get("latents", [])),
        "scorers": {
            n: {
                **{k: f[k] for k in keep if k in f},
                "uses_llm": f.get("prompt_tokens_per_latent", 1) > 0,
            }
            for n, f in report.get("scorers", {}).items()
        },
        "explainers": {
            n: {k: f[k] for k in keep if k in f}
            for n, f in {**report.get("explainers", {}), **report.get("baselines", {})}.items()
        },
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
