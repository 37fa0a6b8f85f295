"""The outputs of a comparison, written under one folder::

    <out>/pairs.parquet      one row per (checkpoint, latent, other checkpoint): its matched
                             latent (one-to-one), best match and decoder match, with texts
    <out>/summary.json       options, embedder, checkpoints, per-pair statistics against the
                             baselines, and the checkpoint-by-checkpoint matrices
    <out>/hist_<a>_<b>.png   per pair: matched similarities against the baseline and random
                             pairs (and decoder cosines against theirs, when compared)
    <out>/heatmap.png        mean matched similarity between every two checkpoints, and the
                             share of each one's latents with a close counterpart in another

Plots use matplotlib's Agg canvas (no display needed). Files are written to a temp name and
renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from autointerp.compare.core import Comparison, PairResult
from autointerp.compare.sources import Checkpoint
from autointerp.errors import ConfigError, StoreError
from autointerp.store.atomic import atomic_parquet, atomic_text, atomic_write

__all__ = ["PAIRS_SCHEMA", "pairs_frame", "write_report"]

PAIRS_SCHEMA = pa.schema(
    [
        ("checkpoint", pa.string()),
        ("latent", pa.int64()),
        ("run_id", pa.string()),
        ("explanation", pa.string()),
        ("other_checkpoint", pa.string()),
        ("matched_latent", pa.int64()),
        ("matched_explanation", pa.string()),
        ("matched_similarity", pa.float64()),
        ("best_latent", pa.int64()),
        ("best_explanation", pa.string()),
        ("best_similarity", pa.float64()),
        ("close", pa.bool_()),
        ("decoder_latent", pa.int64()),
        ("decoder_cosine", pa.float64()),
        ("decoder_agrees", pa.bool_()),
        ("embedder", pa.string()),
    ]
)
"""Columns of ``pairs.parquet``; matched / decoder columns are null where a latent has no
partner (a larger side) or decoders were not compared."""


def _direction(pair: PairResult, forward: bool, threshold: float, embedder: str) -> pd.DataFrame:
    src, dst = (pair.a, pair.b) if forward else (pair.b, pair.a)
    m = pair.matching
    rows, cols = (m.rows, m.cols) if forward else (m.cols, m.rows)
    n = len(src.latents)
    partner = np.full(n, -1, np.int64)
    partner[rows] = cols
    sim = np.full(n, np.nan)
    sim[rows] = m.sims
    best, best_sim = pair.best_ab if forward else pair.best_ba
    dec = np.full(n, -1, np.int64)
    dec_sim = np.full(n, np.nan)
    if pair.decoder is not None:
        d = pair.decoder.matching
        d_rows, d_cols = (d.rows, d.cols) if forward else (d.cols, d.rows)
        dec[d_rows], dec_sim[d_rows] = d_cols, d.sims
    has, has_dec = partner >= 0, dec >= 0
    return pd.DataFrame(
        {
            "checkpoint": src.sha,
            "latent": src.latents,
            "run_id": src.runs,
            "explanation": list(src.texts),
            "other_checkpoint": dst.sha,
            "matched_latent": _lookup(dst.latents, partner),
            "matched_explanation": _texts(dst, partner),
            "matched_similarity": sim,
            "best_latent": _lookup(dst.latents, best),
            "best_explanation": _texts(dst, best),
            "best_similarity": best_sim.astype(np.float64),
            "close": best_sim >= threshold,
            "decoder_latent": _lookup(dst.latents, dec),
            "decoder_cosine": dec_sim,
            "decoder_agrees": pd.array(
                [
                    bool(p == q) if h and hd else None
                    for p, q, h, hd in zip(partner, dec, has, has_dec, strict=True)
                ],
                dtype="boolean",
            ),
            "embedder": embedder,
        }
    )


def _lookup(latents: np.ndarray, idx: np.ndarray) -> Any:
    return pd.array([int(latents[i]) if i >= 0 else None for i in idx], dtype="Int64")


def _texts(ckpt: Checkpoint, idx: np.ndarray) -> list[str | None]:
    return [ckpt.texts[i] if i >= 0 else None for i in idx]


def pairs_frame(comparison: Comparison) -> pd.DataFrame:
    """Every pair's rows in both directions (the content of ``pairs.parquet``)."""
    thr = comparison.options.close_threshold
    frames = [
        _direction(p, forward, thr, comparison.embedder)
        for p in comparison.pairs
        for forward in (True, False)
    ]
    if not frames:
        empty: pd.DataFrame = PAIRS_SCHEMA.empty_table().to_pandas()
        return empty
    return pd.concat(frames, ignore_index=True)


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("comparison plots need matplotlib: pip install matplotlib") from None
    return Figure(figsize=(width, height), layout="constrained")


def _hist(ax: Any, series: list[tuple[str, np.ndarray, str]], title: str, xlabel: str) -> None:
    values = np.concatenate([v for _, v, _ in series if len(v)] or [np.zeros(1)])
    lo, hi = float(min(values.min(), 0.0)), float(max(values.max(), 1.0))
    bins = np.linspace(lo, hi, 41)
    for label, v, style in series:
        if not len(v):
            continue
        text = f"{label} (n={len(v)}, mean {np.mean(v):.3f})"
        if style == "bar":
            ax.hist(v, bins=bins, density=True, alpha=0.55, label=text)
        else:
            ax.hist(v, bins=bins, density=True, histtype="step", linewidth=1.5, label=text)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=7)


def plot_pair(pair: PairResult, path: Path) -> None:
    """Histogram of matched similarities against the baselines (and decoder cosines)."""
    panels = 2 if pair.decoder is not None else 1
    fig = _figure(6.0 * panels, 4.0)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    title = f"{pair.a.label}\nvs {pair.b.label}"
    _hist(
        axes[0],
        [
            ("matched", pair.matching.sims, "bar"),
            ("baseline (self-excluded)", pair.baseline, "bar"),
            ("random pairs", pair.random, "step"),
        ],
        f"explanations of {title}",
        "cosine similarity of explanations",
    )
    if pair.decoder is not None:
        _hist(
            axes[1],
            [
                ("matched", pair.decoder.matching.sims, "bar"),
                ("baseline (shuffled)", pair.decoder.baseline.sims, "bar"),
            ],
            "decoder directions\n(latents with explanations)",
            "cosine similarity of decoder directions",
        )
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), what=str(path))


def _matrix(ax: Any, values: np.ndarray, labels: list[str], title: str) -> Any:
    k = len(labels)
    shown = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), labels, fontsize=7)
    if k <= 16:
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                text = "-" if np.isnan(v) else f"{v:.2f}"
                color = "k" if not np.isnan(v) and v > 0.6 else "w"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    ax.set_title(title, fontsize=9)
    return shown


def plot_heatmap(comparison: Comparison, path: Path) -> None:
    """Checkpoint-by-checkpoint matrices: mean matched similarity (symmetric) and the share
    of the row checkpoint's latents with a close counterpart in the column checkpoint."""
    mats = comparison.matrices()
    labels = mats["labels"]
    k = len(labels)
    fig = _figure(7.0 + 1.2 * k, 3.5 + 0.5 * k)
    left, right = fig.subplots(1, 2)
    _matrix(left, mats["mean_matched"], labels, "mean matched similarity")
    thr = comparison.options.close_threshold
    shown = _matrix(
        right, mats["share_close"], labels, f"share of row latents with a match >= {thr}"
    )
    fig.suptitle(f"explanations compared with {comparison.embedder}", fontsize=10)
    fig.colorbar(shown, ax=[left, right], shrink=0.8)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), what=str(path))


def write_report(comparison: Comparison, out: Path | str) -> dict[str, Path]:
    """Write ``pairs.parquet``, ``summary.json`` and the plots under ``out``; returns
    name -> path of every file written."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the output folder {folder}: {exc}") from exc
    files: dict[str, Path] = {"pairs": folder / "pairs.parquet"}
    table = pa.Table.from_pandas(pairs_frame(comparison), PAIRS_SCHEMA, preserve_index=False)
    atomic_parquet(files["pairs"], table, what=str(files["pairs"]))
    summary = comparison.summary()
    for pair, entry in zip(comparison.pairs, summary["pairs"], strict=True):
        name = f"hist_{pair.a.sha[:8]}_{pair.b.sha[:8]}"
        n = sum(1 for k in files if k.startswith(name))
        key = name if not n else f"{name}_{n}"
        files[key] = folder / f"{key}.png"
        plot_pair(pair, files[key])
        entry["plot"] = files[key].name
    files["heatmap"] = folder / "heatmap.png"
    plot_heatmap(comparison, files["heatmap"])
    summary["files"] = {k: p.name for k, p in files.items()} | {"summary": "summary.json"}
    files["summary"] = folder / "summary.json"
    text = json.dumps(summary, indent=2, sort_keys=False) + "\n"
    atomic_text(files["summary"], text, what=str(files["summary"]))
    return files
