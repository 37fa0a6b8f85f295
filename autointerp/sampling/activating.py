"""Activating examples: which of a unit's windows the explainer and the scorers see.

Candidates are the unit's reservoir (a uniform sample of its activating windows, sorted by
activation and split into ``n_quantiles`` equal-count bins) plus, for ``top``, its exact
top-k windows. The explanation set is drawn first, then the scoring set from what is left,
so the two never share a window. Strategies (``SamplingConfig.explain_strategy`` and
``score_strategy``):

* ``quantile``: spread as evenly as possible over the bins, random within a bin;
* ``top``: the highest windows (the exact top-k first, then the reservoir's highest);
* ``importance``: without replacement, with probability proportional to the squared
  activation (Gumbel top-k, equivalent to successive weighted draws);
* ``random``: uniformly over the reservoir.

Every draw comes from one generator seeded with (run seed, unit), so a sample is a function
of the statistics, the config and the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autointerp.cache.stats import LatentStats
from autointerp.config import SamplingConfig
from autointerp.records import LatentSample
from autointerp.statuses import SampleStatus

__all__ = ["STRATEGIES", "sample_latent"]


def rng_for(seed: int, latent: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, latent, purpose])


@dataclass
class _Candidates:
    """A unit's reservoir sorted by activation, its bins, and its exact top windows."""

    windows: np.ndarray
    values: np.ndarray
    bins: list[np.ndarray]  # positions into windows/values
    top_windows: np.ndarray
    top_values: np.ndarray

    def bin_of(self, value: float) -> int:
        edges = [self.values[b[0]] for b in self.bins[1:]]
        return int(np.searchsorted(edges, value, side="right")) + 1

    def free(self, used: set[int]) -> np.ndarray:
        """Reservoir positions whose window is not in ``used``."""
        return np.array([i for i, w in enumerate(self.windows) if int(w) not in used], dtype=int)


Strategy = Callable[[_Candidates, int, set[int], np.random.Generator], list[tuple[int, int]]]


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


def _quantile(
    c: _Candidates, n: int, used: set[int], rng: np.random.Generator
) -> list[tuple[int, int]]:
    bins = [np.array([i for i in b if int(c.windows[i]) not in used], dtype=int) for b in c.bins]
    return [(int(c.windows[i]), q) for i, q in _spread(bins, n, rng)]


def _top(c: _Candidates, n: int, used: set[int], rng: np.random.Generator) -> list[tuple[int, int]]:
    order = np.argsort(-c.values, kind="stable")
    ranked = [*zip(c.top_windows, c.top_values, strict=True)]
    ranked += [(c.windows[i], c.values[i]) for i in order]
    chosen: list[tuple[int, int]] = []
    seen = set(used)
    for w, v in ranked:
        if len(chosen) == n:
            break
        if int(w) not in seen:
            seen.add(int(w))
            chosen.append((int(w), c.bin_of(float(v))))
    return chosen


def _importance(
    c: _Candidates, n: int, used: set[int], rng: np.random.Generator
) -> list[tuple[int, int]]:
    free = c.free(used)
    weights = np.maximum(c.values[free].astype(np.float64), 1e-12) ** 2
    keys = np.log(weights) + rng.gumbel(size=len(free))
    picked = free[np.argsort(-keys, kind="stable")[:n]]
    return [(int(c.windows[i]), c.bin_of(float(c.values[i]))) for i in picked]


def _random(
    c: _Candidates, n: int, used: set[int], rng: np.random.Generator
) -> list[tuple[int, int]]:
    free = c.free(used)
    picked = rng.choice(free, size=min(n, len(free)), replace=False) if len(free) else free
    return [(int(c.windows[i]), c.bin_of(float(c.values[i]))) for i in picked]


STRATEGIES: dict[str, Strategy] = {
    "quantile": _quantile,
    "top": _top,
    "importance": _importance,
    "random": _random,
}
"""Activating-example strategies by name (see the module docstring)."""


def sample_latent(stats: LatentStats, latent: int, cfg: SamplingConfig, seed: int) -> LatentSample:
    """Pick explanation and scoring windows for unit ``latent`` (negatives come later)."""
    windows, values = stats.reservoir(latent)
    if len(windows) == 0:
        return LatentSample(latent, SampleStatus.DEAD, detail="never fired on the corpus")
    if len(windows) < cfg.min_examples:
        return LatentSample(
            latent,
            SampleStatus.TOO_SPARSE,
            detail=f"fired in {len(windows)} windows; sampling.min_examples={cfg.min_examples}",
        )
    order = np.argsort(values, kind="stable")
    windows, values = windows[order], values[order]
    n_bins = min(cfg.n_quantiles, len(windows))
    bins = np.array_split(np.arange(len(windows)), n_bins)
    top_windows, top_values = stats.top(latent)
    cands = _Candidates(windows, values, bins, top_windows, top_values)
    rng = rng_for(seed, latent, 0)
    n_explain = min(cfg.n_explain, len(windows) // 2)
    explain = STRATEGIES[cfg.explain_strategy](cands, n_explain, set(), rng)
    used = {w for w, _ in explain}
    score = STRATEGIES[cfg.score_strategy](cands, cfg.n_score, used, rng)
    return LatentSample(latent, SampleStatus.OK, explain=explain, score=score)
