"""Fast queries over the Parquet store with DuckDB: checkpoints, score search, latent detail.

Queries read the tables' Parquet files in place (only the columns and row groups they
need) and push filters, sorting and the page limit into SQL, so a page of results from a
million score rows takes tens of milliseconds instead of a full pandas read.

Each search takes one frozen query object (:class:`~autointerp.store.filters.ScoreQuery`
or :class:`~autointerp.store.filters.LatentQuery`), already validated where it was made.

Newest row wins, as in :func:`autointerp.store.read_table`: when a key appears more than
once, the row with the latest ``created_at`` (then the later file, then the later row)
is kept. The superseded rows are found once per set of files (keys seen twice, then
``QUALIFY row_number()`` over just those) and cached by the files' paths, sizes and
modification times; every query then reads the table minus those rows, so a store
without rewritten keys pays nothing for deduplication.

A missing or empty table folder reads as an empty table; an unreadable file raises
:class:`~autointerp.errors.StoreError` naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autointerp.errors import UserInputError
from autointerp.store.duck import Store as _Store
from autointerp.store.duck import cols as _cols
from autointerp.store.duck import open_store as _open
from autointerp.store.duck import score_sql as _score_sql
from autointerp.store.filters import LatentQuery, ScoreQuery
from autointerp.store.query import list_runs

__all__ = [
    "SCORE_COLUMNS",
    "LatentDetail",
    "latent_detail",
    "list_checkpoints",
    "scores_page",
    "search_latents",
    "search_scores",
]

_EXPL_KEY = ("run_id", "latent", "explanation_id")
_SCORE_KEY = (*_EXPL_KEY, "scorer")


class _Where:
    """Conditions and their parameters, in order."""

    def __init__(self) -> None:
        self.where: list[str] = []
        self.params: list[Any] = []

    def add(self, cond: str, value: Any) -> _Where:
        if value is not None:
            self.where.append(cond)
            self.params.append(value)
        return self

    def sql(self, prefix: str = " WHERE ") -> str:
        return prefix + " AND ".join(self.where) if self.where else ""


def _keys(query: ScoreQuery | LatentQuery) -> _Where:
    return (
        _Where()
        .add("starts_with(sae_sha256, ?)", query.checkpoint)
        .add("run_id = ?", query.run_id)
        .add("latent = ?", query.latent)
    )


def _order(query: ScoreQuery | LatentQuery, key: Sequence[str]) -> str:
    if query.sort == "key":
        return ", ".join(f"{k} DESC" for k in key) if query.descending else ", ".join(key)
    column = "sae_sha256" if query.sort == "checkpoint" else query.sort
    return f"{column} {'DESC' if query.descending else 'ASC'} NULLS LAST, {', '.join(key)}"


def _page(query: ScoreQuery | LatentQuery) -> str:
    limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
    return f"{limit} OFFSET {int(query.offset)}"


def search_scores(root: Path | str, query: ScoreQuery | None = None) -> tuple[int, pd.DataFrame]:
    """Score rows (newest per key) joined with their explanation text, filtered, sorted
    and paged by ``query``: ``(total matching rows, the page)``. Column ``score`` is each
    row's primary metric (AUROC, or the scorer's own, e.g. correlation for simulation);
    no query: the first 50 rows."""
    query = query or ScoreQuery()
    order, page = _order(query, _SCORE_KEY), _page(query)
    pre = _keys(query).add("scorer = ?", query.scorer)
    score = _score_sql()
    pre.add(f"{score} >= ?", query.min_score)
    tables = ("scores", "explanations")
    with _open(root) as store:
        sql = store.rows(
            "scores", pre.where, f"* EXCLUDE (filename, file_row_number), {score} AS score"
        )
        params = list(pre.params)
        if query.contains:
            text = _keys(query)
            text.where.append("contains(lower(explanation), lower(?))")
            keys = store.rows("explanations", text.where, _cols(_EXPL_KEY))
            sql = f"SELECT * FROM ({sql}) SEMI JOIN ({keys}) USING ({_cols(_EXPL_KEY)})"
            params += [*text.params, query.contains]
        total = store.count(sql, params, tables)
        expl_pre = _keys(query)
        expl = store.rows("explanations", expl_pre.where, f"{_cols(_EXPL_KEY)}, explanation")
        df = store.df(
            f"SELECT p.*, e.explanation FROM (SELECT * FROM ({sql}) ORDER BY {order}{page}) p "
            f"LEFT JOIN ({expl}) e USING ({_cols(_EXPL_KEY)}) ORDER BY {order}",
            params + expl_pre.params,
            tables,
        )
    cols = [c for c in df.columns if c not in ("score", "explanation")]
    return total, df[[*cols, "explanation", "score"]]


SCORE_COLUMNS = [
    "run_id",
    "latent",
    "explanation_id",
    "scorer",
    "status",
    "explanation",
    "balanced_accuracy",
    "f1",
    "auroc",
    "auroc_ci_low",
    "auroc_ci_high",
    "accuracy",
    "correlation",
    "mean_delta",
    "n_examples",
]
"""The columns ``autointerp scores`` shows."""


def scores_page(root: Path | str, query: ScoreQuery | None = None) -> tuple[int, pd.DataFrame]:
    """:func:`search_scores` with the page in :data:`SCORE_COLUMNS`."""
    total, df = search_scores(root, query)
    return total, df[[c for c in SCORE_COLUMNS if c in df.columns]]


def search_latents(root: Path | str, query: LatentQuery | None = None) -> tuple[int, pd.DataFrame]:
    """One row per explanation (newest per key) with ``scores`` ({scorer: primary metric}
    of its ok score rows) and ``score``: ``query.scorer``'s primary metric when given (rows
    that scorer did not score are left out), else the highest of them. ``min_score`` and
    ``sort='score'`` use ``score``; as :func:`search_scores` otherwise."""
    query = query or LatentQuery()
    order, page = _order(query, _EXPL_KEY), _page(query)
    scorer, min_score = query.scorer, query.min_score
    pre = _keys(query)
    key = _cols(_EXPL_KEY)
    columns = "run_id, sae_sha256, model, hook_name, latent, explanation_id, explanation, "
    columns += "status, source, llm, created_at"
    tables = ("scores", "explanations")
    with _open(root) as store:
        sql = store.rows("explanations", pre.where, columns)
        params = list(pre.params)
        if query.contains:
            sql += (" AND " if pre.where else " WHERE ") + "contains(lower(explanation), lower(?))"
            params.append(query.contains)
        ok = _keys(query)
        ok.where.append("status IN ('ok', 'partial')")
        scores = store.rows("scores", ok.where, f"{key}, scorer, {_score_sql()} AS score")
        post = _Where().add("score >= ?", min_score)
        if scorer:
            post.where.append("score IS NOT NULL")
        by_score = scorer is not None or min_score is not None or query.sort == "score"
        if by_score:  # the score decides which rows and their order: join it first
            mine = _Where().add("scorer = ?", scorer)
            mine_sql = store.rows(
                "scores", ok.where + mine.where, f"{key}, {_score_sql()} AS score"
            )
            # one row per key once the scorer is fixed; else the best over the scorers
            agg = (
                mine_sql
                if scorer
                else f"SELECT {key}, max(score) AS score FROM ({mine_sql}) GROUP BY ALL"
            )
            sql = f"SELECT * FROM ({sql}) e LEFT JOIN ({agg}) a USING ({key}){post.sql()}"
            params += ok.params + mine.params + post.params
        total = store.count(sql, params, tables)
        # every score of the page's rows only (max(score) is `score` when not joined yet)
        scored = (
            f"SELECT {key}, list(struct_pack(scorer := scorer, score := score) ORDER BY "
            f"scorer) AS scores{'' if by_score else ', max(score) AS score'} FROM ({scores}) "
            f"SEMI JOIN p USING ({key}) GROUP BY ALL"
        )
        df = store.df(
            f"WITH p AS MATERIALIZED (SELECT * FROM ({sql}) ORDER BY {order}{page}) "
            f"SELECT * FROM p LEFT JOIN ({scored}) a USING ({key}) ORDER BY {order}",
            params + ok.params,
            tables,
        )
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
    tables = ("latents", "explanations", "scores")
    with _open(root) as store:
        prov = " UNION ALL ".join(
            f"SELECT DISTINCT run_id, sae_sha256, model, hook_name, created_at FROM {store.view(t)}"
            for t in tables
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
            f"({store.rows('explanations', columns='sae_sha256, latent, status')}) "
            "GROUP BY sae_sha256"
        )
        df = store.df(
            f"SELECT r.sae_sha256 AS checkpoint, r.*, coalesce(x.n_explanations, 0) "
            f"AS n_explanations, coalesce(x.n_latents, 0) AS n_latents FROM ({runs}) r "
            f"LEFT JOIN ({expl}) x USING (sae_sha256) ORDER BY latest_created_at DESC, "
            "sae_sha256",
            tables=tables,
        ).drop(columns=["sae_sha256"])
        scores = store.rows("scores", columns=f"sae_sha256, scorer, status, {_score_sql()} AS s")
        means = store.df(
            "SELECT sae_sha256, scorer, avg(s) FILTER (status IN ('ok', 'partial')) AS mean, "
            f"count(*) AS n FROM ({scores}) GROUP BY sae_sha256, scorer ORDER BY scorer",
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
        frames = (self.explanations, self.scores, self.examples)
        return self.stats is None and all(df.empty for df in frames)


def _resolve_checkpoint(store: _Store, prefix: str) -> str | None:
    if not prefix:
        raise UserInputError("checkpoint: expected a (prefix of a) sae_sha256, got ''")
    union = " UNION ".join(
        f"SELECT DISTINCT sae_sha256 FROM {store.view(t)} WHERE starts_with(sae_sha256, ?)"
        for t in ("latents", "explanations", "scores")
    )
    with store.errors("latents", "explanations", "scores"):
        found = sorted(r[0] for r in store.con.sql(union, params=[prefix] * 3).fetchall())
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
        pre = _Where().add("sae_sha256 = ?", sha).add("latent = ?", latent)
        pre.add("run_id = ?", run_id)

        def rows(table: str, columns: str, order: str) -> pd.DataFrame:
            sql = f"{store.rows(table, pre.where, columns)} ORDER BY created_at DESC, {order}"
            return store.df(sql, pre.params, (table,))

        expl = rows("explanations", "*", "run_id, explanation_id")
        scores = rows("scores", f"*, {_score_sql()} AS score", "run_id, explanation_id, scorer")
        order = 'run_id, role, quantile DESC, max_act DESC, "window"'
        examples = rows("examples", "*", order)
        stats = rows("latents", "*", "run_id")
    first = {str(k): v for k, v in stats.iloc[0].items()} if len(stats) else None
    return LatentDetail(sha, latent, first, expl, scores, examples)
