"""LatentStats against brute force on synthetic activations: exact counts and top sets,
a reservoir that equals the bottom-k of the seeded hash, and exact shard merges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from autointerp.cache.stats import HIST_EDGES, LatentStats, hash_keys

N_WIN, T, D = 120, 6, 10


def _acts(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(N_WIN, T, D, generator=gen)
    mask = torch.rand(N_WIN, T, D, generator=gen) < torch.linspace(0.0, 0.4, D)  # latent 0 is dead
    return dense * mask


def _stream(
    acts: torch.Tensor, windows: range, top_k: int = 5, reservoir: int = 7, batch: int = 16
) -> LatentStats:
    stats = LatentStats.empty(D, top_k, reservoir, seed=11)
    ids = list(windows)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        stats.update(acts[chunk], torch.tensor(chunk))
    return stats


def test_counters_and_top_sets_match_brute_force() -> None:
    acts = _acts()
    stats = _stream(acts, range(N_WIN))
    assert stats.n_windows == N_WIN and stats.n_tokens == N_WIN * T
    assert torch.equal(stats.fire_count, (acts > 0).sum((0, 1)))
    wmax = acts.amax(1)
    assert torch.equal(stats.window_count, (wmax > 0).sum(0))
    torch.testing.assert_close(stats.act_max, wmax.amax(0))
    for latent in range(D):
        windows, values = stats.top(latent)
        firing = torch.nonzero(wmax[:, latent] > 0).flatten()
        expected = firing[torch.argsort(wmax[firing, latent], descending=True)][:5]
        assert windows.tolist() == expected.tolist()
        np.testing.assert_allclose(values, wmax[expected, latent].numpy())
    assert stats.top(0)[0].size == 0 and stats.reservoir(0)[0].size == 0  # dead latent


def test_reservoir_is_the_bottom_k_of_the_hash() -> None:
    acts = _acts()
    stats = _stream(acts, range(N_WIN))
    wmax = acts.amax(1)
    for latent in range(1, D):
        firing = np.flatnonzero(wmax[:, latent].numpy() > 0)
        keys = hash_keys(11, firing, np.full(len(firing), latent))
        expected = set(firing[np.argsort(keys)][:7].tolist())
        windows, values = stats.reservoir(latent)
        assert set(windows.tolist()) == expected
        np.testing.assert_allclose(values, wmax[windows, latent].numpy())


def test_hash_keys_are_uniform_and_deterministic() -> None:
    keys = hash_keys(3, np.arange(20000), np.full(20000, 5))
    assert keys.min() >= 0 and keys.max() < 1
    assert abs(keys.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(keys, hash_keys(3, np.arange(20000), np.full(20000, 5)))
    assert not np.array_equal(keys, hash_keys(4, np.arange(20000), np.full(20000, 5)))


def test_merged_shards_equal_a_single_pass() -> None:
    acts = _acts(1)
    single = _stream(acts, range(N_WIN), batch=32)
    merged = _stream(acts, range(0, 50), batch=7).merge(_stream(acts, range(50, N_WIN), batch=13))
    for name, value in vars(single).items():
        other = getattr(merged, name)
        if isinstance(value, torch.Tensor):
            if name.startswith(("top", "res")):  # same sets, order within ties may differ
                assert torch.equal(value.sort(dim=1).values, other.sort(dim=1).values), name
            else:
                torch.testing.assert_close(value, other, msg=name)
        else:
            assert value == other, name


def test_batch_order_does_not_matter() -> None:
    acts = _acts(2)
    forward = _stream(acts, range(N_WIN), batch=10)
    backward = _stream(acts, range(N_WIN - 1, -1, -1), batch=10)
    for latent in range(D):
        assert set(forward.reservoir(latent)[0].tolist()) == set(
            backward.reservoir(latent)[0].tolist()
        )
        assert forward.top(latent)[0].tolist() == backward.top(latent)[0].tolist()


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    stats = _stream(_acts(), range(N_WIN))
    stats.save(tmp_path / "s.npz")
    again = LatentStats.load(tmp_path / "s.npz")
    assert (again.seed, again.n_windows, again.n_tokens) == (11, N_WIN, N_WIN * T)
    for name, value in vars(stats).items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, getattr(again, name)), name


def _stream_tokens(acts: torch.Tensor, tokens: torch.Tensor, windows: range) -> LatentStats:
    stats = LatentStats.empty(D, 5, 7, seed=11)
    for start in range(windows.start, windows.stop, 16):
        chunk = list(range(start, min(start + 16, windows.stop)))
        stats.update(acts[chunk], torch.tensor(chunk), tokens[chunk])
    return stats


def test_histogram_and_single_token_share() -> None:
    acts = _acts(2)
    gen = torch.Generator().manual_seed(5)
    tokens = torch.randint(3, 40000, (N_WIN, T), generator=gen)
    # Latent 9 fires exactly where token 777 is, nowhere else.
    acts[..., 9] = 0.0
    tokens[::3, 2] = 777
    acts[::3, 2, 9] = 0.5
    stats = _stream_tokens(acts, tokens, range(N_WIN))
    firing = acts[acts > 0]
    bins = torch.bucketize(acts, HIST_EDGES)
    for latent in range(D):
        values = bins[..., latent][acts[..., latent] > 0]
        expected = torch.bincount(values, minlength=len(HIST_EDGES) + 1)
        assert torch.equal(stats.hist[latent], expected)
    assert int(stats.hist.sum()) == firing.numel()
    share = stats.top_token_share()
    assert share[9] == 1.0 and share[0] == 0.0  # single-token latent; dead latent
    # Random tokens: the bound is loose but far from 1 for a latent that fires often.
    assert float(share[D - 2]) < 0.2
    # Exact merges for the new counts too.
    merged = _stream_tokens(acts, tokens, range(0, 50)).merge(
        _stream_tokens(acts, tokens, range(50, N_WIN))
    )
    assert torch.equal(merged.hist, stats.hist) and torch.equal(merged.token_hash, stats.token_hash)
