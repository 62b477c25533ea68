"""Discovery documents (OpenID configuration and the like), cached by URL for every tenant.

Tenants of one vendor share an issuer, and its discovery document says the same to each: one
fetch serves them all for ``ttl`` seconds. A refusal or an unreadable answer is never cached,
so the next renewal asks again. Concurrent first fetches of one URL are also merged into one
request by :mod:`service.auth.runner`. A flow not given a cache keeps one of its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Mapping
from dataclasses import dataclass

import orjson

from service.auth.flow import excerpt_without, failure
from service.platforms.outcomes import OutcomeKind
from service.transport import HttpRequest, HttpResponse

__all__ = [
    "DEFAULT_TTL",
    "DiscoveryCache",
    "Fetch",
    "fetch_document",
    "read_document",
    "require_text",
    "shared_discovery",
]

DEFAULT_TTL = 3600.0
"""An hour: issuers move their endpoints rarely and announce it long before."""

Fetch = Generator[HttpRequest, HttpResponse, Mapping[str, object]]
"""A renewal step that yields at most one GET and returns a document."""


@dataclass(frozen=True, slots=True)
class _Entry:
    document: Mapping[str, object]
    expires_at: float


class DiscoveryCache:
    """Documents by URL, each kept ``ttl`` seconds from when it was fetched. Times are the
    runner's monotonic clock, passed in, so the cache itself never reads a clock."""

    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self._ttl = ttl
        self._entries: dict[str, _Entry] = {}

    def get(self, url: str, now: float) -> Mapping[str, object] | None:
        entry = self._entries.get(url)
        if entry is None or now >= entry.expires_at:
            return None
        return entry.document

    def put(self, url: str, document: Mapping[str, object], now: float) -> None:
        self._entries[url] = _Entry(document, now + self._ttl)

    @property
    def urls(self) -> frozenset[str]:
        """The URLs held, fresh or not."""
        return frozenset(self._entries)


_BY_TRANSPORT: weakref.WeakKeyDictionary[object, DiscoveryCache] = weakref.WeakKeyDictionary()


def shared_discovery(transport: object) -> DiscoveryCache:
    """The cache of every flow whose requests go through ``transport``: the process's shared
    pool in the service, so every tenant shares it, and a fresh one for each pool a test makes,
    so no test reads another's documents."""
    cache = _BY_TRANSPORT.get(transport)
    if cache is None:
        cache = _BY_TRANSPORT[transport] = DiscoveryCache()
    return cache


def fetch_document(
    cache: DiscoveryCache, url: str, now: float, reason: str = "discovery_failed"
) -> Fetch:
    """The JSON object at ``url``: from ``cache`` while fresh, else fetched with one GET.

    A 5xx or 429 is transient and any other refusal permanent; an answer that is not a JSON
    object is transient (a proxy's page, a deploy in progress). Each ends in
    :class:`AuthError` with ``reason``."""
    cached = cache.get(url, now)
    if cached is not None:
        return cached
    response: HttpResponse = yield HttpRequest("GET", url, {"Accept": "application/json"})
    document = read_document(response, reason)
    cache.put(url, document, now)
    return document


def read_document(response: HttpResponse, reason: str) -> Mapping[str, object]:
    if response.status != 200:
        transient = response.status >= 500 or response.status == 429
        raise failure(
            OutcomeKind.RETRY if transient else OutcomeKind.PERMANENT,
            reason,
            status=response.status,
            detail=excerpt_without(response.body, ()),
            error_class=None,
        )
    try:
        document = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise failure(OutcomeKind.RETRY, reason, detail="answer is not JSON", error_class=None)
    return document


def require_text(document: Mapping[str, object], key: str, reason: str, what: str) -> str:
    """A string member of a discovery document, or a transient failure naming it."""
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise failure(OutcomeKind.RETRY, reason, detail=f"{what} has no {key}", error_class=None)
    return value
