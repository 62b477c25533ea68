"""A Kafka broker in memory, behind the same seam as aiokafka's clients
(:mod:`service.kafka_seam`).

Tests and benchmarks run the real pipeline on it without a broker process: a test body can be
run here and against a real broker alike, and a benchmark measures the service rather than
the broker. It keeps what the pipeline relies on: topics of ordered partitions, keys
partitioned as the Java client and aiokafka do (murmur2), headers, a consumer group that
assigns partitions to its members and calls their rebalance listeners (every member's
partitions revoked before any is assigned again, as in Kafka's eager protocol), committed
offsets per group that a new member resumes from, and pause, resume and seek. It leaves out
what the pipeline never sees: replication, retention, transactions, and the network.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import CommitFailedError, UnknownTopicOrPartitionError
from aiokafka.partitioner import murmur2

from service.kafka_seam import Headers, RebalanceListener, TopicPartition

__all__ = ["MemoryBroker", "MemoryConsumer", "MemoryProducer", "MemoryRecord", "Sent"]


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int
    """Milliseconds since the epoch, as the producer stamped it."""


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a write landed, as aiokafka's ``RecordMetadata`` says it."""

    topic: str
    partition: int
    offset: int


@dataclass
class _Group:
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MemoryBroker:
    """Topics, groups and the clients that use them, all in this process and event loop."""

    def __init__(self) -> None:
        self._logs: dict[str, list[list[MemoryRecord]]] = {}
        self._groups: dict[str, _Group] = {}
        self._readers: set[MemoryConsumer] = set()
        self._round_robin = itertools.count()

    # -- topics ------------------------------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create ``name`` unless it exists (an existing topic keeps its partitions)."""
        self._logs.setdefault(name, [[] for _ in range(partitions)])

    def partitions(self, topic: str) -> int:
        return len(self._partitions(topic))

    def records(self, topic: str) -> list[MemoryRecord]:
        """Every record of ``topic``, partition by partition, each in offset order."""
        return [record for log in self._partitions(topic) for record in log]

    def end_offset(self, partition: TopicPartition) -> int:
        return len(self._partitions(partition.topic)[partition.partition])

    def committed(self, group_id: str, partition: TopicPartition) -> int | None:
        group = self._groups.get(group_id)
        return group.committed.get(partition) if group is not None else None

    def _partitions(self, topic: str) -> list[list[MemoryRecord]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise UnknownTopicOrPartitionError(topic) from None

    def append(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
        *,
        partition: int | None = None,
    ) -> MemoryRecord:
        logs = self._partitions(topic)
        if partition is None:
            partition = (
                (murmur2(key) & 0x7FFFFFFF) % len(logs)
                if key is not None
                else next(self._round_robin) % len(logs)
            )
        log = logs[partition]
        stamp = int(time.time() * 1000)
        record = MemoryRecord(topic, partition, len(log), key, value, tuple(headers), stamp)
        log.append(record)
        for reader in self._readers:
            reader.wake()
        return record

    # -- clients -----------------------------------------------------------------------------

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, *, group_id: str, **_network_options: Any) -> MemoryConsumer:
        """A group member; aiokafka's other options (servers, timeouts, auto-commit, which is
        always off here) are accepted and ignored, so this is a drop-in consumer factory."""
        return MemoryConsumer(self, group_id)

    # -- the group protocol ------------------------------------------------------------------

    async def _join(self, member: MemoryConsumer) -> None:
        group = self._groups.setdefault(member.group_id, _Group())
        async with group.lock:
            group.members.append(member)
            self._readers.add(member)
            await self._rebalance(group)

    async def _leave(self, member: MemoryConsumer) -> None:
        group = self._groups.get(member.group_id)
        self._readers.discard(member)
        if group is None or member not in group.members:
            return
        async with group.lock:
            group.members.remove(member)
            member.forget()
            await self._rebalance(group)

    async def _rebalance(self, group: _Group) -> None:
        for member in group.members:
            await member.revoke_all()
        plan = _assign(self._logs, group.members)
        for member in group.members:
            await member.take(plan[member], group.committed)

    def _commit(
        self, member: MemoryConsumer, offsets: Mapping[TopicPartition, int], owned: set[Any]
    ) -> None:
        lost = [tp for tp in offsets if tp not in owned]
        if lost:
            raise CommitFailedError(f"not assigned to this member: {lost}")
        self._groups[member.group_id].committed.update(offsets)


def _assign(
    logs: Mapping[str, Sequence[object]], members: Sequence[MemoryConsumer]
) -> dict[MemoryConsumer, list[TopicPartition]]:
    """Each subscribed partition to one member that subscribes to its topic, in turn."""
    plan: dict[MemoryConsumer, list[TopicPartition]] = {m: [] for m in members}
    topics = sorted({t for m in members for t in m.subscription if t in logs})
    turn = 0
    for topic in topics:
        takers = [m for m in members if topic in m.subscription]
        for partition in range(len(logs[topic])):
            plan[takers[turn % len(takers)]].append(TopicPartition(topic, partition))
            turn += 1
    return plan


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> Sent:
        record = self._broker.append(topic, key, value, headers or (), partition=partition)
        return Sent(record.topic, record.partition, record.offset)


class MemoryConsumer:
    """One member of a group: reads from its assigned partitions' positions."""

    def __init__(self, broker: MemoryBroker, group_id: str) -> None:
        self._broker = broker
        self.group_id = group_id
        self.subscription: frozenset[str] = frozenset()
        self._listener: RebalanceListener | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._turn = 0
        self._wake = asyncio.Event()
        self._reassigning = False
        """Set from a revoke until the next assignment: a Kafka consumer fetches nothing while
        its group rebalances, so a loop polling during its revoke listener gets no records."""

    def subscribe(self, topics: Sequence[str], *, listener: Any = None) -> None:
        self.subscription = frozenset(topics)
        self._listener = listener

    async def start(self) -> None:
        await self._broker._join(self)

    async def stop(self) -> None:
        await self._broker._leave(self)

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[MemoryRecord]]:
        """What the assigned, unpaused partitions hold past their positions, up to
        ``max_records`` in all, taken from the partitions in turn; waits up to ``timeout_ms``
        for a first record."""
        batch = self._fetch(partitions, max_records)
        if batch or timeout_ms <= 0:
            await asyncio.sleep(0)  # a fetch yields to the loop, as a network read would
            return batch
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                await self._wake.wait()
        except TimeoutError:
            return {}
        return self._fetch(partitions, max_records)

    def _fetch(
        self, wanted: Sequence[TopicPartition], max_records: int | None
    ) -> dict[TopicPartition, list[MemoryRecord]]:
        if self._reassigning:
            return {}
        readable = [tp for tp in (wanted or self._positions) if tp not in self._paused]
        if not readable:
            return {}
        self._turn = (self._turn + 1) % len(readable)
        room = max_records if max_records is not None else 500
        batch: dict[TopicPartition, list[MemoryRecord]] = {}
        for tp in readable[self._turn :] + readable[: self._turn]:
            position = self._positions.get(tp)
            if position is None or room <= 0:
                continue
            log = self._broker._partitions(tp.topic)[tp.partition]
            taken = log[position : position + room]
            if taken:
                batch[tp] = taken
                self._positions[tp] = position + len(taken)
                room -= len(taken)
        return batch

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused.update(p for p in partitions if p in self._positions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused.difference_update(partitions)
        self.wake()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self._positions:
            raise ValueError(f"{partition} is not assigned")
        self._positions[partition] = offset
        self.wake()

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._broker._commit(self, offsets, set(self._positions))

    async def topics(self) -> set[str]:
        return set(self._broker._logs)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self._broker.end_offset(partition) if partition in self._positions else None

    def wake(self) -> None:
        self._wake.set()

    # -- called by the broker's group protocol -----------------------------------------------

    async def revoke_all(self) -> None:
        # The positions stay while the listener runs, so that its commit is still the owner's.
        self._reassigning = True
        owned = list(self._positions)
        try:
            if owned and self._listener is not None:
                await self._listener.on_partitions_revoked(owned)
        finally:
            self.forget()

    def forget(self) -> None:
        self._positions.clear()
        self._paused.clear()

    async def take(
        self, partitions: list[TopicPartition], committed: Mapping[TopicPartition, int]
    ) -> None:
        self._positions = {tp: committed.get(tp, 0) for tp in partitions}
        self._reassigning = False
        self.wake()
        if self._listener is not None:
            await self._listener.on_partitions_assigned(list(partitions))
