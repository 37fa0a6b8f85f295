"""DuckDB queries over a store of real Parquet files written by RunWriter: the same rows as
the pandas path (newest row wins), filters, sorting, paging, checkpoints, latent detail,
missing folders and corrupt files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autointerp.errors import StoreError, UserInputError
from autointerp.store import SCHEMAS, read_table
from autointerp.store.filters import LatentQuery, ScoreQuery
from autointerp.store.search import (
    latent_detail,
    list_checkpoints,
    scores_page,
    search_latents,
    search_scores,
)
from tests.store.builders import SHA_A, SHA_B, T0, TEXTS, build_store, frame, score_row, write_run


def pairs(df: pd.DataFrame) -> list[tuple[str, int]]:
    return list(df[["run_id", "latent"]].itertuples(index=False, name=None))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return build_store(tmp_path / "store")


def test_search_matches_the_pandas_path(store: Path) -> None:
    total, df = search_scores(store, ScoreQuery(limit=None))
    old = read_table(store, "scores")
    assert total == len(old) == len(df) == 3 * (6 + 3 + 4)
    keys = ["run_id", "latent", "explanation_id", "scorer"]
    assert df[keys].values.tolist() == old[keys].values.tolist()
    pd.testing.assert_series_equal(df["auroc"], old["auroc"])
    joined = dict(zip(pairs(df), df["explanation"], strict=True))
    assert joined[("ra1", 1)] == TEXTS[1] and joined[("rb1", 0)] == "Dogs and cats"


def test_newest_row_wins_across_files(store: Path) -> None:
    """A later file holding newer rows for keys of run ra1 overrides them; older rows in
    later files do not."""
    prov = {"run_id": "ra1", "model": "model-aaaa", "sae_sha256": SHA_A, "seed": 0}
    prov |= {"hook_name": "blocks.1.hook_resid_post"}
    newer = frame(
        "scores",
        [score_row(0, "detection", 0.99)],
        prov | {"created_at": T0 + pd.Timedelta(1, "h")},
    )
    older = frame(
        "scores",
        [score_row(1, "detection", 0.01)],
        prov | {"created_at": T0 - pd.Timedelta(1, "h")},
    )
    _, before = search_scores(store, ScoreQuery(run_id="ra1", scorer="detection", latent=0))
    assert before["auroc"].round(2).tolist() == [0.5]
    table = pa.Table.from_pandas(pd.concat([newer, older]), schema=SCHEMAS["scores"])
    pq.write_table(table, store / "scores" / "zz-patch.parquet")
    # (the superseded rows are cached per set of files: the new file invalidates the cache)
    _, df = search_scores(store, ScoreQuery(run_id="ra1", scorer="detection", limit=None))
    assert df["latent"].tolist() == [0, 1, 2, 3, 4, 5]
    assert df["auroc"].round(2).tolist()[:5] == [0.99, 0.6, 0.7, 0.8, 0.9]
    old = read_table(store, "scores")
    old = old[(old["run_id"] == "ra1") & (old["scorer"] == "detection")].reset_index(drop=True)
    pd.testing.assert_series_equal(df["auroc"], old["auroc"])


def test_filters(store: Path) -> None:
    total, df = search_scores(
        store, ScoreQuery(checkpoint="aaaa", scorer="detection", min_score=0.75)
    )
    # ra1: 0.8, 0.9 (latents 3, 4); ra2: 0.7, 0.8 -> 0.8 (latent 1)
    assert total == 3
    assert sorted(pairs(df)) == [("ra1", 3), ("ra1", 4), ("ra2", 1)]
    assert (df["sae_sha256"] == SHA_A).all() and (df["score"] >= 0.75).all()
    total, df = search_scores(store, ScoreQuery(contains="DOG"))
    assert set(df["explanation"]) == {"names of dogs", "dog breeds", "Dogs and cats"}
    assert total == 9
    # simulation's primary metric is its correlation (AUROC is null there)
    _, sim = search_scores(store, ScoreQuery(scorer="simulation", min_score=0.35))
    assert sim["latent"].tolist() == [4] and sim["correlation"].round(2).tolist() == [0.4]
    total, none = search_scores(store, ScoreQuery(checkpoint="ffff"))
    assert total == 0 and none.empty and "explanation" in none.columns


def test_sort_and_pages(store: Path) -> None:
    total, first = search_scores(
        store, ScoreQuery(scorer="detection", sort="score", descending=True, limit=3)
    )
    assert total == 13 and first["score"].round(2).tolist() == [0.9, 0.8, 0.8]
    _, second = search_scores(
        store, ScoreQuery(scorer="detection", sort="score", descending=True, limit=3, offset=3)
    )
    assert second["score"].round(2).tolist() == [0.7, 0.7, 0.6]
    total, past = search_scores(store, ScoreQuery(limit=5, offset=1000))
    assert total == 39 and past.empty
    _, skipped_last = search_scores(store, ScoreQuery(scorer="fuzz", sort="score", limit=None))
    assert skipped_last["status"].tolist()[-3:] == ["skipped"] * 3, "nulls sort last"
    with pytest.raises(UserInputError, match="sort 'nope'"):
        search_scores(store, ScoreQuery(sort="nope"))
    with pytest.raises(UserInputError, match="offset"):
        search_scores(store, ScoreQuery(offset=-1))


def test_scores_page_keeps_its_columns_and_order(store: Path) -> None:
    _, df = scores_page(store, ScoreQuery(scorer="fuzz", min_score=0.7, limit=None))
    assert list(df.columns[:4]) == ["run_id", "latent", "explanation_id", "scorer"]
    assert pairs(df) == [("ra1", 3), ("ra1", 4)]
    assert df["explanation"].tolist() == [TEXTS[3], TEXTS[4]]


def test_search_latents(store: Path) -> None:
    total, df = search_latents(store, LatentQuery(checkpoint="aaaa", limit=None))
    assert total == 6 + 3
    row = df[(df["run_id"] == "ra1") & (df["latent"] == 2)].iloc[0]
    assert row["scores"] == pytest.approx({"detection": 0.7, "fuzz": 0.6, "simulation": 0.2})
    assert row["score"] == pytest.approx(0.7), "without a scorer: the highest"
    failed = df[(df["run_id"] == "ra1") & (df["latent"] == 5)].iloc[0]
    assert failed["status"] == "llm_error" and failed["scores"] == {}
    total, best = search_latents(
        store, LatentQuery(scorer="fuzz", sort="score", descending=True, limit=2)
    )
    assert total == 10 and best["score"].round(2).tolist() == [0.8, 0.7]
    total, df = search_latents(
        store, LatentQuery(checkpoint="aaaa", scorer="detection", min_score=0.75)
    )
    assert sorted(pairs(df)) == [("ra1", 3), ("ra1", 4), ("ra2", 1)]
    total, dogs = search_latents(
        store, LatentQuery(contains="dog", min_score=0.5, scorer="detection")
    )
    assert total == 2 and set(dogs["explanation"]) == {"names of dogs", "dog breeds"}


def test_list_checkpoints(store: Path) -> None:
    df = list_checkpoints(store).set_index("checkpoint")
    assert list(df.index) == [SHA_A, SHA_B], "most recent run first"
    a = df.loc[SHA_A]
    assert a["n_runs"] == 2 and a["latest_run_id"] == "ra2" and a["model"] == "model-aaaa"
    assert a["n_latents"] == 5 and a["n_explanations"] == 7
    assert a["sae_path"] == "/ckpts/aaaa" and a["n_scores"] == 3 * 9
    # detection over ra1 (0.5..0.9) and ra2 (0.7, 0.8): mean 0.7143
    assert a["mean_scores"]["detection"] == pytest.approx((3.5 + 1.5) / 7)
    assert df.loc[SHA_B, "mean_scores"]["simulation"] == pytest.approx(0.1)


def test_latent_detail(store: Path) -> None:
    d = latent_detail(store, "aaaa", 1)
    assert d.checkpoint == SHA_A and not d.empty
    assert d.explanations["explanation"].tolist() == ["the keyword def", TEXTS[1]], "newest first"
    assert len(d.scores) == 6 and {"auroc_ci_low", "auroc_ci_high", "score"} <= set(d.scores)
    assert len(d.examples) == 6 and d.examples["tokens"].iloc[0].tolist() == ["The", " dog", " w0"]
    assert d.stats is not None and d.stats["run_id"] == "ra2" and d.stats["fire_count"] == 101
    only = latent_detail(store, SHA_A, 1, run_id="ra1")
    assert only.explanations["explanation"].tolist() == [TEXTS[1]]
    assert latent_detail(store, "aaaa", 99).empty
    assert latent_detail(store, "ffff", 1).empty
    with pytest.raises(UserInputError, match="checkpoint"):
        latent_detail(store, "", 1)


def test_ambiguous_checkpoint_prefix(tmp_path: Path) -> None:
    write_run(tmp_path, "r1", "abc1000000000000", 0, ["x"], base=0.5)
    write_run(tmp_path, "r2", "abc2000000000000", 0, ["y"], base=0.5)
    with pytest.raises(UserInputError, match="ambiguous"):
        latent_detail(tmp_path, "abc", 0)
    assert latent_detail(tmp_path, "abc2", 0).explanations["explanation"].tolist() == ["y"]


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    assert search_scores(tmp_path / "nothing-here")[0] == 0
    (tmp_path / "scores").mkdir()
    total, df = search_scores(tmp_path)
    assert total == 0 and df.empty
    assert list_checkpoints(tmp_path).empty
    assert search_latents(tmp_path)[0] == 0
    assert latent_detail(tmp_path, "aaaa", 0).empty
    # explanations only (no scores table at all)
    write_run(tmp_path, "r1", SHA_A, 0, ["x"], base=0.5)
    for p in (tmp_path / "scores").glob("*"):
        p.unlink()
    total, df = search_latents(tmp_path)
    assert total == 2 and df["scores"].tolist() == [{}, {}]
    assert list_checkpoints(tmp_path)["n_scores"].tolist() == [0]


def test_corrupt_file_names_the_file(store: Path) -> None:
    bad = store / "explanations" / "broken.parquet"
    bad.write_bytes(b"not parquet at all")
    for call in (
        lambda: search_scores(store),
        lambda: list_checkpoints(store),
        lambda: latent_detail(store, "aaaa", 0),
    ):
        with pytest.raises(StoreError, match=r"broken\.parquet"):
            call()


def test_corrupt_manifest_is_a_store_error(store: Path) -> None:
    (store / "runs" / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(StoreError, match=r"bad\.json"):
        list_checkpoints(store)
    assert json.loads((store / "runs" / "ra1.json").read_text())["run_id"] == "ra1"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autointerp.cli", "scores", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_scores_filters_sort_and_pages(store: Path) -> None:
    args = ["--out", str(store), "--checkpoint", "aaaa", "--contains", "dog"]
    out = _cli(*args, "--sort", "score", "--desc", "--limit", "2", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["run_id"], r["scorer"], round(r["auroc"], 2)) for r in rows] == [
        ("ra2", "detection", 0.7),
        ("ra1", "detection", 0.5),
    ]
    table = _cli(*args, "--limit", "2", "--offset", "1")
    assert table.returncode == 0 and "rows 2-3 of 6" in table.stdout
    assert "names of dogs" in table.stdout
    bad = _cli("--out", str(store), "--sort", "nope")
    assert bad.returncode == 2 and "sort 'nope': expected one of" in bad.stderr


def test_pandas_and_sql_agree_on_every_scorers_primary_metric(tmp_path: Path) -> None:
    """Each registered scorer's rows hold a different value in every metric column: the
    SQL ``score`` and :func:`autointerp.store.query.primary_score` pick the same one."""
    from autointerp.primary_metrics import primary_metric
    from autointerp.store import RunWriter
    from autointerp.store.query import primary_score
    from autointerp.store.schema import METRICS
    from scorers import SCORERS

    prov = {"run_id": "r", "model": "m", "sae_sha256": SHA_A, "seed": 0, "created_at": T0}
    prov |= {"hook_name": "blocks.1.hook_resid_post"}
    rows = [
        score_row(i, scorer, 0.0) | {m: 0.01 * (j + 1) + 0.1 * i for j, m in enumerate(METRICS)}
        for i, scorer in enumerate(SCORERS.names())
    ]
    writer = RunWriter(tmp_path, "r")
    writer.add("scores", frame("scores", rows, prov))
    writer.commit({"run_id": "r", "created_at": T0.isoformat()})
    _, sql = search_scores(tmp_path, ScoreQuery(limit=None, sort="key"))
    pandas = read_table(tmp_path, "scores").sort_values(["latent", "scorer"])
    assert sql["scorer"].tolist() == pandas["scorer"].tolist() == SCORERS.names()
    assert sql["score"].tolist() == primary_score(pandas).tolist()
    for scorer, score, row in zip(sql["scorer"], sql["score"], rows, strict=True):
        assert score == row[primary_metric(scorer)] == row[SCORERS.get(scorer).primary_metric]
    assert len(set(sql["score"].round(6))) == len(SCORERS.names())


@pytest.mark.slow  # a fresh interpreter (~3 s)
def test_a_fresh_process_knows_every_primary_metric_before_importing_scorers() -> None:
    """The store never imports the scorers; the loader the package adds does, on first read."""
    code = (
        "import json, sys\n"
        "from autointerp.store.duck import score_sql\n"
        "from autointerp.store.query import primary_score\n"
        "before = 'scorers' in sys.modules\n"
        "from autointerp.primary_metrics import primary_metrics\n"
        "print(json.dumps([before, primary_metrics(), score_sql()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    before, metrics, sql = json.loads(out.stdout)
    from autointerp.store.duck import score_sql
    from scorers import SCORERS

    assert before is False
    assert metrics == {name: SCORERS.get(name).primary_metric for name in SCORERS.names()}
    assert sql == score_sql() and "WHEN 'simulation' THEN correlation" in sql
