"""SQLite ledger: the embedded default for a single replica.

Statements run on the event loop, inside a transaction, against pages the OS already caches;
only the commit, which waits for the disk, runs on a dedicated thread, one per batch. Running
every statement on that thread cost more than the statements themselves: each call released
and retook the GIL, and with the loop busy each retake waited for the interpreter's switch
interval and forced the loop to yield. Measured on these machines, an upsert took 6 µs of CPU
alone and 26 µs (558 µs of wall time) beside a busy loop. The price is that a read of a page
the OS no longer caches blocks the loop for that read; the ledger of one replica is small
enough to stay cached.

Group commit: operations that arrive while a transaction is on disk wait together and then run
in the next one. With ``synchronous=FULL`` every commit costs an fsync, so one transaction per
operation capped the whole service at the disk's sync rate; one per batch keeps every
operation's durability (a caller is answered only after the commit that holds its write) at a
fraction of the syncs. A failing operation fails alone (a read-merge-write writes one statement,
last, which undoes itself; anything else rolls back to its savepoint); a failing commit, or a
statement that makes SQLite abandon the transaction, fails the whole batch.

Entry cache: one ledger object is the file's only user (an exclusive lock on ``<file>.owner``
refuses a second, in this process or another), so the entries it last read or wrote are known
without asking the disk. A delivery's snapshot is then read without a queued operation, and
marking a revision delivered or merging into a known interaction costs one upsert instead of a
read, a decode and a write, which was most of the ledger's share of the CPU. The cache is
owned by the event loop; a key is served from it only while no read-merge-write for that key
is queued, so the two never disagree about the order of changes. A failed commit
empties it and fails every write computed from it, and those callers start again from disk.

Acknowledgements are written behind: ``mark_delivered`` updates the cache and queues the write
without waiting for its commit, since waiting cost every delivery a second trip through the
queue. What stays true is what the offsets need: :meth:`SqliteLedger.flush`, which the pipeline
awaits before every offset commit, returns once everything queued before it is on disk, and
raises if any of it was lost. An acknowledgement lost in a crash before that only means the
revision is sent again (at least once), never that a change is skipped.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from service.events import Event
from service.ledger.base import EntryPage, LeaseTable, LocalLeases
from service.ledger.codec import decode_entry, encode_entry
from service.merge import LedgerEntry, MergeResult, mark_delivered, merge_event

__all__ = ["LedgerInUse", "LedgerWriteLost", "SqliteLedger"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key        TEXT PRIMARY KEY,
    doc        BLOB NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at);
"""

_UPSERT = (
    "INSERT INTO entries (key, doc, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET doc = excluded.doc, expires_at = excluded.expires_at"
)

_State = tuple[LedgerEntry, float] | None
"""A key's entry and its expiry (epoch seconds) as stored, or None when there is no row."""


class LedgerInUse(RuntimeError):
    """Another ledger holds the file: two users of one file would serve each other stale
    entries from their caches."""


class LedgerWriteLost(RuntimeError):
    """A write nobody waited for (an acknowledgement) was not committed; raised by the next
    flush, so no offset is committed past it."""


@dataclass
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any] | None
    """None for a write behind: its failure is reported by the next flush."""
    result: Any = None
    error: BaseException | None = field(default=None)
    settled: Callable[[_Op], None] | None = None
    """Run in the loop, in queue order, before the caller is answered: keeps the cache in step."""
    from_cache: bool = False
    """A plain write computed from the cache: only valid while the cache is."""
    one_write: bool = False
    """Reads, then writes at most one statement, last: a failing statement undoes itself, so
    the operation needs no savepoint of its own (two statements fewer per merge)."""


class SqliteLedger(LocalLeases):
    def __init__(self, path: str, *, max_batch: int = 512, cache_size: int = 16_384) -> None:
        self._path = path
        self._max_batch = max_batch
        self._leases = LeaseTable()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._pending: list[_Op] = []
        self._writing = False
        self._drainer: asyncio.Task[None] | None = None
        self._cache: OrderedDict[str, _State] = OrderedDict()
        self._cache_size = cache_size
        self._reading: dict[str, int] = {}
        """Keys with read-merge-writes queued; not served from the cache until they are done."""
        self._owner: int | None = None
        self._lost: BaseException | None = None
        """Why a write behind failed since the last flush."""
        self._closed = False

    # -- the queue ---------------------------------------------------------------------------

    def _enqueue(self, op: _Op) -> None:
        self._pending.append(op)
        if not self._writing:
            self._writing = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Op(fn, future))
        return await future

    async def _drain(self) -> None:
        """Write batches until nothing waits; runs in the loop, one batch on disk at a time."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    if self._conn is None:  # opening may wait for the disk
                        await loop.run_in_executor(self._executor, self._connection)
                    self._write(batch)
                except BaseException as exc:  # nothing in the batch stands
                    self._rollback()
                    self._fail_batch(batch, exc)
                else:
                    try:
                        await loop.run_in_executor(self._executor, self._commit)
                    except asyncio.CancelledError:
                        # The commit finishes on the thread (close() waits for it); whether it
                        # stood is unknown here, so its callers are told it failed: every
                        # operation is safe to repeat.
                        self._fail_batch(batch, _closing())
                        for op in batch:
                            self._answer(op)
                        raise
                    except BaseException as exc:  # the commit failed and was rolled back
                        self._fail_batch(batch, exc)
                for op in batch:
                    self._answer(op)
        finally:
            self._writing = False
            closing = _closing()
            for op in self._pending:  # only reached if the drain itself was cancelled
                if op.future is None:
                    self._lose(closing)
                elif not op.future.done():
                    op.future.set_exception(closing)
            self._pending.clear()

    def _fail_batch(self, batch: list[_Op], error: BaseException) -> None:
        for op in batch:
            op.error, op.result = error, None
        self._invalidate(error)

    def _answer(self, op: _Op) -> None:
        if op.settled is not None:
            op.settled(op)
        if op.future is None:
            if op.error is not None:
                self._lose(op.error)
        elif op.future.done():
            return
        elif op.error is not None:
            op.future.set_exception(op.error)
        else:
            op.future.set_result(op.result)

    def _lose(self, error: BaseException) -> None:
        if self._lost is None:
            self._lost = error

    def _invalidate(self, error: BaseException) -> None:
        """After a failed commit the cache may hold changes that never reached the disk: forget
        it, and fail the queued writes computed from it so their callers start again."""
        self._cache.clear()
        stale = [op for op in self._pending if op.from_cache]
        self._pending = [op for op in self._pending if not op.from_cache]
        for op in stale:
            if op.future is None:
                self._lose(error)
            elif not op.future.done():
                op.future.set_exception(error)

    def _claim(self) -> None:
        """Hold ``<file>.owner`` locked for as long as the ledger is open; the kernel lets go
        when the process dies, so a crashed predecessor never blocks its successor."""
        if self._path == ":memory:" or self._owner is not None:
            return
        fd = os.open(f"{self._path}.owner", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LedgerInUse(
                f"the SQLite ledger {self._path} is already open elsewhere; it serves a single "
                "replica (several replicas share a Redis ledger)"
            ) from None
        self._owner = fd

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._claim()
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged merge must survive a power cut, because the Kafka offset
            # that produced it may be committed right after.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
        return self._conn

    def _write(self, batch: list[_Op]) -> None:
        """Run ``batch`` in one open transaction, on the event loop; :meth:`_commit` ends it."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        for op in batch:
            if op.from_cache:  # a plain upsert: if it fails, the batch fails
                op.result = op.fn(conn)
                continue
            if op.one_write:
                try:
                    op.result = op.fn(conn)
                except Exception as exc:
                    if not conn.in_transaction:  # SQLite gave up the whole transaction
                        raise
                    op.error = exc
                continue
            conn.execute("SAVEPOINT op")
            try:
                op.result = op.fn(conn)
            except Exception as exc:  # this operation alone is undone and fails
                conn.execute("ROLLBACK TO op")
                op.error = exc
            conn.execute("RELEASE op")

    def _commit(self) -> None:
        """On the thread: the commit is what waits for the disk (an fsync per batch)."""
        conn = self._connection()
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # -- the cache ---------------------------------------------------------------------------

    def _cached(self, key: str) -> tuple[bool, _State]:
        """Whether ``key`` may be served from the cache, and its state there."""
        if key in self._reading or key not in self._cache:
            return False, None
        self._cache.move_to_end(key)
        return True, self._cache[key]

    def _remember(self, key: str, state: _State) -> None:
        self._cache[key] = state
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _read_write(self, key: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Queue a read-merge-write for ``key`` and answer its result once committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue_read_write(key, fn, future)
        result, _ = await future
        return result

    def _queue_read_write(
        self,
        key: str,
        fn: Callable[[sqlite3.Connection], Any],
        future: asyncio.Future[Any] | None,
    ) -> None:
        """``fn`` reads ``key``, then writes at most one statement, last, and returns
        ``(result, state)``; the state of the last such operation for the key is cached.
        ``future`` answers ``(result, state)`` (None: a write behind)."""
        self._reading[key] = self._reading.get(key, 0) + 1

        def settled(op: _Op) -> None:
            left = self._reading[key] - 1
            if left:
                self._reading[key] = left
                return
            del self._reading[key]
            if op.error is None:
                self._remember(key, op.result[1])

        self._enqueue(_Op(fn, future, settled=settled, one_write=True))

    async def _write_cached(self, key: str, state: tuple[LedgerEntry, float]) -> None:
        """Cache ``state`` now (later operations build on it) and write it in the next batch."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue_cached(key, state, future)
        await future

    def _queue_cached(
        self, key: str, state: tuple[LedgerEntry, float], future: asyncio.Future[None] | None
    ) -> None:
        self._remember(key, state)
        entry, expires_at = state
        doc = encode_entry(entry)
        self._enqueue(
            _Op(lambda conn: conn.execute(_UPSERT, (key, doc, expires_at)), future, from_cache=True)
        )

    # -- the ledger --------------------------------------------------------------------------

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        key = event.key
        expires_at = (now + retention).timestamp()
        hit, state = self._cached(key)
        if hit:
            current = _live(state, now)
            result = merge_event(current, event, now)
            if result.changed:
                await self._write_cached(key, (result.entry, expires_at))
            return result

        def op(conn: sqlite3.Connection) -> tuple[MergeResult, _State]:
            stored = _select(conn, key)
            live = _live(stored, now)
            result = merge_event(live, event, now)
            if not result.changed:
                return result, stored
            conn.execute(_UPSERT, (key, encode_entry(result.entry), expires_at))
            return result, (result.entry, expires_at)

        merged: MergeResult = await self._read_write(key, op)
        return merged

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        key = f"{tenant}:{interaction_id}"
        hit, state = self._cached(key)
        if not hit:
            state = await self._read_write(key, lambda conn: (_select(conn, key),) * 2)
        return _live(state, now)

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        key = f"{tenant}:{interaction_id}"
        hit, state = self._cached(key)
        if hit:
            if state is not None:
                updated = mark_delivered(state[0], platform, revision)
                if updated is not state[0]:
                    self._queue_cached(key, (updated, state[1]), None)
            return

        def op(conn: sqlite3.Connection) -> tuple[None, _State]:
            stored = _select(conn, key)
            if stored is None:
                return None, None
            updated = mark_delivered(stored[0], platform, revision)
            if updated is stored[0]:
                return None, stored
            conn.execute("UPDATE entries SET doc = ? WHERE key = ?", (encode_entry(updated), key))
            return None, (updated, stored[1])

        self._queue_read_write(key, op, None)

    async def flush(self) -> None:
        """Return once every write queued so far is committed; raise :class:`LedgerWriteLost`
        if a write behind failed since the last flush (or the flush's own commit failed)."""
        try:
            await self._run(lambda conn: None)
        except Exception as exc:
            self._lose(exc)
        lost, self._lost = self._lost, None
        if lost is not None:
            raise LedgerWriteLost(f"a write queued before the flush was lost: {lost}") from lost

    async def purge_expired(self, now: datetime) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cursor = conn.execute("DELETE FROM entries WHERE expires_at <= ?", (now.timestamp(),))
            return cursor.rowcount

        purged = await self._run(op)
        moment = now.timestamp()
        for key in [k for k, v in self._cache.items() if v is not None and v[1] <= moment]:
            del self._cache[key]
        return purged

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    # -- listing (admin API) -------------------------------------------------------------------

    async def list_entries(
        self, tenant: str | None, now: datetime, *, limit: int, cursor: str | None
    ) -> EntryPage:
        """Live entries in key order, after the key ``cursor`` names. Run through the queue,
        so the page reflects every write queued before it, acknowledgements written behind
        included."""
        after = cursor or ""
        if tenant is not None and after < f"{tenant}:":
            after = f"{tenant}:"
        # Keys of one tenant share the prefix "tenant:", which sorts just before "tenant;".
        below = f"{tenant};" if tenant is not None else "\U0010ffff"

        def op(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
            return conn.execute(
                "SELECT key, doc FROM entries WHERE key > ? AND key < ? AND expires_at > ? "
                "ORDER BY key LIMIT ?",
                (after, below, now.timestamp(), limit),
            ).fetchall()

        rows = await self._run(op)
        entries = tuple(decode_entry(doc) for _, doc in rows)
        return EntryPage(entries, rows[-1][0] if len(rows) == limit else None)

    async def close(self) -> None:
        """Finish what is queued and let go of the file; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)

        def op() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._owner is not None:
                os.close(self._owner)  # releases the lock
                self._owner = None

        await asyncio.get_running_loop().run_in_executor(self._executor, op)
        self._executor.shutdown(wait=True)


def _closing() -> RuntimeError:
    """What a caller is told when the ledger closed before its operation was known to stand."""
    return RuntimeError("the SQLite ledger is closing")


def _live(state: _State, now: datetime) -> LedgerEntry | None:
    """The entry of ``state`` unless it has expired by ``now``."""
    return state[0] if state is not None and state[1] > now.timestamp() else None


def _select(conn: sqlite3.Connection, key: str) -> _State:
    """The stored row for ``key``, expired or not: callers decide what expiry means to them."""
    row = conn.execute("SELECT doc, expires_at FROM entries WHERE key = ?", (key,)).fetchone()
    return (decode_entry(row[0]), float(row[1])) if row else None
