"""Parsing the replies of OpenAI-compatible servers (shared by every request kind of the
``openai`` backend): usage, choices, texts, one-token options, echoed prompt
log-probabilities, and lists of prompts answered in one reply (choices matched by
``index``). A reply that cannot be read raises ``MalformedReply`` (retried like a dropped
connection)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autointerp.llm.base import Messages, Prompt, TextLogprobs
from autointerp.llm.failures import MalformedReply
from autointerp.llm.ratelimit import estimate_tokens

__all__ = [
    "as_text",
    "echoed_choice",
    "failed_logprobs",
    "first_choice",
    "listed_choices",
    "prompt_tokens",
    "text_of",
    "token_chunks",
    "usage_of",
]


def as_text(messages: Messages) -> str:
    """Chat messages as one plain-text prompt for a completions endpoint (``llm.chat_as_text``):
    each message as 'Role: content', then 'Assistant:' for the reply."""
    parts = [f"{m.get('role', 'user').capitalize()}: {m.get('content', '')}" for m in messages]
    return "\n\n".join([*parts, "Assistant:"])


def prompt_tokens(prompt: Prompt) -> int:
    """Estimated prompt tokens (a few extra per chat message for the template)."""
    if isinstance(prompt, str):
        return estimate_tokens(prompt)
    return sum(estimate_tokens(m.get("content", "")) + 4 for m in prompt)


def usage_of(reply: Any) -> tuple[int, int]:
    usage = getattr(reply, "usage", None)
    if usage is None:
        return 0, 0
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(
        getattr(usage, "completion_tokens", 0) or 0
    )


def first_choice(reply: Any) -> Any:
    """The reply's first choice; a reply without one is malformed (retried)."""
    choices = reply.choices
    if not isinstance(choices, list) or not choices:
        raise MalformedReply(f"a reply without choices ({type(reply).__name__})")
    return choices[0]


def text_of(reply: Any, plain: bool) -> str:
    first = first_choice(reply)
    text = first.text if plain else first.message.content
    if text is not None and not isinstance(text, str):
        raise MalformedReply(f"reply text is a {type(text).__name__}, not a string")
    return text or ""


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


def listed_choices(n: int, reply: Any) -> list[Any]:
    """The choices of a reply to a list of ``n`` prompts, in prompt order (matched by their
    ``index``); missing, extra or duplicated choices make the reply malformed."""
    choices = reply.choices
    if not isinstance(choices, list) or len(choices) != n:
        got = len(choices) if isinstance(choices, list) else 0
        raise MalformedReply(f"{got} choices for a list of {n} prompts")
    by_index = {int(getattr(c, "index", i)): c for i, c in enumerate(choices)}
    if sorted(by_index) != list(range(n)):
        raise MalformedReply("the choices' indices do not match the prompts")
    return [by_index[i] for i in range(n)]


def failed_logprobs(error: str, prompt_tokens: int = 0) -> TextLogprobs:
    return TextLogprobs([], [], [], [], prompt_tokens, error)


def echoed_logprobs(text: str, reply: Any, top_k: int) -> TextLogprobs:
    """``TextLogprobs`` from a completions reply with ``echo`` and ``logprobs``: the prompt's
    tokens come first, then the one generated token (dropped)."""
    return echoed_choice(text, first_choice(reply), usage_of(reply)[0], top_k)


def echoed_choice(text: str, choice: Any, n_prompt: int, top_k: int) -> TextLogprobs:
    """``TextLogprobs`` from one echoed choice; ``n_prompt`` is the prompt's token count
    (0 when unknown, as in a reply to a list: then the tokens that start inside the text)."""
    logprobs = choice.logprobs
    if logprobs is None or not logprobs.tokens or logprobs.token_logprobs is None:
        return failed_logprobs("the server returned no prompt log-probabilities", n_prompt)
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
        return failed_logprobs("the server returned no token offsets", n_prompt)
    lps = [math.nan if v is None else float(v) for v in values]
    top: list[dict[str, float]] = []
    for alternatives in tops:
        best = sorted((alternatives or {}).items(), key=lambda kv: -kv[1])[:top_k]
        top.append({t: float(v) for t, v in best})
    return TextLogprobs(tokens, offsets, lps, top, n_prompt)
