"""Group commit and the entry cache in the SQLite ledger: batching and caching must never cost
an operation its isolation or its durability."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.ledger.sqlite import LedgerWriteLost, SqliteLedger
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
    # 100 merges in batches of at most 8: far fewer commits than operations.
    assert 13 <= commits < 30
    after_merges = commits
    entries = await asyncio.gather(*(ledger.get("acme", i, NOW) for i in interactions))
    assert [e.field_values() if e else None for e in entries] == [{"crm": i} for i in interactions]
    assert commits == after_merges  # what this process wrote is read back without the disk


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


async def refuse_key(ledger: SqliteLedger, key: str, action: str) -> None:
    """A trigger that refuses writes of ``key``: ABORT undoes the statement, ROLLBACK gives up
    the whole transaction."""
    await ledger._run(
        lambda conn: conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.key = '{key}' "
            f"BEGIN SELECT RAISE({action}, 'refused'); END"
        )
    )


async def test_a_merge_whose_write_fails_fails_alone(ledger: SqliteLedger) -> None:
    """Read-merge-writes take no savepoint: their one write must undo itself and nothing else."""
    await refuse_key(ledger, "acme:call-bad", "ABORT")
    results = await asyncio.gather(
        *(
            ledger.merge(closed(interaction_id=i, fields={"crm": i}), NOW, WEEK)
            for i in ("call-1", "call-bad", "call-2")
        ),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    await ledger.close()
    assert (await reopened(ledger._path, "call-1")) is not None
    assert (await reopened(ledger._path, "call-2")) is not None
    assert (await reopened(ledger._path, "call-bad")) is None


async def test_a_write_that_gives_up_the_transaction_fails_its_whole_batch(
    ledger: SqliteLedger,
) -> None:
    """Nothing after it in the batch may run outside the transaction and stand while its
    caller is told it failed."""
    await refuse_key(ledger, "acme:call-bad", "ROLLBACK")
    results = await asyncio.gather(
        *(
            ledger.merge(closed(interaction_id=i, fields={"crm": i}), NOW, WEEK)
            for i in ("call-1", "call-bad", "call-2")
        ),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.Error) for r in results)
    assert not ledger._cache
    await ledger.close()
    for interaction in ("call-1", "call-bad", "call-2"):
        assert (await reopened(ledger._path, interaction)) is None


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


async def reopened(path: str, interaction_id: str = "call-1") -> Any:
    """The entry as a fresh process would read it: from the file, not from any cache."""
    other = SqliteLedger(path)
    try:
        return await other.get("acme", interaction_id, NOW)
    finally:
        await other.close()


async def test_changes_made_from_the_cache_reach_the_disk(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ledger = SqliteLedger(path)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)  # read from the file
    assert ledger._cached("acme:call-1")[0]
    await ledger.merge(analytics(fields={"topics": ("billing",)}), NOW, WEEK)  # from the cache
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 2)
    cached = await ledger.get("acme", "call-1", NOW)
    await ledger.close()
    on_disk = await reopened(path)
    assert on_disk == cached
    assert on_disk.revision == 2
    assert on_disk.field_values() == {"crm": "A-1", "topics": ("billing",)}
    assert not on_disk.pending_for("nice-cxone")


async def test_a_failed_commit_empties_the_cache_and_fails_writes_computed_from_it(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ledger = SqliteLedger(path, max_batch=1)  # each write in a commit of its own
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    original = ledger._write
    failures = iter([sqlite3.OperationalError("disk I/O error")])

    def fail_once(batch: list[Any]) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        original(batch)

    ledger._write = fail_once  # type: ignore[method-assign]
    first, second = await asyncio.gather(
        ledger.merge(closed("e-closed-2", NOW, fields={"crm": "A-2"}), NOW, WEEK),
        ledger.merge(analytics(fields={"topics": ("a",)}), NOW, WEEK),
        return_exceptions=True,
    )
    # Only the first commit failed, but the second merge was computed from a cache holding the
    # first change, so it must not be written either.
    assert isinstance(first, sqlite3.OperationalError)
    assert isinstance(second, sqlite3.OperationalError)
    assert not ledger._cache
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1"}
    assert entry.revision == 1
    await ledger.close()
    assert (await reopened(path)) == entry


async def test_expiry_is_honoured_from_the_cache(ledger: SqliteLedger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(minutes=1))
    assert await ledger.get("acme", "call-1", NOW) is not None
    later = NOW + timedelta(minutes=2)
    assert await ledger.get("acme", "call-1", later) is None
    fresh = await ledger.merge(analytics(fields={"topics": ("a",)}), later, WEEK)
    assert fresh.entry.revision == 1  # a new life, not a continuation of the expired one
    assert fresh.entry.field_values() == {"topics": ("a",)}
    assert await ledger.purge_expired(later) == 0  # the row was rewritten with a new expiry


async def test_a_small_cache_evicts_without_losing_anything(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ledger = SqliteLedger(path, cache_size=4)
    for i in range(10):
        await ledger.merge(closed(interaction_id=f"c{i}", fields={"crm": i}), NOW, WEEK)
    assert len(ledger._cache) == 4
    for i in range(10):
        await ledger.mark_delivered("acme", f"c{i}", "nice-cxone", 1)
    entries = [await ledger.get("acme", f"c{i}", NOW) for i in range(10)]
    await ledger.close()
    assert [e.field_values() if e else None for e in entries] == [{"crm": i} for i in range(10)]
    for i, entry in enumerate(entries):
        assert entry is not None
        assert (await reopened(path, f"c{i}")) == entry
        assert not entry.pending_for("nice-cxone")


async def test_an_acknowledgement_is_written_behind_and_flush_makes_it_durable(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ledger = SqliteLedger(path)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)  # from the cache
    await ledger.mark_delivered("acme", "call-9", "nice-cxone", 1)  # unknown: read from the file
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert not entry.pending_for("nice-cxone")  # seen at once by this process
    await ledger.flush()
    with sqlite3.connect(path) as other:  # and on disk once flushed
        rows = other.execute("SELECT key, doc FROM entries").fetchall()
    await ledger.close()
    assert [key for key, _ in rows] == ["acme:call-1"]
    assert (await reopened(path)) == entry


async def test_a_lost_acknowledgement_fails_the_next_flush_once(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ledger = SqliteLedger(path)
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    original = ledger._write

    def refuse_writes_behind(batch: list[Any]) -> None:
        if any(op.future is None for op in batch):
            raise sqlite3.OperationalError("disk I/O error")
        original(batch)

    ledger._write = refuse_writes_behind  # type: ignore[method-assign]
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    with pytest.raises(LedgerWriteLost, match="disk I/O error"):
        await ledger.flush()
    await ledger.flush()  # reported once; nothing else was lost since
    entry = await ledger.get("acme", "call-1", NOW)  # the cache was dropped: read from disk
    assert entry is not None
    assert entry.pending_for("nice-cxone")
    await ledger.close()


async def test_a_drain_cancelled_during_its_commit_answers_every_caller(tmp_path: Path) -> None:
    ledger = SqliteLedger(str(tmp_path / "ledger.sqlite3"))
    original = ledger._commit
    committing = threading.Event()
    release = threading.Event()

    def slow_commit() -> None:
        committing.set()
        release.wait(5)
        original()

    ledger._commit = slow_commit  # type: ignore[method-assign]
    merge = asyncio.ensure_future(ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK))
    await asyncio.to_thread(committing.wait, 5)
    assert ledger._drainer is not None
    ledger._drainer.cancel()
    with pytest.raises(RuntimeError, match="closing"):
        await asyncio.wait_for(merge, 5)  # answered, not left waiting for ever
    release.set()
    ledger._commit = original  # type: ignore[method-assign]
    await ledger.close()
