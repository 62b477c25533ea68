"""The consumer loop: read the input and retry topics, merge, hand to the lanes, park or
dead-letter what they could not deliver, commit.

Every record is processed on its own task as soon as it is read (up to ``max_in_flight``):
merging is atomic in the ledger and the lanes keep one call per interaction, so no record waits
for another interaction's vendor. A record's offset is marked complete only when everything it
caused is done (delivered, held in the ledger, parked in a retry topic, or written to the DLQ),
and commits only ever cover the contiguous completed prefix of a partition
(:mod:`service.offsets`). While a lane's vendor is not taking calls, a new record for it is
parked before it is merged, and merged when it comes back: an outage then costs the ledger
nothing, and the merge does not care about order (:meth:`Lane.park_early`).

Retry-topic partitions are read by the same consumer: a record that is not yet due pauses its
partition (seeking back to it) until it is, so nothing is busy-polled and the order within a tier
is kept.

An unexpected error (the ledger failing, a DLQ or retry write failing) is fatal by design: the
loop stops without committing past the record, ``/healthz`` fails and the process exits
non-zero, so the orchestrator restarts it and the record is read again. A silently dead task
that keeps the pod "healthy" would be worse. A write refused because of the record itself (too
large once our headers are on it) is not such an error: the sinks write it without its value
(:mod:`service.delivery.fit`), and a copy read back that way is restored from its source
position before anything else looks at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from service import __version__
from service.delivery.dead_letter import DeadLetter, DeadLetterSink, RecordSink
from service.delivery.fit import OMITTED, VALUE_SIZE, is_omitted
from service.delivery.lanes import Dead, Lanes, Parked, Settlement
from service.delivery.originals import OriginalReader
from service.delivery.privacy import MASKED_HEADER, mask_fields, masked_fields
from service.delivery.retry_topics import Origin, origin_of, parked_headers
from service.events import BadInput, Event, parse_event
from service.health import Health
from service.ledger.base import Ledger
from service.metrics import UNKNOWN, Children, Metrics
from service.offsets import OffsetTracker, PartitionOffsets
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
        consumer_factory: Callable[..., Any] = AIOKafkaConsumer,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        originals: OriginalReader | None = None,
    ) -> None:
        self._settings = settings
        self._tenants = tenants
        self._ledger = ledger
        self._lanes = lanes
        self._dead_letters = dead_letters
        self._parking = parking
        self._metrics = metrics
        self._consumed = Children(metrics.consumed)
        self._health = health
        self._redact = redactor
        self._consumer_factory = consumer_factory
        self._now = wall_clock
        self._originals = originals
        self._tiers = settings.retry_tier_topics
        self._retry_topics = frozenset(t.topic for t in self._tiers)
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._capacity = asyncio.Semaphore(settings.max_in_flight)
        self._holding: dict[str, int] = {}
        """Records per tenant between their merge and their lane's settlement: what a full
        pipeline is shared out by (:meth:`_make_room`)."""
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._generation = 0  # bumped on every assignment change
        self._consumer: Any = None
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
        consumer.subscribe(self.topics, listener=_Rebalance(self))
        await consumer.start()
        self._lanes.start()
        self._health.in_flight = self._tracker.in_flight
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

    async def _consume(self, consumer: Any) -> None:
        while not self._stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            self._health.beat()
            generation = self._generation
            for tp, records in batches.items():
                for record in records:
                    # A rebalance can run while admission waits for capacity; the rest of a
                    # batch fetched under the old assignment is abandoned, and the partitions
                    # are read again from their committed offsets by whoever owns them now.
                    if self._stop.is_set() or self._generation != generation:
                        break
                    if tp.topic in self._retry_topics and self._not_due(consumer, tp, record):
                        break
                    await self._admit(record)

    def _not_due(self, consumer: Any, tp: TopicPartition, record: Any) -> bool:
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

    async def _shutdown(self, consumer: Any) -> None:
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

    async def _admit(self, record: Any) -> None:
        # The timed wait costs a task per call, so it is only paid when capacity is short.
        while self._capacity.locked():
            self._make_room(record)
            try:
                await asyncio.wait_for(self._capacity.acquire(), timeout=1.0)
                break
            except TimeoutError:
                self._health.beat()  # the loop is alive; whether work moves is checked apart
                if self._stop.is_set():
                    return
        else:
            await self._capacity.acquire()
        tp = TopicPartition(record.topic, record.partition)
        ticket = self._tracker.add(tp, record.offset)
        if ticket is None:  # fetched before this partition was revoked
            self._capacity.release()
            return
        task = asyncio.create_task(self._process(record))
        self._tasks.setdefault(tp, set()).add(task)
        self._metrics.in_flight.inc()
        task.add_done_callback(lambda t: self._finished(tp, record, t, ticket))

    def _make_room(self, record: Any) -> None:
        """The pipeline is full: let ``record``'s tenant have its share if a lane that is
        behind holds more than its own (:meth:`Lanes.make_room`). The key names the tenant (the
        parser refuses a record whose key does not match its body)."""
        waiting = _tenant_of_key(record.key)
        if waiting is None:
            return
        parked = self._lanes.make_room(waiting, self._holding, self._settings.max_in_flight)
        for tenant, records in parked.items():
            log.info("lane_over_share", tenant=tenant, parked=records, waiting=waiting)

    def _finished(
        self, tp: TopicPartition, record: Any, task: asyncio.Task[None], ticket: PartitionOffsets
    ) -> None:
        self._capacity.release()
        self._metrics.in_flight.dec()
        self._tasks.get(tp, set()).discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._fail(error, record)
            return
        self._tracker.complete(tp, record.offset, ticket)
        self._health.progressed()

    def _fail(self, error: BaseException, record: Any = None) -> None:
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

    async def _process(self, record: Any) -> None:
        headers = record.headers or ()
        origin = origin_of(record.topic, record.partition, record.offset, headers, self._tiers)
        if origin.is_retry and is_omitted(headers):  # parked or replayed without its value
            record = await self._restore(record, origin)
            if record is None:
                return
            headers = record.headers
        try:
            event = parse_event(record.key, record.value, self._tenants)
        except BadInput as bad:
            await self._reject(record, origin, bad)
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
            holding = self._holding
            holding[event.tenant] = holding.get(event.tenant, 0) + 1
            try:
                await self._ledger.merge(event, self._now(), tenant.retention)
                settlement = await self._lanes.submit(event.tenant, event.interaction_id, origin)
            finally:
                # A tenant with nothing held leaves the map: the fair share walks it.
                left = holding[event.tenant] - 1
                if left:
                    holding[event.tenant] = left
                else:
                    del holding[event.tenant]
        await self._settle(record, origin, event, settlement)

    async def _restore(self, record: Any, origin: Origin) -> Any:
        """The original event behind a copy written without its value, with the copy's own
        ``enricher.*`` headers (its tier, due time, replay count); ``None`` once the original
        is gone from its topic, which is then dead-lettered as ``original_unavailable``."""
        original = (
            await self._originals.fetch(origin.topic, origin.partition, origin.offset)
            if self._originals is not None
            else None
        )
        if original is None:
            known = _tenant_of_key(record.key)
            tenant = known if known in self._tenants else None
            platform = self._tenants[tenant].platform if tenant else "none"
            self._metrics.dead_lettered.labels(
                tenant or UNKNOWN, platform, "original_unavailable"
            ).inc()
            size = next((v for k, v in record.headers or () if k == VALUE_SIZE), b"")
            where = f"{origin.topic}/{origin.partition}@{origin.offset}"
            log.warning("original_unavailable", source=where)
            await self._dead_letter(
                record,
                origin,
                reason="original_unavailable",
                detail=f"the copy was written without its value, and {where} no longer holds it",
                error_class="OriginalGone",
                tenant=tenant,
                omitted="value",
                value_size=int(size) if size.isdigit() else None,
            )
            return None
        ours = [
            (k, v)
            for k, v in record.headers or ()
            if k.startswith("enricher.") and k not in (OMITTED, VALUE_SIZE, MASKED_HEADER)
        ]
        return _Restored(
            record.topic,
            record.partition,
            record.offset,
            original.key,
            original.value,
            [*original.headers, *ours],
        )

    async def _reject(self, record: Any, origin: Origin, bad: BadInput) -> None:
        named = bad.tenant or _tenant_of_key(record.key)
        known = self._tenants.get(named or "")
        tenant = named if known is not None and named else UNKNOWN
        platform = known.platform if known is not None else "none"
        self._metrics.consumed.labels(tenant, platform, "invalid").inc()
        self._metrics.bad_input.labels(tenant, bad.reason).inc()
        self._metrics.dead_lettered.labels(tenant, platform, bad.reason).inc()
        log.warning(
            "bad_input",
            reason=bad.reason,
            detail=self._redact(bad.detail),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        await self._dead_letter(
            record,
            origin,
            reason=bad.reason,
            detail=self._redact(bad.detail),
            error_class="BadInput",
            tenant=tenant if tenant != UNKNOWN else None,
        )

    async def _settle(
        self, record: Any, origin: Origin, event: Event, settlement: Settlement
    ) -> None:
        tenant, interaction_id = event.tenant, event.interaction_id
        if not origin.is_retry:  # a retry would report the same problems again
            for problem in settlement.problems:
                self._metrics.dead_lettered.labels(
                    tenant, settlement.platform, "unmappable_field"
                ).inc()
                await self._dead_letter(
                    record,
                    origin,
                    reason="unmappable_field",
                    detail=f"{problem.target} (from {problem.source}): {problem.message}",
                    error_class="MappingError",
                    tenant=tenant,
                    platform=settlement.platform,
                    interaction_id=interaction_id,
                    revision=settlement.revision,
                )
        if isinstance(settlement, Parked):
            await self._park(record, origin, tenant, settlement)
        elif isinstance(settlement, Dead):
            await self._bury(record, origin, tenant, interaction_id, settlement)

    async def _park(self, record: Any, origin: Origin, tenant: str, settlement: Parked) -> None:
        tier = self._tiers[settlement.tier]
        headers = parked_headers(
            record.headers or (),
            origin,
            due_at=settlement.due_at,
            attempts=settlement.attempts,
            first_failure_at=settlement.first_failure_at or self._now(),
            reason=settlement.reason,
        )
        await self._parking.send(tier.topic, record.key, record.value, headers)
        self._metrics.parked.labels(
            tenant,
            settlement.platform,
            tier.topic.removeprefix(self._settings.topic_retry_prefix),
            settlement.reason,
        ).inc()

    async def _bury(
        self,
        record: Any,
        origin: Origin,
        tenant: str,
        interaction_id: str,
        settlement: Dead,
    ) -> None:
        outcome = settlement.outcome
        self._metrics.dead_lettered.labels(tenant, settlement.platform, settlement.reason).inc()
        log.warning(
            "dead_lettered",
            tenant=tenant,
            interaction_id=interaction_id,
            platform=settlement.platform,
            reason=settlement.reason,
            status=outcome.status if outcome else None,
            attempts=settlement.attempts,
        )
        await self._dead_letter(
            record,
            origin,
            reason=settlement.reason,
            error_class=(outcome.error_class if outcome else None) or "VendorError",
            http_status=outcome.status if outcome else None,
            # Redact before cutting, so a secret straddling the cut is still masked whole.
            response_excerpt=(
                self._redact(outcome.excerpt)[:300] if outcome and outcome.excerpt else None
            ),
            attempts=settlement.attempts,
            first_failure_at=settlement.first_failure_at,
            last_failure_at=settlement.last_failure_at,
            tenant=tenant,
            platform=settlement.platform,
            interaction_id=interaction_id,
            revision=settlement.revision,
        )

    async def _dead_letter(self, record: Any, origin: Origin, **provenance: Any) -> None:
        value = record.value
        masked: list[str] = []
        tenant = self._tenants.get(provenance.get("tenant") or "")
        if tenant is not None:
            value, masked = mask_fields(value, tenant.private_sources())
        letter = DeadLetter(
            source_topic=origin.topic,
            source_partition=origin.partition,
            source_offset=origin.offset,
            service_version=__version__,
            replays=origin.replays or None,
            masked=",".join(masked) or None,
            **provenance,
        )
        headers = [(k, v) for k, v in record.headers or () if k != MASKED_HEADER]
        await self._dead_letters.send(record.key, value, headers, letter)

    # -- group membership and commits --------------------------------------------------------

    def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        self._generation += 1
        self._tracker.assign(assigned)
        self._health.joined = True
        self._metrics.assigned_partitions.set(len(self._tracker.partitions))
        log.info("partitions_assigned", partitions=[f"{p.topic}/{p.partition}" for p in assigned])

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        """Finish what can finish within the drain budget, commit it, then forget the
        partitions so a late completion can never be committed by a replica that lost them."""
        self._generation += 1
        pending = [t for tp in revoked for t in self._tasks.get(tp, ())]
        await self._drain(pending, self._settings.shutdown_drain.total_seconds())
        if self._fatal is None:
            await self._commit(revoked)
        self._tracker.revoke(revoked)
        self._metrics.assigned_partitions.set(len(self._tracker.partitions))
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
            self._publish_gauges()

    def _publish_gauges(self) -> None:
        """Per-partition backlog, and lane ages that only move with time."""
        self._lanes.publish_gauges()
        consumer = self._consumer
        for tp in self._tracker.partitions:
            labels = (tp.topic, str(tp.partition))
            self._metrics.incomplete_offsets.labels(*labels).set(self._tracker.in_flight(tp))
            end = consumer.highwater(tp) if consumer is not None else None
            done = self._tracker.committed_offset(tp)
            if end is not None and done is not None:
                self._metrics.consumer_lag.labels(*labels).set(max(0, end - done))

    async def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        offsets = self._tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
            return
        try:
            # Acknowledgements may be written behind: none may be lost under a committed offset.
            await self._ledger.flush()
        except Exception as exc:
            self._fail(exc)
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group is rebalancing; the same offsets are committed on the next tick or by
            # the revoke handler. Nothing is lost, at worst some records are read twice.
            log.warning("commit_failed", error=str(exc))
            return
        self._tracker.committed(offsets)
        for tp, offset in offsets.items():
            self._metrics.committed_offset.labels(tp.topic, str(tp.partition)).set(offset)


@dataclasses.dataclass(frozen=True, slots=True)
class _Restored:
    """A record read from a retry tier, with the original's key and value put back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _tenant_of_key(key: bytes | None) -> str | None:
    """The tenant a record's key names, for labelling input whose body could not be read."""
    if not key or b":" not in key:
        return None
    return key.split(b":", 1)[0].decode("utf-8", errors="replace")
