"""Capped retries with exponential backoff and full jitter, for retryable errors only.

Retryable: timeouts, dropped connections, HTTP 408, 409, 429 and 5xx (``LLMTransientError``).
Everything else fails at once. ``Retry-After`` (seconds) is honoured up to ``max_delay``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from autointerp.errors import LLMTransientError, LLMUnavailableError

__all__ = ["RetryPolicy", "retry_async"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


async def retry_async(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    rng: random.Random | None = None,
) -> T:
    """Await ``call()``; on ``LLMTransientError`` wait and retry, at most ``max_retries``
    times; then raise ``LLMUnavailableError`` naming ``what`` and the last error."""
    rng = rng or random.Random()
    for attempt in range(policy.max_retries + 1):
        try:
            return await call()
        except LLMTransientError as exc:
            if attempt == policy.max_retries:
                raise LLMUnavailableError(
                    f"{what}: gave up after {attempt + 1} attempts: {exc}"
                ) from exc
            retry_after = getattr(exc, "retry_after", None)
            await asyncio.sleep(policy.delay(attempt, retry_after, rng))
    raise AssertionError("unreachable")  # pragma: no cover
