"""Example sampling: disjoint explanation/scoring sets spread over quantiles, determinism,
explicit statuses for dead and too-sparse latents, and non-activating selection."""

from __future__ import annotations

import numpy as np
import torch

from autointerp.cache.stats import LatentStats
from autointerp.config import SamplingConfig
from autointerp.sampling import choose_nonactivating, negative_pool, sample_latent


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
