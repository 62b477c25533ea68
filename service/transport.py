"""The vendor HTTP seam: one small request/response pair and one adapter.

Adapters build :class:`HttpRequest` values and read :class:`HttpResponse` values; only
:class:`AiohttpTransport` does IO. aiohttp carries the hot path because, on these 2-core
machines, httpx's default pool collapses with many requests in flight (33 requests/s at 256 in
flight against aiohttp's 10,000; see ``bench/`` and the README). Tests talk to the vendor
simulators over real loopback HTTP through the same transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

__all__ = ["AiohttpTransport", "HttpRequest", "HttpResponse", "Transport", "TransportError"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes
    set_cookies: tuple[str, ...] = ()
    """Every ``Set-Cookie`` header as sent; ``headers`` can hold only one of them. The shared
    pool keeps no cookie jar, so a platform with sessions keeps its own per tenant."""


class TransportError(Exception):
    """The request got no HTTP answer; ``kind`` is ``timeout`` or ``connection``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Transport(Protocol):
    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """One keep-alive pool per process, shared by every tenant's adapter."""

    def __init__(self, *, max_connections: int = 512, max_per_host: int = 256) -> None:
        self._limits = (max_connections, max_per_host)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits[0], limit_per_host=self._limits[1], ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        try:
            async with self._client().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                headers = {k.lower(): v for k, v in response.headers.items()}
                cookies = tuple(response.headers.getall("Set-Cookie", ()))
                return HttpResponse(response.status, headers, body, cookies)
        except TimeoutError:
            raise TransportError("timeout", f"no answer within {timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise TransportError("connection", f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
