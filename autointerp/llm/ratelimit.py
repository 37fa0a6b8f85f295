"""Client-side rate limits: requests per minute and tokens per minute, as token buckets.

A ``RateLimiter`` refills continuously at ``per_minute / 60`` units a second up to a burst
of ``burst_s`` seconds' worth (at least one unit), so that requests are spread evenly
instead of all starting at the top of a minute and then stalling. ``acquire(n)`` waits, in
first-come order, until the bucket holds ``n`` units and takes them. A request larger than
the whole bucket (a long prompt under a small token limit) waits for a full bucket and then
leaves the bucket in debt, so the long-run rate still holds. ``settle(estimated, actual)``
corrects an estimate once the server has reported the real usage.

``RateLimits`` pairs the two limits of ``LLMConfig`` for the HTTP backend: before every
attempt it takes one request and the estimated tokens (prompt characters / 4 plus the
completion budget), and afterwards settles the estimate with the reply's ``usage``.

The clock and the sleep function are injectable, so the timing is tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from autointerp.config import LLMConfig
from autointerp.errors import ConfigError

__all__ = ["RateLimiter", "RateLimits", "estimate_tokens"]

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """A rough token count for an unseen prompt (about four characters a token)."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


class RateLimiter:
    """A token bucket of ``per_minute`` units a minute (see the module docstring)."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        what: str = "rate",
    ) -> None:
        if not per_minute > 0:
            raise ConfigError(f"{what}: expected a positive number per minute, got {per_minute}")
        self.rate = per_minute / 60.0
        """Units per second."""
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def _get_lock(self) -> asyncio.Lock:
        # The backend runs each batch in a fresh event loop; a lock belongs to one loop.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until ``amount`` units are available (first come, first served); take them."""
        async with self._get_lock():
            need = min(amount, self.capacity)
            while True:
                self._refill()
                if self.level >= need - 1e-9:
                    self.level -= amount
                    return
                await self._sleep((need - self.level) / self.rate)

    def settle(self, estimated: float, actual: float) -> None:
        """Replace an acquired estimate by the actual amount (refund or extra debt)."""
        self._refill()
        self.level = min(self.capacity, self.level + estimated - actual)


class RateLimits:
    """The request and token limits of one backend (either may be absent)."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.requests = (
            None
            if requests_per_minute is None
            else RateLimiter(
                requests_per_minute, clock=clock, sleep=sleep, what="llm.requests_per_minute"
            )
        )
        self.tokens = (
            None
            if tokens_per_minute is None
            else RateLimiter(
                tokens_per_minute, clock=clock, sleep=sleep, what="llm.tokens_per_minute"
            )
        )

    @classmethod
    def from_config(cls, cfg: LLMConfig) -> RateLimits:
        return cls(cfg.requests_per_minute, cfg.tokens_per_minute)

    async def acquire(self, estimated_tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(1)
        if self.tokens is not None:
            await self.tokens.acquire(estimated_tokens)

    def settle(self, estimated_tokens: int, actual_tokens: int | None) -> None:
        """Correct the token estimate with the reply's usage (None: keep the estimate)."""
        if self.tokens is not None and actual_tokens is not None:
            self.tokens.settle(estimated_tokens, actual_tokens)
