"""Explainers turn a latent's activating examples into a natural-language explanation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from autointerp.config import ExplainConfig, LLMConfig
from autointerp.errors import LLMResponseError
from autointerp.explain.parse import parse_explanation
from autointerp.llm.base import LLM, Messages
from autointerp.records import Explanation, LatentRecord
from autointerp.registry import Registry

__all__ = ["EXPLAINERS", "Explainer"]


class Explainer(ABC):
    name: str = ""
    prompt_version: str = ""

    def __init__(self, cfg: ExplainConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def prompt(self, record: LatentRecord) -> Messages:
        """The chat prompt for one latent."""

    def explain(
        self,
        records: Sequence[LatentRecord],
        llm: LLM,
        llm_cfg: LLMConfig,
        *,
        progress: bool = True,
    ) -> list[Explanation]:
        """One explanation per record; failures become rows with a status, never None."""
        prompts = [self.prompt(r) for r in records]
        replies = llm.generate(
            prompts,
            max_new_tokens=llm_cfg.max_new_tokens,
            temperature=llm_cfg.temperature,
            desc="explaining" if progress else None,
        )
        out = []
        for record, reply in zip(records, replies, strict=True):
            text, status, error = "", "ok", reply.error
            if reply.error:
                status = "llm_error"
            else:
                try:
                    text = parse_explanation(reply.text)
                except LLMResponseError as exc:
                    status = "refusal" if str(exc).startswith("refusal") else "unparsable"
                    error = str(exc)
            out.append(
                Explanation(
                    latent=record.latent,
                    explanation_id=0,
                    text=text,
                    source=f"generated:{self.name}",
                    status=status,
                    error=error,
                    raw=reply.text,
                    prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens,
                )
            )
        return out


EXPLAINERS: Registry[type[Explainer]] = Registry("explainer")
