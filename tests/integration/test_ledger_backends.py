"""One suite, every backend: SQLite on a real file, Redis on a real server, and the in-memory
double. Backend-specific tests follow the shared ones.

Redis is ``ENRICHER_TEST_REDIS`` when set (and must answer), else 127.0.0.1:6379 when something
answers there, else the Redis cases are skipped; ``.ci/run`` starts a server, so CI runs them.
Each test gets its own key prefix and deletes its keys afterwards.

Several ledger objects on one store stand for several replicas: two Redis clients with one
prefix (the in-memory double is one object, shared). A SQLite file has one owner, so the
several-replica cases do not apply to it; that a second owner is refused is tested below.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import redis.asyncio
from pydantic import SecretStr

from service.ledger.base import Lease, Ledger
from service.ledger.codec import encode_entry
from service.ledger.memory import MemoryLedger
from service.ledger.opening import open_ledger
from service.ledger.redis import LedgerContentionError, RedisLedger
from service.ledger.sqlite import LedgerInUse
from tests.unit.factories import T0, analytics, closed

NOW = T0 + timedelta(minutes=5)
WEEK = timedelta(days=7)
ENV_REDIS = "ENRICHER_TEST_REDIS"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


# ---------------------------------------------------------------------------------------------
# Redis for the suite


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    configured = os.environ.get(ENV_REDIS, "").strip()
    if configured:
        if not _answers(configured):
            pytest.fail(f"{ENV_REDIS} is set but that Redis does not answer PING")
        return configured
    if not _answers(LOCAL_REDIS):
        pytest.skip(
            f"no Redis answers at 127.0.0.1:6379 and {ENV_REDIS} is unset "
            "(.ci/run starts one; or run redis-server, or set ENRICHER_TEST_REDIS)"
        )
    return LOCAL_REDIS


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"enricher-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client, to look at what the ledger stored."""
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        yield client


# ---------------------------------------------------------------------------------------------
# Stores


@dataclass
class Store:
    """One backend's store, the ledgers (replicas) opened on it, and the clock it expires by.

    SQLite and the in-memory double judge expiry by the ``now`` they are given, so their clock
    is virtual and advancing it costs nothing. Redis expires keys by its own clock, so for it
    the clock is real and advancing it sleeps.
    """

    name: str
    factory: Callable[[], Ledger]
    expires_itself: bool
    replicas: list[Ledger] = field(default_factory=list)
    _virtual: datetime | None = NOW

    def replica(self) -> Ledger:
        ledger = self.factory()
        self.replicas.append(ledger)
        return ledger

    async def started_replicas(self, count: int) -> list[Ledger]:
        """``count`` replicas, each started (pinged) before the next, as pods come up: the
        races under test are between running replicas, not between their first connections."""
        replicas = []
        for _ in range(count):
            replicas.append(self.replica())
            await replicas[-1].ping()
        return replicas

    def now(self) -> datetime:
        return self._virtual if self._virtual is not None else datetime.now(UTC)

    async def advance(self, seconds: float) -> None:
        if self._virtual is None:
            await asyncio.sleep(seconds)
        else:
            self._virtual += timedelta(seconds=seconds)


def _store(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if name == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.sqlite3"
        return Store("sqlite", lambda: open_ledger(url), expires_itself=False)
    if name == "redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return Store(
            "redis",
            lambda: open_ledger(redis_url, key_prefix=prefix),
            expires_itself=True,
            _virtual=None,
        )
    shared = MemoryLedger()
    return Store("memory", lambda: shared, expires_itself=False)


@pytest.fixture(params=["sqlite", "redis", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend = _store(request.param, request, tmp_path)
    yield backend
    for ledger in backend.replicas:
        await ledger.close()


@pytest.fixture(params=["redis", "memory"])
async def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The backends several replicas can share (a SQLite file has a single owner)."""
    backend = _store(request.param, request, tmp_path)
    yield backend
    for ledger in backend.replicas:
        await ledger.close()


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return store.replica()


# ---------------------------------------------------------------------------------------------
# The shared suite


async def test_merge_stores_and_get_reads_back(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    result = await ledger.merge(analytics(fields={"topics": ("a", "b")}), NOW, WEEK)
    assert result.changed
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry == result.entry
    assert entry.field_values() == {"crm": "A-1", "topics": ("a", "b")}
    assert entry.revision == 2
    assert entry.closed_at == T0
    assert entry.ref() == {"contact_id": "8675309"}


async def test_unknown_interaction_is_none(ledger: Ledger) -> None:
    await ledger.merge(closed(), NOW, WEEK)
    assert await ledger.get("acme", "call-2", NOW) is None
    assert await ledger.get("globex", "call-1", NOW) is None


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


async def test_a_change_after_delivery_is_pending_again(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    result = await ledger.merge(analytics(fields={"score": 0.5}), NOW, WEEK)
    assert result.entry.delivered == {"nice-cxone": 1}
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.revision == 2
    assert entry.delivered == {"nice-cxone": 1}
    assert entry.pending_for("nice-cxone")


async def test_marking_an_unknown_interaction_creates_nothing(ledger: Ledger) -> None:
    await ledger.mark_delivered("acme", "call-9", "nice-cxone", 3)
    assert await ledger.get("acme", "call-9", NOW) is None


async def test_entries_expire_retention_after_they_were_written(store: Store) -> None:
    ledger = store.replica()
    await ledger.merge(closed(fields={"crm": "A-1"}), store.now(), timedelta(milliseconds=500))
    assert await ledger.get("acme", "call-1", store.now()) is not None
    await store.advance(0.6)
    assert await ledger.get("acme", "call-1", store.now()) is None
    assert await ledger.purge_expired(store.now()) == (0 if store.expires_itself else 1)
    assert await ledger.get("acme", "call-1", store.now()) is None


async def test_retention_restarts_on_every_change(store: Store) -> None:
    # Margins of 0.3 s around every deadline, so a loaded machine does not flip an outcome.
    ledger, retention = store.replica(), timedelta(milliseconds=800)
    await ledger.merge(closed(fields={"crm": "A-1"}), store.now(), retention)
    await store.advance(0.5)
    await ledger.merge(analytics(fields={"score": 1}), store.now(), retention)
    await store.advance(0.5)  # past the first write's retention, within the second's
    entry = await ledger.get("acme", "call-1", store.now())
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1", "score": 1}
    await store.advance(0.4)
    assert await ledger.get("acme", "call-1", store.now()) is None


async def test_expired_interaction_starts_afresh(store: Store) -> None:
    ledger = store.replica()
    await ledger.merge(closed(fields={"crm": "A-1"}), store.now(), timedelta(milliseconds=200))
    await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    await store.advance(0.3)
    result = await ledger.merge(analytics(fields={"score": 1}), store.now(), WEEK)
    assert result.changed
    assert result.entry.revision == 1
    assert result.entry.field_values() == {"score": 1}
    assert result.entry.delivered == {}
    assert await ledger.get("acme", "call-1", store.now()) == result.entry


async def test_concurrent_merges_of_one_interaction_lose_nothing(ledger: Ledger) -> None:
    events = [analytics(f"e{i}", T0 + timedelta(seconds=i), {f"f{i}": i}) for i in range(50)]
    await asyncio.gather(*(ledger.merge(e, NOW, WEEK) for e in events))
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert len(entry.fields) == 50
    assert entry.revision == 50


async def test_concurrent_merges_from_two_replicas_lose_nothing(shared_store: Store) -> None:
    """Every event reaches both replicas (a redelivery after a rebalance, at worst), in a
    random order: each field lands once, duplicates change nothing, and the revision counts
    exactly the distinct changes."""
    first, second = await shared_store.started_replicas(2)
    events = [analytics(f"e{i:02}", T0 + timedelta(seconds=i), {f"f{i}": i}) for i in range(40)]
    calls = [(replica, event) for event in events for replica in (first, second)]
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*(replica.merge(e, NOW, WEEK) for replica, e in calls))
    assert sum(r.changed for r in results) == 40
    for replica in (first, second):
        entry = await replica.get("acme", "call-1", NOW)
        assert entry is not None
        assert entry.field_values() == {f"f{i}": i for i in range(40)}
        assert entry.revision == 40


async def test_same_field_from_two_replicas_keeps_the_newest(shared_store: Store) -> None:
    first, second = await shared_store.started_replicas(2)
    events = [analytics(f"e{i:02}", T0 + timedelta(seconds=i), {"score": i}) for i in range(30)]
    random.Random(11).shuffle(events)
    await asyncio.gather(
        *(replica.merge(e, NOW, WEEK) for e in events for replica in (first, second))
    )
    entry = await first.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.field_values() == {"score": 29}
    assert 1 <= entry.revision <= 30


async def test_concurrent_acknowledgements_never_move_backwards(shared_store: Store) -> None:
    """Acknowledgements from two replicas arrive in any order while merges go on; a reader
    watching throughout never sees a platform's revision go down."""
    first, second, reader = await shared_store.started_replicas(3)
    await first.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    # Revision r is acknowledged by both replicas around 3r ms, give or take 15 ms, and change
    # i is merged by both around 6i ms: the value climbs while the entry keeps changing, and
    # a stale acknowledgement often lands after a newer one.
    rng = random.Random(3)
    changes = [analytics(f"e{i:02}", T0 + timedelta(seconds=i), {f"f{i}": i}) for i in range(20)]
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            entry = await reader.get("acme", "call-1", NOW)
            assert entry is not None
            seen.append(entry.delivered.get("nice-cxone", 0))
            await asyncio.sleep(0.001)

    async def acknowledge(replica: Ledger, revision: int) -> None:
        await asyncio.sleep(0.003 * revision + rng.uniform(0, 0.015))
        await replica.mark_delivered("acme", "call-1", "nice-cxone", revision)

    async def change(replica: Ledger, i: int) -> None:
        await asyncio.sleep(0.006 * i + rng.uniform(0, 0.015))
        await replica.merge(changes[i], NOW, WEEK)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(
        *(acknowledge(r, revision) for revision in range(1, 41) for r in (first, second)),
        *(change(r, i) for i in range(len(changes)) for r in (first, second)),
    )
    done.set()
    await watcher
    assert seen == sorted(seen)
    entry = await reader.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.delivered == {"nice-cxone": 40}
    assert entry.revision == 21


async def test_ping(ledger: Ledger) -> None:
    await ledger.ping()


# ---------------------------------------------------------------------------------------------
# SQLite


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


async def test_a_second_owner_of_a_sqlite_file_is_refused(tmp_path: Path) -> None:
    """Each SQLite ledger serves reads from its own cache, so two on one file (two pods on a
    shared volume, a surge during a rolling update) would send stale snapshots: the second is
    refused with a message that says what to do, and may open once the first has closed."""
    url = f"sqlite:///{tmp_path}/ledger.sqlite3"
    first = open_ledger(url)
    await first.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    second = open_ledger(url)
    with pytest.raises(LedgerInUse, match=r"serves a single replica.*Redis"):
        await second.ping()
    await first.merge(analytics(fields={"topics": ("a",)}), NOW, WEEK)  # the owner carries on
    await first.close()
    third = open_ledger(url)
    entry = await third.get("acme", "call-1", NOW)
    await third.close()
    await second.close()
    assert entry is not None
    assert entry.revision == 2


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported ledger URL"):
        open_ledger("mongodb://x")


# ---------------------------------------------------------------------------------------------
# Redis


@pytest.fixture
async def redis_ledger(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisLedger]:
    ledger = RedisLedger(redis_url, key_prefix=redis_prefix)
    yield ledger
    await ledger.close()


async def test_redis_keys_live_under_the_prefix(
    redis_ledger: RedisLedger, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await redis_ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    keys = sorted([key async for key in raw_redis.scan_iter(match=f"{redis_prefix}*")])
    assert keys == [
        f"{redis_prefix}{{acme:call-1}}:delivered".encode(),
        f"{redis_prefix}{{acme:call-1}}:entry".encode(),
    ]
    assert redis_ledger.keys("acme", "call-1") == (keys[1].decode(), keys[0].decode())


async def test_redis_stores_the_codec_document(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    entry_key, delivered_key = redis_ledger.keys("acme", "call-1")
    result = await redis_ledger.merge(closed(fields={"crm": "A-1", "n": 2}), NOW, WEEK)
    assert await raw_redis.get(entry_key) == encode_entry(result.entry)
    await redis_ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    assert await raw_redis.get(entry_key) == encode_entry(result.entry)
    assert await raw_redis.hgetall(delivered_key) == {b"nice-cxone": b"1"}
    changed = await redis_ledger.merge(analytics(fields={"score": 0.9}), NOW, WEEK)
    assert changed.entry.delivered == {"nice-cxone": 1}
    assert await raw_redis.get(entry_key) == encode_entry(changed.entry)


async def test_redis_sets_the_ttl_on_every_write(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    entry_key, delivered_key = redis_ledger.keys("acme", "call-1")
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, timedelta(seconds=60))
    assert 59_000 < await raw_redis.pttl(entry_key) <= 60_000
    await redis_ledger.merge(analytics(fields={"score": 1}), NOW, timedelta(seconds=1))
    assert 0 < await raw_redis.pttl(entry_key) <= 1_000
    # An acknowledgement is not a change: the hash takes the entry's remaining time.
    await redis_ledger.mark_delivered("acme", "call-1", "nice-cxone", 2)
    entry_ttl, delivered_ttl = await raw_redis.pttl(entry_key), await raw_redis.pttl(delivered_key)
    assert 0 < delivered_ttl <= 1_000
    assert abs(entry_ttl - delivered_ttl) < 200
    # Neither is a duplicate, which changes nothing and so writes nothing.
    await redis_ledger.merge(analytics(fields={"score": 1}), NOW, timedelta(seconds=60))
    assert 0 < await raw_redis.pttl(entry_key) <= 1_000
    # A change moves both keys on together.
    await redis_ledger.merge(analytics("e-2", fields={"topic": "x"}), NOW, timedelta(seconds=30))
    assert 29_000 < await raw_redis.pttl(entry_key) <= 30_000
    assert 29_000 < await raw_redis.pttl(delivered_key) <= 30_000


async def test_redis_fresh_entry_drops_acknowledgements_of_an_expired_one(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    """If the entry key goes first (evicted, or expired a moment before its hash), a new life
    of the interaction must not inherit the old one's acknowledgements."""
    entry_key, delivered_key = redis_ledger.keys("acme", "call-1")
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await redis_ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    await raw_redis.delete(entry_key)
    result = await redis_ledger.merge(analytics(fields={"score": 1}), NOW, WEEK)
    assert result.entry.delivered == {}
    assert await raw_redis.exists(delivered_key) == 0
    entry = await redis_ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.pending_for("nice-cxone")


async def test_redis_merge_that_loses_a_race_merges_again(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica writes between the document this merge started from and its write: the
    write is refused, and the merge runs again on what the other replica stored."""
    ours = RedisLedger(redis_url, key_prefix=redis_prefix)
    theirs = RedisLedger(redis_url, key_prefix=redis_prefix)
    await ours.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    write = ours._compare_and_set
    interruptions = iter([analytics("e-theirs", fields={"theirs": 1})])

    async def interrupt_then_write(**script: Any) -> Any:
        for event in interruptions:
            await theirs.merge(event, NOW, WEEK)
            break
        return await write(**script)

    monkeypatch.setattr(ours, "_compare_and_set", interrupt_then_write)
    try:
        result = await ours.merge(analytics("e-ours", fields={"ours": 1}), NOW, WEEK)
        assert result.entry.field_values() == {"crm": "A-1", "theirs": 1, "ours": 1}
        assert result.entry.revision == 3
        assert await theirs.get("acme", "call-1", NOW) == result.entry
    finally:
        await ours.close()
        await theirs.close()


async def test_redis_merge_gives_up_after_its_attempts(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = RedisLedger(redis_url, key_prefix=redis_prefix, max_attempts=3)
    theirs = RedisLedger(redis_url, key_prefix=redis_prefix)
    await ours.merge(closed(), NOW, WEEK)
    write = ours._compare_and_set
    rivals = iter(analytics(f"r{i}", fields={f"r{i}": i}) for i in range(100))

    async def always_interrupted(**script: Any) -> Any:
        await theirs.merge(next(rivals), NOW, WEEK)
        return await write(**script)

    monkeypatch.setattr(ours, "_compare_and_set", always_interrupted)
    try:
        with pytest.raises(LedgerContentionError, match="3 compare-and-set races"):
            await ours.merge(analytics("e-ours", fields={"ours": 1}), NOW, WEEK)
        entry = await theirs.get("acme", "call-1", NOW)
        assert entry is not None
        assert "ours" not in entry.fields
    finally:
        await ours.close()
        await theirs.close()


async def test_redis_prefixes_keep_deployments_apart(redis_url: str, redis_prefix: str) -> None:
    blue = RedisLedger(redis_url, key_prefix=f"{redis_prefix}blue:")
    green = RedisLedger(redis_url, key_prefix=f"{redis_prefix}green:")
    try:
        await blue.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
        assert await green.get("acme", "call-1", NOW) is None
        await green.mark_delivered("acme", "call-1", "nice-cxone", 5)
        entry = await blue.get("acme", "call-1", NOW)
        assert entry is not None
        assert entry.delivered == {}
    finally:
        await blue.close()
        await green.close()


def test_redis_prefix_with_a_hash_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisLedger(LOCAL_REDIS, key_prefix="a{b}:")


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_redis_connection_errors_surface() -> None:
    """Nothing listens there: every operation raises, for the pipeline to retry and readiness
    to report, instead of passing for an empty ledger."""
    ledger = open_ledger(f"redis://127.0.0.1:{_unused_port()}/0")
    try:
        with pytest.raises(redis.ConnectionError):
            await ledger.ping()
        with pytest.raises(redis.ConnectionError):
            await ledger.merge(closed(), NOW, WEEK)
        with pytest.raises(redis.ConnectionError):
            await ledger.get("acme", "call-1", NOW)
        with pytest.raises(redis.ConnectionError):
            await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
    finally:
        await ledger.close()


@pytest.fixture
def acl_user(redis_url: str, redis_prefix: str) -> Iterator[tuple[str, str]]:
    """A Redis user allowed only the keys under this test's prefix."""
    name, password = f"enricher-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = redis.Redis.from_url(redis_url)
    try:
        admin.acl_setuser(
            name,
            enabled=True,
            passwords=[f"+{password}"],
            keys=[f"{redis_prefix}*"],
            commands=["+@all"],
        )
    except redis.ResponseError as exc:
        admin.close()
        pytest.skip(f"this Redis does not let the tests add an ACL user: {exc}")
    try:
        yield name, password
    finally:
        admin.acl_deluser(name)
        admin.close()


def _with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}@{host}:{parts.port or 6379}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def test_redis_password_and_acl_confined_to_the_prefix(
    redis_url: str, redis_prefix: str, acl_user: tuple[str, str]
) -> None:
    """The password comes from settings, not the URL; and a user allowed nothing but the
    prefix can run every operation, so the ledger never touches a key outside it."""
    user, password = acl_user
    url = _with_user(redis_url, user)
    ledger = open_ledger(url, password=SecretStr(password), key_prefix=redis_prefix)
    try:
        await ledger.ping()
        await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
        await ledger.mark_delivered("acme", "call-1", "nice-cxone", 1)
        entry = await ledger.get("acme", "call-1", NOW)
        assert entry is not None
        assert entry.delivered == {"nice-cxone": 1}
        lease = Lease("replica-a/1", 5.0)
        assert (await ledger.claim("acme", "call-1", "nice-cxone", lease, NOW)).granted
        await ledger.release("acme", "call-1", "nice-cxone", lease, 1)
    finally:
        await ledger.close()
    outside = open_ledger(url, password=password, key_prefix=f"x{redis_prefix}")
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            await outside.merge(closed(), NOW, WEEK)
    finally:
        await outside.close()
    wrong = open_ledger(url, password="not-the-password", key_prefix=redis_prefix)
    try:
        with pytest.raises(redis.AuthenticationError):
            await wrong.ping()
    finally:
        await wrong.close()


# ---------------------------------------------------------------------------------------------
# Delivery leases: one vendor call per interaction and platform across replicas


async def test_a_claim_reads_the_entry_and_is_granted_when_free(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    claim = await ledger.claim("acme", "call-1", "nice-cxone", Lease("a/1", 5.0), NOW)
    assert claim.granted
    assert claim.entry is not None
    assert claim.entry.fields["crm"].value == "A-1"


async def test_release_with_a_revision_acknowledges_it(ledger: Ledger) -> None:
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    lease = Lease("a/1", 5.0)
    await ledger.claim("acme", "call-1", "nice-cxone", lease, NOW)
    await ledger.release("acme", "call-1", "nice-cxone", lease, 1)
    entry = await ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.delivered == {"nice-cxone": 1}
    assert not entry.pending_for("nice-cxone")


async def test_a_lease_keeps_a_second_replica_from_calling(shared_store: Store) -> None:
    """Two replicas claim the same interaction: one holds the lease until it releases it; the
    other is told how long it still runs, and gets it after the release, reading the
    acknowledgement the holder wrote in the same step."""
    first, second = await shared_store.started_replicas(2)
    await first.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    held = Lease("a/1", 5.0)
    assert (await first.claim("acme", "call-1", "nice-cxone", held, NOW)).granted
    refused = await second.claim("acme", "call-1", "nice-cxone", Lease("b/1", 5.0), NOW)
    assert not refused.granted
    assert 4.0 < refused.held_for <= 5.0
    assert refused.entry is not None
    other_platform = await second.claim("acme", "call-1", "sinch", Lease("b/2", 5.0), NOW)
    assert other_platform.granted

    await second.release("acme", "call-1", "nice-cxone", Lease("b/1", 5.0), 0)
    still = await second.claim("acme", "call-1", "nice-cxone", Lease("b/3", 5.0), NOW)
    assert not still.granted, "only the owner's release ends a lease"

    await first.release("acme", "call-1", "nice-cxone", held, 1)
    after = await second.claim("acme", "call-1", "nice-cxone", Lease("b/4", 5.0), NOW)
    assert after.granted
    assert after.entry is not None
    assert not after.entry.pending_for("nice-cxone")


async def test_a_lease_is_granted_again_to_its_owner_and_expires(shared_store: Store) -> None:
    """A claim repeated after a lost answer is granted to the same owner; a holder that died
    holds the lease only until it expires."""
    ledger = shared_store.replica()
    await ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    lease = Lease("a/1", 0.3)
    assert (await ledger.claim("acme", "call-1", "nice-cxone", lease, NOW)).granted
    assert (await ledger.claim("acme", "call-1", "nice-cxone", lease, NOW)).granted
    other = Lease("b/1", 5.0)
    assert not (await ledger.claim("acme", "call-1", "nice-cxone", other, NOW)).granted
    await asyncio.sleep(0.35)
    assert (await ledger.claim("acme", "call-1", "nice-cxone", other, NOW)).granted


async def test_redis_lease_lives_beside_the_entry_under_the_prefix(
    redis_ledger: RedisLedger, redis_prefix: str, raw_redis: redis.asyncio.Redis
) -> None:
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await redis_ledger.claim("acme", "call-1", "nice-cxone", Lease("a/1", 5.0), NOW)
    key = f"{redis_prefix}{{acme:call-1}}:lease:nice-cxone"
    assert await raw_redis.get(key) == b"a/1"
    assert 4000 < await raw_redis.pttl(key) <= 5000


async def test_redis_pool_full_waits_instead_of_failing(redis_url: str, redis_prefix: str) -> None:
    """More operations at once than the pool has connections: they queue for a connection
    (back-pressure) instead of failing as if Redis were down."""
    # One script per pipeline, so 200 operations want 200 connections at once.
    ledger = RedisLedger(redis_url, key_prefix=redis_prefix, max_connections=2, max_batch=1)
    try:
        await asyncio.gather(
            *(ledger.merge(closed(interaction_id=f"call-{n}"), NOW, WEEK) for n in range(200))
        )
        entries = await asyncio.gather(*(ledger.get("acme", f"call-{n}", NOW) for n in range(200)))
        assert all(entry is not None for entry in entries)
    finally:
        await ledger.close()


async def test_redis_merge_of_a_new_interaction_is_one_round_trip(
    redis_ledger: RedisLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new interaction, and a change to one this replica last wrote, are merged by the
    compare-and-set alone; only a stale guess costs the read it replaces."""
    reads: list[tuple[str, ...]] = []
    read = redis_ledger._read

    async def counted(*keys: str) -> tuple[bytes | None, dict[bytes, bytes]]:
        reads.append(keys)
        return await read(*keys)

    monkeypatch.setattr(redis_ledger, "_read", counted)
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await redis_ledger.merge(analytics(fields={"score": 0.5}), NOW, WEEK)
    assert reads == []
    entry = await redis_ledger.get("acme", "call-1", NOW)
    assert entry is not None
    assert entry.field_values() == {"crm": "A-1", "score": 0.5}


async def test_redis_scripts_survive_a_script_flush(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    """A restarted Redis has forgotten the scripts: they are loaded again, and nothing fails."""
    await redis_ledger.merge(closed(fields={"crm": "A-1"}), NOW, WEEK)
    await raw_redis.script_flush()
    await asyncio.gather(
        *(redis_ledger.merge(closed(interaction_id=f"c-{n}"), NOW, WEEK) for n in range(20))
    )
    entry = await redis_ledger.get("acme", "c-7", NOW)
    assert entry is not None


async def test_redis_one_failing_script_fails_only_its_caller(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    """Scripts sent together are still separate operations: one refused by Redis (a key of
    the wrong type here) fails its own caller, and the others in the batch succeed."""
    entry_key, _ = redis_ledger.keys("acme", "broken")
    await raw_redis.hset(entry_key, "not", "a string")
    results = await asyncio.gather(
        redis_ledger.merge(closed(interaction_id="broken"), NOW, WEEK),
        *(redis_ledger.merge(closed(interaction_id=f"ok-{n}"), NOW, WEEK) for n in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], redis.exceptions.ResponseError)
    assert not any(isinstance(r, BaseException) for r in results[1:])


async def test_redis_a_refused_script_fails_only_its_caller_after_a_script_flush(
    redis_ledger: RedisLedger, raw_redis: redis.asyncio.Redis
) -> None:
    """The scripts are run again one by one after Redis forgot them: one refused still fails
    only its own caller."""
    entry_key, _ = redis_ledger.keys("acme", "broken")
    await raw_redis.hset(entry_key, "not", "a string")
    await raw_redis.script_flush()
    results = await asyncio.gather(
        redis_ledger.merge(closed(interaction_id="broken"), NOW, WEEK),
        *(redis_ledger.merge(closed(interaction_id=f"ok-{n}"), NOW, WEEK) for n in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], redis.exceptions.ResponseError)
    assert not any(isinstance(r, BaseException) for r in results[1:])
