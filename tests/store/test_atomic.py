"""The one module of atomic local writes: contents, parents created, no temp file left,
errors raw or as a StoreError naming what was written."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autointerp.errors import StoreError
from autointerp.store.atomic import (
    atomic_bytes,
    atomic_json,
    atomic_parquet,
    atomic_text,
    atomic_write,
    json_text,
)


def test_each_kind_writes_its_contents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    atomic_bytes(tmp_path / "a" / "b.bin", b"\x00\x01")
    atomic_text(tmp_path / "t.txt", "héllo\n")
    atomic_json(tmp_path / "j.json", {"b": 1, "a": Path("x")})
    atomic_parquet(tmp_path / "p.parquet", pa.table({"x": [1, 2]}))
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_bytes() == "héllo\n".encode()
    text = (tmp_path / "j.json").read_text()
    assert text == json_text({"b": 1, "a": "x"}) == '{\n  "a": "x",\n  "b": 1\n}\n'
    assert json.loads(text) == {"a": "x", "b": 1}
    assert pq.read_table(tmp_path / "p.parquet").column("x").to_pylist() == [1, 2]
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_failed_write_keeps_the_old_file_and_raises_raw_or_as_a_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.txt"
    atomic_text(path, "old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    with pytest.raises(StoreError, match=f"cannot write the file {path}: disk full"):
        atomic_write(path, fail, what=f"the file {path}")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]
    blocked = path / "child.txt"  # a file where a folder is expected
    with pytest.raises(StoreError, match=f"cannot write {blocked}"):
        atomic_text(blocked, "x", what=str(blocked))
