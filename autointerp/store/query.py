"""Read tables back across runs, newest row winning when a key appears twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from autointerp.errors import StoreError
from autointerp.store.schema import KEYS, SCHEMAS

__all__ = ["list_runs", "read_table"]


def read_table(root: Path | str, name: str, *, run_id: str | None = None) -> pd.DataFrame:
    """All rows of table ``name`` under ``root`` (optionally of one run)."""
    if name not in SCHEMAS:
        raise StoreError(f"unknown table {name!r}; known: {', '.join(SCHEMAS)}")
    folder = Path(root) / name
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if run_id is not None:
        files = [p for p in files if p.stem == run_id]
    if not files:
        empty: pd.DataFrame = SCHEMAS[name].empty_table().to_pandas()
        return empty
    try:
        frames = [pq.read_table(p, schema=SCHEMAS[name]).to_pandas() for p in files]
    except Exception as exc:
        raise StoreError(f"cannot read {folder}: {exc}") from exc
    df = pd.concat(frames, ignore_index=True).sort_values("created_at", kind="stable")
    out: pd.DataFrame = df.drop_duplicates(subset=list(KEYS[name]), keep="last")
    return out.sort_values(list(KEYS[name]), kind="stable").reset_index(drop=True)


def list_runs(root: Path | str) -> list[dict[str, Any]]:
    """The manifests of every run under ``root``, oldest first."""
    runs = []
    for path in sorted((Path(root) / "runs").glob("*.json")):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read run manifest {path}: {exc}") from exc
    return sorted(runs, key=lambda r: str(r.get("created_at", "")))
