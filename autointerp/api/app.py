"""The FastAPI application: ``create_app(settings)``, also a factory for uvicorn
(``uvicorn autointerp.api.app:create_app --factory``).

Errors: a user mistake (:class:`~autointerp.errors.UserInputError`, e.g. a bad latent
range) is a 422 whose ``detail`` names the field; an unknown job is a 404; a store that
cannot be read is a 500 naming the file; anything else is a 500 with the error's type and
message (the traceback goes to the server log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from autointerp import __version__
from autointerp.api import browse, compare_routes, interop_routes, job_routes, neuronpedia, web
from autointerp.api.schemas import Health
from autointerp.errors import AutointerpError, StoreError, UserInputError
from autointerp.service.jobs import JobNotFoundError
from autointerp.service.settings import ServiceSettings, get_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _error(status: int, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": str(exc)})


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return _error(404, exc)


async def _user_error(_request: Request, exc: Exception) -> JSONResponse:
    return _error(422, exc)


async def _server_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("%s: %s", type(exc).__name__, exc)
    return _error(500, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
    detail = f"internal error ({type(exc).__name__}: {exc}); see the server log"
    return JSONResponse(status_code=500, content={"detail": detail})


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    from autointerp.primary_metrics import primary_metrics

    primary_metrics()  # import the scorer plugins once, before the first query
    yield


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The API over ``settings.store`` (default: the settings the environment gives)."""
    app = FastAPI(
        title="autointerp",
        version=__version__,
        description="Submit interpretability runs and browse their explanations and scores.",
        lifespan=_lifespan,
    )
    app.state.settings = settings or get_settings()
    app.add_exception_handler(JobNotFoundError, _not_found)
    app.add_exception_handler(UserInputError, _user_error)
    app.add_exception_handler(StoreError, _server_error)
    app.add_exception_handler(AutointerpError, _server_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(status="ok")

    app.include_router(job_routes.router)
    app.include_router(browse.router)
    app.include_router(compare_routes.router)
    app.include_router(interop_routes.router)
    neuronpedia.mount(app)  # Neuronpedia's autointerp-server endpoints under /v1
    web.mount(app)
    return app
