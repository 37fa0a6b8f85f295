"""Store files at a URL: the job store, statistics and the replay store through fsspec
(``memory://`` here, the same calls s3fs answers; tests/service/test_s3.py runs a job on an S3
server), and backend failures as ``StoreError`` naming the file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from autointerp.cache.replayed import load_windows, save_windows
from autointerp.cache.stats import LatentStats
from autointerp.config import RunConfig
from autointerp.errors import StoreError
from autointerp.service.jobs import JobStore
from autointerp.store.files import (
    RemotePath,
    StorePath,
    glob,
    read_parquet,
    rmtree,
    store_path,
    write_parquet,
    write_text,
)


@pytest.fixture(params=["local", "url"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorePath]:
    if request.param == "local":
        yield tmp_path / "store"
        return
    url = f"memory://autointerp-{uuid.uuid4().hex[:8]}/store"
    path = store_path(url)
    yield path
    rmtree(path)


def test_url_roots_are_remote_paths_and_local_roots_stay_paths(tmp_path: Path) -> None:
    assert store_path(tmp_path) == tmp_path
    assert store_path(str(tmp_path)) == tmp_path
    remote = store_path("memory://bucket/store")
    assert isinstance(remote, RemotePath)
    child = remote / "jobs" / "j1" / "job.json"
    assert str(child).startswith("memory://")
    assert str(child).endswith("/bucket/store/jobs/j1/job.json")
    assert (child.name, child.stem, child.parent.name) == ("job.json", "job", "j1")


def test_job_lifecycle_on_the_store(root: StorePath) -> None:
    store = JobStore(root)
    job_id, new = store.create(RunConfig(latents="1,2"), "cli")
    assert new and store.exists(job_id) and store.status(job_id)["state"] == "queued"
    store.mark(job_id, "shard-00000")
    assert store.is_marked(job_id, "shard-00000")
    assert store.status(job_id)["shards_done"] == 1
    store.cancel(job_id)
    assert store.status(job_id)["state"] == "cancelled"
    assert store.create(RunConfig(latents="1,2"), "api") == (job_id, False)
    assert store.status(job_id)["state"] == "queued"  # the cancel marker is gone
    batch = store.paths(job_id).batch(0)
    write_text(batch / "explanations.json", '[{"status": "llm_error"}, {"status": "ok"}]')
    write_text(batch / "scores-fuzz.json", '[{"status": "failed"}]')
    assert store.repairs(job_id) == {"explanations": 1, "scores": 1}
    assert [r["job_id"] for r in store.list_jobs()] == [job_id]
    store.unmark(job_id, "shard-00000")
    assert not store.is_marked(job_id, "shard-00000")
    assert [p.name for p in glob(store.paths(job_id).root, "*.json")] == ["job.json"]


def test_arrays_and_tables_round_trip(root: StorePath) -> None:
    stats = LatentStats.empty(5, 3, 4, seed=1)
    stats.save(root / "stats.npz")
    again = LatentStats.load(root / "stats.npz")
    assert (again.seed, again.n_windows) == (stats.seed, stats.n_windows)
    windows = np.array([3, 1, 4], dtype=np.int64)
    save_windows(root / "replay", windows)
    np.testing.assert_array_equal(load_windows(root / "replay"), windows)
    table = pa.table({"a": [1, 2]})
    write_parquet(root / "tables" / "t.parquet", table)
    assert read_parquet(root / "tables" / "t.parquet").equals(table)


def test_unreadable_files_raise_store_errors_naming_them(root: StorePath) -> None:
    write_text(root / "stats.npz", "not an npz")
    with pytest.raises(StoreError, match=r"stats\.npz"):
        LatentStats.load(root / "stats.npz")
    with pytest.raises(StoreError, match=r"missing\.npy"):
        load_windows(root / "missing.npy")  # the folder, whose windows.npy is absent
    store = JobStore(root)
    job_id, _ = store.create(RunConfig(latents="1"), "cli")
    write_text(store.paths(job_id).plan, "{broken")
    with pytest.raises(StoreError, match=r"plan\.json"):
        store.status(job_id)
