"""Per-latent streaming statistics with memory independent of the number of tokens.

For every latent we keep counters (firing tokens, firing windows, sum and max of the
activation) and two bounded sets of windows, where a window's value is the latent's maximum
activation inside it (BOS excluded):

* ``top``: the ``top_k`` highest-valued windows, exactly;
* ``reservoir``: a uniform random sample of ``reservoir`` activating windows, chosen as the
  bottom-k of a seeded hash of (window, latent). Because the key depends only on the window's
  global index, the sample does not depend on batch order, and two shards merge exactly
  (merge = keep the bottom-k of the union), as do the top sets and the counters.

Quantile-stratified examples are drawn from the reservoir later (see ``sampling``).

Two more mergeable count tables describe each latent's distribution: ``hist``, firing tokens
per log-spaced activation bin (edges ``HIST_EDGES``), and ``token_hash``, firing tokens per
bucket of two independent hashes of the token id. The largest bucket share in *both* hashes
bounds the share of the most frequent firing token from above, so a latent whose bound stays
high fires on (almost) one token only (flagged ``single_token``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from autointerp.store.files import StorePath, open_npz, save_npz

__all__ = ["HIST_EDGES", "TOKEN_BUCKETS", "LatentStats", "hash_keys"]

_EMPTY = -1
HIST_EDGES = torch.logspace(-3, 3, 25)
"""Upper edges of the activation histogram's bins (the last bin is open-ended)."""
TOKEN_BUCKETS = 32
_TOKEN_MULT = (0x9E3779B1, 0x85EBCA77)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def hash_keys(seed: int, windows: np.ndarray, latents: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from (seed, window, latent) via splitmix64."""
    with np.errstate(over="ignore"):
        x = (
            np.uint64(seed) * _GOLD
            ^ windows.astype(np.uint64) * _M1
            ^ (latents.astype(np.uint64) + np.uint64(1)) * _M2
        )
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        x = x ^ (x >> np.uint64(31))
    out: np.ndarray = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out


def _firings(
    acts: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(window, position, latent, value) of every activation > 0 in ``acts`` [B, T, d], in
    row-major order: one pass over the floats (``nonzero``), then a filter on the few
    non-zero values (drops negatives and NaN)."""
    flat = acts.reshape(-1)
    idx = flat.nonzero().squeeze(1)
    vals = flat[idx]
    keep = vals > 0
    if not bool(keep.all()):
        idx, vals = idx[keep], vals[keep]
    _, positions, d = acts.shape
    window_pos, latent = idx // d, idx % d
    return window_pos // positions, window_pos % positions, latent, vals


@dataclass
class LatentStats:
    """Streaming statistics for ``d_sae`` latents (see the module docstring)."""

    seed: int
    n_windows: int
    n_tokens: int
    fire_count: torch.Tensor  # int64 [d_sae]: tokens where the latent is > 0
    window_count: torch.Tensor  # int64 [d_sae]: windows where it fired at least once
    act_sum: torch.Tensor  # float64 [d_sae]: sum of activations
    act_max: torch.Tensor  # float32 [d_sae]
    top_values: torch.Tensor  # float32 [d_sae, top_k], -inf = empty
    top_windows: torch.Tensor  # int64 [d_sae, top_k], -1 = empty
    res_keys: torch.Tensor  # float64 [d_sae, reservoir], +inf = empty
    res_values: torch.Tensor  # float32 [d_sae, reservoir]
    res_windows: torch.Tensor  # int64 [d_sae, reservoir], -1 = empty
    hist: torch.Tensor  # int64 [d_sae, len(HIST_EDGES) + 1]: firing tokens per activation bin
    token_hash: torch.Tensor  # int64 [d_sae, 2, TOKEN_BUCKETS]: firing tokens per token hash

    @classmethod
    def empty(cls, d_sae: int, top_k: int, reservoir: int, seed: int) -> LatentStats:
        return cls(
            seed=seed,
            n_windows=0,
            n_tokens=0,
            fire_count=torch.zeros(d_sae, dtype=torch.int64),
            window_count=torch.zeros(d_sae, dtype=torch.int64),
            act_sum=torch.zeros(d_sae, dtype=torch.float64),
            act_max=torch.zeros(d_sae, dtype=torch.float32),
            top_values=torch.full((d_sae, top_k), -torch.inf),
            top_windows=torch.full((d_sae, top_k), _EMPTY, dtype=torch.int64),
            res_keys=torch.full((d_sae, reservoir), torch.inf, dtype=torch.float64),
            res_values=torch.zeros((d_sae, reservoir)),
            res_windows=torch.full((d_sae, reservoir), _EMPTY, dtype=torch.int64),
            hist=torch.zeros((d_sae, len(HIST_EDGES) + 1), dtype=torch.int64),
            token_hash=torch.zeros((d_sae, 2, TOKEN_BUCKETS), dtype=torch.int64),
        )

    @property
    def d_sae(self) -> int:
        return int(self.fire_count.shape[0])

    def update(
        self, acts: torch.Tensor, window_ids: torch.Tensor, token_ids: torch.Tensor | None = None
    ) -> None:
        """Fold in a batch: ``acts`` [B, T, d_sae] (BOS already dropped), ``window_ids`` [B],
        ``token_ids`` [B, T] (the tokens at those positions, for the token-hash counts)."""
        acts = acts.float()
        batch, positions, d = acts.shape
        self.n_windows += batch
        self.n_tokens += batch * positions
        # One pass over the dense batch; the rest works on its firings (a TopK SAE fires on
        # k of d_sae latents per token) and on [d_sae, B] window maxima.
        b_idx, t_idx, l_idx, vals = _firings(acts)
        self._count_firings(b_idx, t_idx, l_idx, vals, token_ids)
        self.fire_count += torch.bincount(l_idx, minlength=d)
        self.act_sum += torch.bincount(l_idx, weights=vals.double(), minlength=d)
        wmax = torch.zeros(batch * d).scatter_reduce_(0, b_idx * d + l_idx, vals, "amax")
        wmax = wmax.view(batch, d)  # [B, d_sae], 0 where the latent did not fire
        self.act_max = torch.maximum(self.act_max, wmax.amax(dim=0))
        fired = wmax > 0
        self.window_count += fired.sum(dim=0)

        values = wmax.T.masked_fill(~fired.T, -torch.inf)  # [d_sae, B]
        wins = window_ids.to(torch.int64).expand(d, batch)
        self._merge_top(values, wins)

        if not self.res_keys.shape[1]:
            return
        keys = torch.full((d, batch), torch.inf, dtype=torch.float64)
        b_win, l_win = fired.nonzero(as_tuple=True)
        if b_win.numel():
            hashed = hash_keys(self.seed, window_ids[b_win].numpy(), l_win.numpy())
            keys[l_win, b_win] = torch.from_numpy(hashed)
        # Keys are unique, so only latents with a key below their largest kept one change.
        rows = (keys < self.res_keys[:, -1:]).any(dim=1).nonzero().flatten()
        self._merge_reservoir(keys[rows], wmax.T[rows], wins[rows], rows)

    def _count_firings(
        self,
        b_idx: torch.Tensor,
        t_idx: torch.Tensor,
        l_idx: torch.Tensor,
        vals: torch.Tensor,
        token_ids: torch.Tensor | None,
    ) -> None:
        if not b_idx.numel():
            return
        d, n_bins = self.d_sae, self.hist.shape[1]
        bins = torch.bucketize(vals, HIST_EDGES)
        self.hist += torch.bincount(l_idx * n_bins + bins, minlength=d * n_bins).view(d, n_bins)
        if token_ids is None:
            return
        tok = token_ids.to(torch.int64)[b_idx, t_idx]
        for h, mult in enumerate(_TOKEN_MULT):
            bucket = ((tok * mult) % 2**32 >> 16) % TOKEN_BUCKETS
            counts = torch.bincount(l_idx * TOKEN_BUCKETS + bucket, minlength=d * TOKEN_BUCKETS)
            self.token_hash[:, h] += counts.view(d, TOKEN_BUCKETS)

    def _merge_top(self, values: torch.Tensor, windows: torch.Tensor) -> None:
        all_v = torch.cat([self.top_values, values], dim=1)
        all_w = torch.cat([self.top_windows, windows], dim=1)
        top_v, idx = all_v.topk(self.top_values.shape[1], dim=1)
        self.top_values = top_v
        self.top_windows = all_w.gather(1, idx).masked_fill(top_v == -torch.inf, _EMPTY)

    def _merge_reservoir(
        self,
        keys: torch.Tensor,
        values: torch.Tensor,
        windows: torch.Tensor,
        rows: torch.Tensor | None = None,
    ) -> None:
        """Keep the bottom-k keys of the reservoir and the candidates (given for the latents
        ``rows`` only, when set; the other rows stay as they are)."""
        sel = slice(None) if rows is None else rows
        all_k = torch.cat([self.res_keys[sel], keys], dim=1)
        all_v = torch.cat([self.res_values[sel], values], dim=1)
        all_w = torch.cat([self.res_windows[sel], windows], dim=1)
        low_k, idx = all_k.topk(self.res_keys.shape[1], dim=1, largest=False)
        self.res_keys[sel] = low_k
        self.res_values[sel] = all_v.gather(1, idx)
        self.res_windows[sel] = all_w.gather(1, idx).masked_fill(low_k == torch.inf, _EMPTY)

    def merge(self, other: LatentStats) -> LatentStats:
        """Exact merge of two shards (disjoint windows of the same corpus)."""
        if other.seed != self.seed or other.d_sae != self.d_sae:
            raise ValueError("can only merge statistics with the same seed and d_sae")
        out = LatentStats(
            seed=self.seed,
            n_windows=self.n_windows + other.n_windows,
            n_tokens=self.n_tokens + other.n_tokens,
            fire_count=self.fire_count + other.fire_count,
            window_count=self.window_count + other.window_count,
            act_sum=self.act_sum + other.act_sum,
            act_max=torch.maximum(self.act_max, other.act_max),
            top_values=self.top_values.clone(),
            top_windows=self.top_windows.clone(),
            res_keys=self.res_keys.clone(),
            res_values=self.res_values.clone(),
            res_windows=self.res_windows.clone(),
            hist=self.hist + other.hist,
            token_hash=self.token_hash + other.token_hash,
        )
        out._merge_top(other.top_values, other.top_windows)
        out._merge_reservoir(other.res_keys, other.res_values, other.res_windows)
        return out

    # ----------------------------------------------------------------- per-latent views
    def top(self, latent: int) -> tuple[np.ndarray, np.ndarray]:
        """(windows, values) of the top set, highest first."""
        keep = self.top_windows[latent] >= 0
        return self.top_windows[latent][keep].numpy(), self.top_values[latent][keep].numpy()

    def reservoir(self, latent: int) -> tuple[np.ndarray, np.ndarray]:
        """(windows, values) of the uniform sample of activating windows."""
        keep = self.res_windows[latent] >= 0
        return self.res_windows[latent][keep].numpy(), self.res_values[latent][keep].numpy()

    def density(self) -> torch.Tensor:
        return self.fire_count.double() / max(self.n_tokens, 1)

    def mean_activation(self) -> torch.Tensor:
        return self.act_sum / self.fire_count.clamp(min=1).double()

    def top_token_share(self) -> torch.Tensor:
        """Upper bound on the share of a latent's firings that fall on its most frequent
        token (1.0 = a single-token latent; 0 where nothing fired or tokens were not given)."""
        counted = self.token_hash[:, 0].sum(dim=1).clamp(min=1).double()
        biggest = self.token_hash.amax(dim=2).amin(dim=1).double()
        return biggest / counted

    # ----------------------------------------------------------------------- storage
    def save(self, path: StorePath) -> None:
        """Save atomically, to a local path or a store URL's path."""
        arrays = {k: v.numpy() for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        meta = np.array([self.seed, self.n_windows, self.n_tokens], dtype=np.int64)
        save_npz(path, {"meta": meta, **arrays}, compressed=True)

    @classmethod
    def load(cls, path: StorePath) -> LatentStats:
        with open_npz(path) as data:
            seed, n_windows, n_tokens = (int(x) for x in data["meta"])
            tensors = {k: torch.from_numpy(data[k].copy()) for k in data.files if k != "meta"}
        return cls(seed=seed, n_windows=n_windows, n_tokens=n_tokens, **tensors)
