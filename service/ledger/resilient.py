"""Waiting out a ledger outage instead of failing on it.

A Redis restart or failover, or a network blip to it, makes every ledger call fail for a few
seconds. Failing the pipeline on that would restart every replica at once and re-read
everything uncommitted; waiting keeps the work in hand and resumes where it stopped. Every
ledger operation may be repeated safely: a merge of an event already merged is recognised by
its event id and changes nothing, a delivery mark never moves backwards, and reads are reads.

Only errors that mean "the store is unreachable" are waited out. Anything else (a bug, a
corrupt document) still fails the pipeline, because retrying it would loop for ever.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from service.events import Event
from service.ledger.base import Claim, EntryPage, Lease, Ledger
from service.merge import LedgerEntry, MergeResult

__all__ = ["ResilientLedger", "is_unavailable"]

T = TypeVar("T")

log = structlog.get_logger("enricher.ledger")


def _unavailable_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from redis.exceptions import BusyLoadingError, ReadOnlyError, TryAgainError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # redis is only needed for the Redis backend
        return tuple(types)
    return (
        *types,
        RedisConnectionError,
        RedisTimeoutError,
        BusyLoadingError,
        ReadOnlyError,
        TryAgainError,
    )


_UNAVAILABLE = _unavailable_types()


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached right now (worth waiting out)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "locked" in str(exc) or "busy" in str(exc)
    return isinstance(exc, _UNAVAILABLE)


class ResilientLedger:
    """Any :class:`Ledger`, with unavailability retried under capped, jittered backoff.

    ``outage_since`` is the monotonic time the current outage began (None when the store
    answers), so liveness can tell "waiting for the store" from "stuck".
    """

    def __init__(
        self,
        inner: Ledger,
        *,
        first_delay: float = 0.05,
        max_delay: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        address: str = "",
    ) -> None:
        self.inner = inner
        self.address = address
        """Where the store is, password masked: in every outage and recovery line."""
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self.outage_since: float | None = None

    async def _call(self, what: str, op: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``op(*args)`` until the store answers. The arguments are passed, not closed over:
        this wraps several calls per record, and a closure per call was measurable."""
        delay = self._first_delay
        while True:
            try:
                result = await op(*args)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._note_outage(what, exc)
                await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 (jitter)
                delay = min(delay * 2, self._max_delay)
                continue
            if self.outage_since is not None:
                self._note_recovered()
            return result

    def _note_outage(self, what: str, exc: BaseException) -> None:
        if self.outage_since is None:
            self.outage_since = self._clock()
            log.warning(
                "ledger_unavailable",
                operation=what,
                error=type(exc).__name__,
                address=self.address,
            )

    def _note_recovered(self) -> None:
        if self.outage_since is not None:
            seconds = round(self._clock() - self.outage_since, 3)
            self.outage_since = None
            log.info("ledger_recovered", seconds=seconds, address=self.address)

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        return await self._call("merge", self.inner.merge, event, now, retention)

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        return await self._call("get", self.inner.get, tenant, interaction_id, now)

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        await self._call(
            "mark_delivered", self.inner.mark_delivered, tenant, interaction_id, platform, revision
        )

    async def claim(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, now: datetime
    ) -> Claim:
        """Repeatable: a claim whose answer was lost is granted again to the same owner."""
        return await self._call(
            "claim", self.inner.claim, tenant, interaction_id, platform, lease, now
        )

    async def renew(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> bool:
        """Not retried: a renewal that cannot reach the store in time has failed, and the call
        it covers must end before the lease does."""
        return await self.inner.renew(tenant, interaction_id, platform, lease)

    async def release(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, revision: int
    ) -> None:
        await self._call(
            "release", self.inner.release, tenant, interaction_id, platform, lease, revision
        )

    async def flush(self) -> None:
        """Not retried: a lost write is not an outage to wait out."""
        await self.inner.flush()

    async def purge_expired(self, now: datetime) -> int:
        return await self.inner.purge_expired(now)

    async def ping(self) -> None:
        """Not retried: readiness must see the outage."""
        await self.inner.ping()

    async def check(self, timeout: float) -> None:
        """A ping that logs a change of reachability as the other calls do, so an outage is
        logged (once) also while no record needs the store, and its end too."""
        try:
            async with asyncio.timeout(timeout):
                await self.inner.ping()
        except Exception as exc:
            self._note_outage("ping", exc)
            raise
        self._note_recovered()

    async def close(self) -> None:
        await self.inner.close()

    # -- listing (admin API) -------------------------------------------------------------------

    async def list_entries(
        self, tenant: str | None, now: datetime, *, limit: int, cursor: str | None
    ) -> EntryPage:
        """Not retried: an operator asking for a list is told at once that the store is out
        (503), rather than kept waiting for it to come back."""
        lister = getattr(self.inner, "list_entries", None)
        if lister is None:
            raise NotImplementedError(f"{type(self.inner).__name__} cannot list its entries")
        page: EntryPage = await lister(tenant, now, limit=limit, cursor=cursor)
        return page
