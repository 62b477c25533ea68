"""The consumer loop: read both input topics, merge, deliver, dead-letter, commit.

Records of different interactions are processed concurrently (up to ``max_in_flight``); records
of the same interaction are chained so they are handled strictly in arrival order, one at a
time. A record's offset is marked complete only when everything it caused is done (delivered,
held in the ledger, or written to the DLQ), and commits only ever cover the contiguous completed
prefix of a partition (:mod:`service.offsets`).

An unexpected error (the ledger failing, the DLQ write failing) is fatal by design: the loop
stops without committing past the record, ``/healthz`` fails and the process exits non-zero, so
the orchestrator restarts it and the record is read again. A silently dead task that keeps the
pod "healthy" would be worse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from service import __version__
from service.delivery.dead_letter import DeadLetter, DeadLetterSink
from service.delivery.deliverer import Deliverer, Report, ReportKind
from service.events import BadInput, parse_event
from service.health import Health
from service.ledger.base import Ledger
from service.metrics import UNKNOWN, Metrics
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
        deliverer: Deliverer,
        dead_letters: DeadLetterSink,
        metrics: Metrics,
        health: Health,
        redactor: Redactor,
        consumer_factory: Callable[..., Any] = AIOKafkaConsumer,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._tenants = tenants
        self._ledger = ledger
        self._deliverer = deliverer
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._health = health
        self._redact = redactor
        self._consumer_factory = consumer_factory
        self._now = wall_clock
        self._tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._capacity = asyncio.Semaphore(settings.max_in_flight)
        self._chains: dict[bytes | None, asyncio.Task[None]] = {}
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
        consumer.subscribe(list(self._settings.input_topics), listener=_Rebalance(self))
        await consumer.start()
        self._health.started = True
        self._health.beat()
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
            for records in batches.values():
                for record in records:
                    # A rebalance can run while admission waits for capacity; the rest of a
                    # batch fetched under the old assignment is abandoned, and the partitions
                    # are read again from their committed offsets by whoever owns them now.
                    if self._stop.is_set() or self._generation != generation:
                        break
                    await self._admit(record)

    async def _shutdown(self, consumer: Any) -> None:
        pending = [t for tasks in self._tasks.values() for t in tasks]
        if self._fatal is None:
            log.info("draining", in_flight=len(pending))
            await self._drain(pending, self._settings.shutdown_drain.total_seconds())
            await self._commit()
        else:
            await self._drain(pending, 0)
        with contextlib.suppress(KafkaError):
            await consumer.stop()
        self._health.joined = False

    # -- admission and processing ------------------------------------------------------------

    async def _admit(self, record: Any) -> None:
        while True:
            try:
                await asyncio.wait_for(self._capacity.acquire(), timeout=1.0)
                break
            except TimeoutError:
                self._health.beat()  # waiting on slow vendors is progress, not a hang
                if self._stop.is_set():
                    return
        tp = TopicPartition(record.topic, record.partition)
        ticket = self._tracker.add(tp, record.offset)
        if ticket is None:  # fetched before this partition was revoked
            self._capacity.release()
            return
        previous = self._chains.get(record.key)
        task = asyncio.create_task(self._process(tp, record, previous))
        if record.key is not None:
            self._chains[record.key] = task
        self._tasks.setdefault(tp, set()).add(task)
        self._metrics.in_flight.inc()
        task.add_done_callback(lambda t: self._finished(tp, record, t, ticket))

    def _finished(
        self, tp: TopicPartition, record: Any, task: asyncio.Task[None], ticket: PartitionOffsets
    ) -> None:
        self._capacity.release()
        self._metrics.in_flight.dec()
        self._tasks.get(tp, set()).discard(task)
        if self._chains.get(record.key) is task:
            del self._chains[record.key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._fail(error, record)
            return
        self._tracker.complete(tp, record.offset, ticket)

    def _fail(self, error: BaseException, record: Any) -> None:
        if self._fatal is None:
            self._fatal = error
            self._health.fatal = f"{type(error).__name__}: {self._redact(str(error))}"
            log.error(
                "processing_failed",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=self._health.fatal,
            )
            self._stop.set()

    async def _process(
        self, tp: TopicPartition, record: Any, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            # Same interaction: wait for the earlier record, whatever became of it.
            await asyncio.wait([previous])
            if self._fatal is not None:
                raise RuntimeError("not processed: the pipeline stopped on an earlier failure")
        try:
            event = parse_event(record.key, record.value, self._tenants)
        except BadInput as bad:
            await self._reject(record, bad)
            return
        tenant = self._tenants[event.tenant]
        self._metrics.consumed.labels(event.tenant, tenant.platform, event.type).inc()
        await self._ledger.merge(event, self._now(), tenant.retention)
        report = await self._deliverer.deliver(event.tenant, event.interaction_id)
        await self._settle(record, event.tenant, event.interaction_id, report)

    async def _reject(self, record: Any, bad: BadInput) -> None:
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
            reason=bad.reason,
            detail=self._redact(bad.detail),
            error_class="BadInput",
            tenant=tenant if tenant != UNKNOWN else None,
        )

    async def _settle(self, record: Any, tenant: str, interaction_id: str, report: Report) -> None:
        for problem in report.problems:
            self._metrics.dead_lettered.labels(tenant, report.platform, "unmappable_field").inc()
            await self._dead_letter(
                record,
                reason="unmappable_field",
                detail=f"{problem.target} (from {problem.source}): {problem.message}",
                error_class="MappingError",
                tenant=tenant,
                platform=report.platform,
                interaction_id=interaction_id,
                revision=report.revision,
            )
        if report.kind is not ReportKind.DEAD or report.outcome is None:
            return
        outcome = report.outcome
        self._metrics.dead_lettered.labels(tenant, report.platform, outcome.reason).inc()
        log.warning(
            "dead_lettered",
            tenant=tenant,
            interaction_id=interaction_id,
            platform=report.platform,
            reason=outcome.reason,
            status=outcome.status,
            attempts=report.attempts,
        )
        await self._dead_letter(
            record,
            reason=outcome.reason,
            error_class=outcome.error_class or "VendorError",
            http_status=outcome.status,
            # Redact before cutting, so a secret straddling the cut is still masked whole.
            response_excerpt=self._redact(outcome.excerpt)[:300] if outcome.excerpt else None,
            attempts=report.attempts,
            first_failure_at=report.first_failure_at,
            last_failure_at=report.last_failure_at,
            tenant=tenant,
            platform=report.platform,
            interaction_id=interaction_id,
            revision=report.revision,
        )

    async def _dead_letter(self, record: Any, **provenance: Any) -> None:
        letter = DeadLetter(
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            service_version=__version__,
            **provenance,
        )
        await self._dead_letters.send(record.key, record.value, record.headers or (), letter)

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

    async def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        offsets = self._tracker.to_commit(partitions)
        if not offsets or self._consumer is None:
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


def _tenant_of_key(key: bytes | None) -> str | None:
    """The tenant a record's key names, for labelling input whose body could not be read."""
    if not key or b":" not in key:
        return None
    return key.split(b":", 1)[0].decode("utf-8", errors="replace")
