"""Atomic file writes: write a hidden temp file next to the destination, then rename it onto
the destination, so readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["atomic_parquet", "atomic_write"]


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)``, then rename ``tmp`` onto ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_parquet(path: Path, table: pa.Table) -> None:
    """Write ``table`` to ``path`` as Parquet, atomically."""

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    atomic_write(path, write)
