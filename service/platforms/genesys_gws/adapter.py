"""The Genesys GWS adapter: the tenant's session (cookies, CSRF token) and the
UpdateUserData POST, around the pure parts in ``wire``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.wire import (
    PLATFORM,
    SESSION_PATH,
    GwsSession,
    build_request,
    classify,
    is_session_refusal,
    merge_cookies,
    session_from,
    session_headers,
)
from service.platforms.outcomes import Outcome, OutcomeKind
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, HttpResponse, Transport

__all__ = ["GenesysGwsAdapter", "SessionFailure"]


class SessionFailure(Exception):
    """The session could not be opened; the outcome says why."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class GenesysGwsAdapter:
    platform = PLATFORM
    write_window: WriteWindow = GenesysGwsSettings.WRITE_WINDOW

    def __init__(
        self,
        settings: GenesysGwsSettings,
        fields: Mapping[str, FieldMapping],
        transport: Transport,
        *,
        timeout: float = 10.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        # GWS user data keys need no per-field flags; the mapping is accepted for the common
        # adapter signature.
        self._fields = dict(fields)
        self._transport = transport
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._session: GwsSession | None = None
        self._lock = asyncio.Lock()

    async def send(self, delivery: Delivery) -> Outcome:
        refused = build_request(self._settings, delivery, None)
        if isinstance(refused, Outcome):
            return refused  # unroutable or nothing to write: no session, no call
        return await outcome_of(self._send(delivery))

    async def _send(self, delivery: Delivery) -> Outcome:
        try:
            session, response = await self._write(delivery)
            if isinstance(response, HttpResponse) and is_session_refusal(response):
                # Expired session, rotated token or restarted node: one fresh session, one
                # more try. Still refused means the credentials themselves are refused.
                self._forget(session)
                _, response = await self._write(delivery)
        except SessionFailure as failure:
            return failure.outcome
        if isinstance(response, Outcome):
            return response
        return classify(response, self._wall_clock())

    async def _write(self, delivery: Delivery) -> tuple[GwsSession, HttpResponse | Outcome]:
        session = await self._current_session()
        request = build_request(self._settings, delivery, session)
        if isinstance(request, Outcome):
            return session, request
        response = await self._transport.send(request, self._timeout)
        if response.set_cookies and session is self._session:
            # Load balancers refresh stickiness cookies on any answer; keep them current.
            session.cookies = merge_cookies(
                session.cookies, response.set_cookies, self._wall_clock()
            )
        return session, response

    def _forget(self, session: GwsSession) -> None:
        """Drop ``session`` unless another delivery already replaced it: many writes refused
        at once must lead to one new session, not one each."""
        if self._session is session:
            self._session = None

    async def _current_session(self) -> GwsSession:
        session = self._session
        if session is not None:
            return session
        async with self._lock:  # single flight: many deliveries, one session request
            if self._session is None:
                self._session = await self._open_session()
            return self._session

    async def _open_session(self) -> GwsSession:
        request = HttpRequest(
            "GET",
            self._settings.base_url.rstrip("/") + SESSION_PATH,
            session_headers(self._settings, None),
        )
        response = await self._transport.send(request, self._timeout)
        now = self._wall_clock()
        outcome = classify(response, now)
        if outcome.kind is not OutcomeKind.DELIVERED:
            raise SessionFailure(outcome)
        return session_from(response, now)

    async def close(self) -> None:
        self._session = None
