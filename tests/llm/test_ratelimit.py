"""The client-side rate limiter: its timing under a fake clock, and requests/tokens per minute
end to end against the scripted OpenAI server on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from autointerp.config import LLMConfig
from autointerp.errors import ConfigError
from autointerp.llm.openai_http import OpenAICompatibleLLM
from autointerp.llm.ratelimit import RateLimiter, RateLimits, estimate_tokens
from tests.servers.scripted_openai import ScriptedServer

PROMPT = [{"role": "user", "content": "hello"}]


class FakeClock:
    """Time that passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def _grants(limiter: RateLimiter, clock: FakeClock, amounts: list[float]) -> list[float]:
    """Clock time at which each acquire (run concurrently, in order) was granted."""

    async def main() -> list[float]:
        async def one(amount: float) -> float:
            await limiter.acquire(amount)
            return clock.now

        return list(await asyncio.gather(*(one(a) for a in amounts)))

    return asyncio.run(main())


def test_requests_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep)  # 1 a second, burst 1
    assert _grants(limiter, clock, [1] * 5) == pytest.approx([0, 1, 2, 3, 4])


def test_burst_then_steady_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120, burst_s=1.0, clock=clock, sleep=clock.sleep)  # 2/s, burst 2
    assert _grants(limiter, clock, [1] * 6) == pytest.approx([0, 0, 0.5, 1.0, 1.5, 2.0])


def test_tokens_and_an_oversized_request_goes_into_debt() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock, sleep=clock.sleep)  # 10 tokens/s, bucket of 10
    # 5 + 5 empty the bucket; the next 5 wait 0.5 s; 30 > the bucket waits for a full one
    # (1.5 s) and leaves a debt of 20, so a 1-token request waits until 3.6 s.
    times = _grants(limiter, clock, [5, 5, 5, 30, 1])
    assert times == pytest.approx([0, 0, 0.5, 1.5, 3.6])


def test_settle_refunds_an_overestimate_and_charges_an_underestimate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock, sleep=clock.sleep)
    assert _grants(limiter, clock, [10]) == [0]
    limiter.settle(10, 2)  # used 2 of the 10 taken: 8 come back
    assert _grants(limiter, clock, [8]) == [0]
    limiter.settle(8, 18)  # used 10 more than estimated: a debt of 10
    assert _grants(limiter, clock, [10]) == pytest.approx([2.0])


def test_limits_persist_across_event_loops() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep)
    assert _grants(limiter, clock, [1]) == [0]
    assert _grants(limiter, clock, [1]) == pytest.approx([1.0])  # a new loop, same bucket


@pytest.mark.parametrize("field", ["requests_per_minute", "tokens_per_minute"])
def test_a_non_positive_rate_is_a_config_error_naming_the_field(field: str) -> None:
    with pytest.raises(ConfigError, match=f"llm.{field}"):
        RateLimits.from_config(LLMConfig(**{field: 0}))  # type: ignore[arg-type]


def test_token_estimate() -> None:
    assert estimate_tokens("") == 1 and estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2 and estimate_tokens("x" * 400) == 100


def _llm(url: str, **kw: object) -> OpenAICompatibleLLM:
    cfg = LLMConfig(backend="openai", base_url=url, model="", **kw)  # type: ignore[arg-type]
    return OpenAICompatibleLLM(cfg)


def _timed_generate(llm: OpenAICompatibleLLM, n: int) -> float:
    llm.check()  # the probe request takes from the buckets too: let them refill
    time.sleep(1.5)
    start = time.perf_counter()
    out = llm.generate([PROMPT] * n, max_new_tokens=5)
    assert all(o.error is None for o in out)
    return time.perf_counter() - start


@pytest.mark.slow
def test_requests_per_minute_end_to_end() -> None:
    with ScriptedServer() as srv:
        unlimited = _timed_generate(_llm(srv.url, max_concurrency=8), 15)
        # 300 rpm = 5 a second with a burst of 5: the last of 15 requests starts after 2 s.
        limited = _llm(srv.url, requests_per_minute=300, max_concurrency=8)
        elapsed = _timed_generate(limited, 15)
        assert 1.95 <= elapsed <= 2.0 + unlimited + 0.5


@pytest.mark.slow
def test_tokens_per_minute_end_to_end_counts_the_reported_usage() -> None:
    with ScriptedServer() as srv:
        # 600 tpm = 10 tokens a second, bucket of 10. Each request is estimated at 11 tokens
        # (prompt 2 + 4 template + 5 completion) and the server reports 14 (11 + 3): after
        # the first, every request waits 1.4 s for the 14 tokens of the one before.
        llm = _llm(srv.url, tokens_per_minute=600)
        elapsed = _timed_generate(llm, 3)
        assert 2.6 <= elapsed <= 4.0
