"""Prompt templates are versioned data files (``<name>.v<N>.txt``), not code.

A template file is a sequence of chat messages; each starts with a line ``=== <role>``
(system, user or assistant). Lines before the first marker that start with ``#`` are
comments. Placeholders use ``string.Template`` syntax (``$examples``, ``${explanation}``);
rendering fails loudly if one is missing. Changing a prompt means adding a new version file,
so the ``prompt_version`` column in the outputs always names the exact text used.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from autointerp.errors import ConfigError

__all__ = ["PromptTemplate", "load_template", "render_marked"]

_MARKER = re.compile(r"^=== (system|user|assistant)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    version: str
    """File stem, e.g. ``default.v1``: recorded as ``prompt_version`` in the outputs."""
    messages: tuple[tuple[str, str], ...]

    def render(self, **values: str) -> list[dict[str, str]]:
        try:
            return [
                {"role": role, "content": string.Template(text).substitute(values)}
                for role, text in self.messages
            ]
        except KeyError as exc:
            raise ConfigError(f"prompt {self.version}: no value for placeholder {exc}") from None


def parse_template(version: str, text: str) -> PromptTemplate:
    parts = _MARKER.split(text)
    head = [line for line in parts[0].splitlines() if line.strip() and not line.startswith("#")]
    if head or len(parts) < 3:
        raise ConfigError(f"prompt {version}: expected '=== <role>' sections")
    messages = tuple(
        (role, body.strip("\n")) for role, body in zip(parts[1::2], parts[2::2], strict=True)
    )
    return PromptTemplate(version, messages)


@lru_cache(maxsize=64)
def load_template(package: str, version: str) -> PromptTemplate:
    """Load ``<package>/templates/<version>.txt`` (e.g. ``("scorers", "detection.v1")``)."""
    try:
        text = resources.files(package).joinpath("templates", f"{version}.txt").read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no prompt template {version!r} in {package}") from None
    return parse_template(version, text)


def _visible(token: str) -> str:
    return token.replace("\r", "").replace("\n", "\\n").replace("\t", " ")


def render_marked(tokens: tuple[str, ...], marked: list[bool]) -> str:
    """Join tokens, wrapping each run of marked tokens in << >>; newlines shown as \\n."""
    out: list[str] = []
    inside = False
    for tok, mark in zip(tokens, marked, strict=True):
        text = _visible(tok)
        if mark and not inside:
            stripped = text.lstrip(" ")
            out.append(text[: len(text) - len(stripped)] + "<<")  # keep the space outside
            text = stripped
        elif not mark and inside:
            out.append(">>")
        inside = mark
        out.append(text)
    if inside:
        out.append(">>")
    return "".join(out).strip()
