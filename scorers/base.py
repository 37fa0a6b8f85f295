"""The scorer interface, and what every yes/no scorer shares.

``Scorer.score(pairs, ctx)`` turns (latent record, explanation) pairs into one
``ScoreResult`` each; ``ctx`` (a ``ScoringContext``) holds the scorer LLM, the scoring config,
the seed and, where they are loaded, the subject model and the SAE (the intervention scorer
needs them; ``needs_model`` says so). Scorers never depend on each other, so a service can
run them in parallel.

``YesNoScorer`` is the base of detection and fuzzing: build one prompt per example, get
P(yes) for each (from log-probabilities, or by parsing a generated answer), and turn them into
metrics. Such a scorer only says how to turn (latent, explanation) into labelled prompts, and
which content-free prompt calibrates its decision threshold.

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
from typing import TYPE_CHECKING

import numpy as np

from autointerp.config import ScoringConfig
from autointerp.errors import ConfigError
from autointerp.llm.base import LLM, Messages
from autointerp.primary_metrics import declare as declare_primary_metric
from autointerp.prompts import load_template
from autointerp.records import Explanation, LatentRecord, ScoreResult
from autointerp.registry import Registry
from autointerp.statuses import ExplanationStatus, ScoreStatus
from scorers.metrics import binary_metrics

if TYPE_CHECKING:
    from autointerp.models.loader import SubjectModel
    from autointerp.saes.base import SparseCoder

__all__ = [
    "SCORERS",
    "Item",
    "ScoreResult",
    "Scorer",
    "ScoringContext",
    "YesNoScorer",
    "parse_yes_no",
    "settle_status",
    "skip_unusable",
    "skip_without_examples",
    "statement_likelihoods",
]

CONTENT_FREE = "N/A"


@dataclass(frozen=True)
class Item:
    """One labelled prompt: ``label`` is the truth the scorer model should recover."""

    messages: Messages
    label: bool
    window: int
    text: str = ""
    """The example as plain text (for the likelihood method)."""


@dataclass
class ScoringContext:
    """Everything a scorer may use besides the (record, explanation) pairs."""

    llm: LLM
    cfg: ScoringConfig = field(default_factory=ScoringConfig)
    seed: int = 0
    progress: bool = True
    subject: SubjectModel | None = None
    """The subject model (the one the SAE reads), where it is loaded."""
    sae: SparseCoder | None = None
    """The SAE / transcoder, bound to ``subject``, where it is loaded."""

    def desc(self, what: str) -> str | None:
        """A progress-bar label, or None when progress bars are off."""
        return what if self.progress else None


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
    """Scores explanations of latents; registered by name in ``SCORERS``."""

    name: str = ""
    prompt_version: str = ""
    """The prompt template (or method) version recorded with every score."""
    needs_model: bool = False
    """True when the scorer runs the subject model and the SAE (``ctx.subject``/``ctx.sae``)."""
    primary_metric: str = "auroc"
    """The metric column that summarises this scorer (summaries, ``--min-score``, the API's
    ``score``); registering the scorer declares it to :mod:`autointerp.primary_metrics`."""

    @abstractmethod
    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        """One result per pair, in order; failures are results with a status, never raised."""

    @classmethod  # noqa: B027 - an optional hook
    def check(cls, cfg: ScoringConfig) -> None:
        """Raise ConfigError up front when this scorer cannot run with ``cfg`` (called by
        the pipeline before any heavy work)."""

    def result(self, record: LatentRecord, explanation: Explanation, method: str) -> ScoreResult:
        return ScoreResult(
            record.latent, explanation.explanation_id, self.name, ScoreStatus.OK, method
        )


def settle_status(result: ScoreResult) -> ScoreResult:
    """Mark an 'ok' result 'partial' when some of its judgements failed (their count in
    ``n_failed``, the first error in ``error``): its metrics leave those out, and a rerun of
    the run redoes the row. Called on every scorer's results in one place (the pipeline)."""
    if result.status != ScoreStatus.OK:
        return result
    errors = [j["error"] for j in result.judgements if j.get("error")]
    n_failed = max(len(errors), int(result.metrics.get("n_failed") or 0))
    if n_failed:
        result.status = ScoreStatus.PARTIAL
        total = len(result.judgements) or result.metrics.get("n_examples") or "?"
        first = f": {errors[0]}" if errors else ""
        result.error = f"{n_failed} of {total} judgements failed{first}"
        result.metrics["n_failed"] = n_failed
    return result


def skip_without_examples(result: ScoreResult, record: LatentRecord) -> bool:
    """Mark ``result`` skipped when the record lacks activating or non-activating examples
    (a latent that fires in every window has no negatives); True if skipped."""
    if record.score and record.nonactivating:
        return False
    result.status = ScoreStatus.SKIPPED
    result.error = (
        f"needs activating and non-activating examples, got {len(record.score)} "
        f"activating and {len(record.nonactivating)} non-activating"
    )
    return True


def skip_unusable(result: ScoreResult, explanation: Explanation) -> bool:
    """Mark ``result`` skipped when the explanation has no usable text; True if skipped."""
    if explanation.status != ExplanationStatus.OK or not explanation.text:
        result.status = ScoreStatus.SKIPPED
        result.error = f"no usable explanation ({explanation.status})"
        return True
    return False


class YesNoScorer(Scorer):
    """A scorer that asks yes/no questions about single examples.

    Methods (``scoring.method``): 'logprob' reads P(yes) at the answer position; 'generate'
    parses a generated answer; 'likelihood' (scorers with a ``statement_version``) scores
    each example by the mean log-probability of the statement "This text is about
    <explanation>." written after the text — no instruction following needed, which is what
    small local models are bad at. 'auto' = likelihood where the backend prefers it (the
    in-process backend) and the scorer has a statement, else logprob when the backend has
    log-probabilities, else generate.
    """

    statement_version: str | None = None
    """Template (a single message) of the likelihood method's ``$text`` + statement."""

    def method(self, cfg: ScoringConfig, llm: LLM) -> str:
        """The method this scorer uses with this backend."""
        if cfg.method == "likelihood" and self.statement_version is None:
            raise ConfigError(
                f"scoring.method='likelihood' is not available for the {self.name!r} scorer "
                "(it has no statement template); use auto, logprob or generate"
            )
        if cfg.method != "auto":
            return cfg.method
        if self.statement_version and getattr(llm, "prefers_likelihood", False):
            return "likelihood"
        return "logprob" if llm.supports_logprobs else "generate"

    def statement(self, explanation: str, text: str) -> tuple[str, int]:
        """(the example text followed by the statement, where the statement starts); the
        template must begin with ``$text``."""
        assert self.statement_version is not None
        template = load_template("scorers", self.statement_version)
        full = template.render(explanation=explanation, text=text)[-1]["content"]
        if not full.startswith(text):
            raise ConfigError(f"prompt {self.statement_version}: must begin with $$text")
        return full, len(text)

    def render(self, explanation: str, text: str) -> Messages:
        template = load_template("scorers", self.prompt_version)
        return template.render(explanation=explanation, text=text)

    @abstractmethod
    def items(self, record: LatentRecord, explanation: Explanation, seed: int) -> list[Item]:
        """Labelled prompts for one (latent, explanation)."""

    def calibration(self, explanation: Explanation) -> Messages:
        return self.render(explanation.text, CONTENT_FREE)

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        """Score every (latent, explanation) pair with one batched call to the LLM."""
        llm, cfg, seed = ctx.llm, ctx.cfg, ctx.seed
        method = self.method(cfg, llm)
        logprob = method != "generate"
        calibrate = logprob and cfg.threshold is None
        results: list[ScoreResult] = []
        pending: list[tuple[ScoreResult, list[Item], int]] = []
        prompts: list[Messages] = []
        texts: list[tuple[str, int]] = []
        for record, expl in pairs:
            result = self.result(record, expl, method)
            results.append(result)
            if skip_unusable(result, expl):
                continue
            items = self.items(record, expl, seed)
            n_pos = sum(item.label for item in items)
            if n_pos == 0 or n_pos == len(items):
                result.status = ScoreStatus.SKIPPED
                result.error = (
                    f"needs positive and negative examples, got {n_pos} positive and "
                    f"{len(items) - n_pos} negative (a latent that fires in every window has "
                    "no non-activating examples)"
                )
                continue
            if method == "likelihood":
                result.prompt_version = self.statement_version or ""
                pending.append((result, items, len(texts)))
                texts += [self.statement(expl.text, item.text) for item in items]
                if calibrate:
                    texts.append(self.statement(expl.text, CONTENT_FREE))
                continue
            pending.append((result, items, len(prompts)))
            prompts += [item.messages for item in items]
            if calibrate:
                prompts.append(self.calibration(expl))
        desc = ctx.desc(f"scoring ({self.name})")
        if method == "likelihood":
            answers = statement_likelihoods(llm, texts, desc)
        else:
            answers = _ask(llm, prompts, logprob, desc)
        for result, items, start in pending:
            own = answers[start : start + len(items) + calibrate]
            if calibrate:
                threshold = own[-1].p
            else:
                threshold = cfg.threshold if logprob and cfg.threshold is not None else 0.5
            _finish(result, items, own[: len(items)], threshold, cfg, seed)
            if calibrate:  # the calibration prompt is part of this result's cost
                result.prompt_tokens += own[-1].prompt_tokens
                result.completion_tokens += own[-1].completion_tokens
                if own[-1].error and result.status == ScoreStatus.OK:  # a fallback threshold: redo
                    result.status = ScoreStatus.PARTIAL
                    result.error = f"the calibration prompt failed: {own[-1].error}"
                    # a failed request like any judgement's: counted, so a partial row
                    # always says how many of its requests failed
                    failed = int(result.metrics.get("n_failed") or 0) + 1
                    result.metrics["n_failed"] = failed
        return results


@dataclass(frozen=True)
class _Answer:
    p: float
    error: str | None
    prompt_tokens: int
    completion_tokens: int


def statement_likelihoods(
    llm: LLM, texts: list[tuple[str, int]], desc: str | None
) -> list[_Answer]:
    """Mean log-probability of the statement part of each (full text, statement start)."""
    if not texts:
        return []
    out = []
    answers = llm.prompt_logprobs([full for full, _ in texts], desc=desc)
    for (_, start), lp in zip(texts, answers, strict=True):
        if lp.error:
            out.append(_Answer(math.nan, lp.error, lp.prompt_tokens, 0))
            continue
        scores = [
            v
            for off, v in zip(lp.offsets, lp.logprobs, strict=True)
            if off >= start and not math.isnan(v)
        ]
        value = float(np.mean(scores)) if scores else math.nan
        out.append(_Answer(value, None if scores else "no statement tokens", lp.prompt_tokens, 0))
    return out


def _ask(llm: LLM, prompts: list[Messages], logprob: bool, desc: str | None) -> list[_Answer]:
    """P(yes) per prompt: read from log-probabilities, or parsed from a short generation."""
    if logprob:
        return [
            _Answer(j.p_yes, j.error, j.prompt_tokens, 1) for j in llm.judge(prompts, desc=desc)
        ]
    answers = []
    for reply in llm.generate(prompts, max_new_tokens=3, temperature=0.0, desc=desc):
        p = parse_yes_no(reply.text) if not reply.error else math.nan
        error = reply.error or (f"unparsable answer {reply.text[:40]!r}" if math.isnan(p) else None)
        answers.append(_Answer(p, error, reply.prompt_tokens, reply.completion_tokens))
    return answers


def _finish(
    result: ScoreResult,
    items: list[Item],
    answers: list[_Answer],
    threshold: float,
    cfg: ScoringConfig,
    seed: int,
) -> None:
    """Fill in metrics, token counts and per-example judgements of one result."""
    if math.isnan(threshold):  # calibration prompt failed
        threshold = (
            0.5
            if result.method != "likelihood"
            else float(np.nanmedian([a.p for a in answers]) if answers else 0.0)
        )
    result.prompt_tokens = sum(a.prompt_tokens for a in answers)
    result.completion_tokens = sum(a.completion_tokens for a in answers)
    p = np.asarray([a.p for a in answers], dtype=float)
    result.judgements = [
        {
            "window": item.window,
            "label": item.label,
            "p_yes": a.p,
            "predicted": None if math.isnan(a.p) else bool(a.p > threshold),
            "error": a.error,
        }
        for item, a in zip(items, answers, strict=True)
    ]
    if np.isnan(p).all():
        result.status = ScoreStatus.FAILED
        result.error = next((a.error for a in answers if a.error), "all judgements failed")
        return
    labels = np.asarray([item.label for item in items], dtype=bool)
    result.metrics = binary_metrics(
        labels, p, threshold, n_bootstrap=cfg.n_bootstrap, seed=seed + result.latent
    )


class _ScorerRegistry(Registry[type[Scorer]]):
    """Registering a scorer also declares its primary metric where the store reads it."""

    def add(self, name: str, obj: type[Scorer]) -> None:
        super().add(name, obj)
        declare_primary_metric(name, obj.primary_metric)


SCORERS: Registry[type[Scorer]] = _ScorerRegistry("scorer")
