"""The grounded explainer (the default) and the no-LLM ``stats`` explainer.

Both start from the latent's facts (``facts.compute_facts``: its strongest firing tokens with
their shares, the tokens before them, snippets, and the decoder's promoted tokens when the
subject model and the SAE are at hand). ``stats`` states the facts as an explanation; it is
the baseline every LLM explainer must beat on ``make bench-quality``.

``grounded`` gives the facts and the examples to the LLM and asks for the common category.
The reply is checked (``themes.check_theme``) before it is stored:

* **specific**: after generic words ("pattern", "token", "neuron", ...) something is left;
* **not degenerate**: no word repeated ("a token that is a token that is ...");
* **not copied** from the prompt's instructions or an excerpt (no << >> marks);
* **supported**: it names something the facts hold (a word sharing its stem with a listed
  token, a preceding token or a promoted token), or it paraphrases them: with
  sentence embeddings installed, the latent's own facts are the closest to the reply among
  every latent of the call and a fixed set of unrelated token lists.

A theme that mostly repeats the listed tokens adds nothing, and the statistics phrase is
stored instead. An accepted theme is stored with its evidence (``theme (e.g. "a", "b", "c")``) as
``generated:grounded``; a rejected or unparsable reply is replaced by the statistics phrase,
stored as ``generated:stats`` with the reply in ``raw`` and the reason in ``error``, so no
boilerplate is stored as a generated explanation. A failed LLM call stays ``llm_error`` (a
rerun repairs it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from autointerp.errors import AutointerpError, LLMResponseError
from autointerp.explain.base import EXPLAINERS, ExplainContext, Explainer
from autointerp.explain.default import format_example
from autointerp.explain.facts import (
    LatentFacts,
    compute_facts,
    distinct_tokens,
    listed,
    quoted,
    stats_phrase,
)
from autointerp.explain.themes import check_theme, extract_theme, paraphrase_check, repeats_tokens
from autointerp.llm.base import Completion, Messages
from autointerp.prompts import load_template
from autointerp.records import Explanation, LatentRecord
from autointerp.statuses import ExplanationStatus

__all__ = ["GroundedExplainer", "StatsExplainer", "promoted_tokens"]

log = logging.getLogger(__name__)

N_PROMOTED = 5
N_PROMPT_EXAMPLES = 4
N_EVIDENCE = 3


def _evidence(facts: LatentFacts) -> str:
    tokens = distinct_tokens(facts, N_EVIDENCE)
    text = f"(e.g. {listed(tokens)})" if tokens else ""
    if facts.before and facts.before[0][1] >= 0.5:
        text += f' after "{facts.before[0][0]}"'
    return text


def _stats_row(
    record: LatentRecord, facts: LatentFacts, reply: Completion | None, reason: str | None
) -> Explanation:
    text = stats_phrase(facts)
    status = ExplanationStatus.OK if text else ExplanationStatus.UNPARSABLE
    error = None
    if reason is not None:
        error = f"LLM reply rejected ({reason}); explanation built from the statistics"
    if not text:
        error = "the latent never fired strongly in its examples"
    return Explanation(
        latent=record.latent,
        explanation_id=0,
        text=text,
        source="generated:stats",
        status=status,
        error=error,
        raw=reply.text if reply else "",
        prompt_tokens=reply.prompt_tokens if reply else 0,
        completion_tokens=reply.completion_tokens if reply else 0,
    )


def promoted_tokens(latents: Sequence[int], subject: Any, sae: Any) -> dict[int, list[str]]:
    """The decoder's ``N_PROMOTED`` most promoted tokens per latent (logit lens); {} for a
    decoder the logit lens cannot read."""
    from autointerp.steering.generation import logit_lens

    out: dict[int, list[str]] = {}
    try:
        for latent in latents:
            promoted, _ = logit_lens(subject, sae, latent, N_PROMOTED)
            out[int(latent)] = [t for t, _ in promoted]
    except (AutointerpError, RuntimeError, ValueError) as exc:  # odd decoders: go without
        log.warning("grounded explainer: no logit lens (%s)", exc)
        return {}
    return out


def _promoted(records: Sequence[LatentRecord], ctx: ExplainContext) -> dict[int, list[str]]:
    """The promoted tokens the context carries, else computed when the model and the SAE
    are at hand, else none."""
    if ctx.promoted is not None:
        return ctx.promoted
    if ctx.subject is None or ctx.sae is None:
        return {}
    return promoted_tokens([r.latent for r in records], ctx.subject, ctx.sae)


def all_facts(records: Sequence[LatentRecord], ctx: ExplainContext) -> list[LatentFacts]:
    promoted = _promoted(records, ctx)
    return [compute_facts(r, promoted.get(r.latent, ())) for r in records]


@EXPLAINERS.register("stats")
class StatsExplainer(Explainer):
    """No LLM: the latent's most frequent strong firing tokens (and the token before them
    when one dominates). The baseline of ``make bench-quality``."""

    name = "stats"
    prompt_version = "stats.v1"

    def prompt(self, record: LatentRecord) -> Messages:
        return []

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        return [_stats_row(r, compute_facts(r), None, None) for r in records]


@EXPLAINERS.register("grounded")
class GroundedExplainer(Explainer):
    name = "grounded"
    prompt_version = "grounded.v1"
    uses_logit_lens = True

    def render(self, record: LatentRecord, facts: LatentFacts) -> Messages:
        lines = []
        if facts.tokens:
            shares = ", ".join(f'"{t}" {round(100 * s)}%' for t, s in facts.tokens[:6])
            lines.append(f"The neuron fires most strongly on: {shares}.")
        if facts.before:
            shares = ", ".join(f'"{t}" {round(100 * s)}%' for t, s in facts.before[:4])
            lines.append(f"The tokens just before them: {shares}.")
        if facts.promoted:
            lines.append(
                f"When it fires, it makes these next tokens likelier: {quoted(facts.promoted)}."
            )
        top = sorted(record.explain, key=lambda ex: -ex.max_act)[:N_PROMPT_EXAMPLES]
        examples = [
            format_example(i, ex, record.max_act, self.cfg.show_activations)
            for i, ex in enumerate(top, start=1)
        ]
        words = quoted([t for t, _ in facts.tokens[:5]]) or "marked"
        return load_template("autointerp.explain", self.prompt_version).render(
            facts="\n".join(lines), examples="\n".join(examples), words=words
        )

    def prompt(self, record: LatentRecord) -> Messages:
        return self.render(record, compute_facts(record))

    def _instructions(self) -> str:
        template = load_template("autointerp.explain", self.prompt_version)
        return " ".join(text for _, text in template.messages)

    def explain(self, records: Sequence[LatentRecord], ctx: ExplainContext) -> list[Explanation]:
        if not records:
            return []
        facts = all_facts(records, ctx)
        replies = ctx.llm.generate(
            [self.render(r, f) for r, f in zip(records, facts, strict=True)],
            max_new_tokens=ctx.llm_cfg.max_new_tokens,
            temperature=ctx.llm_cfg.temperature,
            desc=ctx.desc("explaining"),
        )
        instructions = self._instructions()
        themes = []
        for reply in replies:
            try:
                themes.append(extract_theme(reply.text))
            except LLMResponseError:
                continue
        similar = paraphrase_check(facts, themes)
        out = []
        for record, fact, reply in zip(records, facts, replies, strict=True):
            out.append(self._row(record, fact, reply, instructions, similar))
        return out

    def _row(
        self,
        record: LatentRecord,
        facts: LatentFacts,
        reply: Completion,
        instructions: str,
        similar: Callable[[str, LatentFacts], bool] | None,
    ) -> Explanation:
        if reply.error:
            return Explanation(
                record.latent,
                0,
                "",
                f"generated:{self.name}",
                status=ExplanationStatus.LLM_ERROR,
                error=reply.error,
                raw=reply.text,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
            )
        try:
            theme = extract_theme(reply.text)
        except LLMResponseError as exc:
            return _stats_row(record, facts, reply, f"unparsable: {exc}")
        reason = check_theme(theme, facts, instructions, similar=similar)
        if reason is not None:
            return _stats_row(record, facts, reply, reason)
        if repeats_tokens(theme, facts):
            return _stats_row(record, facts, reply, "only repeats the tokens")
        return Explanation(
            latent=record.latent,
            explanation_id=0,
            text=f"{theme} {_evidence(facts)}".strip(),
            source=f"generated:{self.name}",
            raw=reply.text,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
        )
