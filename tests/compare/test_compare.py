"""Comparing checkpoints through real stores, MiniLM embeddings and real decoder weights.

The two checks the feature is judged by:

* the demo SAE against itself: every latent finds its own explanation (similarity 1), far
  above the baseline, and decoder matching is the identity;
* the demo SAE against a random-weights SAE of the same shape (``random:demo``): its
  explanations are drawn from the same pool of realistic explanations as the demo's but
  assigned independently of the demo's latents (the other half of the pool: different
  concepts, the same style), as a random SAE's explanations would be; the matched
  similarities must then be indistinguishable from the baseline, and the real
  ``random:demo`` decoder directions must match the demo's no better than shuffled ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autointerp.compare import CompareOptions, NamedEmbedder, compare, load_checkpoints
from autointerp.errors import ConfigError, UserInputError
from autointerp.saes import load_sae
from tests.compare import SHARED_SHA, SMALL_SHA, N, build_store, memo_minilm, split, write_run

pytestmark = pytest.mark.slow  # MiniLM (sentence-transformers)


@pytest.fixture(scope="module")
def embedder() -> NamedEmbedder:
    return memo_minilm()


@pytest.fixture(scope="module")
def shas() -> dict[str, str]:
    return {
        "demo": load_sae("demo").info.sha256,
        "random": load_sae("random:demo").info.sha256,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, shas: dict[str, str]) -> Path:
    """See tests.compare.build_store."""
    return build_store(tmp_path_factory.mktemp("store"), shas["demo"], shas["random"])


def test_the_demo_against_itself_matches_perfectly(
    store: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    result = compare(store, [shas["demo"][:6], shas["demo"]], embedder)
    (pair,) = result.pairs
    s = pair.summary(0.7)
    assert s["matched"]["n"] == N and s["matched"]["min"] > 0.999
    assert s["share_close"]["a_to_b"] == s["share_close"]["b_to_a"] == 1.0
    assert s["baseline"]["mean"] < 0.45 and s["share_close"]["baseline"] < 0.05
    assert s["ks"]["pvalue"] < 1e-20
    np.testing.assert_array_equal(pair.matching.rows, pair.matching.cols)
    dec = s["decoders"]
    assert dec["status"] == "ok"
    assert dec["matched_cosine"]["min"] > 1 - 1e-5
    assert dec["baseline_cosine"]["mean"] < 0.2
    assert dec["agreement"] == 1.0 and dec["n_agree"] == N


def test_the_demo_against_a_random_weights_sae_is_at_the_baseline(
    store: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    result = compare(store, [shas["demo"], shas["random"]], embedder)
    s = result.pairs[0].summary(0.7)
    assert s["b"]["sae_path"] == "random:demo" and s["b"]["n_latents"] == N
    # explanations: at the baseline (30 splits of the pool: |lift| <= 0.035, KS p < 0.05
    # once, as a calibrated test should; this split: lift -0.009, p 0.29)
    assert abs(s["lift"]) < 0.04
    assert s["ks"]["pvalue"] > 0.05
    assert s["matched"]["mean"] > s["random_pairs"]["mean"] + 0.15  # matching still helps
    assert s["share_close"]["a_to_b"] <= s["share_close"]["baseline"] + 0.05
    # decoders: real random:demo weights, at the shuffled baseline, agreement at chance
    dec = s["decoders"]
    assert dec["status"] == "ok"
    assert abs(dec["matched_cosine"]["mean"] - dec["baseline_cosine"]["mean"]) < 0.01
    assert dec["matched_cosine"]["max"] < 0.3
    assert dec["n_agree"] <= 3  # chance: 1 in 78 per latent


def test_the_baseline_is_calibrated_across_splits(tmp_path: Path, embedder: NamedEmbedder) -> None:
    """Twenty independent splits of the pool: matched similarities of unrelated halves sit
    on the baseline on average, and KS rejects at about its nominal 5 % rate."""
    lifts, rejected = [], 0
    for seed in range(20):
        a, b = split(100 + seed)
        root = write_run(tmp_path / f"s{seed}", "ra", "a" * 16, a)
        write_run(root, "rb", "b" * 16, b)
        s = compare(root, ["ra", "rb"], embedder, CompareOptions(decoders=False))
        summary = s.pairs[0].summary(0.7)
        lifts.append(summary["lift"])
        rejected += summary["ks"]["pvalue"] < 0.05
    assert abs(np.mean(lifts)) < 0.015
    assert rejected <= 3


def test_a_checkpoint_sharing_half_the_features(
    store: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    result = compare(store, [shas["demo"], SHARED_SHA, shas["random"]], embedder)
    demo_shared, demo_random, shared_random = (p.summary(0.7) for p in result.pairs)
    assert demo_shared["b"]["hook_name"] == "blocks.10.hook_resid_post"
    assert 0.5 <= demo_shared["share_close"]["a_to_b"] <= 0.56
    assert demo_shared["share_close"]["b_to_a"] == pytest.approx(0.5, abs=0.06)
    assert demo_shared["ks"]["pvalue"] < 1e-3
    assert demo_random["lift"] < 0.1 < demo_shared["lift"]
    assert shared_random["share_close"]["b_to_a"] == pytest.approx(0.5, abs=0.06)
    assert "no run manifest names its checkpoint path" in demo_shared["decoders"]["reason"]
    mats = result.matrices()
    m = mats["mean_matched"]
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 2] < m[0, 1] < 1.0
    assert mats["labels"][1] == "5a5a0000 blocks.10.hook_resid_post"


def test_different_sizes_and_models(
    store: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    result = compare(store, [shas["demo"], SMALL_SHA], embedder)
    pair = result.pairs[0]
    s = pair.summary(0.7)
    assert s["matched"]["n"] == 20 and s["matched"]["min"] > 0.999
    assert s["share_close"]["b_to_a"] == 1.0
    assert s["share_close"]["a_to_b"] == pytest.approx(20 / N, abs=0.03)
    assert pair.b.latents.tolist() == list(range(500, 520))
    assert "different subject models" in s["decoders"]["reason"]


def test_a_latent_is_represented_by_its_newest_usable_explanation(
    tmp_path: Path, embedder: NamedEmbedder
) -> None:
    write_run(tmp_path, "old", "c" * 16, ["dogs", "cats", "trees"], failed=(3,))
    write_run(tmp_path, "new", "c" * 16, ["horses"], latents=[1], failed=(2,), hours=1)
    (ckpt,) = load_checkpoints(tmp_path, ["cccc"])
    assert ckpt.latents.tolist() == [0, 1, 2]  # 3 never had a usable explanation
    assert ckpt.texts == ("dogs", "horses", "trees")
    assert ckpt.runs.tolist() == ["old", "new", "old"] and ckpt.run_ids == ("new", "old")
    (one_run,) = load_checkpoints(tmp_path, ["old"])
    assert one_run.texts == ("dogs", "cats", "trees")


def test_unusable_requests_are_user_errors(
    store: Path, tmp_path: Path, embedder: NamedEmbedder
) -> None:
    with pytest.raises(UserInputError, match=r"'zzz'.*5a5a000000000001 \(blocks.10"):
        compare(store, ["zzz", SHARED_SHA], embedder)
    with pytest.raises(UserInputError, match="ambiguous"):
        compare(store, ["5a5", SHARED_SHA], embedder)
    with pytest.raises(UserInputError, match="at least 2"):
        compare(store, [SHARED_SHA], embedder)
    with pytest.raises(UserInputError, match="no usable explanations"):
        compare(tmp_path, ["a", "b"], embedder)
    with pytest.raises(ConfigError, match="close_threshold"):
        CompareOptions(close_threshold=1.5)


def test_a_checkpoint_path_that_now_holds_other_weights_skips_decoders(
    tmp_path: Path, embedder: NamedEmbedder
) -> None:
    write_run(tmp_path, "r1", "d" * 16, ["dogs", "cats"], sae_path="demo")
    write_run(tmp_path, "r2", "e" * 16, ["dogs", "trees"], sae_path="demo")
    s = compare(tmp_path, ["r1", "r2"], embedder).pairs[0].summary(0.7)
    assert "now hashes to" in s["decoders"]["reason"]


def test_large_dictionaries_use_the_approximate_matching_with_the_same_verdicts(
    store: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    """With exact_max below the 78 latents a side, every matching (explanations, baseline,
    decoders) goes through the top-k candidate graph; the figures stay where they were."""
    opts = CompareOptions(exact_max=32, top_k=8)
    exact = compare(store, [shas["demo"], shas["random"]], embedder).pairs[0].summary(0.7)
    itself, other, _ = (
        p.summary(0.7)
        for p in compare(store, [shas["demo"], shas["demo"], shas["random"]], embedder, opts).pairs
    )
    assert itself["matching"] == other["matching"] == "approximate (top-k candidates)"
    assert itself["matched"]["min"] > 0.999
    assert itself["decoders"]["matching"] == "approximate (top-k candidates)"
    assert itself["decoders"]["agreement"] == 1.0
    assert other["matched"]["mean"] == pytest.approx(exact["matched"]["mean"], abs=0.005)
    assert other["baseline"]["mean"] == pytest.approx(exact["baseline"]["mean"], abs=0.005)
    assert other["decoders"]["matched_cosine"]["mean"] == pytest.approx(
        exact["decoders"]["matched_cosine"]["mean"], abs=0.005
    )


def test_the_same_explanations_on_unrelated_latents_are_told_apart_by_the_decoders(
    tmp_path: Path, shas: dict[str, str], embedder: NamedEmbedder
) -> None:
    """random:demo given exactly the demo's explanations, shuffled across its latents.
    Matching explanations is blind to which latent holds which text, so it finds every
    one (similarity 1); the decoder matching is what shows the latents are unrelated: it
    pairs latents whose explanations agree no more than random pairs do."""
    demo_texts, _ = split(0)
    order = np.random.default_rng(2).permutation(N)
    write_run(tmp_path, "d", shas["demo"], demo_texts)
    write_run(tmp_path, "r", shas["random"], [demo_texts[i] for i in order], sae_path="random:demo")
    s = compare(tmp_path, ["d", "r"], embedder).pairs[0].summary(0.7)
    assert s["matched"]["min"] > 0.999 and s["share_close"]["a_to_b"] == 1.0
    dec = s["decoders"]
    assert dec["n_agree"] <= 3  # chance: 1 in 78 per latent
    paired = dec["explanation_similarity_of_decoder_pairs"]["mean"]
    assert abs(paired - s["random_pairs"]["mean"]) < 0.05
    assert paired < s["baseline"]["mean"] - 0.15
