"""The simulation scorer: golden prompt, the log-prob mechanics against a direct forward pass
of the real local SmolLM2, the reply parser, and the statuses.

Measured with SmolLM2-135M as the scorer (10 + 10 examples of the digit latent), without
calibration the correlation is near zero or negative for the right and the wrong explanation
alike (-0.12 "numbers and digits", -0.21 "animals and pets", -0.18 "numbers"): at most
placeholders the 135M model copies "unknown". With contextual calibration (the default) it
is 0.26, -0.01 and 0.11: the right direction, but small and from one latent, so the
direction is not asserted; the mechanics are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from autointerp.config import LLMConfig, ScoringConfig
from autointerp.llm.base import Completion, Prompt, TextLogprobs
from autointerp.llm.local import LocalLLM
from autointerp.records import Example, Explanation
from scorers import SCORERS
from scorers.base import ScoringContext
from scorers.simulation import (
    DIGITS,
    TOP_K,
    SimulationScorer,
    build_prompt,
    expected_values,
    parse_activations,
)
from tests.scorers.digit_latent import RIGHT, WRONG, digit_record, explanation

EX = Example(3, ("The", " year", "\n", "19", "87"), (0, 0, 0, 1.0, 1.0), "score", 1)
NEG = Example(4, ("Hi", "\t!"), (0, 0), "nonactivating")


@pytest.fixture(scope="module")
def llm(smollm2: Any) -> LocalLLM:
    return LocalLLM(LLMConfig(), smollm2)


def _ctx(llm: Any, **cfg: Any) -> ScoringContext:
    return ScoringContext(llm, ScoringConfig(n_bootstrap=20, **cfg), seed=0, progress=False)


class Canned(LocalLLM):
    """Test double: a chat-only backend (no log-probabilities) whose replies are computed
    from the prompt by ``reply``, to drive the generate-mode parser with replies a 135M model
    would not write."""

    supports_logprobs = False

    def __init__(self, subject: Any, reply: Callable[[int, str], str]) -> None:
        super().__init__(LLMConfig(), subject)
        self.reply = reply

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        texts = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        return [Completion(self.reply(i, t), 10, 5) for i, t in enumerate(texts)]


def oracle(i: int, prompt: str) -> str:
    """Fill the last block's placeholders perfectly: 9 on tokens with a digit, else 0."""
    block = prompt[prompt.rindex("<start>") :]
    lines = [line[: -len("\tunknown")] for line in block.splitlines() if line.endswith("\tunknown")]
    return "\n".join(f"{t}\t{9 if any(c.isdigit() for c in t) else 0}" for t in lines)


class NoPromptLogprobs(Canned):
    """Test double: a server that offers chat log-probabilities but not prompt ones."""

    supports_logprobs = True

    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        raise NotImplementedError("no prompt log-probabilities here")


def test_registered() -> None:
    assert SCORERS.get("simulation") is SimulationScorer


def test_prompt_golden_and_placeholder_offsets() -> None:
    text, offsets = build_prompt("years\nand dates", [EX, NEG])
    assert text.startswith("We're studying neurons in a neural network.")
    assert text[text.index("Neuron 3") :] == (
        "Neuron 3\n"
        "Explanation of neuron 3 behavior: years and dates\n"
        "Activations:\n"
        "<start>\n"
        "The\tunknown\n"
        " year\tunknown\n"
        "\\n\tunknown\n"
        "19\tunknown\n"
        "87\tunknown\n"
        "<end>\n"
        "<start>\n"
        "Hi\tunknown\n"
        " !\tunknown\n"
        "<end>"
    )
    assert [len(o) for o in offsets] == [5, 2]
    assert all(text[o : o + 8] == "unknown\n" for own in offsets for o in own)
    assert " ocean\t9\n" in text  # the worked examples


@pytest.mark.slow
def test_expected_values_equal_a_direct_forward_pass(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=1)
    examples = record.score + record.nonactivating
    text, offsets = build_prompt(RIGHT, examples)
    (lp,) = llm.prompt_logprobs([text], top_k=TOP_K)
    tok, model = llm.subject.tokenizer, llm.subject.model
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    with torch.no_grad():
        logp = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0].float().log_softmax(-1)
    position = {a: j for j, (a, _) in enumerate(enc["offset_mapping"])}
    for own in offsets:
        got, error = expected_values(lp, own)
        assert error is None
        want = []
        for offset in own:
            values, ids = logp[position[offset] - 1].topk(TOP_K)
            p = {d: 0.0 for d in DIGITS}
            for v, i in zip(values.tolist(), ids.tolist(), strict=True):
                if tok.decode([i]).strip() in p:
                    p[tok.decode([i]).strip()] += math.exp(v)
            mass = sum(p.values())
            want.append(sum(int(d) * q for d, q in p.items()) / mass if mass else 0.0)
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.slow
def test_scores_right_and_wrong_explanations(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=3)
    pairs = [(record, explanation(RIGHT, 0, 0)), (record, explanation(WRONG, 0, 1))]
    right, wrong = SimulationScorer().score(pairs, _ctx(llm))
    for r in (right, wrong):
        assert (r.status, r.error, r.method) == ("ok", None, "logprob")
        assert set(r.metrics) == {
            "n_examples",
            "n_failed",
            "correlation",
            "correlation_ci_low",
            "correlation_ci_high",
        }
        assert (r.metrics["n_examples"], r.metrics["n_failed"]) == (6, 0)
        assert -1 <= r.metrics["correlation"] <= 1
        assert r.completion_tokens == 0
        assert [j["label"] for j in r.judgements] == [True] * 3 + [False] * 3
        assert all(-9 <= j["p_yes"] <= 9 and j["predicted"] is None for j in r.judgements)
    # the content-free baseline prompts are shared: the first result pays for them
    assert right.prompt_tokens > wrong.prompt_tokens > 0
    print("simulation correlation right/wrong:", [r.metrics["correlation"] for r in (right, wrong)])


@pytest.mark.slow
def test_calibration_subtracts_the_content_free_prediction(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=1)
    examples = record.score + record.nonactivating
    pairs = [(record, explanation(RIGHT))]
    (raw,) = SimulationScorer().score(pairs, _ctx(llm, simulation_calibrate=False))
    (calibrated,) = SimulationScorer().score(pairs, _ctx(llm))
    own_text, offsets = build_prompt(RIGHT, examples)
    base_text, base_offsets = build_prompt("N/A", examples)
    own, base = llm.prompt_logprobs([own_text, base_text], top_k=TOP_K)
    for i, (o, b) in enumerate(zip(offsets, base_offsets, strict=True)):
        values, baseline = expected_values(own, o)[0], expected_values(base, b)[0]
        assert raw.judgements[i]["p_yes"] == pytest.approx(values.max(), abs=1e-4)
        assert calibrated.judgements[i]["p_yes"] == pytest.approx(
            (values - baseline).max(), abs=1e-4
        )
    assert calibrated.prompt_tokens == own.prompt_tokens + base.prompt_tokens
    assert raw.prompt_tokens == own.prompt_tokens


def test_parse_activations() -> None:
    assert parse_activations("<start>\nThe\t0\n year\t3\n19\t9\n<end>\nmore\t5", 3) == [0, 3, 9]
    assert parse_activations("a: 1\nb -> 12", 2) == [1.0, 9.0]  # clipped to the scale
    assert parse_activations("[0, 0, 7]", 3) == [0.0, 0.0, 7.0]
    assert parse_activations("0 0 7", 3) == [0.0, 0.0, 7.0]
    assert parse_activations("The year 1987 was cold", 1) is None  # no token lines
    assert parse_activations("The\t0\n year\t3", 3) is None  # one missing


@pytest.mark.slow
def test_generate_mode_parses_replies_and_records_failures(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=2)
    backend = Canned(llm.subject, lambda i, p: oracle(i, p) if i % 2 == 0 else "I do not know")
    (result,) = SimulationScorer().score([(record, explanation(RIGHT))], _ctx(backend))
    assert (result.status, result.method) == ("ok", "generate")
    assert (result.metrics["n_examples"], result.metrics["n_failed"]) == (4, 2)
    assert result.metrics["correlation"] == pytest.approx(1.0)
    assert [j["error"] is None for j in result.judgements] == [True, False, True, False]
    assert "expected" in result.judgements[1]["error"]
    assert math.isnan(result.judgements[1]["p_yes"])
    assert [result.judgements[i]["p_yes"] for i in (0, 2)] == [9.0, 0.0]
    assert (result.prompt_tokens, result.completion_tokens) == (40, 20)
    # all replies unparsable: a failed row with the reason
    (failed,) = SimulationScorer().score(
        [(record, explanation(RIGHT))], _ctx(Canned(llm.subject, lambda i, p: "no idea"))
    )
    assert failed.status == "failed" and "expected" in (failed.error or "")
    assert len(failed.judgements) == 4 and failed.metrics == {}


@pytest.mark.slow
def test_backend_without_prompt_logprobs_falls_back_to_generate(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=1)
    backend = NoPromptLogprobs(llm.subject, lambda i, p: "0 0 0")
    (auto,) = SimulationScorer().score([(record, explanation(RIGHT))], _ctx(backend))
    assert auto.method == "generate" and auto.status == "failed"  # no reply had enough numbers
    (forced,) = SimulationScorer().score(
        [(record, explanation(RIGHT))], _ctx(backend, method="logprob")
    )
    assert forced.status == "skipped" and "no prompt log-probabilities" in (forced.error or "")


@pytest.mark.slow
def test_skipped_cases(llm: LocalLLM) -> None:
    record = digit_record(llm.subject.tokenizer, n=2)
    bad = Explanation(0, 1, "", "generated:default", status="unparsable")
    no_pos = dataclasses.replace(record, score=[])
    out = SimulationScorer().score([(record, bad), (no_pos, explanation(RIGHT))], _ctx(llm))
    assert [r.status for r in out] == ["skipped", "skipped"]
    assert out[0].error == "no usable explanation (unparsable)"
    assert "0 activating" in (out[1].error or "")
