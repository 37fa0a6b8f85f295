"""Example sampling: the activating-example strategies (disjoint explanation/scoring sets,
quantile spread, top, importance, random), determinism, explicit statuses for dead and
too-sparse latents, cropping around the peak, and the building blocks of the negatives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autointerp.cache.stats import LatentStats
from autointerp.config import RunConfig, SamplingConfig
from autointerp.errors import ConfigError
from autointerp.sampling import (
    choose_nonactivating,
    choose_similar,
    crop_slice,
    negative_pool,
    neighbour_candidates,
    neighbour_units,
    sample_latent,
)


def _stats() -> LatentStats:
    gen = torch.Generator().manual_seed(0)
    n, t, d = 400, 4, 3
    acts = torch.rand(n, t, d, generator=gen)
    acts[:, :, 0] = 0  # dead
    acts[:, :, 1] *= (torch.rand(n, t, generator=gen) < 0.5).float()
    acts[:, :, 2] = 0
    acts[:3, 0, 2] = 1.0  # fires in only three windows
    stats = LatentStats.empty(d, top_k=10, reservoir=100, seed=5)
    for s in range(0, n, 50):
        stats.update(acts[s : s + 50], torch.arange(s, s + 50))
    return stats


def test_sets_are_disjoint_and_spread_over_quantiles() -> None:
    cfg = SamplingConfig(n_explain=10, n_score=20, n_quantiles=5)
    sample = sample_latent(_stats(), 1, cfg, seed=0)
    assert sample.status == "ok"
    explain = [w for w, _ in sample.explain]
    score = [w for w, _ in sample.score]
    assert len(explain) == 10 and len(score) == 20
    assert not set(explain) & set(score)
    assert sorted(q for _, q in sample.explain) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert sorted(q for _, q in sample.score) == sorted([1, 2, 3, 4, 5] * 4)


def test_quantile_bins_follow_activation() -> None:
    stats = _stats()
    cfg = SamplingConfig(n_explain=10, n_score=20, n_quantiles=5)
    sample = sample_latent(stats, 1, cfg, seed=0)
    windows, values = stats.reservoir(1)
    value = dict(zip(windows.tolist(), values.tolist(), strict=True))
    by_bin = {q: [value[w] for w, qq in sample.score if qq == q] for q in range(1, 6)}
    assert max(by_bin[1]) <= min(by_bin[5])


def test_top_strategy_explains_with_the_highest_windows() -> None:
    stats = _stats()
    cfg = SamplingConfig(n_explain=5, n_score=10, explain_strategy="top")
    sample = sample_latent(stats, 1, cfg, seed=0)
    assert [w for w, _ in sample.explain] == stats.top(1)[0][:5].tolist()
    assert not {w for w, _ in sample.explain} & {w for w, _ in sample.score}


def test_deterministic_given_seed() -> None:
    stats, cfg = _stats(), SamplingConfig()
    assert sample_latent(stats, 1, cfg, 3) == sample_latent(stats, 1, cfg, 3)
    assert sample_latent(stats, 1, cfg, 3).score != sample_latent(stats, 1, cfg, 4).score


def test_dead_and_sparse_latents_get_a_status() -> None:
    stats, cfg = _stats(), SamplingConfig(min_examples=8)
    dead = sample_latent(stats, 0, cfg, 0)
    sparse = sample_latent(stats, 2, cfg, 0)
    assert (dead.status, sparse.status) == ("dead", "too_sparse")
    assert "fired in 3 windows" in sparse.detail


def test_nonactivating_choice() -> None:
    stats = _stats()
    sample = sample_latent(stats, 1, SamplingConfig(n_explain=5, n_score=5), 0)
    pool = negative_pool(400, 60, seed=0)
    assert len(set(pool.tolist())) == 60
    rng = np.random.default_rng(0)
    pool_max = np.where(rng.random(60) < 0.5, 0.0, 1.0)
    chosen = choose_nonactivating(pool, pool_max, sample, 10, seed=0)
    quiet = {int(w) for w, m in zip(pool, pool_max, strict=True) if m == 0}
    used = {w for w, _ in (*sample.explain, *sample.score)}
    assert len(chosen) == 10 and set(chosen) <= quiet and not set(chosen) & used
    assert chosen == choose_nonactivating(pool, pool_max, sample, 10, seed=0)


# ------------------------------------------------------------------ activating strategies
STRATEGY_NAMES = ("quantile", "top", "importance", "random")


def _ramp_stats(n: int = 200) -> LatentStats:
    """One latent whose value in window i is (i + 1) / n; the reservoir keeps every window."""
    acts = torch.linspace(1 / n, 1.0, n).reshape(n, 1, 1)
    stats = LatentStats.empty(1, top_k=10, reservoir=n, seed=0)
    stats.update(acts, torch.arange(n))
    return stats


def _value(window: int, n: int = 200) -> float:
    return (window + 1) / n


@pytest.mark.parametrize("explain", STRATEGY_NAMES)
@pytest.mark.parametrize("score", STRATEGY_NAMES)
def test_every_strategy_pair_is_disjoint_and_deterministic(explain: str, score: str) -> None:
    cfg = SamplingConfig(n_explain=15, n_score=30, explain_strategy=explain, score_strategy=score)  # type: ignore[arg-type]
    stats = _ramp_stats()
    sample = sample_latent(stats, 0, cfg, seed=1)
    explained, scored = [w for w, _ in sample.explain], [w for w, _ in sample.score]
    assert len(explained) == len(set(explained)) == 15
    assert len(scored) == len(set(scored)) == 30
    assert not set(explained) & set(scored)
    assert sample == sample_latent(stats, 0, cfg, seed=1)
    if "top" not in (explain, score):  # top ignores the seed
        assert sample != sample_latent(stats, 0, cfg, seed=2)


def test_top_takes_the_highest_windows_for_either_set() -> None:
    stats = _ramp_stats()
    cfg = SamplingConfig(n_explain=5, n_score=20, explain_strategy="top", score_strategy="top")
    sample = sample_latent(stats, 0, cfg, seed=0)
    # The exact top-k holds 10 windows; the rest of the ranking comes from the reservoir.
    assert [w for w, _ in sample.explain] == list(range(199, 194, -1))
    assert [w for w, _ in sample.score] == list(range(194, 174, -1))
    assert {q for _, q in (*sample.explain, *sample.score)} == {5}
    low = SamplingConfig(n_explain=5, n_score=5, score_strategy="top")
    mixed = sample_latent(stats, 0, low, seed=0)
    expected = [w for w in range(199, -1, -1) if w not in {x for x, _ in mixed.explain}][:5]
    assert [w for w, _ in mixed.score] == expected


def test_importance_favours_high_activations() -> None:
    """Over many seeds a window's selection rate grows with its activation, roughly as the
    square: the top fifth is picked far more often than the bottom fifth."""
    stats = _ramp_stats()
    counts = {s: np.zeros(200) for s in ("importance", "random")}
    for seed in range(200):
        for strategy, count in counts.items():
            cfg = SamplingConfig(n_explain=10, n_score=0, explain_strategy=strategy)  # type: ignore[arg-type]
            for w, _ in sample_latent(stats, 0, cfg, seed).explain:
                count[w] += 1
    values = np.array([_value(w) for w in range(200)])
    imp, uni = counts["importance"], counts["random"]
    assert imp[160:].sum() > 8 * imp[:40].sum()
    assert 0.6 < uni[160:].sum() / uni[:40].sum() < 1.6
    assert (imp * values).sum() / imp.sum() > 0.7 > (uni * values).sum() / uni.sum()
    # Selection rate ~ value ** 2 (for small samples of a large population).
    assert np.corrcoef(imp, values**2)[0, 1] > 0.9


@pytest.mark.parametrize("strategy", ["quantile", "random"])
def test_quantile_and_random_cover_the_range(strategy: str) -> None:
    stats = _ramp_stats()
    cfg = SamplingConfig(n_explain=20, n_score=20, explain_strategy=strategy)  # type: ignore[arg-type]
    picked = [_value(w) for seed in range(3) for w, _ in sample_latent(stats, 0, cfg, seed).explain]
    assert min(picked) < 0.2 and max(picked) > 0.8
    assert 0.35 < float(np.mean(picked)) < 0.65


def test_bins_of_non_quantile_strategies_follow_activation() -> None:
    stats = _ramp_stats()
    cfg = SamplingConfig(n_explain=20, n_score=40, explain_strategy="random")
    sample = sample_latent(stats, 0, cfg, 0)
    for w, q in (*sample.explain, *sample.score):
        assert q == min(int(w // 40) + 1, 5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"explain_strategy": "best"}, "sampling.explain_strategy.*best"),
        ({"negatives": ("random", "hardest")}, "sampling.negatives.*hardest"),
        ({"example_len": 8, "peak_position": 8}, "peak_position must be"),
        ({"n_score": -1}, "n_score must be >= 0"),
    ],
)
def test_bad_sampling_options_are_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SamplingConfig(**changes)
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(
            {"sampling": {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}}
        )


def test_negatives_round_trip_through_json() -> None:
    cfg = RunConfig.from_dict({"sampling": {"negatives": "random, neighbours, similar"}})
    assert cfg.sampling.negatives == ("random", "neighbours", "similar")
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg


# ------------------------------------------------------------------------------ cropping
@pytest.mark.parametrize("peak", [5, 9, 20])
def test_crop_puts_the_peak_at_peak_position(peak: int) -> None:
    acts = np.zeros(31, dtype=np.float32)
    acts[peak], acts[peak + 3] = 2.0, 1.0
    cfg = SamplingConfig(example_len=8, peak_position=3)
    start, stop = crop_slice(acts, 7, True, cfg, seed=0)
    assert stop - start == 8 and int(np.argmax(acts[start:stop])) == 3


def test_crop_is_clamped_at_the_window_edges() -> None:
    cfg = SamplingConfig(example_len=8, peak_position=3)
    early, late = np.zeros(31), np.zeros(31)
    early[1], late[29] = 1.0, 1.0
    assert crop_slice(early, 0, True, cfg, 0) == (0, 8)
    assert crop_slice(late, 0, True, cfg, 0) == (23, 31)
    centred = SamplingConfig(example_len=9)  # peak_position -1: 4 tokens before the peak
    mid = np.zeros(31)
    mid[15] = 1.0
    assert crop_slice(mid, 0, True, centred, 0) == (11, 20)
    assert crop_slice(mid, 0, True, SamplingConfig(), 0) == (0, 31)


def test_negative_crops_are_seeded_per_window() -> None:
    cfg = SamplingConfig(example_len=8)
    quiet = np.zeros(31)
    starts = [crop_slice(quiet, w, False, cfg, seed=0)[0] for w in range(50)]
    assert starts == [crop_slice(quiet, w, False, cfg, seed=0)[0] for w in range(50)]
    assert starts != [crop_slice(quiet, w, False, cfg, seed=1)[0] for w in range(50)]
    assert min(starts) >= 0 and max(starts) <= 23 and len(set(starts)) > 10


# ---------------------------------------------------------------------------- negatives
def test_neighbour_units_follow_decoder_cosine() -> None:
    gen = torch.Generator().manual_seed(0)
    dirs = torch.randn(16, 32, generator=gen)
    dirs[5] = dirs[2] * 3 + 0.05 * torch.randn(32, generator=gen)
    dirs[9] = dirs[2] + 0.5 * torch.randn(32, generator=gen)
    near = neighbour_units(dirs, [2, 5], k=2)
    assert near == {2: [5, 9], 5: [2, 9]}
    signed = neighbour_units(dirs, [2, 16 + 2], k=2, signed=True)
    assert signed == {2: [5, 9], 18: [21, 25]}  # the negative side's neighbours are negative


def test_neighbour_candidates_interleave_and_skip_own_windows() -> None:
    acts = torch.zeros(12, 1, 3)
    acts[[0, 1, 2, 3], 0, 1] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # unit 1
    acts[[4, 5, 0], 0, 2] = torch.tensor([4.0, 3.0, 2.0])  # unit 2 (window 0 shared)
    acts[[0, 6], 0, 0] = 1.0  # unit 0 fires in window 0
    stats = LatentStats.empty(3, top_k=4, reservoir=8, seed=0)
    stats.update(acts, torch.arange(12))
    assert neighbour_candidates(stats, 0, [1, 2], limit=10) == [4, 1, 5, 2, 3]
    assert neighbour_candidates(stats, 0, [1, 2], limit=3) == [4, 1, 5]


def test_similar_choice_ranks_by_distance_to_the_centroid() -> None:
    positives = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0]])
    cands = np.array([10, 11, 12, 13])
    emb = np.array([[0.0, 0.0, 1.0], [0.9, 0.3, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert choose_similar(cands, emb, positives, 2) == [11, 13]
    assert choose_similar(cands[:0], emb[:0], positives, 2) == []


def test_nonactivating_choice_honours_exclusions() -> None:
    stats = _stats()
    sample = sample_latent(stats, 1, SamplingConfig(n_explain=5, n_score=5), 0)
    pool = negative_pool(400, 60, seed=0)
    pool_max = np.zeros(60)
    excluded = set(pool[:30].tolist())
    chosen = choose_nonactivating(pool, pool_max, sample, 10, seed=0, exclude=excluded)
    assert len(chosen) == 10 and not set(chosen) & excluded
