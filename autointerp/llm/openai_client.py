"""The HTTP plumbing of the OpenAI-compatible backend (:mod:`autointerp.llm.openai_http`):
one ``openai.AsyncOpenAI`` client per batch, each request run with the capped retry policy
(:mod:`autointerp.llm.failures`) and the client-side rate limits, ``max_concurrency``
requests in flight, the preflight probe (model name, log-probability support), chat or
plain-text requests, and plain-text prompts sent as lists (one completions request for
many prompts) with single requests for what the lists left."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from autointerp.config import LLMConfig
from autointerp.errors import LLMError, LLMRequestError, LLMUnavailableError
from autointerp.llm.base import LLM, Prompt
from autointerp.llm.failures import attempt
from autointerp.llm.ratelimit import RateLimits
from autointerp.llm.replies import (
    as_text,
    first_choice,
    listed_choices,
    prompt_tokens,
    token_chunks,
    usage_of,
)
from autointerp.llm.retry import RetryPolicy

__all__ = ["TOP_LOGPROBS", "OpenAIClient", "echo_params"]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
TOP_LOGPROBS = 20
PROBES = 3
"""Probe replies without log-probabilities before the backend scores without them."""


def _run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()  # type: ignore[arg-type]


def echo_params(top_k: int) -> dict[str, Any]:
    """A completions request that echoes its prompt with the log-probabilities of every token
    (``top_k`` alternatives each) and generates one token."""
    return {"max_tokens": 1, "temperature": 0, "echo": True, "logprobs": max(top_k, 1)}


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default SSL context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once:
    loading the certificates takes tens of milliseconds, and every batch of requests opens
    a new client."""
    import httpx

    return httpx.create_ssl_context()


def _identity(reply: Any) -> Any:
    return reply


class OpenAIClient(LLM):
    """An LLM backend that talks to an OpenAI-compatible server: the requests, not yet the
    LLM methods (:class:`~autointerp.llm.openai_http.OpenAICompatibleLLM` adds them)."""

    def __init__(self, cfg: LLMConfig, api_key: str | None = None) -> None:
        """``api_key``: a key for this instance only (kept in memory, never written), e.g.
        the one a Neuronpedia request sends; None = read ``cfg.api_key_env``."""
        if not cfg.base_url:
            raise LLMRequestError("llm.base_url is required for the 'openai' backend")
        self.cfg = cfg
        self._api_key = api_key
        self.base_url = cfg.base_url.rstrip("/")
        self.model = cfg.model
        self.policy = RetryPolicy(max_retries=cfg.max_retries)
        self.limits = RateLimits.from_config(cfg)
        self.supports_logprobs = True
        self.echoes: bool | None = None
        """Whether the server echoes prompt log-probabilities (probed on first use): when
        it does, a reply without them is malformed (retried), else an answer."""
        self.lists: bool | None = None
        """Whether the completions endpoint takes a list of prompts (learnt on first use)."""
        self._checked = False
        self.name = f"openai:{self.model or '?'}@{self.base_url}"

    def _client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key or os.environ.get(self.cfg.api_key_env) or "EMPTY",
            timeout=self.cfg.timeout_s,
            max_retries=0,  # our own policy decides
            http_client=openai.DefaultAsyncHttpxClient(verify=_ssl_context()),
        )

    async def _call(
        self,
        what: str,
        fn: Callable[[], Awaitable[Any]],
        tokens: int = 1,
        parse: Callable[[Any], T] | None = None,
    ) -> T:
        """One request with retries (see :mod:`autointerp.llm.failures`: the request and
        ``parse`` of its reply run in one attempt, so a malformed reply is retried like a
        dropped connection); every attempt first waits for the rate limits (``tokens``: the
        estimated prompt + completion tokens, settled with the reply's usage)."""

        def settle(reply: Any) -> None:
            n_prompt, n_completion = usage_of(reply)
            self.limits.settle(tokens, n_prompt + n_completion if n_prompt else None)

        def counted() -> Awaitable[Any]:
            self.requests += 1
            return fn()

        return await attempt(
            counted,
            parse or _identity,
            url=self.base_url,
            what=what,
            policy=self.policy,
            before=lambda: self.limits.acquire(tokens),
            after=settle,
        )

    # ------------------------------------------------------------------- preflight
    def check(self) -> None:
        """Resolve the model name and probe log-probability support (one tiny request)."""
        if self._checked:
            return

        async def probe() -> None:
            client = self._client()
            try:
                if not self.model:
                    ids = await self._call(
                        "listing models",
                        client.models.list,
                        parse=lambda models: [str(m.id) for m in models.data],
                    )
                    if not ids:
                        raise LLMUnavailableError(f"{self.base_url} serves no models")
                    self.model = ids[0]
                # A reply without log-probabilities may be one broken reply: ask up to
                # PROBES times before scoring without them.
                for _ in range(PROBES):
                    choice = await self._call(
                        "probing the endpoint",
                        lambda: client.chat.completions.create(
                            model=self.model,
                            messages=[{"role": "user", "content": "Say yes."}],
                            max_tokens=1,
                            temperature=0,
                            logprobs=True,
                            top_logprobs=TOP_LOGPROBS,
                        ),
                        parse=first_choice,
                    )
                    logprobs = getattr(choice, "logprobs", None)
                    self.supports_logprobs = bool(logprobs and getattr(logprobs, "content", None))
                    if self.supports_logprobs:
                        break
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
        items: Sequence[P],
        one: Callable[[Any, P], Awaitable[T]],
        desc: str | None,
    ) -> list[T | Exception]:
        self.check()

        async def main() -> list[T | Exception]:
            client = self._client()
            gate = asyncio.Semaphore(self.cfg.max_concurrency)
            bar = tqdm(total=len(items), desc=desc, disable=desc is None, leave=False)

            async def guarded(item: P) -> T | Exception:
                async with gate:
                    try:
                        return await one(client, item)
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

    def _prompt(self, prompt: Prompt) -> Prompt:
        """``prompt`` as sent: chat messages become plain text with ``llm.chat_as_text``."""
        if self.cfg.chat_as_text and not isinstance(prompt, str):
            return as_text(prompt)
        return prompt

    def _complete(
        self,
        client: Any,
        prompt: Prompt,
        what: str,
        parse: Callable[[Any], T],
        **params: Any,
    ) -> Awaitable[T]:
        """Chat messages -> chat completions; a plain text -> the completions endpoint;
        ``parse`` turns the reply into the result inside the retried attempt."""
        tokens = prompt_tokens(prompt) + int(params.get("max_tokens") or 0)
        if isinstance(prompt, str):
            return self._call(
                what,
                lambda: client.completions.create(model=self.model, prompt=prompt, **params),
                tokens,
                parse,
            )
        return self._call(
            what,
            lambda: client.chat.completions.create(model=self.model, messages=prompt, **params),
            tokens,
            parse,
        )

    def _echo(self, client: Any, prompt: str | list[str], top_k: int) -> Awaitable[Any]:
        """A completions request that echoes ``prompt`` (one text or a list) with its
        log-probabilities and generates one token."""
        return client.completions.create(  # type: ignore[no-any-return]
            model=self.model, prompt=prompt, **echo_params(top_k)
        )

    def _listed(
        self,
        what: str,
        texts: Sequence[Prompt],
        extra_tokens: int,
        params: dict[str, Any],
        parse: Callable[[str, Any], T],
        results: list[T | None],
        desc: str | None,
    ) -> None:
        """Plain-text prompts to the completions endpoint as lists, one request per
        ``batch_tokens`` (estimated prompt + ``extra_tokens`` per text), each a completions
        request with ``params``; ``parse(text,
        choice)`` reads each prompt's choice. Fills ``results`` where a list's reply parsed;
        a failed list is left to single requests, so one bad prompt never fails its
        neighbours; when lists have not worked yet on this server (refused, or answered
        without one choice per prompt), they are turned off for this backend."""
        if self.lists is False or self.cfg.batch_tokens <= 0:
            return
        plain = [i for i, t in enumerate(texts) if isinstance(t, str)]
        sizes = [prompt_tokens(texts[i]) + extra_tokens for i in plain]
        chunks = [[plain[j] for j in c] for c in token_chunks(sizes, self.cfg.batch_tokens)]
        chunks = [c for c in chunks if len(c) > 1]
        if not chunks:
            return

        def read(batch: list[str], reply: Any) -> list[T]:
            return [
                parse(t, c) for t, c in zip(batch, listed_choices(len(batch), reply), strict=True)
            ]

        def ask(client: Any, chunk: list[int]) -> Awaitable[list[T]]:
            batch = [str(texts[i]) for i in chunk]
            return self._call(
                f"{what} (a list)",
                lambda: client.completions.create(model=self.model, prompt=batch, **params),
                sum(prompt_tokens(t) + extra_tokens for t in batch),
                lambda reply: read(batch, reply),
            )

        for chunk, got in zip(chunks, self._map(chunks, ask, desc), strict=True):
            if isinstance(got, list):
                self.lists = True
                for i, one in zip(chunk, got, strict=True):
                    results[i] = one
            elif self.lists is None:  # lists never worked here: stop trying them
                log.warning("%s: no lists of prompts (%s); one request each", self.base_url, got)
                self.lists = False

    def _each(
        self,
        prompts: Sequence[Prompt],
        results: list[T | None],
        one: Callable[[Any, Prompt], Awaitable[T]],
        failed: Callable[[Exception], T],
        desc: str | None,
    ) -> list[T]:
        """One request per prompt that ``results`` still lacks (every one, or what the
        lists left)."""
        rest = [i for i, r in enumerate(results) if r is None]
        out = self._map([prompts[i] for i in rest], one, desc)
        for i, r in zip(rest, out, strict=True):
            results[i] = failed(r) if isinstance(r, Exception) else r
        return [r for r in results if r is not None]
