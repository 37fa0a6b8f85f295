"""What every yes/no scorer shares: build one prompt per example, get P(yes) for each (from
log-probabilities, or by parsing a generated answer), and turn them into metrics.

A scorer only says how to turn (latent, explanation) into labelled prompts, and which
content-free prompt calibrates its decision threshold.

Decision threshold (log-prob mode): contextual calibration (Zhao et al., 2021) — the P(yes)
the scorer model gives the same prompt with a content-free text ("N/A") instead of an
example; a small model's bias towards "no" would otherwise make every prediction "no".
``scoring.threshold`` fixes it instead. In generate mode, parsed answers are 0/1 and the
threshold is 0.5. AUROC needs no threshold.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autointerp.config import ScoringConfig
from autointerp.llm.base import LLM, Messages
from autointerp.prompts import load_template
from autointerp.records import Explanation, LatentRecord
from autointerp.registry import Registry
from scorers.metrics import binary_metrics

__all__ = ["SCORERS", "Item", "ScoreResult", "Scorer", "parse_yes_no"]

CONTENT_FREE = "N/A"


@dataclass(frozen=True)
class Item:
    """One labelled prompt: ``label`` is the truth the scorer model should recover."""

    messages: Messages
    label: bool
    window: int


@dataclass
class ScoreResult:
    latent: int
    explanation_id: int
    scorer: str
    status: str
    """'ok', 'skipped' (no usable explanation) or 'failed' (every judgement failed)."""
    method: str
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judgements: list[dict[str, Any]] = field(default_factory=list)


_YES = re.compile(r"^\W*(yes|y|true)\b", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|n|false)\b", re.IGNORECASE)


def parse_yes_no(text: str) -> float:
    """1.0 for yes, 0.0 for no, NaN when the reply is neither."""
    if _YES.match(text):
        return 1.0
    if _NO.match(text):
        return 0.0
    return math.nan


class Scorer(ABC):
    name: str = ""
    prompt_version: str = ""

    def render(self, explanation: str, text: str) -> Messages:
        template = load_template("scorers", self.prompt_version)
        return template.render(explanation=explanation, text=text)

    @abstractmethod
    def items(self, record: LatentRecord, explanation: Explanation, seed: int) -> list[Item]:
        """Labelled prompts for one (latent, explanation)."""

    def calibration(self, explanation: Explanation) -> Messages:
        return self.render(explanation.text, CONTENT_FREE)

    def score(
        self,
        pairs: Sequence[tuple[LatentRecord, Explanation]],
        llm: LLM,
        cfg: ScoringConfig,
        *,
        seed: int,
        progress: bool = True,
    ) -> list[ScoreResult]:
        use_logprobs = cfg.method == "logprob" or (cfg.method == "auto" and llm.supports_logprobs)
        method = "logprob" if use_logprobs else "generate"
        results: list[ScoreResult] = []
        batches: list[tuple[ScoreResult, list[Item], int]] = []
        prompts: list[Messages] = []
        for record, expl in pairs:
            result = ScoreResult(record.latent, expl.explanation_id, self.name, "ok", method)
            results.append(result)
            if expl.status != "ok" or not expl.text:
                result.status, result.error = "skipped", f"no usable explanation ({expl.status})"
                continue
            items = self.items(record, expl, seed)
            batches.append((result, items, len(prompts)))
            prompts.extend(item.messages for item in items)
            if use_logprobs and cfg.threshold is None:
                prompts.append(self.calibration(expl))
        desc = f"scoring ({self.name})" if progress else None
        if use_logprobs:
            judged = llm.judge(prompts, desc=desc)
            probs = [j.p_yes for j in judged]
            errors = [j.error for j in judged]
            tokens = [(j.prompt_tokens, 1) for j in judged]
        else:
            replies = llm.generate(prompts, max_new_tokens=3, temperature=0.0, desc=desc)
            probs = [parse_yes_no(r.text) if not r.error else math.nan for r in replies]
            errors = [
                r.error or (None if not math.isnan(p) else f"unparsable answer {r.text[:40]!r}")
                for r, p in zip(replies, probs, strict=True)
            ]
            tokens = [(r.prompt_tokens, r.completion_tokens) for r in replies]
        for result, items, start in batches:
            n = len(items)
            p = np.asarray(probs[start : start + n], dtype=float)
            span = n + (1 if use_logprobs and cfg.threshold is None else 0)
            result.prompt_tokens = sum(t[0] for t in tokens[start : start + span])
            result.completion_tokens = sum(t[1] for t in tokens[start : start + span])
            if use_logprobs:
                threshold = cfg.threshold if cfg.threshold is not None else probs[start + n]
            else:
                threshold = 0.5
            if threshold is None or math.isnan(threshold):
                threshold = 0.5
            labels = np.asarray([it.label for it in items], dtype=bool)
            result.judgements = [
                {
                    "window": it.window,
                    "label": it.label,
                    "p_yes": float(pi),
                    "predicted": bool(pi > threshold) if not math.isnan(pi) else None,
                    "error": errors[start + k],
                }
                for k, (it, pi) in enumerate(zip(items, p, strict=True))
            ]
            if np.isnan(p).all():
                result.status = "failed"
                result.error = next(
                    (e for e in errors[start : start + n] if e), "all judgements failed"
                )
                continue
            result.metrics = binary_metrics(
                labels, p, float(threshold), n_bootstrap=cfg.n_bootstrap, seed=seed + result.latent
            )
        return results


SCORERS: Registry[type[Scorer]] = Registry("scorer")
