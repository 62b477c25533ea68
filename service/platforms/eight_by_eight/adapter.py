"""The 8x8 adapter: one POST per delivery, around the pure parts in ``wire``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from service.auth import Authenticator
from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.eight_by_eight.settings import EightByEightSettings
from service.platforms.eight_by_eight.wire import (
    PLATFORM,
    build_request,
    classify,
    credential_of,
    private_values,
)
from service.platforms.outcomes import Outcome
from service.tenant_fields import FieldMapping
from service.transport import HttpRequest, Transport

__all__ = ["EightByEightAdapter"]


class EightByEightAdapter:
    """Sends one delivery per call. Rate limiting (``requests_per_minute``), retries and the
    breaker belong to the delivery engine; this class only builds, sends and classifies."""

    platform = PLATFORM
    write_window: WriteWindow = EightByEightSettings.WRITE_WINDOW

    def __init__(
        self,
        settings: EightByEightSettings,
        fields: Mapping[str, FieldMapping],
        transport: Transport,
        *,
        timeout: float = 10.0,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._fields = dict(fields)
        # Basic tenant_id:action_token travels every time; a refused token was rotated and
        # has nothing to renew, so a 401 is classified at once.
        self._auth = Authenticator(credential_of(settings), transport, timeout=timeout)
        self._wall_clock = wall_clock

    async def send(self, delivery: Delivery) -> Outcome:
        request = build_request(self._settings, self._fields, delivery)
        if isinstance(request, Outcome):
            return request
        return await outcome_of(self._call(request, delivery))

    async def _call(self, request: HttpRequest, delivery: Delivery) -> Outcome:
        response = await self._auth.send(request)
        return classify(response, private_values(delivery.values, self._fields), self._wall_clock())

    async def close(self) -> None:
        return None  # the transport is shared and closed by its owner
