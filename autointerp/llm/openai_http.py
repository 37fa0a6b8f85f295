"""OpenAI-compatible HTTP backend (vLLM's server, OpenAI, OpenRouter, llama.cpp's server).

Requests run concurrently (``max_concurrency`` in flight) with a per-request timeout and the
capped retry policy of ``autointerp.llm.retry``. The API key is read from the environment
variable named in the config, never stored. ``judge`` asks for one token with
``top_logprobs`` and sums the probability of yes/no spellings; servers that return no
log-probabilities make ``supports_logprobs`` false, and scorers then parse generated answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from autointerp.config import LLMConfig
from autointerp.errors import LLMError, LLMRequestError, LLMTransientError, LLMUnavailableError
from autointerp.llm.base import (
    BACKENDS,
    LLM,
    Choice,
    Completion,
    Messages,
    option_probabilities,
)
from autointerp.llm.retry import RetryPolicy, retry_async

__all__ = ["OpenAICompatibleLLM"]

T = TypeVar("T")
RETRYABLE_STATUS = {408, 409, 429}
TOP_LOGPROBS = 20


def _translate(exc: Exception, base_url: str) -> Exception:
    """openai exceptions -> our tree (transient vs fatal)."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return LLMTransientError(f"{type(exc).__name__} talking to {base_url}: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in RETRYABLE_STATUS or status >= 500:
            retry_after = None
            header = exc.response.headers.get("retry-after") if exc.response is not None else None
            if header:
                try:
                    retry_after = float(header)
                except ValueError:
                    retry_after = None
            return LLMTransientError(f"HTTP {status} from {base_url}: {exc.message}", retry_after)
        if status in (401, 403):
            return LLMUnavailableError(
                f"HTTP {status} from {base_url}: check the API key ({exc.message})"
            )
        return LLMRequestError(f"HTTP {status} from {base_url}: {exc.message}")
    return exc


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()  # type: ignore[arg-type]


@BACKENDS.register("openai")
class OpenAICompatibleLLM(LLM):
    """Any server speaking the OpenAI chat-completions API."""

    def __init__(self, cfg: LLMConfig) -> None:
        if not cfg.base_url:
            raise LLMRequestError("llm.base_url is required for the 'openai' backend")
        self.cfg = cfg
        self.base_url = cfg.base_url.rstrip("/")
        self.model = cfg.model
        self.policy = RetryPolicy(max_retries=cfg.max_retries)
        self.supports_logprobs = True
        self._checked = False
        self.name = f"openai:{self.model or '?'}@{self.base_url}"

    def _client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(self.cfg.api_key_env) or "EMPTY",
            timeout=self.cfg.timeout_s,
            max_retries=0,  # our own policy decides
        )

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await fn()
            except Exception as exc:
                raise _translate(exc, self.base_url) from exc

        return await retry_async(once, self.policy, what=what, rng=random.Random())

    # ------------------------------------------------------------------- preflight
    def check(self) -> None:
        """Resolve the model name and probe log-probability support (one tiny request)."""
        if self._checked:
            return

        async def probe() -> None:
            client = self._client()
            try:
                if not self.model:
                    models = await self._call("listing models", client.models.list)
                    if not models.data:
                        raise LLMUnavailableError(f"{self.base_url} serves no models")
                    self.model = models.data[0].id
                reply = await self._call(
                    "probing the endpoint",
                    lambda: client.chat.completions.create(
                        model=self.model,
                        messages=[{"role": "user", "content": "Say yes."}],
                        max_tokens=1,
                        temperature=0,
                        logprobs=True,
                        top_logprobs=TOP_LOGPROBS,
                    ),
                )
                choice = reply.choices[0]
                self.supports_logprobs = bool(choice.logprobs and choice.logprobs.content)
            finally:
                await client.close()

        try:
            _run(probe)
        except LLMRequestError as exc:
            raise LLMUnavailableError(f"{self.base_url} rejected a probe request: {exc}") from exc
        self.name = f"openai:{self.model}@{self.base_url}"
        self._checked = True

    # ---------------------------------------------------------------------- batches
    def _map(
        self,
        items: Sequence[Messages],
        one: Callable[[Any, Messages], Awaitable[T]],
        desc: str | None,
    ) -> list[T | Exception]:
        self.check()

        async def main() -> list[T | Exception]:
            client = self._client()
            gate = asyncio.Semaphore(self.cfg.max_concurrency)
            bar = tqdm(total=len(items), desc=desc, disable=desc is None, leave=False)

            async def guarded(messages: Messages) -> T | Exception:
                async with gate:
                    try:
                        return await one(client, messages)
                    except LLMError as exc:
                        return exc
                    finally:
                        bar.update(1)

            try:
                return list(await asyncio.gather(*(guarded(m) for m in items)))
            finally:
                bar.close()
                await client.close()

        return _run(main)

    def generate(
        self,
        prompts: Sequence[Messages],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        async def one(client: Any, messages: Messages) -> Completion:
            reply = await self._call(
                "chat completion",
                lambda: client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    max_tokens=max_new_tokens,
                    temperature=temperature,
                ),
            )
            usage = reply.usage
            text = reply.choices[0].message.content or "" if reply.choices else ""
            return Completion(
                text,
                usage.prompt_tokens if usage else 0,
                usage.completion_tokens if usage else 0,
            )

        out = self._map(prompts, one, desc)
        return [r if isinstance(r, Completion) else Completion("", error=str(r)) for r in out]

    def choose(
        self, prompts: Sequence[Messages], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        failed = dict.fromkeys(options, math.nan)

        async def one(client: Any, messages: Messages) -> Choice:
            reply = await self._call(
                "log-probability request",
                lambda: client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    max_tokens=1,
                    temperature=0,
                    logprobs=True,
                    top_logprobs=TOP_LOGPROBS,
                ),
            )
            usage = reply.usage
            n_prompt = usage.prompt_tokens if usage else 0
            content = (
                reply.choices[0].logprobs.content
                if reply.choices and reply.choices[0].logprobs
                else None
            )
            if not content:
                return Choice(failed, 0.0, n_prompt, "no logprobs in reply")
            pairs = [(t.token, math.exp(t.logprob)) for t in content[0].top_logprobs]
            probs, mass = option_probabilities(pairs, options)
            error = None if mass > 0 else f"none of {'/'.join(options)} among the top log-probs"
            return Choice(probs, mass, n_prompt, error)

        out = self._map(prompts, one, desc)
        return [r if isinstance(r, Choice) else Choice(failed, 0.0, error=str(r)) for r in out]
