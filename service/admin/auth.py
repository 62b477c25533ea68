"""Bearer-token authentication of the admin surface.

The token is compared in constant time, so response timing tells nothing about how much of a
guess was right. The check runs before FastAPI reads the request at all (it parses a JSON body
before any dependency runs), so a caller without the token learns nothing about the input
schema: every request without it gets the same 401, whatever it carries. The presented token
is never logged, not even when it is wrong.

Every refusal is logged, a missing token apart from a wrong one: a client that lost its token
and one that is guessing look different to the operator. A scanner, or a misconfigured client
retrying in a loop, must not flood the log either, so each reason and client address gets at
most one line per window, and the next line says how many were left out.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import SecretStr

__all__ = [
    "RefusalReason",
    "RefusalThrottle",
    "bearer_scheme",
    "bearer_token",
    "guarded_route",
    "token_matches",
]

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


RefusalReason = Literal["no_token", "wrong_token"]
"""``no_token``: no ``Authorization: Bearer`` credentials at all; ``wrong_token``: some that do
not match."""


@dataclass
class _Window:
    opened: float
    suppressed: int = 0


@dataclass
class RefusalThrottle:
    """Decides which refusals are logged: the first per reason and client address, then at most
    one per ``window`` seconds. Remembers at most ``max_tracked`` pairs, so a scan from many
    addresses costs bounded memory; the pair logged longest ago is forgotten first."""

    window: float = 60.0
    max_tracked: int = 1024
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)

    def admit(self, reason: str, client: str, now: float) -> int | None:
        """None to stay silent, else log, saying how many refusals were left out since the
        pair's previous line."""
        key = (reason, client)
        current = self._windows.get(key)
        if current is not None and now - current.opened < self.window:
            current.suppressed += 1
            return None
        suppressed = self._windows.pop(key).suppressed if current is not None else 0
        if len(self._windows) >= self.max_tracked:
            del self._windows[next(iter(self._windows))]
        self._windows[key] = _Window(opened=now)
        return suppressed


def _refusal(detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="enricher-admin"'},
    )


def guarded_route(
    token: SecretStr,
    *,
    clock: Callable[[], float] = time.monotonic,
    throttle: RefusalThrottle | None = None,
) -> type[APIRoute]:
    """A route class whose handler refuses, before anything else, requests without ``token``.

    Every route of the class shares one throttle, so a client probing many paths is limited as
    one client.
    """
    refusals = throttle if throttle is not None else RefusalThrottle()

    def refuse(request: Request, reason: RefusalReason, detail: str) -> JSONResponse:
        client = request.client.host if request.client else "unknown"
        suppressed = refusals.admit(reason, client, clock())
        if suppressed is not None:
            log.warning(
                "admin_token_refused",
                reason=reason,
                method=request.method,
                path=request.url.path,
                client=client,
                suppressed=suppressed,
            )
        return _refusal(detail)

    class AdminRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                presented = bearer_token(request.headers.get("authorization"))
                if presented is None:
                    return refuse(
                        request,
                        "no_token",
                        "a bearer token is required: Authorization: Bearer <token>",
                    )
                if not token_matches(token, presented):
                    return refuse(request, "wrong_token", "the bearer token is not valid")
                return await handler(request)

            return guarded

    return AdminRoute
