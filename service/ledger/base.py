"""The ledger interface. Backends differ only in where entries live; the merge itself is the
pure :func:`service.merge.merge_event`, run inside each backend's atomic section."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

from service.events import Event
from service.merge import LedgerEntry, MergeResult

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "Claim",
    "EntryPage",
    "InvalidCursor",
    "Lease",
    "LeaseTable",
    "Ledger",
    "LedgerBackend",
    "LocalLeases",
    "ledger_backend",
    "redact_url",
    "url_password",
]

LedgerBackend = Literal["sqlite", "redis"]

DEFAULT_KEY_PREFIX = "enricher:"
"""Prefix of every Redis key, so several deployments can share one Redis."""

_SUPPORTED = "supported forms are sqlite:///path, redis://host:6379/0 and rediss://host:6380/0"


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to call one platform for one interaction, until ``ttl`` seconds have passed.

    Lanes keep one call per interaction inside a process; the lease keeps it across replicas,
    whose partitioners may hand one interaction's events to different processes. ``owner`` is
    unique per attempt, so a late release can never end a successor's lease, and a claim that
    is repeated after a lost answer is granted again to the same owner."""

    owner: str
    ttl: float


@dataclass(frozen=True, slots=True)
class Claim:
    """An entry as of one instant, and whether the lease came with it.

    ``held_for`` is how long another owner's lease still runs when it did not: the earliest
    time the claim could be granted without that owner's release."""

    entry: LedgerEntry | None
    granted: bool
    held_for: float = 0.0


class Ledger(Protocol):
    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        """Atomically merge ``event`` into its entry and store the result."""
        ...

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        """The live entry, or None when unknown or expired."""
        ...

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        """Record that ``platform`` acknowledged ``revision``; never moves backwards."""
        ...

    async def claim(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, now: datetime
    ) -> Claim:
        """Read the live entry and, unless another owner holds it, take ``lease``, in one
        atomic step: whoever holds the lease has read an entry no older than any other
        holder's, so revisions reach the vendor in order."""
        ...

    async def renew(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> bool:
        """Run ``lease`` for its ``ttl`` again from now, if its owner still holds it: a call
        that takes several requests (a token, then the write) keeps its lease while it lives,
        and loses it within one ``ttl`` of its process dying."""
        ...

    async def release(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, revision: int
    ) -> None:
        """End ``lease`` (if still held by its owner); a positive ``revision`` is recorded as
        acknowledged in the same step, so no other owner can claim in between and resend it."""
        ...

    async def flush(self) -> None:
        """Return once every write already accepted is durable, and raise if one was lost:
        awaited before offsets are committed, so a backend may write acknowledgements behind."""
        ...

    async def purge_expired(self, now: datetime) -> int: ...

    async def ping(self) -> None:
        """Raise if the store cannot serve requests (readiness)."""
        ...

    async def close(self) -> None: ...


class LeaseTable:
    """Delivery leases kept in one process, expiring on its monotonic clock.

    A process's lanes already keep one call per interaction, but not one call after another
    when the first ended without a verdict: a request that timed out may still be applied by
    the vendor later, so its lease is kept to expiry and the next call waits for it, on one
    replica as on several."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._clock = clock

    def claim(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> float:
        """0 when ``lease`` is now held, else the seconds another owner's lease still runs."""
        key = (tenant, interaction_id, platform)
        at = self._clock()
        holder = self._held.get(key)
        if holder is not None and holder[0] != lease.owner and holder[1] > at:
            return holder[1] - at
        self._held[key] = (lease.owner, at + lease.ttl)
        if len(self._held) > _LEASE_TABLE_SWEEP:
            self._held = {k: v for k, v in self._held.items() if v[1] > at}
        return 0.0

    def renew(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> bool:
        key = (tenant, interaction_id, platform)
        holder = self._held.get(key)
        at = self._clock()
        if holder is None or holder[0] != lease.owner or holder[1] <= at:
            return False
        self._held[key] = (lease.owner, at + lease.ttl)
        return True

    def release(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> None:
        key = (tenant, interaction_id, platform)
        holder = self._held.get(key)
        if holder is not None and holder[0] == lease.owner:
            del self._held[key]


_LEASE_TABLE_SWEEP = 65_536
"""Leases a table holds before it drops the expired ones (released ones are dropped at once)."""


class LocalLeases:
    """Leases for a ledger that one process owns (SQLite, memory), kept in a
    :class:`LeaseTable`; a release with a revision is the delivery mark."""

    _leases: LeaseTable

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        raise NotImplementedError

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        raise NotImplementedError

    async def claim(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, now: datetime
    ) -> Claim:
        entry = await self.get(tenant, interaction_id, now)
        held_for = self._leases.claim(tenant, interaction_id, platform, lease)
        return Claim(entry, granted=held_for == 0.0, held_for=held_for)

    async def renew(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> bool:
        return self._leases.renew(tenant, interaction_id, platform, lease)

    async def release(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, revision: int
    ) -> None:
        self._leases.release(tenant, interaction_id, platform, lease)
        if revision > 0:
            await self.mark_delivered(tenant, interaction_id, platform, revision)


def ledger_backend(url: str) -> LedgerBackend:
    """The backend a ledger URL names; raises ``ValueError`` for anything else.

    Settings validation and :func:`open_ledger` share this check, so a URL the service accepts
    at start-up is one it can open. The message never repeats a password from the URL.
    """
    if url.startswith("sqlite://"):
        return "sqlite"
    if url.startswith(("redis://", "rediss://")):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError as exc:
            raise ValueError(f"ledger URL {redact_url(url)!r}: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"ledger URL {redact_url(url)!r} names no host; {_SUPPORTED}")
        database = parts.path.strip("/")
        if database and not database.isdigit():
            raise ValueError(
                f"ledger URL {redact_url(url)!r}: the path is the database number, e.g. /0"
            )
        if any(name.lower() == "password" for name, _ in parse_qsl(parts.query)):
            # One place for the password keeps it out of the one string that gets logged.
            raise ValueError(
                "ledger URL: give the password as ENRICHER_LEDGER_PASSWORD(_FILE) or in the "
                "user part (redis://user:password@host), not as ?password="
            )
        return "redis"
    raise ValueError(f"unsupported ledger URL {redact_url(url)!r}: {_SUPPORTED}")


def redact_url(url: str) -> str:
    """``url`` with the password of its user part masked, for messages and config dumps."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


def url_password(url: str) -> str | None:
    """The password written in ``url``'s user part, as it appears there (percent-encoded)."""
    _, sep, rest = url.partition("://")
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


# -- listing entries ----------------------------------------------------------------------------
# For the admin API's interaction list: backends that can enumerate their entries implement
# ``list_entries(tenant, now, *, limit, cursor) -> EntryPage``. It is a page at a time because a
# production ledger holds far more entries than one answer should carry.


class InvalidCursor(ValueError):
    """A listing cursor this backend did not hand out (or that another backend did)."""


@dataclass(frozen=True, slots=True)
class EntryPage:
    """At most ``limit`` live entries, and where the next page starts (None: nothing more).

    A page may hold fewer than ``limit`` entries while a cursor still follows: a backend stops
    after a bounded amount of work rather than answer late. Entries created or removed while
    an operator pages may be missed or, on Redis, shown twice, as with any scan that holds no
    lock on the store."""

    entries: tuple[LedgerEntry, ...]
    cursor: str | None
