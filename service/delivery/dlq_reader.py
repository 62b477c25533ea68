"""Reading the DLQ topic back: for ``enricher dlq list`` and for anyone auditing it.

It reads without a consumer group (manual assignment, from the beginning to the end offsets
seen at start), so looking at the DLQ never moves anybody's offsets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.delivery.dead_letter import HEADER_PREFIX

__all__ = ["DeadLetterRecord", "read_dead_letters"]


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

    def matches(self, filters: Mapping[str, str | None]) -> bool:
        provenance = self.provenance
        return all(provenance.get(name) == wanted for name, wanted in filters.items() if wanted)


async def read_dead_letters(
    client_options: Mapping[str, Any],
    topic: str,
    *,
    filters: Mapping[str, str | None] | None = None,
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
                    if record.matches(filters or {}):
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
