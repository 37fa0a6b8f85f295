"""OpenAI-compatible HTTP backend (vLLM's server, OpenAI, OpenRouter, llama.cpp's server).

Requests run concurrently (``max_concurrency`` in flight) with a per-request timeout, the
capped retry policy of ``autointerp.llm.retry`` and the client-side rate limits of
``autointerp.llm.ratelimit`` (requests and tokens per minute, taken before every attempt).
The API key is read from the environment variable named in the config, never stored.

Chat ``Messages`` go to the chat-completions endpoint, plain ``str`` prompts to the
(legacy) completions endpoint. ``choose`` asks for one token with the top log-probabilities
and sums the probability of each option's spellings; servers that return no
log-probabilities make ``supports_logprobs`` false, and scorers then parse generated
answers. ``prompt_logprobs`` asks the completions endpoint to echo the prompt with its
log-probabilities (vLLM's server does; OpenAI's current models do not, and those texts come
back with ``error`` set).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from autointerp.config import LLMConfig
from autointerp.errors import LLMError, LLMRequestError, LLMUnavailableError
from autointerp.llm.base import (
    BACKENDS,
    LLM,
    Choice,
    Completion,
    Prompt,
    TextLogprobs,
    option_probabilities,
)
from autointerp.llm.failures import MalformedReply, attempt
from autointerp.llm.ratelimit import RateLimits, estimate_tokens
from autointerp.llm.retry import RetryPolicy

__all__ = ["OpenAICompatibleLLM", "token_chunks"]

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


def _prompt_tokens(prompt: Prompt) -> int:
    """Estimated prompt tokens (a few extra per chat message for the template)."""
    if isinstance(prompt, str):
        return estimate_tokens(prompt)
    return sum(estimate_tokens(m.get("content", "")) + 4 for m in prompt)


def _usage(reply: Any) -> tuple[int, int]:
    usage = getattr(reply, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def _identity(reply: Any) -> Any:
    return reply


def _first_choice(reply: Any) -> Any:
    """The reply's first choice; a reply without one is malformed (retried)."""
    choices = reply.choices
    if not isinstance(choices, list) or not choices:
        raise MalformedReply(f"a reply without choices ({type(reply).__name__})")
    return choices[0]


def _text_of(reply: Any, plain: bool) -> str:
    first = _first_choice(reply)
    text = first.text if plain else first.message.content
    if text is not None and not isinstance(text, str):
        raise MalformedReply(f"reply text is a {type(text).__name__}, not a string")
    return text or ""


@BACKENDS.register("openai")
class OpenAICompatibleLLM(LLM):
    """Any server speaking the OpenAI chat-completions API (and the completions API for
    plain-text prompts and prompt log-probabilities)."""

    def __init__(self, cfg: LLMConfig) -> None:
        if not cfg.base_url:
            raise LLMRequestError("llm.base_url is required for the 'openai' backend")
        self.cfg = cfg
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
            api_key=os.environ.get(self.cfg.api_key_env) or "EMPTY",
            timeout=self.cfg.timeout_s,
            max_retries=0,  # our own policy decides
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
            n_prompt, n_completion = _usage(reply)
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
                        parse=_first_choice,
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
        tokens = _prompt_tokens(prompt) + int(params.get("max_tokens") or 0)
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
            model=self.model,
            prompt=prompt,
            max_tokens=1,
            temperature=0,
            echo=True,
            logprobs=max(top_k, 1),
        )

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        async def one(client: Any, prompt: Prompt) -> Completion:
            plain = isinstance(prompt, str)
            return await self._complete(
                client,
                prompt,
                "completion" if plain else "chat completion",
                lambda reply: Completion(_text_of(reply, plain), *_usage(reply)),
                max_tokens=max_new_tokens,
                temperature=temperature,
            )

        out = self._map(prompts, one, desc)
        return [r if isinstance(r, Completion) else Completion("", error=str(r)) for r in out]

    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        failed = dict.fromkeys(options, math.nan)

        async def one(client: Any, prompt: Prompt) -> Choice:
            plain = isinstance(prompt, str)
            logprob_args: dict[str, Any] = (
                {"logprobs": TOP_LOGPROBS}
                if plain
                else {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
            )
            return await self._complete(
                client,
                prompt,
                "log-probability request",
                lambda reply: self._choice(reply, plain, options),
                max_tokens=1,
                temperature=0,
                **logprob_args,
            )

        out = self._map(prompts, one, desc)
        return [r if isinstance(r, Choice) else Choice(failed, 0.0, error=str(r)) for r in out]

    def _choice(self, reply: Any, plain: bool, options: Sequence[str]) -> Choice:
        """The options' probabilities from a one-token reply with top log-probabilities; a
        reply without them (from a server that gave them to the probe) is malformed."""
        n_prompt = _usage(reply)[0]
        logprobs = _first_choice(reply).logprobs
        pairs: list[tuple[str, float]] | None = None
        if plain and logprobs is not None and logprobs.top_logprobs:
            pairs = [(str(t), math.exp(lp)) for t, lp in (logprobs.top_logprobs[0] or {}).items()]
        elif not plain and logprobs is not None and logprobs.content:
            pairs = [(t.token, math.exp(t.logprob)) for t in logprobs.content[0].top_logprobs]
        if not pairs:
            if self.supports_logprobs:
                raise MalformedReply("a reply without the log-probabilities asked for")
            return Choice(dict.fromkeys(options, math.nan), 0.0, n_prompt, "no logprobs in reply")
        probs, mass = option_probabilities(pairs, options)
        error = None if mass > 0 else f"none of {'/'.join(options)} among the top log-probs"
        return Choice(probs, mass, n_prompt, error)

    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        """Echo each text through the completions endpoint with its log-probabilities."""

        def parse(text: str, reply: Any, strict: bool) -> TextLogprobs:
            out = _echoed_logprobs(text, reply, top_k)
            if out.error is not None and strict:
                raise MalformedReply(out.error)
            return out

        def ask(client: Any, text: str, strict: bool) -> Awaitable[TextLogprobs]:
            return self._call(
                "prompt log-probabilities",
                lambda: self._echo(client, text, top_k),
                _prompt_tokens(text) + 1,
                lambda reply: parse(text, reply, strict),
            )

        if self.echoes is None and texts:  # one probe, retried like any request
            probe = self._map(["Say yes."], lambda c, t: ask(c, t, True), None)[0]
            if isinstance(probe, TextLogprobs):
                self.echoes = True
            elif isinstance(probe, LLMRequestError) or any(
                w in str(probe) for w in ("prompt log-probabilities", "token offsets")
            ):
                self.echoes = False  # it refuses, or answers without echoing: rows say so

        results: list[TextLogprobs | None] = [None] * len(texts)
        if self.echoes and self.lists is not False and self.cfg.batch_tokens > 0:
            self._listed_logprobs(texts, top_k, results, desc)
        rest = [i for i, r in enumerate(results) if r is None]
        out = self._map([texts[i] for i in rest], lambda c, t: ask(c, t, bool(self.echoes)), desc)
        for i, r in zip(rest, out, strict=True):
            results[i] = r if isinstance(r, TextLogprobs) else _failed_logprobs(str(r))
        return [r for r in results if r is not None]

    def _listed_logprobs(
        self,
        texts: Sequence[str],
        top_k: int,
        results: list[TextLogprobs | None],
        desc: str | None,
    ) -> None:
        """Prompt log-probabilities for lists of texts, one request per ``batch_tokens``;
        fills ``results`` where a list's reply parsed. A failed list is left to single
        requests, so one bad text never fails its neighbours; when lists have not worked yet
        on this server (refused, or answered without one echoed choice per prompt), they are
        turned off for this backend."""
        chunks = token_chunks([_prompt_tokens(t) for t in texts], self.cfg.batch_tokens)
        chunks = [c for c in chunks if len(c) > 1]
        if not chunks:
            return

        def ask(client: Any, chunk: list[int]) -> Awaitable[list[TextLogprobs]]:
            batch = [texts[i] for i in chunk]
            return self._call(
                "prompt log-probabilities (a list)",
                lambda: self._echo(client, batch, top_k),
                sum(_prompt_tokens(t) + 1 for t in batch),
                lambda reply: _listed_reply(batch, reply, top_k),
            )

        for chunk, got in zip(chunks, self._map(chunks, ask, desc), strict=True):
            if isinstance(got, list):
                self.lists = True
                for i, one in zip(chunk, got, strict=True):
                    results[i] = one
            elif self.lists is None:  # lists never worked here: stop trying them
                log.warning("%s: no lists of prompts (%s); one request each", self.base_url, got)
                self.lists = False


def token_chunks(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive indices grouped so that each group's sizes sum to at most ``budget`` (a
    single larger item forms its own group)."""
    chunks: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        if chunks and total + size <= budget:
            chunks[-1].append(i)
            total += size
        else:
            chunks.append([i])
            total = size
    return chunks


def _listed_reply(texts: Sequence[str], reply: Any, top_k: int) -> list[TextLogprobs]:
    """One ``TextLogprobs`` per text from a reply to a list of prompts (choices matched by
    their ``index``); a reply with missing, extra or unparsable choices is malformed."""
    choices = reply.choices
    if not isinstance(choices, list) or len(choices) != len(texts):
        n = len(choices) if isinstance(choices, list) else 0
        raise MalformedReply(f"{n} choices for a list of {len(texts)} prompts")
    by_index = {int(getattr(c, "index", i)): c for i, c in enumerate(choices)}
    if sorted(by_index) != list(range(len(texts))):
        raise MalformedReply("the choices' indices do not match the prompts")
    out = []
    for i, text in enumerate(texts):
        one = _echoed_choice(text, by_index[i], 0, top_k)
        if one.error is not None:
            raise MalformedReply(f"prompt {i} of the list: {one.error}")
        out.append(one)
    return out


def _failed_logprobs(error: str, prompt_tokens: int = 0) -> TextLogprobs:
    return TextLogprobs([], [], [], [], prompt_tokens, error)


def _echoed_logprobs(text: str, reply: Any, top_k: int) -> TextLogprobs:
    """``TextLogprobs`` from a completions reply with ``echo`` and ``logprobs``: the prompt's
    tokens come first, then the one generated token (dropped)."""
    return _echoed_choice(text, _first_choice(reply), _usage(reply)[0], top_k)


def _echoed_choice(text: str, choice: Any, n_prompt: int, top_k: int) -> TextLogprobs:
    """``TextLogprobs`` from one echoed choice; ``n_prompt`` is the prompt's token count
    (0 when unknown, as in a reply to a list: then the tokens that start inside the text)."""
    logprobs = choice.logprobs
    if logprobs is None or not logprobs.tokens or logprobs.token_logprobs is None:
        return _failed_logprobs("the server returned no prompt log-probabilities", n_prompt)
    tokens = list(logprobs.tokens)
    raw_offsets = list(logprobs.text_offset or [])
    if not n_prompt:  # no usage: the prompt's tokens are those that start inside the text
        n_prompt = sum(1 for o in raw_offsets if o < len(text)) if raw_offsets else len(tokens)
    tokens = tokens[:n_prompt]
    values = list(logprobs.token_logprobs)[:n_prompt]
    tops = list(logprobs.top_logprobs or [None] * n_prompt)[:n_prompt]
    if len(tokens) > 1 and "".join(tokens) != text and "".join(tokens[1:]) == text:
        tokens, values, tops = tokens[1:], values[1:], tops[1:]  # a BOS the server added
        raw_offsets = raw_offsets[1:]
    if "".join(tokens) == text:
        offsets = [0]
        for tok in tokens[:-1]:
            offsets.append(offsets[-1] + len(tok))
    elif len(raw_offsets) >= len(tokens):
        offsets = [o - raw_offsets[0] for o in raw_offsets[: len(tokens)]]
    else:
        return _failed_logprobs("the server returned no token offsets", n_prompt)
    lps = [math.nan if v is None else float(v) for v in values]
    top: list[dict[str, float]] = []
    for alternatives in tops:
        best = sorted((alternatives or {}).items(), key=lambda kv: -kv[1])[:top_k]
        top.append({t: float(v) for t, v in best})
    return TextLogprobs(tokens, offsets, lps, top, n_prompt)
