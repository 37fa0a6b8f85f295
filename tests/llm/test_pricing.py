"""The price table: reading and checking it, looking a model up, the cost_usd column of the
explanations and scores tables, and the tokens/cost line of the run summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autointerp.cli.summary import summary_table, usage_line
from autointerp.config import LLMConfig
from autointerp.errors import ConfigError
from autointerp.llm.pricing import Price, load_prices, model_of, price_for
from autointerp.records import Explanation, ScoreResult
from autointerp.store.frames import explanations_frame, scores_frame
from autointerp.store.writer import to_table

TABLE = {
    "gpt-4o-mini": {"prompt": 0.15, "completion": 0.6},
    "HuggingFaceTB/SmolLM2-135M-Instruct": {"prompt": 0, "completion": 0},
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_load_and_cost(tmp_path: Path) -> None:
    table = load_prices(_write(tmp_path, TABLE))
    assert table["gpt-4o-mini"] == Price(0.15, 0.6)
    assert table["gpt-4o-mini"].cost(1_000_000, 500_000) == pytest.approx(0.45)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not readable JSON"),
        ([1, 2], "expected an object mapping model names"),
        ({"m": 3}, r"'m': expected \{\"prompt\""),
        ({"m": {"prompt": 1}}, r"'m'.completion: expected a number"),
        ({"m": {"prompt": "1", "completion": 1}}, r"'m'.prompt: expected a number"),
        ({"m": {"prompt": -1, "completion": 1}}, r"'m'.prompt: expected a finite price"),
        ({"m": {"prompt": 1, "completion": 1, "cached": 1}}, "unknown field.*cached"),
    ],
)
def test_bad_tables_name_the_file_and_the_field(tmp_path: Path, data: Any, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as info:
        load_prices(path)
    assert f"llm.prices file {path}" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="llm.prices file .*nope.json does not exist"):
        load_prices(tmp_path / "nope.json")


def test_model_lookup(tmp_path: Path) -> None:
    assert model_of("openai:gpt-4o-mini@https://api.openai.com/v1") == "gpt-4o-mini"
    assert model_of("local:HuggingFaceTB/SmolLM2-135M-Instruct") == (
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    assert model_of("vllm:/models/x") == "/models/x"
    cfg = LLMConfig(prices=str(_write(tmp_path, TABLE)), model="")
    assert price_for(cfg, "openai:gpt-4o-mini@http://h/v1") == Price(0.15, 0.6)
    assert price_for(cfg, "local:HuggingFaceTB/SmolLM2-135M-Instruct") == Price(0, 0)
    assert price_for(cfg, "openai:unknown@http://h/v1") is None
    assert price_for(LLMConfig(), "openai:gpt-4o-mini@http://h/v1") is None  # no table
    by_config = LLMConfig(prices=cfg.prices, model="gpt-4o-mini")
    assert price_for(by_config, "openai:?@http://h/v1") == Price(0.15, 0.6)


PROV: dict[str, Any] = {
    "run_id": "r",
    "model": "m",
    "sae_sha256": "s",
    "hook_name": "h",
    "seed": 0,
    "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
    "llm": "openai:gpt-4o-mini@http://h/v1",
}


def _frames(price: Price | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    expl = [
        Explanation(0, 0, "numbers", "generated:default", prompt_tokens=1000, completion_tokens=10),
        Explanation(1, 0, "", "generated:default", status="llm_error", error="x"),
    ]
    res = [ScoreResult(0, 0, "detection", "ok", "logprob", prompt_tokens=20_000)]
    return (
        explanations_frame(expl, PROV, "default.v1", price=price),
        scores_frame(res, PROV, {"detection": "detection.v1"}, price=price),
    )


def test_cost_column_in_the_tables() -> None:
    expl, scores = _frames(Price(0.15, 0.6))
    assert expl["cost_usd"].tolist() == pytest.approx([(1000 * 0.15 + 10 * 0.6) / 1e6, 0.0])
    assert scores["cost_usd"].tolist() == pytest.approx([20_000 * 0.15 / 1e6])
    for name, df in (("explanations", expl), ("scores", scores)):
        table = to_table(name, df)  # matches the declared schema
        assert str(table.schema.field("cost_usd").type) == "double"
    no_price, _ = _frames(None)
    column = to_table("explanations", no_price).column("cost_usd")
    assert column.null_count == len(no_price)


def test_summary_reports_tokens_and_cost() -> None:
    expl, scores = _frames(Price(0.15, 0.6))
    line = usage_line(expl, scores)
    assert line == (
        "LLM tokens (prompt + completion): explain 1,000 + 10, score 20,000 + 0; cost $0.0032"
    )
    assert summary_table(expl, scores).endswith(line)
    expl, scores = _frames(None)
    assert usage_line(expl, scores).endswith("; cost unknown (no llm.prices entry)")
