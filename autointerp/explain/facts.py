"""Per-latent facts an explanation can be checked against, computed from the explainer's own
examples (never the held-out scoring examples) and, when the subject model and the SAE are
at hand, the decoder's logit lens.

* ``tokens``: the tokens where the latent fires strongly (at least half of the example's
  peak), grouped case- and space-insensitively, with their share of those firings;
* ``before``: the tokens just before those firings, with their shares;
* ``contexts``: short snippets around the peak of the strongest examples;
* ``promoted``: the tokens the latent's decoder direction promotes most (logit lens).

``stats_phrase`` turns the facts into a deterministic explanation (the ``stats``
explainer, and the grounded explainer's fallback).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from autointerp.records import Example, LatentRecord

__all__ = [
    "LatentFacts",
    "compute_facts",
    "display_token",
    "distinct_tokens",
    "listed",
    "shared_form",
    "stats_phrase",
    "token_key",
]

STRONG = 0.5
"""A firing counts as strong at this fraction of its example's peak or more."""
MIN_SHARE = 0.03
"""Tokens below this share of the strong firings are not listed."""
N_TOKENS = 5
DOMINANT_BEFORE = 0.5
"""A preceding token is named in the stats phrase when at least this share precedes."""

_SPACE_NAMES = {"\n": "newline", "\t": "tab", " ": "space"}


def token_key(token: str) -> str:
    """Tokens that count as the same word: case, surrounding spaces and the tokenizer's
    word-start markers do not matter."""
    key = token.replace("Ġ", " ").replace("▁", " ").strip().lower()
    return key or token


def display_token(token: str) -> str:
    """A token as a reader sees it in a list: stripped, whitespace by name."""
    text = token.replace("Ġ", " ").replace("▁", " ").strip()
    if text:
        return text
    if "\n" in token:
        return "newline"
    return _SPACE_NAMES.get(token[:1], repr(token))


@dataclass(frozen=True)
class LatentFacts:
    latent: int
    tokens: tuple[tuple[str, float], ...]
    """(token, share of the strong firings), most frequent first."""
    before: tuple[tuple[str, float], ...]
    """(token just before a strong firing, share), most frequent first."""
    contexts: tuple[str, ...]
    """Snippets around the strongest examples' peaks, the peak token marked << >>."""
    promoted: tuple[str, ...] = ()
    """Tokens the decoder direction promotes most (empty without the model and the SAE)."""
    n_firings: int = 0

    def words(self) -> set[str]:
        """Lower-case words of every listed token, preceding token and promoted token."""
        items = [t for t, _ in self.tokens] + [t for t, _ in self.before] + list(self.promoted)
        return {w for item in items for w in _WORD.findall(item.lower())}


_WORD = re.compile(r"[a-z0-9]+")


def _ranked(counts: Counter[str], surface: dict[str, Counter[str]]) -> list[tuple[str, float]]:
    total = sum(counts.values())
    if not total:
        return []
    out: list[tuple[str, float]] = []
    for key, n in counts.most_common():
        share = n / total
        if share < MIN_SHARE and out:
            break
        out.append((surface[key].most_common(1)[0][0], share))
    return out


def _snippet(example: Example, before: int = 6, after: int = 2) -> str:
    peak = max(range(len(example.acts)), key=lambda i: example.acts[i])
    lo, hi = max(0, peak - before), min(len(example.tokens), peak + after + 1)
    parts = list(example.tokens[lo:hi])
    parts[peak - lo] = f"<<{parts[peak - lo]}>>"
    return "".join(parts).replace("\n", " ").strip()


def compute_facts(
    record: LatentRecord, promoted: Sequence[str] = (), n_contexts: int = 3
) -> LatentFacts:
    """The facts of one latent from its explainer examples (``record.explain``)."""
    tokens: Counter[str] = Counter()
    before: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = {}
    n_firings = 0
    for ex in record.explain:
        peak = ex.max_act
        if peak <= 0:
            continue
        for i, (tok, act) in enumerate(zip(ex.tokens, ex.acts, strict=True)):
            if act < STRONG * peak:
                continue
            n_firings += 1
            key = token_key(tok)
            tokens[key] += 1
            surface.setdefault(key, Counter())[display_token(tok)] += 1
            if i > 0:
                prev = token_key(ex.tokens[i - 1])
                before[prev] += 1
                surface.setdefault(prev, Counter())[display_token(ex.tokens[i - 1])] += 1
    strongest = sorted((ex for ex in record.explain if ex.max_act > 0), key=lambda e: -e.max_act)
    return LatentFacts(
        latent=record.latent,
        tokens=tuple(_ranked(tokens, surface)[:8]),
        before=tuple(_ranked(before, surface)[:5]),
        contexts=tuple(_snippet(ex) for ex in strongest[:n_contexts]),
        promoted=tuple(display_token(t) for t in promoted),
        n_firings=n_firings,
    )


def quoted(items: Sequence[str]) -> str:
    return ", ".join(f'"{t}"' for t in items)


def listed(items: Sequence[str]) -> str:
    """Items as a reader's list: words and numbers bare, anything else (symbols, spaces,
    mixed tokens) in quotes (single quotes around a double quote)."""
    return ", ".join(_listed(t) for t in items)


def _listed(token: str) -> str:
    if token.isalnum():
        return token
    if '"' in token and "'" not in token:
        return f"'{token}'"
    return f'"{token}"'


def _variants(token: str) -> set[str]:
    """The word, its singular when it looks plural, and its plurals."""
    word = token.lower()
    out = {word, word + "s", word + "es"}
    for ending in ("es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            out.add(word[: -len(ending)])
    return out


def distinct_tokens(facts: LatentFacts, n: int = N_TOKENS) -> list[str]:
    """The top firing tokens, one per word (a plural after its singular is skipped), so the
    list names as many different words as it can."""
    seen: set[str] = set()
    out: list[str] = []
    for token, _ in facts.tokens:
        if token.lower() in seen:
            continue
        seen |= _variants(token)
        out.append(token)
        if len(out) == n:
            break
    return out


FORM_SHARE = 0.8
"""A form (numbers, punctuation, a suffix, ...) is named when the tokens that have it hold at
least this share of the listed tokens' firings."""
_SUFFIXES = ("ing", "ed", "ly", "tion", "ment", "ness")
"""Endings that mark a word class (a shared "-er" or "-s" is usually a coincidence)."""
_NAMED_SPACE = {"newline", "tab", "space"}
_GENERAL = "punctuation and symbols"
_SYMBOLS = (
    ("opening brackets", "([{"),
    ("closing brackets", ")]}"),
    ("quotation marks", "\"'`"),
    ("operators", "=<>!+-*/%&|^~"),
)
"""Kinds of symbol tokens, by their first character (trailing punctuation allowed)."""


def _forms(token: str) -> set[str]:
    """The surface forms one display token has."""
    word = token.strip()
    out = set()
    if token in _NAMED_SPACE:
        out.add("whitespace")
    elif word and all(not c.isalnum() for c in word):
        out.add(_GENERAL)
        for name, chars in _SYMBOLS:
            if word[0] in chars and all(c in chars or c in ".,;:" for c in word):
                out.add(name)
    elif word.replace(".", "", 1).replace(",", "").isdigit():
        out.add("numbers")
    elif word.isalpha():
        if word[0].isupper() and not word.isupper():
            out.add("capitalized words")
        if len(word) >= 4:
            for suffix in _SUFFIXES:
                if word.lower().endswith(suffix) and len(word) - len(suffix) >= 2:
                    out.add(f'words ending in "-{suffix}"')
                    break
    return out


def shared_form(facts: LatentFacts) -> str | None:
    """The surface form (numbers, brackets, quotation marks, operators, other punctuation and
    symbols, whitespace, capitalized words, words ending in a suffix) that the listed firing
    tokens share, by ``FORM_SHARE`` of their firings and at least two distinct tokens; None
    when they share none."""
    listed = facts.tokens[:8]
    total = sum(s for _, s in listed)
    if total <= 0 or len(listed) < 2:
        return None
    weight: dict[str, float] = {}
    count: Counter[str] = Counter()
    for token, share in listed:
        for form in _forms(token):
            weight[form] = weight.get(form, 0.0) + share
            count[form] += 1
    found = [f for f, w in weight.items() if w >= FORM_SHARE * total and count[f] >= 2]
    if len(found) > 1 and _GENERAL in found:  # a named kind of symbol says more
        found.remove(_GENERAL)
    return max(found, key=lambda f: weight[f]) if found else None


def stats_phrase(facts: LatentFacts) -> str:
    """A deterministic explanation from the facts: the top firing tokens as a list (one per
    word; under a form such as numbers or words ending in "-ed" when they share one), and
    the token before them when one dominates. Empty when the latent never fired strongly."""
    if not facts.tokens:
        return ""
    top = distinct_tokens(facts)
    form = shared_form(facts)
    if facts.tokens[0][1] >= 0.8 or len(top) == 1:
        phrase = f'the token "{top[0]}"'
    elif form is not None:  # its examples are tokens of that form
        phrase = f"{form} such as {listed([t for t in top if form in _forms(t)])}"
    else:
        phrase = listed(top)
    if facts.before and facts.before[0][1] >= DOMINANT_BEFORE:
        phrase += f' after "{facts.before[0][0]}"'
    return phrase
