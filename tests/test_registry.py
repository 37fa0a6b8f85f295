from __future__ import annotations

import pytest

from autointerp.errors import ConfigError
from autointerp.registry import Registry


def test_register_get_and_list() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("b", 2)

    @reg.register("a")
    def a() -> None: ...

    assert reg.names() == ["a", "b"]
    assert reg.get("b") == 2 and "a" in reg and len(reg) == 2


def test_duplicates_are_refused() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("x", 1)
    with pytest.raises(ValueError, match="thing 'x' is already registered"):
        reg.add("x", 2)


def test_unknown_name_lists_the_known_ones() -> None:
    reg: Registry[int] = Registry("scorer")
    reg.add("detection", 1)
    with pytest.raises(ConfigError, match="unknown scorer 'fuz'; available: detection"):
        reg.get("fuz")


def test_project_registries_are_populated() -> None:
    from autointerp.explain import EXPLAINERS
    from autointerp.llm import BACKENDS
    from autointerp.saes import ARCHITECTURES, FORMATS
    from scorers import SCORERS

    assert {"standard", "jumprelu", "topk"} <= set(ARCHITECTURES.names())
    assert "saelens" in FORMATS
    assert {"local", "openai"} <= set(BACKENDS.names())
    assert "default" in EXPLAINERS
    assert {"detection", "fuzz"} <= set(SCORERS.names())
