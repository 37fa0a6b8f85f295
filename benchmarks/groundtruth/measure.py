"""The figures of the quality benchmark: right-vs-wrong AUROC with a bootstrap CI over
latents, top-1 rates, and the embedding fidelity of explanations to the truths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["fidelity", "token_list_baseline", "validity"]

Embed = Callable[[Sequence[str]], np.ndarray]


def _auroc(values: np.ndarray, right: np.ndarray) -> float:
    ok = ~np.isnan(values)
    if right[ok].all() or not right[ok].any():
        return float("nan")
    return float(roc_auc_score(right[ok], values[ok]))


def validity(primary: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """``primary``: columns latent, explanation_id (0 = right), value. AUROC of right vs
    wrong pooled over latents, its bootstrap 95 % CI (latents resampled), the share of latents
    where the right explanation scores highest (ties share the credit), mean right/wrong."""
    df = primary.dropna(subset=["value"])
    latents = sorted(df["latent"].unique())
    groups = {lat: df[df["latent"] == lat] for lat in latents}
    right = (df["explanation_id"] == 0).to_numpy()
    auroc = _auroc(df["value"].to_numpy(float), right)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot if latents else 0):
        pick = pd.concat([groups[latents[i]] for i in rng.integers(0, len(latents), len(latents))])
        boots.append(
            _auroc(pick["value"].to_numpy(float), (pick["explanation_id"] == 0).to_numpy())
        )
    boot = np.array([b for b in boots if not np.isnan(b)])
    top1 = []
    for g in groups.values():
        if (g["explanation_id"] == 0).sum() != 1 or len(g) < 2:
            continue
        best = g["value"].max()
        winners = g[g["value"] == best]
        top1.append(float((winners["explanation_id"] == 0).any()) / len(winners))
    return {
        "auroc": auroc,
        "auroc_ci_low": float(np.quantile(boot, 0.025)) if len(boot) else float("nan"),
        "auroc_ci_high": float(np.quantile(boot, 0.975)) if len(boot) else float("nan"),
        "top1": float(np.mean(top1)) if top1 else float("nan"),
        "mean_right": float(df.loc[right, "value"].mean()),
        "mean_wrong": float(df.loc[~right, "value"].mean()),
        "n_latents": float(len(top1)),
    }


def fidelity(explanations: Sequence[str], truths: Sequence[str], embed: Embed) -> dict[str, float]:
    """Explanation ``i`` belongs to truth ``i``. Mean cosine to its own truth, mean to the
    other latents' truths, the gap, and top-1 retrieval (own truth the most similar)."""
    n = len(explanations)
    if n == 0:
        return {"n": 0.0}
    e = embed(list(explanations))
    t = embed(list(truths))
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    sim = e @ t.T
    own = np.diag(sim)
    off = sim[~np.eye(n, dtype=bool)] if n > 1 else np.array([np.nan])
    return {
        "n": float(n),
        "cos_right": float(own.mean()),
        "cos_other": float(off.mean()),
        "gap": float(own.mean() - off.mean()),
        "top1": float((sim.argmax(axis=1) == np.arange(n)).mean()),
    }


def token_list_baseline(examples: pd.DataFrame, k: int = 5) -> dict[int, str]:
    """Per latent, its ``k`` most frequent firing tokens over its activating examples, as a
    plain comma-separated list (the examples table of a run: tokens, acts, role)."""
    out: dict[int, str] = {}
    activating = examples[examples["role"].isin(["explain", "score"])]
    for latent, rows in activating.groupby("latent"):
        counts: Counter[str] = Counter()
        for tokens, acts in zip(rows["tokens"], rows["acts"], strict=True):
            counts.update(t.strip() or repr(t) for t, a in zip(tokens, acts, strict=True) if a > 0)
        out[int(latent)] = ", ".join(t for t, _ in counts.most_common(k))
    return out


def paired_gain(
    a: dict[int, str],
    b: dict[int, str],
    truths: dict[int, str],
    embed: Embed,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """How much closer explanations ``a`` are to their truths than ``b`` on the latents both
    explain: the mean per-latent cosine difference with a paired bootstrap 95 % CI, and the
    share of latents where ``a`` is closer."""
    common = sorted(set(a) & set(b) & set(truths))
    if not common:
        return {}

    def cosines(texts: dict[int, str]) -> np.ndarray:
        e = embed([texts[lat] for lat in common])
        t = embed([truths[lat] for lat in common])
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        t = t / np.linalg.norm(t, axis=1, keepdims=True)
        return np.asarray((e * t).sum(axis=1))

    diff = cosines(a) - cosines(b)
    rng = np.random.default_rng(seed)
    boots = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n_boot)]
    return {
        "gain": float(diff.mean()),
        "gain_ci_low": float(np.percentile(boots, 2.5)),
        "gain_ci_high": float(np.percentile(boots, 97.5)),
        "wins": float((diff > 0).mean()),
    }
