"""The consumer loop: read the input and retry topics, admit each record, merge it, hand it to
its lane, and settle what the lane could not deliver. What is written about an undelivered
record lives in :mod:`service.outbox`, and what makes progress durable (the ledger flushed,
then contiguous offsets committed) in :mod:`service.checkpoint`; this module is the loop.

Every record is processed on its own task as soon as it is read (up to ``max_in_flight``):
merging is atomic in the ledger and the lanes keep one call per interaction, so no record waits
for another interaction's vendor. A record is complete only when everything it caused is done
(delivered, held in the ledger, parked in a retry topic, or written to the DLQ). While a lane's
vendor is not taking calls, a new record for it is parked before it is merged, and merged when
it comes back: an outage then costs the ledger nothing (:meth:`Lane.park_early`). Admitting a
record while there is room awaits nothing, and a delivered record needs no letter, so the
common path costs one task and the awaits of the merge and the lane.

Retry-topic partitions are read by the same consumer: a record that is not yet due pauses its
partition (seeking back to it) until it is, so nothing is busy-polled and the order within a tier
is kept.

An unexpected error (the ledger failing, a DLQ or retry write failing) is fatal by design: the
loop stops without committing past the record, ``/healthz`` fails and the process exits
non-zero, so the orchestrator restarts it and the record is read again. A silently dead task
that keeps the pod "healthy" would be worse. A write refused because of the record itself is
not such an error (:mod:`service.delivery.fit`); a copy written without its value is restored
from its source position before anything else looks at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError, KafkaError

from service.checkpoint import Checkpoint
from service.delivery.dead_letter import DeadLetterSink, RecordSink
from service.delivery.fit import is_omitted
from service.delivery.lanes import Dead, Done, Lanes, Parked, Settlement
from service.delivery.originals import OriginalReader
from service.delivery.privacy import masked_fields
from service.delivery.retry_topics import Origin, origin_of
from service.events import BadInput, parse_event
from service.health import Health
from service.kafka_seam import Consumer, ConsumerFactory, Record, TopicPartition
from service.ledger.base import Ledger
from service.metrics import Children, Metrics
from service.offsets import PartitionOffsets
from service.outbox import Outbox, Undelivered, tenant_of_key
from service.redaction import Redactor
from service.settings import Settings
from service.tenants import Tenant

__all__ = ["Pipeline"]

log = structlog.get_logger("enricher.pipeline")


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._pipeline._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._pipeline._on_assigned(list(assigned))


class Pipeline:
    def __init__(
        self,
        *,
        settings: Settings,
        tenants: Mapping[str, Tenant],
        ledger: Ledger,
        lanes: Lanes,
        dead_letters: DeadLetterSink,
        parking: RecordSink,
        metrics: Metrics,
        health: Health,
        redactor: Redactor,
        consumer_factory: ConsumerFactory = AIOKafkaConsumer,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        originals: OriginalReader | None = None,
    ) -> None:
        self._settings = settings
        self._tenants = tenants
        self._ledger = ledger
        self._lanes = lanes
        self._metrics = metrics
        self._consumed = Children(metrics.consumed)
        self._health = health
        self._redact = redactor
        self._consumer_factory = consumer_factory
        self._now = wall_clock
        self._tiers = settings.retry_tier_topics
        self._retry_topics = frozenset(t.topic for t in self._tiers)
        self._checkpoint = Checkpoint(ledger, metrics)
        self._outbox = Outbox(
            tiers=self._tiers,
            retry_prefix=settings.topic_retry_prefix,
            tenants=tenants,
            dead_letters=dead_letters,
            parking=parking,
            metrics=metrics,
            redactor=redactor,
            wall_clock=wall_clock,
            originals=originals,
        )
        self._free = settings.max_in_flight
        """Places left in the pipeline; a counter, not a semaphore, so that admitting a record
        while there is room awaits nothing."""
        self._room = asyncio.Event()
        self._refill = max(1, settings.max_in_flight // 64)
        """A full pipeline admits again once this many places are free, so that the loop
        wakes once for a handful of finished records rather than once for each."""
        # Read when scraped rather than counted up and down on every record.
        metrics.in_flight.set_function(lambda: settings.max_in_flight - self._free)
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._generation = 0  # bumped on every assignment change
        self._consumer: Consumer | None = None
        self._fatal: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask for a graceful stop: stop fetching, drain, commit, leave the group."""
        self._health.stopping = True
        self._stop.set()

    async def broker_ping(self, timeout: float = 2.0) -> None:
        """One metadata round trip on the consumer's client; raises when no broker answers
        within ``timeout``. Before the consumer exists readiness already says not started."""
        if self._consumer is not None:
            await asyncio.wait_for(self._consumer.topics(), timeout)

    @property
    def topics(self) -> list[str]:
        return [*self._settings.input_topics, *(t.topic for t in self._tiers)]

    async def run(self) -> None:
        consumer = self._consumer_factory(
            **self._settings.kafka_client_options(),
            group_id=self._settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            session_timeout_ms=int(self._settings.kafka_session_timeout.total_seconds() * 1000),
            heartbeat_interval_ms=int(
                self._settings.kafka_heartbeat_interval.total_seconds() * 1000
            ),
        )
        self._consumer = consumer
        self._checkpoint.bind(consumer)
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        await consumer.start()
        self._lanes.start()
        self._health.in_flight = self._checkpoint.in_flight
        self._health.start()
        committer = asyncio.create_task(self._commit_periodically(), name="committer")
        try:
            await self._consume(consumer)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
            await self._shutdown(consumer)
        if self._fatal is not None:
            raise self._fatal

    async def _consume(self, consumer: Consumer) -> None:
        retry_topics = self._retry_topics
        while not self._stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            self._health.beat()
            generation = self._generation
            for tp, records in batches.items():
                retry = tp.topic in retry_topics
                for record in records:
                    # A rebalance can run while admission waits for capacity; the rest of a
                    # batch fetched under the old assignment is abandoned, and the partitions
                    # are read again from their committed offsets by whoever owns them now.
                    if self._stop.is_set() or self._generation != generation:
                        break
                    if retry and self._not_due(consumer, tp, record):
                        break
                    if self._free <= 0 and not await self._wait_for_room(record):
                        break
                    if self._generation != generation:  # a rebalance ran while it waited
                        break
                    self._admit(tp, record)

    def _not_due(self, consumer: Consumer, tp: TopicPartition, record: Record) -> bool:
        """Pause a retry partition whose head is not due yet, and resume it when it is."""
        origin = origin_of(tp.topic, tp.partition, record.offset, record.headers or (), self._tiers)
        wait = (origin.due_at or 0.0) - self._now().timestamp()
        if wait <= 0:
            return False
        consumer.pause(tp)
        consumer.seek(tp, record.offset)
        generation = self._generation
        asyncio.get_running_loop().call_later(wait, self._resume, tp, generation)
        return True

    def _resume(self, tp: TopicPartition, generation: int) -> None:
        if self._consumer is None or generation != self._generation:
            return  # reassigned since: a new owner's fetch finds the head again
        with contextlib.suppress(IllegalStateError):
            self._consumer.resume(tp)

    async def _shutdown(self, consumer: Consumer) -> None:
        pending = [t for tasks in self._tasks.values() for t in tasks]
        if self._fatal is None:
            log.info("draining", in_flight=len(pending))
            await self._drain(pending, self._settings.shutdown_drain.total_seconds())
            await self._commit()
        else:
            await self._drain(pending, 0)
        await self._lanes.close()
        with contextlib.suppress(KafkaError):
            await consumer.stop()
        self._health.joined = False

    # -- admission and processing ------------------------------------------------------------

    async def _wait_for_room(self, record: Record) -> bool:
        """Wait until records leave the full pipeline; False when a stop came first."""
        while self._free < self._refill:
            self._make_room(record)
            self._room.clear()
            try:
                async with asyncio.timeout(1.0):
                    await self._room.wait()
            except TimeoutError:
                self._health.beat()  # the loop is alive; whether work moves is checked apart
                if self._stop.is_set():
                    return False
                if self._free > 0:  # records leave slowly: take what room there is
                    return True
        return True

    def _admit(self, tp: TopicPartition, record: Record) -> None:
        ticket = self._checkpoint.begin(tp, record.offset)
        if ticket is None:  # fetched before this partition was revoked
            return
        self._free -= 1
        task = asyncio.create_task(self._process(record))
        self._tasks.setdefault(tp, set()).add(task)
        task.add_done_callback(lambda t: self._finished(tp, record, t, ticket))

    def _make_room(self, record: Record) -> None:
        """The pipeline is full: let ``record``'s tenant have its share if a lane that is
        behind holds more than its own (:meth:`Lanes.make_room`). The key names the tenant (the
        parser refuses a record whose key does not match its body)."""
        waiting = tenant_of_key(record.key)
        if waiting is None:
            return
        parked = self._lanes.make_room(waiting, self._settings.max_in_flight)
        for tenant, records in parked.items():
            log.info("lane_over_share", tenant=tenant, parked=records, waiting=waiting)

    def _finished(
        self,
        tp: TopicPartition,
        record: Record,
        task: asyncio.Task[None],
        ticket: PartitionOffsets,
    ) -> None:
        self._free += 1
        if self._free >= self._refill:
            self._room.set()
        tasks = self._tasks.get(tp)
        if tasks is not None:
            tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._fail(error, record)
            return
        self._checkpoint.done(tp, record.offset, ticket)
        self._health.progressed()

    def _fail(self, error: BaseException, record: Record | None = None) -> None:
        if self._fatal is None:
            self._fatal = error
            self._health.fatal = f"{type(error).__name__}: {self._redact(str(error))}"
            where = (
                {"topic": record.topic, "partition": record.partition, "offset": record.offset}
                if record is not None
                else {}
            )
            log.error("processing_failed", **where, error=self._health.fatal)
            self._stop.set()

    async def _process(self, record: Record) -> None:
        headers = record.headers or ()
        origin = origin_of(record.topic, record.partition, record.offset, headers, self._tiers)
        if origin.is_retry and is_omitted(headers):  # parked or replayed without its value
            restored = await self._outbox.restore(record, origin)
            if restored is None:
                return
            record, headers = restored, restored.headers
        try:
            event = parse_event(record.key, record.value, self._tenants)
        except BadInput as bad:
            await self._outbox.reject(record, origin, bad)
            return
        masked = masked_fields(headers)
        if masked:  # a replayed DLQ record: never merge the mask over the real value
            event = dataclasses.replace(
                event, fields={k: v for k, v in event.fields.items() if k not in masked}
            )
        tenant = self._tenants[event.tenant]
        kind = "retry" if origin.is_retry else event.type
        self._consumed(event.tenant, tenant.platform, kind).inc()
        settlement: Settlement | None = self._lanes.park_early(
            event.tenant, event.interaction_id, origin
        )
        if settlement is None:
            holdings = self._lanes.holdings
            holdings.add(event.tenant)
            try:
                await self._ledger.merge(event, self._now(), tenant.retention)
                settlement = await self._lanes.submit(event.tenant, event.interaction_id, origin)
            finally:
                holdings.remove(event.tenant)
        undelivered = _undelivered(settlement, origin)
        if undelivered is not None:  # most records are simply delivered: nothing to await
            await self._outbox.write(
                record, origin, event.tenant, event.interaction_id, undelivered
            )

    # -- group membership and commits --------------------------------------------------------

    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        self._generation += 1
        self._checkpoint.assign(assigned)
        self._health.joined = True
        log.info("partitions_assigned", partitions=[f"{p.topic}/{p.partition}" for p in assigned])

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        """Finish what can finish within the drain budget, commit it, then forget the
        partitions so a late completion can never be committed by a replica that lost them."""
        self._generation += 1
        pending = [t for tp in revoked for t in self._tasks.get(tp, ())]
        await self._drain(pending, self._settings.shutdown_drain.total_seconds())
        if self._fatal is None:
            await self._commit(revoked)
        self._checkpoint.revoke(revoked)
        log.info("partitions_revoked", partitions=[f"{p.topic}/{p.partition}" for p in revoked])

    async def _drain(self, tasks: list[asyncio.Task[None]], budget: float) -> None:
        """Let ``tasks`` finish within ``budget``, then cancel the rest and wait for them, so
        nothing from a lost partition or a stopped pipeline keeps calling vendors."""
        if not tasks:
            return
        _, still_running = await asyncio.wait(tasks, timeout=budget) if budget > 0 else ((), tasks)
        for task in still_running:
            task.cancel()
        if still_running:
            log.warning("abandoned_in_flight", tasks=len(still_running))
            await asyncio.gather(*still_running, return_exceptions=True)

    async def _commit_periodically(self) -> None:
        interval = self._settings.commit_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            if self._fatal is None:
                await self._commit()
            # Lane ages only move with time; the per-partition backlog with the commits.
            self._lanes.publish_gauges()
            self._checkpoint.publish_gauges()

    async def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        try:
            await self._checkpoint.commit(partitions)
        except Exception as exc:  # the ledger could not flush: nothing may be committed
            self._fail(exc)


def _undelivered(settlement: Settlement, origin: Origin) -> Undelivered | None:
    """What a lane's settlement leaves for the outbox to write; ``None`` for a change that
    needs no letter. The one place that reads a :class:`Settlement`."""
    # A retry would report the same mapping problems again.
    problems = () if origin.is_retry else settlement.problems
    if isinstance(settlement, Done) and not problems:
        return None
    outcome = settlement.outcome
    letter = Undelivered(
        platform=settlement.platform,
        reason=settlement.reason,
        revision=settlement.revision,
        attempts=settlement.attempts,
        status=outcome.status if outcome else None,
        error_class=outcome.error_class if outcome else None,
        excerpt=outcome.excerpt if outcome else None,
        problems=problems,
    )
    match settlement:
        case Done():
            return letter
        case Parked():
            return dataclasses.replace(
                letter,
                action="park",
                first_failure_at=settlement.first_failure_at,
                last_failure_at=settlement.last_failure_at,
                tier=settlement.tier,
                due_at=settlement.due_at,
            )
        case Dead():
            return dataclasses.replace(
                letter,
                action="bury",
                first_failure_at=settlement.first_failure_at,
                last_failure_at=settlement.last_failure_at,
            )
