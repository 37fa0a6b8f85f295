"""Atomic, idempotent Parquet writes.

A run's tables are validated against their schemas and staged in memory; ``commit`` writes
each to a hidden temp file next to its destination and renames it into place, then writes
the run manifest last. A run that fails before ``commit`` leaves nothing behind; re-running
the same run (same run id) replaces its files, so rows are never duplicated; other runs'
files in the same directory are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autointerp.errors import StoreError
from autointerp.store.atomic import atomic_parquet, atomic_text, json_text
from autointerp.store.remote import filesystem, is_url
from autointerp.store.schema import KEYS, SCHEMAS

__all__ = ["RunWriter", "to_table"]


def to_table(name: str, df: pd.DataFrame) -> pa.Table:
    """Check ``df`` against the declared schema of table ``name`` and convert it."""
    schema = SCHEMAS[name]
    if len(df) == 0:
        return schema.empty_table()
    missing = [c for c in schema.names if c not in df.columns]
    extra = [c for c in df.columns if c not in schema.names]
    if missing or extra:
        raise StoreError(f"table {name!r}: missing columns {missing}, unexpected columns {extra}")
    key = list(KEYS[name])
    dupes = df.duplicated(subset=key, keep="last")
    if dupes.any():
        df = df[~dupes]
    try:
        return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise StoreError(f"table {name!r} does not match its schema: {exc}") from exc


class RunWriter:
    """Collects one run's tables and writes them all at once, under a local directory or an
    fsspec URL (``s3://bucket/prefix``: each file is one PUT, which object stores apply
    atomically; the manifest goes last)."""

    def __init__(self, root: Path | str, run_id: str) -> None:
        self.url = str(root) if is_url(root) else None
        self.root = Path(root) if self.url is None else Path()
        self.run_id = run_id
        self._tables: dict[str, pa.Table] = {}

    def add(self, name: str, df: pd.DataFrame) -> None:
        if name not in SCHEMAS:
            raise StoreError(f"unknown table {name!r}; known: {', '.join(SCHEMAS)}")
        self._tables[name] = to_table(name, df)

    def commit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write every table, then the manifest; returns table -> path (or URL)."""
        text = json_text(manifest)
        if self.url is not None:
            return self._commit_remote(self.url, text)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"output path {self.root} exists and is not a directory")
        written: dict[str, Any] = {}
        try:
            for name, table in self._tables.items():
                path = self.root / name / f"{self.run_id}.parquet"
                atomic_parquet(path, table)
                written[name] = path
            manifest_path = self.root / "runs" / f"{self.run_id}.json"
            atomic_text(manifest_path, text)
            written["runs"] = manifest_path
        except OSError as exc:
            raise StoreError(f"cannot write results under {self.root}: {exc}") from exc
        return written

    def _commit_remote(self, url: str, manifest: str) -> dict[str, Any]:
        fs, base = filesystem(url)
        written: dict[str, Any] = {}
        try:
            for name, table in self._tables.items():
                sink = pa.BufferOutputStream()
                pq.write_table(table, sink)
                path = f"{base}/{name}/{self.run_id}.parquet"
                fs.pipe_file(path, sink.getvalue().to_pybytes())
                written[name] = f"{url.rstrip('/')}/{name}/{self.run_id}.parquet"
            fs.pipe_file(f"{base}/runs/{self.run_id}.json", manifest.encode())
            written["runs"] = f"{url.rstrip('/')}/runs/{self.run_id}.json"
        except Exception as exc:
            raise StoreError(f"cannot write results under {url}: {exc}") from exc
        return written
