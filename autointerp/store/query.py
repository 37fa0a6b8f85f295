"""Read tables back across runs with pandas, newest row winning when a key appears twice;
each score row's primary metric (the pandas twin of :func:`autointerp.store.duck.score_sql`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from autointerp.errors import StoreError
from autointerp.primary_metrics import primary_metric
from autointerp.store.remote import filesystem, is_url
from autointerp.store.schema import KEYS, SCHEMAS

__all__ = ["list_runs", "primary_score", "read_table"]


def read_table(root: Path | str, name: str, *, run_id: str | None = None) -> pd.DataFrame:
    """All rows of table ``name`` under ``root`` (optionally of one run)."""
    if name not in SCHEMAS:
        raise StoreError(f"unknown table {name!r}; known: {', '.join(SCHEMAS)}")
    if is_url(root):
        fs, base = filesystem(root)
        folder: Any = f"{str(root).rstrip('/')}/{name}"
        found = sorted(str(p) for p in fs.glob(f"{base}/{name}/*.parquet"))
        files: list[Any] = [p for p in found if not p.rsplit("/", 1)[-1].startswith(".")]
        stem = lambda p: p.rsplit("/", 1)[-1].removesuffix(".parquet")  # noqa: E731
    else:
        fs, folder = None, Path(root) / name
        files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
        stem = lambda p: p.stem  # noqa: E731
    if run_id is not None:
        files = [p for p in files if stem(p) == run_id]
    if not files:
        empty: pd.DataFrame = SCHEMAS[name].empty_table().to_pandas()
        return empty
    try:
        frames = [pq.read_table(p, schema=SCHEMAS[name], filesystem=fs).to_pandas() for p in files]
    except Exception as exc:
        raise StoreError(f"cannot read {folder}: {exc}") from exc
    df = pd.concat(frames, ignore_index=True).sort_values("created_at", kind="stable")
    out: pd.DataFrame = df.drop_duplicates(subset=list(KEYS[name]), keep="last")
    return out.sort_values(list(KEYS[name]), kind="stable").reset_index(drop=True)


def list_runs(root: Path | str) -> list[dict[str, Any]]:
    """The manifests of every run under ``root``, oldest first."""
    runs = []
    if is_url(root):
        fs, base = filesystem(root)
        paths: list[Any] = sorted(fs.glob(f"{base}/runs/*.json"))
        read = lambda p: fs.cat_file(p).decode("utf-8")  # noqa: E731
    else:
        paths = sorted((Path(root) / "runs").glob("*.json"))
        read = lambda p: p.read_text(encoding="utf-8")  # noqa: E731
    for path in paths:
        try:
            runs.append(json.loads(read(path)))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read run manifest {path}: {exc}") from exc
    return sorted(runs, key=lambda r: str(r.get("created_at", "")))


def primary_score(df: pd.DataFrame) -> pd.Series:
    """Each scores row's primary metric value."""
    out = pd.Series(float("nan"), index=df.index)
    for scorer in df["scorer"].unique():
        rows = df["scorer"] == scorer
        metric = primary_metric(scorer)
        if metric in df.columns:
            out[rows] = df.loc[rows, metric].astype(float)
    return out
