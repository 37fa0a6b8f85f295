from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autointerp.errors import ConfigError, ExplanationsError
from autointerp.inputs import load_explanations, parse_latents


def test_latent_specs() -> None:
    assert parse_latents("0:4", 10).explicit == (0, 1, 2, 3)
    assert parse_latents(":3", 10).explicit == (0, 1, 2)
    assert parse_latents("7:", 10).explicit == (7, 8, 9)
    assert parse_latents("5,1,5", 10).explicit == (5, 1)
    assert parse_latents("3", 10).explicit == (3,)
    assert parse_latents("live:4", 10).live == 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0:11", "out of range: the SAE has 10 latents"),
        ("5:5", "out of range"),
        ("-1:3", "out of range"),
        ("3,10", r"\[10\] out of range; the SAE has latents 0..9"),
        ("a:b", "expected 'A:B'"),
        ("live:0", "live:N needs N >= 1"),
        ("", "no latents given"),
    ],
)
def test_bad_latent_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_latents(spec, 10)


def test_explanations_csv_with_several_per_latent(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    pd.DataFrame({"latent": [3, 1, 3], "explanation": ["a", "b", " c "]}).to_csv(path, index=False)
    df = load_explanations(str(path), 10)
    assert df.to_dict("records") == [
        {"latent": 3, "explanation": "a", "explanation_id": 0},
        {"latent": 1, "explanation": "b", "explanation_id": 0},
        {"latent": 3, "explanation": "c", "explanation_id": 1},
    ]


def test_explanations_parquet(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pd.DataFrame({"latent": [0], "explanation": ["x"], "other": [1]}).to_parquet(path)
    assert load_explanations(str(path), 10)["explanation"].tolist() == ["x"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"latent": [1], "text": ["x"]}), r"lacks column\(s\) \['explanation'\]"),
        (pd.DataFrame({"latent": [12], "explanation": ["x"]}), r"latents \[12\] out of range"),
        (pd.DataFrame({"latent": ["one"], "explanation": ["x"]}), "must hold integers"),
        (
            pd.DataFrame({"latent": [1, 2], "explanation": ["x", "  "]}),
            r"empty explanation on line\(s\) \[3\]",
        ),
        (pd.DataFrame({"latent": [], "explanation": []}), "has no rows"),
    ],
)
def test_bad_explanation_files(tmp_path: Path, frame: pd.DataFrame, message: str) -> None:
    path = tmp_path / "e.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ExplanationsError, match=message):
        load_explanations(str(path), 10)


def test_missing_and_wrong_type_explanation_files(tmp_path: Path) -> None:
    with pytest.raises(ExplanationsError, match="does not exist"):
        load_explanations(str(tmp_path / "none.csv"), 10)
    (tmp_path / "e.json").write_text("{}")
    with pytest.raises(ExplanationsError, match="expected .csv, .tsv or .parquet"):
        load_explanations(str(tmp_path / "e.json"), 10)
