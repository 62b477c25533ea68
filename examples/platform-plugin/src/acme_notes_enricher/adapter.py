"""The IO around the pure wire functions: log in, send, classify. Vendor trouble always comes
back as an :class:`~service.platforms.outcomes.Outcome`, never as an exception."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from service.platforms.base import Delivery, WriteWindow
from service.platforms.calls import outcome_of
from service.platforms.outcomes import Outcome
from service.transport import Transport

from acme_notes_enricher.settings import AcmeNotesSettings
from acme_notes_enricher.wire import PLATFORM, build_request, classify, read_token, token_request

__all__ = ["AcmeNotesAdapter"]

RENEW_AT = 0.8
"""A token is renewed once this share of its lifetime has passed, before the vendor refuses it."""


class AcmeNotesAdapter:
    platform = PLATFORM

    def __init__(self, settings: AcmeNotesSettings, transport: Transport, timeout: float) -> None:
        self._settings = settings
        self._transport = transport
        self._timeout = timeout
        self.write_window: WriteWindow = settings.write_window()
        self._token: str | None = None
        self._renew_after = 0.0
        self._login = asyncio.Lock()
        """One login at a time: a hundred calls that find the token stale wait for one."""

    async def send(self, delivery: Delivery) -> Outcome:
        return await outcome_of(self._send(delivery))

    async def _send(self, delivery: Delivery) -> Outcome:
        outcome = await self._call(delivery)
        if outcome.status == 401 and outcome.reason == "auth_failed":
            # The write was refused with a token revoked early: log in once more, and resend.
            self._token = None
            outcome = await self._call(delivery)
        return outcome

    async def _call(self, delivery: Delivery) -> Outcome:
        token = await self._current_token()
        if isinstance(token, Outcome):
            return token
        request = build_request(self._settings, delivery, token)
        if isinstance(request, Outcome):
            return request
        response = await self._transport.send(request, self._timeout)
        return classify(response, datetime.now(UTC))

    async def _current_token(self) -> str | Outcome:
        async with self._login:
            if self._token is not None and time.monotonic() < self._renew_after:
                return self._token
            response = await self._transport.send(token_request(self._settings), self._timeout)
            token = read_token(response)
            if isinstance(token, Outcome):
                return token
            self._token = token.value
            self._renew_after = time.monotonic() + token.expires_in * RENEW_AT
            return token.value

    async def close(self) -> None:
        return None
