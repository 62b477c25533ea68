"""The Genesys GWS adapter: the UpdateUserData POST around the pure parts in ``wire``, sent
through the tenant's session (:class:`service.auth.SessionCookie`: Basic on every request,
the session's cookies, its CSRF token on writes). The runner opens the session before the
first write, one request however many writes wait, and opens one new session when a write is
refused for its session; a write refused again is classified by ``wire``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from service.auth import Authenticator, AuthError, BasicAuth, SessionCookie
from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.genesys_gws.settings import GenesysGwsSettings
from service.platforms.genesys_gws.wire import (
    PLATFORM,
    SESSION_PATH,
    build_request,
    classify,
    is_session_refusal,
    login_failure,
)
from service.platforms.outcomes import Outcome
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, HttpResponse, Transport

__all__ = ["GenesysGwsAdapter", "session_login"]


def session_login(
    settings: GenesysGwsSettings, wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> SessionCookie:
    """The tenant's GWS session flow."""

    def refused_login(response: HttpResponse) -> AuthError | None:
        outcome = login_failure(response, wall_clock())
        return None if outcome is None else AuthError(outcome)

    password = settings.password.get_secret_value()
    return SessionCookie(
        settings.base_url.rstrip("/") + SESSION_PATH,
        BasicAuth(settings.username, password),
        login_failure=refused_login,
        refused=is_session_refusal,
        secrets=(password,),
        wall_clock=wall_clock,
    )


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
        self._wall_clock = wall_clock
        self._auth = Authenticator(session_login(settings, wall_clock), transport, timeout=timeout)

    async def send(self, delivery: Delivery) -> Outcome:
        request = build_request(self._settings, delivery)
        if isinstance(request, Outcome):
            return request  # unroutable or nothing to write: no session, no call
        return await outcome_of(self._send(request))

    async def _send(self, request: HttpRequest) -> Outcome:
        try:
            response = await self._auth.send(request)
        except AuthError as failure:
            return failure.outcome
        return classify(response, self._wall_clock())

    async def close(self) -> None:
        return None
