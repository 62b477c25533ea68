"""Reading the DLQ topic back: for ``enricher dlq list`` and for anyone auditing it.

It reads without a consumer group (manual assignment, from the beginning to the end offsets
seen at start), so looking at the DLQ never moves anybody's offsets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.delivery.dead_letter import HEADER_PREFIX

__all__ = ["DeadLetterFilter", "DeadLetterRecord", "read_dead_letters"]


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


async def read_dead_letters(
    client_options: Mapping[str, Any],
    topic: str,
    *,
    selection: DeadLetterFilter | None = None,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[DeadLetterRecord]:
    consumer = AIOKafkaConsumer(**client_options, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[DeadLetterRecord] = []
        deadline = time.monotonic() + timeout
        # The end offsets are a lower bound, not the stopping point: some brokers (the embedded
        # Tansu among them) under-report the end of a partition written in multi-record
        # batches. Read past them until a poll comes back empty.
        while time.monotonic() < deadline:
            batches = await consumer.getmany(*tps, timeout_ms=250)
            for records in batches.values():
                for r in records:
                    record = DeadLetterRecord(
                        r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())
                    )
                    if selection is None or selection.matches(record):
                        found.append(record)
            if limit is not None and len(found) >= limit:
                break
            if not batches and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
        else:
            raise TimeoutError(f"could not read {topic} to its end within {timeout:g}s")
        found.sort(key=lambda r: (r.timestamp_ms, r.partition, r.offset))
        return found[:limit] if limit is not None else found
    finally:
        await consumer.stop()
