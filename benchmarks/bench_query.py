"""Query latency over a large store: DuckDB (autointerp.store.search, behind the API and
``autointerp scores``) against the pandas path it replaced (``read_table`` of whole tables,
then filter in memory), side by side on the same files.

The store: ``--runs`` runs (alternating between two checkpoints) of ``--latents`` latents
each, every latent with one explanation, ``--scorers`` score rows, 4 examples of 16
tokens and a statistics row; the defaults give 10 x 100,000 = 1,000,000 score rows. Each
query runs ``--repeat`` times after one warm-up; the median is printed.

    python benchmarks/bench_query.py [--runs 10] [--latents 20000] [--scorers 5] [--dir D]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from autointerp.store import SCHEMAS, read_table
from autointerp.store import duck as engine
from autointerp.store.filters import LatentQuery, ScoreQuery
from autointerp.store.query import primary_score
from autointerp.store.search import (
    latent_detail,
    list_checkpoints,
    search_latents,
    search_scores,
)

SCORERS = ["detection", "fuzz", "embedding", "simulation", "intruder"]
WORDS = [
    "dog",
    "cat",
    "the",
    "of",
    "brackets",
    "French",
    "Python",
    "numbers",
    "dates",
    "code",
    "loop",
    "year",
    "name",
    "city",
]
SHAS = ["aaaa1111aaaa1111", "bbbb2222bbbb2222"]


def _table(name: str, n: int, cols: dict[str, Any]) -> pa.Table:
    arrays = [
        pa.array(cols[f.name], type=f.type) if f.name in cols else pa.nulls(n, type=f.type)
        for f in SCHEMAS[name]
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMAS[name])


def _list(values: np.ndarray, width: int, value_type: pa.DataType) -> pa.Array:
    offsets = pa.array(np.arange(0, len(values) + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values, type=value_type))


def write_run(root: Path, i: int, n_latents: int, scorers: list[str]) -> None:
    rng = np.random.default_rng(i)
    run_id, sha = f"run{i:03d}", SHAS[i % 2]
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(hours=i)

    def prov(n: int) -> dict[str, Any]:
        return {
            "run_id": [run_id] * n,
            "model": ["m"] * n,
            "sae_sha256": [sha] * n,
            "hook_name": ["blocks.6.hook_resid_post"] * n,
            "seed": [0] * n,
            "created_at": [created.to_pydatetime()] * n,
        }

    lat = np.arange(n_latents)
    words = rng.integers(0, len(WORDS), size=(n_latents, 3))
    texts = [f"{WORDS[a]} near {WORDS[b]} and {WORDS[c]}" for a, b, c in words]
    tables = {
        "explanations": _table(
            "explanations",
            n_latents,
            prov(n_latents)
            | {"latent": lat, "explanation_id": np.zeros(n_latents, np.int64)}
            | {"explanation": texts, "status": ["ok"] * n_latents, "llm": ["x"] * n_latents},
        ),
        "latents": _table(
            "latents",
            n_latents,
            prov(n_latents)
            | {"latent": lat, "sae_latent": lat, "fire_count": rng.integers(1, 999, n_latents)}
            | {"density": rng.random(n_latents), "max_act": rng.random(n_latents) * 10}
            | {"selected": np.ones(n_latents, bool), "sample_status": ["ok"] * n_latents},
        ),
    }
    n = n_latents * len(scorers)
    auroc = rng.random(n)
    tables["scores"] = _table(
        "scores",
        n,
        prov(n)
        | {"latent": np.repeat(lat, len(scorers)), "explanation_id": np.zeros(n, np.int64)}
        | {"scorer": scorers * n_latents, "status": ["ok"] * n, "n_examples": np.full(n, 40)}
        | {"auroc": auroc, "auroc_ci_low": auroc - 0.1, "auroc_ci_high": auroc + 0.1}
        | {"correlation": rng.random(n), "accuracy": rng.random(n), "f1": rng.random(n)},
    )
    n_ex, width = n_latents * 4, 16
    vocab = np.array([f" {w}" for w in WORDS], dtype=object)
    tables["examples"] = _table(
        "examples",
        n_ex,
        prov(n_ex)
        | {"latent": np.repeat(lat, 4), "window": np.arange(n_ex), "start": np.zeros(n_ex, int)}
        | {"role": ["explain", "explain", "score", "nonactivating"] * n_latents}
        | {"quantile": np.tile([2, 1, 1, 0], n_latents), "max_act": rng.random(n_ex)},
    )
    tables["examples"] = tables["examples"].set_column(
        SCHEMAS["examples"].get_field_index("tokens"),
        "tokens",
        _list(vocab[rng.integers(0, len(vocab), n_ex * width)], width, pa.string()),
    )
    tables["examples"] = tables["examples"].set_column(
        SCHEMAS["examples"].get_field_index("acts"),
        "acts",
        _list(rng.random(n_ex * width, dtype=np.float32), width, pa.float32()),
    )
    for name, table in tables.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / name / f"{run_id}.parquet")


def write_patch(root: Path, n_latents: int, scorers: list[str]) -> int:
    """A later file rewriting the first 10 % of run000's score rows (as a resumed job
    would): newest row wins, so these replace the originals. Returns the rows written."""
    old = pq.read_table(root / "scores" / "run000.parquet").slice(0, n_latents // 10 * len(scorers))
    newer = pa.array([pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()] * old.num_rows)
    at = SCHEMAS["scores"].get_field_index
    patched = old.set_column(at("created_at"), "created_at", newer.cast(old["created_at"].type))
    auroc = pa.array(1.0 - old["auroc"].to_numpy())
    patched = patched.set_column(at("auroc"), "auroc", auroc)
    pq.write_table(patched, root / "scores" / "run000-resumed.parquet")
    return int(old.num_rows)


# The pandas path: what the score query did before DuckDB.
def pandas_scores(root: Path, *, checkpoint: str | None = None, **kw: Any) -> pd.DataFrame:
    scores = read_table(root, "scores")
    expl = read_table(root, "explanations")
    df = scores.merge(
        expl[["run_id", "latent", "explanation_id", "explanation"]],
        on=["run_id", "latent", "explanation_id"],
        how="left",
    )
    if checkpoint is not None:
        df = df[df["sae_sha256"].str.startswith(checkpoint)]
    if kw.get("scorer") is not None:
        df = df[df["scorer"] == kw["scorer"]]
    if kw.get("contains"):
        df = df[df["explanation"].str.contains(kw["contains"], case=False, regex=False)]
    df = df.assign(score=primary_score(df))
    if kw.get("min_score") is not None:
        df = df[df["score"] >= kw["min_score"]]
    return df.sort_values(["run_id", "latent", "explanation_id", "scorer"]).head(50)


def pandas_detail(root: Path, sha: str, latent: int) -> dict[str, pd.DataFrame]:
    out = {}
    for name in ("explanations", "scores", "examples", "latents"):
        df = read_table(root, name)
        out[name] = df[(df["sae_sha256"] == sha) & (df["latent"] == latent)]
    return out


def pandas_checkpoints(root: Path) -> pd.DataFrame:
    scores = read_table(root, "scores")
    expl = read_table(root, "explanations")
    scores = scores.assign(score=primary_score(scores))
    means = scores.groupby(["sae_sha256", "scorer"])["score"].mean().unstack()
    counts = expl.groupby("sae_sha256")["latent"].nunique().rename("n_latents")
    return pd.concat([counts, means], axis=1)


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up (file cache, imports, scorer registry)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--latents", type=int, default=20_000, help="Latents per run.")
    ap.add_argument("--scorers", type=int, default=5, help="Score rows per latent.")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="Store directory to write (default: a temp dir, removed).")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-query-"))
    try:
        start = time.perf_counter()
        for i in range(args.runs):
            write_run(root, i, args.latents, SCORERS[: args.scorers])
        patched = write_patch(root, args.latents, SCORERS[: args.scorers])
        n_scores = args.runs * args.latents * args.scorers
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6
        print(
            f"store: {args.runs} runs, {n_scores:,} score rows, "
            f"{args.runs * args.latents:,} explanations, {args.runs * args.latents * 4:,} "
            f"examples; {size:.0f} MB of Parquet, written in {time.perf_counter() - start:.1f} s"
        )
        print(f"plus {patched:,} score rows of run000 rewritten by a later file (newest wins)")
        check(root)
        sha, lat = SHAS[0][:8], args.latents // 2
        queries: list[tuple[str, Callable[[], Any], Callable[[], Any] | None]] = [
            (
                "checkpoint+scorer+min_score, limit 50",
                lambda: search_scores(
                    root, ScoreQuery(checkpoint=sha, scorer="fuzz", min_score=0.9)
                ),
                lambda: pandas_scores(root, checkpoint=sha, scorer="fuzz", min_score=0.9),
            ),
            (
                "text search 'French', limit 50",
                lambda: search_scores(root, ScoreQuery(contains="french")),
                lambda: pandas_scores(root, contains="french"),
            ),
            (
                "top 50 by score (scorer detection)",
                lambda: search_scores(
                    root, ScoreQuery(scorer="detection", sort="score", descending=True)
                ),
                None,
            ),
            (
                "latents page (API /latents), limit 50",
                lambda: search_latents(root, LatentQuery(checkpoint=sha, min_score=0.5)),
                None,
            ),
            (
                f"latent detail ({sha}, {lat})",
                lambda: latent_detail(root, sha, lat),
                lambda: pandas_detail(root, SHAS[0], lat),
            ),
            ("list_checkpoints", lambda: list_checkpoints(root), lambda: pandas_checkpoints(root)),
        ]
        firsts = []
        for _ in range(args.repeat):
            engine._SUPERSEDED.clear()
            start = time.perf_counter()
            search_scores(root, ScoreQuery(checkpoint=sha, scorer="fuzz", min_score=0.9))
            firsts.append(time.perf_counter() - start)
        print(f"\n{'query':<42} {'duckdb':>10} {'pandas':>10} {'speed-up':>9}")
        first = statistics.median(firsts) * 1e3
        label = "first query of a process or new files"
        print(f"{label:<42} {first:8.0f}ms {'-':>10} {'-':>9}  (finds superseded rows once)")
        for name, duck, pandas in queries:
            t_duck = timed(duck, args.repeat)
            t_pd = timed(pandas, args.repeat) if pandas else float("nan")
            ratio = f"{t_pd / t_duck:8.0f}x" if pandas else "        -"
            pd_text = f"{t_pd * 1e3:8.0f}ms" if pandas else "         -"
            print(f"{name:<42} {t_duck * 1e3:8.0f}ms {pd_text} {ratio}")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


def check(root: Path) -> None:
    """Both paths find the same rows."""
    total, page = search_scores(
        root, ScoreQuery(checkpoint="aaaa", scorer="fuzz", min_score=0.9, limit=50)
    )
    old = pandas_scores(root, checkpoint="aaaa", scorer="fuzz", min_score=0.9)
    keys = ["run_id", "latent", "scorer"]
    assert page[keys].values.tolist() == old[keys].values.tolist(), "pages differ"
    assert total > len(page), "the filter matches more than a page"
    _, rewritten = search_scores(root, ScoreQuery(run_id="run000", latent=0, limit=None))
    scores = read_table(root, "scores")
    old_rows = scores[(scores["run_id"] == "run000") & (scores["latent"] == 0)]
    assert rewritten["auroc"].tolist() == old_rows["auroc"].tolist(), "newest row differs"
    assert len(rewritten) == len(old_rows) == len(SCORERS)
    print(
        f"check: both paths return the same first page ({total:,} rows match) and the same "
        "newest rows of the rewritten run"
    )


if __name__ == "__main__":
    main()
