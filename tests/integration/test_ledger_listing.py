"""Listing a ledger's entries a page at a time (the admin API's interaction list), on every
backend: SQLite on a real file, Redis on a real server, and the in-memory double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.ledger import redis as redis_ledger
from service.ledger.base import InvalidCursor
from service.merge import LedgerEntry
from tests.integration.test_ledger_backends import (  # noqa: F401 - fixtures _store uses
    WEEK,
    Store,
    _store,
    redis_prefix,
    redis_url,
)
from tests.unit.factories import closed


@pytest.fixture(params=["sqlite", "redis", "memory"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = _store(request.param, request, tmp_path)
    yield opened
    for ledger in opened.replicas:
        await ledger.close()


async def _entries(ledger: Any, store: Store, tenant: str | None, limit: int) -> list[LedgerEntry]:
    """Every page, followed to the end. A shared Redis holds other keys too, so some pages
    may come back empty with a cursor: a page stops after a bounded number of SCAN calls."""
    entries: list[LedgerEntry] = []
    cursor = None
    for _ in range(1000):
        page = await ledger.list_entries(tenant, store.now(), limit=limit, cursor=cursor)
        assert len(page.entries) <= limit
        entries += page.entries
        if page.cursor is None:
            return entries
        cursor = page.cursor
    raise AssertionError(f"still paging after 1000 pages: {entries}")


async def _all_pages(ledger: Any, store: Store, tenant: str | None, limit: int) -> list[str]:
    return [entry.key for entry in await _entries(ledger, store, tenant, limit)]


async def _seed(ledger: Any, store: Store) -> dict[str, list[str]]:
    ids = {
        "acme": [f"call-{n:03d}" for n in range(23)] + ["odd/id}with*glob?[chars]"],
        "acme.eu": ["call-900"],
        "globex": [f"g-{n}" for n in range(7)],
    }
    for tenant, interaction_ids in ids.items():
        for interaction_id in interaction_ids:
            event = closed(tenant=tenant, interaction_id=interaction_id)
            await ledger.merge(event, store.now(), WEEK)
    return {t: [f"{t}:{i}" for i in interaction_ids] for t, interaction_ids in ids.items()}


@pytest.mark.parametrize("scan_count", [500, 100], ids=["one-scan-batch", "many-scan-batches"])
@pytest.mark.parametrize("limit", [1, 5, 24, 100])
async def test_pages_show_every_live_entry_once(
    backend: Store, limit: int, scan_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_ledger, "_SCAN_COUNT", scan_count)
    ledger = backend.replica()
    seeded = await _seed(ledger, backend)
    everything = sorted(k for keys in seeded.values() for k in keys)
    assert sorted(await _all_pages(ledger, backend, None, limit)) == everything
    for tenant, keys in seeded.items():
        assert sorted(await _all_pages(ledger, backend, tenant, limit)) == sorted(keys)
    assert await _all_pages(ledger, backend, "initech", limit) == []


async def test_listed_entries_carry_their_acknowledgements(backend: Store) -> None:
    ledger = backend.replica()
    await ledger.merge(closed(tenant="acme", interaction_id="call-1"), backend.now(), WEEK)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    (entry,) = await _entries(ledger, backend, "acme", 10)
    assert entry.delivered == {"nice-cxone": 1}
    assert not entry.pending_for("nice-cxone")


async def test_expired_entries_are_not_listed(backend: Store) -> None:
    ledger = backend.replica()
    await ledger.merge(
        closed(tenant="acme", interaction_id="old"), backend.now(), timedelta(seconds=1)
    )
    await ledger.merge(closed(tenant="acme", interaction_id="new"), backend.now(), WEEK)
    await backend.advance(1.5)
    assert await _all_pages(ledger, backend, "acme", 10) == ["acme:new"]


@pytest.mark.parametrize("cursor", ["x", "12", "1.-2", "a.b"])
async def test_redis_refuses_a_cursor_it_did_not_hand_out(backend: Store, cursor: str) -> None:
    if backend.name != "redis":
        pytest.skip("a SQLite or memory cursor is a key: any text is a position")
    lister: Any = backend.replica()
    with pytest.raises(InvalidCursor):
        await lister.list_entries(None, backend.now(), limit=5, cursor=cursor)
