"""Corpus sources -> token windows, and clear errors for unusable corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from transformers import AutoTokenizer

from autointerp.corpus import iter_documents, load_windows
from autointerp.errors import CorpusError


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir: Path):  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(smollm2_dir)


def test_stdlib_corpus_is_english_and_deterministic(tokenizer) -> None:  # type: ignore[no-untyped-def]
    a = load_windows("stdlib", tokenizer, n_tokens=3200, ctx_len=32)
    b = load_windows("stdlib", tokenizer, n_tokens=3200, ctx_len=32)
    assert a.tokens.shape == (100, 32)
    assert (a.tokens[:, 0] == tokenizer.bos_token_id).all()
    assert a.fingerprint == b.fingerprint
    text = tokenizer.decode(a.tokens[:, 1:].ravel())
    assert sum(w in text.split() for w in ("the", "is", "of", "and")) == 4
    docs = iter_documents("stdlib")
    assert "assert" in next(docs).lower()


def test_folder_of_text_files(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "b.md").write_text("Second file. " * 40)
    (tmp_path / "a.txt").write_text("First file. " * 40)
    (tmp_path / "ignored.csv").write_text("x,y")
    w = load_windows(str(tmp_path), tokenizer, n_tokens=10_000, ctx_len=16)
    text = tokenizer.decode(w.tokens[:, 1:].ravel())
    assert text.startswith("First file.") and "Second file." in text and "x,y" not in text
    assert w.n_windows < 10_000 // 16  # ran out of text: fewer windows, no error


def test_jsonl_and_parquet_with_a_text_column(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    rows = [{"body": f"Document number {i} talks about rivers and lakes."} for i in range(100)]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "c.parquet")
    for name in ("c.jsonl", "c.parquet"):
        w = load_windows(
            str(tmp_path / name), tokenizer, n_tokens=640, ctx_len=32, text_column="body"
        )
        assert w.n_windows == 20
        assert "rivers" in tokenizer.decode(w.tokens[0])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "has no .txt or .md files"),
        (lambda p: p.with_suffix(".txt").write_text(""), "has no text"),
        (
            lambda p: p.with_suffix(".jsonl").write_text('{"text": "hi"}\n{"body": 1}\n'),
            "no 'text' field",
        ),
        (lambda p: p.with_suffix(".jsonl").write_text("{oops\n"), "not valid JSON"),
        (
            lambda p: pd.DataFrame({"body": ["x"]}).to_parquet(p.with_suffix(".parquet")),
            "no column 'text'",
        ),
        (lambda p: p.with_suffix(".docx").write_text("x"), "unsupported type '.docx'"),
    ],
)
def test_unusable_corpora(tmp_path: Path, tokenizer, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "corpus"
    setup(base)
    candidates = [p for p in tmp_path.iterdir()] or [base]
    with pytest.raises(CorpusError, match=message):
        load_windows(str(candidates[0]), tokenizer, n_tokens=1000, ctx_len=16)


def test_window_length_checks(tokenizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CorpusError, match="longer than the model allows"):
        load_windows("stdlib", tokenizer, n_tokens=10_000, ctx_len=4096, max_positions=2048)
    with pytest.raises(CorpusError, match="less than one window"):
        load_windows("stdlib", tokenizer, n_tokens=10, ctx_len=32)
    with pytest.raises(CorpusError, match="at least 2"):
        load_windows("stdlib", tokenizer, n_tokens=10, ctx_len=1)
