"""What every interop format shares: the options, a finished run read back from the store
(``RunData``), the scored items joined with their tokens, and atomic file writes."""

from __future__ import annotations

import gzip
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from autointerp.errors import InteropError
from autointerp.store.atomic import atomic_bytes

__all__ = ["InteropFormat", "Options", "RunData", "load_run", "write_bytes", "write_jsonl"]


@dataclass(frozen=True)
class Options:
    """Names the other tools need and a run does not carry. Every field is optional."""

    model_id: str | None = None
    """Neuronpedia: the model id (default: the subject model's name, lower-cased, with
    characters other than letters, digits, '-' and '_' replaced by '-'). Import: only rows of
    this model."""
    source_id: str | None = None
    """Neuronpedia: the source id, Neuronpedia's ``layer`` column (default:
    ``<layer>-autointerp-<sae_sha256[:8]>``). Import: only rows of this source."""
    hookpoint: str | None = None
    """delphi: the module name in file names (default: the run's hook point). Import: only
    files of this module."""
    scorer: str = "detection"
    """SAEBench: the scorer whose judgements make ``autointerp_score`` (SAEBench's own score
    is the share of correct yes/no predictions of a detection scorer)."""
    sae_lens_release: str | None = None
    """SAEBench: the SAELens release id of the checkpoint, when it has one."""
    sae_lens_id: str | None = None
    """SAEBench: the SAELens SAE id of the checkpoint, when it has one."""


@dataclass(frozen=True)
class RunData:
    """One finished run: its manifest and its tables (rows of this run only)."""

    run_id: str
    manifest: dict[str, Any]
    latents: pd.DataFrame
    examples: pd.DataFrame
    explanations: pd.DataFrame
    scores: pd.DataFrame
    judgements: pd.DataFrame

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.manifest.get("inputs") or {})

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.manifest.get("config") or {})

    @property
    def model(self) -> str:
        return str(self.inputs.get("model") or self.config.get("model") or "unknown")

    @property
    def hook_name(self) -> str:
        return str(self.inputs.get("hook_name") or "unknown")

    @property
    def sae_sha256(self) -> str:
        return str(self.inputs.get("sae_sha256") or "unknown")

    @property
    def llm(self) -> str:
        return str(self.inputs.get("llm") or "unknown")

    @property
    def created_at(self) -> str:
        return str(self.manifest.get("created_at") or "")

    def ok_explanations(self) -> pd.DataFrame:
        """Every usable explanation (status ok, text not empty), by latent and id."""
        df = self.explanations
        ok = df[(df["status"] == "ok") & (df["explanation"].fillna("").str.strip() != "")]
        return ok.sort_values(["latent", "explanation_id"]).reset_index(drop=True)

    def first_explanations(self) -> pd.DataFrame:
        """One explanation per latent (its lowest usable explanation_id), for the formats
        that hold one explanation per latent (SAEBench, delphi)."""
        return self.ok_explanations().drop_duplicates("latent", keep="first").reset_index(drop=True)

    def scored_items(self, scorer: str) -> pd.DataFrame:
        """The judgements of ``scorer``, each with the example it showed: ``tokens``, ``acts``
        and ``quantile`` (0 for a negative). An item whose window is in no example row
        (never, for the yes/no scorers) gets empty tokens."""
        items = self.judgements[self.judgements["scorer"] == scorer]
        if items.empty:
            return items.assign(tokens=[], acts=[], quantile=[])
        # One row per (latent, window): an activating example first (its activations), so a
        # fuzz item that shows an activating window mis-highlighted gets the true activations.
        priority = {"score": 0, "explain": 1}
        ex = self.examples.assign(_p=self.examples["role"].map(priority).fillna(2))
        ex = ex.sort_values(["latent", "window", "_p"]).drop_duplicates(["latent", "window"])
        merged = items.merge(
            ex[["latent", "window", "tokens", "acts", "quantile"]],
            on=["latent", "window"],
            how="left",
        )
        merged["tokens"] = [
            [str(x) for x in t] if t is not None else [] for t in _nan_to_none(merged.tokens)
        ]
        merged["acts"] = [
            [float(a) for a in v] if v is not None else [] for v in _nan_to_none(merged.acts)
        ]
        merged["quantile"] = merged["quantile"].fillna(0).astype(int)
        return merged.sort_values(["latent", "explanation_id", "item"]).reset_index(drop=True)


def rows_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as dicts (column -> value)."""
    return [{str(k): v for k, v in row.items()} for row in df.to_dict("records")]


def _nan_to_none(series: pd.Series) -> list[Any]:
    return [None if isinstance(v, float) else v for v in series]


def load_run(root: Path | str, run: str) -> RunData:
    """The run ``run`` (a run id or a unique prefix of one) under the output directory
    ``root`` (a path or an fsspec URL)."""
    from autointerp.store import list_runs, read_table

    runs = list_runs(root)
    matches = [m for m in runs if str(m.get("run_id", "")).startswith(run)] if run else []
    exact = [m for m in matches if m.get("run_id") == run]
    if exact:
        matches = exact
    if not matches:
        known = ", ".join(str(m.get("run_id")) for m in runs[-5:]) or "none"
        raise InteropError(f"no run {run!r} under {root} (runs/<run_id>.json); latest: {known}")
    if len(matches) > 1:
        ids = ", ".join(str(m["run_id"]) for m in matches)
        raise InteropError(f"run {run!r} under {root} is ambiguous: {ids}")
    manifest = matches[0]
    run_id = str(manifest["run_id"])
    tables = {
        name: read_table(root, name, run_id=run_id)
        for name in ("latents", "examples", "explanations", "scores", "judgements")
    }
    return RunData(run_id=run_id, manifest=manifest, **tables)


def slug(text: str) -> str:
    """Letters, digits, '-' and '_' only, lower case (Neuronpedia's model-id rule)."""
    name = text.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "model"


def layer_of(hook_name: str) -> str:
    """The layer number in a TransformerLens hook name (``blocks.6.hook_resid_post`` -> 6)."""
    match = re.search(r"(?:^|\.)(\d+)(?:\.|$)", hook_name)
    return match.group(1) if match else "0"


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents created)."""
    atomic_bytes(path, data)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]], *, compress: bool = True) -> Path:
    """Rows as JSON lines, gzip-compressed (level 5, as Neuronpedia's exporter) unless
    ``compress`` is off."""
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    return write_bytes(path, gzip.compress(data, compresslevel=5, mtime=0) if compress else data)


def read_json(path: Path, what: str) -> Any:
    """JSON from ``path``; an unreadable or malformed file is an ``InteropError``."""
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InteropError(f"{what} {path}: cannot read it ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InteropError(f"{what} {path}: not JSON ({exc})") from exc


class InteropFormat(ABC):
    """One other tool's file layout: ``export`` writes a run in it, ``read`` reads
    explanations back from it."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def export(self, run: RunData, to: Path, options: Options) -> list[Path]:
        """Write ``run`` under the folder ``to``; return the files written."""

    @abstractmethod
    def read(self, path: Path, options: Options) -> pd.DataFrame:
        """The explanations in ``path`` (a file or folder of this format): columns
        ``latent``, ``explanation``, ``source`` (where each came from)."""


def explanations_frame(rows: list[tuple[int, str, str]], path: Path) -> pd.DataFrame:
    """``(latent, explanation, source)`` rows as a frame; none at all is an error."""
    if not rows:
        raise InteropError(f"{path}: no explanations found")
    df = pd.DataFrame(rows, columns=["latent", "explanation", "source"])
    return df.astype({"latent": "int64"}).reset_index(drop=True)
