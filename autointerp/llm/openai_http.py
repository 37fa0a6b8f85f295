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

import math
from collections.abc import Awaitable, Sequence
from typing import Any

from autointerp.errors import LLMRequestError
from autointerp.llm.base import (
    BACKENDS,
    Choice,
    Completion,
    Prompt,
    TextLogprobs,
    option_probabilities,
)
from autointerp.llm.failures import MalformedReply
from autointerp.llm.openai_client import TOP_LOGPROBS, OpenAIClient, echo_params
from autointerp.llm.ratelimit import estimate_tokens
from autointerp.llm.replies import (
    echoed_choice,
    echoed_logprobs,
    failed_logprobs,
    first_choice,
    prompt_tokens,
    text_of,
    usage_of,
)

__all__ = ["OpenAICompatibleLLM"]


@BACKENDS.register("openai")
class OpenAICompatibleLLM(OpenAIClient):
    """Any server speaking the OpenAI chat-completions API (and the completions API for
    plain-text prompts and prompt log-probabilities)."""

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]:
        prompts = [self._prompt(p) for p in prompts]
        results: list[Completion | None] = [None] * len(prompts)

        def parse_choice(text: str, choice: Any) -> Completion:
            reply = getattr(choice, "text", None)
            if reply is not None and not isinstance(reply, str):
                raise MalformedReply(f"reply text is a {type(reply).__name__}, not a string")
            return Completion(reply or "", prompt_tokens(text), estimate_tokens(reply or ""))

        params = {"max_tokens": max_new_tokens, "temperature": temperature}
        self._listed("completion", prompts, max_new_tokens, params, parse_choice, results, desc)

        async def one(client: Any, prompt: Prompt) -> Completion:
            plain = isinstance(prompt, str)
            return await self._complete(
                client,
                prompt,
                "completion" if plain else "chat completion",
                lambda reply: Completion(text_of(reply, plain), *usage_of(reply)),
                max_tokens=max_new_tokens,
                temperature=temperature,
            )

        return self._each(prompts, results, one, lambda e: Completion("", error=str(e)), desc)

    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        prompts = [self._prompt(p) for p in prompts]
        results: list[Choice | None] = [None] * len(prompts)
        failed = dict.fromkeys(options, math.nan)
        self.check()
        if self.supports_logprobs:

            def parse_choice(text: str, choice: Any) -> Choice:
                return self._choice(choice, True, options, prompt_tokens(text))

            what = "log-probability request"
            params = {"max_tokens": 1, "temperature": 0, "logprobs": TOP_LOGPROBS}
            self._listed(what, prompts, 1, params, parse_choice, results, desc)

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
                lambda reply: self._choice(first_choice(reply), plain, options, usage_of(reply)[0]),
                max_tokens=1,
                temperature=0,
                **logprob_args,
            )

        return self._each(prompts, results, one, lambda e: Choice(failed, 0.0, error=str(e)), desc)

    def _choice(self, choice: Any, plain: bool, options: Sequence[str], n_prompt: int) -> Choice:
        """The options' probabilities from a one-token reply with top log-probabilities; a
        reply without them (from a server that gave them to the probe) is malformed."""
        logprobs = choice.logprobs
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
            out = echoed_logprobs(text, reply, top_k)
            if out.error is not None and strict:
                raise MalformedReply(out.error)
            return out

        def ask(client: Any, text: Prompt, strict: bool) -> Awaitable[TextLogprobs]:
            assert isinstance(text, str)
            return self._call(
                "prompt log-probabilities",
                lambda: self._echo(client, text, top_k),
                prompt_tokens(text) + 1,
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

        def parse_choice(text: str, choice: Any) -> TextLogprobs:
            one = echoed_choice(text, choice, 0, top_k)
            if one.error is not None:
                raise MalformedReply(f"a prompt of the list: {one.error}")
            return one

        results: list[TextLogprobs | None] = [None] * len(texts)
        if self.echoes:
            self._listed(
                "prompt log-probabilities",
                texts,
                0,
                echo_params(top_k),
                parse_choice,
                results,
                desc,
            )
        return self._each(
            texts,
            results,
            lambda c, t: ask(c, t, bool(self.echoes)),
            lambda e: failed_logprobs(str(e)),
            desc,
        )
