"""Every way an HTTP reply can fail is retried, then recorded as a row error — never raised.

A real fixed-latency OpenAI-compatible server (benchmarks/latency_server.py) sits behind a
seeded fault-injecting proxy (tests/servers/fault_proxy.py: 500, 429 + Retry-After, hangs
past the timeout, truncated JSON, HTML 502 and 200 pages, a reset mid-body, empty
``choices``, missing log-probabilities, wrongly typed fields); the openai backend's answers
through it must equal its answers from the server directly."""

from __future__ import annotations

import math

import pytest

from autointerp.config import LLMConfig
from autointerp.errors import LLMTransientError
from autointerp.llm.failures import MalformedReply, translate
from autointerp.llm.openai_http import OpenAICompatibleLLM
from benchmarks.latency_server import ServerProcess
from tests.servers.fault_proxy import KINDS, FaultProxy

PROMPTS = [[{"role": "user", "content": f"Is text {i} about rivers?"}] for i in range(24)]
TEXTS = [f"The river number {i} runs to the sea." for i in range(12)]


def _llm(url: str, retries: int = 10) -> OpenAICompatibleLLM:
    cfg = LLMConfig(backend="openai", base_url=url, model="", max_retries=retries, timeout_s=1.0)
    return OpenAICompatibleLLM(cfg)


def _answers(llm: OpenAICompatibleLLM) -> tuple[list[object], ...]:
    gen = llm.generate(PROMPTS, max_new_tokens=20)
    choice = llm.choose(PROMPTS, ["Yes", "No"])
    echo = llm.prompt_logprobs(TEXTS)
    return gen, choice, echo


@pytest.fixture(scope="module")
def upstream() -> object:
    with ServerProcess(0.01) as server:
        yield server


@pytest.mark.slow
def test_every_fault_kind_is_retried_and_answers_equal_the_direct_ones(upstream) -> None:  # type: ignore[no-untyped-def]
    want = _answers(_llm(upstream.url))
    assert all(not g.error for g in want[0]) and all(not c.error for c in want[1])
    rates = dict.fromkeys(KINDS, 0.045)  # ~45 % of attempts fail, each kind about equally
    with FaultProxy(upstream.url, seed=3, doom=0.0, hang=1.5, rates=rates) as proxy:
        llm = _llm(proxy.url)
        llm.check()
        got = _answers(llm)
        stats = proxy.stats()
    assert set(KINDS) <= set(stats), f"some fault kinds never happened: {stats}"
    for mine, theirs in zip(got, want, strict=True):
        assert [getattr(x, "error", None) for x in mine] == [None] * len(mine), mine
        assert mine == theirs


@pytest.mark.slow
def test_retries_run_out_into_row_errors_not_exceptions(upstream) -> None:  # type: ignore[no-untyped-def]
    """A share of prompts fails on every attempt ("doomed"): those rows carry the error,
    every other row its normal answer."""
    want = _answers(_llm(upstream.url))
    with FaultProxy(upstream.url, seed=5, doom=0.3, rates={}) as proxy:
        got = _answers(_llm(proxy.url, retries=1))
        assert proxy.stats().get("doomed", 0) > 0
    n_failed = 0
    for mine, theirs in zip(got, want, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            error = getattr(a, "error", None)
            if error is None:
                assert a == b
                continue
            n_failed += 1
            assert "gave up after 2 attempts" in error and "HTTP 500" in error
            if hasattr(a, "probs"):
                assert all(math.isnan(p) for p in a.probs.values())
    assert n_failed > 0


def test_anything_unexpected_becomes_a_retryable_malformed_reply() -> None:
    import json

    for exc in (json.JSONDecodeError("x", "doc", 0), AttributeError("no choices"), KeyError(0)):
        error = translate(exc, "http://h/v1")
        assert isinstance(error, MalformedReply) and "malformed reply from http://h/v1" in str(
            error
        )
    assert isinstance(translate(ConnectionResetError("reset"), "u"), LLMTransientError)
