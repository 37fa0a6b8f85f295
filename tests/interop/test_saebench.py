"""Export to SAEBench's autointerp eval output and read it back.

Validation with SAEBench's own code (``sae-bench`` 0.6.0, installed ``--no-deps``: its
output schema imports only pydantic and beartype): ``sae_bench_utils.testing_utils.
validate_eval_output_format_file`` with ``evals.autointerp.eval_output.AutoInterpEvalOutput``,
the check SAEBench's own tests apply to its output files, and the JSON schema SAEBench ships
(``eval_output_schema_autointerp.json``) through jsonschema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autointerp.errors import InteropError
from autointerp.interop import Options, export_run, import_explanations
from autointerp.store import read_table
from tests.interop.conftest import Runs, first_explanations, pairs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, run_id in (("generated", runs.generated), ("user", runs.user)):
        to = tmp_path_factory.mktemp(f"saebench-{name}")
        options = Options(sae_lens_release="my-release", sae_lens_id="layer_2/width_256")
        (out[name],) = export_run(runs.out, run_id, "saebench", to, options)
    return out


def test_validated_by_saebench_own_schema(exported: dict[str, Path]) -> None:
    pytest.importorskip("sae_bench")
    import jsonschema
    from sae_bench.evals.autointerp import eval_output
    from sae_bench.sae_bench_utils.testing_utils import validate_eval_output_format_file

    schema_file = Path(eval_output.__file__).with_name("eval_output_schema_autointerp.json")
    schema = json.loads(schema_file.read_text())
    for path in exported.values():
        assert path.name == "my-release_layer_2_width_256_eval_results.json"  # SAEBench's naming
        validate_eval_output_format_file(str(path), eval_output.AutoInterpEvalOutput)
        jsonschema.validate(json.loads(path.read_text()), schema)


def test_score_is_saebench_per_latent_accuracy(runs: Runs, exported: dict[str, Path]) -> None:
    data = json.loads(exported["generated"].read_text())
    assert data["eval_type_id"] == "autointerp" and data["eval_id"] == runs.generated
    judged = read_table(runs.out, "judgements", run_id=runs.generated)
    judged = judged[judged["scorer"] == "detection"]
    per_latent = data["eval_result_unstructured"]
    scored = {k: v for k, v in per_latent.items() if "score" in v}
    assert scored
    for key, record in scored.items():
        items = judged[judged["latent"] == int(key)].sort_values("item")
        accuracy = (items["predicted"] == items["label"]).mean()
        assert record["score"] == pytest.approx(accuracy)
        assert record["correct seqs"] == [i + 1 for i, a in enumerate(items["label"]) if a]
        assert record["predictions"] == [i + 1 for i, p in enumerate(items["predicted"]) if p]
    scores = [r["score"] for r in scored.values()]
    metrics = data["eval_result_metrics"]["autointerp"]
    assert metrics["autointerp_score"] == pytest.approx(sum(scores) / len(scores))
    # latents explained but without detection judgements keep SAEBench's scoring=False record
    for record in per_latent.values():
        assert set(record) in (
            {"latent", "explanation", "predictions", "correct seqs", "score", "logs"},
            {"latent", "explanation", "logs"},
        )


def test_round_trip_keeps_each_latents_first_explanation(
    runs: Runs, exported: dict[str, Path]
) -> None:
    for name, run_id in (("generated", runs.generated), ("user", runs.user)):
        back = import_explanations(exported[name].parent, "saebench")
        assert pairs(back) == pairs(first_explanations(runs.out, run_id)), name


def test_reading_errors_name_the_file_and_field(
    runs: Runs, exported: dict[str, Path], tmp_path: Path
) -> None:
    data = json.loads(exported["user"].read_text())
    bad = tmp_path / "x_eval_results.json"
    bad.write_text(json.dumps({**data, "eval_type_id": "core"}))
    with pytest.raises(InteropError, match="x_eval_results.json: field 'eval_type_id'"):
        import_explanations(bad, "saebench")
    broken = {**data, "eval_result_unstructured": {"7": {"latent": 7}}}
    bad.write_text(json.dumps(broken))
    with pytest.raises(InteropError, match=r"eval_result_unstructured\['7'\] lacks"):
        import_explanations(bad, "saebench")
    with pytest.raises(InteropError, match="scorer 'intruder'"):
        export_run(runs.out, runs.user, "saebench", tmp_path, Options(scorer="intruder"))
