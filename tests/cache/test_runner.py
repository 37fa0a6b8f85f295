"""Caching through real forward passes of a tiny random Llama: several checkpoints on several
hook points in one pass equal separate passes; signed (AbsTopK) latents become two units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from autointerp.cache import bind, cache_activations
from autointerp.cache.runner import cache_many, replay
from autointerp.config import CacheConfig
from autointerp.errors import ModelError
from autointerp.models.loader import SubjectModel, load_subject_model
from autointerp.saes import load_sae
from tests.helpers import write_saelens

CFG = CacheConfig(batch_size=4, top_k=5, reservoir=6)


@pytest.fixture(scope="module")
def subject(tiny_llama: Path) -> SubjectModel:
    return load_subject_model(str(tiny_llama))


@pytest.fixture(scope="module")
def tokens() -> np.ndarray:
    gen = np.random.default_rng(0)
    toks = gen.integers(3, 5000, size=(10, 12))
    toks[:, 0] = 1
    return toks


def _assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    for field in ("fire_count", "act_sum", "act_max", "top_values", "top_windows", "res_windows"):
        torch.testing.assert_close(getattr(a, field), getattr(b, field), msg=field)


def test_several_checkpoints_in_one_pass_equal_separate_passes(
    subject: SubjectModel, tokens: np.ndarray, tmp_path: Path
) -> None:
    specs = [
        ("blocks.1.hook_resid_post", "topk", 64),
        ("blocks.3.hook_mlp_out", "standard", 48),
        ("blocks.1.hook_resid_post", "jumprelu", 32),  # same hook point as the first
    ]
    saes = [
        load_sae(write_saelens(tmp_path / str(i), d_in=64, d_sae=d, architecture=a, hook_name=h))
        for i, (h, a, d) in enumerate(specs)
    ]
    together = cache_many(subject, saes, tokens, CFG, seed=3, progress=False)
    for sae, stats in zip(saes, together, strict=True):
        alone = cache_activations(subject, sae, tokens, CFG, seed=3, progress=False)
        assert stats.d_sae == sae.d_sae
        _assert_same(stats, alone)
        assert int(stats.fire_count.sum()) > 0


def test_signed_latents_are_cached_as_two_units(
    subject: SubjectModel, tokens: np.ndarray, tmp_path: Path
) -> None:
    sae = load_sae(
        write_saelens(
            tmp_path,
            d_in=64,
            d_sae=40,
            architecture="abstopk",
            k=6,
            hook_name="blocks.2.hook_resid_post",
        )
    )
    assert sae.signed and sae.n_units == 80
    stats = cache_activations(subject, sae, tokens, CFG, seed=0, progress=False)
    assert stats.d_sae == 80
    pos, neg = stats.fire_count[:40], stats.fire_count[40:]
    assert int(pos.sum()) > 0 and int(neg.sum()) > 0
    # Each token has exactly k non-zero latents, split between the two directions.
    n_tokens = tokens.shape[0] * (tokens.shape[1] - 1)
    assert int(pos.sum() + neg.sum()) == 6 * n_tokens
    # Replaying a negative unit gives the magnitude of the latent's negative values.
    unit = 40 + int(neg.argmax())
    acts = replay(
        subject, sae, tokens, np.arange(len(tokens)), [unit], batch_size=4, progress=False
    )
    assert acts.min() >= 0 and acts.max() == pytest.approx(float(stats.act_max[unit]), rel=1e-5)


def test_checkpoint_that_does_not_fit_the_model(subject: SubjectModel, tmp_path: Path) -> None:
    wide = load_sae(write_saelens(tmp_path / "w", d_in=32, d_sae=16))
    with pytest.raises(ModelError, match="d_in=32 does not match the hidden size 64"):
        bind(subject, wide)
    neurons = load_sae(
        write_saelens(tmp_path / "n", d_in=64, d_sae=16, hook_name="blocks.1.mlp.hook_post")
    )
    with pytest.raises(ModelError, match="width 128"):  # the MLP is 128 wide
        bind(subject, neurons)
    nowhere = load_sae(write_saelens(tmp_path / "x", d_in=64, d_sae=16, hook_name="layers.1.nope"))
    with pytest.raises(ModelError, match="layers.1.nope"):
        bind(subject, nowhere)
