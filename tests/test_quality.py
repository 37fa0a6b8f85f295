"""The shipped bench-quality figures: `autointerp list` shows them, and the run summary warns
about scorers measured as unreliable with the run's judge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from autointerp import quality
from autointerp.cli import main
from autointerp.cli.summary import quality_lines

REPORT = {
    "settings": {"latents": list(range(24))},
    "scorers": {
        "embedding": {"auroc": 0.93, "auroc_ci_low": 0.88, "auroc_ci_high": 0.97, "top1": 0.8},
        "fuzz": {"auroc": 0.51, "auroc_ci_low": 0.40, "auroc_ci_high": 0.62, "top1": 0.3},
    },
    "explainers": {"stats": {"cos_right": 0.5, "cos_other": 0.15, "gap": 0.35, "top1": 0.6}},
    "baselines": {},
}
JUDGE = "local:HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "quality.json"
    quality.publish(REPORT, JUDGE, path)
    monkeypatch.setattr(quality, "package_data", lambda name: tmp_path / name)
    quality.figures.cache_clear()
    yield path
    quality.figures.cache_clear()


def test_publish_keeps_the_figures_and_the_judge(shipped: Path) -> None:
    data = json.loads(shipped.read_text())
    assert data["judge"] == JUDGE and data["latents"] == 24
    assert data["scorers"]["fuzz"]["auroc"] == 0.51
    assert quality.unreliable_scorers(JUDGE) == {"fuzz": 0.51}
    assert quality.unreliable_scorers("openai:gpt-4o") == {}


def test_list_shows_each_measured_figure(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    embedding = next(ln for ln in out.splitlines() if ln.strip().startswith("embedding "))
    fuzz = next(ln for ln in out.splitlines() if ln.strip().startswith("fuzz "))
    assert "AUROC 0.93 [0.88, 0.97]" in embedding and "unreliable" not in embedding
    assert "AUROC 0.51" in fuzz and f"unreliable with {JUDGE}" in fuzz
    assert "similarity to the truth 0.50 vs 0.15" in out
    assert "detection      not measured" in out


def test_summary_warns_about_unreliable_scorers_and_rejected_replies(shipped: Path) -> None:
    explanations = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok"],
            "source": ["generated:grounded", "generated:stats", "generated:stats"],
            "error": [None, "LLM reply rejected (generic)", None],
        }
    )
    scores = pd.DataFrame({"scorer": ["fuzz", "embedding"], "llm": [JUDGE, JUDGE]})
    lines = quality_lines(explanations, scores)
    assert lines[0].startswith("1 of 3 explanations state the latent's statistics")
    assert "fuzz 0.51" in lines[1] and "embedding" not in lines[1]
    other = scores.assign(llm="openai:gpt-4o")
    assert quality_lines(explanations.iloc[:1], other) == []


def test_a_scorer_without_an_llm_is_not_blamed_on_the_judge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {"scorers": {"embedding": {"auroc": 0.7, "prompt_tokens_per_latent": 0.0}}}
    quality.publish(report, JUDGE, tmp_path / "quality.json")
    monkeypatch.setattr(quality, "package_data", lambda name: tmp_path / name)
    quality.figures.cache_clear()
    try:
        note = quality.scorer_note("embedding")
    finally:
        quality.figures.cache_clear()
    assert note is not None and "unreliable with its embedding model (no LLM)" in note


def test_the_shipped_figures_are_for_the_embedded_default_judge() -> None:
    """The package's quality.json (written by make bench-quality) names the judge that a run
    with the defaults records in its llm column, so the summary's warnings apply to it."""
    from autointerp.config import LLMConfig

    data = quality.figures()
    if not data:
        pytest.skip("no shipped figures")
    default = LLMConfig()
    assert data["judge"] == f"{default.backend}:{default.model}"
    assert {"detection", "fuzz"} <= set(data["scorers"])
    assert {"grounded", "stats", "token_list"} <= set(data["explainers"])
