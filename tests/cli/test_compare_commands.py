"""The ``compare`` and ``search-explanations`` commands, parsed and run as the top-level
CLI will (``add_commands`` on its subparsers, then ``COMMANDS``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from autointerp.cli.compare_commands import COMMANDS, add_commands
from autointerp.errors import UserInputError
from autointerp.saes import load_sae
from tests.compare import SHARED_SHA, N, build_store
from tests.compare.test_embed import EmbeddingServer


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="autointerp")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    demo, rand = load_sae("demo").info.sha256, load_sae("random:demo").info.sha256
    return build_store(tmp_path_factory.mktemp("store"), demo, rand), demo, rand


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    srv = EmbeddingServer()
    yield srv
    srv.close()


@pytest.mark.slow
def test_compare_prints_the_figures_and_writes_the_outputs(
    store: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, demo, rand = store
    out, cache = tmp_path / "cmp", tmp_path / "cache"
    argv = ["compare", demo[:8], rand[:8], "--store", str(root), "--out", str(out)]
    assert run_cli([*argv, "--embed-cache", str(cache)]) == 0
    printed = capsys.readouterr()
    assert f"{demo[:8]} blocks.15.hook_resid_post ({N} latents)" in printed.out
    assert "explanations, matched one-to-one (exact): mean 0.3" in printed.out
    assert "decoders: matched cosine 0.0" in printed.out
    assert "embedding 156 distinct explanations with minilm" in printed.err
    assert {p.name for p in out.iterdir()} == {
        "pairs.parquet",
        "summary.json",
        "heatmap.png",
        f"hist_{demo[:8]}_{rand[:8]}.png",
    }
    assert [p.name for p in cache.iterdir()] == ["minilm.parquet"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"][0]["share_close"]["threshold"] == 0.7


@pytest.mark.slow
def test_compare_all_with_options(
    store: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _, _ = store
    out = tmp_path / "all"
    argv = ["compare", "--all", "--store", str(root), "--out", str(out), "--no-embed-cache"]
    assert run_cli([*argv, "--close-threshold", "0.9", "--no-decoders", "--seed", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["checkpoints"]) == 4 and len(summary["pairs"]) == 6
    assert summary["options"] == {
        "close_threshold": 0.9,
        "exact_max": 4096,
        "top_k": 32,
        "decoders": False,
        "seed": 3,
    }
    # --all orders checkpoints by model, then hook point (layer 10 before layer 15)
    hooks = [c["hook_name"] for c in summary["checkpoints"][:3]]
    assert hooks[0] == "blocks.10.hook_resid_post"
    assert "decoders: skipped (not requested)" in capsys.readouterr().out


def test_compare_needs_two_checkpoints(store: tuple[Path, str, str]) -> None:
    with pytest.raises(UserInputError, match="at least 2"):
        run_cli(["compare", SHARED_SHA, "--store", str(store[0]), "--no-embed-cache"])


def test_compare_with_an_embeddings_endpoint(
    store: tuple[Path, str, str], tmp_path: Path, server: EmbeddingServer
) -> None:
    root, demo, _ = store
    argv = ["compare", demo, demo, "--store", str(root), "--out", str(tmp_path / "o")]
    argv += ["--embedder", "openai:emb", "--embed-url", server.url, "--no-embed-cache"]
    assert run_cli(argv) == 0
    assert [len(r["input"]) for r in server.requests] == [N]  # each distinct text once
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["embedder"] == f"openai:emb@{server.url}"
    assert summary["pairs"][0]["matched"]["min"] > 0.999


@pytest.mark.slow
def test_search_explanations_formats(
    store: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(store[0])
    base = ["search-explanations", "cars and automobiles", "--store", root, "--no-embed-cache"]
    assert run_cli([*base, "--format", "json", "--limit", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["explanation"] for r in rows] == ["cars and driving"] * 3
    assert run_cli([*base, "--checkpoint", "run-shared", "--limit", "2"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "similarity",
        "checkpoint",
        "model",
        "hook_name",
        "latent",
        "explanation",
        "run_id",
    ]
    assert len(table) == 3 and "run-shared" in table[1]
    assert run_cli([*base, "--min-similarity", "0.99"]) == 0
    assert capsys.readouterr().out.strip() == "no matching explanations"
