"""The generic platform's adapter: the IO around the pure request builder and outcome table.

Credentials are not its business: it sends through a :class:`Sender`, which is the transport
itself for ``auth: {type: none}`` and an :class:`~service.auth.Authenticator` for the others
(which applies the credential, renews it when due, and after a 401 renews it once and sends
once more; the answer after that is this table's to classify).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from service.auth import Authenticator, AuthError
from service.platforms.base import Delivery, WriteWindow
from service.platforms.http.credentials import credential_for
from service.platforms.http.outcome_table import classify
from service.platforms.http.request import RequestPlan
from service.platforms.http.settings import HttpSettings
from service.platforms.outcomes import Outcome
from service.transport import HttpRequest, HttpResponse, Transport, TransportError

__all__ = ["PLATFORM", "HttpAdapter", "Sender", "TransportSender", "sender_for"]

PLATFORM = "http"


class Sender(Protocol):
    async def send(self, request: HttpRequest) -> HttpResponse:
        """The answer; raises :class:`TransportError` when there is none."""
        ...


class TransportSender:
    """Sends as it is, with the tenant's timeout: the sender of an endpoint without auth."""

    def __init__(self, transport: Transport, timeout: float) -> None:
        self._transport = transport
        self._timeout = timeout

    async def send(self, request: HttpRequest) -> HttpResponse:
        return await self._transport.send(request, self._timeout)


def sender_for(settings: HttpSettings, transport: Transport, timeout: float) -> Sender:
    """How a tenant's writes go out: through its auth flow, or as they are."""
    credential = credential_for(settings.auth)
    if credential is None:
        return TransportSender(transport, timeout)
    return Authenticator(credential, transport, timeout=timeout)


class HttpAdapter:
    platform = PLATFORM

    def __init__(
        self,
        settings: HttpSettings,
        sender: Sender,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._plan = RequestPlan(settings)
        self._rules = tuple(settings.outcomes)
        self._sender = sender
        self._wall_clock = wall_clock
        self.write_window: WriteWindow = settings.write_window()

    async def send(self, delivery: Delivery) -> Outcome:
        request = self._plan.build(delivery)
        if isinstance(request, Outcome):
            return request
        try:
            response = await self._sender.send(request)
        except AuthError as failure:
            return failure.outcome
        except TransportError as exc:
            return Outcome.no_answer(exc.kind, str(exc))
        return classify(response, self._rules, delivery.closed_at, self._wall_clock())

    async def close(self) -> None:
        return None
