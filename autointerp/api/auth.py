"""Bearer-token check for the calls that start or stop work."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["require_token"]

_bearer = HTTPBearer(
    auto_error=False,
    description="The server's AUTOINTERP_API_TOKEN, sent as 'Authorization: Bearer <token>'.",
)


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """503 when the server has no token configured, 401 when none was sent (or not as a
    Bearer token), 403 when it is wrong."""
    expected: str | None = request.app.state.settings.api_token
    if not expected:
        raise HTTPException(
            503,
            "this server accepts no writes: no API token is configured "
            "(set AUTOINTERP_API_TOKEN on the server)",
        )
    if credentials is None:
        raise HTTPException(
            401,
            "missing token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(403, "wrong API token")
