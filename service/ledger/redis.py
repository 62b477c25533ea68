"""Redis ledger: one store shared by every replica.

Two keys per interaction, both under the configured prefix and sharing one hash tag so a
Redis Cluster would keep them in one slot:

- ``{prefix}{tenant:interaction_id}:entry`` -- a string holding exactly
  :func:`service.ledger.codec.encode_entry`'s document, written with ``PX retention``;
- ``{prefix}{tenant:interaction_id}:delivered`` -- a hash ``platform -> revision`` with the
  same expiry.

The merge stays the pure Python :func:`service.merge.merge_event`. A write is a compare-and-set
script: it stores the merged document only if the stored one is still the one the merge started
from (same SHA-1, or still absent), and otherwise answers with the stored document, into which
the event is merged again after a jittered pause. The merge starts from the document this
process last read or wrote for the interaction (a bounded cache), or from nothing for one it has
not seen: a new interaction, or a change to one this replica just delivered, costs one round
trip, and a guess that turned out stale costs the second round trip the read would have cost.
That is WATCH/MULTI/EXEC's optimistic concurrency without holding a connection for the merge.

Expiry is Redis's: every write sets the TTL relative to Redis's own clock, so replicas whose
clocks disagree still agree on which entries exist, and nothing has to be purged.

Delivery leases (``{prefix}{tenant:interaction_id}:lease:{platform}``, a string holding the
owner's token with a ``PX`` expiry) keep one vendor call per interaction and platform across
replicas. :meth:`RedisLedger.claim` reads the entry and takes the lease in one script, so the
holder has read an entry at least as new as any earlier holder's; :meth:`RedisLedger.release`
ends it and raises the acknowledged revision in one script, so nobody can claim in between and
resend what was just delivered. A replica that dies holding a lease holds it only until the
lease expires, which the caller sets beyond its call's timeout.

Acknowledgements live in their own hash because they come from every replica's lanes at any
time: a script raises a platform's revision only upwards, so two replicas acknowledging out of
order can never move it back, and a merge racing an acknowledgement never has to retry for it.
:meth:`RedisLedger.get` reads the document and the hash in one ``MULTI`` and keeps, per
platform, the larger revision of the two.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import TryAgainError

from service.backoff import full_jitter
from service.events import Event
from service.ledger.base import DEFAULT_KEY_PREFIX, Claim, EntryPage, InvalidCursor, Lease
from service.ledger.codec import decode_entry, encode_entry
from service.ledger.redis_batch import MAX_BATCH, ScriptBatcher
from service.merge import LedgerEntry, MergeResult, merge_event

__all__ = ["LedgerContentionError", "RedisLedger"]

# KEYS: entry, delivered. ARGV: SHA-1 of the entry merged into ("" when absent), new entry,
# TTL ms. It answers {1, acknowledgements} once stored, and on a mismatch
# {0, stored entry, acknowledgements}, for the next try.
# A fresh entry drops a delivered hash left by an earlier, expired life of the same key.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if current then
  if redis.sha1hex(current) ~= ARGV[1] then
    return {0, current, redis.call('HGETALL', KEYS[2])}
  end
else
  if ARGV[1] ~= '' then return {0, false, redis.call('HGETALL', KEYS[2])} end
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, false, redis.call('HGETALL', KEYS[2])}
"""

# KEYS: entry, delivered, lease. ARGV: owner, lease TTL ms. The lease is taken when free or
# already this owner's (a repeated claim after a lost answer); the entry is read either way.
_CLAIM = """
local holder = redis.call('GET', KEYS[3])
local granted = 0
local wait = 0
if (not holder) or holder == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  granted = 1
else
  wait = redis.call('PTTL', KEYS[3])
end
return {granted, wait, redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""

# KEYS: entry, delivered. The entry and its acknowledgements as of one instant.
_READ = """
return {redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[2])}
"""

# KEYS: lease. ARGV: owner, lease TTL ms.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: entry, delivered, lease. ARGV: owner, platform, revision (0: nothing acknowledged).
# The hash takes the entry's remaining TTL, so both keys expire together and an
# acknowledgement never extends retention.
_RELEASE = """
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local revision = tonumber(ARGV[3])
if revision <= 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 0 end
local known = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if revision <= known then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

_NO_LEASE = Lease("", 0.0)
"""An owner no lease is ever held by (owners are never empty): acknowledging without a lease."""

_TIMEOUT_SECONDS = 5.0
_CACHE_ENTRIES = 16_384
"""Documents remembered per process to start merges from; a stale one costs one round trip."""

DEFAULT_MAX_CONNECTIONS = 64
"""Connections one replica opens at most. Each ledger operation holds one for a round trip
only, so a few dozen serve thousands of records in flight; when all are busy the next
operation waits for one (back-pressure) instead of failing as if Redis were down."""

_Delivered = dict[bytes, bytes]
"""A delivered hash as redis-py returns it: platform -> revision, both as bytes."""


class LedgerContentionError(TryAgainError):
    """A merge lost its compare-and-set every time it was allowed to try.

    Only writers hammering one interaction from several replicas at once get here (one
    replica's pipeline merges an interaction's events one at a time). Like Redis Cluster's own
    ``TRYAGAIN`` it means "nothing is broken, repeat the call", and callers that wait out an
    unavailable store treat it so.
    """


class RedisLedger:
    """The ledger in Redis, selected by ``ENRICHER_LEDGER_URL=redis://`` or ``rediss://``.

    Connection settings come from the URL (``?socket_timeout=``, ``?ssl_ca_certs=`` and the
    other redis-py URL options win over the defaults here). Connection errors are raised, never
    swallowed: the pipeline retries a failed merge and readiness reports a failed ping.
    """

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        max_attempts: int = 64,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if "{" in key_prefix or "}" in key_prefix:
            raise ValueError(f"ledger key prefix {key_prefix!r} may not contain braces")
        options: dict[str, Any] = {
            # Bounded, so a dead Redis fails an operation within seconds instead of hanging it.
            "socket_timeout": _TIMEOUT_SECONDS,
            "socket_connect_timeout": _TIMEOUT_SECONDS,
            "retry": Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.02), retries=2),
        }
        if password is not None:
            options["password"] = password
        # A blocking pool waits for a free connection, up to the socket timeout, where the
        # default pool raises MaxConnectionsError, which reads as an outage.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=_TIMEOUT_SECONDS, **options
        )
        self._redis: Redis = Redis.from_pool(pool)
        self._prefix = key_prefix
        self._max_attempts = max_attempts
        self._documents: dict[str, tuple[bytes | None, _Delivered]] = {}
        """Entry key -> the document (None: known absent) and acknowledgements as last seen."""
        self._batcher = ScriptBatcher(self._redis, max_batch=max_batch)
        self._compare_and_set = self._batcher.register(_COMPARE_AND_SET)
        self._claim = self._batcher.register(_CLAIM)
        self._release = self._batcher.register(_RELEASE)
        self._renew = self._batcher.register(_RENEW)
        self._read_script = self._batcher.register(_READ)

    def keys(self, tenant: str, interaction_id: str) -> tuple[str, str]:
        """The entry key and the delivered-hash key of one interaction."""
        tagged = f"{self._prefix}{{{tenant}:{interaction_id}}}"
        return f"{tagged}:entry", f"{tagged}:delivered"

    async def merge(self, event: Event, now: datetime, retention: timedelta) -> MergeResult:
        entry_key, delivered_key = self.keys(event.tenant, event.interaction_id)
        ttl_ms = max(1, math.ceil(retention / timedelta(milliseconds=1)))
        raw, delivered = self._documents.get(entry_key, (None, {}))
        read = False  # whether ``raw`` came from Redis in this call, or is a guess
        for attempt in range(1, self._max_attempts + 1):
            result = merge_event(_assemble(raw, delivered), event, now)
            if not result.changed:
                if read:
                    return result
                # Nothing to write by the guess: only the stored document can say so.
                raw, delivered = await self._read(entry_key, delivered_key)
                read = True
                continue
            expected = hashlib.sha1(raw, usedforsecurity=False).hexdigest() if raw else ""
            document = encode_entry(result.entry)
            answer = await self._compare_and_set(
                keys=[entry_key, delivered_key], args=[expected, document, ttl_ms]
            )
            flat = answer[2]
            delivered = dict(zip(flat[::2], flat[1::2], strict=True))
            if answer[0]:
                self._remember(entry_key, document, delivered)
                return _acknowledged(result, delivered)
            raw = answer[1]
            self._remember(entry_key, raw, delivered)
            if not read:
                read = True  # the guess was stale: the stored document is in hand, retry now
                continue
            await asyncio.sleep(full_jitter(attempt, base=0.002, cap=0.05, rng=_rng))
        raise LedgerContentionError(
            f"merge of {event.key} lost {self._max_attempts} compare-and-set races in a row"
        )

    async def get(self, tenant: str, interaction_id: str, now: datetime) -> LedgerEntry | None:
        """``now`` is not consulted: an entry is live exactly as long as Redis keeps its key."""
        raw, delivered = await self._read(*self.keys(tenant, interaction_id))
        return _assemble(raw, delivered)

    async def mark_delivered(
        self, tenant: str, interaction_id: str, platform: str, revision: int
    ) -> None:
        """The release script's acknowledgement, by an owner that holds no lease."""
        await self.release(tenant, interaction_id, platform, _NO_LEASE, revision)

    def lease_key(self, tenant: str, interaction_id: str, platform: str) -> str:
        return f"{self._prefix}{{{tenant}:{interaction_id}}}:lease:{platform}"

    async def claim(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, now: datetime
    ) -> Claim:
        """``now`` is not consulted: the lease runs on Redis's clock, as entries expire."""
        entry_key, delivered_key = self.keys(tenant, interaction_id)
        ttl_ms = max(1, math.ceil(lease.ttl * 1000))
        granted, wait_ms, raw, flat = await self._claim(
            keys=[entry_key, delivered_key, self.lease_key(tenant, interaction_id, platform)],
            args=[lease.owner, ttl_ms],
        )
        delivered = dict(zip(flat[::2], flat[1::2], strict=True))
        self._remember(entry_key, raw, delivered)
        held_for = max(0.0, int(wait_ms) / 1000)
        return Claim(_assemble(raw, delivered), bool(granted), held_for)

    async def renew(self, tenant: str, interaction_id: str, platform: str, lease: Lease) -> bool:
        ttl_ms = max(1, math.ceil(lease.ttl * 1000))
        renewed = await self._renew(
            keys=[self.lease_key(tenant, interaction_id, platform)], args=[lease.owner, ttl_ms]
        )
        return bool(renewed)

    async def release(
        self, tenant: str, interaction_id: str, platform: str, lease: Lease, revision: int
    ) -> None:
        entry_key, delivered_key = self.keys(tenant, interaction_id)
        await self._release(
            keys=[entry_key, delivered_key, self.lease_key(tenant, interaction_id, platform)],
            args=[lease.owner, platform, revision],
        )
        if revision > 0:
            self._acknowledge(entry_key, platform, revision)

    async def flush(self) -> None:
        """Nothing to wait for: every write above returns once Redis has applied it."""
        return None

    async def purge_expired(self, now: datetime) -> int:
        """Always 0: every write sets a TTL, so Redis removes expired entries itself and there
        is nothing to reclaim here."""
        return 0

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._batcher.close()
        await self._redis.aclose()

    # -- listing (admin API) -------------------------------------------------------------------

    async def list_entries(
        self, tenant: str | None, now: datetime, *, limit: int, cursor: str | None
    ) -> EntryPage:
        """Entries found by ``SCAN`` over this ledger's entry keys (of one tenant, if given).

        The cursor is ``<scan cursor>.<taken>``: SCAN answers in batches of its own size, so
        a page that ends inside a batch says how many of that batch's keys it already showed,
        and the next page scans the same batch again and skips them. ``now`` is not consulted:
        an entry is live exactly as long as Redis keeps its key."""
        scan, taken = _scan_position(cursor)
        pattern = f"{_glob_escape(self._prefix)}{{{_glob_escape(tenant) + ':' if tenant else ''}*}}"
        pattern += ":entry"
        keys: list[str] = []
        for _ in range(_SCAN_ROUNDS):
            following, found = await self._redis.scan(scan, match=pattern, count=_SCAN_COUNT)
            batch = sorted(k.decode() if isinstance(k, bytes) else k for k in found)[taken:]
            room = limit - len(keys)
            keys += batch[:room]
            if len(batch) > room:
                taken += room
                break
            scan, taken = int(following), 0
            if scan == 0 or len(keys) == limit:
                break
        # Read with the script itself, not _read: a listing should not push the entries
        # merges are working on out of the cache.
        answers = await asyncio.gather(
            *(self._read_script(keys=[k, _delivered_key(k)], args=[]) for k in keys)
        )
        entries = tuple(
            entry
            for raw, flat in answers
            if (entry := _assemble(raw, dict(zip(flat[::2], flat[1::2], strict=True))))
        )
        done = scan == 0 and taken == 0
        return EntryPage(entries, None if done else f"{scan}.{taken}")

    async def _read(self, entry_key: str, delivered_key: str) -> tuple[bytes | None, _Delivered]:
        """The entry and its acknowledgements as of one instant (one script)."""
        raw, flat = await self._read_script(keys=[entry_key, delivered_key], args=[])
        delivered = dict(zip(flat[::2], flat[1::2], strict=True))
        self._remember(entry_key, raw, delivered)
        return raw, delivered

    def _remember(self, entry_key: str, raw: bytes | None, delivered: _Delivered) -> None:
        """Keep the newest document seen, the oldest forgotten first when the cache is full."""
        documents = self._documents
        documents.pop(entry_key, None)
        documents[entry_key] = (raw, delivered)
        if len(documents) > _CACHE_ENTRIES:
            del documents[next(iter(documents))]

    def _acknowledge(self, entry_key: str, platform: str, revision: int) -> None:
        """What an acknowledgement written here did to the stored hash, in the cache too."""
        known = self._documents.get(entry_key)
        if known is not None:
            name = platform.encode()
            if int(known[1].get(name, b"0")) < revision:
                known[1][name] = str(revision).encode()


_rng = random.Random()  # noqa: S311 - jitter, not cryptography

_SCAN_COUNT = 500
"""Keys Redis looks at per SCAN call when listing entries (its hint, not a bound)."""
_SCAN_ROUNDS = 20
"""SCAN calls per listed page at most: a page with few matches ends early, cursor and all,
instead of walking the whole keyspace in one request."""


def _glob_escape(text: str) -> str:
    """``text`` matched literally by SCAN's glob pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _delivered_key(entry_key: str) -> str:
    return entry_key.removesuffix(":entry") + ":delivered"


def _scan_position(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    scan, dot, taken = cursor.partition(".")
    if not (dot and scan.isdigit() and taken.isdigit()):
        raise InvalidCursor(f"{cursor!r} is not a cursor of this ledger")
    return int(scan), int(taken)


def _acknowledged(result: MergeResult, delivered: _Delivered) -> MergeResult:
    """``result`` with the acknowledgements stored beside it, which a merge started from a
    remembered document may not have seen."""
    entry = _assemble_entry(result.entry, delivered)
    return result if entry is result.entry else replace(result, entry=entry)


def _assemble(raw: bytes | None, delivered: _Delivered) -> LedgerEntry | None:
    return None if raw is None else _assemble_entry(decode_entry(raw), delivered)


def _assemble_entry(entry: LedgerEntry, delivered: _Delivered) -> LedgerEntry:
    """Per platform, the larger of the document's and the hash's acknowledged revision."""
    if not delivered:
        return entry
    merged = dict(entry.delivered)
    for platform, revision in delivered.items():
        name = platform.decode()
        merged[name] = max(merged.get(name, 0), int(revision))
    return entry if merged == entry.delivered else replace(entry, delivered=merged)
