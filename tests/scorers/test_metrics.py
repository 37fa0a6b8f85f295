"""Our metrics agree with scikit-learn's, and the confidence intervals behave."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from scorers.metrics import binary_metrics


@pytest.mark.parametrize("seed", range(5))
def test_point_estimates_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(60) < 0.5
    probs = np.clip(labels * 0.3 + rng.random(60) * 0.7, 0, 1).round(2)  # ties on purpose
    m = binary_metrics(labels, probs, 0.5, n_bootstrap=0)
    pred = probs > 0.5
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, pred))
    assert m["precision"] == pytest.approx(precision_score(labels, pred))
    assert m["recall"] == pytest.approx(recall_score(labels, pred))
    assert m["f1"] == pytest.approx(f1_score(labels, pred))
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, probs))
    assert (m["n_examples"], m["n_pos"] + m["n_neg"], m["n_failed"]) == (60, 60, 0)


def test_failed_judgements_are_left_out_and_counted() -> None:
    labels = np.array([True, True, False, False, True])
    probs = np.array([0.9, np.nan, 0.1, 0.2, 0.8])
    m = binary_metrics(labels, probs, 0.5, n_bootstrap=50)
    assert (m["n_failed"], m["n_pos"], m["n_neg"]) == (1, 2, 2)
    assert m["auroc"] == 1.0 and m["balanced_accuracy"] == 1.0


def test_confidence_interval_contains_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)

    def width(n: int) -> float:
        labels = np.arange(n) < n // 2
        probs = labels * 0.2 + rng.random(n) * 0.8
        m = binary_metrics(labels, probs, 0.5, n_bootstrap=300, seed=1)
        assert m["auroc_ci_low"] <= m["auroc"] <= m["auroc_ci_high"]
        return m["auroc_ci_high"] - m["auroc_ci_low"]

    assert width(400) < width(40)


def test_single_class_gives_nan_auroc() -> None:
    m = binary_metrics(np.array([True, True]), np.array([0.6, 0.7]), 0.5)
    assert math.isnan(m["auroc"]) and m["recall"] == 1.0


def test_scorer_skips_a_latent_without_negatives() -> None:
    """A latent that fires in every window has no non-activating examples: detection says
    so explicitly instead of reporting NaN metrics (no LLM call is made for it)."""
    from autointerp.config import ScoringConfig
    from autointerp.llm.base import LLM
    from autointerp.records import Example, Explanation, LatentRecord
    from scorers.base import ScoringContext
    from scorers.detection import DetectionScorer

    class NoCalls(LLM):
        name = "none"
        supports_logprobs = True

        def generate(self, prompts, **kw):  # type: ignore[no-untyped-def]
            assert not prompts
            return []

        def judge(self, prompts, **kw):  # type: ignore[no-untyped-def]
            assert not prompts
            return []

    ex = Example(1, ("a", " b"), (1.0, 0.0), "score", 1)
    record = LatentRecord(3, score=[ex], nonactivating=[])
    [result] = DetectionScorer().score(
        [(record, Explanation(3, 0, "x", "user"))], ScoringContext(NoCalls(), ScoringConfig())
    )
    assert result.status == "skipped" and "1 positive and 0 negative" in (result.error or "")


def test_a_failed_calibration_prompt_makes_the_row_partial_and_is_counted() -> None:
    """The calibration prompt ("N/A" in place of the text) sets the threshold; when it fails,
    the row is redone later (partial) and the failure is counted in n_failed like a failed
    judgement's (test double: an LLM that fails exactly that request)."""
    from autointerp.config import ScoringConfig
    from autointerp.llm.base import LLM, Choice
    from autointerp.records import Example, Explanation, LatentRecord
    from scorers.base import CONTENT_FREE, ScoringContext, settle_status
    from scorers.detection import DetectionScorer

    class FailsCalibration(LLM):
        name = "test:calibration-fails"
        supports_logprobs = True

        def generate(self, prompts, **kw):  # type: ignore[no-untyped-def]
            raise AssertionError("log-probabilities only")

        def choose(self, prompts, options, **kw):  # type: ignore[no-untyped-def]
            out = []
            for p in prompts:
                text = p[-1]["content"]
                if CONTENT_FREE in text:
                    out.append(Choice(dict.fromkeys(options, math.nan), 0.0, 5, "HTTP 503"))
                else:
                    yes = 0.9 if " 7" in text else 0.1
                    out.append(Choice({"yes": yes, "no": 1 - yes}, 1.0, 5))
            return out

    active = [Example(i, ("it", " 7"), (0.0, 1.0), "score", 1) for i in range(4)]
    quiet = [Example(10 + i, ("a", " cat"), (0.0, 0.0), "nonactivating") for i in range(4)]
    record = LatentRecord(3, score=active, nonactivating=quiet)
    cfg = ScoringConfig(method="logprob", n_bootstrap=10)
    [result] = DetectionScorer().score(
        [(record, Explanation(3, 0, "digits", "user"))],
        ScoringContext(FailsCalibration(), cfg),
    )
    result = settle_status(result)
    assert result.status == "partial" and result.metrics["n_failed"] == 1
    assert "the calibration prompt failed: HTTP 503" in (result.error or "")
    assert result.metrics["auroc"] == 1.0  # the judgements themselves all answered
