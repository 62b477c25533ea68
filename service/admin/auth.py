"""Bearer-token authentication of the admin surface.

The token is compared in constant time, so response timing tells nothing about how much of a
guess was right. The check runs before FastAPI reads the request at all (it parses a JSON body
before any dependency runs), so a caller without the token learns nothing about the input
schema: every request without it gets the same 401, whatever it carries. The presented token
is never logged, not even when it is wrong.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import SecretStr

__all__ = ["bearer_scheme", "bearer_token", "guarded_route", "token_matches"]

log = structlog.get_logger("enricher.admin")

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="The token in `ENRICHER_ADMIN_TOKEN` (or the file `ENRICHER_ADMIN_TOKEN_FILE`).",
)
"""Declares the scheme in OpenAPI; :func:`guarded_route` is what enforces it."""


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def token_matches(expected: SecretStr, presented: str | None) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(
        expected.get_secret_value().encode("utf-8"), presented.encode("utf-8", "replace")
    )


def _refusal(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="enricher-admin"'},
    )


def guarded_route(token: SecretStr) -> type[APIRoute]:
    """A route class whose handler refuses, before anything else, requests without ``token``."""

    class AdminRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                presented = bearer_token(request.headers.get("authorization"))
                if presented is None:
                    return _refusal("a bearer token is required: Authorization: Bearer <token>")
                if not token_matches(token, presented):
                    client = request.client.host if request.client else None
                    log.warning("admin_token_refused", path=request.url.path, client=client)
                    return _refusal("the bearer token is not valid")
                return await handler(request)

            return guarded

    return AdminRoute
