from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from autointerp.config import RunConfig, config_docs
from autointerp.errors import ConfigError


def test_round_trip_through_json() -> None:
    cfg = RunConfig(latents="0:10", seed=3)
    again = RunConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg
    assert again.fingerprint() == cfg.fingerprint()


def test_frozen() -> None:
    cfg = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.corpus.n_tokens = 5  # type: ignore[misc]


def test_fingerprint_changes_with_any_field() -> None:
    base = RunConfig()
    changed = dataclasses.replace(base, sampling=dataclasses.replace(base.sampling, n_score=3))
    assert base.fingerprint() != changed.fingerprint()


def test_unknown_keys_are_errors_that_name_them() -> None:
    with pytest.raises(ConfigError, match="config.corpus: unknown key.*n_tokenz"):
        RunConfig.from_dict({"corpus": {"n_tokenz": 5}})
    with pytest.raises(ConfigError, match="unknown key.*latentz"):
        RunConfig.from_dict({"latentz": "0:3"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seed": "zero"}, "config.seed: expected an integer"),
        ({"seed": True}, "config.seed: expected an integer"),
        ({"cache": {"dtype": "float64"}}, "config.cache.dtype: expected one of"),
        ({"scoring": {"scorers": 5}}, "config.scoring.scorers: expected a list"),
        ({"explain": {"show_activations": "yes"}}, "expected true/false"),
        ({"corpus": []}, "config.corpus: expected an object"),
        ({"corpus": None}, "config.corpus: expected an object"),
        ({"cache": {"batch_size": None}}, "config.cache.batch_size: expected an integer"),
        ({"cache": {"batch_size": 2.0}}, "config.cache.batch_size: expected an integer"),
        ({"llm": {"temperature": None}}, "config.llm.temperature: expected a number"),
        ({"llm": {"max_concurrency": False}}, "config.llm.max_concurrency: expected an integer"),
        ({"sampling": {"negatives": {"random": 1}}}, "config.sampling.negatives: expected a list"),
        ({"scoring": {"scorers": ["detection", 3]}}, "config.scoring.scorers: expected a string"),
    ],
)
def test_type_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(data)


def test_scorers_accept_comma_string() -> None:
    cfg = RunConfig.from_dict({"scoring": {"scorers": "detection, fuzz"}})
    assert cfg.scoring.scorers == ("detection", "fuzz")


def test_every_field_is_documented() -> None:
    rows = config_docs()
    assert len(rows) > 30
    undocumented = [name for name, _, doc in rows if not doc]
    assert undocumented == []
    assert "sampling.n_explain" in {name for name, _, _ in rows}


def test_secrets_are_not_in_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    assert "sk-secret-123" not in RunConfig().to_json()
