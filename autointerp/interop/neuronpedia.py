"""Neuronpedia's export layout, as its own exporter (utils/neuronpedia-utils/neuronpedia_utils/
export-data.py) and converters (convert-*-to-neuronpedia-export.py) write it and its importer
(apps/webapp/app/api/admin/import/route.ts, lib/db/import.ts) reads it::

    <to>/config/explanation_type.jsonl, explanation_model_type.jsonl,
                explanation_score_type.jsonl, explanation_score_model.jsonl
    <to>/<modelId>/<sourceId>/model.jsonl, sourceset.jsonl, source.jsonl
    <to>/<modelId>/<sourceId>/features/batch-<n>.jsonl.gz       Neuron rows
    <to>/<modelId>/<sourceId>/activations/batch-<n>.jsonl.gz    Activation rows
    <to>/<modelId>/<sourceId>/explanations/batch-<n>.jsonl.gz   Explanation rows
    <to>/<modelId>/<sourceId>/explanation_scores/batch-<n>.jsonl.gz  ExplanationScore rows

Each line is one row of the Prisma model of the same name (apps/webapp/prisma/schema.prisma),
keyed by its column names: ``layer`` is the source id, ``index`` the latent as a string. The
importer does not read ``explanation_scores/`` (Neuronpedia has no export of scores); its
rows are ExplanationScore rows, loaded the way the importer loads the other tables
(``importJsonlString('ExplanationScore', ...)``). Row ids are derived from the run id, so
exporting a run again gives the same ids (the importer skips rows it already has).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from autointerp.errors import InteropError
from autointerp.interop.base import (
    InteropFormat,
    Options,
    RunData,
    explanations_frame,
    layer_of,
    slug,
    write_jsonl,
)
from autointerp.interop.neuronpedia_rows import NeuronpediaRows

__all__ = ["NeuronpediaFormat"]

BATCH = 1024
"""Rows (features: latent indices) per batch file, as Neuronpedia's exporter."""


class NeuronpediaFormat(InteropFormat):
    name = "neuronpedia"
    description = "Neuronpedia export folders (features, activations, explanations, scores)"

    def export(self, run: RunData, to: Path, options: Options) -> list[Path]:
        model_id = options.model_id or slug(run.model)
        source_id = (
            options.source_id or f"{layer_of(run.hook_name)}-autointerp-{run.sae_sha256[:8]}"
        )
        set_name = source_id.split("-", 1)[1] if "-" in source_id else source_id
        ctx = NeuronpediaRows(run, model_id, source_id, set_name)
        base = to / model_id / source_id
        files = [
            write_jsonl(to / "config" / f"{name}.jsonl", rows, compress=False)
            for name, rows in ctx.config_rows().items()
        ]
        files += [
            write_jsonl(base / "model.jsonl", [ctx.model_row()], compress=False),
            write_jsonl(base / "sourceset.jsonl", [ctx.sourceset_row()], compress=False),
            write_jsonl(base / "source.jsonl", [ctx.source_row()], compress=False),
        ]
        for folder, rows in (
            ("features", ctx.feature_rows()),
            ("activations", ctx.activation_rows()),
            ("explanations", ctx.explanation_rows()),
            ("explanation_scores", ctx.score_rows()),
        ):
            for n, batch in _batches(rows, folder):
                files.append(write_jsonl(base / folder / f"batch-{n}.jsonl.gz", batch))
        return files

    def read(self, path: Path, options: Options) -> pd.DataFrame:
        files = [path] if path.is_file() else _explanation_files(path)
        if not files:
            raise InteropError(
                f"{path}: no Neuronpedia explanations (explanations/batch-<n>.jsonl.gz) found"
            )
        rows: list[tuple[int, str, str]] = []
        sources: set[tuple[str, str]] = set()
        for file in files:
            for line_no, row in _jsonl(file):
                where = f"{file}, line {line_no}"
                for key in ("modelId", "layer", "index", "description"):
                    if key not in row:
                        raise InteropError(f"{where}: Explanation row lacks the field {key!r}")
                if options.model_id and row["modelId"] != options.model_id:
                    continue
                if options.source_id and row["layer"] != options.source_id:
                    continue
                try:
                    latent = int(row["index"])
                except (TypeError, ValueError):
                    raise InteropError(
                        f"{where}: field 'index' must be a feature index, got {row['index']!r}"
                    ) from None
                sources.add((str(row["modelId"]), str(row["layer"])))
                rows.append(
                    (
                        latent,
                        str(row["description"]),
                        f"neuronpedia:{row['modelId']}/{row['layer']}",
                    )
                )
        if len(sources) > 1:
            names = ", ".join(f"{m}/{s}" for m, s in sorted(sources))
            raise InteropError(
                f"{path}: explanations of several sources ({names}); pick one with "
                "--model-id and --source-id"
            )
        return explanations_frame(rows, path)


def _batches(rows: list[dict[str, Any]], folder: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """``(n, rows)`` of batch file n: features and activations by latent index range (batch
    n = indices n*1024 ...), as Neuronpedia's exporter; explanations and scores by row count.
    No empty batch (the importer cannot read an empty file)."""
    if folder in ("features", "activations"):
        by_batch: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_batch.setdefault(int(row["index"]) // BATCH, []).append(row)
        yield from sorted(by_batch.items())
    else:
        for n, start in enumerate(range(0, len(rows), BATCH)):
            yield n, rows[start : start + BATCH]


def _explanation_files(root: Path) -> list[Path]:
    found = [*root.rglob("explanations/*.jsonl.gz"), *root.rglob("explanations/*.jsonl")]
    if root.name == "explanations":
        found += [*root.glob("*.jsonl.gz"), *root.glob("*.jsonl")]
    return sorted(set(found))


def _jsonl(file: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = file.read_bytes()
        text = (gzip.decompress(data) if file.name.endswith(".gz") else data).decode("utf-8")
    except (OSError, gzip.BadGzipFile, EOFError, UnicodeDecodeError) as exc:
        raise InteropError(f"{file}: cannot read it as (gzipped) JSON lines: {exc}") from exc
    # split on newlines only: str.splitlines would also split on U+2028 and friends, which
    # JSON leaves unescaped inside strings
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InteropError(f"{file}, line {n}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise InteropError(f"{file}, line {n}: expected a JSON object")
        yield n, row
