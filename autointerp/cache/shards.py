"""Persistent, resumable caches: the corpus windows are split into shards by window range;
each shard's :class:`LatentStats` is saved atomically as soon as it is done, and the shards
are merged exactly (the merged top-k equals a single pass).

A cache lives under ``<cache dir>/activations/<key>/`` (``AUTOINTERP_ACTIVATIONS_DIR``
overrides the parent) where the key hashes everything the
statistics depend on (model weights, corpus windows, checkpoint, hook point, statistic sizes,
seed, dtype and the cache format version). The service caches under its store, which may be
a URL (``s3://bucket/prefix``, see :mod:`autointerp.store.files`). A crashed run resumes
from the shards on disk; a later run with the same inputs reuses the merged result without
touching the model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autointerp.cache.runner import cache_many
from autointerp.cache.stats import LatentStats
from autointerp.config import CacheConfig
from autointerp.errors import ConfigError
from autointerp.models.loader import SubjectModel, resolve_batch_size
from autointerp.paths import cache_dir
from autointerp.saes.base import SparseCoder
from autointerp.store.files import StorePath, write_text

__all__ = [
    "FORMAT_VERSION",
    "cache_key",
    "cached_stats",
    "compute_shards",
    "model_fingerprint",
    "shard_ranges",
]

# 2: the key names the checkpoint's whole loaded config (format 1 keyed only its weights
# file, so a checkpoint with another k reused its statistics), the forward-pass batch size,
# the shard size and the device type (each changes float sums in the last bits).
FORMAT_VERSION = 2
log = logging.getLogger(__name__)


def model_fingerprint(subject: SubjectModel) -> str:
    """Cheap hash of the model's identity: config, dtype, device type and a sample of its
    weights."""
    digest = hashlib.sha256(subject.model.config.to_json_string().encode())
    digest.update(str(subject.dtype).encode())
    digest.update(subject.device.type.encode())
    params = list(subject.model.parameters())
    for param in (params[0], params[len(params) // 2], params[-1]):
        sample = param.detach().flatten()[:4096].float().cpu().numpy()
        digest.update(sample.tobytes())
    return digest.hexdigest()[:16]


def cache_key(
    model: str,
    sae: SparseCoder,
    corpus_fingerprint: str,
    cfg: CacheConfig,
    seed: int,
    batch_size: int,
) -> dict[str, Any]:
    """Everything a checkpoint's statistics depend on, bit for bit; ``model`` is a
    model_fingerprint and ``batch_size`` the resolved forward-pass batch size. The batching
    (batch and shard sizes) changes float sums in the last bits, which can swap near-tied top
    windows, so a cache made with other sizes is not reused: a cached run gives exactly what
    a fresh one would."""
    return {
        "format_version": FORMAT_VERSION,
        "model": model,
        "corpus": corpus_fingerprint,
        "sae_sha256": sae.info.sha256,
        "sae_identity": sae.info.identity,
        "hook_name": sae.info.hook_name,
        "architecture": sae.info.architecture,
        "n_units": sae.n_units,
        "top_k": cfg.top_k,
        "reservoir": cfg.reservoir,
        "seed": seed,
        "dtype": cfg.dtype,
        "batch_size": batch_size,
        "shard_windows": cfg.shard_windows,
    }


def activations_dir() -> Path:
    """``AUTOINTERP_ACTIVATIONS_DIR`` if set, else ``<cache dir>/activations``."""
    override = os.environ.get("AUTOINTERP_ACTIVATIONS_DIR")
    if override:
        Path(override).mkdir(parents=True, exist_ok=True)
        return Path(override)
    return cache_dir("activations")


def shard_ranges(n_windows: int, shard_windows: int) -> list[tuple[int, int]]:
    return [(a, min(a + shard_windows, n_windows)) for a in range(0, n_windows, shard_windows)]


def _prepare_dirs(
    subject: SubjectModel,
    saes: Sequence[SparseCoder],
    corpus_fingerprint: str,
    cfg: CacheConfig,
    seed: int,
    root: StorePath | None,
) -> list[StorePath]:
    if cfg.shard_windows < 1:
        raise ConfigError(f"cache.shard_windows must be >= 1, got {cfg.shard_windows}")
    base: StorePath = root if root is not None else activations_dir()
    model = model_fingerprint(subject)
    batch_size = resolve_batch_size(cfg.batch_size, subject.device)
    dirs: list[StorePath] = []
    for sae in saes:
        key = cache_key(model, sae, corpus_fingerprint, cfg, seed, batch_size)
        folder = base / _digest(key)
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "key.json", json.dumps(key, indent=2, sort_keys=True))
        dirs.append(folder)
    return dirs


def _shard_paths(dirs: Sequence[StorePath], start: int, stop: int) -> list[StorePath]:
    return [d / f"shard-{start:09d}-{stop:09d}.npz" for d in dirs]


def compute_shards(
    subject: SubjectModel,
    saes: Sequence[SparseCoder],
    tokens: np.ndarray,
    corpus_fingerprint: str,
    cfg: CacheConfig,
    *,
    seed: int,
    shards: Sequence[int] | None = None,
    root: StorePath | None = None,
    progress: bool = True,
) -> int:
    """Compute and save the listed shards (indices into ``shard_ranges``; all by default)
    that are not on disk yet; returns how many were computed. Workers that each take some
    shards cache one corpus in parallel; :func:`cached_stats` then merges."""
    dirs = _prepare_dirs(subject, saes, corpus_fingerprint, cfg, seed, root)
    return _compute(subject, saes, tokens, cfg, dirs, seed, shards, progress)


def _compute(
    subject: SubjectModel,
    saes: Sequence[SparseCoder],
    tokens: np.ndarray,
    cfg: CacheConfig,
    dirs: Sequence[StorePath],
    seed: int,
    shards: Sequence[int] | None,
    progress: bool,
) -> int:
    ranges = shard_ranges(len(tokens), cfg.shard_windows)
    wanted = range(len(ranges)) if shards is None else shards
    done = 0
    for index in wanted:
        if not 0 <= index < len(ranges):
            raise ConfigError(f"shard {index} does not exist; this corpus has {len(ranges)}")
        start, stop = ranges[index]
        paths = _shard_paths(dirs, start, stop)
        if all(p.is_file() for p in paths):
            continue
        stats = cache_many(
            subject, saes, tokens[start:stop], cfg, seed=seed, progress=progress, first_window=start
        )
        for stat, path in zip(stats, paths, strict=True):
            stat.save(path)
        done += 1
    return done


def cached_stats(
    subject: SubjectModel,
    saes: Sequence[SparseCoder],
    tokens: np.ndarray,
    corpus_fingerprint: str,
    cfg: CacheConfig,
    *,
    seed: int,
    root: StorePath | None = None,
    progress: bool = True,
) -> list[LatentStats]:
    """Statistics for ``saes`` over ``tokens``: the merged result when cached, else every
    missing shard is computed (all checkpoints in one forward pass per batch) and merged."""
    dirs = _prepare_dirs(subject, saes, corpus_fingerprint, cfg, seed, root)
    merged = [d / "merged.npz" for d in dirs]
    if all(p.is_file() for p in merged):
        log.info("reusing cached activation statistics in %s", dirs[0].parent)
        return [LatentStats.load(p) for p in merged]
    _compute(subject, saes, tokens, cfg, dirs, seed, None, progress)
    totals: list[LatentStats | None] = [None] * len(saes)
    for start, stop in shard_ranges(len(tokens), cfg.shard_windows):
        shard = [LatentStats.load(p) for p in _shard_paths(dirs, start, stop)]
        totals = [s if t is None else t.merge(s) for t, s in zip(totals, shard, strict=True)]
    out = [
        t if t is not None else _empty(sae, cfg, seed) for t, sae in zip(totals, saes, strict=True)
    ]
    for stats, path in zip(out, merged, strict=True):
        stats.save(path)
    return out


def _empty(sae: SparseCoder, cfg: CacheConfig, seed: int) -> LatentStats:
    return LatentStats.empty(sae.n_units, cfg.top_k, cfg.reservoir, seed)


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
