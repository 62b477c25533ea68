"""What the pipeline has finished, made durable in the only safe order: the ledger first, then
the consumer offsets.

Records finish out of order, and the ledger may write acknowledgements behind (group commits),
so a committed offset is a promise about two stores: every record below it is settled, and
what settling wrote to the ledger is on disk. This module keeps that promise in one place. It
owns the per-partition tracking (:mod:`service.offsets`, pure), flushes the ledger, commits
the contiguous completed prefix of each owned partition, and publishes the gauges that
describe it. A commit refused because the group is rebalancing is only logged: the same
offsets go out on the next tick or from the revoke handler, and at worst some records are read
twice. A ledger that cannot flush is the caller's fatal error.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from aiokafka.errors import CommitFailedError, KafkaError

from service.kafka_seam import Consumer, TopicPartition
from service.ledger.base import Ledger
from service.metrics import Metrics
from service.offsets import OffsetTracker, PartitionOffsets

__all__ = ["Checkpoint"]

log = structlog.get_logger("enricher.pipeline")


class Checkpoint:
    def __init__(self, ledger: Ledger, metrics: Metrics) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._consumer: Consumer | None = None

    def bind(self, consumer: Consumer) -> None:
        """The consumer whose group the offsets are committed to."""
        self._consumer = consumer

    # -- tracking ----------------------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._tracker.assign(partitions)
        self._metrics.assigned_partitions.set(len(self._tracker.partitions))

    def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget ``partitions``: a late completion can never be committed for them."""
        self._tracker.revoke(partitions)
        self._metrics.assigned_partitions.set(len(self._tracker.partitions))

    def begin(self, partition: TopicPartition, offset: int) -> PartitionOffsets | None:
        """Track a record read; ``None`` when its partition is no longer owned (see
        :meth:`OffsetTracker.add`)."""
        return self._tracker.add(partition, offset)

    def done(self, partition: TopicPartition, offset: int, ticket: PartitionOffsets) -> None:
        self._tracker.complete(partition, offset, ticket)

    def in_flight(self, partition: TopicPartition | None = None) -> int:
        return self._tracker.in_flight(partition)

    # -- durability --------------------------------------------------------------------------

    async def commit(self, partitions: list[TopicPartition] | None = None) -> None:
        """Flush the ledger, then commit what moved. Raises what the ledger raises."""
        offsets = self._tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
            return
        # Acknowledgements may be written behind: none may be lost under a committed offset.
        await self._ledger.flush()
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("commit_failed", error=str(exc))
            return
        self._tracker.committed(offsets)
        gauge = self._metrics.committed_offset
        for tp, offset in offsets.items():
            gauge.labels(tp.topic, str(tp.partition)).set(offset)

    def publish_gauges(self) -> None:
        """Per-partition backlog: records in flight, and lag behind the end of the log."""
        consumer = self._consumer
        tracker = self._tracker
        for tp in tracker.partitions:
            labels = (tp.topic, str(tp.partition))
            self._metrics.incomplete_offsets.labels(*labels).set(tracker.in_flight(tp))
            end = consumer.highwater(tp) if consumer is not None else None
            done = tracker.committed_offset(tp)
            if end is not None and done is not None:
                self._metrics.consumer_lag.labels(*labels).set(max(0, end - done))
