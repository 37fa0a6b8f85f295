"""Results at an fsspec URL (s3://). S3 itself cannot run here: moto's S3 server stands in
for it (a real HTTP server speaking the S3 API, run in this process), reached through s3fs
exactly as a real bucket would be."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from autointerp.config import RunConfig, ScoringConfig
from autointerp.service.redis_server import free_port
from autointerp.store import list_runs, read_table
from autointerp.store.files import RemotePath
from autointerp.store.filters import ScoreQuery
from autointerp.store.search import latent_detail, list_checkpoints, search_scores
from tests.service.conftest import Service
from tests.store.builders import SHA_A, build_store

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

pytestmark = pytest.mark.slow  # moto's S3 server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An S3 endpoint with a bucket; yields the environment that reaches it."""
    import fsspec
    import s3fs

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    mp.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint})
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
    fs.mkdir("results")
    try:
        yield env
    finally:
        mp.undo()
        server.stop()


def test_store_tables_written_to_and_queried_from_s3(s3: dict[str, str], tmp_path: Path) -> None:
    local = build_store(tmp_path / "local")
    remote = build_store("s3://results/store")  # the same runs, written through fsspec
    for table in ("scores", "explanations", "examples", "latents"):
        pd.testing.assert_frame_equal(read_table(remote, table), read_table(local, table))
    assert [r["run_id"] for r in list_runs(remote)] == [r["run_id"] for r in list_runs(local)]
    # DuckDB reads the bucket through the same fsspec filesystem.
    for kwargs in ({}, {"scorer": "detection", "min_score": 0.5}, {"contains": "French"}):
        n_remote, rows_remote = search_scores(remote, ScoreQuery(**kwargs))
        n_local, rows_local = search_scores(local, ScoreQuery(**kwargs))
        assert n_remote == n_local > 0
        pd.testing.assert_frame_equal(rows_remote, rows_local)
    pd.testing.assert_frame_equal(
        list_checkpoints(remote).drop(columns=["sae_path"]),
        list_checkpoints(local).drop(columns=["sae_path"]),
    )
    detail = latent_detail(remote, SHA_A[:6], 0)
    assert detail is not None and len(detail.scores) > 0


def test_a_job_writes_its_results_to_s3(
    s3: dict[str, str], service: Service, small_cfg: RunConfig
) -> None:
    service.env |= s3 | {"AUTOINTERP_RESULTS_URL": "s3://results/jobs"}
    service.start_worker("worker")
    cfg = replace(
        small_cfg, latents="4", scoring=ScoringConfig(scorers=("detection",), n_bootstrap=20)
    )
    job_id = service.submit(cfg)
    status = service.wait(job_id, timeout=600)
    assert status["state"] == "done", status
    assert status["finished"]["files"]["scores"].startswith("s3://results/jobs/scores/")
    scores = read_table("s3://results/jobs", "scores")
    assert list(scores["latent"]) == [4]
    assert list(scores["status"]) == ["ok"]
    assert not (service.store.root / "scores").exists()  # nothing landed locally


def _machine(service: Service, s3: dict[str, str], home: Path, smollm2_dir: Path) -> dict[str, str]:
    """The environment of a worker on a machine of its own: its own HOME and caches (the
    subject model installed in its cache as software is, nothing of any job), sharing only
    Redis and the bucket with the others."""
    cache = home / ".cache" / "autointerp"
    models = cache / "models"
    models.mkdir(parents=True)
    (models / smollm2_dir.name).symlink_to(smollm2_dir, target_is_directory=True)
    env = {
        **service.env,
        **s3,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "AUTOINTERP_CACHE_DIR": str(cache),
        "HF_HOME": os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface")),
    }
    env.pop("AUTOINTERP_ACTIVATIONS_DIR", None)  # this session's; the service caches on S3
    return env


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder``, not following the installed model's link."""
    return [p for p in folder.rglob("*") if not p.is_symlink() and p.is_file()]


def test_two_workers_sharing_only_redis_and_s3_run_a_job(
    s3: dict[str, str],
    service: Service,
    small_cfg: RunConfig,
    in_process: Path,
    smollm2_dir: Path,
    tmp_path: Path,
) -> None:
    """Two workers with different working directories, HOMEs and caches, that share only
    Redis and an S3 bucket (moto's S3 server stands in for S3, which cannot run here), run
    a job whose every record, marker, staged batch, statistic, replay and activation shard
    lives in the bucket: one serves the model queue, the other the llm and io queues, so
    every batch crosses between them. Its tables equal the in-process run's, and neither
    machine's folders hold any file of the job."""
    service.env |= s3 | {
        "AUTOINTERP_STORE": "s3://results/store",
        "AUTOINTERP_RESULTS_URL": "s3://results/results",
    }
    homes = {name: tmp_path / f"{name}-home" for name in ("gpu", "cpu")}
    cwds = {name: tmp_path / f"{name}-cwd" for name in ("gpu", "cpu")}
    for name, queues in (("gpu", "model"), ("cpu", "llm,io")):
        cwds[name].mkdir()
        env = _machine(service, s3, homes[name], smollm2_dir)
        service.start_worker(name, queues, env=env, cwd=cwds[name])
    before = {name: set(_files(homes[name]) + _files(cwds[name])) for name in homes}

    job_id = service.submit(small_cfg)
    status = service.wait(job_id)
    assert status["state"] == "done", status
    assert (status["n_shards"], status["n_batches"], status["n_latents"]) == (2, 2, 3)
    run_id = status["run_id"]
    assert status["finished"]["files"]["scores"].startswith("s3://results/results/scores/")
    for table in ("latents", "examples", "explanations", "scores", "judgements"):
        got = read_table("s3://results/results", table).drop(columns=["created_at"])
        want = read_table(in_process, table).drop(columns=["created_at"])
        assert len(got) == len(want) > 0, table
        pd.testing.assert_frame_equal(got, want, obj=table)
    for name, home in homes.items():  # each machine did its part, and kept nothing of the job
        assert "succeeded" in service.log(name).read_text()
        new = set(_files(home) + _files(cwds[name])) - before[name]
        assert not [p for p in new if job_id in str(p) or run_id in str(p)], new
        assert not [p for p in new if p.suffix in (".json", ".npz", ".npy", ".parquet")], new
    store = RemotePath.from_url("s3://results/store")
    job = store / "jobs" / job_id
    for name in ("job.json", "plan.json", "finished.json", "stats.npz", "replay/windows.npy"):
        assert (job / name).is_file(), name
    assert (job / "batches" / "00001" / "tables" / "scores.parquet").is_file()
    assert list((store / "activations").glob("*/merged.npz"))
