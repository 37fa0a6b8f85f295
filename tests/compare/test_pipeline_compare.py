"""End to end: the real pipeline explains the first 6 live latents of the demo SAE and of a random-weights
SAE of the same shape (``random:demo``) with the offline SmolLM2, then the two are compared
from the store they wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from autointerp.compare import compare, write_report
from autointerp.config import CacheConfig, CorpusConfig, RunConfig, SamplingConfig, ScoringConfig
from autointerp.pipeline import run
from tests.compare import memo_minilm

pytestmark = pytest.mark.slow

SMALL = RunConfig(
    latents="live:6",
    cache=CacheConfig(dtype="float32"),
    corpus=CorpusConfig(n_tokens=3200),
    sampling=SamplingConfig(n_explain=6, n_score=6, n_nonactivating=6, min_examples=4),
    scoring=ScoringConfig(scorers=("embedding",), n_bootstrap=0),
)


def test_the_pipeline_outputs_of_demo_and_random_demo_compare(tmp_path: Path) -> None:
    store = tmp_path / "store"
    demo = run(SMALL, store, progress=False)
    rand = run(
        RunConfig.from_dict({**SMALL.to_dict(), "sae": "random:demo"}), store, progress=False
    )
    embed = memo_minilm()
    result = compare(store, [demo.run_id, demo.run_id, rand.run_id], embed)
    files = write_report(result, tmp_path / "cmp")
    itself, demo_random, _ = (p.summary(0.7) for p in result.pairs)
    n = itself["a"]["n_latents"]
    assert n >= 4 and itself["matched"]["min"] > 0.999
    assert itself["decoders"]["status"] == "ok" and itself["decoders"]["agreement"] == 1.0
    assert demo_random["b"]["sae_path"] == "random:demo"
    dec = demo_random["decoders"]
    assert dec["status"] == "ok" and dec["matched_cosine"]["max"] < 0.3
    # six latents a side cannot show a difference from the baseline, and none is claimed
    assert demo_random["ks"]["pvalue"] > 0.01
    assert demo_random["matched"]["mean"] <= itself["matched"]["mean"]
    assert files["heatmap"].stat().st_size > 0
    print(
        "self matched", itself["matched"]["mean"], "baseline", itself["baseline"]["mean"],
        "| demo-random matched", demo_random["matched"]["mean"], "baseline",
        demo_random["baseline"]["mean"], "random pairs", demo_random["random_pairs"]["mean"],
        "ks p", demo_random["ks"]["pvalue"], "| decoders", dec["matched_cosine"]["mean"],
        dec["baseline_cosine"]["mean"], "agree", dec["n_agree"],
    )  # fmt: skip
