"""Group commit in the SQLite ledger: batching must never cost an operation its isolation or
its durability."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.ledger.sqlite import SqliteLedger
from tests.unit.factories import T0, analytics, closed

NOW = T0 + timedelta(minutes=5)
WEEK = timedelta(days=7)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    backend = SqliteLedger(str(tmp_path / "ledger.sqlite3"), max_batch=8)
    yield backend
    await backend.close()


async def test_concurrent_operations_share_commits(ledger: SqliteLedger) -> None:
    commits = 0
    original = ledger._write

    def counting(batch: list[Any]) -> None:
        nonlocal commits
        commits += 1
        original(batch)

    ledger._write = counting  # type: ignore[method-assign]
    interactions = [f"call-{i}" for i in range(100)]
    await asyncio.gather(
        *(
            ledger.merge(closed(interaction_id=i, fields={"crm": i}), NOW, WEEK)
            for i in interactions
        )
    )
    entries = await asyncio.gather(*(ledger.get("acme", i, NOW) for i in interactions))
    assert [e.field_values() if e else None for e in entries] == [{"crm": i} for i in interactions]
    # 200 operations in batches of at most 8: far fewer commits than operations.
    assert 25 <= commits < 60


async def test_a_failing_operation_fails_alone_and_leaves_no_trace(
    ledger: SqliteLedger,
) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO entries (key, doc, expires_at) VALUES ('acme:ghost', x'00', 1e12)"
        )
        raise RuntimeError("half-way")

    merged, failed = await asyncio.gather(
        ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK),
        ledger._run(broken),
        return_exceptions=True,
    )
    assert isinstance(failed, RuntimeError)
    assert not isinstance(merged, BaseException)
    assert merged.changed
    assert await ledger.get("acme", "call-1", NOW) is not None
    ghost = await ledger._run(
        lambda conn: conn.execute("SELECT 1 FROM entries WHERE key = 'acme:ghost'").fetchone()
    )
    assert ghost is None


async def test_a_failing_commit_fails_every_operation_in_its_batch(
    ledger: SqliteLedger,
) -> None:
    def refuse(batch: list[Any]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    ledger._write = refuse  # type: ignore[method-assign]
    results = await asyncio.gather(
        ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK),
        ledger.merge(analytics(fields={"topics": ("a",)}), NOW, WEEK),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)


async def test_acknowledged_merges_are_on_disk(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    writer = SqliteLedger(path)
    await asyncio.gather(
        *(writer.merge(closed(interaction_id=f"c{i}"), NOW, WEEK) for i in range(20))
    )
    with sqlite3.connect(path) as other:  # another connection sees only committed data
        (count,) = other.execute("SELECT count(*) FROM entries").fetchone()
    await writer.close()
    assert count == 20
