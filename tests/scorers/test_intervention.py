"""The intervention scorer on the real SmolLM2 (subject model and scorer LLM) with the
planted SAE of tests/test_steering.py (latent 0: a dogs-and-pets direction; latent 2: a zero
decoder row)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autointerp.config import LLMConfig, ScoringConfig
from autointerp.llm.local import LocalLLM
from autointerp.records import Explanation, LatentRecord
from scorers import SCORERS
from scorers.base import ScoreResult, ScoringContext
from scorers.intervention import InterventionScorer, _judge_prompt, statement
from tests.test_steering import planted_sae

CFG = ScoringConfig(steer_prompts=4, steer_tokens=12, n_bootstrap=50)


@pytest.fixture(scope="module")
def llm(smollm2: Any) -> LocalLLM:
    return LocalLLM(LLMConfig(), smollm2)


@pytest.fixture(scope="module")
def scored(smollm2: Any, llm: LocalLLM) -> list[ScoreResult]:
    ctx = ScoringContext(llm, CFG, progress=False, subject=smollm2, sae=planted_sae(smollm2))
    pairs = [
        (LatentRecord(0), Explanation(0, 0, "dogs", "user:t")),
        (LatentRecord(0), Explanation(0, 1, "programming", "user:t")),
        (LatentRecord(0), Explanation(0, 2, "", "user:t", status="unparsable")),
        (LatentRecord(2), Explanation(2, 0, "dogs", "user:t")),
    ]
    return InterventionScorer().score(pairs, ctx)


def test_registered() -> None:
    assert SCORERS.get("intervention") is InterventionScorer
    assert InterventionScorer.needs_model


@pytest.mark.slow
def test_matching_explanation_gains_more_log_probability(scored: list[ScoreResult]) -> None:
    dogs, programming = scored[0], scored[1]
    assert dogs.status == "ok" and programming.status == "ok", (dogs.error, programming.error)
    print(
        "mean_delta dogs",
        dogs.metrics["mean_delta"],
        "programming",
        programming.metrics["mean_delta"],
        "accuracy",
        dogs.metrics["accuracy"],
        programming.metrics["accuracy"],
        "alpha",
        dogs.metrics["steer_alpha"],
        "kl",
        dogs.metrics["steer_kl"],
    )
    assert dogs.metrics["mean_delta"] > 1.0
    assert dogs.metrics["mean_delta"] > programming.metrics["mean_delta"] + 1.0
    assert dogs.metrics["auroc"] > programming.metrics["auroc"]


@pytest.mark.slow
def test_result_rows_carry_metrics_calibration_and_judgements(scored: list[ScoreResult]) -> None:
    result = scored[0]
    m = result.metrics
    for key in ("mean_delta", "accuracy", "auroc"):
        assert not math.isnan(m[key]) and m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"]
    assert m["n_examples"] == 4 and m["n_failed"] == 0
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["p_correct"] <= 1
    assert m["steer_converged"] and m["steer_kl"] == pytest.approx(CFG.steer_target_kl, rel=0.1)
    assert [j["window"] for j in result.judgements] == [0, 1, 2, 3] * 2
    assert {tuple(sorted(j)) for j in result.judgements} == {
        ("error", "label", "p_yes", "predicted", "window")
    }
    deltas = [j["p_yes"] for j in result.judgements[4:]]
    assert sum(deltas) / 4 == pytest.approx(m["mean_delta"])
    assert scored[1].metrics["steer_alpha"] == m["steer_alpha"]  # one calibration per latent
    # the scorer model's cost: 2 x 4 statements + 2 x 4 judge prompts, one answer token each
    assert result.prompt_tokens > 16 * 10 and result.completion_tokens == 8


@pytest.mark.slow
def test_unusable_explanation_and_dead_direction(scored: list[ScoreResult]) -> None:
    assert scored[2].status == "skipped" and "unparsable" in (scored[2].error or "")
    assert scored[3].status == "failed"
    assert "does not change the next-token distribution" in (scored[3].error or "")


@pytest.mark.slow
def test_skipped_without_subject_model(llm: LocalLLM) -> None:
    ctx = ScoringContext(llm, CFG, progress=False)
    (result,) = InterventionScorer().score([(LatentRecord(0), Explanation(0, 0, "x", "u"))], ctx)
    assert result.status == "skipped" and "subject model and the SAE" in (result.error or "")


def test_statement_span_covers_the_explanation() -> None:
    text, start, end = statement("Once upon a time, a dog.", "dogs and cats")
    assert text == "Once upon a time, a dog.\n\nThis text is about dogs and cats."
    assert text[start:end] == " dogs and cats"


def test_judge_prompt_golden() -> None:
    assert _judge_prompt("dogs", "one", "two") == [
        {
            "role": "system",
            "content": "You compare two texts written by a language model. Answer every "
            "question with A or B.",
        },
        {
            "role": "user",
            "content": "A neuron of a language model has been described as: dogs\n\n"
            "The model continued the same beginning twice. For one of the two texts, the "
            "neuron was switched on, which should push the text towards the description.\n\n"
            "Text A: one\n\nText B: two\n\n"
            "Which text was written with the neuron switched on? Answer A or B.",
        },
    ]
