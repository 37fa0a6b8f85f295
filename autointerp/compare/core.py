"""Comparing checkpoints by the semantic similarity of their explanations.

For every pair (A, B) of the checkpoints given:

* every explanation is embedded (each distinct text once); the cosine similarity of each
  A explanation with each B explanation is the similarity matrix;
* **matched**: the one-to-one matching of maximal total similarity (Hungarian; approximate
  beyond ``exact_max`` latents, see :mod:`autointerp.compare.match`); **best**: each
  latent's most similar latent on the other side;
* **baseline** (self-excluded shuffle): each checkpoint's explanations matched one-to-one
  with its own explanations, no latent allowed to keep its own -- the best of the shuffles
  that move every latent -- pooled over A and B. It is the similarity of a latent's
  explanation to that of a *different* latent of an SAE explained the same way. When B has
  A's features, A's matched similarities exceed it; when B's explanations are only of the
  same kind (other concepts in the same style, or the generic phrases a weak explainer
  gives every latent) they are indistinguishable from it (two-sample KS test). Calibrated
  for checkpoints of similar size: a side with many more latents offers more candidates.
* **random pairs**: the similarities of a random one-to-one pairing (chance, no matching);
* **share close**: the share of latents whose best match reaches ``close_threshold``,
  beside the same share in the baseline (a latent's best *other* latent of its own
  checkpoint);
* **decoders** (same subject model and decoder width): see
  :mod:`autointerp.compare.decoders`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from autointerp.compare.decoders import (
    DecoderMatch,
    Decoders,
    decoder_match,
    load_decoders,
    model_reason,
    skip_reason,
)
from autointerp.compare.embed import NamedEmbedder, embed_texts
from autointerp.compare.match import EXACT_MAX, Matching, best_matches, match, random_pairs
from autointerp.compare.sources import Checkpoint, load_checkpoints
from autointerp.errors import ConfigError, UserInputError

__all__ = ["CompareOptions", "Comparison", "PairResult", "compare", "distribution"]


@dataclass(frozen=True)
class CompareOptions:
    """How checkpoints are compared (saved in the JSON summary)."""

    close_threshold: float = 0.7
    """A latent has a close counterpart when its best match is at least this similar
    (embedder-dependent; 0.7 suits MiniLM, where paraphrases score ~0.8-0.9)."""
    exact_max: int = EXACT_MAX
    """Largest number of latents a side for the exact Hungarian assignment."""
    top_k: int = 32
    """Candidates per latent for the approximate matching of larger dictionaries."""
    decoders: bool = True
    """Also match decoder directions when the two checkpoints share a decoder space."""
    seed: int = 0
    """Seed of the random pairs and of the decoder baseline's shuffle."""

    def __post_init__(self) -> None:
        if not -1.0 <= self.close_threshold <= 1.0:
            raise ConfigError(
                f"close_threshold: expected a cosine similarity in [-1, 1], got "
                f"{self.close_threshold}"
            )
        for name in ("exact_max", "top_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class _Side:
    ckpt: Checkpoint
    emb: np.ndarray
    base_matched: np.ndarray
    base_best: np.ndarray


@dataclass(frozen=True)
class PairResult:
    """The comparison of checkpoints ``a`` and ``b`` (indices into their latents)."""

    a: Checkpoint
    b: Checkpoint
    matching: Matching
    best_ab: tuple[np.ndarray, np.ndarray]
    best_ba: tuple[np.ndarray, np.ndarray]
    random: np.ndarray
    baseline: np.ndarray
    baseline_best: np.ndarray
    decoder: DecoderMatch | None
    decoder_note: str | None
    decoder_pair_sims: np.ndarray | None = None
    """Explanation similarity of the decoder-matched pairs."""

    def summary(self, threshold: float) -> dict[str, Any]:
        matched = self.matching.sims
        stat = ks_2samp(matched, self.baseline) if len(matched) and len(self.baseline) else None
        out: dict[str, Any] = {
            "a": self.a.info(),
            "b": self.b.info(),
            "matching": "exact" if self.matching.exact else "approximate (top-k candidates)",
            "matched": distribution(matched),
            "baseline": {"method": "self-excluded shuffle", **distribution(self.baseline)},
            "random_pairs": distribution(self.random),
            "lift": _diff(matched, self.baseline),
            "ks": None
            if stat is None
            else {"statistic": float(stat.statistic), "pvalue": float(stat.pvalue)},
            "best_a_to_b": distribution(self.best_ab[1]),
            "best_b_to_a": distribution(self.best_ba[1]),
            "share_close": {
                "threshold": threshold,
                "a_to_b": _share(self.best_ab[1], threshold),
                "b_to_a": _share(self.best_ba[1], threshold),
                "baseline": _share(self.baseline_best, threshold),
            },
        }
        out["decoders"] = self._decoder_summary()
        return out

    def _decoder_summary(self) -> dict[str, Any]:
        if self.decoder is None:
            return {"status": "skipped", "reason": self.decoder_note}
        dec = self.decoder.matching
        sem = self.matching.partner(len(self.a.latents))
        by_dec = dec.partner(len(self.a.latents))
        both = (sem >= 0) & (by_dec >= 0)
        n_agree = int((sem[both] == by_dec[both]).sum())
        return {
            "status": "ok",
            "matching": "exact" if dec.exact else "approximate (top-k candidates)",
            "matched_cosine": distribution(dec.sims),
            "baseline_cosine": {
                "method": "coordinates shuffled across latents",
                **distribution(self.decoder.baseline.sims),
            },
            "n_agree": n_agree,
            "agreement": n_agree / int(both.sum()) if both.any() else None,
            "agreement_chance": 1.0 / len(self.b.latents) if len(self.b.latents) else None,
            "explanation_similarity_of_decoder_pairs": distribution(
                self.decoder_pair_sims if self.decoder_pair_sims is not None else np.zeros(0)
            ),
        }


def distribution(x: np.ndarray) -> dict[str, Any]:
    """n, mean, std and quantiles of ``x`` (None when empty) as JSON-ready floats."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0, "mean": None}
    q = np.quantile(x, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    names = ("min", "q10", "q25", "median", "q75", "q90", "max")
    return {"n": len(x), "mean": float(x.mean()), "std": float(x.std())} | {
        k: float(v) for k, v in zip(names, q, strict=True)
    }


def _diff(x: np.ndarray, y: np.ndarray) -> float | None:
    return float(np.mean(x) - np.mean(y)) if len(x) and len(y) else None


def _share(best: np.ndarray, threshold: float) -> float | None:
    best = best[np.isfinite(best)]
    return float((best >= threshold).mean()) if len(best) else None


@dataclass
class Comparison:
    """Every pair of the checkpoints compared, and the options and embedder used."""

    checkpoints: list[Checkpoint]
    pairs: list[PairResult]
    embedder: str
    options: CompareOptions
    self_baselines: list[np.ndarray] = field(default_factory=list)

    def matrices(self) -> dict[str, Any]:
        """Checkpoint-by-checkpoint matrices: mean matched similarity, its lift over the
        baseline and the share of row latents with a close counterpart in the column."""
        k = len(self.checkpoints)
        matched, lift, close = np.eye(k), np.zeros((k, k)), np.eye(k)
        for i, base in enumerate(self.self_baselines):
            lift[i, i] = 1.0 - float(base.mean()) if len(base) else np.nan
        index = {id(c): i for i, c in enumerate(self.checkpoints)}
        thr = self.options.close_threshold
        for pair in self.pairs:
            i, j = index[id(pair.a)], index[id(pair.b)]
            mean = float(pair.matching.sims.mean()) if len(pair.matching.sims) else np.nan
            matched[i, j] = matched[j, i] = mean
            diff = _diff(pair.matching.sims, pair.baseline)
            lift[i, j] = lift[j, i] = np.nan if diff is None else diff
            for (r, c), best in (((i, j), pair.best_ab[1]), ((j, i), pair.best_ba[1])):
                share = _share(best, thr)
                close[r, c] = np.nan if share is None else share
        return {
            "labels": [c.label for c in self.checkpoints],
            "checkpoints": [c.sha for c in self.checkpoints],
            "mean_matched": matched,
            "lift": lift,
            "share_close": close,
        }

    def summary(self) -> dict[str, Any]:
        """Everything in JSON-ready form (``summary.json``)."""
        mats = self.matrices()
        for key in ("mean_matched", "lift", "share_close"):
            mats[key] = [[None if np.isnan(v) else float(v) for v in row] for row in mats[key]]
        return {
            "embedder": self.embedder,
            "options": asdict(self.options),
            "checkpoints": [c.info() for c in self.checkpoints],
            "pairs": [p.summary(self.options.close_threshold) for p in self.pairs],
            "matrix": mats,
        }


def _side(ckpt: Checkpoint, emb: np.ndarray, opts: CompareOptions) -> _Side:
    base = match(emb, emb, exact_max=opts.exact_max, top_k=opts.top_k, exclude_self=True)
    return _Side(ckpt, emb, base.sims, best_matches(emb, emb, exclude_self=True)[1])


def _decoders(
    a: Checkpoint, b: Checkpoint, opts: CompareOptions, load: Callable[[Checkpoint], Decoders]
) -> tuple[DecoderMatch | None, str | None]:
    """The decoder matching of ``a`` and ``b``, or None and why it was skipped."""
    note = model_reason(a, b)
    if note is not None:
        return None, note
    da, db = load(a), load(b)
    note = skip_reason(da, db)
    if note is not None:
        return None, note
    return decoder_match(da, db, exact_max=opts.exact_max, top_k=opts.top_k, seed=opts.seed), None


def _pair(
    a: _Side, b: _Side, opts: CompareOptions, decoders: Callable[[Checkpoint], Decoders] | None
) -> PairResult:
    matching = match(a.emb, b.emb, exact_max=opts.exact_max, top_k=opts.top_k)
    dec: DecoderMatch | None = None
    note: str | None = "not requested"
    dec_sims = None
    if decoders is not None:
        dec, note = _decoders(a.ckpt, b.ckpt, opts, decoders)
    if dec is not None:
        r, c = dec.matching.rows, dec.matching.cols
        dec_sims = np.einsum("ij,ij->i", a.emb[r], b.emb[c])
    return PairResult(
        a=a.ckpt,
        b=b.ckpt,
        matching=matching,
        best_ab=best_matches(a.emb, b.emb),
        best_ba=best_matches(b.emb, a.emb),
        random=random_pairs(a.emb, b.emb, seed=opts.seed),
        baseline=np.concatenate([a.base_matched, b.base_matched]),
        baseline_best=np.concatenate([a.base_best, b.base_best]),
        decoder=dec,
        decoder_note=note,
        decoder_pair_sims=dec_sims,
    )


def compare(
    store: Path | str,
    specs: list[str],
    embedder: NamedEmbedder,
    options: CompareOptions | None = None,
    *,
    explanations: pd.DataFrame | None = None,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Compare the checkpoints ``specs`` (sae_sha256 prefixes or run ids) of ``store``
    pairwise; two equal specs compare a checkpoint with itself."""
    opts = options or CompareOptions()
    if len(specs) < 2:
        raise UserInputError(f"compare needs at least 2 checkpoints, got {len(specs)}")
    say = log or (lambda _msg: None)
    ckpts = load_checkpoints(store, specs, explanations)
    texts = [t for c in ckpts for t in c.texts]
    say(f"embedding {len(set(texts))} distinct explanations with {embedder.name}")
    emb = embed_texts(embedder, texts)
    # the same checkpoint named twice (the same runs) is embedded, baselined, loaded once
    sides: list[_Side] = []
    seen: dict[tuple[str, tuple[str, ...]], _Side] = {}
    start = 0
    for ckpt in ckpts:
        vectors = emb[start : start + len(ckpt.latents)]
        start += len(ckpt.latents)
        key = (ckpt.sha, ckpt.run_ids)
        if key not in seen:
            seen[key] = _side(ckpt, vectors, opts)
        sides.append(_Side(ckpt, vectors, seen[key].base_matched, seen[key].base_best))
    loaded: dict[tuple[str, tuple[str, ...]], Decoders] = {}

    def decoders(ckpt: Checkpoint) -> Decoders:
        key = (ckpt.sha, ckpt.run_ids)
        if key not in loaded:
            say(f"loading the decoder of {ckpt.sha} from {ckpt.sae_path}")
            loaded[key] = load_decoders(ckpt)
        return loaded[key]

    pairs = []
    for i in range(len(sides)):
        for j in range(i + 1, len(sides)):
            say(f"matching {sides[i].ckpt.label} with {sides[j].ckpt.label}")
            pairs.append(_pair(sides[i], sides[j], opts, decoders if opts.decoders else None))
    return Comparison(ckpts, pairs, embedder.name, opts, [s.base_matched for s in sides])
