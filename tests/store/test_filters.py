"""The one query object: validated once (the field named in the error), frozen, and the
same rows whichever front door builds it: the store functions, ``autointerp scores`` and
the HTTP endpoints ``/scores`` and ``/latents`` (in process, over the fixture store of
tests/store/builders.py)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autointerp.cli import main
from autointerp.errors import UserInputError
from autointerp.store.filters import LATENT_SORTS, SCORE_SORTS, LatentQuery, ScoreQuery
from autointerp.store.search import scores_page, search_latents, search_scores
from tests.store.builders import build_store


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sort": "nope"}, "sort 'nope': expected one of key, score, latent"),
        ({"offset": -1}, "offset -1: expected >= 0"),
        ({"limit": -5}, "limit -5: expected >= 0"),
        ({"min_score": "high"}, "min_score 'high': expected a number"),
    ],
)
@pytest.mark.parametrize("kind", [ScoreQuery, LatentQuery])
def test_bad_values_name_the_field(kind: type, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        kind(**fields)


def test_each_kind_has_its_sorts() -> None:
    assert ScoreQuery(sort="scorer").sort == "scorer"
    assert ScoreQuery(sort="auroc").sort == "auroc", "any metric column"
    assert set(LATENT_SORTS) < set(SCORE_SORTS)
    with pytest.raises(UserInputError, match="sort 'scorer': expected one of key, score"):
        LatentQuery(sort="scorer")


def test_defaults_frozen_and_keyword_only() -> None:
    query = ScoreQuery()
    assert (query.sort, query.descending, query.limit, query.offset) == ("key", False, 50, 0)
    assert ScoreQuery(limit=None).limit is None and ScoreQuery(limit=0).limit == 0
    assert ScoreQuery(min_score=1).min_score == 1.0
    assert isinstance(ScoreQuery(min_score=1).min_score, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.limit = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        ScoreQuery("aaaa")  # type: ignore[misc]
    assert ScoreQuery(scorer="fuzz") == ScoreQuery(scorer="fuzz"), "a value: equal, hashable"
    assert len({ScoreQuery(scorer="fuzz"), ScoreQuery(scorer="fuzz")}) == 1


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("filters") / "store")


@pytest.fixture(scope="module")
def api(store: Path) -> Iterator[TestClient]:
    from autointerp.api import create_app
    from autointerp.service.settings import ServiceSettings

    with TestClient(create_app(ServiceSettings(store=store, results_url=None))) as client:
        yield client


FILTERS: list[dict[str, Any]] = [
    {},
    {"checkpoint": "aaaa", "scorer": "detection", "min_score": 0.75},
    {"contains": "dog", "sort": "score", "descending": True, "limit": 3},
    {"run_id": "ra1", "sort": "latent", "descending": True, "limit": 4, "offset": 1},
    {"checkpoint": "aaaa", "latent": 2},
    {"scorer": "simulation", "sort": "score", "limit": 2, "offset": 2},
]
KEY = ("run_id", "latent", "explanation_id")


def _cli_args(store: Path, f: dict[str, Any]) -> list[str]:
    args = ["scores", "--out", str(store), "--format", "json", "--limit", str(f.get("limit", 50))]
    names = {"checkpoint": "--checkpoint", "run_id": "--run", "latent": "--latent"}
    names |= {"scorer": "--scorer", "min_score": "--min-score", "contains": "--contains"}
    names |= {"sort": "--sort", "offset": "--offset"}
    for field, flag in names.items():
        if field in f:
            args += [flag, str(f[field])]
    return args + (["--desc"] if f.get("descending") else [])


def _http_params(f: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in f.items() if k not in ("contains", "descending")}
    if "contains" in f:
        params["q"] = f["contains"]
    return params | {"order": "desc" if f.get("descending") else "asc"}


@pytest.mark.parametrize("f", FILTERS)
def test_store_cli_and_api_give_the_same_score_rows(
    f: dict[str, Any], store: Path, api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    total, rows = search_scores(store, ScoreQuery(**f))
    want = [tuple(r) for r in rows[[*KEY, "scorer"]].itertuples(index=False)]
    assert want, "each filter matches some rows"
    assert rows.empty or len(rows) == min(total - f.get("offset", 0), f.get("limit", 50))
    page_total, page = scores_page(store, ScoreQuery(**f))
    assert page_total == total
    assert [tuple(r) for r in page[[*KEY, "scorer"]].itertuples(index=False)] == want
    assert main(_cli_args(store, f)) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["latent"], r["explanation_id"], r["scorer"]) for r in cli] == want
    reply = api.get("/scores", params=_http_params(f))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["total"] == total
    got = [(i["run_id"], i["latent"], i["explanation_id"], i["scorer"]) for i in body["items"]]
    assert got == want


@pytest.mark.parametrize("f", FILTERS)
def test_store_and_api_give_the_same_latent_rows(
    f: dict[str, Any], store: Path, api: TestClient
) -> None:
    total, rows = search_latents(store, LatentQuery(**f))
    want = [tuple(r) for r in rows[list(KEY)].itertuples(index=False)]
    assert want, "each filter matches some rows"
    reply = api.get("/latents", params=_http_params(f))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["total"] == total
    assert [(i["run_id"], i["latent"], i["explanation_id"]) for i in body["items"]] == want


def test_every_front_door_rejects_the_same_value_the_same_way(
    store: Path, api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "sort 'nope': expected one of"
    assert main(["scores", "--out", str(store), "--sort", "nope"]) == 2
    assert message in capsys.readouterr().err
    for path in ("/scores", "/latents"):
        reply = api.get(path, params={"sort": "nope"})
        assert reply.status_code == 422 and message in reply.json()["detail"]
