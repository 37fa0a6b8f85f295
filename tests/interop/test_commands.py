"""The front doors: ``autointerp export`` / ``autointerp import`` (the CLI), ``GET
/runs/{run_id}/export`` (the API), and the point of importing: an imported file is an
explanations file ``autointerp run --explanations`` scores."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autointerp.api import create_app
from autointerp.cli import main
from autointerp.inputs import load_explanations
from autointerp.pipeline import run
from autointerp.service.settings import ServiceSettings
from autointerp.store import read_table
from tests.interop.conftest import Runs, first_explanations, ok_explanations, pairs
from tests.servers.scripted_openai import ScriptedServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("fmt", "suffix", "every"),
    [("neuronpedia", ".csv", True), ("saebench", ".tsv", False), ("delphi", ".parquet", False)],
)
def test_export_then_import_on_the_command_line(
    runs: Runs,
    tmp_path: Path,
    fmt: str,
    suffix: str,
    every: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    to = tmp_path / fmt
    assert (
        main(["export", runs.user[:8], "--out", str(runs.out), "--format", fmt, "--to", str(to)])
        == 0
    )
    assert "files written" in capsys.readouterr().out
    target = tmp_path / f"imported{suffix}"
    assert main(["import", str(to), "--format", fmt, "--to", str(target)]) == 0
    assert "autointerp run --explanations" in capsys.readouterr().out
    loaded = load_explanations(str(target), runs.d_sae)
    expected = ok_explanations if every else first_explanations
    assert pairs(loaded) == pairs(expected(runs.out, runs.user))


def test_command_line_errors_name_what_is_wrong(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--out", str(runs.out), "--format", "delphi", "--to", str(tmp_path)]
    assert main(["export", "nope", *args]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "missing"), "--format", "delphi"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", runs.user, "--format", "nope", "--to", str(tmp_path)])


def test_imported_explanations_are_scored_again(runs: Runs, tmp_path: Path) -> None:
    """delphi files -> an explanations file -> a new run scores exactly those explanations."""
    export_dir = tmp_path / "delphi"
    assert main(["export", runs.user, "--out", str(runs.out), "--format", "delphi",
                 "--to", str(export_dir)]) == 0  # fmt: skip
    imported = tmp_path / "from-delphi.csv"
    assert main(["import", str(export_dir), "--format", "delphi", "--to", str(imported)]) == 0
    out = tmp_path / "rescored"
    with ScriptedServer(p_yes=0.7) as srv:
        llm = replace(runs.config.llm, base_url=srv.url)
        result = run(replace(runs.config, explanations=str(imported), llm=llm), out, progress=False)
    expl = read_table(out, "explanations", run_id=result.run_id)
    assert set(expl["source"]) == {"user:from-delphi.csv"}
    assert pairs(expl) == pairs(first_explanations(runs.out, runs.user))
    scores = read_table(out, "scores", run_id=result.run_id)
    assert set(scores["scorer"]) == {"detection", "fuzz"}
    assert set(scores["latent"]) == set(expl["latent"])


def test_api_returns_the_export_as_a_zip(runs: Runs, tmp_path: Path) -> None:
    client = TestClient(create_app(ServiceSettings(store=runs.out)))
    reply = client.get(f"/runs/{runs.user}/export", params={"format": "saebench"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(reply.content)).namelist()
    assert names == [f"autointerp_{read_table(runs.out, 'latents')['sae_sha256'].iloc[0]}"
                     "_eval_results.json"]  # fmt: skip
    reply = client.get(f"/runs/{runs.user}/export", params={"format": "delphi"})
    archive = zipfile.ZipFile(io.BytesIO(reply.content))
    archive.extractall(tmp_path)
    back = {
        int(n.split("latent")[-1].removesuffix(".txt"))
        for n in archive.namelist()
        if n.startswith("explanations/")
    }
    assert back == set(first_explanations(runs.out, runs.user)["latent"])
    assert client.get("/runs/nope/export", params={"format": "delphi"}).status_code == 422
    bad = client.get(f"/runs/{runs.user}/export", params={"format": "nope"})
    assert bad.status_code == 422 and "unknown interop format 'nope'" in bad.json()["detail"]
    assert "/runs/{run_id}/export" in client.get("/openapi.json").json()["paths"]
