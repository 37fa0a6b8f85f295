"""Metrics with bootstrap 95 % confidence intervals and example counts.

``binary_metrics``: classification metrics of every yes/no scorer (stratified bootstrap).
``accuracy_metrics``: share of correct answers (intruder, intervention's judge).
``correlation_metrics``: Pearson correlation of predicted and true per-token activations,
resampling whole examples (simulation).
``mean_metrics``: the mean of a per-item value (intervention's log-probability change).

``labels`` are the ground truth (True = the latent fires / the marking is correct), ``probs``
the scorer model's P(yes) (NaN = that judgement failed and is left out), ``threshold`` the
decision boundary. AUROC uses the probabilities directly, so it needs no threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "ALL_METRICS",
    "METRICS",
    "VALUE_METRICS",
    "accuracy_metrics",
    "binary_metrics",
    "correlation_metrics",
    "mean_metrics",
]

METRICS = ("balanced_accuracy", "precision", "recall", "f1", "auroc")
VALUE_METRICS = ("accuracy", "correlation", "mean_delta")
ALL_METRICS = METRICS + VALUE_METRICS
"""Every metric column of the scores table (each with ``_ci_low`` / ``_ci_high``)."""


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


def _interval(samples: list[float]) -> tuple[float, float]:
    vals = np.asarray([v for v in samples if not math.isnan(v)])
    if not len(vals):
        return math.nan, math.nan
    low, high = np.percentile(vals, [2.5, 97.5])
    return float(low), float(high)


def _resampled(n: int, stat: Any, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """Bootstrap CI of ``stat(indices)`` over ``n`` items."""
    if n_bootstrap <= 0 or n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    return _interval([stat(rng.integers(0, n, n)) for _ in range(n_bootstrap)])


def accuracy_metrics(
    correct: np.ndarray, *, n_bootstrap: int = 200, seed: int = 0
) -> dict[str, Any]:
    """``correct``: 1.0 / 0.0 per question, NaN where the answer failed (left out)."""
    return mean_metrics(correct, name="accuracy", n_bootstrap=n_bootstrap, seed=seed)


def mean_metrics(
    values: np.ndarray, *, name: str = "mean_delta", n_bootstrap: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Mean of a per-item value with a bootstrap CI; NaN items count as failed."""
    arr = np.asarray(values, dtype=float)
    valid = arr[~np.isnan(arr)]
    mean = float(valid.mean()) if len(valid) else math.nan
    low, high = _resampled(len(valid), lambda idx: float(valid[idx].mean()), n_bootstrap, seed)
    return {
        "n_examples": len(arr),
        "n_failed": int(np.isnan(arr).sum()),
        name: mean,
        f"{name}_ci_low": low,
        f"{name}_ci_high": high,
    }


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def correlation_metrics(
    predicted: list[np.ndarray],
    actual: list[np.ndarray],
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Pearson correlation over all tokens of all examples; the CI resamples examples.
    An example whose prediction failed is passed as an all-NaN array (left out)."""
    pairs = [
        (np.asarray(p, float), np.asarray(a, float)) for p, a in zip(predicted, actual, strict=True)
    ]
    ok = [(p, a) for p, a in pairs if len(p) and not np.isnan(p).any()]

    def corr(idx: np.ndarray) -> float:
        if not len(idx):
            return math.nan
        return _pearson(
            np.concatenate([ok[i][0] for i in idx]), np.concatenate([ok[i][1] for i in idx])
        )

    point = corr(np.arange(len(ok)))
    low, high = _resampled(len(ok), corr, n_bootstrap, seed)
    return {
        "n_examples": len(pairs),
        "n_failed": len(pairs) - len(ok),
        "correlation": point,
        "correlation_ci_low": low,
        "correlation_ci_high": high,
    }
