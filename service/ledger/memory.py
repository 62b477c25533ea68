"""In-memory ledger: the test double for pure-logic tests of the pipeline's drivers."""

from __future__ import annotations

from datetime import datetime, timedelta

from service.events import Event
from service.merge import LedgerEntry, MergeResult, mark_delivered, merge_event

__all__ = ["MemoryLedger"]


class MemoryLedger:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[LedgerEntry, datetime]] = {}

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
