"""In-memory ledger: the test double for pure-logic tests of the pipeline's drivers.

One object may stand for a store shared by several replicas, so it keeps real delivery leases
(expiring on the monotonic clock), as the Redis ledger does."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from service.events import Event
from service.ledger.base import EntryPage, LeaseTable, LocalLeases
from service.merge import LedgerEntry, MergeResult, mark_delivered, merge_event

__all__ = ["MemoryLedger"]


class MemoryLedger(LocalLeases):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, tuple[LedgerEntry, datetime]] = {}
        self._leases = LeaseTable(clock)

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        result = merge_event(self._live(event.key, now), event, now)
        if result.changed:
            self._entries[event.key] = (result.entry, now + retention)
        return result

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        return self._live(f"{tenant}:{interaction_id}", now)

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        key = f"{tenant}:{interaction_id}"
        if key in self._entries:
            entry, expires_at = self._entries[key]
            self._entries[key] = (mark_delivered(entry, platform, revision), expires_at)

    async def purge_expired(self, now: datetime) -> int:
        expired = [key for key, (_, expires_at) in self._entries.items() if expires_at <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    async def flush(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _live(self, key: str, now: datetime) -> LedgerEntry | None:
        item = self._entries.get(key)
        return item[0] if item and item[1] > now else None

    # -- listing (admin API) -------------------------------------------------------------------

    async def list_entries(
        self, tenant: str | None, now: datetime, *, limit: int, cursor: str | None
    ) -> EntryPage:
        """Live entries in key order after the key ``cursor`` names, as SQLite pages them."""
        keys = sorted(
            key
            for key in self._entries
            if key > (cursor or "")
            and (tenant is None or key.startswith(f"{tenant}:"))
            and self._live(key, now) is not None
        )[:limit]
        entries = tuple(self._entries[key][0] for key in keys)
        return EntryPage(entries, keys[-1] if len(keys) == limit else None)
