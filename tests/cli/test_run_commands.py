"""run, inspect, scores, config and list, run as a user would run them (subprocesses),
and inspect in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import ENV, cli
from tests.helpers import write_saelens

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess (~3 s each)


def test_inspect_demo() -> None:
    out = cli("inspect", "demo")
    assert out.returncode == 0, out.stderr
    assert "architecture" in out.stdout and "topk" in out.stdout
    assert (
        "blocks.15.hook_resid_post" in out.stdout
        and "HuggingFaceTB/SmolLM2-135M-Instruct" in out.stdout
    )


def test_inspect_formats_without_a_model(tmp_path: Path) -> None:
    """inspect detects the format and prints what it found; no model is loaded."""
    import numpy as np

    gemma = tmp_path / "gemma-scope-2b-pt-mlp" / "layer_4" / "width_16k" / "average_l0_50"
    gemma.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        gemma / "params.npz",
        W_enc=rng.normal(size=(8, 16)).astype(np.float32),
        W_dec=rng.normal(size=(16, 8)).astype(np.float32),
        b_enc=np.zeros(16, np.float32),
        b_dec=np.zeros(8, np.float32),
        threshold=np.full(16, 0.1, np.float32),
    )
    out = cli("inspect", str(gemma))
    assert out.returncode == 0, out.stderr
    for text in ("gemmascope", "jumprelu", "blocks.4.hook_mlp_out", "google/gemma-2-2b", "16"):
        assert text in out.stdout
    tc = write_saelens(
        tmp_path / "tc",
        d_in=8,
        d_sae=16,
        architecture="transcoder",
        k=None,
        hook_name="blocks.1.ln2.hook_normalized",
        cfg_extra={"d_out": 8, "apply_b_dec_to_input": False},
    )
    out = cli("inspect", str(tc), "--hook", "layers.1.mlp:input")
    assert out.returncode == 0, out.stderr
    assert "transcoder" in out.stdout and "layers.1.mlp:input" in out.stdout
    assert "blocks.1.hook_mlp_out" in out.stdout
    broken = cli("inspect", str(tmp_path / "nothing-here"))
    assert broken.returncode == 2 and "does not exist" in broken.stderr


def test_list_and_config() -> None:
    listed = cli("list").stdout
    scorers = next(line for line in listed.splitlines() if line.startswith("scorers: "))
    for name in ("detection", "fuzz", "embedding", "simulation", "surprisal", "intruder"):
        assert name in scorers
    assert "intervention" in scorers and "saelens" in listed
    explainers = next(line for line in listed.splitlines() if line.startswith("explainers: "))
    for name in ("default", "contrastive", "token_pairs", "output", "best_of_n"):
        assert name in explainers
    assert "vllm" in listed and "openai" in listed
    config = cli("config").stdout
    assert "sampling.n_explain = 15" in config and "corpus.path = 'stdlib'" in config


def test_scores_on_an_empty_store(tmp_path: Path) -> None:
    out = cli("scores", "--out", str(tmp_path))
    assert out.returncode == 0 and "no scores found" in out.stdout


def test_run_end_to_end_from_the_command_line(tmp_path: Path) -> None:
    out = cli(
        "run",
        "--latents",
        "7,10",
        "--n-tokens",
        "6400",
        "--out",
        str(tmp_path / "out"),
        "--set",
        "cache.dtype=float32",
        "--set",
        "sampling.n_explain=5",
        "--set",
        "sampling.n_score=5",
        "--set",
        "sampling.n_nonactivating=5",
        "--set",
        "scoring.n_bootstrap=10",
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    assert "detection auroc" in out.stdout and "fuzz auroc" in out.stdout
    assert "finished in" in out.stdout and str(tmp_path / "out" / "scores") in out.stdout
    listed = cli("scores", "--out", str(tmp_path / "out"), "--format", "csv")
    rows = listed.stdout.strip().splitlines()
    assert rows[0].startswith("run_id,latent,explanation_id,scorer") and len(rows) == 5


def test_an_interrupted_run_resumes_from_its_finished_batches(tmp_path: Path) -> None:
    """`autointerp run --no-progress` logs one line per stage and per finished batch; SIGKILLed
    after its first batch, the same command continues from there (the first batch is not
    explained or scored again) and writes every table."""
    import signal

    out = tmp_path / "out"
    args = ["run", "--latents", "4,7,10", "--n-tokens", "6400", "--out", str(out)]
    args += ["--set", "cache.dtype=float32", "--set", "scoring.n_bootstrap=10", "--no-progress"]
    for key in ("n_explain", "n_score", "n_nonactivating"):
        args += ["--set", f"sampling.{key}=5"]
    env = {**ENV, "AUTOINTERP_BATCH_SIZE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autointerp.cli", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "batch 1/3:" in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(60)
    log = "".join(lines)
    assert "load: " in log and "cache: " in log and "batch 1/3: 1/1 explanations ok" in log, log
    assert not (out / "scores").exists()  # nothing final yet, but the batch is staged
    assert list(out.glob(".autointerp/jobs/*/done/batch-00000"))
    again = cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert "batch 1/3: 1/1 explanations ok" in again.stderr
    assert "already done" in again.stderr.split("batch 1/3:")[1].splitlines()[0]
    assert "already done" not in again.stderr.split("batch 2/3:")[1].splitlines()[0]
    listed = cli("scores", "--out", str(out), "--format", "csv")
    assert len(listed.stdout.strip().splitlines()) == 1 + 3 * 2


def test_inspect_with_sae_format_and_hook_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process: --sae-format forces (and validates) a format; a transcoder saved without
    hook_name_out says how to give it, and --hook-out does."""
    from autointerp.cli import main

    tc = write_saelens(
        tmp_path / "tc",
        d_in=8,
        d_sae=16,
        architecture="transcoder",
        k=None,
        hook_name="model.layers.1",
        cfg_extra={"d_out": 8, "apply_b_dec_to_input": False},
    )
    assert main(["inspect", str(tc), "--sae-format", "saelens"]) == 0
    assert "(not named: pass --hook-out)" in capsys.readouterr().out
    assert main(["inspect", str(tc), "--hook-out", "layers.1.mlp"]) == 0
    assert "layers.1.mlp" in capsys.readouterr().out
    assert main(["inspect", str(tc), "--sae-format", "openai"]) == 2
    assert "torch state dict" in capsys.readouterr().err
    assert main(["inspect", str(tc), "--sae-format", "nope"]) == 2
    assert (
        "unknown checkpoint format 'nope'; available: dictionary_learning"
        in capsys.readouterr().err
    )
