"""The grounded explainer (the default) and the no-LLM ``stats`` explainer.

Both start from the latent's facts (``facts.compute_facts``: its strongest firing tokens with
their shares, the tokens before them, snippets, and the decoder's promoted tokens when the
subject model and the SAE are at hand). ``stats`` states the facts as an explanation; it is
the baseline every LLM explainer must beat on ``make bench-quality``.

``grounded`` gives the facts and the examples to the LLM and asks for the common category.
The reply is checked (``check_theme``) before it is stored:

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

import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

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
from autointerp.explain.parse import parse_explanation
from autointerp.llm.base import Completion, Messages
from autointerp.prompts import load_template
from autointerp.records import Explanation, LatentRecord

__all__ = ["GroundedExplainer", "StatsExplainer", "check_theme", "extract_theme"]

log = logging.getLogger(__name__)

N_PROMOTED = 5
N_PROMPT_EXAMPLES = 4
N_EVIDENCE = 3
MIN_SIMILARITY = 0.2
"""A paraphrase must be at least this close (cosine) to the latent's own facts."""

GENERIC = frozenset(
    [
        "pattern",
        "patterns",
        "neuron",
        "neurons",
        "token",
        "tokens",
        "word",
        "words",
        "example",
        "examples",
        "excerpt",
        "excerpts",
        "marked",
        "mark",
        "text",
        "texts",
        "common",
        "commonly",
        "thing",
        "things",
        "category",
        "categories",
        "type",
        "types",
        "kind",
        "kinds",
        "specific",
        "various",
        "different",
        "certain",
        "particular",
        "behavior",
        "behaviour",
        "sequence",
        "sequences",
        "set",
        "sets",
        "list",
        "lists",
        "group",
        "groups",
        "part",
        "parts",
        "use",
        "used",
        "using",
        "usage",
        "language",
        "feature",
        "features",
        "concept",
        "concepts",
        "element",
        "elements",
        "item",
        "items",
        "form",
        "forms",
        "related",
        "relate",
        "similar",
        "same",
        "context",
        "contexts",
        "sentence",
        "sentences",
        "phrase",
        "phrases",
        "term",
        "terms",
    ]
)
STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "and",
        "or",
        "but",
        "with",
        "by",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "they",
        "their",
        "them",
        "there",
        "which",
        "who",
        "what",
        "when",
        "where",
        "how",
        "all",
        "any",
        "some",
        "each",
        "every",
        "other",
        "such",
        "than",
        "then",
        "so",
        "not",
        "no",
        "nor",
        "into",
        "onto",
        "about",
        "over",
        "under",
        "between",
        "both",
        "either",
        "neither",
        "one",
        "two",
        "also",
        "only",
        "just",
        "very",
        "more",
        "most",
        "much",
        "many",
        "few",
        "often",
        "usually",
        "like",
        "e",
        "g",
        "eg",
        "i",
        "ie",
        "etc",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "can",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "will",
        "would",
    ]
)
BACKGROUND = (
    '"the", "a", "an"',
    '"and", "or", "but"',
    '"is", "was", "are"',
    '"in", "on", "at"',
    '"he", "she", "they"',
    '".", ",", ";"',
    '"(", ")", "["',
    '"0", "1", "2"',
    '"def", "class", "return"',
    '"file", "path", "directory"',
    '"error", "exception", "raise"',
    '"January", "March", "May"',
    '"red", "green", "blue"',
    '"mother", "father", "sister"',
    '"can", "should", "must"',
    '"walked", "created", "returned"',
)
"""Unrelated token lists a paraphrase must not match better than the latent's own facts
(so that a call with one latent is still checked)."""

_WORD = re.compile(r"[a-z0-9]+")
_CATEGORY = re.compile(
    r"\bcategor(?:y|ies)\s+(?:of\s+|called\s+|named\s+)?(?:the\s+)?[\"“']?([^\"“”'\n.;()]{2,60})",
    re.IGNORECASE,
)
_RELATED = re.compile(
    r"\b(?:are all related to|all relate to|are related to|related to|refer to|are all|are)"
    r"\s+[\"“']?"
    r"([^\"“”'\n.;()]{2,60})",
    re.IGNORECASE,
)


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP and w not in GENERIC]


def _stem(word: str) -> str:
    return word[:4] if len(word) > 4 else word


def extract_theme(reply: str) -> str:
    """The category named in a reply ('... belong to the category of "family"' -> 'family');
    otherwise the parsed explanation. Raises LLMResponseError when there is none."""
    labelled = re.search(r"explanation\s*:", reply, re.IGNORECASE)
    text = reply[labelled.end() :] if labelled else reply
    for pattern in (_CATEGORY, _RELATED):
        found = pattern.search(text)
        if found and _content(found.group(1)):
            theme = found.group(1).strip(" \t\"'“”`*,:-")
            return " ".join(theme.split()[:10])
    return parse_explanation(text if labelled else reply)


def _degenerate(theme: str) -> bool:
    words = _WORD.findall(theme.lower())
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(grams) != len(set(grams)):
        return True
    content = [w for w in words if w not in STOP]
    return len(content) != len(set(content))


def _facts_text(facts: LatentFacts) -> str:
    return quoted([t for t, _ in facts.tokens[:5]])


def check_theme(
    theme: str,
    facts: LatentFacts,
    instructions: str,
    *,
    similar: Callable[[str, LatentFacts], bool] | None = None,
) -> str | None:
    """Why ``theme`` cannot be stored as the latent's explanation, or None when it can."""
    if "<<" in theme or ">>" in theme:
        return "copies an excerpt"
    content = _content(theme)
    if not content:
        return "generic (names nothing specific)"
    if _degenerate(theme):
        return "repetitive"
    told = set(_WORD.findall(instructions.lower()))
    if len(theme.split()) >= 3 and all(w in told for w in content):
        return "copies the prompt"
    known = {_stem(w) for w in facts.words() if len(w) >= 2}
    if any(_stem(w) in known for w in content):
        return None
    if similar is not None and similar(theme, facts):
        return None
    return "not supported by the latent's statistics"


def _embedder() -> Callable[[Sequence[str]], np.ndarray] | None:
    """The sentence embedder when installed (optional dependency), else None."""
    if any(importlib.util.find_spec(m) is None for m in ("sentence_transformers",)):
        return None
    try:
        from autointerp.sampling.embed import minilm_embedder

        return minilm_embedder()
    except (AutointerpError, ImportError, OSError) as exc:  # pragma: no cover - install issue
        log.warning("grounded explainer: no sentence embedder (%s); lexical check only", exc)
        return None


def paraphrase_check(
    all_facts: Sequence[LatentFacts], themes: Sequence[str] = ()
) -> Callable[[str, LatentFacts], bool] | None:
    """``similar(theme, facts)``: True when ``facts`` are the closest to ``theme`` among all
    latents of the call and ``BACKGROUND`` (ties within 0.02 allowed), at ``MIN_SIMILARITY``
    or more. ``themes`` are embedded together up front (one batch, not one call each). None
    without sentence embeddings."""
    embed = _embedder()
    if embed is None:
        return None
    texts = [_facts_text(f) for f in all_facts]
    unique = sorted(set(themes))
    vectors = embed(texts + unique)
    facts_vectors = np.concatenate([vectors[: len(texts)], _background(embed)])
    known = dict(zip(unique, vectors[len(texts) :], strict=True))
    index = {f.latent: i for i, f in enumerate(all_facts)}

    def similar(theme: str, facts: LatentFacts) -> bool:
        vector = known[theme] if theme in known else embed([theme])[0]
        sims = facts_vectors @ vector
        own = float(sims[index[facts.latent]])
        others = np.delete(sims, index[facts.latent])
        return own >= MIN_SIMILARITY and own >= float(others.max(initial=-1.0)) - 0.02

    return similar


_BACKGROUND_VECTORS: list[np.ndarray] = []


def _background(embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    """``BACKGROUND``'s embeddings, computed once per process."""
    if not _BACKGROUND_VECTORS:
        _BACKGROUND_VECTORS.append(embed(list(BACKGROUND)))
    return _BACKGROUND_VECTORS[0]


_CONNECTORS = {"and", "or", "the", "a", "an", "of", "e", "g"}


def _repeats_tokens(theme: str, facts: LatentFacts) -> bool:
    """True when half or more of the theme's words are the listed tokens themselves
    (or their plurals): a list, not a category ("falsy" for true/false is a category)."""
    tokens = {w.lower() for t, _ in facts.tokens for w in _WORD.findall(t.lower())}
    tokens |= {w + "s" for w in tokens} | {w + "es" for w in tokens}
    words = [w for w in _WORD.findall(theme.lower()) if w not in _CONNECTORS]
    return 2 * sum(w in tokens for w in words) >= len(words)


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
    status = "ok" if text else "unparsable"
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
                status="llm_error",
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
        if _repeats_tokens(theme, facts):
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
