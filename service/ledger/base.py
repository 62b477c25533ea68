"""The ledger interface. Backends differ only in where entries live; the merge itself is the
pure :func:`service.merge.merge_event`, run inside each backend's atomic section."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from service.events import Event
from service.merge import LedgerEntry, MergeResult

__all__ = ["Ledger", "open_ledger"]


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

    async def purge_expired(self, now: datetime) -> int: ...

    async def ping(self) -> None:
        """Raise if the store cannot serve requests (readiness)."""
        ...

    async def close(self) -> None: ...


def open_ledger(url: str) -> Ledger:
    """The backend named by ``ENRICHER_LEDGER_URL``."""
    if url.startswith("sqlite://"):
        from service.ledger.sqlite import SqliteLedger

        path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
        return SqliteLedger(path)
    raise ValueError(f"unsupported ledger URL {url!r}")
