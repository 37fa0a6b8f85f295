"""Export to Neuronpedia's export folders and read them back.

Validation: Neuronpedia's importer is a Next.js route over Postgres (not installable here),
and the dataclasses its own converters write rows from (neuronpedia_utils/db_models) are not
on PyPI, so the files are checked against schemas read from its code: the Prisma models
transcribed in data/neuronpedia_schema.prisma (every row a valid row of its table, by the
importer's rule: tests/interop/prisma.py) and the db_models dataclasses transcribed in
neuronpedia_db_models.py (every row builds one). The PyPI package ``neuronpedia`` only
reads its web API's JSON, not export files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from autointerp.errors import InteropError
from autointerp.interop import Options, export_run, import_explanations
from autointerp.store import read_table
from tests.interop import neuronpedia_db_models as dbm
from tests.interop.conftest import Runs, ok_explanations, pairs
from tests.interop.prisma import problems

pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    text = gzip.decompress(data) if path.suffix == ".gz" else data
    return [json.loads(line) for line in text.decode().split("\n") if line]


@pytest.fixture(scope="module")
def exported(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    to = tmp_path_factory.mktemp("neuronpedia")
    export_run(runs.out, runs.generated, "neuronpedia", to)
    export_run(runs.out, runs.user, "neuronpedia", to, Options(source_id="2-res-mine"))
    return to


def test_layout_and_every_row_is_a_row_of_neuronpedia_tables(runs: Runs, exported: Path) -> None:
    sha = read_table(runs.out, "latents", run_id=runs.generated)["sae_sha256"].iloc[0]
    model_id = Path(str(runs.config.model)).name.lower()  # the tiny Llama's folder name
    source = exported / model_id / f"2-autointerp-{sha[:8]}"
    for name in ("model.jsonl", "sourceset.jsonl", "source.jsonl"):
        assert (source / name).is_file(), name
    for folder in ("features", "activations", "explanations", "explanation_scores"):
        assert (source / folder / "batch-0.jsonl.gz").is_file(), folder
    checks: list[tuple[str, str, Any, bool]] = [
        ("model.jsonl", "Model", dbm.Model, True),
        ("sourceset.jsonl", "SourceSet", dbm.SourceSet, True),
        ("source.jsonl", "Source", dbm.Source, True),
        ("features/batch-0.jsonl.gz", "Neuron", dbm.Feature, False),
        ("activations/batch-0.jsonl.gz", "Activation", dbm.Activation, False),
        ("explanations/batch-0.jsonl.gz", "Explanation", dbm.Explanation, False),
        ("explanation_scores/batch-0.jsonl.gz", "ExplanationScore", None, False),
    ]
    for file, model, dataclass, create in checks:
        rows = _lines(source / file)
        assert rows, file
        for row in rows:
            # the importer's rule; prisma.create (model/source/sourceset) refuses unknown keys,
            # except Source.inferenceHosts, which the import route turns into a relation
            found = problems(
                model, {k: v for k, v in row.items() if k != "inferenceHosts"}, create=create
            )
            assert not found, (file, found)
            if dataclass is not None:
                # every field but Source.saelensConfig (a Json column: null would be refused)
                missing = set(dataclass.__dataclass_fields__) - set(row)
                assert set(row) <= set(dataclass.__dataclass_fields__), file
                assert missing <= {"saelensConfig"}, (file, missing)
                dataclass(**row)
    for name, model in (
        ("explanation_type", "ExplanationType"),
        ("explanation_model_type", "ExplanationModelType"),
        ("explanation_score_type", "ExplanationScoreType"),
        ("explanation_score_model", "ExplanationScoreModel"),
    ):
        for row in _lines(exported / "config" / f"{name}.jsonl"):
            assert not problems(model, row, create=True), (name, row)
    features = _lines(source / "features/batch-0.jsonl.gz")
    assert len(features) == runs.d_sae and {f["layer"] for f in features} == {source.name}
    activations = _lines(source / "activations/batch-0.jsonl.gz")
    for act in activations:
        assert len(act["tokens"]) == len(act["values"])
        assert act["values"][act["maxValueTokenIndex"]] == act["maxValue"] > 0


def test_scores_are_explanation_scores_of_the_exported_explanations(
    runs: Runs, exported: Path
) -> None:
    source = next(p for p in exported.glob("*/*") if p.name.startswith("2-autointerp"))
    explanations = {e["id"]: e for e in _lines(source / "explanations/batch-0.jsonl.gz")}
    scores = _lines(source / "explanation_scores/batch-0.jsonl.gz")
    table = read_table(runs.out, "scores", run_id=runs.generated)
    ok = table[table["status"] == "ok"]
    assert len(scores) == len(ok)
    names = {"detection": "eleuther_recall", "fuzz": "eleuther_fuzz"}
    for row in ok.itertuples():
        match = [
            s
            for s in scores
            if s["explanationScoreTypeName"] == names[str(row.scorer)]
            and explanations[s["explanationId"]]["index"] == str(row.latent)
        ]
        assert len(match) == 1
        assert match[0]["value"] == pytest.approx(float(row.balanced_accuracy))
        details = json.loads(match[0]["jsonDetails"])
        assert len(details) == row.n_pos + row.n_neg
        assert {"str_tokens", "activations", "ground_truth", "prediction"} <= set(details[0])


def test_round_trip_keeps_every_explanation(runs: Runs, exported: Path) -> None:
    generated = next(p.name for p in exported.glob("*/*") if p.name.startswith("2-autointerp"))
    for run_id, source_id in ((runs.generated, generated), (runs.user, "2-res-mine")):
        back = import_explanations(exported, "neuronpedia", options=Options(source_id=source_id))
        assert pairs(back) == pairs(ok_explanations(runs.out, run_id))


def test_exporting_again_writes_the_same_files(runs: Runs, exported: Path, tmp_path: Path) -> None:
    files = export_run(
        runs.out, runs.user, "neuronpedia", tmp_path, Options(source_id="2-res-mine")
    )
    for path in files:
        assert path.read_bytes() == (exported / path.relative_to(tmp_path)).read_bytes(), path


def test_reading_errors_name_the_file_and_field(exported: Path, tmp_path: Path) -> None:
    with pytest.raises(InteropError, match="several sources .*--source-id"):
        import_explanations(exported, "neuronpedia")
    bad = tmp_path / "explanations" / "batch-0.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"modelId": "m", "layer": "0-x", "index": "3"}\n')
    with pytest.raises(InteropError, match=r"batch-0.jsonl, line 1: .* 'description'"):
        import_explanations(tmp_path, "neuronpedia")
    bad.write_text('{"modelId": "m", "layer": "0-x", "index": "3", "description": "a"}\nnot json\n')
    with pytest.raises(InteropError, match="line 2: not JSON"):
        import_explanations(tmp_path, "neuronpedia")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InteropError, match="no Neuronpedia explanations"):
        import_explanations(tmp_path / "empty", "neuronpedia")
