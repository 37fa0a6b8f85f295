"""One logistic-regression probe per concept, plus random "noise" directions, as the
encoder columns of a ReLU SAE.

A probe's logit is ``x @ w + b`` on the raw residual ``x``; the latent is
``relu(logit - threshold)`` with the threshold that maximises F1 on the training tokens at
their natural base rate (the probe itself is fitted on all positives and a subsample of the
negatives). A noise latent is a random direction whose bias makes it fire on ``noise_density``
of the training tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score

__all__ = ["Latent", "fit_latents"]


@dataclass
class Latent:
    name: str
    w: np.ndarray  # [d_in] raw-space encoder column
    b: float  # encoder bias (threshold folded in)
    direction: np.ndarray  # [d_in] unit decoder row
    metrics: dict[str, float]


def _best_threshold(y: np.ndarray, logit: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(y, logit)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def _metrics(y: np.ndarray, logit: np.ndarray, threshold: float) -> dict[str, float]:
    fired = logit > threshold
    return {
        "auroc": float(roc_auc_score(y, logit)) if 0 < y.sum() < len(y) else float("nan"),
        "f1": float(f1_score(y, fired, zero_division=0)),
        "precision": float(y[fired].mean()) if fired.any() else 0.0,
        "recall": float(fired[y].mean()) if y.any() else 0.0,
        "base_rate": float(y.mean()),
        "density": float(fired.mean()),
    }


def fit_latents(
    x: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    train: np.ndarray,
    *,
    n_noise: int = 4,
    noise_density: float = 0.03,
    max_negatives: int = 20_000,
    seed: int = 0,
) -> list[Latent]:
    """``x`` float [n, d_in] residuals, ``labels`` bool [n, n_concepts], ``train`` bool [n]
    (the rest is held out for the reported metrics). Concepts first, then noise."""
    rng = np.random.default_rng(seed)
    mu = x[train].mean(0)
    sigma = x[train].std(0) + 1e-6
    z = (x - mu) / sigma
    test = ~train
    latents = []
    for c, name in enumerate(names):
        y = labels[:, c]
        pos = np.flatnonzero(train & y)
        neg = np.flatnonzero(train & ~y)
        neg = rng.choice(neg, size=min(len(neg), max_negatives), replace=False)
        idx = np.concatenate([pos, neg])
        probe = LogisticRegression(C=0.1, max_iter=1000)
        probe.fit(z[idx], y[idx])
        w_z, b_z = probe.coef_[0], float(probe.intercept_[0])
        logit = z @ w_z + b_z
        threshold = _best_threshold(y[train], logit[train])
        w = w_z / sigma
        b = b_z - float((w_z * mu / sigma).sum()) - threshold
        metrics = _metrics(y[test], logit[test], threshold)
        metrics["n_train_pos"] = float(len(pos))
        latents.append(Latent(name, w, b, w / np.linalg.norm(w), metrics))
    for i in range(n_noise):
        r = rng.standard_normal(x.shape[1])
        r /= np.linalg.norm(r)
        proj = z[train] @ r
        scale = float(proj.std())
        cut = float(np.quantile(proj / scale, 1 - noise_density))
        w = r / sigma / scale
        b = -float((r * mu / sigma).sum()) / scale - cut
        fired = (x[test] @ w + b) > 0
        metrics = {"density": float(fired.mean())}
        latents.append(Latent(f"noise_{i}", w, b, w / np.linalg.norm(w), metrics))
    return latents
