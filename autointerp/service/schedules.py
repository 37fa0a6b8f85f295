"""Schedule files: what Celery beat runs and when (TOML; example in queue/schedule.toml).

    [[entry]]
    name = "score-new-checkpoints"
    cron = "0 2 * * *"            # minute hour day-of-month month day-of-week (UTC)
    # every = "30s"               # or a fixed interval (s, m, h)
    action = "score_folder"       # score_folder | rescore
    folder = "/data/checkpoints"  # score_folder: every checkpoint in it (sub-folder or file)
    [entry.config]                # a partial run config applied to every job of the entry
    latents = "live:64"
    scoring.scorers = ["detection", "fuzz"]

``compare`` compares checkpoints (``checkpoints = ["3f2a", "7c0d"]`` or ``"all"``) and writes
the report under ``<store>/comparisons/<entry>/<key>/``, the key naming the runs compared (a
fire with no new runs writes nothing). ``rescore`` re-scores the explanations of stored
runs (``run_id`` = one run, or every run of ``checkpoint`` = a sae_sha256 prefix) with the
entry's config (new scorers, another scorer model). Each fire is idempotent: jobs are
named by their config, so an entry that fires again (a missed run caught up, an overlapping
fire, a second beat) submits only jobs that do not exist yet. ``export`` writes every stored
run (or ``run_id``, or the runs of ``checkpoint``) in another tool's layout (``format`` =
neuronpedia, saebench or delphi; see ``autointerp export``) under ``to`` (default:
``<store>/exports/<entry>``), one folder per run; a run already exported is left alone.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autointerp.config import RunConfig
from autointerp.config.build import build_config
from autointerp.config.dicts import assign_dotted
from autointerp.errors import ConfigError

__all__ = ["ACTIONS", "Entry", "export_entry", "load_schedule", "parse_every"]

ACTIONS = ("score_folder", "rescore", "compare", "export")
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh])\s*$")


@dataclass(frozen=True)
class Entry:
    name: str
    action: str
    cron: str | None = None
    every: float | None = None
    """Seconds between fires (instead of ``cron``)."""
    folder: str | None = None
    run_id: str | None = None
    checkpoint: str | None = None
    checkpoints: list[str] | str | None = None
    """compare: sae_sha256 prefixes or run ids, or "all" (every checkpoint with
    explanations)."""
    embedder: str = "minilm"
    """compare: the explanation embedder (offline: 'minilm' or 'st:<model>')."""
    format: str | None = None
    """export: neuronpedia, saebench or delphi."""
    to: str | None = None
    """export: the folder to write under (default: <store>/exports/<entry name>)."""
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def parse_every(text: str, where: str) -> float:
    match = _EVERY.match(text)
    if not match:
        raise ConfigError(f"{where}: expected an interval like '30s', '15m' or '2h', got {text!r}")
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise ConfigError(f"{where}: the interval must be positive")
    return value


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"scoring.scorers": [...]}`` -> ``{"scoring": {"scorers": [...]}}`` (TOML tables
    and dotted keys both work)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        assign_dotted(out, key, _nest(value) if isinstance(value, dict) else value)
    return out


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    known = set(Entry.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{where}.name: expected a name of letters, digits, '-', '_', '.'")
    where = f"{where} ({name})"
    action = raw.get("action")
    if action not in ACTIONS:
        raise ConfigError(f"{where}.action: expected one of {list(ACTIONS)}, got {action!r}")
    cron, every = raw.get("cron"), raw.get("every")
    if (cron is None) == (every is None):
        raise ConfigError(f"{where}: give exactly one of 'cron' or 'every'")
    if cron is not None:
        _check_cron(str(cron), f"{where}.cron")
    try:
        config = _nest(raw.get("config") or {})
        build_config(config)
    except ConfigError as exc:
        raise ConfigError(f"{where}.config: {exc}") from exc
    if action == "score_folder" and not raw.get("folder"):
        raise ConfigError(f"{where}: action 'score_folder' needs 'folder'")
    if action == "rescore" and not (raw.get("run_id") or raw.get("checkpoint")):
        raise ConfigError(f"{where}: action 'rescore' needs 'run_id' or 'checkpoint'")
    cks = raw.get("checkpoints")
    if action == "compare" and not (cks == "all" or (isinstance(cks, list) and len(cks) >= 2)):
        raise ConfigError(
            f"{where}: action 'compare' needs checkpoints = \"all\" or a list of 2 or more"
        )
    if action == "export":
        from autointerp.interop import INTEROP_FORMATS

        if raw.get("format") not in INTEROP_FORMATS:
            raise ConfigError(
                f"{where}.format: action 'export' needs one of {INTEROP_FORMATS.names()}, "
                f"got {raw.get('format')!r}"
            )
    return Entry(
        name=name,
        action=str(action),
        cron=str(cron) if cron is not None else None,
        every=parse_every(str(every), f"{where}.every") if every is not None else None,
        folder=raw.get("folder"),
        run_id=raw.get("run_id"),
        checkpoint=raw.get("checkpoint"),
        checkpoints=cks,
        embedder=str(raw.get("embedder") or "minilm"),
        format=raw.get("format"),
        to=raw.get("to"),
        config=config,
    )


def _check_cron(expr: str, where: str) -> None:
    from croniter import croniter

    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ConfigError(
            f"{where}: expected a 5-field cron expression "
            f"(minute hour day-of-month month day-of-week), got {expr!r}"
        )


def load_schedule(path: Path | str) -> list[Entry]:
    """Parse and check a schedule file; every mistake names the entry and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"schedule file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"schedule file {path}: {exc}") from exc
    raw = data.get("entry", [])
    if not isinstance(raw, list):
        raise ConfigError(f"schedule file {path}: expected [[entry]] tables")
    entries = [_entry(r, f"{path}: entry {i}") for i, r in enumerate(raw)]
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"schedule file {path}: duplicate entry names {dupes}")
    return entries


CHECKPOINT_SUFFIXES = (".safetensors", ".npz", ".pt", ".pth", ".bin")


def planned_jobs(
    entry: Entry, store_root: Path, results: Path | str | None = None
) -> list[RunConfig]:
    """The run configs one fire of ``entry`` stands for (before skipping existing jobs);
    ``results``: where the runs to re-score are stored (default: the store)."""
    results = results or store_root
    if entry.action == "score_folder":
        assert entry.folder is not None
        folder = Path(entry.folder)
        if not folder.is_dir():
            raise ConfigError(f"schedule entry {entry.name}: folder {folder} does not exist")
        found = sorted(
            p
            for p in folder.iterdir()
            if not p.name.startswith(".") and (p.is_dir() or p.suffix in CHECKPOINT_SUFFIXES)
        )
        return [build_config(entry.config, assign=[("sae", str(p.resolve()))]) for p in found]
    runs = _runs_to_rescore(entry, store_root, results)
    return [_rescore_config(entry, store_root, results, m) for m in runs]


def _runs_to_rescore(entry: Entry, store_root: Path, results: Path | str) -> list[dict[str, Any]]:
    from autointerp.store import list_runs

    runs = list_runs(results)
    if entry.run_id:
        runs = [r for r in runs if r.get("run_id") == entry.run_id]
    if entry.checkpoint:
        prefix = entry.checkpoint
        runs = [r for r in runs if str(r["inputs"].get("sae_sha256", "")).startswith(prefix)]
    # A rescoring run's own output is not rescored again.
    return [
        r
        for r in runs
        if not str(r["config"].get("explanations") or "").startswith(str(store_root / "schedules"))
    ]


def _rescore_config(
    entry: Entry, store_root: Path, results: Path | str, manifest: dict[str, Any]
) -> RunConfig:
    import pyarrow as pa

    from autointerp.store import read_table
    from autointerp.store.atomic import atomic_parquet

    run_id = manifest["run_id"]
    path = store_root / "schedules" / entry.name / f"{run_id}-explanations.parquet"
    if not path.is_file():
        expl = read_table(results, "explanations", run_id=run_id)
        expl = expl[expl["status"] == "ok"][["latent", "explanation_id", "explanation"]]
        atomic_parquet(path, pa.Table.from_pandas(expl, preserve_index=False))
    return build_config(manifest["config"], entry.config, assign=[("explanations", str(path))])


def compare_entry(entry: Entry, store_root: Path, results: Path | str) -> dict[str, Any]:
    """One fire of a ``compare`` entry: the report of the named checkpoints, unless the
    same runs were compared before."""
    import hashlib
    import json

    from autointerp.compare import (
        all_checkpoint_specs,
        cached,
        compare,
        load_checkpoints,
        make_embedder,
        write_report,
    )
    from autointerp.paths import cache_dir

    specs = all_checkpoint_specs(results) if entry.checkpoints == "all" else entry.checkpoints
    specs = list(specs or [])
    if len(specs) < 2:
        return {"entry": entry.name, "skipped": "fewer than 2 checkpoints with explanations"}
    runs = sorted({r for c in load_checkpoints(results, specs) for r in c.run_ids})
    blob = json.dumps([specs, runs, entry.embedder]).encode()
    out = store_root / "comparisons" / entry.name / hashlib.sha256(blob).hexdigest()[:16]
    if (out / "summary.json").is_file():
        return {"entry": entry.name, "existing": str(out)}
    embedder = cached(make_embedder(entry.embedder), cache_dir("embeddings"))
    write_report(compare(results, specs, embedder), out)
    return {"entry": entry.name, "written": str(out)}


def export_entry(entry: Entry, store_root: Path, results: Path | str) -> dict[str, Any]:
    """One fire of an ``export`` entry: every selected run not exported yet, written under
    ``<to>/<run_id>/``; a run that cannot be exported (no usable explanations) is listed
    with the reason and tried again at the next fire."""
    import json

    from autointerp.errors import InteropError
    from autointerp.interop import export_run
    from autointerp.store import list_runs

    assert entry.format is not None
    to = Path(entry.to) if entry.to else store_root / "exports" / entry.name
    manifests = list_runs(results)
    runs = [
        str(m["run_id"])
        for m in manifests
        if (not entry.run_id or m["run_id"] == entry.run_id)
        and str(m["inputs"].get("sae_sha256", "")).startswith(entry.checkpoint or "")
    ]
    written, existing, skipped = [], [], {}
    for run_id in runs:
        marker = to / run_id / "autointerp-export.json"
        if marker.is_file():
            existing.append(run_id)
            continue
        try:
            files = export_run(results, run_id, entry.format, to / run_id)
        except InteropError as exc:
            skipped[run_id] = str(exc)
            continue
        done = {"run_id": run_id, "format": entry.format, "files": len(files)}
        marker.write_text(json.dumps(done))
        written.append(run_id)
    return {"entry": entry.name, "written": written, "existing": existing, "skipped": skipped}
