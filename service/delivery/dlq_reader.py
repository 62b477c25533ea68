"""Reading the DLQ topic back: for ``enricher dlq list`` and for anyone auditing it.

It reads without a consumer group (manual assignment, from the beginning to the end offsets
seen at start), so looking at the DLQ never moves anybody's offsets. Replays write claims into
the DLQ too (records without a value, see :mod:`service.delivery.replay_state`); only the
replay itself reads them, every other reader sees dead letters alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.delivery.dead_letter import HEADER_PREFIX

__all__ = [
    "CLAIM_HEADER",
    "DeadLetterFilter",
    "DeadLetterRecord",
    "DlqSnapshot",
    "read_dead_letters",
    "read_dlq",
    "read_since",
]

CLAIM_HEADER = HEADER_PREFIX + "claim"
"""Marks a replay's claim written to the DLQ; see :mod:`service.delivery.replay_state`."""


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def provenance(self) -> dict[str, str]:
        return {
            name.removeprefix(HEADER_PREFIX): value.decode("utf-8", errors="replace")
            for name, value in self.headers
            if name.startswith(HEADER_PREFIX)
        }

    @property
    def written_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """What an operator selects by; unset fields match everything."""

    tenant: str | None = None
    platform: str | None = None
    reason: str | None = None
    interaction_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, record: DeadLetterRecord) -> bool:
        provenance = record.provenance
        for spec in fields(self):
            wanted = getattr(self, spec.name)
            if wanted is None or spec.name in ("since", "until"):
                continue
            if provenance.get(spec.name) != wanted:
                return False
        written = record.written_at
        if self.since is not None and written < self.since:
            return False
        return self.until is None or written < self.until


@dataclass(frozen=True, slots=True)
class DlqSnapshot:
    """Every record of the DLQ topic as read to its end, and where each partition ended."""

    records: list[DeadLetterRecord]
    ends: dict[int, int]
    """Per partition, the offset after the last record read: a later reader starting there
    sees exactly what was written since."""


def _is_claim(headers: tuple[tuple[str, bytes], ...]) -> bool:
    """A replay's claim (:mod:`service.delivery.replay_state`), not a dead letter."""
    return any(name == CLAIM_HEADER for name, _ in headers)


async def _start(
    consumer: Any, tps: list[TopicPartition], ranges: Mapping[int, tuple[int, int]] | None
) -> dict[TopicPartition, int]:
    """Position every partition at its start; answers where reading may stop."""
    consumer.assign(tps)
    if ranges is None:
        await consumer.seek_to_beginning(*tps)
        return dict(await consumer.end_offsets(tps))
    for tp in tps:
        consumer.seek(tp, ranges[tp.partition][0])
    return {tp: ranges[tp.partition][1] for tp in tps}


def _wanted(record: DeadLetterRecord, claims: bool, selection: DeadLetterFilter | None) -> bool:
    if not claims and _is_claim(record.headers):
        return False
    return selection is None or selection.matches(record)


async def read_dead_letters(
    client_options: Mapping[str, Any],
    topic: str,
    *,
    selection: DeadLetterFilter | None = None,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[DeadLetterRecord]:
    """The dead letters (not replay claims) matching ``selection``, oldest first."""
    snapshot = await _read(client_options, topic, selection=selection, limit=limit, timeout=timeout)
    return snapshot.records


async def read_dlq(
    client_options: Mapping[str, Any], topic: str, *, timeout: float = 30.0
) -> DlqSnapshot:
    """Every record, claims included, read to the end, with where each partition ended."""
    return await _read(client_options, topic, claims=True, timeout=timeout)


async def read_since(
    client_options: Mapping[str, Any],
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    *,
    timeout: float = 30.0,
) -> list[DeadLetterRecord]:
    """Every record, claims included, in ``[start, stop)`` of each partition."""
    return (await _read(client_options, topic, claims=True, ranges=ranges, timeout=timeout)).records


async def _read(
    client_options: Mapping[str, Any],
    topic: str,
    *,
    selection: DeadLetterFilter | None = None,
    limit: int | None = None,
    claims: bool = False,
    ranges: Mapping[int, tuple[int, int]] | None = None,
    timeout: float = 30.0,
) -> DlqSnapshot:
    consumer = AIOKafkaConsumer(**client_options, enable_auto_commit=False, group_id=None)
    try:
        await consumer.start()
        partitions = consumer.partitions_for_topic(topic) or set()
        if ranges is not None:
            partitions = {p for p in partitions if p in ranges and ranges[p][0] < ranges[p][1]}
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return DlqSnapshot([], {})
        ends = await _start(consumer, tps, ranges)
        found: list[DeadLetterRecord] = []
        deadline = time.monotonic() + timeout
        # The end offsets are a lower bound, not the stopping point: some brokers (the embedded
        # Tansu among them) under-report the end of a partition written in multi-record
        # batches. Read past them until a poll comes back empty.
        while time.monotonic() < deadline:
            batches = await consumer.getmany(*tps, timeout_ms=250)
            for records in batches.values():
                for r in records:
                    if ranges is not None and r.offset >= ranges[r.partition][1]:
                        continue
                    record = DeadLetterRecord(
                        r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())
                    )
                    if _wanted(record, claims, selection):
                        found.append(record)
            if limit is not None and len(found) >= limit:
                break
            if not batches and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
        else:
            raise TimeoutError(f"could not read {topic} to its end within {timeout:g}s")
        positions = {tp.partition: await consumer.position(tp) for tp in tps}
        found.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
        return DlqSnapshot(found[:limit] if limit is not None else found, positions)
    finally:
        await consumer.stop()
