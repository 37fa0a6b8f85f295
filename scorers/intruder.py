"""Intruder: given the explanation, can the scorer model spot the example that does not fit?

Each question shows ``scoring.intruder_group`` held-out activating examples of the latent
and one intruder (a non-activating example), shuffled and numbered 1..n+1, with the
explanation, and asks which example does not match. ``scoring.intruder_questions`` questions
are asked per (latent, explanation); the examples, the intruder and the order are drawn with
a numpy Generator seeded from (seed, latent, explanation_id), so reruns ask the same ones.

Log-prob mode: P(each number) at the first answer token (``llm.choose``); the answer is the
most likely number. Likelihood mode (``scoring.method='likelihood'``, and 'auto' with the
in-process backend, as for detection): no question is asked; each shown example gets the
detection scorer's statement score (mean log-probability of "This text is about
<explanation>." after it) and the answer is the example that fits the statement least,
P(option) = softmax(-score). Generate mode: the first number 1..n+1 in a short reply (anything else
fails that question). Metric: ``accuracy_metrics`` over the questions; chance is 1/(n+1)
(0.2 with the default group of 4), not 0.5. A latent with fewer held-out activating examples
than the group size gets smaller groups (all of them).

One judgement row per question: ``window`` is the intruder's, ``label`` is always true
(every question has a right answer), ``p_yes`` is P(correct) (1/0 in generate mode) and
``predicted`` whether the answer was right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autointerp.llm.base import LLM, Messages
from autointerp.prompts import load_template
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.statuses import ScoreStatus
from scorers.base import (
    SCORERS,
    Scorer,
    ScoreResult,
    ScoringContext,
    skip_unusable,
    statement_likelihoods,
)
from scorers.detection import DetectionScorer, plain_text
from scorers.metrics import accuracy_metrics

__all__ = ["IntruderScorer", "Question", "parse_choice"]


@dataclass(frozen=True)
class Question:
    examples: tuple[Example, ...]
    """The shown examples, in the order shown (numbered from 1)."""
    intruder: int
    """0-based position of the intruder in ``examples``."""
    messages: Messages

    @property
    def options(self) -> list[str]:
        return [str(i + 1) for i in range(len(self.examples))]


def parse_choice(text: str, n: int) -> int | None:
    """The 0-based choice named by the first number in ``text`` when it is in 1..n."""
    match = re.search(r"\d+", text)
    if match is None or not 1 <= int(match.group()) <= n:
        return None
    return int(match.group()) - 1


@dataclass(frozen=True)
class _Answer:
    probs: list[float]
    """P(each option), NaN when the answer failed; one-hot in generate mode."""
    error: str | None
    prompt_tokens: int
    completion_tokens: int


@SCORERS.register("intruder")
class IntruderScorer(Scorer):
    name = "intruder"
    prompt_version = "intruder.v1"
    primary_metric = "accuracy"

    def questions(
        self, record: LatentRecord, explanation: Explanation, group: int, n: int, seed: int
    ) -> list[Question]:
        rng = np.random.default_rng([seed, record.latent, explanation.explanation_id, 11])
        template = load_template("scorers", self.prompt_version)
        size = min(group, len(record.score))
        out = []
        for _ in range(n):
            chosen = [record.score[i] for i in rng.choice(len(record.score), size, replace=False)]
            intruder = record.nonactivating[int(rng.integers(len(record.nonactivating)))]
            position = int(rng.integers(size + 1))
            shown = (*chosen[:position], intruder, *chosen[position:])
            lines = "\n".join(f"{i + 1}. {plain_text(ex)}" for i, ex in enumerate(shown))
            messages = template.render(explanation=explanation.text, examples=lines)
            out.append(Question(shown, position, messages))
        return out

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        """Every question of every pair in one batched call to the LLM."""
        cfg, llm = ctx.cfg, ctx.llm
        detection = DetectionScorer()
        method = detection.method(cfg, llm)
        logprob = method == "logprob"
        results: list[ScoreResult] = []
        pending: list[tuple[ScoreResult, list[Question]]] = []
        explained: list[Explanation] = []
        for record, expl in pairs:
            result = self.result(record, expl, method)
            results.append(result)
            if skip_unusable(result, expl):
                continue
            if not record.score or not record.nonactivating:
                result.status = ScoreStatus.SKIPPED
                result.error = (
                    f"needs activating examples and a non-activating intruder, got "
                    f"{len(record.score)} activating and {len(record.nonactivating)} "
                    "non-activating"
                )
                continue
            if cfg.intruder_group < 1 or cfg.intruder_questions < 1:
                result.status = ScoreStatus.SKIPPED
                result.error = (
                    "scoring.intruder_group and scoring.intruder_questions must be >= 1, got "
                    f"{cfg.intruder_group} and {cfg.intruder_questions}"
                )
                continue
            questions = self.questions(
                record, expl, cfg.intruder_group, cfg.intruder_questions, ctx.seed
            )
            pending.append((result, questions))
            explained.append(expl)
        all_questions = [q for _, qs in pending for q in qs]
        desc = ctx.desc("scoring (intruder)")
        if method == "likelihood":
            texts = [e.text for (_, qs), e in zip(pending, explained, strict=True) for _ in qs]
            answers = _ask_likelihood(llm, detection, all_questions, texts, desc)
        else:
            answers = _ask(llm, all_questions, logprob, desc)
        start = 0
        for result, questions in pending:
            _finish(result, questions, answers[start : start + len(questions)], ctx)
            start += len(questions)
        return results


def _ask_likelihood(
    llm: LLM,
    detection: DetectionScorer,
    questions: list[Question],
    explanations: list[str],
    desc: str | None,
) -> list[_Answer]:
    """Each distinct (explanation, example) statement scored once; softmax(-score)."""
    keys: dict[tuple[str, int], int] = {}
    texts: list[tuple[str, int]] = []
    for q, expl in zip(questions, explanations, strict=True):
        for ex in q.examples:
            if (expl, ex.window) not in keys:
                keys[(expl, ex.window)] = len(texts)
                texts.append(detection.statement(expl, plain_text(ex)))
    scores = statement_likelihoods(llm, texts, desc)
    seen: set[int] = set()
    out = []
    for q, expl in zip(questions, explanations, strict=True):
        idx = [keys[(expl, ex.window)] for ex in q.examples]
        values = np.asarray([scores[i].p for i in idx])
        error = next((scores[i].error for i in idx if scores[i].error), None)
        if error or np.isnan(values).any():
            probs = [math.nan] * len(idx)
        else:
            weights = np.exp(-(values - values.min()))
            probs = (weights / weights.sum()).tolist()
        tokens = sum(scores[i].prompt_tokens for i in idx if i not in seen)
        seen.update(idx)  # each statement's tokens are counted once
        out.append(_Answer(probs, error, tokens, 0))
    return out


def _ask(llm: LLM, questions: list[Question], logprob: bool, desc: str | None) -> list[_Answer]:
    if not questions:
        return []
    out: list[_Answer] = []
    if logprob:
        # choose() takes one option list per call: group the questions by their size
        sizes = sorted({len(q.examples) for q in questions})
        by_index: dict[int, _Answer] = {}
        for size in sizes:
            idx = [i for i, q in enumerate(questions) if len(q.examples) == size]
            options = questions[idx[0]].options
            choices = llm.choose([questions[i].messages for i in idx], options, desc=desc)
            for i, c in zip(idx, choices, strict=True):
                probs = [c.probs.get(o, math.nan) for o in options]
                error = c.error or (None if not any(map(math.isnan, probs)) else "no answer")
                by_index[i] = _Answer(probs, error, c.prompt_tokens, 1)
        return [by_index[i] for i in range(len(questions))]
    replies = llm.generate(
        [q.messages for q in questions], max_new_tokens=4, temperature=0.0, desc=desc
    )
    for q, reply in zip(questions, replies, strict=True):
        n = len(q.examples)
        choice = None if reply.error else parse_choice(reply.text, n)
        probs = [math.nan] * n if choice is None else [float(i == choice) for i in range(n)]
        error = reply.error or (
            None if choice is not None else f"no number 1-{n} in {reply.text[:40]!r}"
        )
        out.append(_Answer(probs, error, reply.prompt_tokens, reply.completion_tokens))
    return out


def _finish(
    result: ScoreResult, questions: list[Question], answers: list[_Answer], ctx: ScoringContext
) -> None:
    result.prompt_tokens = sum(a.prompt_tokens for a in answers)
    result.completion_tokens = sum(a.completion_tokens for a in answers)
    correct: list[float] = []
    for q, a in zip(questions, answers, strict=True):
        failed = a.error is not None or any(map(math.isnan, a.probs))
        right = math.nan if failed else float(int(np.argmax(a.probs)) == q.intruder)
        correct.append(right)
        result.judgements.append(
            {
                "window": q.examples[q.intruder].window,
                "label": True,
                "p_yes": math.nan if failed else a.probs[q.intruder],
                "predicted": None if failed else bool(right),
                "error": (a.error or "no answer") if failed else None,
            }
        )
    if all(math.isnan(c) for c in correct):
        result.status = ScoreStatus.FAILED
        result.error = next((a.error for a in answers if a.error), "every question failed")
        return
    result.metrics = accuracy_metrics(
        np.asarray(correct), n_bootstrap=ctx.cfg.n_bootstrap, seed=ctx.seed + result.latent
    )
