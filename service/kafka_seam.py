"""The Kafka client surface the pipeline and its sinks depend on, and nothing more.

The pipeline needs a consumer that reads, pauses, seeks and commits, and a producer that
writes durably; it does not need aiokafka as such. Naming only the methods it calls lets the
same pipeline run against a real broker (aiokafka's clients) or in memory
(:mod:`service.kafka_memory`), so tests and benchmarks can exercise the real loop without a
broker, and a test body can be run against both. ``TopicPartition`` stays aiokafka's: it is a
plain named tuple, and the real consumer checks for that type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka.structs import TopicPartition

__all__ = [
    "Consumer",
    "ConsumerFactory",
    "Headers",
    "Producer",
    "RebalanceListener",
    "Record",
    "TopicPartition",
]

Headers = Sequence[tuple[str, bytes]]


class Record(Protocol):
    """One record as read: where it sits, and what it holds."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Headers: ...


class RebalanceListener(Protocol):
    """Told before partitions leave this member and after new ones arrive."""

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None: ...
    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None: ...


class Consumer(Protocol):
    """A group member that reads its assigned partitions; commits are explicit."""

    def subscribe(self, topics: Sequence[str], *, listener: Any) -> None:
        """``listener`` is a :class:`RebalanceListener`; aiokafka also wants it to subclass its
        own listener class, so the pipeline's does both."""
        ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Record]]:
        """Records of each partition in offset order."""
        ...

    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...
    async def topics(self) -> set[str]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...


ConsumerFactory = Callable[..., Consumer]
"""Builds the pipeline's consumer from aiokafka's keyword options; an in-memory factory takes
the group and ignores what only a network client needs."""


class Producer(Protocol):
    """Writes to our own topics (retry tiers, DLQ); returns once the broker has the record."""

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> Any: ...
