"""The checkpoints to compare, and their explanations, read from a store.

A checkpoint is named by a prefix of its ``sae_sha256`` (its explanations from every run,
the newest per latent) or by a run id (that run's explanations only). Each latent is
represented by one explanation: the newest run's lowest ``explanation_id`` whose status is
``ok`` and whose text is not empty. Latents without one are left out of the comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autointerp.errors import UserInputError
from autointerp.store.query import list_runs, read_table

__all__ = ["Checkpoint", "all_checkpoint_specs", "load_checkpoints", "read_explanations"]


@dataclass(frozen=True)
class Checkpoint:
    """One side of a comparison: a checkpoint's latents and their explanation texts."""

    spec: str
    """What the user named it by (a sae_sha256 prefix or a run id)."""
    sha: str
    model: str
    hook_name: str
    run_ids: tuple[str, ...]
    sae_path: str | None
    """Checkpoint path from the newest of those runs' manifests (for decoder weights)."""
    latents: np.ndarray
    """[n] unit indices with an explanation, ascending."""
    texts: tuple[str, ...]
    """[n] the explanation of each of ``latents``."""
    explanation_ids: np.ndarray
    runs: np.ndarray
    """[n] run id of each explanation."""

    @property
    def label(self) -> str:
        """Short name for tables and plots: hash prefix and hook point."""
        return f"{self.sha[:8]} {self.hook_name}".strip()

    def info(self) -> dict[str, Any]:
        return {
            "checkpoint": self.sha,
            "spec": self.spec,
            "model": self.model,
            "hook_name": self.hook_name,
            "sae_path": self.sae_path,
            "run_ids": list(self.run_ids),
            "n_latents": len(self.latents),
            "n_distinct_explanations": len(set(self.texts)),
        }


def read_explanations(store: Path | str) -> pd.DataFrame:
    """Every usable explanation in ``store`` (status ok, non-empty text); UserInputError
    when there is none."""
    df = read_table(store, "explanations")
    ok = df[(df["status"] == "ok") & (df["explanation"].fillna("").str.strip() != "")]
    if ok.empty:
        raise UserInputError(
            f"store {store}: no usable explanations (expected {Path(str(store)) / 'explanations'}"
            "/*.parquet with status 'ok' rows, as written by 'autointerp run')"
        )
    return ok.reset_index(drop=True)


def _available(df: pd.DataFrame) -> str:
    rows = df.drop_duplicates("sae_sha256").sort_values("sae_sha256")
    return ", ".join(f"{r.sae_sha256} ({r.hook_name})" for r in rows.itertuples())


def _select(df: pd.DataFrame, spec: str, store: Path | str) -> pd.DataFrame:
    if not spec:
        raise UserInputError("checkpoint: expected a sae_sha256 prefix or a run id, got ''")
    if spec in set(df["run_id"]):
        return df[df["run_id"] == spec]
    shas = sorted({s for s in df["sae_sha256"] if str(s).startswith(spec)})
    if not shas:
        raise UserInputError(
            f"checkpoint {spec!r}: no run id or sae_sha256 prefix in store {store} matches; "
            f"checkpoints with explanations: {_available(df)}"
        )
    if len(shas) > 1:
        raise UserInputError(
            f"checkpoint {spec!r} is ambiguous: it starts {', '.join(shas)}; give more digits"
        )
    out: pd.DataFrame = df[df["sae_sha256"] == shas[0]]
    return out


def _checkpoint(rows: pd.DataFrame, spec: str, manifests: dict[str, dict[str, Any]]) -> Checkpoint:
    newest = rows.sort_values(["created_at", "explanation_id"], ascending=[False, True])
    per_latent = newest.drop_duplicates("latent", keep="first").sort_values("latent")
    runs = rows.drop_duplicates("run_id").sort_values("created_at", ascending=False)
    sae_path = next(
        (
            str(manifests[r]["inputs"]["sae_path"])
            for r in runs["run_id"]
            if (manifests.get(r, {}).get("inputs") or {}).get("sae_path")
        ),
        None,
    )
    top = runs.iloc[0]
    return Checkpoint(
        spec=spec,
        sha=str(top["sae_sha256"]),
        model=str(top["model"] or ""),
        hook_name=str(top["hook_name"] or ""),
        run_ids=tuple(str(r) for r in runs["run_id"]),
        sae_path=sae_path,
        latents=per_latent["latent"].to_numpy(np.int64),
        texts=tuple(str(t).strip() for t in per_latent["explanation"]),
        explanation_ids=per_latent["explanation_id"].to_numpy(np.int64),
        runs=per_latent["run_id"].astype(str).to_numpy(),
    )


def load_checkpoints(
    store: Path | str, specs: list[str], explanations: pd.DataFrame | None = None
) -> list[Checkpoint]:
    """The checkpoints named by ``specs``, in order (see the module docstring)."""
    df = read_explanations(store) if explanations is None else explanations
    manifests = {str(m.get("run_id")): m for m in list_runs(store)}
    out = []
    for spec in specs:
        rows = _select(df, spec, store)
        if rows["sae_sha256"].nunique() > 1:  # a run id is one checkpoint; be explicit anyway
            raise UserInputError(f"run {spec!r} holds several checkpoints; name one by its hash")
        out.append(_checkpoint(rows, spec, manifests))
    return out


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def all_checkpoint_specs(store: Path | str, explanations: pd.DataFrame | None = None) -> list[str]:
    """The sae_sha256 of every checkpoint with explanations, by model then hook point
    (layers in numeric order: blocks.2 before blocks.10)."""
    df = read_explanations(store) if explanations is None else explanations
    rows = df.sort_values("created_at").drop_duplicates("sae_sha256", keep="last")
    keyed = sorted(
        rows.itertuples(),
        key=lambda r: (str(r.model), _natural(str(r.hook_name)), str(r.sae_sha256)),
    )
    return [str(r.sae_sha256) for r in keyed]
