"""Export to delphi's result folders and read them back.

Validation with delphi's own code (``eai-delphi`` 0.1.3, installed ``--no-deps``): the
package imports vllm at ``import delphi``, so its reader module
``delphi/log/result_analysis.py`` is loaded by file path (it needs orjson, plotly, sklearn
and torch); its ``load_data`` reads the score files and ``get_agg_metrics`` aggregates them,
as ``delphi.log_results`` does. Explanation files are read with orjson, as delphi's
``none_postprocessor`` reads them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from autointerp.errors import InteropError
from autointerp.interop import Options, export_run, import_explanations
from autointerp.store import read_table
from tests.interop.conftest import Runs, first_explanations, pairs

pytestmark = pytest.mark.slow
HOOK = "blocks.2.hook_resid_post"


def _result_analysis() -> ModuleType:
    for name in ("orjson", "plotly", "sklearn"):
        pytest.importorskip(name)
    spec = importlib.util.find_spec("delphi")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("eai-delphi is not installed")
    path = Path(spec.submodule_search_locations[0]) / "log" / "result_analysis.py"
    module_spec = importlib.util.spec_from_file_location("delphi_result_analysis", path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, run_id in (("generated", runs.generated), ("user", runs.user)):
        out[name] = tmp_path_factory.mktemp(f"delphi-{name}")
        export_run(runs.out, run_id, "delphi", out[name])
    return out


def test_read_by_delphi_own_loader(runs: Runs, exported: dict[str, Path]) -> None:
    analysis = _result_analysis()
    import orjson

    for name, run_id in (("generated", runs.generated), ("user", runs.user)):
        to = exported[name]
        df, counts = analysis.load_data(to / "scores", [HOOK])
        judged = read_table(runs.out, "judgements", run_id=run_id)
        first = first_explanations(runs.out, run_id)
        judged = judged.merge(
            read_table(runs.out, "explanations", run_id=run_id).merge(first)[
                ["latent", "explanation_id"]
            ]
        )
        assert len(df) == len(judged)
        assert set(df["score_type"]) == {"detection", "fuzz"}
        for (scorer, latent), group in df.groupby(["score_type", "latent_idx"]):
            items = judged[(judged["scorer"] == scorer) & (judged["latent"] == latent)]
            assert list(group["activating"]) == list(items.sort_values("item")["label"])
            assert list(group["probability"]) == pytest.approx(list(items["p_yes"]))
        fires = read_table(runs.out, "latents", run_id=run_id).set_index("latent")["fire_count"]
        assert counts[HOOK].tolist() == fires.sort_index().tolist()
        metrics = analysis.get_agg_metrics(df, counts)
        assert set(metrics["score_type"]) == {"detection", "fuzz"}
        for path in (to / "explanations").iterdir():
            text = orjson.loads(path.read_bytes())
            latent = int(path.stem.split("latent")[-1])
            assert text == first.set_index("latent").loc[latent, "explanation"]
        config = json.loads((to / "run_config.json").read_text())
        assert config["hookpoints"] == [HOOK]


def test_round_trip_keeps_each_latents_first_explanation(
    runs: Runs, exported: dict[str, Path]
) -> None:
    for name, run_id in (("generated", runs.generated), ("user", runs.user)):
        back = import_explanations(exported[name], "delphi")
        assert pairs(back) == pairs(first_explanations(runs.out, run_id)), name
        assert set(back["source"]) == {f"delphi:{HOOK}"}


def test_hookpoint_names_the_module(runs: Runs, tmp_path: Path) -> None:
    export_run(runs.out, runs.user, "delphi", tmp_path, Options(hookpoint="layers.2"))
    assert {p.name.split("_latent")[0] for p in (tmp_path / "explanations").iterdir()} == {
        "layers.2"
    }
    back = import_explanations(tmp_path, "delphi", options=Options(hookpoint="layers.2"))
    assert pairs(back) == pairs(first_explanations(runs.out, runs.user))


def test_reading_errors_name_the_file(exported: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "explanations"
    folder.mkdir()
    (folder / "layers.1_latent3.txt").write_text('"a"')
    (folder / "layers.2_latent3.txt").write_text('"b"')
    with pytest.raises(InteropError, match="several modules .*--hookpoint"):
        import_explanations(tmp_path, "delphi")
    (folder / "layers.2_latent3.txt").write_text("{not json")
    with pytest.raises(InteropError, match="layers.2_latent3.txt: not JSON"):
        import_explanations(tmp_path, "delphi", options=Options(hookpoint="layers.2"))
    (folder / "layers.2_latent3.txt").unlink()
    (folder / "notes.txt").write_text('"x"')
    with pytest.raises(InteropError, match="notes.txt: expected a delphi explanation file"):
        import_explanations(tmp_path, "delphi")
