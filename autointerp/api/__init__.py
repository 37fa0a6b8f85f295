"""The HTTP API (FastAPI): submit and follow jobs, browse checkpoints, latents and scores.

Run it with ``autointerp serve`` or ``uvicorn autointerp.api.app:create_app --factory``;
OpenAPI docs at ``/docs``. Reads are open; calls that start or stop work need
``Authorization: Bearer $AUTOINTERP_API_TOKEN``.
"""

from autointerp.api.app import create_app

__all__ = ["create_app"]
