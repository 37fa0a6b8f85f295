"""The intruder scorer: golden prompt, seeded questions, and runs with the real local SmolLM2.

Measured with SmolLM2-135M as the scorer (digit latent, 10 questions of 4 + 1 examples):
accuracy 0.2 for "numbers and digits", 0.1 for "animals and pets", 0.2 for "numbers" — chance
(1/5). The 135M model cannot do the task, so no direction is asserted; shape, statuses and
failure rows are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from autointerp.config import LLMConfig, ScoringConfig
from autointerp.llm.base import Choice, Prompt
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, Explanation, LatentRecord
from scorers import SCORERS
from scorers.base import ScoringContext
from scorers.intruder import IntruderScorer, parse_choice
from tests.scorers.digit_latent import RIGHT, WRONG, digit_record, explanation

ACTIVE = [Example(i, (" in", f" {1990 + i}"), (0.0, 1.0), "score", 1) for i in range(3)]
QUIET = [Example(10, ("The cat", "\n", "sat"), (0.0, 0.0, 0.0), "nonactivating")]
RECORD = LatentRecord(7, [], ACTIVE, QUIET, 1.0)


@pytest.fixture(scope="module")
def llm(smollm2: Any) -> LocalLLM:
    return LocalLLM(LLMConfig(), smollm2)


def _ctx(llm: Any, **cfg: Any) -> ScoringContext:
    return ScoringContext(llm, ScoringConfig(n_bootstrap=20, **cfg), seed=0, progress=False)


class Broken(LocalLLM):
    """Test double: a backend whose log-probability requests all fail."""

    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        return [Choice(dict.fromkeys(options, math.nan), 0.0, 0, "HTTP 500") for _ in prompts]


def test_registered() -> None:
    assert SCORERS.get("intruder") is IntruderScorer


def test_prompt_golden() -> None:
    (q, *_) = IntruderScorer().questions(RECORD, Explanation(7, 0, "years", "user:x"), 2, 3, 0)
    assert q.intruder == 0 and [e.window for e in q.examples] == [10, 2, 1]
    assert q.options == ["1", "2", "3"]
    assert q.messages == [
        {
            "role": "system",
            "content": "You check descriptions of neurons in a language model. Answer every "
            "question with the number of one example.",
        },
        {
            "role": "user",
            "content": "A neuron has been described as responding to: years\n"
            "\n"
            "All but one of the following examples contain what the description says the "
            "neuron responds to.\n"
            "\n"
            "1. The cat\\nsat\n"
            "2. in 1992\n"
            "3. in 1991\n"
            "\n"
            "Which example does not match the description? Answer with its number.",
        },
    ]


def test_questions_are_seeded_and_well_formed() -> None:
    expl = Explanation(7, 0, "years", "user:x")
    scorer = IntruderScorer()
    qs = scorer.questions(RECORD, expl, 2, 20, 0)
    assert qs == scorer.questions(RECORD, expl, 2, 20, 0)
    assert qs != scorer.questions(RECORD, expl, 2, 20, 1)
    assert qs != scorer.questions(RECORD, dataclasses.replace(expl, explanation_id=1), 2, 20, 0)
    for q in qs:
        assert len(q.examples) == 3 and q.examples[q.intruder].role == "nonactivating"
        assert sum(e.role == "score" for e in q.examples) == 2
        assert len({e.window for e in q.examples}) == 3
    assert {q.intruder for q in qs} == {0, 1, 2}  # every position gets used
    # fewer activating examples than the group: the group shrinks to all of them
    assert {len(q.examples) for q in scorer.questions(RECORD, expl, 5, 3, 0)} == {4}


def test_parse_choice() -> None:
    assert parse_choice("3", 5) == 2
    assert parse_choice("Example 2 does not match.", 5) == 1
    assert parse_choice("6", 5) is None
    assert parse_choice("none", 5) is None


@pytest.mark.slow
def test_logprob_run_with_smollm2(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=6)
    pairs = [(record, explanation(RIGHT, 0, 0)), (record, explanation(WRONG, 0, 1))]
    out = IntruderScorer().score(pairs, _ctx(llm, intruder_questions=4, method="logprob"))
    for r in out:
        assert (r.status, r.error, r.method) == ("ok", None, "logprob")
        assert (r.metrics["n_examples"], r.metrics["n_failed"]) == (4, 0)
        assert 0 <= r.metrics["accuracy"] <= 1
        assert r.prompt_tokens > 0 and r.completion_tokens == 4
        assert len(r.judgements) == 4
        for j in r.judgements:
            assert j["label"] is True and j["error"] is None and 0 <= j["p_yes"] <= 1
            assert j["window"] >= 100  # the intruder is a non-activating window
        right = [float(j["predicted"]) for j in r.judgements]
        assert r.metrics["accuracy"] == pytest.approx(np.mean(right))
    print("intruder accuracy right/wrong:", [r.metrics["accuracy"] for r in out])


@pytest.mark.slow
def test_generate_mode_with_smollm2(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=4)
    (r,) = IntruderScorer().score(
        [(record, explanation(RIGHT))], _ctx(llm, method="generate", intruder_questions=3)
    )
    assert r.method == "generate" and r.status in ("ok", "failed")
    assert len(r.judgements) == 3 and r.completion_tokens > 0
    for j in r.judgements:  # a parsed answer is one-hot, an unparsable one a failed row
        assert (j["p_yes"] in (0.0, 1.0) and j["error"] is None) or (
            math.isnan(j["p_yes"]) and "no number 1-5" in j["error"]
        )


@pytest.mark.slow
def test_failed_requests_give_failed_rows(llm: LocalLLM) -> None:
    (r,) = IntruderScorer().score(
        [(RECORD, Explanation(7, 0, "years", "user:x"))],
        _ctx(Broken(LLMConfig(), llm.subject), intruder_questions=3, method="logprob"),
    )
    assert (r.status, r.error, r.metrics) == ("failed", "HTTP 500", {})
    assert [j["error"] for j in r.judgements] == ["HTTP 500"] * 3


@pytest.mark.slow
def test_skipped_cases(llm: LocalLLM) -> None:
    bad = Explanation(7, 1, "", "generated:default", status="llm_error")
    no_neg = dataclasses.replace(RECORD, nonactivating=[])
    good = Explanation(7, 0, "years", "user:x")
    out = IntruderScorer().score(
        [(RECORD, bad), (no_neg, good)], _ctx(llm)
    ) + IntruderScorer().score([(RECORD, good)], _ctx(llm, intruder_questions=0))
    assert [r.status for r in out] == ["skipped"] * 3
    assert out[0].error == "no usable explanation (llm_error)"
    assert "0 non-activating" in (out[1].error or "")
    assert "scoring.intruder_questions" in (out[2].error or "")


@pytest.mark.slow
def test_likelihood_run_picks_the_example_that_fits_the_statement_least(llm: LocalLLM) -> None:
    """'auto' with the in-process backend: no question is asked; the answer is the example
    whose statement score ("This text is about <explanation>.") is lowest."""
    from scorers.base import statement_likelihoods
    from scorers.detection import DetectionScorer, plain_text

    record = digit_record(llm.subject.tokenizer, n=6)
    [r] = IntruderScorer().score(
        [(record, explanation(RIGHT, 0, 0))], _ctx(llm, intruder_questions=4)
    )
    assert (r.status, r.method, r.completion_tokens) == ("ok", "likelihood", 0)
    assert r.prompt_tokens > 0 and r.metrics["n_examples"] == 4
    questions = IntruderScorer().questions(record, explanation(RIGHT, 0, 0), 4, 4, 0)
    detection = DetectionScorer()
    for q, j in zip(questions, r.judgements, strict=True):
        texts = [detection.statement(RIGHT, plain_text(ex)) for ex in q.examples]
        scores = [a.p for a in statement_likelihoods(llm, texts, None)]
        assert j["predicted"] == (int(np.argmin(scores)) == q.intruder)
        assert sum(1 for _ in q.examples) == 5
