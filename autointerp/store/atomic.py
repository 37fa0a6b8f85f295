"""Atomic local file writes, the one place that does them: write a hidden temp file next to
the destination, then rename it onto the destination, so readers see the old file or the new
one, never half of one. Parent folders are created; the temp file never outlives a failure.

Every local writer goes through here: bytes, text, JSON, Parquet, or any ``write(tmp)``
callable (``atomic_write``). Files on an fsspec URL go through :mod:`autointerp.store.files`,
whose local branch calls this module. An ``OSError`` propagates as it is, unless ``what`` is
given: then it becomes a ``StoreError`` "cannot write {what}: {error}".
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from autointerp.errors import StoreError

__all__ = [
    "atomic_bytes",
    "atomic_json",
    "atomic_parquet",
    "atomic_text",
    "atomic_write",
    "json_text",
]


def atomic_write(path: Path, write: Callable[[Path], Any], *, what: str | None = None) -> None:
    """Call ``write(tmp)``, then rename ``tmp`` onto ``path`` (parents created)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        if what is None:
            raise
        raise StoreError(f"cannot write {what}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):  # e.g. no parent folder: the first error counts
            tmp.unlink(missing_ok=True)


def atomic_bytes(path: Path, data: bytes, *, what: str | None = None) -> None:
    """Write ``data`` to ``path``, atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), what=what)


def atomic_text(path: Path, text: str, *, what: str | None = None) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what=what)


def json_text(data: Any) -> str:
    """The JSON files' one layout: indented, keys sorted, ``str`` for other types, a final
    newline."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def atomic_json(path: Path, data: Any, *, what: str | None = None) -> None:
    """Write ``data`` to ``path`` as JSON (:func:`json_text`), atomically."""
    atomic_text(path, json_text(data), what=what)


def atomic_parquet(path: Path, table: pa.Table, *, what: str | None = None) -> None:
    """Write ``table`` to ``path`` as Parquet, atomically."""

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    atomic_write(path, write, what=what)
