"""Fetching an original record back from its source position.

A copy written without its value (:mod:`service.delivery.fit`) is only a pointer: the value is
still in the input topic at the copy's source topic, partition and offset, until retention
removes it. Whoever needs the event again (the pipeline reading such a copy from a retry tier,
a replay of such a dead letter) fetches it from there, and is told plainly when it is gone,
instead of passing the empty value on as if it were the event.

It reads without a consumer group, like the DLQ reader, so fetching never moves anybody's
offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["KafkaOriginals", "Original", "OriginalReader"]


@dataclass(frozen=True, slots=True)
class Original:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class OriginalReader(Protocol):
    async def fetch(self, topic: str, partition: int, offset: int) -> Original | None:
        """The record at that position; ``None`` when the topic no longer holds it (retention,
        compaction, a deleted topic). Raises when the broker cannot be asked."""
        ...


class KafkaOriginals:
    """One consumer without a group, started on first use and kept for the next fetch (copies
    without their value are rare, and come in bursts when they come)."""

    def __init__(self, client_options: Mapping[str, Any], *, timeout: float = 10.0) -> None:
        self._options = dict(client_options)
        self._timeout = timeout
        self._consumer: Any = None
        self._lock = asyncio.Lock()

    async def fetch(self, topic: str, partition: int, offset: int) -> Original | None:
        async with self._lock:
            consumer = await self._started()
            if partition not in (await self._partitions(consumer, topic)):
                return None
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            first = (await consumer.beginning_offsets([tp]))[tp]
            if offset < first:
                return None
            consumer.seek(tp, offset)
            deadline = time.monotonic() + self._timeout
            while time.monotonic() < deadline:
                batch = await consumer.getmany(tp, timeout_ms=250, max_records=1)
                for record in batch.get(tp, ()):
                    if record.offset != offset:
                        return None  # compacted away: the log skips from before it to after
                    return Original(record.key, record.value, tuple(record.headers or ()))
            if (await consumer.end_offsets([tp]))[tp] <= offset:
                return None
            raise TimeoutError(f"could not read {topic}/{partition}@{offset} in {self._timeout:g}s")

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _started(self) -> Any:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self._options,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    @staticmethod
    async def _partitions(consumer: Any, topic: str) -> set[int]:
        if topic not in await consumer.topics():
            return set()
        return set(consumer.partitions_for_topic(topic) or ())
