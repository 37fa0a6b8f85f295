"""Negative (non-activating) examples for scoring, in three kinds.

* ``random`` (role ``nonactivating``): windows from a shared random pool, replayed, where the
  unit is zero at every position;
* ``neighbours`` (role ``hard_neighbour``): top windows of the ``n_neighbours`` units whose
  decoder directions are most cosine-similar to this unit's, replayed, where this unit is
  zero. For signed SAEs unit ``d_sae + i`` writes minus latent ``i``'s direction;
* ``similar`` (role ``hard_similar``): windows of the shared pool where the unit is zero
  whose sentence embedding is closest to the mean embedding of its activating examples.

A window is used at most once per unit: hard negatives are chosen first (neighbours, then
similar), random ones from what is left, and none is an activating example.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import torch

from autointerp.cache.stats import LatentStats
from autointerp.records import LatentSample
from autointerp.sampling.activating import rng_for

__all__ = [
    "choose_nonactivating",
    "choose_similar",
    "negative_pool",
    "neighbour_candidates",
    "neighbour_units",
]


def negative_pool(n_windows: int, size: int, seed: int) -> np.ndarray:
    """Random window ids shared by all units as candidate non-activating examples."""
    rng = np.random.default_rng([seed, 1 << 20])
    return np.sort(rng.choice(n_windows, size=min(size, n_windows), replace=False))


def _used(sample: LatentSample) -> set[int]:
    return {w for w, _ in sample.explain} | {w for w, _ in sample.score}


def choose_nonactivating(
    pool: np.ndarray,
    pool_max: np.ndarray,
    sample: LatentSample,
    n: int,
    seed: int,
    exclude: Collection[int] = (),
) -> list[int]:
    """``pool_max[i]`` is the unit's max activation in pool window ``i``; pick ``n`` windows
    where it is zero, not used as activating examples and not in ``exclude``."""
    used = _used(sample) | set(exclude)
    candidates = [
        int(w) for w, m in zip(pool, pool_max, strict=True) if m <= 0 and int(w) not in used
    ]
    rng = rng_for(seed, sample.latent, 1)
    if len(candidates) <= n:
        return candidates
    return sorted(int(w) for w in rng.choice(candidates, size=n, replace=False))


def neighbour_units(
    directions: torch.Tensor, units: Sequence[int], k: int, *, signed: bool = False
) -> dict[int, list[int]]:
    """The ``k`` units whose decoder direction is most cosine-similar to each of ``units``.

    ``directions`` is [d_sae, d_out] (``SparseCoder.decoder_directions()``). With
    ``signed``, units ``d_sae + i`` exist and point along minus row ``i``."""
    d_sae = directions.shape[0]
    dirs = directions.to(torch.float32)
    norms = dirs.norm(dim=1).clamp(min=1e-12)
    idx = torch.as_tensor([u % d_sae for u in units], dtype=torch.long)
    sims = (dirs[idx] @ dirs.T) / (norms[idx, None] * norms[None, :])  # [len(units), d_sae]
    if signed:
        sims = torch.cat([sims, -sims], dim=1)
        flip = torch.as_tensor([u >= d_sae for u in units])
        sims[flip] = -sims[flip]
    rows = torch.arange(len(units))
    sims[rows, torch.as_tensor(list(units), dtype=torch.long)] = -torch.inf
    top = sims.topk(min(k, sims.shape[1] - 1), dim=1).indices
    return {u: [int(v) for v in top[r]] for r, u in enumerate(units)}


def neighbour_candidates(
    stats: LatentStats, unit: int, neighbours: Sequence[int], limit: int
) -> list[int]:
    """Up to ``limit`` windows from the neighbours' top windows, interleaved by rank (each
    neighbour's best first, most similar neighbour first), leaving out windows the unit is
    known to fire in (its own top and reservoir windows)."""
    own = set(stats.top(unit)[0].tolist()) | set(stats.reservoir(unit)[0].tolist())
    lists = [stats.top(n)[0].tolist() for n in neighbours]
    out: list[int] = []
    for rank in range(max((len(x) for x in lists), default=0)):
        for windows in lists:
            if rank < len(windows) and windows[rank] not in own and windows[rank] not in out:
                out.append(int(windows[rank]))
                if len(out) == limit:
                    return out
    return out


def choose_similar(
    candidates: np.ndarray, candidate_emb: np.ndarray, positive_emb: np.ndarray, n: int
) -> list[int]:
    """The ``n`` candidate windows whose (unit-norm) embedding is closest to the normalised
    mean of ``positive_emb``; ties go to the lower window id."""
    if len(candidates) == 0 or len(positive_emb) == 0 or n == 0:
        return []
    centre = positive_emb.mean(axis=0)
    centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
    sims = candidate_emb @ centre
    order = np.lexsort((candidates, -sims))
    return [int(candidates[i]) for i in order[:n]]
