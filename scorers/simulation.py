"""Simulation: can the scorer model predict the activations from the explanation?

After OpenAI's neuron simulator ("all at once"). The scorer model reads the explanation and
predicts, for every token of every example, the latent's activation on a 0-9 scale; the
score is the Pearson correlation of predicted and true activations over all tokens of the
held-out activating and the non-activating examples (``correlation_metrics``; its CI
resamples whole examples).

Log-prob mode (backends with ``prompt_logprobs``): one plain-text prompt per chunk of
``EXAMPLES_PER_PROMPT`` examples holds the instructions, two worked examples, the explanation
and each example as a ``<start>``...``<end>`` block with one token a line as
``token<TAB>unknown``. One forward pass scores every token: the prediction for a token is the
expected value of the distribution over the digit tokens 0-9 at its ``unknown`` (from the
top-``TOP_K`` alternatives at that position, renormalised over the digits); where no digit is
among them, the prediction is 0, as in OpenAI's simulator (the model expects no number, and
most activations are 0).

Calibration (``scoring.simulation_calibrate``, on by default): each token's prediction minus
the prediction for the same token with the content-free explanation "N/A" (contextual
calibration, as the yes/no scorers do; one more prompt per chunk, shared by every
explanation of the latent). A small scorer model's digit distribution depends mostly on the
position and the token, not on the explanation; the difference keeps what the explanation
changed. Measured with SmolLM2-135M on a digit latent (10 + 10 examples): correlation 0.26
for "numbers and digits" and -0.01 for "animals and pets" calibrated, -0.12 and -0.21
uncalibrated. Off = OpenAI's simulator as published.

The scale is 0-9, not OpenAI's 0-10: tokenizers like SmolLM2's (and Llama 3's) split numbers
into single digits, so "10" cannot be read at one position.

Generate mode (backends without log-probabilities): one chat prompt per example asks the
model to copy the block with the numbers filled in; ``parse_activations`` reads them back. An
example whose reply does not hold one number per token is failed (left out, counted).

Per-example judgement rows: ``p_yes`` is the example's highest predicted activation (0-9;
-9..9 calibrated), ``label`` whether it is an activating example; ``predicted`` is empty (no
decision is made).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autointerp.llm.base import LLM, TextLogprobs, option_probabilities
from autointerp.prompts import load_template
from autointerp.records import Example, Explanation, LatentRecord
from autointerp.statuses import ScoreStatus
from scorers.base import CONTENT_FREE, SCORERS, Scorer, ScoreResult, ScoringContext, skip_unusable
from scorers.metrics import correlation_metrics

__all__ = [
    "DIGITS",
    "EXAMPLES_PER_PROMPT",
    "TOP_K",
    "SimulationScorer",
    "build_prompt",
    "expected_values",
    "parse_activations",
]

PROMPT_VERSION = "simulation.v1"
PLACEHOLDER = "unknown"
DIGITS = tuple(str(i) for i in range(10))
TOP_K = 20
"""Alternatives read at each placeholder (the most OpenAI-style servers return)."""
EXAMPLES_PER_PROMPT = 5
"""Examples per log-prob prompt: the instructions are paid once per chunk, while the
prompt stays short enough for a small scorer model to keep the format."""


def _cell(token: str) -> str:
    return token.replace("\r", "").replace("\n", "\\n").replace("\t", " ")


def _block(example: Example) -> tuple[str, list[int]]:
    """The example's block and the offset of each placeholder in it."""
    parts, offsets, pos = ["<start>\n"], [], len("<start>\n")
    for token in example.tokens:
        line = _cell(token) + "\t"
        offsets.append(pos + len(line))
        line += PLACEHOLDER + "\n"
        parts.append(line)
        pos += len(line)
    parts.append("<end>")
    return "".join(parts), offsets


def build_prompt(explanation: str, examples: Sequence[Example]) -> tuple[str, list[list[int]]]:
    """The plain-text prompt for ``examples``, and for each example the character offset
    of each of its placeholders (one per token)."""
    about = " ".join(explanation.split())
    template = load_template("scorers", PROMPT_VERSION)
    head = template.render(explanation=about, examples="")[-1]["content"]
    text, offsets = head, []
    for i, example in enumerate(examples):
        block, own = _block(example)
        if i:
            text += "\n"
        offsets.append([len(text) + o for o in own])
        text += block
    return text, offsets


def chat_prompt(explanation: str, example: Example) -> list[dict[str, str]]:
    """Generate mode: the same text as chat (system + user) for one example."""
    template = load_template("scorers", PROMPT_VERSION)
    return template.render(explanation=" ".join(explanation.split()), examples=_block(example)[0])


def expected_values(lp: TextLogprobs, offsets: Sequence[int]) -> tuple[np.ndarray, str | None]:
    """E[digit] at each placeholder offset (0 where no digit is among the alternatives, NaN
    where the placeholder does not start a token), and the first reason one was NaN."""
    index = {o: j for j, o in enumerate(lp.offsets)}
    values = np.full(len(offsets), math.nan)
    error = lp.error
    if error:
        return values, error
    for i, offset in enumerate(offsets):
        j = index.get(offset)
        if j is None:
            error = error or f"token {i}: the placeholder does not start a token"
            continue
        pairs = [(tok, math.exp(v)) for tok, v in lp.top[j].items()]
        probs, mass = option_probabilities(pairs, DIGITS)
        values[i] = sum(int(d) * p for d, p in probs.items()) if mass > 0 else 0.0
    return values, error


_LINE = re.compile(r"(?:\t|:|=|->)\s*(\d+(?:\.\d+)?)\s*$")
_LIST = re.compile(r"^[\s\[\(]*\d+(?:\.\d+)?(?:\s*[,;\s]\s*\d+(?:\.\d+)?)*[\s\]\)\.]*$")


def parse_activations(text: str, n: int) -> list[float] | None:
    """One activation per token from a generated reply: lines ``token<TAB>number`` (also
    ``:``, ``=``, ``->``) up to ``<end>``, or a bare list of numbers; None unless there
    are exactly ``n``. Values are clipped to 0-9."""
    body = text.split("<end>", maxsplit=1)[0]
    values = [float(m.group(1)) for line in body.splitlines() if (m := _LINE.search(line))]
    if len(values) != n and _LIST.match(body.replace("<start>", "")):
        values = [float(v) for v in re.findall(r"\d+(?:\.\d+)?", body)]
    if len(values) != n:
        return None
    return [min(max(v, 0.0), 9.0) for v in values]


@dataclass
class _Pending:
    result: ScoreResult
    examples: list[Example]
    explanation: str
    predicted: list[np.ndarray]
    errors: list[str | None]


@SCORERS.register("simulation")
class SimulationScorer(Scorer):
    name = "simulation"
    prompt_version = PROMPT_VERSION
    primary_metric = "correlation"

    def score(
        self, pairs: Sequence[tuple[LatentRecord, Explanation]], ctx: ScoringContext
    ) -> list[ScoreResult]:
        cfg, llm = ctx.cfg, ctx.llm
        logprob = cfg.method == "logprob" or (cfg.method == "auto" and llm.supports_logprobs)
        results: list[ScoreResult] = []
        pending: list[_Pending] = []
        for record, expl in pairs:
            result = self.result(record, expl, "logprob" if logprob else "generate")
            results.append(result)
            if skip_unusable(result, expl):
                continue
            examples = record.score + record.nonactivating
            if (
                not record.score
                or not examples
                or not any(a > 0 for ex in examples for a in ex.acts)
            ):
                result.status = ScoreStatus.SKIPPED
                result.error = (
                    f"needs activating examples with a firing token, got {len(record.score)} "
                    "activating examples"
                )
                continue
            pending.append(_Pending(result, examples, expl.text, [], []))
        if not pending:
            return results
        if logprob:
            try:
                self._logprob(
                    llm, pending, cfg.simulation_calibrate, ctx.desc("scoring (simulation)")
                )
            except NotImplementedError as exc:
                if cfg.method == "logprob":
                    for p in pending:
                        p.result.status, p.result.error = ScoreStatus.SKIPPED, str(exc)
                    return results
                for p in pending:
                    p.result.method = "generate"
                logprob = False
        if not logprob:
            self._generate(llm, pending, ctx.desc("scoring (simulation)"))
        for p in pending:
            _finish(p, ctx)
        return results

    @staticmethod
    def _logprob(llm: LLM, pending: list[_Pending], calibrate: bool, desc: str | None) -> None:
        texts: dict[str, int] = {}
        layout: list[tuple[_Pending, list[list[int]], int, int | None]] = []
        for p in pending:
            for start in range(0, len(p.examples), EXAMPLES_PER_PROMPT):
                chunk = p.examples[start : start + EXAMPLES_PER_PROMPT]
                text, offsets = build_prompt(p.explanation, chunk)
                own = texts.setdefault(text, len(texts))
                base = None
                if calibrate:  # same examples, content-free explanation (same offsets shift)
                    base = texts.setdefault(build_prompt(CONTENT_FREE, chunk)[0], len(texts))
                layout.append((p, offsets, own, base))
        answers = llm.prompt_logprobs(list(texts), top_k=TOP_K, desc=desc)
        paid: set[int] = set()
        for p, offsets, own, base in layout:
            for i in (own, base):
                if i is not None and i not in paid:  # a shared baseline is counted once
                    paid.add(i)
                    p.result.prompt_tokens += answers[i].prompt_tokens
            shift = 0
            if base is not None:
                shift = len(build_prompt(CONTENT_FREE, [])[0]) - len(
                    build_prompt(p.explanation, [])[0]
                )
            for own_offsets in offsets:
                values, error = expected_values(answers[own], own_offsets)
                if base is not None:
                    baseline, base_error = expected_values(
                        answers[base], [o + shift for o in own_offsets]
                    )
                    values, error = values - baseline, error or base_error
                p.predicted.append(values)
                p.errors.append(error)

    @staticmethod
    def _generate(llm: LLM, pending: list[_Pending], desc: str | None) -> None:
        prompts = [chat_prompt(p.explanation, ex) for p in pending for ex in p.examples]
        longest = max(len(ex.tokens) for p in pending for ex in p.examples)
        replies = llm.generate(prompts, max_new_tokens=6 * longest + 8, temperature=0.0, desc=desc)
        it = iter(replies)
        for p in pending:
            for ex in p.examples:
                reply = next(it)
                p.result.prompt_tokens += reply.prompt_tokens
                p.result.completion_tokens += reply.completion_tokens
                parsed = None if reply.error else parse_activations(reply.text, len(ex.tokens))
                error = reply.error or (
                    None
                    if parsed is not None
                    else f"expected {len(ex.tokens)} activations, got {reply.text[:60]!r}"
                )
                p.predicted.append(
                    np.asarray(parsed, dtype=float)
                    if parsed is not None
                    else np.full(len(ex.tokens), math.nan)
                )
                p.errors.append(error)


def _finish(p: _Pending, ctx: ScoringContext) -> None:
    result = p.result
    failed = [
        e is not None or np.isnan(v).any() for v, e in zip(p.predicted, p.errors, strict=True)
    ]
    result.judgements = [
        {
            "window": ex.window,
            "label": ex.role == "score",
            "p_yes": math.nan if bad else float(np.max(v)),
            "predicted": None,
            "error": (e or "prediction failed") if bad else None,
        }
        for ex, v, e, bad in zip(p.examples, p.predicted, p.errors, failed, strict=True)
    ]
    if all(failed):
        result.status = ScoreStatus.FAILED
        result.error = next((e for e in p.errors if e), "every example failed")
        return
    predicted = [
        np.full(len(v), math.nan) if bad else v for v, bad in zip(p.predicted, failed, strict=True)
    ]
    actual = [np.asarray(ex.acts, dtype=float) for ex in p.examples]
    result.metrics = correlation_metrics(
        predicted, actual, n_bootstrap=ctx.cfg.n_bootstrap, seed=ctx.seed + result.latent
    )
