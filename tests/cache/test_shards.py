"""The on-disk shard cache, through real forward passes of a tiny random Llama: merged shards
equal a single pass, an interrupted run resumes from the shards it finished, a finished cache
is reused without running the model, and any change of input gives a different cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from autointerp.cache import cache_activations
from autointerp.cache import shards as shards_mod
from autointerp.cache.shards import cached_stats, compute_shards
from autointerp.config import CacheConfig
from autointerp.errors import ConfigError
from autointerp.models.loader import SubjectModel, load_subject_model
from autointerp.saes import SparseCoder, load_sae
from tests.helpers import write_saelens

CFG = CacheConfig(batch_size=4, top_k=4, reservoir=5, shard_windows=5)
FIELDS = (
    "fire_count",
    "window_count",
    "act_sum",
    "act_max",
    "top_values",
    "top_windows",
    "res_keys",
    "res_values",
    "res_windows",
)


@pytest.fixture(scope="module")
def subject(tiny_llama: Path) -> SubjectModel:
    return load_subject_model(str(tiny_llama))


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    toks = np.random.default_rng(1).integers(3, 5000, size=(13, 10))
    toks[:, 0] = 1
    return toks


@pytest.fixture
def sae(tmp_path: Path) -> SparseCoder:
    return load_sae(write_saelens(tmp_path / "sae", d_in=64, d_sae=48, k=6))


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert (a.n_windows, a.n_tokens) == (b.n_windows, b.n_tokens)
    for name in FIELDS:
        torch.testing.assert_close(getattr(a, name), getattr(b, name), msg=name)


def _count_calls(monkeypatch: pytest.MonkeyPatch, fail_on: int | None = None) -> list[int]:
    """Record the first window of every shard computed; optionally crash on the n-th one
    (fault injection standing in for a killed worker)."""
    calls: list[int] = []
    seen = [0]
    real = shards_mod.cache_many

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["first_window"])
        seen[0] += 1
        if seen[0] == fail_on:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(shards_mod, "cache_many", spy)
    return calls


def test_merged_shards_equal_a_single_pass(subject, sae, tokens, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (sharded,) = cached_stats(
        subject, [sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    single = cache_activations(subject, sae, tokens, CFG, seed=2, progress=False)
    _same(sharded, single)
    files = sorted(p.name for p in next((tmp_path / "c").iterdir()).iterdir())
    assert files == [
        "key.json",
        "merged.npz",
        "shard-000000000-000000005.npz",
        "shard-000000005-000000010.npz",
        "shard-000000010-000000013.npz",
    ]


def test_resume_after_an_interrupted_shard(subject, sae, tokens, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = _count_calls(monkeypatch, fail_on=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cached_stats(subject, [sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False)
    folder = next((tmp_path / "c").iterdir())
    assert [p.name for p in folder.glob("shard-*")] == ["shard-000000000-000000005.npz"]
    assert not list(folder.glob("*.tmp*")), "an interrupted shard leaves no partial file"
    calls.clear()
    (resumed,) = cached_stats(
        subject, [sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    assert calls == [5, 10], "only the unfinished shards are computed again"
    _same(resumed, cache_activations(subject, sae, tokens, CFG, seed=2, progress=False))


@pytest.mark.slow
def test_a_finished_cache_is_reused_and_keys_separate_inputs(
    subject, sae, tokens, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    (first,) = cached_stats(
        subject, [sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    calls = _count_calls(monkeypatch)
    (again,) = cached_stats(
        subject, [sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    assert calls == [] and len(list((tmp_path / "c").iterdir())) == 1
    _same(first, again)
    # Another corpus, seed, statistic size or checkpoint is another cache.
    cached_stats(subject, [sae], tokens, "other", CFG, seed=2, root=tmp_path / "c", progress=False)
    cached_stats(subject, [sae], tokens, "fp", CFG, seed=3, root=tmp_path / "c", progress=False)
    cached_stats(
        subject,
        [sae],
        tokens,
        "fp",
        replace(CFG, top_k=2),
        seed=2,
        root=tmp_path / "c",
        progress=False,
    )
    other_sae = load_sae(write_saelens(tmp_path / "sae2", d_in=64, d_sae=48, k=6, seed=9))
    cached_stats(
        subject, [other_sae], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    assert len(list((tmp_path / "c").iterdir())) == 5
    # The same weights file with another k in its config is another checkpoint (format 1
    # keyed the weights file only and handed such a checkpoint the first one's statistics).
    other_k = load_sae(write_saelens(tmp_path / "sae3", d_in=64, d_sae=48, k=2))
    assert other_k.info.sha256 == sae.info.sha256
    (fewer,) = cached_stats(
        subject, [other_k], tokens, "fp", CFG, seed=2, root=tmp_path / "c", progress=False
    )
    assert len(list((tmp_path / "c").iterdir())) == 6
    assert int(fewer.fire_count.sum()) < int(first.fire_count.sum())
    _same(fewer, cache_activations(subject, other_k, tokens, CFG, seed=2, progress=False))
    # So is another batching: batch and shard sizes change float sums in the last bits, and
    # a cache reused across them could swap near-tied top windows (a test reading the shared
    # user cache once saw statistics differ from a fresh computation that way).
    for other in (replace(CFG, shard_windows=7), replace(CFG, batch_size=3)):
        cached_stats(
            subject, [sae], tokens, "fp", other, seed=2, root=tmp_path / "c", progress=False
        )
    assert len(list((tmp_path / "c").iterdir())) == 8
    # batch_size 0 resolves to the device's size (32 on CPU): one cache for both spellings.
    for size in (0, 32):
        cached_stats(
            subject,
            [sae],
            tokens,
            "fp",
            replace(CFG, batch_size=size),
            seed=2,
            root=tmp_path / "c",
            progress=False,
        )
    assert len(list((tmp_path / "c").iterdir())) == 9


def test_deterministic_and_validated(subject, sae, tokens, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a = cached_stats(subject, [sae], tokens, "fp", CFG, seed=4, root=tmp_path / "a", progress=False)
    b = cached_stats(subject, [sae], tokens, "fp", CFG, seed=4, root=tmp_path / "b", progress=False)
    _same(a[0], b[0])
    with pytest.raises(ConfigError, match="shard_windows"):
        cached_stats(
            subject,
            [sae],
            tokens,
            "fp",
            replace(CFG, shard_windows=0),
            seed=4,
            root=tmp_path / "c",
            progress=False,
        )


def test_workers_cache_disjoint_shards_then_merge(
    subject, sae, tokens, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Two workers take shards {0, 2} and {1} (in any order); the merge then runs no model
    and equals a single pass."""
    root = tmp_path / "c"
    first = compute_shards(
        subject, [sae], tokens, "fp", CFG, seed=2, shards=[2, 0], root=root, progress=False
    )
    second = compute_shards(
        subject, [sae], tokens, "fp", CFG, seed=2, shards=[1], root=root, progress=False
    )
    assert (first, second) == (2, 1)
    assert (
        compute_shards(
            subject, [sae], tokens, "fp", CFG, seed=2, shards=[1], root=root, progress=False
        )
        == 0
    )
    calls = _count_calls(monkeypatch)
    (merged,) = cached_stats(subject, [sae], tokens, "fp", CFG, seed=2, root=root, progress=False)
    assert calls == []
    _same(merged, cache_activations(subject, sae, tokens, CFG, seed=2, progress=False))
    with pytest.raises(ConfigError, match="shard 3 does not exist"):
        compute_shards(
            subject, [sae], tokens, "fp", CFG, seed=2, shards=[3], root=root, progress=False
        )
