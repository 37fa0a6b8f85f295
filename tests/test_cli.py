"""The console script, run as a user would run it (subprocesses)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import write_saelens

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess (~3 s each)

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autointerp.cli", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        check=False,
        cwd=cwd,
        timeout=600,
    )


def test_help_lists_every_subcommand() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("run", "inspect", "scores", "config", "list"):
        assert command in out.stdout
    run_help = cli("run", "--help").stdout
    for option in (
        "--sae",
        "--latents",
        "--corpus",
        "--llm",
        "--out",
        "--explanations",
        "--scorers",
        "--set",
    ):
        assert option in run_help


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--sae", "/no/such/sae"), "error: SAE checkpoint '/no/such/sae' does not exist"),
        (("run", "--set", "sampling.n_explian=3"), "unknown key(s) n_explian"),
        (("run", "--set", "nonsense"), "expected KEY=VALUE"),
        (
            ("run", "--llm", "ftp://x"),
            "expected 'local', 'local:<model>', 'openai' or an http(s) URL",
        ),
        (("run", "--latents", "5000:6000"), "out of range"),
    ],
)
def test_user_errors_exit_2_with_a_message_and_no_output(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = cli(*args, "--out", str(tmp_path / "out"), "--no-progress")
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_scores_on_an_empty_store(tmp_path: Path) -> None:
    out = cli("scores", "--out", str(tmp_path))
    assert out.returncode == 0 and "no scores found" in out.stdout


def test_flags_map_onto_the_run_config(tmp_path: Path) -> None:
    from autointerp.cli import _build_parser, config_from_args

    (tmp_path / "c.json").write_text('{"seed": 5, "corpus": {"ctx_len": 16}}')
    args = _build_parser().parse_args(
        [
            "run",
            "--sae",
            "s",
            "--latents",
            "0:5",
            "--corpus",
            "texts/",
            "--n-tokens",
            "1000",
            "--llm",
            "http://h:1/v1",
            "--llm-model",
            "m",
            "--scorers",
            "detection",
            "--config",
            str(tmp_path / "c.json"),
            "--set",
            "sampling.n_explain=3",
            "--set",
            "scoring.threshold=0.4",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.sae, cfg.latents, cfg.seed) == ("s", "0:5", 5)
    assert (cfg.corpus.path, cfg.corpus.n_tokens, cfg.corpus.ctx_len) == ("texts/", 1000, 16)
    assert (cfg.llm.backend, cfg.llm.base_url, cfg.llm.model) == ("openai", "http://h:1/v1", "m")
    assert cfg.scoring.scorers == ("detection",) and cfg.scoring.threshold == 0.4
    assert cfg.sampling.n_explain == 3


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


def _option_strings(command: str) -> set[str]:
    from autointerp.cli import _build_parser

    parser = _build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {s for action in sub.choices[command]._actions for s in action.option_strings}


def test_submit_takes_every_option_of_run() -> None:
    """One function adds the run options to both parsers; this keeps it that way."""
    run, submit = _option_strings("run"), _option_strings("submit")
    assert {"--out", "--no-progress", "--set", "--scorers", "--config"} <= run
    assert run - submit == set()
    assert submit - run == {"--store", "--wait", "--timeout"}


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real Redis (no worker: submitted jobs stay queued) and a store, via the environment
    of the `autointerp submit` processes."""
    from autointerp.service.redis_server import EmbeddedRedis

    redis = EmbeddedRedis(tmp_path / "redis").start()
    env = {"AUTOINTERP_REDIS_URL": redis.url, "AUTOINTERP_STORE": str(tmp_path / "store")}
    try:
        yield env
    finally:
        redis.stop()


def test_submit_records_out_and_no_progress_hides_progress_lines(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    from autointerp.service.jobs import JobStore

    store = JobStore(service_env["AUTOINTERP_STORE"])
    args = ["submit", "--latents", "0:4", "--set", "cache.dtype=float32", "--no-progress"]
    first = cli(*args, "--out", "tables", "--wait", "--timeout", "1", env=service_env, cwd=tmp_path)
    assert first.returncode == 3, first.stderr
    job_id = first.stdout.strip()
    lines = first.stderr.splitlines()
    assert lines[0] == f"submitted job {job_id}" and lines[-1].startswith("timed out after 1 s")
    assert not any("queued" in line for line in lines)
    record = store.record(job_id)
    assert record["out"] == str(tmp_path / "tables")  # made absolute: workers run elsewhere
    assert "resubmitted_at" not in record
    # Without --no-progress the same wait shows the state; resubmitting keeps the recorded out.
    again = cli(*args[:-1], "--wait", "--timeout", "1", env=service_env)
    assert again.returncode == 3 and again.stdout.strip() == job_id
    assert again.stderr.splitlines()[0] == f"resubmitted job {job_id}"
    assert f"{job_id} queued" in again.stderr.splitlines()
    assert store.record(job_id)["out"] == str(tmp_path / "tables")


def test_submit_with_out_records_nothing_when_redis_is_down(tmp_path: Path) -> None:
    from autointerp.service.redis_server import free_port

    env = {
        "AUTOINTERP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "AUTOINTERP_STORE": str(tmp_path / "store"),
    }
    out = cli("submit", "--out", str(tmp_path / "tables"), "--no-progress", env=env)
    assert out.returncode == 2 and "cannot reach Redis" in out.stderr
    assert list((tmp_path / "store" / "jobs").iterdir()) == []


def test_submit_refuses_to_move_a_finished_job(service_env: dict[str, str], tmp_path: Path) -> None:
    from autointerp.service.jobs import JobStore, write_json

    store = JobStore(service_env["AUTOINTERP_STORE"])
    first = cli("submit", "--latents", "1", env=service_env)
    assert first.returncode == 0, first.stderr
    job_id = first.stdout.strip()
    write_json(store.paths(job_id).finished, {"at": "now"})
    moved = cli("submit", "--latents", "1", "--out", str(tmp_path / "elsewhere"), env=service_env)
    assert moved.returncode == 2
    assert f"job {job_id} (the same config) has already written its tables to" in moved.stderr
    assert "out" not in store.record(job_id)


def test_a_config_value_out_of_range_exits_2_naming_the_key(tmp_path: Path) -> None:
    out = cli("run", "--set", "cache.batch_size=-1", "--out", str(tmp_path / "out"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cache.batch_size must be >= 0 (0 = chosen for the device), got -1" in out.stderr
    assert not (tmp_path / "out").exists()


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
