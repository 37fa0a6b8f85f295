"""The written outputs of a comparison: pairs.parquet, summary.json and PNG plots that
decode to real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from autointerp.compare import Comparison, compare, write_report
from autointerp.compare.report import PAIRS_SCHEMA
from autointerp.saes import load_sae
from tests.compare import SHARED_SHA, SMALL_SHA, N, build_store, memo_minilm

image = pytest.importorskip("matplotlib.image")

pytestmark = pytest.mark.slow  # MiniLM (sentence-transformers)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Comparison, dict[str, Path]]:
    demo, rand = load_sae("demo").info.sha256, load_sae("random:demo").info.sha256
    store = build_store(tmp_path_factory.mktemp("store"), demo, rand)
    comparison = compare(store, [demo, rand, SHARED_SHA, SMALL_SHA], memo_minilm())
    return comparison, write_report(comparison, tmp_path_factory.mktemp("out") / "cmp")


def test_pairs_parquet_has_a_row_per_latent_and_direction(
    written: tuple[Comparison, dict[str, Path]],
) -> None:
    comparison, files = written
    table = pq.read_table(files["pairs"])
    assert table.schema.equals(PAIRS_SCHEMA)
    df = table.to_pandas()
    sizes = {c.sha: len(c.latents) for c in comparison.checkpoints}
    expected = sum(sizes[p.a.sha] + sizes[p.b.sha] for p in comparison.pairs)
    assert len(df) == expected == 3 * (3 * N + 20)  # each checkpoint is in 3 pairs
    assert len(comparison.pairs) == 6
    demo = comparison.checkpoints[0].sha
    to_small = df[(df["checkpoint"] == demo) & (df["other_checkpoint"] == SMALL_SHA)]
    assert len(to_small) == N and to_small["matched_latent"].notna().sum() == 20
    matched = to_small.dropna(subset=["matched_latent"])
    assert (matched["matched_similarity"] > 0.999).all()
    assert (matched["matched_explanation"] == matched["explanation"]).all()
    assert to_small["decoder_latent"].isna().all()  # other subject model
    to_random = df[(df["checkpoint"] == demo) & (df["other_checkpoint"] != demo)]
    to_random = to_random[to_random["other_checkpoint"] == comparison.checkpoints[1].sha]
    assert to_random["decoder_latent"].notna().all() and to_random["decoder_agrees"].notna().all()
    assert (to_random["close"] == (to_random["best_similarity"] >= 0.7)).all()
    assert set(df["embedder"]) == {"minilm"}


def test_summary_json_holds_options_pairs_and_matrices(
    written: tuple[Comparison, dict[str, Path]],
) -> None:
    comparison, files = written
    summary = json.loads(files["summary"].read_text())
    assert summary["embedder"] == "minilm"
    assert summary["options"]["close_threshold"] == 0.7
    assert [c["checkpoint"] for c in summary["checkpoints"]] == [
        c.sha for c in comparison.checkpoints
    ]
    assert len(summary["pairs"]) == 6
    first = summary["pairs"][0]
    assert {"matched", "baseline", "random_pairs", "lift", "ks", "share_close", "decoders"} <= set(
        first
    )
    assert first["decoders"]["status"] == "ok" and first["plot"] in summary["files"].values()
    matrix = np.asarray(summary["matrix"]["mean_matched"])
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix, matrix.T)
    assert set(summary["files"].values()) == {p.name for p in files.values()}


def test_plots_render(written: tuple[Comparison, dict[str, Path]]) -> None:
    _, files = written
    pngs = [p for p in files.values() if p.suffix == ".png"]
    assert len(pngs) == 7  # six pairs and the heatmap
    for path in pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
        assert pixels[..., :3].std() > 0.05  # not a blank canvas
    # a pair with decoders compared has a second panel: a wider figure
    widths = {p.name: image.imread(p).shape[1] for p in pngs}
    demo, rand = (c.sha[:8] for c in written[0].checkpoints[:2])
    assert widths[f"hist_{demo}_{rand}.png"] > 1.5 * widths[f"hist_{demo}_{SMALL_SHA[:8]}.png"]


def test_no_temp_files_are_left(written: tuple[Comparison, dict[str, Path]]) -> None:
    _, files = written
    folder = files["summary"].parent
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert pd.read_parquet(files["pairs"]).shape[0] > 0
