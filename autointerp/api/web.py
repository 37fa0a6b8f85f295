"""The web page: static files (plain HTML, CSS and JavaScript, no build step) served at
``/ui/``, reading the same JSON endpoints as any other client. ``/`` redirects there.

Views (hash routes, so the page needs no server-side routing):

- ``#/``                               checkpoints with their score summaries
- ``#/latents?checkpoint=..&q=..``     the latent browser (filter, sort, search, pages)
- ``#/latent/<checkpoint>/<latent>``   explanations, every score with its CI, examples
                                       with tokens highlighted by activation
- ``#/compare?c=<A>&c=<B>``            matched latents of two checkpoints side by side
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount"]

STATIC_DIR = Path(str(resources.files("autointerp.api") / "static"))

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui")
def ui() -> RedirectResponse:
    return RedirectResponse("/ui/")


def mount(app: FastAPI) -> None:
    """Serve the page at ``/ui/`` and redirect ``/`` to it."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
