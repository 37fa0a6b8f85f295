"""Replay once per job: the per-token activations every batch of latents reads, computed in
one pass over the union of the windows the batches need.

A job's batches each need their units' activating windows, the shared random pool and their
neighbour candidates, replayed through the model for per-token activations. Replayed batch
by batch, the pool and popular windows went through the model once per batch, so the cost
grew with the number of latents; here the union is replayed once, in shards of windows
(each a task of its own), so it is bounded by the corpus. Each shard's activations are kept
sparse (the nonzero entries), grouped by batch, in one ``.npz`` per shard::

    replay/windows.npy          the union of the windows (sorted)
    replay/shard-00003.npz      members '<batch>_w' (window id), '_p' (position after the
                                BOS), '_c' (the unit's place in its batch), '_v' (value)

A batch reads its own members of every shard (``ReplayReader``) into the dense array
``make_records`` takes, exactly the values a direct replay of its windows gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from autointerp.cache.runner import bind, encode_windows
from autointerp.errors import StoreError
from autointerp.models.loader import SubjectModel
from autointerp.saes.base import SparseCoder
from autointerp.store.files import StorePath, guard, load_npy, open_npz, save_npy, save_npz

__all__ = [
    "ReplayReader",
    "load_windows",
    "save_windows",
    "shard_path",
    "windows_path",
    "write_shard",
]


def windows_path(root: StorePath) -> StorePath:
    return root / "windows.npy"


def shard_path(root: StorePath, index: int) -> StorePath:
    return root / f"shard-{index:05d}.npz"


def save_windows(root: StorePath, windows: np.ndarray) -> None:
    save_npy(windows_path(root), np.asarray(windows, dtype=np.int64))


def load_windows(root: StorePath) -> np.ndarray:
    return load_npy(windows_path(root))


@torch.no_grad()
def write_shard(
    path: StorePath,
    subject: SubjectModel,
    sae: SparseCoder,
    tokens: np.ndarray,
    windows: np.ndarray,
    batches: Sequence[Sequence[int]],
    *,
    batch_size: int,
    progress: bool = False,
) -> int:
    """Replay ``windows`` once and save the nonzero activations of every batch's units,
    grouped by batch; returns the number of entries kept."""
    units = [u for batch in batches for u in batch]
    which = np.repeat(np.arange(len(batches)), [len(b) for b in batches])  # unit -> batch
    place = np.concatenate([np.arange(len(b)) for b in batches]) if units else np.zeros(0, int)
    cols = torch.as_tensor(units, dtype=torch.long)
    hook = bind(subject, sae)
    parts: list[tuple[np.ndarray, ...]] = []
    for ids, acts in encode_windows(
        subject,
        sae,
        hook,
        tokens[windows],
        batch_size=batch_size,
        desc="replay" if progress else None,
        window_ids=windows.tolist(),
    ):
        chosen = acts[:, :, cols]
        row, pos, col = (t.numpy() for t in chosen.nonzero(as_tuple=True))
        value = chosen[row, pos, col].numpy().astype(np.float32)
        parts.append((ids.numpy()[row], pos, col, value))
    if parts:
        w, p, c, v = (np.concatenate(x) for x in zip(*parts, strict=True))
    else:
        w, p, c, v = (
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
        )
    order = np.argsort(which[c], kind="stable")
    w, p, c, v = w[order], p[order], c[order], v[order]
    bounds = np.searchsorted(which[c], np.arange(len(batches) + 1))
    arrays: dict[str, np.ndarray] = {}
    for b in range(len(batches)):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        if lo == hi:
            continue
        arrays[f"{b}_w"] = w[lo:hi].astype(np.int64)
        arrays[f"{b}_p"] = p[lo:hi].astype(np.int32)
        arrays[f"{b}_c"] = place[c[lo:hi]].astype(np.int32)
        arrays[f"{b}_v"] = v[lo:hi]
    save_npz(path, arrays)
    return len(v)


class ReplayReader:
    """``acts_for(windows, units)`` for one batch (``make_records``'s ``acts_for``): the
    batch's entries of every replay shard under ``root``, as a dense array."""

    def __init__(
        self,
        root: StorePath,
        n_shards: int,
        batch: int,
        batch_units: Sequence[int],
        n_positions: int,
    ) -> None:
        self.root, self.n_shards, self.batch = root, n_shards, batch
        self.place = {int(u): i for i, u in enumerate(batch_units)}
        self.n_positions = n_positions

    def __call__(self, windows: np.ndarray, units: list[int]) -> np.ndarray:
        windows = np.asarray(windows, dtype=np.int64)
        union = load_windows(self.root)
        missing = windows[~np.isin(windows, union)]
        if len(missing):
            raise StoreError(
                f"{self.root}: windows {missing[:5].tolist()} of batch {self.batch} were not "
                "replayed (the job's plan and its replay store disagree; resubmit the job)"
            )
        out = np.zeros((len(windows), self.n_positions, len(units)), dtype=np.float32)
        want = np.full(len(self.place), -1, dtype=np.int64)
        want[[self.place[int(u)] for u in units]] = np.arange(len(units))
        key = str(self.batch)
        for index in range(self.n_shards):
            path = shard_path(self.root, index)
            with open_npz(path) as data, guard(path):
                if f"{key}_w" not in data.files:
                    continue
                w, p, c, v = (data[f"{key}_{x}"] for x in "wpcv")
            j = want[c]
            row = np.searchsorted(windows, w)
            inside = row < len(windows)
            hit = (j >= 0) & inside
            hit[inside] &= windows[row[inside]] == w[inside]
            out[row[hit], p[hit], j[hit]] = v[hit]
        return out
