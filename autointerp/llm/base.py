"""The one interface every LLM backend implements.

* ``generate``: prompts -> completions (explanations, parsed answers). A prompt is chat
  ``Messages`` (the model's chat template applies) or a plain ``str`` (completion style).
* ``choose``: prompts -> the probability of each answer option (``yes``/``no``, ``1``..``5``,
  ``A``/``B``) at the first answer position, from log-probabilities, in one forward pass and
  with no parsing. ``judge`` is ``choose`` with yes/no. Only with ``supports_logprobs``.
* ``prompt_logprobs``: plain texts (completion style, no chat template) -> the log-probability
  of every token given the ones before it, and optionally the top alternatives at each
  position (simulation and surprisal scoring read them in one pass).

Both take whole batches so that a backend can batch, share prompt prefixes and run requests
concurrently. A request that fails is returned with ``error`` set (never raised), so one bad
latent cannot sink a run; ``check()`` raises up front when the backend is unusable.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from autointerp.config import LLMConfig
from autointerp.registry import Registry

__all__ = [
    "BACKENDS",
    "LLM",
    "Choice",
    "Completion",
    "Judgement",
    "Messages",
    "Prompt",
    "TextLogprobs",
    "option_probabilities",
    "option_variants",
    "yes_no_probability",
]

Messages = list[dict[str, str]]
"""OpenAI-style chat messages: [{"role": "system"|"user"|"assistant", "content": ...}]."""

Prompt = Messages | str
"""Chat messages (the chat template applies), or a plain text prompt (completion style)."""


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Judgement:
    p_yes: float
    """P(yes) / (P(yes) + P(no)) at the first answer token; NaN when it failed."""
    mass: float
    """P(yes) + P(no): how much of the distribution the two answers hold."""
    prompt_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Choice:
    probs: dict[str, float]
    """Option -> probability, normalised over the options; every value NaN when it failed."""
    mass: float
    """How much of the next-token distribution the options hold together."""
    prompt_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class TextLogprobs:
    """Per-token log-probabilities of one plain text."""

    tokens: list[str]
    offsets: list[int]
    """Character offset of each token in the text."""
    logprobs: list[float]
    """log P(token i | tokens before it); NaN for the first token."""
    top: list[dict[str, float]]
    """The most likely next tokens *at* position i (token text -> log-probability), i.e. the
    alternatives to token i; empty dicts when no ``top_k`` was asked for."""
    prompt_tokens: int = 0
    error: str | None = None


def option_variants(option: str) -> list[str]:
    """Spellings of an answer option that count as that option (case, leading space)."""
    forms = [option, option.lower(), option.capitalize(), option.upper()]
    return list(dict.fromkeys(f for form in forms for f in (form, " " + form)))


def option_probabilities(
    token_probs: Sequence[tuple[str, float]], options: Sequence[str]
) -> tuple[dict[str, float], float]:
    """(normalised P per option, total mass) from (token text, probability) pairs; token texts
    are compared with options case-insensitively and without surrounding spaces."""
    wanted = {o.strip().lower(): o for o in options}
    raw = dict.fromkeys(options, 0.0)
    for tok, p in token_probs:
        key = wanted.get(tok.strip().lower())
        if key is not None:
            raw[key] += p
    mass = sum(raw.values())
    if mass <= 0:
        return dict.fromkeys(options, math.nan), 0.0
    return {o: v / mass for o, v in raw.items()}, mass


def yes_no_probability(token_probs: Sequence[tuple[str, float]]) -> tuple[float, float]:
    """(normalised P(yes), P(yes)+P(no)) from (token text, probability) pairs."""
    probs, mass = option_probabilities(token_probs, ("yes", "no"))
    return probs["yes"], mass


class LLM(ABC):
    """An explainer/scorer model behind a batch interface."""

    name: str = ""
    """``backend:model``, recorded in every output row."""
    supports_logprobs: bool = False
    requests: int = 0
    """HTTP requests sent so far, retries included (0 for in-process backends)."""
    prefers_likelihood: bool = False
    """Detection's 'auto' method reads the likelihood of a statement instead of asking a yes/no
    question (set by the in-process backend, whose small default model answers yes/no near
    chance on the ground-truth set)."""

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]: ...

    def choose(
        self, prompts: Sequence[Prompt], options: Sequence[str], *, desc: str | None = None
    ) -> list[Choice]:
        """P(option) at the first answer token of each prompt (options are single words)."""
        raise NotImplementedError(f"{self.name} does not provide log-probabilities")

    def judge(self, prompts: Sequence[Prompt], *, desc: str | None = None) -> list[Judgement]:
        """P(yes) / (P(yes) + P(no)) at the first answer token of each prompt."""
        out = []
        for c in self.choose(prompts, ("yes", "no"), desc=desc):
            p_yes = c.probs.get("yes", math.nan)
            error = c.error or (None if not math.isnan(p_yes) else "no probability on yes/no")
            out.append(Judgement(p_yes, c.mass, c.prompt_tokens, error))
        return out

    def prompt_logprobs(
        self, texts: Sequence[str], *, top_k: int = 0, desc: str | None = None
    ) -> list[TextLogprobs]:
        """Log-probability of every token of each plain text (see ``TextLogprobs``)."""
        raise NotImplementedError(f"{self.name} does not provide prompt log-probabilities")

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise LLMUnavailableError if the backend cannot be used (called before a run)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or memory."""


BACKENDS: Registry[type[LLM]] = Registry("LLM backend")


def make_llm(cfg: LLMConfig) -> LLM:
    """Build the backend named by ``cfg.backend``."""
    return BACKENDS.get(cfg.backend)(cfg)  # type: ignore[call-arg]
