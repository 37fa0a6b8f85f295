"""Intervention: does steering the latent make the subject model write what the explanation
says?

For each latent, the subject model continues ``scoring.steer_prompts`` fixed neutral
beginnings (``autointerp/data/neutral_prompts.txt``, the same for every latent, so the clean
continuations are computed once per call) for ``scoring.steer_tokens`` greedy tokens, once
clean and once with the latent's decoder direction added at its hook point
(:mod:`autointerp.steering`). The strength is calibrated per latent so that the mean
KL(clean || steered) of the next-token distribution after the beginnings is
``scoring.steer_target_kl``: every latent gets the same size of intervention.

Two measurements per beginning, both from the scorer LLM's log-probabilities:

* **mean_delta**: the change in log P(explanation) (summed over the explanation's tokens) in
  the plain text "<beginning + continuation>\\n\\nThis text is about <explanation>." between
  the steered and the clean continuation (template ``intervention_statement.v1``); > 0 means
  the steered text fits the explanation better. ``auroc`` (an extra) tells the statement's
  log-probabilities after steered texts from those after clean ones (unpaired).
* **accuracy**: shown both continuations and the explanation (``intervention.v1``), which
  one was steered? Each pair is asked in both orders (A/B, then B/A) and P(correct) is the
  mean of the two, which cancels a small model's preference for one letter; a beginning
  counts as correct when P(correct) > 0.5 (a tie counts half).

One ``ScoreResult`` per (latent, explanation). Judgement rows: for beginning ``i``, row
``i`` is the judge (``window`` = i, ``p_yes`` = P(correct), ``predicted`` = P(correct) >
0.5) and row ``steer_prompts + i`` the statement (``p_yes`` = the log-probability change in
nats, ``predicted`` = change > 0); ``label`` is True (the steered text is the one to find).
The calibrated strength is in the metrics as ``steer_alpha`` (L2 norm of the added vector),
``steer_kl`` (KL reached), ``steer_converged`` and ``steer_iterations`` (not columns of the
scores table).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from autointerp.errors import AutointerpError
from autointerp.llm.base import LLM, Messages
from autointerp.prompts import load_template
from autointerp.records import Explanation, LatentRecord
from autointerp.statuses import ScoreStatus
from autointerp.steering import (
    Calibration,
    calibrate_many,
    encode_prompts,
    generate,
    neutral_prompts,
    steering_hook,
    steering_vector,
)
from scorers.base import SCORERS, Scorer, ScoreResult, ScoringContext, skip_unusable
from scorers.metrics import accuracy_metrics, binary_metrics, mean_metrics

__all__ = ["InterventionScorer", "Steered", "statement"]

_MARK = "\x00"
MIN_KL = 1e-3
"""A latent whose steering moves the next-token distribution less than this (nats) fails."""


def statement(text: str, explanation: str) -> tuple[str, int, int]:
    """(plain text, start, end): the statement after ``text``; [start, end) are the
    characters of `` <explanation>`` whose tokens are scored."""
    rendered = load_template("scorers", "intervention_statement.v1").render(
        text=text, explanation=_MARK
    )[0]["content"]
    prefix, _, suffix = rendered.partition(_MARK)
    start = len(prefix.rstrip(" "))  # the space before a word belongs to its token
    return prefix + explanation + suffix, start, len(prefix) + len(explanation)


@dataclass(frozen=True)
class Steered:
    """One latent's steering run."""

    calibration: Calibration
    texts: list[str]
    """Beginning + steered continuation, per beginning."""


def steer_latents(
    ctx: ScoringContext, units: Sequence[int]
) -> tuple[list[str], dict[int, Steered]]:
    """(clean texts, steered run per unit): calibrate every unit, then generate the clean
    and all steered continuations in one batch."""
    assert ctx.subject is not None and ctx.sae is not None
    subject, sae, cfg = ctx.subject, ctx.sae, ctx.cfg
    prompts = neutral_prompts(cfg.steer_prompts)
    cals = calibrate_many(subject, sae, units, prompts, cfg.steer_target_kl)
    ids = encode_prompts(subject, prompts)
    vectors = [torch.zeros(len(ids), sae.d_out)]
    vectors += [
        c.alpha * steering_vector(sae, u).expand(len(ids), -1)
        for u, c in zip(units, cals, strict=True)
    ]
    texts = generate(
        subject,
        ids * (len(units) + 1),
        cfg.steer_tokens,
        hook=steering_hook(sae),
        vectors=torch.cat(vectors),
    )
    texts = [prompts[i % len(prompts)] + t for i, t in enumerate(texts)]
    n = len(prompts)
    runs = {
        u: Steered(c, texts[(j + 1) * n : (j + 2) * n])
        for j, (u, c) in enumerate(zip(units, cals, strict=True))
    }
    return texts[:n], runs


@SCORERS.register("intervention")
class InterventionScorer(Scorer):
    name = "intervention"
    prompt_version = "intervention.v1"
    needs_model = True
    primary_metric = "mean_delta"

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        results = [self.result(rec, expl, "logprob") for rec, expl in pairs]
        missing = self._missing(ctx)
        todo: list[tuple[ScoreResult, Explanation]] = []
        for result, (_, expl) in zip(results, pairs, strict=True):
            if missing:
                result.status, result.error = ScoreStatus.SKIPPED, missing
            elif not skip_unusable(result, expl):
                todo.append((result, expl))
        if not todo:
            return results
        units = sorted({r.latent for r, _ in todo})
        try:
            clean, runs = steer_latents(ctx, units)
        except (AutointerpError, RuntimeError) as exc:
            for result, _ in todo:
                result.status, result.error = ScoreStatus.FAILED, f"steering failed: {exc}"
            return results
        usable = []
        for result, expl in todo:
            cal = runs[result.latent].calibration
            if cal.kl < MIN_KL:
                result.status = ScoreStatus.FAILED
                result.error = (
                    f"steering unit {result.latent} does not change the next-token "
                    f"distribution (KL {cal.kl:.2g} at alpha {cal.alpha:.3g})"
                )
            else:
                usable.append((result, expl))
        deltas = _statement_deltas(ctx, clean, runs, usable)
        judged = _judge(ctx, clean, runs, usable)
        for (result, _), (delta, lp, n_stmt), (p_correct, errors, n_judge) in zip(
            usable, deltas, judged, strict=True
        ):
            _finish(result, runs[result.latent].calibration, delta, lp, p_correct, errors, ctx)
            # the scorer LLM's cost: statements scored + judge prompts (one answer token each)
            result.prompt_tokens = n_stmt + n_judge
            result.completion_tokens = 2 * len(clean)
        return results

    @staticmethod
    def _missing(ctx: ScoringContext) -> str | None:
        if ctx.subject is None or ctx.sae is None:
            return "the intervention scorer needs the subject model and the SAE (ctx.subject/sae)"
        if not ctx.llm.supports_logprobs:
            return f"the intervention scorer needs log-probabilities, which {ctx.llm.name} lacks"
        return None


def _statement_deltas(
    ctx: ScoringContext,
    clean: list[str],
    runs: dict[int, Steered],
    usable: list[tuple[ScoreResult, Explanation]],
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per result: (steered - clean log P(explanation) per beginning, [clean..., steered...]
    log-probabilities, prompt tokens); NaN where the LLM failed."""
    texts, spans = [], []
    for result, expl in usable:
        for body in [*clean, *runs[result.latent].texts]:
            text, start, end = statement(body, expl.text)
            texts.append(text)
            spans.append((start, end))
    try:
        scored = ctx.llm.prompt_logprobs(texts, desc=ctx.desc("scoring (intervention)"))
        lps = [
            math.nan
            if s.error
            else sum(lp for lp, off in zip(s.logprobs, s.offsets, strict=True) if a <= off < b)
            for s, (a, b) in zip(scored, spans, strict=True)
        ]
        tokens = [s.prompt_tokens for s in scored]
    except NotImplementedError:
        lps = [math.nan] * len(texts)
        tokens = [0] * len(texts)
    out = []
    n = len(clean)
    for k in range(len(usable)):
        lp = np.asarray(lps[2 * n * k : 2 * n * (k + 1)], dtype=float)
        out.append((lp[n:] - lp[:n], lp, sum(tokens[2 * n * k : 2 * n * (k + 1)])))
    return out


def _judge_prompt(explanation: str, text_a: str, text_b: str) -> Messages:
    template = load_template("scorers", InterventionScorer.prompt_version)
    return template.render(explanation=explanation, text_a=text_a, text_b=text_b)


def _judge(
    ctx: ScoringContext,
    clean: list[str],
    runs: dict[int, Steered],
    usable: list[tuple[ScoreResult, Explanation]],
) -> list[tuple[np.ndarray, list[str | None], int]]:
    """Per result: P(correct) per beginning (mean over both orders), errors, prompt tokens."""
    prompts: list[Messages] = []
    for result, expl in usable:
        for c, s in zip(clean, runs[result.latent].texts, strict=True):
            prompts += [_judge_prompt(expl.text, s, c), _judge_prompt(expl.text, c, s)]
    answers = _choose(ctx.llm, prompts, ctx.desc("judging (intervention)"))
    out = []
    n = len(clean)
    for k in range(len(usable)):
        own = answers[2 * n * k : 2 * n * (k + 1)]
        p = [(a[0] + b[1]) / 2 for a, b in zip(own[::2], own[1::2], strict=True)]
        errors = [a[2] or b[2] for a, b in zip(own[::2], own[1::2], strict=True)]
        out.append((np.asarray(p, dtype=float), errors, sum(a[3] for a in own)))
    return out


def _choose(
    llm: LLM, prompts: list[Messages], desc: str | None
) -> list[tuple[float, float, str | None, int]]:
    """(P(A), P(B), error, prompt tokens) per prompt."""
    try:
        choices = llm.choose(prompts, ["A", "B"], desc=desc)
    except NotImplementedError as exc:
        return [(math.nan, math.nan, str(exc), 0)] * len(prompts)
    return [(c.probs["A"], c.probs["B"], c.error, c.prompt_tokens) for c in choices]


def _finish(
    result: ScoreResult,
    cal: Calibration,
    delta: np.ndarray,
    lp: np.ndarray,
    p_correct: np.ndarray,
    errors: list[str | None],
    ctx: ScoringContext,
) -> None:
    n = len(delta)
    seed = ctx.seed + result.latent
    boot = ctx.cfg.n_bootstrap
    correct = np.where(np.isnan(p_correct), np.nan, (p_correct > 0.5) + 0.5 * (p_correct == 0.5))
    metrics: dict[str, Any] = {}
    metrics.update(accuracy_metrics(correct, n_bootstrap=boot, seed=seed))
    metrics.update(mean_metrics(delta, name="mean_delta", n_bootstrap=boot, seed=seed))
    labels = np.repeat([False, True], n)
    # Only AUROC is kept (the other binary metrics would need a threshold on log-probs).
    binary = binary_metrics(labels, lp, 0.0, n_bootstrap=boot, seed=seed)
    metrics.update({k: binary[k] for k in ("auroc", "auroc_ci_low", "auroc_ci_high")})
    failed = np.isnan(delta) | np.isnan(p_correct)
    metrics.update(
        n_examples=n,
        n_failed=int(failed.sum()),
        p_correct=float(np.nanmean(p_correct)) if not np.isnan(p_correct).all() else math.nan,
        steer_alpha=cal.alpha,
        steer_kl=cal.kl,
        steer_converged=cal.converged,
        steer_iterations=cal.iterations,
    )
    result.metrics = metrics
    result.judgements = [
        {
            "window": i,
            "label": True,
            "p_yes": float(p),
            "predicted": None if math.isnan(p) else bool(p > 0.5),
            "error": errors[i] or (None if not math.isnan(p) else "no probability on A/B"),
        }
        for i, p in enumerate(p_correct)
    ] + [
        {
            "window": i,
            "label": True,
            "p_yes": float(d),
            "predicted": None if math.isnan(d) else bool(d > 0),
            "error": None if not math.isnan(d) else "no log-probabilities for the statement",
        }
        for i, d in enumerate(delta)
    ]
    if failed.all():
        result.status = ScoreStatus.FAILED
        result.error = next((e for e in errors if e), "every measurement failed")
