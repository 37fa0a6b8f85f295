"""The table frames built from a run's records: flags of the latents table, score rows
with every metric column and nullable counts, one judgement row per judged example, and
the frames written by RunWriter against the declared schemas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from autointerp.cache.stats import LatentStats
from autointerp.records import Example, Explanation, LatentRecord, LatentSample, ScoreResult
from autointerp.store import RunWriter, read_table
from autointerp.store.frames import (
    examples_frame,
    explanations_frame,
    judgements_frame,
    latents_frame,
    scores_frame,
)
from autointerp.store.schema import METRICS, SCHEMAS
from scorers.metrics import ALL_METRICS

PROV = {"run_id": "r1", "model": "m", "sae_sha256": "ab" * 8, "hook_name": "h", "seed": 0}


def test_the_store_declares_every_metric_the_scorers_compute() -> None:
    assert METRICS == ALL_METRICS


def test_latents_frame_flags_and_signed_units() -> None:
    """4 units of a signed 2-latent SAE: unit 0 fires on one token every time (single
    token and dense), unit 1 never fires (dead), units 2 and 3 are the negative sides
    (unit 2 fires on 2 of the 20 tokens)."""
    stats = LatentStats.empty(d_sae=4, top_k=2, reservoir=2, seed=0)
    acts = torch.zeros(2, 10, 4)
    acts[:, :, 0] = 1.0
    acts[0, :2, 2] = 0.5
    tokens = torch.full((2, 10), 7, dtype=torch.int64)
    stats.update(acts, torch.tensor([0, 1]), tokens)
    samples = [LatentSample(0, "ok"), LatentSample(1, "dead")]
    df = latents_frame(stats, samples, PROV, d_sae=2)
    assert df["sae_latent"].tolist() == [0, 1, 0, 1]
    assert df["direction"].tolist() == ["+", "+", "-", "-"]
    assert df["fire_count"].tolist() == [20, 0, 2, 0]
    assert df["dead"].tolist() == [False, True, False, True]
    assert df["dense"].tolist() == [True, False, False, False], "unit 2: 0.1 is not above 0.1"
    assert df["single_token"].tolist() == [True, False, False, False], "unit 2: 2 firings"
    assert df["selected"].tolist() == [True, True, False, False]
    assert df["sample_status"].tolist() == ["ok", "dead", "", ""]
    assert (df["n_tokens"] == 20).all() and (df["run_id"] == "r1").all()


def _results() -> list[ScoreResult]:
    judged = [{"p_yes": 0.9, "label": True}, {"p_yes": 0.2, "label": False}]
    return [
        ScoreResult(0, 0, "detection", "ok", "yes_no", metrics={"auroc": 0.75, "n_examples": 2}),
        ScoreResult(0, 0, "fuzz", "partial", "yes_no", judgements=judged, prompt_version="f.v2"),
        ScoreResult(1, 0, "detection", "skipped", "yes_no", error="no explanation"),
    ]


def test_scores_and_judgements_frames() -> None:
    versions = {"detection": "detection.v1", "fuzz": "fuzz.v1"}
    scores = scores_frame(_results(), PROV, versions)
    for m in METRICS:
        assert {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(scores.columns)
    assert scores["auroc"].tolist()[0] == 0.75 and scores["auroc"].isna().tolist()[1:] == [
        True,
        True,
    ]
    assert str(scores["n_examples"].dtype) == "Int64"
    assert scores["n_examples"].tolist()[0] == 2 and scores["n_examples"].isna().sum() == 2
    assert scores["prompt_version"].tolist() == ["detection.v1", "f.v2", "detection.v1"]
    assert scores["cost_usd"].isna().all(), "no price: no cost"
    judgements = judgements_frame(_results(), PROV, versions)
    assert judgements[["scorer", "item", "p_yes"]].values.tolist() == [
        ["fuzz", 0, 0.9],
        ["fuzz", 1, 0.2],
    ]


def test_frames_fit_the_declared_schemas(tmp_path: Path) -> None:
    example = Example(3, ("a", "b"), (0.0, 1.5), "explain", quantile=1)
    records = [LatentRecord(0, explain=[example])]
    expl = [Explanation(0, 0, "letters", "generated:default")]
    prov = PROV | {"created_at": pd.Timestamp("2026-01-01", tz="UTC")}
    llm_prov = prov | {"llm": "local:x"}
    writer = RunWriter(tmp_path, "r1")
    writer.add("examples", examples_frame(records, prov))
    writer.add("explanations", explanations_frame(expl, llm_prov, "default.v1"))
    versions = {"detection": "detection.v1", "fuzz": "fuzz.v1"}
    writer.add("scores", scores_frame(_results(), llm_prov, versions))
    writer.commit({"run_id": "r1", "created_at": prov["created_at"].isoformat()})
    examples = read_table(tmp_path, "examples")
    assert examples[["window", "max_act"]].values.tolist() == [[3, 1.5]]
    assert list(examples["tokens"].iloc[0]) == ["a", "b"]
    assert read_table(tmp_path, "explanations")["prompt_version"].tolist() == ["default.v1"]
    scores = read_table(tmp_path, "scores")
    assert list(scores.columns) == SCHEMAS["scores"].names
    assert scores["status"].tolist() == ["ok", "partial", "skipped"]
