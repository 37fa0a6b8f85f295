"""The one interface every LLM backend implements.

* ``generate``: chat prompts -> completions (explanations, parsed answers).
* ``judge``: chat prompts -> P(yes) at the first answer position, from log-probabilities, in
  one forward pass and with no parsing. Only for backends with ``supports_logprobs``.

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

__all__ = ["BACKENDS", "LLM", "Completion", "Judgement", "Messages", "yes_no_probability"]

Messages = list[dict[str, str]]
"""OpenAI-style chat messages: [{"role": "system"|"user"|"assistant", "content": ...}]."""

YES = ("yes",)
NO = ("no",)


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


def yes_no_probability(token_probs: Sequence[tuple[str, float]]) -> tuple[float, float]:
    """(normalised P(yes), P(yes)+P(no)) from (token text, probability) pairs; token texts are
    compared case-insensitively without surrounding spaces."""
    p_yes = sum(p for tok, p in token_probs if tok.strip().lower() in YES)
    p_no = sum(p for tok, p in token_probs if tok.strip().lower() in NO)
    mass = p_yes + p_no
    return (p_yes / mass if mass > 0 else math.nan), mass


class LLM(ABC):
    """An explainer/scorer model behind a batch interface."""

    name: str = ""
    """``backend:model``, recorded in every output row."""
    supports_logprobs: bool = False

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Messages],
        *,
        max_new_tokens: int,
        temperature: float = 0.0,
        desc: str | None = None,
    ) -> list[Completion]: ...

    def judge(self, prompts: Sequence[Messages], *, desc: str | None = None) -> list[Judgement]:
        raise NotImplementedError(f"{self.name} does not provide log-probabilities")

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise LLMUnavailableError if the backend cannot be used (called before a run)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or memory."""


BACKENDS: Registry[type[LLM]] = Registry("LLM backend")


def make_llm(cfg: LLMConfig) -> LLM:
    """Build the backend named by ``cfg.backend``."""
    return BACKENDS.get(cfg.backend)(cfg)  # type: ignore[call-arg]
