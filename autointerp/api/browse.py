"""Read-only endpoints over the Parquet store: checkpoints, latents, scores, latent detail."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request

from autointerp.api.schemas import LatentDetailOut, Listing, Page, jsonable, records
from autointerp.service.settings import results_root
from autointerp.store.filters import LatentQuery, ScoreQuery
from autointerp.store.search import (
    latent_detail,
    list_checkpoints,
    search_latents,
    search_scores,
)

__all__ = ["router"]

router = APIRouter(tags=["results"])

Order = Literal["asc", "desc"]


def _root(request: Request) -> Path | str:
    root: Path | str = results_root(request.app.state.settings)
    return root


_CHECKPOINT = Query(None, description="A sae_sha256 or a prefix of it.")
_MIN_SCORE = Query(
    None,
    description="Minimum primary metric (AUROC; correlation for simulation, accuracy for "
    "intruder, log-prob change for intervention).",
)
_Q = Query(None, description="Text in the explanation (case-insensitive).")
_LIMIT = Query(50, ge=1, le=1000)
_OFFSET = Query(0, ge=0)


@router.get("/scorers", response_model=Listing, summary="Scorers and their primary metric")
def scorers_list() -> Listing:
    """Every registered scorer and the metric that ``score`` means for it."""
    from autointerp.primary_metrics import primary_metrics

    items = [{"scorer": k, "primary_metric": v} for k, v in sorted(primary_metrics().items())]
    return Listing(total=len(items), items=items)


@router.get("/checkpoints", response_model=Listing, summary="Checkpoints with results")
def checkpoints(request: Request) -> Listing:
    """One item per checkpoint (sae_sha256): model, hook, runs, latents explained, mean
    primary score per scorer, latest run and the checkpoint's path."""
    items = records(list_checkpoints(_root(request)))
    return Listing(total=len(items), items=items)


@router.get("/latents", response_model=Page, summary="Search explained latents")
def latents(
    request: Request,
    checkpoint: str | None = _CHECKPOINT,
    run_id: str | None = None,
    latent: int | None = None,
    scorer: str | None = Query(
        None, description="Only latents this scorer scored; 'score' is then its metric."
    ),
    min_score: float | None = _MIN_SCORE,
    q: str | None = _Q,
    sort: str = Query("key", description="key, score, latent, run_id, checkpoint, created_at"),
    order: Order = "asc",
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> Page:
    """One item per explanation with ``scores`` ({scorer: primary metric}) and ``score``
    (the given scorer's, else the highest)."""
    query = LatentQuery(
        checkpoint=checkpoint,
        run_id=run_id,
        latent=latent,
        scorer=scorer,
        min_score=min_score,
        contains=q,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    total, df = search_latents(_root(request), query)
    return Page(total=total, limit=limit, offset=offset, items=records(df))


@router.get("/scores", response_model=Page, summary="Search score rows")
def scores(
    request: Request,
    checkpoint: str | None = _CHECKPOINT,
    run_id: str | None = None,
    latent: int | None = None,
    scorer: str | None = None,
    min_score: float | None = _MIN_SCORE,
    q: str | None = _Q,
    sort: str = Query(
        "key", description="key, score, latent, run_id, checkpoint, scorer, created_at, or a metric"
    ),
    order: Order = "asc",
    limit: int = _LIMIT,
    offset: int = _OFFSET,
) -> Page:
    """One item per (run, latent, explanation, scorer): every metric with its CI, the
    explanation text and ``score`` (the scorer's primary metric)."""
    query = ScoreQuery(
        checkpoint=checkpoint,
        run_id=run_id,
        latent=latent,
        scorer=scorer,
        min_score=min_score,
        contains=q,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    total, df = search_scores(_root(request), query)
    return Page(total=total, limit=limit, offset=offset, items=records(df))


@router.get(
    "/checkpoints/{checkpoint}/latents/{latent}",
    response_model=LatentDetailOut,
    summary="Everything stored about one latent",
    responses={404: {"description": "Nothing is stored for this latent."}},
)
def latent(
    request: Request,
    checkpoint: str,
    latent: int,
    run_id: str | None = Query(None, description="Only this run."),
) -> LatentDetailOut:
    detail = latent_detail(_root(request), checkpoint, latent, run_id=run_id)
    if detail.empty:
        raise HTTPException(404, f"nothing is stored for checkpoint {checkpoint!r} latent {latent}")
    return LatentDetailOut(
        checkpoint=detail.checkpoint,
        latent=detail.latent,
        stats=jsonable(detail.stats),
        explanations=records(detail.explanations),
        scores=records(detail.scores),
        examples=records(detail.examples),
    )
