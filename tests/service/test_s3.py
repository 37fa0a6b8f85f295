"""Results at an fsspec URL (s3://). S3 itself cannot run here: moto's S3 server stands in
for it (a real HTTP server speaking the S3 API, run in this process), reached through s3fs
exactly as a real bucket would be."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from autointerp.config import RunConfig, ScoringConfig
from autointerp.service.redis_server import free_port
from autointerp.store import list_runs, read_table
from autointerp.store.search import latent_detail, list_checkpoints, search_scores
from tests.service.conftest import Service
from tests.store.builders import SHA_A, build_store

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


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
        n_remote, rows_remote = search_scores(remote, **kwargs)
        n_local, rows_local = search_scores(local, **kwargs)
        assert n_remote == n_local > 0
        pd.testing.assert_frame_equal(rows_remote, rows_local)
    pd.testing.assert_frame_equal(
        list_checkpoints(remote).drop(columns=["sae_path"]),
        list_checkpoints(local).drop(columns=["sae_path"]),
    )
    detail = latent_detail(remote, SHA_A[:6], 0)
    assert detail is not None and len(detail.scores) > 0


@pytest.mark.slow
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
