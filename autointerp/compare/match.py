"""Matching the latents of two checkpoints by the cosine similarity of vectors (explanation
embeddings or decoder directions), and the baselines the matches are judged against.

* :func:`match` -- one-to-one matching (each latent used at most once) that maximises the
  total similarity. Up to ``exact_max`` latents a side it is the exact Hungarian assignment
  (``scipy.optimize.linear_sum_assignment`` on the dense matrix). Beyond that it is
  approximate: every latent keeps its ``top_k`` most similar latents of the other side
  (computed block by block, never the whole matrix), and the best full matching *within
  that candidate graph* is found exactly (``scipy.sparse.csgraph.
  min_weight_full_bipartite_matching``). Only a latent whose true partner is outside both
  candidate lists can be matched differently from the exact assignment. When the candidate
  graph has no full matching (many latents competing for the same few "hub" partners),
  the lists are made 2x, then 4x longer; failing that, the edges of one random full
  matching are added, so that one exists, the best matching of that graph is taken, and
  the latents it left on random edges are matched again among themselves.
* :func:`best_matches` -- each latent's most similar latent of the other side (not
  one-to-one).
* :func:`random_pairs` -- a random one-to-one pairing (a shuffle): the chance level of a
  pair's similarity, without any matching.
* :func:`shuffled_columns` -- each coordinate permuted independently across latents: the
  vectors keep every coordinate's distribution (and so their mean direction) but no
  longer point anywhere in particular (the null model of decoder directions).
* ``exclude_self`` (square problems of one checkpoint against itself) forbids a latent
  from matching itself: the *self-excluded* baseline of explanations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

__all__ = [
    "EXACT_MAX",
    "Matching",
    "best_matches",
    "match",
    "random_pairs",
    "shuffled_columns",
    "unit_rows",
]

EXACT_MAX = 4096
"""Largest side matched exactly; larger problems use the top-k candidate graph."""
_FORBIDDEN = -4.0  # below any cosine similarity


@dataclass(frozen=True)
class Matching:
    """A one-to-one matching: ``rows[i]`` of A is paired with ``cols[i]`` of B."""

    rows: np.ndarray
    cols: np.ndarray
    sims: np.ndarray
    exact: bool
    """False when the top-k approximation was used."""

    def partner(self, n_rows: int) -> np.ndarray:
        """[n_rows]: each row's matched column, -1 when unmatched."""
        out = np.full(n_rows, -1, dtype=np.int64)
        out[self.rows] = self.cols
        return out


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _block(a: np.ndarray, b: np.ndarray, start: int, exclude_self: bool) -> np.ndarray:
    sims: np.ndarray = a @ b.T
    if exclude_self:
        idx = np.arange(sims.shape[0])
        inside = idx + start < sims.shape[1]
        sims[idx[inside], idx[inside] + start] = _FORBIDDEN
    return sims


def _check_self(a: np.ndarray, b: np.ndarray, exclude_self: bool) -> None:
    if exclude_self and a.shape[0] != b.shape[0]:
        raise ValueError("exclude_self needs a square problem (a checkpoint against itself)")


def match(
    a: np.ndarray,
    b: np.ndarray,
    *,
    exact_max: int = EXACT_MAX,
    top_k: int = 32,
    block: int = 2048,
    exclude_self: bool = False,
) -> Matching:
    """The one-to-one matching of rows of ``a`` [n_a, d] with rows of ``b`` [n_b, d]
    (unit-norm) of maximal total cosine similarity; ``min(n_a, n_b)`` pairs."""
    _check_self(a, b, exclude_self)
    if min(len(a), len(b)) == 0 or (exclude_self and len(a) < 2):
        empty = np.zeros(0, dtype=np.int64)
        return Matching(empty, empty, np.zeros(0, np.float32), True)
    if max(len(a), len(b)) <= exact_max:
        sims = _block(a, b, 0, exclude_self)
        rows, cols = linear_sum_assignment(sims, maximize=True)
        return Matching(rows.astype(np.int64), cols.astype(np.int64), sims[rows, cols], True)
    return _approximate(a, b, exact_max, top_k, block, exclude_self)


def _top_k(
    a: np.ndarray, b: np.ndarray, k: int, block: int, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate edges (row, col, sim): each row of ``a``'s ``k`` most similar rows of ``b``."""
    k = min(k, len(b))
    rows, cols, sims = [], [], []
    for start in range(0, len(a), block):
        s = _block(a[start : start + block], b, start, exclude_self)
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        rows.append(np.repeat(np.arange(start, start + len(s)), k))
        cols.append(top.ravel())
        sims.append(np.take_along_axis(s, top, axis=1).ravel())
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def _candidates(
    a: np.ndarray, b: np.ndarray, k: int, block: int, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct candidate edges: each latent's ``k`` best on the other side, both ways."""
    r1, c1, s1 = _top_k(a, b, k, block, exclude_self)
    c2, r2, s2 = _top_k(b, a, k, block, exclude_self)
    rows, cols, sims = np.concatenate([r1, r2]), np.concatenate([c1, c2]), np.concatenate([s1, s2])
    _, first = np.unique(rows * len(b) + cols, return_index=True)
    keep = first[sims[first] > _FORBIDDEN]
    return rows[keep], cols[keep], sims[keep]


def _fallback_edges(
    a: np.ndarray, b: np.ndarray, exclude_self: bool, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges of one random full matching (a derangement when ``exclude_self``)."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    if exclude_self:
        rows = rng.permutation(n)
        cols = np.roll(rows, 1)
    else:
        rows, cols = rng.permutation(len(a))[:n], rng.permutation(len(b))[:n]
    return rows, cols, _pair_sims(a, b, rows, cols)


def _solve(
    n_a: int, n_b: int, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The best full matching within the given edges, or None when there is none."""
    # cost 2 - sim is in [1, 3]: never an (implicit) zero, and minimising it over full
    # matchings (all of the same size) maximises the total similarity
    graph = csr_matrix((2.0 - sims.astype(np.float64), (rows, cols)), shape=(n_a, n_b))
    try:
        mr, mc = min_weight_full_bipartite_matching(graph)
    except ValueError:
        return None
    return mr.astype(np.int64), mc.astype(np.int64)


def _approximate(
    a: np.ndarray, b: np.ndarray, exact_max: int, top_k: int, block: int, exclude_self: bool
) -> Matching:
    for k in (top_k, 2 * top_k, 4 * top_k):
        rows, cols, sims = _candidates(a, b, k, block, exclude_self)
        found = _solve(len(a), len(b), rows, cols, sims)
        if found is not None:
            return Matching(found[0], found[1], _pair_sims(a, b, *found), False)
        if k >= max(len(a), len(b)):
            break
    return _with_fallback(a, b, (rows, cols, sims), exact_max, top_k, block, exclude_self)


def _with_fallback(
    a: np.ndarray,
    b: np.ndarray,
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray],
    exact_max: int,
    top_k: int,
    block: int,
    exclude_self: bool,
) -> Matching:
    """Add one random full matching's edges, so that a full matching exists; take the best
    one, then re-match the latents it left on random edges among themselves."""
    extra = _fallback_edges(a, b, exclude_self)
    edges = [np.concatenate([x, y]) for x, y in zip(candidates, extra, strict=True)]
    found = _solve(len(a), len(b), *edges)
    assert found is not None  # the random matching's edges are one
    rows, cols = found
    known = set((candidates[0] * len(b) + candidates[1]).tolist())
    on_random = np.asarray([r * len(b) + c not in known for r, c in zip(rows, cols, strict=True)])
    left_r, left_c = rows[on_random], cols[on_random]
    if 0 < len(left_r) < len(rows) and not exclude_self:
        sub = match(a[left_r], b[left_c], exact_max=exact_max, top_k=top_k, block=block)
        rows = np.concatenate([rows[~on_random], left_r[sub.rows]])
        cols = np.concatenate([cols[~on_random], left_c[sub.cols]])
    order = np.argsort(rows)
    rows, cols = rows[order], cols[order]
    return Matching(rows, cols, _pair_sims(a, b, rows, cols), False)


def _pair_sims(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.einsum("ij,ij->i", a[rows], b[cols]).astype(np.float32)
    return out


def best_matches(
    a: np.ndarray, b: np.ndarray, *, block: int = 2048, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``a``'s most similar row of ``b``: (indices [n_a], similarities [n_a]);
    index -1 and similarity NaN when ``b`` is empty (or holds only the row itself)."""
    _check_self(a, b, exclude_self)
    idx = np.full(len(a), -1, dtype=np.int64)
    sim = np.full(len(a), np.nan, dtype=np.float32)
    if len(b) == 0 or (exclude_self and len(b) < 2):
        return idx, sim
    for start in range(0, len(a), block):
        s = _block(a[start : start + block], b, start, exclude_self)
        best = s.argmax(axis=1)
        idx[start : start + len(s)] = best
        sim[start : start + len(s)] = s[np.arange(len(s)), best]
    return idx, sim


def random_pairs(a: np.ndarray, b: np.ndarray, seed: int = 0) -> np.ndarray:
    """Similarities of ``min(n_a, n_b)`` random one-to-one pairs (a shuffle of ``b``)."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    rows = rng.permutation(len(a))[:n]
    cols = rng.permutation(len(b))[:n]
    return _pair_sims(a, b, rows, cols)


def shuffled_columns(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each column of ``x`` permuted independently across rows, rows then re-normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        out[:, j] = x[rng.permutation(len(x)), j]
    return unit_rows(out)
