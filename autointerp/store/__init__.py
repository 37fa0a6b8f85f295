"""Parquet storage: declared schemas, atomic idempotent writes, queries."""

from autointerp.store.query import list_runs, read_table
from autointerp.store.schema import KEYS, SCHEMAS, column_docs
from autointerp.store.writer import RunWriter

__all__ = ["KEYS", "SCHEMAS", "RunWriter", "column_docs", "list_runs", "read_table"]
