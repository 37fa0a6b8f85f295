"""Fast queries over the Parquet store with DuckDB: checkpoints, score search, latent detail.

Each query reads the tables' Parquet files in place (``read_parquet`` over the file list;
only the columns and row groups a query needs), keeps the newest row per key (as
:func:`autointerp.store.read_table` does: latest ``created_at``, then the later file and
row), and pushes filters, sorting and the page limit into SQL, so a page of results from a
million score rows costs a fraction of a second instead of a full pandas read.

Filters on key or provenance columns (run, checkpoint, latent, scorer) are applied before
the newest-row-wins step, which is sound because they are the same for every version of a
row; filters on values (score, explanation text) are applied after it.

A missing or empty table folder reads as an empty table; an unreadable file raises
:class:`~autointerp.errors.StoreError` naming the file.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from autointerp.errors import StoreError, UserInputError
from autointerp.store.query import list_runs
from autointerp.store.schema import KEYS, SCHEMAS

__all__ = [
    "LATENT_SORTS",
    "SCORE_SORTS",
    "LatentDetail",
    "latent_detail",
    "list_checkpoints",
    "search_latents",
    "search_scores",
]

_KEY_SORT = ("run_id", "latent", "explanation_id")
_METRICS = [
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "auroc",
    "accuracy",
    "correlation",
    "mean_delta",
]
SCORE_SORTS = ("key", "score", "latent", "run_id", "checkpoint", "scorer", "created_at", *_METRICS)
"""Sort keys of :func:`search_scores` ('key' = run, latent, explanation, scorer)."""
LATENT_SORTS = ("key", "score", "latent", "run_id", "checkpoint", "created_at")
"""Sort keys of :func:`search_latents` ('key' = run, latent, explanation)."""
_SORT_SQL = {"checkpoint": "sae_sha256", "key": None}


@functools.cache
def primary_metrics() -> dict[str, str]:
    """Registered scorer -> the metric that summarises it (every other scorer: AUROC)."""
    from scorers import SCORERS

    return {name: SCORERS.get(name).primary_metric for name in SCORERS.names()}


def _score_sql() -> str:
    """SQL for a scores row's primary metric."""
    cases = [
        f"WHEN '{name}' THEN {metric}"
        for name, metric in sorted(primary_metrics().items())
        if metric != "auroc" and metric in _METRICS
    ]
    return f"(CASE scorer {' '.join(cases)} ELSE auroc END)" if cases else "auroc"


def _files(root: Path, table: str) -> list[Path]:
    folder = root / table
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


class _Store:
    """One DuckDB connection with a view per table: ``<table>_all`` (every row) and the
    ``_dedup`` helper that keeps the newest row per key."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self._files: dict[str, list[Path]] = {}

    def view(self, table: str) -> str:
        """The name of a view over every row of ``table`` (all schema columns, plus
        ``filename`` and ``file_row_number`` for the newest-row-wins tie-break)."""
        name = f"{table}_all"
        if table in self._files:
            return name
        files = _files(self.root, table)
        self._files[table] = files
        self.con.register(f"{table}_empty", SCHEMAS[table].empty_table())
        empty = (
            f"SELECT *, NULL::VARCHAR AS filename, NULL::BIGINT AS file_row_number "
            f"FROM {table}_empty"
        )
        if files:
            paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
            source = (
                f"SELECT * FROM read_parquet([{paths}], union_by_name = true, "
                f"filename = true, file_row_number = true) UNION ALL BY NAME {empty}"
            )
        else:
            source = empty
        with self.errors(table):
            self.con.execute(f"CREATE TEMP VIEW {name} AS {source}")
        return name

    def dedup(self, table: str, where: Sequence[str] = (), columns: str = "*") -> str:
        """SQL selecting the newest row per key of ``table`` among rows matching ``where``."""
        view = self.view(table)
        keys = ", ".join(f'"{k}"' for k in KEYS[table])
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        order = "created_at DESC NULLS LAST, filename DESC, file_row_number DESC"
        return (
            f"SELECT {columns} FROM {view} {cond} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1"
        )

    def df(self, sql: str, params: Sequence[Any] = (), tables: Sequence[str] = ()) -> pd.DataFrame:
        with self.errors(*tables):
            out: pd.DataFrame = self.con.execute(sql, list(params)).df()
        return out.drop(columns=["filename", "file_row_number"], errors="ignore")

    @contextmanager
    def errors(self, *tables: str) -> Iterator[None]:
        """Turn a failed read into a StoreError that names the unreadable file."""
        try:
            yield
        except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
            raise
        except duckdb.Error as exc:
            bad = self._bad_file(tables or tuple(self._files))
            where = str(bad) if bad else f"the store {self.root}"
            raise StoreError(f"cannot read {where}: {exc}") from None

    def _bad_file(self, tables: Sequence[str]) -> Path | None:
        for table in tables:
            for path in self._files.get(table) or _files(self.root, table):
                try:
                    pq.read_metadata(path)
                except Exception:
                    return path
        return None

    def close(self) -> None:
        self.con.close()


@contextmanager
def _open(root: Path | str) -> Iterator[_Store]:
    store = _Store(root)
    try:
        yield store
    finally:
        store.close()


@dataclass
class _Filters:
    """Pre-dedup conditions (on key/provenance columns) and their parameters."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, cond: str, value: Any) -> None:
        if value is not None:
            self.where.append(cond)
            self.params.append(value)


def _key_filters(
    checkpoint: str | None, run_id: str | None, latent: int | None, scorer: str | None = None
) -> _Filters:
    f = _Filters()
    f.add("starts_with(sae_sha256, ?)", checkpoint)
    f.add("run_id = ?", run_id)
    f.add("latent = ?", latent)
    f.add("scorer = ?", scorer)
    return f


def _order(sort: str, choices: Sequence[str], descending: bool, key: Sequence[str]) -> str:
    if sort not in choices:
        raise UserInputError(f"sort {sort!r}: expected one of {', '.join(choices)}")
    tie = ", ".join(key)
    if sort == "key":
        return f"{', '.join(f'{k} DESC' for k in key)}" if descending else tie
    column = _SORT_SQL.get(sort, sort)
    return f"{column} {'DESC' if descending else 'ASC'} NULLS LAST, {tie}"


def _page(limit: int | None, offset: int) -> str:
    if offset < 0:
        raise UserInputError(f"offset {offset}: expected >= 0")
    if limit is not None and limit < 0:
        raise UserInputError(f"limit {limit}: expected >= 0")
    return (f"LIMIT {int(limit)} " if limit is not None else "") + f"OFFSET {int(offset)}"


def _run_query(
    store: _Store, body: str, params: list[Any], order: str, page: str, tables: Sequence[str]
) -> tuple[int, pd.DataFrame]:
    """Total count and one sorted page of ``body`` (a SELECT)."""
    df = store.df(
        f"WITH q AS ({body}) SELECT *, count(*) OVER () AS _total FROM q ORDER BY {order} {page}",
        params,
        tables,
    )
    if len(df):
        total = int(df["_total"].iloc[0])
    else:
        with store.errors(*tables):
            row = store.con.execute(f"SELECT count(*) FROM ({body})", params).fetchone()
        total = int(row[0]) if row else 0
    return total, df.drop(columns=["_total"]).reset_index(drop=True)


def search_scores(
    root: Path | str,
    *,
    checkpoint: str | None = None,
    run_id: str | None = None,
    latent: int | None = None,
    scorer: str | None = None,
    min_score: float | None = None,
    contains: str | None = None,
    sort: str = "key",
    descending: bool = False,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[int, pd.DataFrame]:
    """Score rows (newest per key) joined with their explanation text, filtered, sorted
    and paged: ``(total matching rows, the page)``. ``checkpoint`` is a prefix of
    ``sae_sha256``; ``min_score`` applies to each row's primary metric (column ``score``:
    AUROC, or the scorer's own, e.g. correlation for simulation); ``contains`` is
    case-insensitive text in the explanation; ``limit=None`` returns every row."""
    order = _order(sort, SCORE_SORTS, descending, (*_KEY_SORT, "scorer"))
    page = _page(limit, offset)
    pre = _key_filters(checkpoint, run_id, latent, scorer)
    expl_pre = _key_filters(checkpoint, run_id, latent)
    post: list[str] = []
    post_params: list[Any] = []
    if min_score is not None:
        post.append("score >= ?")
        post_params.append(float(min_score))
    if contains:
        post.append("contains(lower(coalesce(explanation, '')), lower(?))")
        post_params.append(contains)
    with _open(root) as store:
        scores = store.dedup("scores", pre.where)
        expl = store.dedup(
            "explanations",
            expl_pre.where,
            "run_id, latent, explanation_id, explanation",
        )
        body = (
            f"SELECT s.* EXCLUDE (filename, file_row_number), e.explanation, "
            f"{_score_sql()} AS score FROM ({scores}) s LEFT JOIN ({expl}) e "
            f"USING (run_id, latent, explanation_id)"
        )
        if post:
            body = f"SELECT * FROM ({body}) WHERE {' AND '.join(post)}"
        params = pre.params + expl_pre.params + post_params
        return _run_query(store, body, params, order, page, ("scores", "explanations"))


def search_latents(
    root: Path | str,
    *,
    checkpoint: str | None = None,
    run_id: str | None = None,
    latent: int | None = None,
    scorer: str | None = None,
    min_score: float | None = None,
    contains: str | None = None,
    sort: str = "key",
    descending: bool = False,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[int, pd.DataFrame]:
    """One row per explanation (newest per key) with ``scores`` ({scorer: primary metric}
    of its ok score rows) and ``score``: ``scorer``'s primary metric when given (rows that
    scorer did not score are left out), else the highest of them. ``min_score`` and
    ``sort='score'`` use ``score``; other arguments as :func:`search_scores`."""
    order = _order(sort, LATENT_SORTS, descending, _KEY_SORT)
    page = _page(limit, offset)
    expl_pre = _key_filters(checkpoint, run_id, latent)
    score_pre = _key_filters(checkpoint, run_id, latent)
    score_pre.where.append("status = 'ok'")
    best = "max(score) FILTER (scorer = ?)" if scorer else "max(score)"
    post: list[str] = []
    post_params: list[Any] = []
    if scorer:
        post.append("a.score IS NOT NULL")
    if min_score is not None:
        post.append("a.score >= ?")
        post_params.append(float(min_score))
    if contains:
        post.append("contains(lower(coalesce(e.explanation, '')), lower(?))")
        post_params.append(contains)
    with _open(root) as store:
        expl = store.dedup("explanations", expl_pre.where)
        scores = (
            f"SELECT run_id, latent, explanation_id, scorer, {_score_sql()} AS score "
            f"FROM ({store.dedup('scores', score_pre.where)})"
        )
        agg = (
            f"SELECT run_id, latent, explanation_id, {best} AS score, "
            f"list(struct_pack(scorer := scorer, score := score) ORDER BY scorer) AS scores "
            f"FROM ({scores}) GROUP BY run_id, latent, explanation_id"
        )
        columns = (
            "e.run_id, e.sae_sha256, e.model, e.hook_name, e.latent, e.explanation_id, "
            "e.explanation, e.status, e.source, e.llm, e.created_at, a.score, a.scores"
        )
        body = (
            f"SELECT {columns} FROM ({expl}) e LEFT JOIN ({agg}) a "
            f"USING (run_id, latent, explanation_id)"
        )
        if post:
            body += f" WHERE {' AND '.join(post)}"
        # placeholders in text order: explanations, the scorer in `best`, then scores
        params = expl_pre.params + ([scorer] if scorer else []) + score_pre.params + post_params
        total, df = _run_query(store, body, params, order, page, ("scores", "explanations"))
    df["scores"] = pd.Series([_score_dict(v) for v in df["scores"]], index=df.index, dtype=object)
    return total, df


def _score_dict(items: Any) -> dict[str, float | None]:
    if not isinstance(items, (list, tuple, np.ndarray)):
        return {}  # no score rows: NULL (pd.NA / None)
    return {
        str(i["scorer"]): None if i["score"] is None or pd.isna(i["score"]) else float(i["score"])
        for i in items
    }


def list_checkpoints(root: Path | str) -> pd.DataFrame:
    """One row per checkpoint (``sae_sha256``): model, hook, runs, latents explained (ok),
    explanations (ok), score rows, ``mean_scores`` ({scorer: mean primary metric of its
    ok rows}), the latest run and the checkpoint path from that run's manifest."""
    with _open(root) as store:
        prov = " UNION ALL ".join(
            f"SELECT run_id, sae_sha256, model, hook_name, created_at FROM {store.view(t)}"
            for t in ("latents", "explanations", "scores")
        )
        runs = (
            "SELECT sae_sha256, count(DISTINCT run_id) AS n_runs, "
            "arg_max(model, created_at) AS model, arg_max(hook_name, created_at) AS hook_name, "
            "arg_max(run_id, created_at) AS latest_run_id, max(created_at) AS latest_created_at "
            f"FROM ({prov}) GROUP BY sae_sha256"
        )
        expl = (
            "SELECT sae_sha256, count(DISTINCT latent) FILTER (status = 'ok') AS n_latents, "
            "count(*) FILTER (status = 'ok') AS n_explanations FROM "
            f"({store.dedup('explanations', columns='sae_sha256, latent, status')}) "
            "GROUP BY sae_sha256"
        )
        tables = ("latents", "explanations", "scores")
        df = store.df(
            f"SELECT r.sae_sha256 AS checkpoint, r.*, coalesce(x.n_explanations, 0) "
            f"AS n_explanations, coalesce(x.n_latents, 0) AS n_latents FROM ({runs}) r "
            f"LEFT JOIN ({expl}) x USING (sae_sha256) ORDER BY latest_created_at DESC, "
            "sae_sha256",
            tables=tables,
        ).drop(columns=["sae_sha256"])
        dedup = store.dedup("scores", columns=f"sae_sha256, scorer, status, {_score_sql()} AS s")
        means = store.df(
            f"SELECT sae_sha256, scorer, avg(s) FILTER (status = 'ok') AS mean, count(*) AS n "
            f"FROM ({dedup}) GROUP BY sae_sha256, scorer ORDER BY scorer",
            tables=("scores",),
        )
    by_ckpt: dict[str, dict[str, float | None]] = {}
    counts: dict[str, int] = {}
    for ckpt, scorer, mean, n in means.itertuples(index=False):
        by_ckpt.setdefault(ckpt, {})[scorer] = None if pd.isna(mean) else float(mean)
        counts[ckpt] = counts.get(ckpt, 0) + int(n)
    df["n_scores"] = [counts.get(c, 0) for c in df["checkpoint"]]
    df["mean_scores"] = pd.Series(
        [by_ckpt.get(c, {}) for c in df["checkpoint"]], index=df.index, dtype=object
    )
    paths = {r.get("run_id"): (r.get("inputs") or {}).get("sae_path") for r in list_runs(root)}
    df["sae_path"] = [paths.get(r) for r in df["latest_run_id"]]
    return df.reset_index(drop=True)


@dataclass
class LatentDetail:
    """Everything stored about one latent of one checkpoint (newest rows, every run)."""

    checkpoint: str
    latent: int
    stats: dict[str, Any] | None
    explanations: pd.DataFrame
    scores: pd.DataFrame
    examples: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.stats is None and all(
            df.empty for df in (self.explanations, self.scores, self.examples)
        )


def _resolve_checkpoint(store: _Store, prefix: str) -> str | None:
    if not prefix:
        raise UserInputError("checkpoint: expected a (prefix of a) sae_sha256, got ''")
    union = " UNION ".join(
        f"SELECT DISTINCT sae_sha256 FROM {store.view(t)} WHERE starts_with(sae_sha256, ?)"
        for t in ("latents", "explanations", "scores")
    )
    with store.errors("latents", "explanations", "scores"):
        found = sorted(r[0] for r in store.con.execute(union, [prefix] * 3).fetchall())
    if len(found) > 1:
        raise UserInputError(
            f"checkpoint {prefix!r} is ambiguous: it starts {', '.join(found)}; give more digits"
        )
    return found[0] if found else None


def latent_detail(
    root: Path | str, checkpoint: str, latent: int, *, run_id: str | None = None
) -> LatentDetail:
    """Explanations, scores (every metric with its CI, and ``score``), examples (tokens,
    acts, role, quantile) and the newest statistics row of ``latent`` in the checkpoint
    whose ``sae_sha256`` starts with ``checkpoint``; ``.empty`` when nothing is stored."""
    with _open(root) as store:
        sha = _resolve_checkpoint(store, checkpoint)
        if sha is None:
            empty = pd.DataFrame()
            return LatentDetail(checkpoint, latent, None, empty, empty, empty)
        pre = _key_filters(sha, run_id, latent)
        pre.where[0] = "sae_sha256 = ?"

        def rows(table: str, extra: str, order: str) -> pd.DataFrame:
            sql = f"SELECT *{extra} FROM ({store.dedup(table, pre.where)}) ORDER BY {order}"
            return store.df(sql, pre.params, (table,))

        newest = "created_at DESC, run_id"
        expl = rows("explanations", "", f"{newest}, explanation_id")
        scores = rows("scores", f", {_score_sql()} AS score", f"{newest}, explanation_id, scorer")
        order = f'{newest}, role, quantile DESC, max_act DESC, "window"'
        examples = rows("examples", "", order)
        stats = rows("latents", "", newest)
    first = {str(k): v for k, v in stats.iloc[0].items()} if len(stats) else None
    return LatentDetail(sha, latent, first, expl, scores, examples)
