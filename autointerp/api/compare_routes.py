"""Comparisons and semantic search over the result store (read-only: no token needed).

A comparison embeds every explanation of the named checkpoints (MiniLM by default, cached
on disk by the embedder) and matches their latents; the reply is ``summary.json``'s
content. Searching ranks latents by the similarity of their explanation to a text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from autointerp.api.schemas import jsonable, records
from autointerp.paths import cache_dir
from autointerp.service.settings import results_root

__all__ = ["router"]

router = APIRouter(tags=["compare"])


def _root(request: Request) -> Path | str:
    return results_root(request.app.state.settings)


@router.get("/compare", summary="Compare checkpoints by their explanations (and decoders)")
def compare_checkpoints(
    request: Request,
    checkpoints: Annotated[
        list[str],
        Query(description="Two or more sae_sha256 prefixes or run ids (repeat the parameter)."),
    ],
    embedder: Annotated[str, Query(description="'minilm', 'st:<model>' (offline).")] = "minilm",
    close_threshold: Annotated[float, Query(ge=-1, le=1)] = 0.7,
    decoders: Annotated[bool, Query(description="Also match decoder directions.")] = True,
    pairs: Annotated[
        bool,
        Query(
            description="Also return every latent's match (pairs.parquet's rows, both "
            "directions) under 'latent_pairs'."
        ),
    ] = False,
) -> JSONResponse:
    from autointerp.compare import CompareOptions, cached, compare, make_embedder, pairs_frame
    from autointerp.errors import UserInputError

    if embedder.startswith("openai:"):
        raise UserInputError("embedder: the API compares with offline embedders only")
    options = CompareOptions(close_threshold=close_threshold, decoders=decoders)
    result = compare(
        _root(request),
        checkpoints,
        cached(make_embedder(embedder), cache_dir("embeddings")),
        options,
    )
    out = result.summary()
    if pairs:
        out["latent_pairs"] = records(pairs_frame(result))
    return JSONResponse(jsonable(out))


@router.get("/search", summary="Latents whose explanation matches a text")
def search(
    request: Request,
    q: Annotated[str, Query(description="What to look for, in words.")],
    checkpoint: Annotated[list[str] | None, Query(description="Only these checkpoints.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    min_similarity: Annotated[float | None, Query(ge=-1, le=1)] = None,
) -> JSONResponse:
    from autointerp.compare import cached, make_embedder, search_explanations

    df = search_explanations(
        _root(request),
        q,
        cached(make_embedder("minilm"), cache_dir("embeddings")),
        checkpoints=checkpoint,
        limit=limit,
        min_similarity=min_similarity,
    )
    return JSONResponse(jsonable({"items": df.to_dict(orient="records")}))
