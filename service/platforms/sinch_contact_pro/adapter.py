"""The Sinch Contact Pro adapter: one POST per delivery, around the pure parts in ``wire``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from service.auth import Authenticator
from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.outcomes import Outcome
from service.platforms.sinch_contact_pro.settings import SinchContactProSettings
from service.platforms.sinch_contact_pro.wire import (
    PLATFORM,
    build_request,
    classify,
    credential_of,
)
from service.redaction import Redactor
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, Transport

__all__ = ["SinchContactProAdapter"]


class SinchContactProAdapter:
    """Sends one delivery per call; holds no session, since Basic auth (and the API key)
    travel every time: a refusal has nothing to renew and is final."""

    platform = PLATFORM
    write_window: WriteWindow = SinchContactProSettings.WRITE_WINDOW

    def __init__(
        self,
        settings: SinchContactProSettings,
        fields: Mapping[str, FieldMapping],
        transport: Transport,
        *,
        timeout: float = 10.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # ``fields`` is taken for the constructor every adapter shares: attached data values
        # travel as plain JSON, so no per-field wire flag exists to read from it.
        self._settings = settings
        self._fields = fields
        self._auth = Authenticator(credential_of(settings), transport, timeout=timeout)
        self._wall_clock = wall_clock
        # A vendor page or a connection error may echo the API user's credentials.
        self._redact = Redactor(settings.secret_values())

    async def send(self, delivery: Delivery) -> Outcome:
        request = build_request(self._settings, delivery)
        if isinstance(request, Outcome):
            return request
        return await outcome_of(self._call(request), redact=self._redact)

    async def _call(self, request: HttpRequest) -> Outcome:
        response = await self._auth.send(request)
        outcome = classify(response, self._wall_clock())
        if outcome.excerpt is None:
            return outcome
        return replace(outcome, excerpt=self._redact(outcome.excerpt))

    async def close(self) -> None:
        return None
