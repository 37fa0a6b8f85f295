"""Turn the sampled window ids into ``LatentRecord``s: replay, negatives, crops.

One replay of every window any unit needs (its activating windows, the shared random pool
and its neighbour candidates) gives per-token activations; negatives are chosen from those
(see ``negatives``), then every example is cut to ``example_len`` tokens (see ``context``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from autointerp.cache import LatentStats, replay
from autointerp.config import SamplingConfig
from autointerp.models.loader import SubjectModel
from autointerp.records import Example, LatentRecord, LatentSample
from autointerp.saes.base import SparseCoder
from autointerp.sampling.context import crop_slice
from autointerp.sampling.embed import Embedder, minilm_embedder
from autointerp.sampling.negatives import (
    choose_nonactivating,
    choose_similar,
    negative_pool,
    neighbour_candidates,
    neighbour_units,
)
from autointerp.statuses import SampleStatus

__all__ = ["NEGATIVE_ROLES", "ActsFor", "Needs", "make_records", "needed_windows"]

NEGATIVE_ROLES = {
    "random": "nonactivating",
    "neighbours": "hard_neighbour",
    "similar": "hard_similar",
}
"""``sampling.negatives`` kind -> ``Example.role`` of its examples."""


class _Windows:
    """Replayed activations of a set of windows, with the examples cut from them."""

    def __init__(
        self,
        tokens: np.ndarray,
        windows: np.ndarray,
        acts: np.ndarray,
        cfg: SamplingConfig,
        seed: int,
        decode: Callable[[int], str],
    ) -> None:
        self.tokens, self.acts, self.cfg, self.seed, self.decode = tokens, acts, cfg, seed, decode
        self.row = {int(w): i for i, w in enumerate(windows)}

    def quiet(self, window: int, col: int) -> bool:
        return bool(self.acts[self.row[window], :, col].max() <= 0)

    def example(self, window: int, col: int, role: str, quantile: int = 0) -> Example:
        values = self.acts[self.row[window], :, col]
        activating = role in ("explain", "score")
        start, stop = crop_slice(values, window, activating, self.cfg, self.seed)
        ids = self.tokens[window, 1 + start : 1 + stop]
        return Example(
            window,
            tuple(self.decode(int(i)) for i in ids),
            tuple(float(v) for v in values[start:stop]),
            role,
            quantile,
            start,
        )


@dataclass(frozen=True)
class Needs:
    """The windows a batch of units needs replayed: the shared random ``pool``, each unit's
    neighbour ``candidates`` and (``windows``, sorted) every window of either or of the
    units' activating examples."""

    pool: np.ndarray
    candidates: dict[int, list[int]]
    windows: np.ndarray


def needed_windows(
    sae: SparseCoder,
    stats: LatentStats,
    samples: Sequence[LatentSample],
    cfg: SamplingConfig,
    seed: int,
    n_windows: int,
) -> Needs:
    """The windows ``make_records`` reads for the ``ok`` samples (deterministic: the same
    samples always need the same windows, so a job can replay the union of its batches'
    needs once and each batch read its own)."""
    ok = [s for s in samples if s.status == SampleStatus.OK]
    kinds = set(cfg.negatives)
    units = [s.latent for s in ok]
    pool = np.zeros(0, dtype=np.int64)
    if ok and kinds & {"random", "similar"}:
        n_pool = max(cfg.n_nonactivating, cfg.n_similar_negatives if "similar" in kinds else 0)
        pool = negative_pool(n_windows, max(10 * n_pool, 200), seed)
    candidates: dict[int, list[int]] = {}
    if ok and "neighbours" in kinds and cfg.n_neighbour_negatives > 0:
        near = neighbour_units(sae.decoder_directions(), units, cfg.n_neighbours, signed=sae.signed)
        limit = 4 * cfg.n_neighbour_negatives
        candidates = {u: neighbour_candidates(stats, u, near[u], limit) for u in units}
    needed = {w for s in ok for w, _ in (*s.explain, *s.score)} | set(pool.tolist())
    needed |= {w for c in candidates.values() for w in c}
    return Needs(pool, candidates, np.asarray(sorted(needed), dtype=np.int64))


ActsFor = Callable[[np.ndarray, list[int]], np.ndarray]
"""``acts_for(windows, units)`` -> per-token activations [len(windows), T-1, len(units)]."""


def make_records(
    subject: SubjectModel,
    sae: SparseCoder,
    tokens: np.ndarray,
    stats: LatentStats,
    samples: Sequence[LatentSample],
    cfg: SamplingConfig,
    seed: int,
    *,
    decode: Callable[[int], str],
    batch_size: int,
    progress: bool = False,
    embedder: Embedder | None = None,
    acts_for: ActsFor | None = None,
) -> list[LatentRecord]:
    """Records for the ``ok`` samples; fills in each sample's negatives as a side effect.
    ``embedder`` defaults to all-MiniLM-L6-v2 when ``cfg.negatives`` includes 'similar'.
    ``acts_for`` gives the needed windows' activations (a job's replay-once store); by
    default they are replayed through ``subject`` here."""
    ok = [s for s in samples if s.status == SampleStatus.OK]
    if not ok:
        return []
    kinds = set(cfg.negatives)
    units = [s.latent for s in ok]
    needs = needed_windows(sae, stats, ok, cfg, seed, len(tokens))
    pool, candidates, windows = needs.pool, needs.candidates, needs.windows
    if acts_for is None:
        acts = replay(
            subject, sae, tokens, windows, units, batch_size=batch_size, progress=progress
        )
    else:
        acts = acts_for(windows, units)
    data = _Windows(tokens, windows, acts, cfg, seed, decode)

    records = [
        LatentRecord(
            latent=s.latent,
            explain=[data.example(w, col, "explain", q) for w, q in s.explain],
            score=[data.example(w, col, "score", q) for w, q in s.score],
            max_act=float(stats.act_max[s.latent]),
        )
        for col, s in enumerate(ok)
    ]
    similar = None
    if "similar" in kinds and cfg.n_similar_negatives > 0:
        similar = _similar_scorer(records, pool, data, embedder)
    for col, (sample, record) in enumerate(zip(ok, records, strict=True)):
        used = {w for w, _ in (*sample.explain, *sample.score)}
        hard: list[tuple[int, str]] = []
        if candidates:
            quiet = [w for w in candidates[sample.latent] if w not in used and data.quiet(w, col)]
            hard += [(w, NEGATIVE_ROLES["neighbours"]) for w in quiet[: cfg.n_neighbour_negatives]]
        if similar is not None:
            taken = used | {w for w, _ in hard}
            mask = np.array([int(w) not in taken and data.quiet(int(w), col) for w in pool], bool)
            chosen = similar(col, mask, cfg.n_similar_negatives)
            hard += [(w, NEGATIVE_ROLES["similar"]) for w in chosen]
        sample.hard_negatives = hard
        if "random" in kinds:
            pool_max = acts[[data.row[int(w)] for w in pool], :, col].max(axis=1)
            exclude = {w for w, _ in hard}
            sample.nonactivating = choose_nonactivating(
                pool, pool_max, sample, cfg.n_nonactivating, seed, exclude
            )
        negatives = [(w, NEGATIVE_ROLES["random"]) for w in sample.nonactivating] + hard
        record.nonactivating = [data.example(w, col, role) for w, role in negatives]
    return records


def _similar_scorer(
    records: list[LatentRecord], pool: np.ndarray, data: _Windows, embedder: Embedder | None
) -> Callable[[int, np.ndarray, int], list[int]]:
    """Embed the pool's (cropped) texts once and every unit's activating examples; return
    ``pick(col, mask, n)``: the ``n`` masked pool windows closest to unit ``col``'s examples."""
    embed = embedder or minilm_embedder()
    # A negative's cut depends on its window only, so one text per pool window serves all.
    pool_text = [data.example(int(w), 0, "nonactivating").text for w in pool]
    pool_emb = embed(pool_text)
    positives = [[ex.text for ex in (*r.explain, *r.score)] for r in records]
    flat = embed([t for texts in positives for t in texts])
    bounds = np.cumsum([0] + [len(t) for t in positives])

    def pick(col: int, mask: np.ndarray, n: int) -> list[int]:
        own = flat[bounds[col] : bounds[col + 1]]
        return choose_similar(pool[mask], pool_emb[mask], own, n)

    return pick
