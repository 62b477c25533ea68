"""SQLite ledger: the embedded default for a single replica.

All statements run on one dedicated thread that owns the connection. Each operation is one
function executed there inside ``BEGIN IMMEDIATE``, so a read-merge-write can never interleave
with another and the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

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


class SqliteLedger:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged merge must survive a power cut, because the Kafka offset
            # that produced it may be committed right after.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

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
