"""The IO around the pure wire functions: log in, send, classify. Vendor trouble always comes
back as an :class:`~service.platforms.outcomes.Outcome`, never as an exception."""

from __future__ import annotations

from datetime import UTC, datetime

from service.auth import Authenticator, AuthError, ClientCredentials
from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.outcomes import Outcome
from service.transport import HttpRequest, Transport

from acme_notes_enricher.settings import AcmeNotesSettings
from acme_notes_enricher.wire import PLATFORM, build_request, classify, token_url

__all__ = ["AcmeNotesAdapter"]


class AcmeNotesAdapter:
    platform = PLATFORM

    def __init__(self, settings: AcmeNotesSettings, transport: Transport, timeout: float) -> None:
        self._settings = settings
        self.write_window: WriteWindow = settings.write_window()
        # The tenant's one credential: renewed once however many calls find it stale, and
        # once more when a write is refused with 401.
        login = ClientCredentials(
            token_url(settings), settings.client_id, settings.client_secret.get_secret_value()
        )
        self._auth = Authenticator(login, transport, timeout=timeout)

    async def send(self, delivery: Delivery) -> Outcome:
        request = build_request(self._settings, delivery)
        if isinstance(request, Outcome):
            return request  # not addressable: no login, no call
        return await outcome_of(self._send(request))

    async def _send(self, request: HttpRequest) -> Outcome:
        try:
            response = await self._auth.send(request)
        except AuthError as exc:  # the login failed; its outcome says whether for good
            return exc.outcome
        return classify(response, datetime.now(UTC))

    async def close(self) -> None:
        return None
