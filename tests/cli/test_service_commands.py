"""submit, run as a user would run it (subprocesses) against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import cli

pytestmark = pytest.mark.slow  # every test runs the console script in a subprocess (~3 s each)


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
