"""Turn an LLM's free-form reply into an explanation phrase, robustly: small models ignore
formats, repeat the prompt, wrap answers in quotes or markdown, answer with a list under a
lead-in line ("The marked words are:"), or refuse."""

from __future__ import annotations

import re

from autointerp.errors import LLMResponseError

__all__ = ["parse_explanation"]

MAX_WORDS = 30
MAX_ITEMS = 6
# "Explanation:", or OpenAI neuron-explainer style "Explanation of neuron 3 behavior:"
_LABEL = re.compile(
    r"(?:^|\n)[ \t*_#>-]*explanation(?: of (?:neuron|feature|latent)[ \t]*\d*[ \t]*"
    r"behaviou?r)?[ \t*_]*[:\-][ \t]*",
    re.IGNORECASE,
)
# "... the main thing this neuron does is find X" (token_pairs explainer) -> "X"
_MAIN_THING = re.compile(
    r"\bthe main thing (?:this|the) (?:neuron|feature|latent) does is (?:to )?"
    r"(?:find|look for|detect|respond to)\b[ \t:]*",
    re.IGNORECASE,
)
# "This neuron looks for X", "The neuron finds X" -> "X"
_NEURON_VERB = re.compile(
    r"^(?:this|the) (?:neuron|feature|latent) (?:mainly |mostly )?(?:finds|looks for|"
    r"detects|responds to|fires on|activates on)\b[ \t:]*",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"^(i'?m sorry|i am sorry|i can'?t|i cannot|as an ai|i'?m unable|i am unable)", re.IGNORECASE
)
# "The marked tokens have in common: ...", "The word or symbol that is marked is ..."
_LEAD_IN = re.compile(
    r"^(?:the |these )?(?:\w+ ){0,3}?(?:words?|tokens?|symbols?|neurons?)\b[^.:\"]{0,60}?"
    r"\b(?:is|are|have in common|appear to be|include)\b[ :]*",
    re.IGNORECASE,
)
# "The marked tokens have a common thread: they are ..." -> "they are ..."
_LEAD_COLON = re.compile(
    r"^(?:the |these )?(?:\w+ ){0,3}?(?:words?|tokens?|symbols?)\b[^.:\"]{0,60}?:\s+(?=\S)",
    re.IGNORECASE,
)
_LEFTOVER = re.compile(
    r"^(?:marked|most often|that)\b[^.:\"]{0,30}?\b(?:is|are)\b[ :]*", re.IGNORECASE
)
_QUOTED = re.compile(r"[\"“]([^\"“”\n]{1,40})[\"”]")
_EMPHASIS = re.compile(r"\*\*|__|`|<<|>>")
# "Pattern: the tokens ..." (a markdown list label) -> "the tokens ..."
_LABEL_PREFIX = re.compile(r"^[\w -]{1,30}:\s+(?=\S)")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_STRIP = " \t*_`#>-•\"'“”‘’"


def _clean(text: str) -> str:
    return text.strip().strip(_STRIP).strip()


def _items(values: list[str]) -> str:
    """List items -> 'a, b, c'; when the items are sentences, the first one alone."""
    items = []
    for raw in values[:MAX_ITEMS]:
        text = _LABEL_PREFIX.sub("", _EMPHASIS.sub("", raw), count=1)
        quoted = _QUOTED.findall(text)
        item = ", ".join(quoted) if len(quoted) >= 2 else _clean(text.split(". ")[0])
        if item:
            items.append(item)
    if any(len(item.split()) > 4 for item in items):
        return _one_line(items[0])
    return ", ".join(dict.fromkeys(items))


def _one_line(line: str) -> str:
    line = _EMPHASIS.sub("", line).strip()
    quoted = _QUOTED.findall(line)
    if len(quoted) >= 2:  # 'The marked words are "is", "was" and "be"' -> 'is, was, be'
        return _items(quoted)
    verb = _NEURON_VERB.sub("", line, count=1)
    if verb != line and len(verb.strip()) >= 2:
        return _clean(verb)
    for pattern in (_LEAD_COLON, _LEAD_IN, _LEFTOVER):
        stripped = pattern.sub("", line, count=1)
        if len(stripped.strip()) >= 2:
            line = stripped
    return _clean(line)


def parse_explanation(reply: str) -> str:
    """The explanation in ``reply``; raises LLMResponseError when there is none."""
    text = reply.strip()
    if not text:
        raise LLMResponseError("empty reply")
    labelled = _LABEL.search(text)
    if labelled:
        text = text[labelled.end() :]
    main_thing = _MAIN_THING.search(text)
    if main_thing:
        text = text[main_thing.end() :]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise LLMResponseError(f"no explanation in reply {reply[:80]!r}")
    if _REFUSAL.match(_clean(lines[0])):
        raise LLMResponseError(f"refusal: {lines[0][:80]!r}")
    bullets = [_BULLET.sub("", ln) for ln in lines[1:] if _BULLET.match(ln)]
    # A lead-in line followed by a list ("The marked tokens have in common:\n- ...").
    line = _items(bullets) if lines[0].endswith(":") and bullets else _one_line(lines[0])
    words = line.split()
    if len(words) > MAX_WORDS:
        line = " ".join(words[:MAX_WORDS])
    line = line.rstrip(" .,;:")
    if len(line) < 2 or not re.search(r"[A-Za-z0-9]", line):
        raise LLMResponseError(f"no explanation in reply {reply[:80]!r}")
    return line
