"""The one place authentication does IO: flows driven over the transport seam.

An :class:`Authenticator` holds one credential. Before a request it renews the credential if
it is stale; a renewal already under way is joined, never repeated, so a hundred calls that
find a token expired cause one token request, and share its failure too. A request the
credential is refused on renews it once and is sent once more; that answer, whatever it is,
goes back to the adapter to classify, so a refusal can never loop. A refusal of a credential
that has been renewed since the request left renews nothing: the request is simply retried
with the new one.

A request that gets no answer during a renewal ends in :class:`AuthError` carrying the same
``timeout`` or ``connection`` outcome the write itself would have had; the adapter's own
request keeps raising :class:`TransportError`, as it would without authentication.

Identical GETs without credentials (discovery documents) in flight at once over one transport,
from any tenant, share one request, and a 200 answer serves them for a second more: at start-up
every tenant of an issuer asks for its discovery document at the same moment, before any of
them could have filled the cache.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from service.auth.flow import AuthError, Credential
from service.platforms.outcomes import Outcome
from service.transport import HttpRequest, HttpResponse, Transport, TransportError

__all__ = ["Authenticator", "SharedGets", "in_flight_gets"]

_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})


@dataclass
class SharedGets:
    """In-flight GETs that carry no credential, by URL and headers."""

    linger: float = 1.0
    """Seconds a 200 answer keeps serving the same GET after it came. The flows that asked
    fill their discovery cache only when they next run; a flow asking in between would
    otherwise send the request again. Anything else is forgotten at once, so the next flow
    asks again."""
    _pending: dict[tuple[str, tuple[tuple[str, str], ...]], asyncio.Future[HttpResponse]] = field(
        default_factory=dict
    )

    @staticmethod
    def shareable(request: HttpRequest) -> bool:
        return request.method == "GET" and not any(
            name.lower() in _CREDENTIAL_HEADERS for name in request.headers
        )

    async def send(
        self, transport: Transport, request: HttpRequest, timeout: float
    ) -> HttpResponse:
        if not self.shareable(request):
            return await transport.send(request, timeout)
        key = (request.url, tuple(sorted(request.headers.items())))
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(transport.send(request, timeout))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        return await asyncio.shield(pending)

    def _settled(
        self,
        key: tuple[str, tuple[tuple[str, str], ...]],
        done: asyncio.Future[HttpResponse],
    ) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed or done.result().status != 200 or self.linger <= 0:
            self._pending.pop(key, None)
        else:
            done.get_loop().call_later(self.linger, self._forget, key, done)

    def _forget(
        self,
        key: tuple[str, tuple[tuple[str, str], ...]],
        done: asyncio.Future[HttpResponse],
    ) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._pending)


_BY_TRANSPORT: weakref.WeakKeyDictionary[object, SharedGets] = weakref.WeakKeyDictionary()


def in_flight_gets(transport: object) -> SharedGets:
    """The in-flight GETs of every runner over ``transport`` (the process's pool)."""
    gets = _BY_TRANSPORT.get(transport)
    if gets is None:
        gets = _BY_TRANSPORT[transport] = SharedGets()
    return gets


class Authenticator:
    """Sends requests with ``credential`` applied, renewing it as it needs; one per
    credential, shared by every call that uses it."""

    def __init__(
        self,
        credential: Credential,
        transport: Transport,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        shared_gets: SharedGets | None = None,
    ) -> None:
        self._credential = credential
        self._transport = transport
        self._timeout = timeout
        self._clock = clock
        self._shared_gets = shared_gets if shared_gets is not None else in_flight_gets(transport)
        self._generation = 0
        """How many renewals have succeeded; tells a refusal of the current credential from
        a late refusal of one already replaced."""
        self._forced = False
        """Renew before the next request whatever ``stale`` says: the credential was refused."""
        self._renewal: asyncio.Future[int] | None = None

    @property
    def credential(self) -> Credential:
        return self._credential

    @property
    def renewals(self) -> int:
        return self._generation

    async def ready(self) -> None:
        """Renew now if the credential is stale, so that what a renewal discovers (an API
        host) can be read before a request is built. Raises :class:`AuthError`."""
        if self._forced or self._credential.stale(self._clock()):
            await self._renewed()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """The answer to ``request`` with the credential applied. Raises :class:`AuthError`
        when the credential cannot be obtained, :class:`TransportError` when the request
        itself gets no answer."""
        if self._forced or self._credential.stale(self._clock()):  # ready(), inlined: hot path
            await self._renewed()
        generation, response = await self._send(request)
        if not self._credential.rejected(response):
            return response
        if generation == self._generation:
            self._forced = True
        await self.ready()
        return (await self._send(request))[1]

    async def _send(self, request: HttpRequest) -> tuple[int, HttpResponse]:
        generation = self._generation
        response = await self._transport.send(self._credential.apply(request), self._timeout)
        if generation == self._generation:
            self._credential.observe(response)
        return generation, response

    async def _renewed(self) -> int:
        renewal = self._renewal
        if renewal is None:
            renewal = asyncio.ensure_future(self._renew())
            self._renewal = renewal
            renewal.add_done_callback(self._renewal_done)
        # Shielded: a caller abandoning its call must not abandon the renewal the others wait on.
        return await asyncio.shield(renewal)

    def _renewal_done(self, renewal: asyncio.Future[int]) -> None:
        self._renewal = None
        if not renewal.cancelled():
            renewal.exception()  # retrieved here too, for when every waiter has gone

    async def _renew(self) -> int:
        flow = self._credential.renew(self._clock())
        try:
            request = next(flow)
            while True:
                try:
                    response = await self._shared_gets.send(self._transport, request, self._timeout)
                except TransportError as exc:
                    outcome = Outcome.no_answer(exc.kind, f"renewing credentials: {exc}")
                    raise AuthError(outcome) from None
                request = flow.send(response)
        except StopIteration:
            pass
        finally:
            flow.close()
        self._forced = False
        self._generation += 1
        return self._generation
