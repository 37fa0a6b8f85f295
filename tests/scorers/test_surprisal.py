"""The surprisal scorer with the real local SmolLM2 on a digit latent built by hand."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from autointerp.config import LLMConfig, ScoringConfig
from autointerp.llm.base import TextLogprobs
from autointerp.llm.local import LocalLLM
from autointerp.records import Explanation
from scorers import SCORERS
from scorers.base import ScoringContext
from scorers.metrics import METRICS
from scorers.surprisal import GENERIC, SurprisalScorer, mean_text_logprob, prefix
from tests.scorers.digit_latent import RIGHT, WRONG, digit_record, explanation


@pytest.fixture(scope="module")
def llm(smollm2: Any) -> LocalLLM:
    return LocalLLM(LLMConfig(), smollm2)


def _ctx(llm: Any) -> ScoringContext:
    return ScoringContext(llm, ScoringConfig(n_bootstrap=50), seed=0, progress=False)


class NoLogprobs(LocalLLM):
    """Test double: a backend without prompt log-probabilities (like a chat-only server)."""

    supports_logprobs = False


class Broken(LocalLLM):
    """Test double: a backend whose log-probability requests all fail."""

    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        return [TextLogprobs([], [], [], [], error="HTTP 500") for _ in texts]


def test_registered() -> None:
    assert SCORERS.get("surprisal") is SurprisalScorer


@pytest.mark.slow
def test_right_explanation_beats_wrong(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=6)
    pairs = [(record, explanation(RIGHT, 0, 0)), (record, explanation(WRONG, 0, 1))]
    right, wrong = SurprisalScorer().score(pairs, _ctx(llm))
    for r in (right, wrong):
        assert (r.status, r.error, r.method) == ("ok", None, "logprob")
        assert (r.metrics["n_pos"], r.metrics["n_neg"], r.metrics["n_failed"]) == (6, 6, 0)
        assert all(f"{m}_ci_low" in r.metrics for m in METRICS)
        assert len(r.judgements) == 12 and all(j["error"] is None for j in r.judgements)
        gains = [j["p_yes"] for j in r.judgements]
        assert r.metrics["threshold"] == pytest.approx(float(np.median(gains)))
        assert r.completion_tokens == 0
    # the generic-prefix texts are shared: the first result pays for them
    assert right.prompt_tokens > wrong.prompt_tokens > 0
    print("surprisal AUROC right/wrong:", right.metrics["auroc"], wrong.metrics["auroc"])
    assert right.metrics["auroc"] >= 0.8
    assert right.metrics["auroc"] > wrong.metrics["auroc"] + 0.2


@pytest.mark.slow
def test_gain_is_the_mean_logprob_difference_of_a_direct_forward_pass(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=1)
    (result,) = SurprisalScorer().score([(record, explanation(RIGHT))], _ctx(llm))
    text = record.score[0].text
    tok, model = llm.subject.tokenizer, llm.subject.model

    def mean_logprob(about: str) -> float:
        head = prefix(about)
        enc = tok(head + text, add_special_tokens=False, return_offsets_mapping=True)
        ids = torch.tensor([enc["input_ids"]])
        with torch.no_grad():
            logp = model(input_ids=ids).logits[0].float().log_softmax(-1)
        vals = [
            float(logp[j - 1, ids[0, j]])
            for j, (a, _) in enumerate(enc["offset_mapping"])
            if j > 0 and a >= len(head)
        ]
        return sum(vals) / len(vals)

    expected = mean_logprob(RIGHT) - mean_logprob(GENERIC)
    assert result.judgements[0]["p_yes"] == pytest.approx(expected, abs=1e-3)


def test_mean_text_logprob_counts_only_text_tokens() -> None:
    lp = TextLogprobs(["a", "b", "c"], [0, 5, 9], [math.nan, -1.0, -3.0], [{}, {}, {}])
    assert mean_text_logprob(lp, 5) == -2.0
    assert mean_text_logprob(lp, 9) == -3.0
    assert math.isnan(mean_text_logprob(lp, 10))


@pytest.mark.slow
def test_skipped_cases(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=2)
    bad = Explanation(0, 1, "", "generated:default", status="refusal")
    no_neg = dataclasses.replace(record, nonactivating=[])
    out = SurprisalScorer().score([(record, bad), (no_neg, explanation(RIGHT))], _ctx(llm))
    assert [r.status for r in out] == ["skipped", "skipped"]
    assert out[0].error == "no usable explanation (refusal)"
    assert "0 non-activating" in (out[1].error or "")


@pytest.mark.slow
def test_backend_without_logprobs_is_skipped(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=2)
    (result,) = SurprisalScorer().score(
        [(record, explanation(RIGHT))], _ctx(NoLogprobs(LLMConfig(), llm.subject))
    )
    assert result.status == "skipped"
    assert "needs prompt log-probabilities" in (result.error or "")


@pytest.mark.slow
def test_failed_requests_give_a_failed_row(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=2)
    (result,) = SurprisalScorer().score(
        [(record, explanation(RIGHT))], _ctx(Broken(LLMConfig(), llm.subject))
    )
    assert (result.status, result.error) == ("failed", "HTTP 500")
    assert result.metrics == {}
    assert len(result.judgements) == 4
    assert all(math.isnan(j["p_yes"]) and j["error"] == "HTTP 500" for j in result.judgements)
