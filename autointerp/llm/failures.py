"""The one place where a failed request or an unusable reply becomes an autointerp error.

Every HTTP client of the package (the ``openai`` backend, the OpenAI-compatible embeddings
client of ``autointerp.compare``) sends each request through :func:`attempt` (async) or
:func:`attempt_sync`: the request *and the parsing of its reply* run inside one attempt, so
whatever goes wrong in either is translated here and retried by the capped policy of
:mod:`autointerp.llm.retry`::

    timeout, refused or reset connection, body cut short     -> LLMTransientError (retried)
    HTTP 408 / 409 / 429 (Retry-After honoured) / 5xx        -> LLMTransientError (retried)
    HTTP 401 / 403                                           -> LLMUnavailableError (fatal)
    any other 4xx                                            -> LLMRequestError (fatal)
    a 2xx reply that is not what the API promises: JSON that -> LLMTransientError (retried,
    does not parse or is cut short, an HTML page, missing or    "malformed reply")
    wrongly typed fields, empty ``choices``, log-probabilities
    asked for and missing (parsers raise ``MalformedReply``)

When the retries run out, ``retry_async`` raises ``LLMUnavailableError`` naming what was
asked, the endpoint and the last failure. The callers catch ``LLMError`` per prompt and
record it as that row's error (an explanation with status ``llm_error``, a judgement with
an ``error``), so no reply can stop a run.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from autointerp.errors import (
    LLMError,
    LLMRequestError,
    LLMTransientError,
    LLMUnavailableError,
)
from autointerp.llm.retry import RetryPolicy, retry_async

__all__ = ["MalformedReply", "attempt", "attempt_sync", "translate"]

T = TypeVar("T")
R = TypeVar("R")
RETRYABLE_STATUS = {408, 409, 429}
_SHAPE_ERRORS = (
    json.JSONDecodeError,
    UnicodeDecodeError,
    AttributeError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
)


class MalformedReply(LLMTransientError):
    """A 2xx reply that lacks what the API promises (raised by reply parsers)."""


def _retry_after(exc: object) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        return None


def translate(exc: BaseException, url: str) -> LLMError:
    """Any exception raised while sending a request to ``url`` or reading its reply, as
    one of our errors (``LLMTransientError`` for what is worth retrying)."""
    if isinstance(exc, LLMError):
        return exc
    import httpx
    import openai

    name = type(exc).__name__
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return LLMTransientError(f"{name} talking to {url}: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = str(exc.message)[:300]
        if status in RETRYABLE_STATUS or status >= 500:
            return LLMTransientError(f"HTTP {status} from {url}: {message}", _retry_after(exc))
        if status in (401, 403):
            return LLMUnavailableError(f"HTTP {status} from {url}: check the API key ({message})")
        return LLMRequestError(f"HTTP {status} from {url}: {message}")
    if isinstance(exc, (httpx.HTTPError, OSError, EOFError)):
        return LLMTransientError(f"{name} talking to {url}: {exc}")
    if isinstance(exc, (openai.APIResponseValidationError, *_SHAPE_ERRORS)):
        return MalformedReply(f"malformed reply from {url}: {name}: {str(exc)[:200]}")
    return MalformedReply(f"unusable reply from {url}: {name}: {str(exc)[:200]}")


async def attempt(
    send: Callable[[], Awaitable[R]],
    parse: Callable[[R], T],
    *,
    url: str,
    what: str,
    policy: RetryPolicy,
    before: Callable[[], Awaitable[None]] | None = None,
    after: Callable[[R], None] | None = None,
) -> T:
    """``parse(await send())`` with retries; ``before`` runs ahead of every attempt (rate
    limits), ``after`` on each reply that parsed (settling token counts)."""

    async def once() -> T:
        if before is not None:
            await before()
        try:
            reply = await send()
            out = parse(reply)
        except Exception as exc:
            raise translate(exc, url) from exc
        if after is not None:
            after(reply)
        return out

    return await retry_async(once, policy, what=f"{what} at {url}", rng=random.Random())


def attempt_sync(
    send: Callable[[], R],
    parse: Callable[[R], T],
    *,
    url: str,
    what: str,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> T:
    """The blocking twin of :func:`attempt` (same translation, same policy)."""
    rng = rng or random.Random()
    for n in range(policy.max_retries + 1):
        try:
            return parse(send())
        except Exception as exc:
            error = translate(exc, url)
            if not isinstance(error, LLMTransientError):
                raise error from exc
            if n == policy.max_retries:
                raise LLMUnavailableError(
                    f"{what} at {url}: gave up after {n + 1} attempts: {error}"
                ) from exc
            time.sleep(policy.delay(n, error.retry_after, rng))
    raise AssertionError("unreachable")  # pragma: no cover
