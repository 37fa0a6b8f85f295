"""Job endpoints: submit a run config, list, follow and cancel jobs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from autointerp.api.auth import require_token
from autointerp.api.schemas import JobRequest, JobSubmitted, Page, jsonable
from autointerp.config import RunConfig
from autointerp.config.build import build_config, given
from autointerp.errors import ServiceUnavailableError
from autointerp.service.jobs import JobStore, check_config
from autointerp.service.settings import ServiceSettings

__all__ = ["request_config", "router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])

_FLAT = {
    "sae": "sae",
    "model": "model",
    "corpus": "corpus.path",
    "latents": "latents",
    "explainer": "explain.explainer",
    "scorers": "scoring.scorers",
    "seed": "seed",
}


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


def request_config(req: JobRequest) -> RunConfig:
    """Defaults <- ``req.config`` <- the flat fields <- ``llm``/``llm_model``
    (:func:`autointerp.config.build.build_config`); checked as a worker would check it
    before loading anything (ConfigError naming the field otherwise)."""
    flat = {dotted: getattr(req, name) for name, dotted in _FLAT.items()}
    cfg = build_config(req.config, assign=given(flat), llm=req.llm, llm_model=req.llm_model)
    check_config(cfg)
    return cfg


@router.post(
    "",
    status_code=202,
    response_model=JobSubmitted,
    dependencies=[Depends(require_token)],
    summary="Submit a run",
    responses={
        422: {"description": "Invalid config (the message names the field)."},
        503: {"description": "No API token configured, or the queue (Redis) is down."},
    },
)
def submit_job(req: JobRequest, request: Request) -> JobSubmitted:
    """Record the job (its id is a hash of the config: the same config is the same job)
    and enqueue its first task; poll ``status_url`` to follow it."""
    cfg = request_config(req)
    settings = _settings(request)
    from autointerp.tasks import submit

    try:
        job_id, new = submit(cfg, origin="api", settings=settings)
    except ServiceUnavailableError as exc:  # Redis down: nothing was recorded
        raise HTTPException(503, str(exc)) from None
    url = request.app.url_path_for("job_status", job_id=job_id)
    return JobSubmitted(job_id=job_id, new=new, status_url=str(url))


@router.get("", response_model=Page, summary="List jobs, newest first")
def list_jobs(
    request: Request,
    state: str | None = Query(
        None, description="Only jobs in this state (queued, caching, running, done, ...)."
    ),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page:
    jobs = JobStore(_settings(request).store).list_jobs()
    if state:
        jobs = [j for j in jobs if j.get("state") == state]
    items = [jsonable(j) for j in jobs[offset : offset + limit]]
    return Page(total=len(jobs), limit=limit, offset=offset, items=items)


@router.get("/{job_id}", name="job_status", summary="A job's state and progress")
def job_status(job_id: str, request: Request) -> JSONResponse:
    return JSONResponse(jsonable(JobStore(_settings(request).store).status(job_id)))


@router.post(
    "/{job_id}/cancel",
    dependencies=[Depends(require_token)],
    summary="Cancel a job (its remaining tasks stop at their next check)",
)
def cancel_job(job_id: str, request: Request) -> JSONResponse:
    return JSONResponse(jsonable(JobStore(_settings(request).store).cancel(job_id)))
