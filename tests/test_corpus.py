"""Corpus sources -> token windows, and clear errors for unusable corpora."""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer

from autointerp.corpus import Skipped, iter_documents, load_windows, text_problem
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


# Corpora that are not text: refused (one file) or skipped and counted (folders, records).

PROSE = "The river runs past the old mill and into the lake below the town. " * 60


def _garbage(n: int = 20_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("name", "content", "found"),
    [
        ("random.txt", _garbage(), r"% control characters and \d+\.\d% undecodable bytes"),
        ("utf16.txt", PROSE.encode("utf-16"), "UTF-16 byte-order mark"),
        ("controls.md", ("word\x1f\x02 " * 500).encode(), r"[1-9]\d\.\d% control characters"),
        ("latin1.txt", ("Größe über Straße, schön " * 200).encode("latin-1"), "undecodable"),
        ("random.jsonl", _garbage(), "its first 20000 bytes have"),
        (
            "nul.jsonl",
            b"\n".join(b'{"text": "a\x00b\x00c\x00d\x00 e"}' for _ in range(50)),
            "control characters",
        ),
    ],
)
def test_a_file_that_is_not_utf8_text_is_refused_naming_it(
    tmp_path: Path, name: str, content: bytes, found: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        list(iter_documents(str(path)))
    message = str(info.value)
    assert f"corpus file {path} is not UTF-8 text" in message
    assert re.search(found, message), message
    assert "at most 1% allowed" in message


def test_text_with_a_few_odd_characters_is_kept(tmp_path: Path) -> None:
    """A stray undecodable byte or control character in real text is not a reason to refuse;
    a UTF-8 byte-order mark is dropped."""
    data = codecs.BOM_UTF8 + PROSE.encode() + b"\xff caf\xc3\xa9 \x1b[0m " + PROSE.encode()
    (tmp_path / "ok.txt").write_bytes(data)
    [doc] = iter_documents(str(tmp_path / "ok.txt"))
    assert doc.startswith("The river") and "café" in doc and "\ufffd" in doc
    assert text_problem(doc) is None


def test_a_folder_skips_files_that_are_not_text_and_counts_them(
    tmp_path: Path, tokenizer: Any
) -> None:
    (tmp_path / "a-good.txt").write_text(PROSE, encoding="utf-8")
    (tmp_path / "b-binary.txt").write_bytes(_garbage())
    (tmp_path / "c-utf16.md").write_bytes(PROSE.encode("utf-16"))
    skipped = Skipped()
    docs = list(iter_documents(str(tmp_path), skipped=skipped))
    assert docs == [PROSE] and skipped.documents == 2
    assert "b-binary.txt" in skipped.examples[0] and "c-utf16.md" in skipped.examples[1]
    w = load_windows(str(tmp_path), tokenizer, n_tokens=100_000, ctx_len=16)
    assert w.skipped_documents == 2 and len(w.skipped_examples) == 2
    text = tokenizer.decode(w.tokens[:, 1:].ravel())
    assert "\ufffd" not in text and "river" in text
    assert not any(ch in text for ch in "\x00\x1f")


def test_a_folder_with_nothing_usable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_bytes(_garbage(seed=1))
    (tmp_path / "two.txt").write_bytes(PROSE.encode("utf-16-le"))  # no byte-order mark
    with pytest.raises(CorpusError, match="has no usable text: all 2 document.s. were skipped"):
        list(iter_documents(str(tmp_path)))


def test_jsonl_and_parquet_records_that_are_not_text_are_skipped(tmp_path: Path) -> None:
    good = [f"Document {i} is about rivers." for i in range(40)]
    bad = ["\x1f\x1e\x1d" * 20, "\ufffd" * 30 + "text"]
    rows = [*good[:20], bad[0], *good[20:], bad[1]]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps({"text": r}) for r in rows))
    pd.DataFrame({"text": rows}).to_parquet(tmp_path / "c.parquet")
    for name, where in (("c.jsonl", ":21: "), ("c.parquet", " row 21: ")):
        skipped = Skipped()
        docs = list(iter_documents(str(tmp_path / name), skipped=skipped))
        assert docs == good and skipped.documents == 2
        assert f"{tmp_path / name}{where}" in skipped.examples[0]
    only_bad = tmp_path / "bad.jsonl"
    only_bad.write_text("\n".join(json.dumps({"text": b}) for b in bad))
    with pytest.raises(CorpusError, match="has no usable text: all 2"):
        list(iter_documents(str(only_bad)))
