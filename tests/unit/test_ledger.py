"""One suite, every backend: SQLite on a real file and the in-memory double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from service.ledger.base import Ledger, open_ledger
from service.ledger.memory import MemoryLedger
from tests.unit.factories import T0, analytics, closed

NOW = T0 + timedelta(minutes=5)
WEEK = timedelta(days=7)


@pytest.fixture(params=["sqlite", "memory"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    backend: Ledger = (
        open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite3")
        if request.param == "sqlite"
        else MemoryLedger()
    )
    yield backend
    await backend.close()


async def test_merge_stores_and_get_reads_back(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    result = await ledger.merge(analytics(fields={"topics": ("a", "b")}), NOW, WEEK)
    assert result.changed
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1", "topics": ("a", "b")}
    assert entry.revision == 2
    assert entry.closed_at == T0
    assert entry.ref() == {"contact_id": "8675309"}


async def test_duplicate_reports_unchanged(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    again = await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    assert not again.changed
    assert again.entry.revision == 1


async def test_mark_delivered_is_monotonic(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 0)
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.delivered == {"nice-cxone": 1}
    assert not entry.pending_for("nice-cxone")


async def test_entries_expire_retention_after_their_last_change(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(hours=1))
    assert await ledger.get("acme", "call-1", NOW + timedelta(minutes=59)) is not None
    assert await ledger.get("acme", "call-1", NOW + timedelta(minutes=61)) is None
    assert await ledger.purge_expired(NOW + timedelta(minutes=61)) == 1


async def test_concurrent_merges_of_one_interaction_lose_nothing(ledger: Ledger) -> None:
    events = [analytics(f"e{i}", T0 + timedelta(seconds=i), {f"f{i}": i}) for i in range(50)]
    await asyncio.gather(*(ledger.merge(e, NOW, WEEK) for e in events))
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert len(entry.fields) == 50
    assert entry.revision == 50


async def test_ping(ledger: Ledger) -> None:
    await ledger.ping()


async def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    first = open_ledger(url)
    await first.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await first.close()
    second = open_ledger(url)
    entry = await second.get("acme", "call-1", NOW)
    await second.close()
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1"}


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported ledger URL"):
        open_ledger("mongodb://x")
