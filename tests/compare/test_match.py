"""One-to-one matching (exact and the top-k approximation), best matches and the baselines,
checked against brute force and against the exact assignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from autointerp.compare.match import (
    best_matches,
    match,
    random_pairs,
    shuffled_columns,
    unit_rows,
)


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).standard_normal((n, d)))


def _clustered(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two sides sharing cluster structure (many near-ties: a hard case for shortcuts)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // 10, 32))
    a = centres[rng.integers(0, len(centres), n)] + 0.7 * rng.standard_normal((n, 32))
    b = centres[rng.integers(0, len(centres), n + 50)] + 0.7 * rng.standard_normal((n + 50, 32))
    return unit_rows(a), unit_rows(b)


def test_exact_matching_is_the_best_permutation() -> None:
    a, b = _vectors(6, seed=1), _vectors(6, seed=2)
    sims = a @ b.T
    best = max(sum(sims[i, p[i]] for i in range(6)) for p in itertools.permutations(range(6)))
    m = match(a, b)
    assert m.exact
    assert m.sims.sum() == pytest.approx(best, abs=1e-5)
    np.testing.assert_allclose(m.sims, sims[m.rows, m.cols], atol=1e-6)


@pytest.mark.parametrize(("n_a", "n_b"), [(5, 8), (8, 5)])
def test_rectangular_matching_pairs_every_latent_of_the_smaller_side(n_a: int, n_b: int) -> None:
    m = match(_vectors(n_a, seed=3), _vectors(n_b, seed=4))
    assert len(m.rows) == len(set(m.rows)) == min(n_a, n_b)
    assert len(set(m.cols)) == min(n_a, n_b)
    partner = m.partner(n_a)
    assert (partner >= 0).sum() == min(n_a, n_b)


def test_exclude_self_forbids_the_identity_but_pairs_duplicates() -> None:
    a = _vectors(10, seed=5)
    a[7] = a[3]  # two latents with the same explanation
    m = match(a, a, exclude_self=True)
    assert not (m.rows == m.cols).any()
    assert m.partner(10)[3] == 7 and m.partner(10)[7] == 3
    assert m.sims[m.rows == 3][0] == pytest.approx(1.0, abs=1e-6)
    idx, _ = best_matches(a, a, exclude_self=True)
    assert (idx != np.arange(10)).all() and idx[3] == 7
    assert match(a[:1], a[:1], exclude_self=True).rows.size == 0  # nothing else to match


def test_the_approximation_recovers_a_hidden_permutation() -> None:
    rng = np.random.default_rng(6)
    a = _vectors(500, d=64, seed=6)
    perm = rng.permutation(500)
    b = unit_rows(a[perm] + 0.05 * rng.standard_normal((500, 64)))
    m = match(a, b, exact_max=100, top_k=8, block=64)
    assert not m.exact
    np.testing.assert_array_equal(perm[m.cols], m.rows)  # b[j] is a[perm[j]]


@pytest.mark.parametrize("top_k", [4, 16])
def test_the_approximation_is_close_to_the_exact_assignment(top_k: int) -> None:
    a, b = _clustered(600, seed=7)
    sims = a @ b.T
    rows, cols = linear_sum_assignment(sims, maximize=True)
    exact_total = float(sims[rows, cols].sum())
    m = match(a, b, exact_max=100, top_k=top_k, block=128)
    assert not m.exact and len(m.rows) == 600 and len(set(m.cols)) == 600
    np.testing.assert_allclose(m.sims, sims[m.rows, m.cols], atol=1e-5)
    assert m.sims.sum() >= 0.99 * exact_total
    assert m.sims.sum() <= exact_total + 1e-3


def test_the_approximation_matches_everyone_when_candidates_cannot() -> None:
    """Most latents of A point near e1, where only 4 latents of B are, and most of B near
    e0, where only 4 of A are: however long the candidate lists are made (up to 4), the
    candidate graph has no full matching; one random full matching's edges are added, and
    the latents left on them re-matched among themselves."""
    rng = np.random.default_rng(8)
    e0, e1 = np.eye(32)[0], np.eye(32)[1]
    a = np.concatenate([np.tile(e0, (4, 1)), np.tile(e1, (296, 1))])
    b = np.concatenate([np.tile(e1, (4, 1)), np.tile(e0, (296, 1))])
    a = unit_rows(a + 0.05 * rng.standard_normal(a.shape))
    b = unit_rows(b + 0.05 * rng.standard_normal(b.shape))
    m = match(a, b, exact_max=200, top_k=1, block=50)
    assert not m.exact
    assert len(set(m.rows)) == len(set(m.cols)) == 300
    sims = a @ b.T
    rows, cols = linear_sum_assignment(sims, maximize=True)
    assert (m.sims > 0.8).sum() == (sims[rows, cols] > 0.8).sum() == 8  # the real pairs
    assert m.sims.sum() >= 0.85 * sims[rows, cols].sum()  # the rest: noise, ~0 either way


def test_the_approximate_self_excluded_matching_never_pairs_a_latent_with_itself() -> None:
    a, _ = _clustered(400, seed=9)
    m = match(a, a, exact_max=50, top_k=8, block=64, exclude_self=True)
    assert not m.exact and not (m.rows == m.cols).any()
    exact = a @ a.T
    np.fill_diagonal(exact, -4.0)
    rows, cols = linear_sum_assignment(exact, maximize=True)
    assert m.sims.sum() >= 0.98 * exact[rows, cols].sum()


def test_best_matches_equal_the_argmax_across_blocks() -> None:
    a, b = _vectors(23, seed=10), _vectors(17, seed=11)
    idx, sim = best_matches(a, b, block=7)
    np.testing.assert_array_equal(idx, (a @ b.T).argmax(axis=1))
    np.testing.assert_allclose(sim, (a @ b.T).max(axis=1), atol=1e-6)
    masked = a @ a.T
    np.fill_diagonal(masked, -4.0)
    idx, _ = best_matches(a, a, block=5, exclude_self=True)
    np.testing.assert_array_equal(idx, masked.argmax(axis=1))
    idx, sim = best_matches(a, b[:0])
    assert (idx == -1).all() and np.isnan(sim).all()


def test_random_pairs_are_a_one_to_one_shuffle() -> None:
    basis = np.eye(12, dtype=np.float32)
    sims = random_pairs(basis, basis, seed=0)
    assert len(sims) == 12 and set(np.round(sims, 6)) <= {0.0, 1.0}
    assert sims.sum() < 6  # a random permutation keeps about one latent in place
    assert len(random_pairs(basis[:5], basis, seed=1)) == 5


def test_shuffled_columns_keep_each_coordinate_and_lose_the_directions() -> None:
    same = np.tile(unit_rows(np.arange(1.0, 9.0)[None]), (20, 1))
    np.testing.assert_allclose(shuffled_columns(same, seed=0), same, atol=1e-6)
    a = _vectors(200, d=32, seed=12)
    s = shuffled_columns(a, seed=0)
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-5)
    assert np.abs((a * s).sum(axis=1)).mean() < 0.3  # rows no longer point where they did
