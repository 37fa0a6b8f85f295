"""The value rules of the run config: every leaf field declares one in its metadata
(``metadata["rule"]``), next to its docstring, and :func:`check_fields` applies them.

Rules check what a config can say about itself without the filesystem, the network or a
model: integer counts and their lower bounds, numbers in ranges, choices, the form of paths
and latent selections. Whether a path exists is checked when the run starts (a config is
often written on one machine and run on another). Names that live in a registry (scorers,
explainers, LLM backends) are checked by :func:`check_registered`, which imports the
registry on first use (importing scorers pulls in torch), at load time (``from_dict``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, get_args

from autointerp.config.dicts import coerce
from autointerp.errors import ConfigError

__all__ = [
    "Choice",
    "Flag",
    "Latents",
    "PathText",
    "Range",
    "Registered",
    "Rule",
    "Text",
    "check_fields",
    "check_registered",
]


class Rule:
    """A check of one field's (type-checked) value; ``where`` is the dotted key."""

    def check(self, value: Any, where: str) -> None:
        """Raise ConfigError naming ``where`` and what is allowed."""

    def check_registered(self, value: Any, where: str) -> None:
        """The part of the check that needs a registry (run at load time only)."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Flag(Rule):
    """true or false (the type check is the whole rule)."""

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Range(Rule):
    """A finite number with bounds; ``note`` explains special values (e.g. 0 = auto)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    note: str = ""

    def check(self, value: Any, where: str) -> None:
        if value is None:
            return
        ok = math.isfinite(value)
        ok = ok and (self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
        ok = ok and (self.le is None or value <= self.le)
        if not ok:
            raise ConfigError(f"{where} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        bounds = [f">= {self.ge:g}" if self.ge is not None else ""]
        bounds += [f"> {self.gt:g}" if self.gt is not None else ""]
        bounds += [f"<= {self.le:g}" if self.le is not None else ""]
        text = " and ".join(b for b in bounds if b) or "a finite number"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Choice(Rule):
    """One of fixed values (each item, for a tuple field; an item at most once)."""

    values: tuple[str, ...]

    @classmethod
    def of(cls, literal: Any) -> Choice:
        """The choices of a ``Literal[...]`` type (so the list is written once)."""
        return cls(tuple(get_args(literal)))

    def check(self, value: Any, where: str) -> None:
        items = list(value) if isinstance(value, tuple) else [value]
        bad = [v for v in items if v not in self.values]
        if bad:
            raise ConfigError(f"{where}: unknown {bad}; expected one of {list(self.values)}")
        _no_repeats(items, where)

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Text(Rule):
    """A string (non-empty unless ``allow_empty``), matching ``pattern`` (``what`` says
    what it means) when one is given."""

    pattern: str = ""
    what: str = "a non-empty string"
    allow_empty: bool = False

    def check(self, value: Any, where: str) -> None:
        if value is None or (self.allow_empty and value == ""):
            return
        if not value.strip() or value != value.strip() or "\x00" in value:
            raise ConfigError(f"{where} must be {self.what} (no surrounding spaces), got {value!r}")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ConfigError(f"{where} must be {self.what}, got {value!r}")

    def describe(self) -> str:
        return self.what + (" or ''" if self.allow_empty else "")


@dataclass(frozen=True)
class PathText(Rule):
    """The form of a path (non-empty, no NUL, no surrounding spaces; one of ``suffixes``
    when given); ``special`` names accepted as they are (e.g. 'stdlib')."""

    suffixes: tuple[str, ...] = ()
    special: tuple[str, ...] = ()

    def check(self, value: Any, where: str) -> None:
        if value is None or value in self.special:
            return
        Text(what=self.describe()).check(value, where)
        if self.suffixes and not value.lower().endswith(self.suffixes):
            raise ConfigError(f"{where} must be {self.describe()}, got {value!r}")

    def describe(self) -> str:
        text = "a path"
        if self.suffixes:
            text = f"a {'/'.join(self.suffixes)} file"
        if self.special:
            text = " or ".join([*(repr(s) for s in self.special), text])
        return text


@dataclass(frozen=True)
class Latents(Rule):
    """The form of a latent selection: 'A:B' (B exclusive), 'i,j,k' or 'live:N'; the range
    is checked against the SAE's size when the run starts."""

    def check(self, value: Any, where: str) -> None:
        text = value.strip()
        expected = f"{where} must be {self.describe()}, got {value!r}"
        if text.startswith("live:"):
            n = text[5:].strip()
            if not n.isdigit() or int(n) < 1:
                raise ConfigError(f"{expected}: live:N needs N >= 1")
        elif ":" in text:
            a, b = (x.strip() for x in text.split(":", 1))
            if not all(x.isdigit() for x in (a, b) if x):
                raise ConfigError(f"{expected}: 'A:B' needs non-negative integers")
            if a and b and int(a) >= int(b):
                raise ConfigError(f"{expected}: 'A:B' needs A < B (B is exclusive)")
        else:
            parts = [x.strip() for x in text.split(",") if x.strip()]
            if not parts or not all(x.isdigit() for x in parts):
                raise ConfigError(expected)

    def describe(self) -> str:
        return "'A:B' (B exclusive), 'i,j,k' or 'live:N'"


@dataclass(frozen=True)
class Registered(Rule):
    """A name (each name, for a tuple field; at most once) registered in
    ``module.attr``; ``exclude`` names are refused without looking at the registry."""

    kind: str
    module: str
    attr: str
    exclude: tuple[str, ...] = ()

    def check(self, value: Any, where: str) -> None:
        items = list(value) if isinstance(value, tuple) else [value]
        for name in items:
            if name in self.exclude:
                raise ConfigError(f"{where} cannot be {name!r}")
        _no_repeats(items, where)

    def check_registered(self, value: Any, where: str) -> None:
        names = getattr(importlib.import_module(self.module), self.attr).names()
        items = list(value) if isinstance(value, tuple) else [value]
        bad = [v for v in items if v not in names]
        if bad:
            known = [n for n in names if n not in self.exclude]
            raise ConfigError(
                f"{where}: unknown {self.kind} {', '.join(map(repr, bad))}; "
                f"expected one of {', '.join(known)} (see 'autointerp list')"
            )

    def describe(self) -> str:
        text = f"a registered {self.kind} name (see 'autointerp list')"
        return text + (f", not {', '.join(self.exclude)}" if self.exclude else "")


def _no_repeats(items: Iterable[Any], where: str) -> None:
    seen: set[Any] = set()
    for item in items:
        if item in seen:
            raise ConfigError(f"{where}: {item!r} is given twice")
        seen.add(item)


def rule_of(f: dataclasses.Field[Any]) -> Rule | None:
    rule = f.metadata.get("rule")
    return rule if isinstance(rule, Rule) else None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(obj: Any, where: str) -> None:
    """Type-check (normalising lists to tuples and ints to floats, as ``from_dict`` does)
    and rule-check every field of a config dataclass, descending into sections."""
    hints = _hints(obj.__class__)
    for f in dataclasses.fields(obj):
        key = f"{where}.{f.name}" if where else f.name
        value = getattr(obj, f.name)
        normal = coerce(hints[f.name], value, key)
        if normal is not value:
            object.__setattr__(obj, f.name, normal)
        if dataclasses.is_dataclass(normal):
            check_fields(normal, key)
            continue
        rule = rule_of(f)
        if rule is not None:
            rule.check(normal, key)


def check_registered(obj: Any, where: str) -> None:
    """The registry half of the rules (imports the scorer/explainer/backend registries)."""
    for f in dataclasses.fields(obj):
        key = f"{where}.{f.name}" if where else f.name
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            check_registered(value, key)
            continue
        rule = rule_of(f)
        if rule is not None and value is not None:
            rule.check_registered(value, key)
