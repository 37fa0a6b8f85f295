"""The grounded explainer's reply checks: the theme a reply names (``extract_theme``) and
whether it can be stored as the latent's explanation (``check_theme``): specific, not
degenerate, not copied from the prompt, and supported by the latent's facts, lexically or
(with sentence embeddings installed) as a paraphrase closest to the latent's own facts
(``paraphrase_check``). See :mod:`autointerp.explain.grounded`."""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Sequence

import numpy as np

from autointerp.errors import AutointerpError
from autointerp.explain.facts import LatentFacts, quoted
from autointerp.explain.parse import parse_explanation

__all__ = ["check_theme", "extract_theme", "paraphrase_check", "repeats_tokens"]

log = logging.getLogger(__name__)

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


def repeats_tokens(theme: str, facts: LatentFacts) -> bool:
    """True when half or more of the theme's words are the listed tokens themselves
    (or their plurals): a list, not a category ("falsy" for true/false is a category)."""
    tokens = {w.lower() for t, _ in facts.tokens for w in _WORD.findall(t.lower())}
    tokens |= {w + "s" for w in tokens} | {w + "es" for w in tokens}
    words = [w for w in _WORD.findall(theme.lower()) if w not in _CONNECTORS]
    return 2 * sum(w in tokens for w in words) >= len(words)
