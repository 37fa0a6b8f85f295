"""Classification metrics shared by every yes/no scorer, with stratified bootstrap 95 %
confidence intervals.

``labels`` are the ground truth (True = the latent fires / the marking is correct), ``probs``
the scorer model's P(yes) (NaN = that judgement failed and is left out), ``threshold`` the
decision boundary. AUROC uses the probabilities directly, so it needs no threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = ["METRICS", "binary_metrics"]

METRICS = ("balanced_accuracy", "precision", "recall", "f1", "auroc")


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Mann-Whitney AUROC with ties counted half (equals sklearn's roc_auc_score)."""
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(p)  # average ranks over ties
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def _point(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    pred = p > threshold
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    tn = float(np.sum(~pred & ~y))
    recall = tp / (tp + fn) if tp + fn else math.nan
    specificity = tn / (tn + fp) if tn + fp else math.nan
    precision = tp / (tp + fp) if tp + fp else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {
        "balanced_accuracy": (recall + specificity) / 2,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auroc": _auroc(y, p),
    }


def binary_metrics(
    labels: np.ndarray,
    probs: np.ndarray,
    threshold: float,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Point estimates, bootstrap CIs (``<metric>_ci_low/high``) and counts."""
    labels = np.asarray(labels, dtype=bool)
    probs = np.asarray(probs, dtype=float)
    valid = ~np.isnan(probs)
    y, p = labels[valid], probs[valid]
    out: dict[str, Any] = {
        "n_examples": len(labels),
        "n_pos": int(y.sum()),
        "n_neg": int((~y).sum()),
        "n_failed": int((~valid).sum()),
        "threshold": float(threshold),
    }
    point = _point(y, p, threshold)
    out.update(point)
    pos_idx, neg_idx = np.flatnonzero(y), np.flatnonzero(~y)
    samples: dict[str, list[float]] = {m: [] for m in METRICS}
    if n_bootstrap > 0 and len(pos_idx) and len(neg_idx):
        rng = np.random.default_rng(seed)
        for _ in range(n_bootstrap):
            idx = np.concatenate(
                [rng.choice(pos_idx, len(pos_idx)), rng.choice(neg_idx, len(neg_idx))]
            )
            for name, value in _point(y[idx], p[idx], threshold).items():
                samples[name].append(value)
    for name in METRICS:
        vals = np.asarray([v for v in samples[name] if not math.isnan(v)])
        low, high = np.percentile(vals, [2.5, 97.5]) if len(vals) else (math.nan, math.nan)
        out[f"{name}_ci_low"] = float(low)
        out[f"{name}_ci_high"] = float(high)
    return out
