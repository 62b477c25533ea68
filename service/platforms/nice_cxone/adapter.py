"""The NICE CXone adapter: the login (discovery, the token) and the PUT, around the pure parts
in ``wire``. The login is ``login.CxoneLogin``, one per tenant, renewed at 80% of the token's
lifetime and once on a 401 by the runner, one renewal at a time; its discovery documents are
shared by every tenant on the same transport."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from service.auth import Authenticator, AuthError, shared_discovery
from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.nice_cxone.login import CxoneLogin
from service.platforms.nice_cxone.settings import NiceCxoneSettings
from service.platforms.nice_cxone.wire import PLATFORM, build_request, classify
from service.platforms.outcomes import Outcome
from service.transport import Transport

__all__ = ["NiceCxoneAdapter", "login_of"]


def login_of(settings: NiceCxoneSettings, transport: Transport) -> CxoneLogin:
    return CxoneLogin(
        settings.issuer,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        settings.access_key_id.get_secret_value(),
        settings.access_key_secret.get_secret_value(),
        api_base_url=settings.api_base_url,
        discovery=shared_discovery(transport),
    )


class NiceCxoneAdapter:
    platform = PLATFORM
    write_window: WriteWindow = NiceCxoneSettings.WRITE_WINDOW

    def __init__(
        self,
        settings: NiceCxoneSettings,
        transport: Transport,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._login = login_of(settings, transport)
        self._auth = Authenticator(self._login, transport, timeout=timeout, clock=clock)

    async def send(self, delivery: Delivery) -> Outcome:
        return await outcome_of(self._send(delivery))

    async def _send(self, delivery: Delivery) -> Outcome:
        try:
            await self._auth.ready()  # the API host is known once the login has run
            request = build_request(self._settings, self._login.api_base, delivery)
            if isinstance(request, Outcome):
                return request
            response = await self._auth.send(request)
        except AuthError as failure:
            return failure.outcome
        return classify(response, delivery, self._settings, self._wall_clock())

    async def close(self) -> None:
        return None
