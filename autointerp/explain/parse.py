"""Turn an LLM's free-form reply into an explanation phrase, robustly: small models ignore
formats, repeat the prompt, wrap answers in quotes or markdown, or refuse."""

from __future__ import annotations

import re

from autointerp.errors import LLMResponseError

__all__ = ["parse_explanation"]

MAX_WORDS = 30
_LABEL = re.compile(r"explanation\s*[:\-]\s*", re.IGNORECASE)
_REFUSAL = re.compile(
    r"^(i'?m sorry|i am sorry|i can'?t|i cannot|as an ai|i'?m unable|i am unable)", re.IGNORECASE
)
_LEADING = re.compile(
    r"^(the (marked|common) tokens? (are|is|have in common)\s*:?\s*|answer\s*:\s*)", re.IGNORECASE
)


def parse_explanation(reply: str) -> str:
    """The explanation in ``reply``; raises LLMResponseError when there is none."""
    text = reply.strip()
    if not text:
        raise LLMResponseError("empty reply")
    labelled = _LABEL.search(text)
    if labelled:
        text = text[labelled.end() :]
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.strip(" \t*_`#>-•\"'“”‘’")
    line = _LEADING.sub("", line).strip(" \t*_`\"'“”‘’")
    if _REFUSAL.match(line):
        raise LLMResponseError(f"refusal: {line[:80]!r}")
    words = line.split()
    if len(words) > MAX_WORDS:
        line = " ".join(words[:MAX_WORDS])
    line = line.rstrip(" .,;:")
    if len(line) < 2 or not re.search(r"[A-Za-z0-9]", line):
        raise LLMResponseError(f"no explanation in reply {reply[:80]!r}")
    return line
