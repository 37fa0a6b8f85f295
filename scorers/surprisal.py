"""Surprisal: does reading the explanation first make activating texts more predictable?

As in delphi's surprisal scorer. Every example text (held-out activating examples and
non-activating ones) is scored by the scorer model twice, as plain text (no chat template)
after two prefixes::

    The following text is about <explanation>:\\n<text>
    The following text is about anything at all:\\n<text>

An example's score is its log-probability gain: the mean log-probability per text token
after the explanation minus the same after the generic prefix (nats per token, > 0 = the
explanation helped). The mean runs over *all* tokens of the text, not only where the latent
fires: non-activating texts have no firing tokens, and both kinds must be scored the same
way. A good explanation helps activating texts more than non-activating ones, so the AUROC
of the gains (activating = positive) is the main figure. Decision threshold for the other
binary metrics: the median gain of the (latent, explanation)'s examples (label-free; splits a
balanced set evenly).

Needs ``prompt_logprobs``; with a backend that has none every result is ``skipped``. All
texts of all pairs go to the LLM in one call; each generic-prefix text is scored once even
when several explanations of a latent share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from autointerp.llm.base import TextLogprobs
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.statuses import ScoreStatus
from scorers.base import (
    SCORERS,
    Scorer,
    ScoreResult,
    ScoringContext,
    skip_unusable,
    skip_without_examples,
)
from scorers.metrics import binary_metrics

__all__ = ["GENERIC", "SurprisalScorer", "mean_text_logprob", "prefix"]

GENERIC = "anything at all"
"""What the baseline prefix says the text is about."""


def prefix(about: str) -> str:
    return f"The following text is about {about.strip().rstrip('.')}:\n"


def mean_text_logprob(lp: TextLogprobs, start: int) -> float:
    """Mean log-probability of the tokens that start at or after character ``start``; NaN
    when there are none or the LLM failed."""
    if lp.error:
        return math.nan
    values = [v for o, v in zip(lp.offsets, lp.logprobs, strict=True) if o >= start]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def _text(example: Example) -> str:
    return example.text


@SCORERS.register("surprisal")
class SurprisalScorer(Scorer):
    name = "surprisal"
    prompt_version = "surprisal.v1"

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        results: list[ScoreResult] = []
        pending: list[tuple[ScoreResult, list[Example], list[bool], str]] = []
        texts: dict[str, int] = {}
        for record, expl in pairs:
            result = self.result(record, expl, "logprob")
            results.append(result)
            if skip_unusable(result, expl) or skip_without_examples(result, record):
                continue
            examples = record.score + record.nonactivating
            labels = [True] * len(record.score) + [False] * len(record.nonactivating)
            for ex in examples:
                for about in (expl.text, GENERIC):
                    texts.setdefault(prefix(about) + _text(ex), len(texts))
            pending.append((result, examples, labels, expl.text))
        if not pending:
            return results
        answers = self._logprobs(ctx, list(texts))
        if isinstance(answers, str):
            for result, *_ in pending:
                result.status, result.error = ScoreStatus.SKIPPED, answers
            return results
        used: set[int] = set()
        for result, examples, labels, about in pending:
            gains, errors = [], []
            for ex in examples:
                own = answers[texts[prefix(about) + _text(ex)]]
                base = answers[texts[prefix(GENERIC) + _text(ex)]]
                gain = mean_text_logprob(own, len(prefix(about))) - mean_text_logprob(
                    base, len(prefix(GENERIC))
                )
                errors.append(
                    own.error or base.error or ("no text tokens" if math.isnan(gain) else None)
                )
                gains.append(gain)
                for i in (texts[prefix(about) + _text(ex)], texts[prefix(GENERIC) + _text(ex)]):
                    if i not in used:  # a text shared by several results is counted once
                        used.add(i)
                        result.prompt_tokens += answers[i].prompt_tokens
            self._finish(result, examples, labels, gains, errors, ctx)
        return results

    @staticmethod
    def _logprobs(ctx: ScoringContext, texts: list[str]) -> list[TextLogprobs] | str:
        """The LLM's answers, or why this backend cannot give them."""
        llm = ctx.llm
        reason = (
            "surprisal needs prompt log-probabilities, which "
            f"{llm.name or 'the backend'} does not provide"
        )
        if not llm.supports_logprobs:
            return reason
        try:
            return llm.prompt_logprobs(texts, desc=ctx.desc("scoring (surprisal)"))
        except NotImplementedError:
            return reason

    @staticmethod
    def _finish(
        result: ScoreResult,
        examples: list[Example],
        labels: list[bool],
        gains: list[float],
        errors: list[str | None],
        ctx: ScoringContext,
    ) -> None:
        g = np.asarray(gains, dtype=float)
        threshold = float(np.nanmedian(g)) if not np.isnan(g).all() else math.nan
        result.judgements = [
            {
                "window": ex.window,
                "label": label,
                "p_yes": gain,
                "predicted": None if math.isnan(gain) else bool(gain > threshold),
                "error": error,
            }
            for ex, label, gain, error in zip(examples, labels, gains, errors, strict=True)
        ]
        if math.isnan(threshold):
            result.status = ScoreStatus.FAILED
            result.error = next((e for e in errors if e), "every example failed")
            return
        result.metrics = binary_metrics(
            np.asarray(labels),
            g,
            threshold,
            n_bootstrap=ctx.cfg.n_bootstrap,
            seed=ctx.seed + result.latent,
        )
