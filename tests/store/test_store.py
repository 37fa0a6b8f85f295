"""Parquet writes are atomic, idempotent per run, and never touch other runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autointerp.errors import StoreError
from autointerp.store import SCHEMAS, RunWriter, column_docs, list_runs, read_table


def _explanations(run_id: str, texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "latent": range(len(texts)),
            "explanation_id": 0,
            "explanation": texts,
            "source": "user:x.csv",
            "status": "ok",
            "error": None,
            "raw_reply": "",
            "model": "m",
            "sae_sha256": "abc",
            "hook_name": "blocks.0.hook_resid_post",
            "seed": 0,
            "created_at": pd.Timestamp.now(tz="UTC"),
            "llm": "local:m",
            "prompt_version": "",
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": None,
        }
    )


def _write(root: Path, run_id: str, texts: list[str]) -> dict[str, Path]:
    writer = RunWriter(root, run_id)
    writer.add("explanations", _explanations(run_id, texts))
    return writer.commit({"run_id": run_id, "created_at": str(pd.Timestamp.now(tz="UTC"))})


def test_write_and_read_back(tmp_path: Path) -> None:
    files = _write(tmp_path, "r1", ["a", "b"])
    assert files["explanations"] == tmp_path / "explanations" / "r1.parquet"
    df = read_table(tmp_path, "explanations")
    assert df["explanation"].tolist() == ["a", "b"]
    assert list(df.columns) == SCHEMAS["explanations"].names
    assert [r["run_id"] for r in list_runs(tmp_path)] == ["r1"]
    assert not list(tmp_path.rglob(".*.tmp")), "no temp files are left behind"


def test_rewriting_a_run_replaces_it_and_keeps_other_runs(tmp_path: Path) -> None:
    _write(tmp_path, "r1", ["a", "b"])
    _write(tmp_path, "r2", ["other"])
    _write(tmp_path, "r1", ["a2", "b2"])
    df = read_table(tmp_path, "explanations")
    assert len(df) == 3
    assert sorted(df["explanation"]) == ["a2", "b2", "other"]
    assert read_table(tmp_path, "explanations", run_id="r2")["explanation"].tolist() == ["other"]


def test_duplicate_keys_in_one_write_keep_the_last(tmp_path: Path) -> None:
    df = pd.concat([_explanations("r1", ["old"]), _explanations("r1", ["new"])])
    writer = RunWriter(tmp_path, "r1")
    writer.add("explanations", df)
    writer.commit({"run_id": "r1"})
    assert read_table(tmp_path, "explanations")["explanation"].tolist() == ["new"]


def test_schema_violations_are_errors_and_write_nothing(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, "r1")
    bad = _explanations("r1", ["a"]).drop(columns=["llm"])
    with pytest.raises(StoreError, match=r"missing columns \['llm'\]"):
        writer.add("explanations", bad)
    wrong_type = _explanations("r1", ["a"]).assign(latent="x")
    with pytest.raises(StoreError, match="does not match its schema"):
        writer.add("explanations", wrong_type)
    assert not tmp_path.joinpath("explanations").exists()


def test_unknown_table(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown table"):
        RunWriter(tmp_path, "r").add("nope", pd.DataFrame())
    with pytest.raises(StoreError, match="unknown table"):
        read_table(tmp_path, "nope")


def test_reading_an_empty_store_gives_typed_empty_frames(tmp_path: Path) -> None:
    df = read_table(tmp_path, "scores")
    assert df.empty and list(df.columns) == SCHEMAS["scores"].names


def test_every_column_is_documented() -> None:
    for table in SCHEMAS:
        assert all(doc for _, _, doc in column_docs(table)), table
