"""Comparisons and semantic search over HTTP: a real `autointerp serve` process on a store of
real Parquet files (tests.compare.build_store), queried with httpx."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from autointerp.saes import load_sae
from tests.api.conftest import Server, start_server, stop_server
from tests.compare import N, build_store

pytestmark = pytest.mark.slow  # an `autointerp serve` subprocess and MiniLM


@pytest.fixture(scope="module")
def shas() -> dict[str, str]:
    return {"demo": load_sae("demo").info.sha256, "random": load_sae("random:demo").info.sha256}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shas: dict[str, str]) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("api-compare")
    store = build_store(root / "store", shas["demo"], shas["random"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINTERP_")}
    env |= {
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "AUTOINTERP_CACHE_DIR": str(root / "cache"),  # the embedding cache starts empty
    }
    srv = start_server(store, root / "serve.log", env)
    try:
        yield srv
    finally:
        stop_server(srv)


def test_compare_a_checkpoint_with_itself_and_with_a_random_sae(
    server: Server, shas: dict[str, str]
) -> None:
    with server.client() as client:
        reply = client.get("/compare", params={"checkpoints": [shas["demo"], shas["demo"][:6]]})
        assert reply.status_code == 200, reply.text
        (pair,) = reply.json()["pairs"]
        assert pair["matched"]["n"] == N and pair["matched"]["min"] > 0.999
        assert pair["share_close"]["a_to_b"] == 1.0
        assert pair["decoders"]["agreement"] == 1.0
        reply = client.get("/compare", params={"checkpoints": [shas["demo"], shas["random"]]})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        (pair,) = body["pairs"]
        assert abs(pair["lift"]) < 0.04 and pair["ks"]["pvalue"] > 0.05
        assert len(body["matrix"]["mean_matched"]) == 2


def test_compare_bad_requests(server: Server, shas: dict[str, str]) -> None:
    with server.client() as client:
        one = client.get("/compare", params={"checkpoints": [shas["demo"]]})
        assert one.status_code == 422 and "at least 2" in one.json()["detail"]
        unknown = client.get("/compare", params={"checkpoints": [shas["demo"], "ffff0000"]})
        assert unknown.status_code == 422 and "ffff0000" in unknown.json()["detail"]
        missing = client.get("/compare")
        assert missing.status_code == 422
        remote = client.get(
            "/compare", params={"checkpoints": [shas["demo"]] * 2, "embedder": "openai:x"}
        )
        assert remote.status_code == 422 and "embedder" in remote.json()["detail"]


def test_semantic_search(server: Server, shas: dict[str, str]) -> None:
    with server.client() as client:
        reply = client.get("/search", params={"q": "automobiles and driving a car", "limit": 3})
        assert reply.status_code == 200, reply.text
        items = reply.json()["items"]
        assert [i["explanation"] for i in items] == ["cars and driving"] * 3
        only = client.get(
            "/search", params={"q": "cars", "checkpoint": shas["demo"], "limit": 5}
        ).json()["items"]
        assert only and {i["checkpoint"] for i in only} == {shas["demo"]}
        assert client.get("/search", params={"q": " "}).status_code == 422
        assert client.get("/search").status_code == 422
