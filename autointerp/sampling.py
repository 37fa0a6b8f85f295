"""Choose the windows shown to the explainer and the scorers, per latent.

Activating examples come from the latent's reservoir (a uniform sample of its activating
windows), split into ``n_quantiles`` equal-count bins by activation; explanation and scoring
examples are spread evenly over the bins and never share a window. With the ``top``
strategy the explainer sees the latent's highest-activating windows instead.

Non-activating examples are drawn per latent from a shared pool of random windows after the
pool has been replayed, keeping only windows where the latent is zero at every position.
All choices are deterministic given the run seed and the latent index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autointerp.cache.stats import LatentStats
from autointerp.config import SamplingConfig

__all__ = ["LatentSample", "choose_nonactivating", "negative_pool", "sample_latent"]


@dataclass
class LatentSample:
    """Window ids (and their quantile bin, 1 = lowest) chosen for one latent."""

    latent: int
    status: str  # "ok", "dead" or "too_sparse"
    explain: list[tuple[int, int]] = field(default_factory=list)
    score: list[tuple[int, int]] = field(default_factory=list)
    nonactivating: list[int] = field(default_factory=list)
    detail: str = ""


def _rng(seed: int, latent: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, latent, purpose])


def _spread(bins: list[np.ndarray], n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Take ``n`` items spread as evenly as possible over ``bins`` (random within a bin).
    Returns (position in the sorted reservoir, bin number starting at 1)."""
    pools = [list(rng.permutation(b)) for b in bins]
    chosen: list[tuple[int, int]] = []
    while len(chosen) < n and any(pools):
        for q, pool in enumerate(pools, start=1):
            if pool and len(chosen) < n:
                chosen.append((int(pool.pop()), q))
    return chosen


def sample_latent(stats: LatentStats, latent: int, cfg: SamplingConfig, seed: int) -> LatentSample:
    """Pick explanation and scoring windows for ``latent`` (negatives come later)."""
    windows, values = stats.reservoir(latent)
    if len(windows) == 0:
        return LatentSample(latent, "dead", detail="never fired on the corpus")
    if len(windows) < cfg.min_examples:
        return LatentSample(
            latent,
            "too_sparse",
            detail=f"fired in {len(windows)} windows; sampling.min_examples={cfg.min_examples}",
        )
    order = np.argsort(values, kind="stable")
    windows, values = windows[order], values[order]
    n_bins = min(cfg.n_quantiles, len(windows))
    bins = np.array_split(np.arange(len(windows)), n_bins)
    edges = [values[b[0]] for b in bins[1:]]
    rng = _rng(seed, latent, 0)

    n_explain = min(cfg.n_explain, len(windows) // 2)
    if cfg.explain_strategy == "top":
        top_windows, top_values = stats.top(latent)
        explain = [
            (int(w), int(np.searchsorted(edges, v, side="right")) + 1)
            for w, v in zip(top_windows[:n_explain], top_values[:n_explain], strict=True)
        ]
        used = {w for w, _ in explain}
        remaining = [np.array([i for i in b if windows[i] not in used], dtype=int) for b in bins]
    else:
        picked = _spread(bins, n_explain, rng)
        explain = [(int(windows[i]), q) for i, q in picked]
        taken = {i for i, _ in picked}
        remaining = [np.array([i for i in b if i not in taken], dtype=int) for b in bins]
    score = [(int(windows[i]), q) for i, q in _spread(remaining, cfg.n_score, rng)]
    return LatentSample(latent, "ok", explain=explain, score=score)


def negative_pool(n_windows: int, size: int, seed: int) -> np.ndarray:
    """Random window ids shared by all latents as candidate non-activating examples."""
    rng = np.random.default_rng([seed, 1 << 20])
    return np.sort(rng.choice(n_windows, size=min(size, n_windows), replace=False))


def choose_nonactivating(
    pool: np.ndarray, pool_max: np.ndarray, sample: LatentSample, n: int, seed: int
) -> list[int]:
    """``pool_max[i]`` is the latent's max activation in pool window ``i``; pick ``n``
    windows where it is zero and that are not already used as activating examples."""
    used = {w for w, _ in sample.explain} | {w for w, _ in sample.score}
    candidates = [
        int(w) for w, m in zip(pool, pool_max, strict=True) if m <= 0 and int(w) not in used
    ]
    rng = _rng(seed, sample.latent, 1)
    if len(candidates) <= n:
        return candidates
    return sorted(int(w) for w in rng.choice(candidates, size=n, replace=False))
