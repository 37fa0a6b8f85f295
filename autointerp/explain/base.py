"""Explainers turn what is known about a latent into a natural-language explanation.

``Explainer.explain(records, ctx)`` returns one ``Explanation`` per record (a row with a
status when it failed, never None). Most explainers only say how to build one chat prompt per
latent (``prompt``); those that need the subject model and the SAE (``needs_model``: the
output-centric one) or several rounds (best-of-n) override ``prompts`` or ``explain``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autointerp.config import ExplainConfig, LLMConfig, ScoringConfig
from autointerp.errors import LLMResponseError
from autointerp.explain.parse import parse_explanation
from autointerp.llm.base import LLM, Completion, Messages
from autointerp.records import Explanation, LatentRecord
from autointerp.registry import Registry
from autointerp.statuses import ExplanationStatus

if TYPE_CHECKING:
    from autointerp.models.loader import SubjectModel
    from autointerp.saes.base import SparseCoder

__all__ = ["EXPLAINERS", "ExplainContext", "Explainer", "explanation_from_reply"]


@dataclass
class ExplainContext:
    """Everything an explainer may use besides the latent records."""

    llm: LLM
    llm_cfg: LLMConfig = field(default_factory=LLMConfig)
    seed: int = 0
    progress: bool = True
    subject: SubjectModel | None = None
    sae: SparseCoder | None = None
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    """Scoring settings (best-of-n scores its candidates with them)."""
    promoted: dict[int, list[str]] | None = None
    """Per latent, the tokens its decoder direction promotes (logit lens), computed where the
    model is loaded; None = compute them from ``subject`` and ``sae`` when those are set."""

    def desc(self, what: str) -> str | None:
        return what if self.progress else None


def explanation_from_reply(
    record: LatentRecord, reply: Completion, source: str, explanation_id: int = 0
) -> Explanation:
    """Parse one reply into an Explanation with an explicit status."""
    text, status, error = "", ExplanationStatus.OK, reply.error
    if reply.error:
        status = ExplanationStatus.LLM_ERROR
    else:
        try:
            text = parse_explanation(reply.text)
        except LLMResponseError as exc:
            status = (
                ExplanationStatus.REFUSAL
                if str(exc).startswith("refusal")
                else ExplanationStatus.UNPARSABLE
            )
            error = str(exc)
    return Explanation(
        latent=record.latent,
        explanation_id=explanation_id,
        text=text,
        source=source,
        status=status,
        error=error,
        raw=reply.text,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )


class Explainer(ABC):
    name: str = ""
    prompt_version: str = ""
    needs_model: bool = False
    """True when the explainer runs the subject model and the SAE (``ctx.subject/sae``)."""
    uses_logit_lens: bool = False
    """True when the explainer reads the decoder's promoted tokens (``ctx.promoted``)."""

    def __init__(self, cfg: ExplainConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def prompt(self, record: LatentRecord) -> Messages:
        """The chat prompt for one latent."""

    def prompts(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Messages]:
        """One chat prompt per record (override when prompts need the model)."""
        return [self.prompt(r) for r in records]

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        """One explanation per record; failures become rows with a status, never None."""
        if not records:
            return []
        replies = ctx.llm.generate(
            self.prompts(records, ctx),
            max_new_tokens=ctx.llm_cfg.max_new_tokens,
            temperature=ctx.llm_cfg.temperature,
            desc=ctx.desc("explaining"),
        )
        return [
            explanation_from_reply(record, reply, f"generated:{self.name}")
            for record, reply in zip(records, replies, strict=True)
        ]


EXPLAINERS: Registry[type[Explainer]] = Registry("explainer")
