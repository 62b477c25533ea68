"""SQLite ledger: the embedded default for a single replica.

All statements run on one dedicated thread that owns the connection, so a read-merge-write can
never interleave with another and the event loop never blocks on disk.

Group commit: operations that arrive while a transaction is on disk wait together and then run
in the next one, each inside its own savepoint. With ``synchronous=FULL`` every commit costs an
fsync, so one transaction per operation capped the whole service at the disk's sync rate; one
per batch keeps every operation's durability (a caller is answered only after the commit that
holds its write) at a fraction of the syncs. A failing operation rolls back to its savepoint and
fails alone; a failing commit fails the whole batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from service.events import Event
from service.ledger.codec import decode_entry, encode_entry
from service.merge import LedgerEntry, MergeResult, mark_delivered, merge_event

__all__ = ["SqliteLedger"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key        TEXT PRIMARY KEY,
    doc        BLOB NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at);
"""


@dataclass
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = field(default=None)


class SqliteLedger:
    def __init__(self, path: str, *, max_batch: int = 512) -> None:
        self._path = path
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[_Op] = []
        self._writing = False
        self._drainer: asyncio.Task[None] | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Op(fn, future))
        if not self._writing:
            self._writing = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Write batches until nothing waits; runs in the loop, one batch on disk at a time."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await loop.run_in_executor(self._executor, self._write, batch)
                except BaseException as exc:  # the commit failed: nothing in the batch stands
                    for op in batch:
                        op.error, op.result = exc, None
                for op in batch:
                    if op.future.done():
                        continue
                    if op.error is not None:
                        op.future.set_exception(op.error)
                    else:
                        op.future.set_result(op.result)
        finally:
            self._writing = False
            for op in self._pending:  # only reached if the drain itself was cancelled
                if not op.future.done():
                    op.future.set_exception(RuntimeError("the SQLite ledger is closing"))
            self._pending.clear()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged merge must survive a power cut, because the Kafka offset
            # that produced it may be committed right after.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
        return self._conn

    def _write(self, batch: list[_Op]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                conn.execute("SAVEPOINT op")
                try:
                    op.result = op.fn(conn)
                except Exception as exc:  # this operation alone is undone and fails
                    conn.execute("ROLLBACK TO op")
                    op.error = exc
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        def op(conn: sqlite3.Connection) -> MergeResult:
            current = _load(conn, event.key, now)
            result = merge_event(current, event, now)
            if result.changed:
                _store(conn, result.entry, now + retention)
            return result

        return await self._run(op)

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        key = f"{tenant}:{interaction_id}"
        return await self._run(lambda conn: _load(conn, key, now))

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        key = f"{tenant}:{interaction_id}"

        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute("SELECT doc FROM entries WHERE key = ?", (key,)).fetchone()
            if row is None:
                return
            entry = decode_entry(row[0])
            updated = mark_delivered(entry, platform, revision)
            if updated is not entry:
                conn.execute(
                    "UPDATE entries SET doc = ? WHERE key = ?", (encode_entry(updated), key)
                )

        await self._run(op)

    async def purge_expired(self, now: datetime) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("DELETE FROM entries WHERE expires_at <= ?", (now.timestamp(),))
            return cursor.rowcount

        return await self._run(op)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)

        def op() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, op)
        self._executor.shutdown(wait=True)


def _load(conn: sqlite3.Connection, key: str, now: datetime) -> LedgerEntry | None:
    row = conn.execute(
        "SELECT doc FROM entries WHERE key = ? AND expires_at > ?", (key, now.timestamp())
    ).fetchone()
    return decode_entry(row[0]) if row else None


def _store(conn: sqlite3.Connection, entry: LedgerEntry, expires_at: datetime) -> None:
    conn.execute(
        "INSERT INTO entries (key, doc, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET doc = excluded.doc, expires_at = excluded.expires_at",
        (entry.key, encode_entry(entry), expires_at.timestamp()),
    )
