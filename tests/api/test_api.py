"""The HTTP API over real HTTP: a real ``autointerp serve`` process over real Parquet files
and a real Redis (see conftest.py). Fixture store (tests/store/test_search.py): checkpoint
aaaa1111... with runs ra1 (latents 0-4 explained, 5 failed) and ra2 (0-1, 2 failed),
checkpoint bbbb2222... with run rb1 (0-2, 3 failed); scorers detection, fuzz (AUROC) and
simulation (correlation)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis as redis_client

from autointerp.service.redis_server import EmbeddedRedis
from tests.api.conftest import TOKEN, Server
from tests.store.builders import SHA_A, SHA_B, TEXTS

pytestmark = pytest.mark.slow  # an `autointerp serve` subprocess and a redis-server


def get(api: Server, path: str, **params: Any) -> Any:
    with api.client() as client:
        reply = client.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_health_and_openapi(api: Server) -> None:
    assert get(api, "/health") == {"status": "ok"}
    spec = get(api, "/openapi.json")
    for path in (
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/{job_id}/cancel",
        "/checkpoints",
        "/latents",
        "/scores",
        "/checkpoints/{checkpoint}/latents/{latent}",
    ):
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    with api.client() as client:
        docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_checkpoints(api: Server) -> None:
    body = get(api, "/checkpoints")
    assert body["total"] == 2
    a, b = body["items"]
    assert (a["checkpoint"], b["checkpoint"]) == (SHA_A, SHA_B)
    assert a["n_runs"] == 2 and a["latest_run_id"] == "ra2" and a["n_latents"] == 5
    assert a["sae_path"] == "/ckpts/aaaa" and a["model"] == "model-aaaa"
    assert a["mean_scores"]["detection"] == pytest.approx(5 / 7)
    assert b["mean_scores"]["simulation"] == pytest.approx(0.1)
    assert a["latest_created_at"].startswith("2025-01-01T02:00:00")


def test_latents_filters(api: Server) -> None:
    body = get(api, "/latents", checkpoint="aaaa", scorer="detection", min_score=0.75)
    assert body["total"] == 3 and (body["limit"], body["offset"]) == (50, 0)
    got = sorted((i["run_id"], i["latent"]) for i in body["items"])
    assert got == [("ra1", 3), ("ra1", 4), ("ra2", 1)]
    item = next(i for i in body["items"] if i["run_id"] == "ra1" and i["latent"] == 3)
    assert item["explanation"] == TEXTS[3] and item["sae_sha256"] == SHA_A
    assert item["scores"] == pytest.approx({"detection": 0.8, "fuzz": 0.7, "simulation": 0.3})
    dogs = get(api, "/latents", q="DOG")
    assert {i["explanation"] for i in dogs["items"]} == {
        "names of dogs",
        "dog breeds",
        "Dogs and cats",
    }
    sim = get(api, "/latents", scorer="simulation", sort="score", order="desc", limit=1)
    assert sim["total"] == 10 and sim["items"][0]["score"] == pytest.approx(0.4)
    only_b = get(api, "/latents", checkpoint=SHA_B)
    assert only_b["total"] == 4 and {i["run_id"] for i in only_b["items"]} == {"rb1"}
    failed = next(i for i in only_b["items"] if i["latent"] == 3)
    assert failed["status"] == "llm_error" and failed["scores"] == {} and failed["score"] is None


def test_latents_pages(api: Server) -> None:
    pages = [get(api, "/latents", limit=4, offset=o) for o in (0, 4, 8, 12)]
    assert [p["total"] for p in pages] == [13] * 4
    assert [len(p["items"]) for p in pages] == [4, 4, 4, 1]
    keys = [(i["run_id"], i["latent"]) for p in pages for i in p["items"]]
    assert len(set(keys)) == 13 and keys == sorted(keys), "pages tile the sorted result"
    past = get(api, "/latents", limit=4, offset=100)
    assert past["total"] == 13 and past["items"] == []


def test_scores_endpoint(api: Server) -> None:
    body = get(api, "/scores", run_id="ra1", latent=2)
    assert body["total"] == 3
    by_scorer = {i["scorer"]: i for i in body["items"]}
    det = by_scorer["detection"]
    assert det["auroc"] == pytest.approx(0.7) and det["score"] == pytest.approx(0.7)
    assert det["auroc_ci_low"] == pytest.approx(0.65) and det["auroc_ci_high"] == pytest.approx(
        0.75
    )
    assert det["explanation"] == TEXTS[2] and det["created_at"].startswith("2025-01-01T00:00")
    assert by_scorer["simulation"]["auroc"] is None, "NaN is null"
    assert by_scorer["simulation"]["score"] == pytest.approx(0.2)
    skipped = get(api, "/scores", run_id="ra1", latent=5)["items"]
    assert {i["status"] for i in skipped} == {"skipped"} and all(
        i["score"] is None for i in skipped
    )
    top = get(api, "/scores", scorer="fuzz", sort="score", order="desc", limit=2, q="o")
    assert [round(i["score"], 2) for i in top["items"]] == [0.8, 0.7]
    paged = [get(api, "/scores", limit=10, offset=o)["items"] for o in range(0, 40, 10)]
    assert sum(len(p) for p in paged) == 39


def test_latent_detail(api: Server) -> None:
    body = get(api, "/checkpoints/aaaa/latents/1")
    assert body["checkpoint"] == SHA_A and body["latent"] == 1
    assert [e["explanation"] for e in body["explanations"]] == ["the keyword def", TEXTS[1]]
    assert len(body["scores"]) == 6
    detection = [s for s in body["scores"] if s["scorer"] == "detection"]
    assert {round(s["auroc_ci_high"], 2) for s in detection} == {0.85, 0.65}
    first = body["examples"][0]
    assert first["tokens"] == ["The", " dog", " w0"] and first["acts"] == [0.0, 2.0, 0.5]
    assert (first["role"], first["quantile"]) == ("explain", 2)
    assert body["stats"]["fire_count"] == 101 and body["stats"]["act_hist"] == [1, 2, 3]
    one_run = get(api, f"/checkpoints/{SHA_A}/latents/1", run_id="ra1")
    assert [e["run_id"] for e in one_run["explanations"]] == ["ra1"]


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/checkpoints/aaaa/latents/99", 404, "nothing is stored"),
        ("/checkpoints/ffff/latents/1", 404, "nothing is stored"),
        ("/checkpoints/aaaa/latents/one", 422, "latent"),
        ("/latents?limit=1001", 422, "limit"),
        ("/latents?offset=-1", 422, "offset"),
        ("/latents?min_score=high", 422, "min_score"),
        ("/latents?sort=nope", 422, "sort 'nope'"),
        ("/scores?order=sideways", 422, "order"),
        ("/jobs/jdoesnotexist", 404, "unknown job"),
        ("/jobs/bad..id", 404, "unknown job"),
    ],
)
def test_bad_reads(api: Server, path: str, status: int, text: str) -> None:
    with api.client() as client:
        reply = client.get(path)
    assert reply.status_code == status, reply.text
    assert text in json.dumps(reply.json()["detail"])


JOB = {"sae": "demo", "latents": "0:4", "scorers": ["detection"], "llm": "local", "seed": 3}


def test_writes_need_the_token(api: Server) -> None:
    with api.client() as anonymous:
        reply = anonymous.post("/jobs", json=JOB)
        assert reply.status_code == 401 and "Bearer" in reply.json()["detail"]
        assert reply.headers["www-authenticate"] == "Bearer"
        assert anonymous.post("/jobs/jx/cancel").status_code == 401
        basic = anonymous.post("/jobs", json=JOB, headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401
    with api.client("wrong-token") as wrong:
        assert wrong.post("/jobs", json=JOB).status_code == 403
        assert wrong.post("/jobs/jx/cancel").status_code == 403
    assert not (api.store / "jobs").exists(), "a refused call records nothing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"latents": "5:2"}, "latents"),
        ({"latents": "abc"}, "latents"),
        ({"config": {"latents": "9:1"}}, "latents"),
        ({"config": {"no_such_key": 1}}, "no_such_key"),
        ({"config": {"corpus": {"n_tokens": "many"}}}, "config.corpus.n_tokens"),
        ({"config": {"corpus": "x"}}, "config.corpus"),
        ({"llm": "carrier-pigeon"}, "--llm"),
        ({"explainer_name": "default"}, "explainer_name"),
        ({"seed": "abc"}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"scorers": 5}, "scorers"),
        ({"scorers": []}, "scoring.scorers"),
    ],
)
def test_bad_job_requests(api: Server, body: dict[str, Any], field: str) -> None:
    with api.client(TOKEN) as client:
        reply = client.post("/jobs", json=body)
    assert reply.status_code == 422, reply.text
    assert field in json.dumps(reply.json()["detail"])


def test_malformed_json(api: Server) -> None:
    with api.client(TOKEN) as client:
        reply = client.post(
            "/jobs", content=b'{"latents": ', headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == 422 and "json" in reply.text.lower()
        not_object = client.post("/jobs", json=["sae", "demo"])
        assert not_object.status_code == 422


def test_submit_follow_and_cancel_a_job(api: Server, redis: EmbeddedRedis) -> None:
    queue = redis_client.Redis.from_url(redis.url)
    before = queue.llen("model")
    with api.client(TOKEN) as client:
        reply = client.post("/jobs", json=JOB)
        assert reply.status_code == 202, reply.text
        body = reply.json()
        job_id = body["job_id"]
        assert body["new"] is True and body["status_url"] == f"/jobs/{job_id}"
        assert queue.llen("model") == before + 1, "the plan task is on the 'model' queue"
        record = json.loads((api.store / "jobs" / job_id / "job.json").read_text())
        assert record["origin"] == "api" and record["config"]["latents"] == "0:4"
        assert record["config"]["scoring"]["scorers"] == ["detection"]
        assert record["config"]["seed"] == 3
        status = client.get(body["status_url"]).json()
        assert status["state"] == "queued" and status["job_id"] == job_id
        again = client.post("/jobs", json=JOB).json()
        assert again == {**body, "new": False}, "the same config is the same job"
        listed = client.get("/jobs").json()
        assert listed["total"] >= 1 and job_id in [j["job_id"] for j in listed["items"]]
        cancelled = client.post(f"/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert client.get(f"/jobs/{job_id}").json()["state"] == "cancelled"
        only = client.get("/jobs", params={"state": "cancelled"}).json()
        assert [j["job_id"] for j in only["items"]] == [job_id]
        assert client.post("/jobs/jnosuchjob/cancel").status_code == 404


def test_queue_down_is_a_503_and_records_nothing(api: Server, redis: EmbeddedRedis) -> None:
    jobs = set((api.store / "jobs").glob("*"))
    redis.stop()
    try:
        with api.client(TOKEN) as client:
            reply = client.post("/jobs", json={**JOB, "seed": 99})
    finally:
        redis.start()
    assert reply.status_code == 503, reply.text
    assert "cannot reach Redis at redis://127.0.0.1" in reply.json()["detail"]
    assert set((api.store / "jobs").glob("*")) == jobs


def test_flat_fields_and_config_combine(api: Server) -> None:
    body = {"config": {"sampling": {"n_explain": 7}, "scoring": {"scorers": ["fuzz"]}}}
    body |= {"scorers": "detection,fuzz", "llm": "http://127.0.0.1:9/v1", "llm_model": "m"}
    with api.client(TOKEN) as client:
        reply = client.post("/jobs", json=body)
    assert reply.status_code == 202, reply.text
    job = api.store / "jobs" / reply.json()["job_id"] / "job.json"
    config = json.loads(job.read_text())["config"]
    assert config["sampling"]["n_explain"] == 7
    assert config["scoring"]["scorers"] == ["detection", "fuzz"], "flat fields win"
    assert (config["llm"]["backend"], config["llm"]["base_url"]) == (
        "openai",
        "http://127.0.0.1:9/v1",
    )


def test_no_token_configured_refuses_writes(bare_api: Server) -> None:
    with bare_api.client("anything") as client:
        reply = client.post("/jobs", json=JOB)
        assert reply.status_code == 503 and "AUTOINTERP_API_TOKEN" in reply.json()["detail"]
        assert client.post("/jobs/jx/cancel").status_code == 503
        assert client.get("/health").status_code == 200


def test_corrupt_store_is_a_500_naming_the_file(bare_api: Server) -> None:
    with bare_api.client() as client:
        for path in ("/scores", "/latents", "/checkpoints", "/checkpoints/aaaa/latents/1"):
            reply = client.get(path)
            assert reply.status_code == 500, (path, reply.text)
            detail = reply.json()["detail"]
            assert "broken.parquet" in detail and "Traceback" not in reply.text
