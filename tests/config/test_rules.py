"""Every run-config field declares a value rule; every rule refuses what it should, at load
and at construction, with a ConfigError naming the dotted key and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autointerp.config import (
    CacheConfig,
    CorpusConfig,
    ExplainConfig,
    LLMConfig,
    RunConfig,
    ScoringConfig,
    config_docs,
)
from autointerp.config.dicts import assign_dotted
from autointerp.config.rules import (
    Choice,
    Flag,
    Latents,
    PathText,
    Range,
    Registered,
    Rule,
    Text,
    rule_of,
)
from autointerp.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def leaves(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, field, type hint) of every leaf field of the run config."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += leaves(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, f, hints[f.name]))
    return out


def _base(hint: Any) -> Any:
    """int for ``int | None``, and so on."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, type(int | None)) else hint


def bad_values(rule: Rule, hint: Any) -> list[Any]:
    """Values that ``rule`` must refuse (each one on its own)."""
    base = _base(hint)
    if isinstance(rule, Range):
        step = 1 if base is int else 0.5
        out: list[Any] = []
        if rule.ge is not None:
            out.append(int(rule.ge - step) if base is int else rule.ge - step)
        if rule.gt is not None:
            out.append(int(rule.gt) if base is int else rule.gt)
        if rule.le is not None:
            out.append(int(rule.le + step) if base is int else rule.le + step)
        if base is float:
            out += [math.nan, math.inf]
        return out
    if isinstance(rule, Choice):
        return ["bogus"] if base is str else [["bogus"], [rule.values[0]] * 2]
    if isinstance(rule, Registered):
        one = [*rule.exclude, "bogus"]
        return one if base is str else [[v] for v in one] + [["detection", "detection"]]
    if isinstance(rule, Text):
        return [" padded ", "a\x00b"] + ([] if rule.allow_empty else [""])
    if isinstance(rule, PathText):
        return ["", " x.csv", *(["mine.docx"] if rule.suffixes else [])]
    if isinstance(rule, Latents):
        return ["x", "5:3", "live:0", "1,-2", ""]
    if isinstance(rule, Flag):
        return ["yes", 1]
    raise AssertionError(f"no bad values known for {rule!r}")


def wrong_types(hint: Any) -> list[Any]:
    """Values of the wrong type: null where a value is required, a bool for a number, ..."""
    optional = type(None) in typing.get_args(hint)
    base = _base(hint)
    out: list[Any] = [] if optional else [None]
    if base in (int, float):
        out += [True, "3"]
    if base is int:
        out.append(1.5)
    if base is str:
        out += [3, ["a"]]
    if typing.get_origin(base) is tuple:
        out += [7, {"a": 1}]
    return out


CASES = [
    pytest.param(key, bad, id=f"{key}={bad!r}")
    for key, f, hint in leaves()
    if rule_of(f) is not None
    for bad in bad_values(rule_of(f), hint) + wrong_types(hint)  # type: ignore[arg-type]
]


def test_every_leaf_field_declares_a_rule_and_a_doc() -> None:
    fields = leaves()
    assert len(fields) == len(config_docs()) > 50
    assert [key for key, f, _ in fields if rule_of(f) is None] == []
    assert [key for key, f, _ in fields if not f.metadata.get("doc")] == []


def test_defaults_pass_their_rules_and_the_docs_say_what_is_allowed() -> None:
    cfg = RunConfig.from_dict({})
    assert cfg == RunConfig()
    docs = {name: doc for name, _, doc in config_docs()}
    assert docs["cache.batch_size"].endswith("Allowed: >= 0 (0 = chosen for the device).")
    assert "one of float32, bfloat16, auto" in docs["cache.dtype"]


@pytest.mark.parametrize(("key", "bad"), CASES)
def test_each_rule_refuses_bad_values_naming_the_key(key: str, bad: Any) -> None:
    data: dict[str, Any] = {}
    assign_dotted(data, key, bad)
    with pytest.raises(ConfigError, match=rf"(^|config\.){re.escape(key)}\b"):
        RunConfig.from_dict(data)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "cache.batch_size",
            -1,
            "cache.batch_size must be >= 0 (0 = chosen for the device), got -1",
        ),
        ("corpus.ctx_len", 1, "corpus.ctx_len must be >= 2 (BOS + at least one"),
        ("llm.timeout_s", 0, "llm.timeout_s must be > 0, got 0.0"),
        ("llm.gpu_memory_utilization", 1.5, "must be > 0 and <= 1, got 1.5"),
        ("scoring.threshold", -0.1, "scoring.threshold must be >= 0 and <= 1"),
        ("cache.dtype", "float64", "expected one of ['float32', 'bfloat16', 'auto']"),
        ("cache.device", "gpu", "cache.device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ("sampling.negatives", ["random", "random"], "sampling.negatives: 'random' is "),
        ("scoring.scorers", ["detecton"], "unknown scorer 'detecton'; expected one of "),
        ("explain.explainer", "nope", "unknown explainer 'nope'; expected one of "),
        ("explain.candidate_explainer", "best_of_n", "candidate_explainer cannot be 'best_of_n'"),
        ("llm.backend", "ollama", "unknown LLM backend 'ollama'; expected one of local, openai"),
        ("llm.base_url", "localhost:8000", "llm.base_url must be an http(s):// URL"),
        ("llm.api_key_env", "MY KEY", "llm.api_key_env must be an environment variable"),
        ("latents", "3:1", "latents must be 'A:B' (B exclusive), 'i,j,k' or 'live:N'"),
        ("explanations", "mine.txt", "explanations must be a .csv/.tsv/.parquet file"),
        ("corpus.n_tokens", 10, "corpus.n_tokens must be at least one window"),
        ("llm.backend", "openai", "llm.base_url is required with llm.backend 'openai'"),
    ],
)
def test_messages_say_what_is_allowed(key: str, value: Any, message: str) -> None:
    data: dict[str, Any] = {}
    assign_dotted(data, key, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig.from_dict(data)


def test_the_unknown_scorer_message_lists_the_registered_ones() -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict({"scoring": {"scorers": "detection,fuzzz"}})
    assert "'fuzzz'" in str(info.value) and "detection, embedding, fuzz" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        {"cache": {"batch_size": 0, "device": "cuda:1"}, "seed": 12345},
        {"corpus": {"n_tokens": 2, "ctx_len": 2}, "latents": "live:1"},
        {"latents": ":5"},
        {"latents": " 3, 1,2"},
        {"sampling": {"negatives": [], "example_len": 6, "peak_position": 5}},
        {"scoring": {"scorers": [], "threshold": 1, "n_bootstrap": 0}},
        {"llm": {"backend": "openai", "base_url": "https://h/v1", "model": ""}},
        {"llm": {"temperature": 0, "requests_per_minute": 0.5, "max_model_len": None}},
        {"explanations": "/x/mine.PARQUET", "corpus": {"path": "/data/texts.v2"}},
    ],
)
def test_edge_values_that_are_allowed(data: dict[str, Any]) -> None:
    RunConfig.from_dict(data)


def test_construction_and_replace_check_every_section() -> None:
    with pytest.raises(ConfigError, match="cache.batch_size must be >= 0"):
        RunConfig(cache=CacheConfig(batch_size=-1))
    with pytest.raises(ConfigError, match="seed must be >= 0"):
        replace(RunConfig(), seed=-1)
    with pytest.raises(ConfigError, match="llm.max_retries: expected an integer"):
        RunConfig(llm=LLMConfig(max_retries=True))
    with pytest.raises(ConfigError, match="corpus.n_tokens must be at least one window"):
        RunConfig(corpus=CorpusConfig(n_tokens=10))
    cfg = RunConfig(
        scoring=ScoringConfig(scorers=["detection"]),  # type: ignore[arg-type]
        llm=LLMConfig(temperature=1),
    )
    assert cfg.scoring.scorers == ("detection",) and isinstance(cfg.llm.temperature, float)
    assert cfg.fingerprint() == RunConfig.from_dict(cfg.to_dict()).fingerprint()


def test_a_section_alone_is_checked_when_it_joins_a_run_config() -> None:
    """Components take their section alone (and keep their own guards); the run config that
    is loaded, saved and run is always checked."""
    lone = ExplainConfig(n_candidates=0)
    with pytest.raises(ConfigError, match="explain.n_candidates must be >= 1, got 0"):
        RunConfig(explain=lone)


def test_shipped_schedule_entries_keep_loading() -> None:
    from autointerp.service.schedules import load_schedule

    entries = load_schedule(ROOT / "queue" / "schedule.toml")  # loads each entry's config
    assert len(entries) >= 2
    scorers = {s for e in entries for s in RunConfig.from_dict(e.config).scoring.scorers}
    assert {"detection", "embedding", "surprisal"} <= scorers
