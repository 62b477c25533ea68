"""The pipeline on either side of the Kafka seam: the in-memory broker or a real one (the
embedded Tansu broker of ``tests/fixtures/broker.py``), so one test body checks both, and the
in-memory broker is held to what the real one does.

Each test gets its own topics and group; the pipelines it starts share one ledger, as replicas
share their store, and write to a real vendor simulator over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.delivery.kafka_sink import KafkaDeadLetterSink, KafkaRecordSink
from service.delivery.lanes import Lanes
from service.health import Health
from service.kafka_admin import ensure_topics
from service.kafka_memory import MemoryBroker
from service.kafka_seam import ConsumerFactory, Producer, TopicPartition
from service.ledger.base import Ledger
from service.ledger.opening import open_ledger
from service.ledger.resilient import ResilientLedger
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.platforms.registry import build_adapter
from service.redaction import Redactor
from service.runtime import lane_config
from service.settings import Settings
from service.tenants import Tenant
from service.transport import AiohttpTransport
from tests.integration.conftest import wait_for

__all__ = ["Backend", "MemoryBackend", "Pipelines", "RealBackend", "Stored"]


@dataclass(frozen=True)
class Stored:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


class Backend(Protocol):
    """What a test needs from a broker besides the seam's clients."""

    name: str
    bootstrap: str
    producer: Producer

    def consumer_factory(self) -> ConsumerFactory: ...
    async def create(self, topics: Mapping[str, int]) -> None: ...
    async def read(self, topic: str) -> list[Stored]: ...
    async def committed(self, group: str, topic: str, partition: int) -> int | None: ...


class MemoryBackend:
    name = "memory"
    bootstrap = "127.0.0.1:9"  # never dialled

    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self.producer: Producer = self.broker.producer()

    def consumer_factory(self) -> ConsumerFactory:
        return self.broker.consumer

    async def create(self, topics: Mapping[str, int]) -> None:
        for name, partitions in topics.items():
            self.broker.create_topic(name, partitions)

    async def read(self, topic: str) -> list[Stored]:
        return [Stored(r.key, r.value, dict(r.headers)) for r in self.broker.records(topic)]

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        return self.broker.committed(group, TopicPartition(topic, partition))


class RealBackend:
    name = "tansu"

    def __init__(self, bootstrap: str, producer: AIOKafkaProducer) -> None:
        self.bootstrap = bootstrap
        self.producer: Producer = producer

    def consumer_factory(self) -> ConsumerFactory:
        factory: ConsumerFactory = AIOKafkaConsumer
        return factory

    async def create(self, topics: Mapping[str, int]) -> None:
        await ensure_topics(self.bootstrap, dict(topics))

    async def read(self, topic: str) -> list[Stored]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[Stored] = []
            for tp in tps:
                while await consumer.position(tp) < ends[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=1000)
                    out += [Stored(r.key, r.value, dict(r.headers)) for r in batch.get(tp, [])]
            return out
        finally:
            await consumer.stop()

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            offset = await consumer.committed(TopicPartition(topic, partition))
        finally:
            await consumer.stop()
        return offset if offset is not None and offset >= 0 else None


@dataclass
class Running:
    pipeline: Pipeline
    health: Health
    metrics: Metrics
    task: asyncio.Task[None]

    def total(self, name: str) -> float:
        """A counter's sum over all its labels."""
        return sum(
            sample.value
            for family in self.metrics.registry.collect()
            for sample in family.samples
            if sample.name == name
        )


@dataclass
class Pipelines:
    """Starts pipelines of one group on ``backend``; every one is stopped at the end."""

    backend: Backend
    settings: Settings
    tenants: Mapping[str, Tenant]
    ledger: Ledger
    transport: AiohttpTransport
    running: list[Running] = field(default_factory=list)

    async def start(self) -> Running:
        metrics, health = Metrics(), Health()
        adapters = {n: build_adapter(t, self.transport) for n, t in self.tenants.items()}
        lanes = Lanes(self.tenants, adapters, self.ledger, metrics, lane_config(self.settings))
        producer = self.backend.producer
        settings = self.settings
        pipeline = Pipeline(
            settings=settings,
            tenants=self.tenants,
            ledger=self.ledger,
            lanes=lanes,
            dead_letters=KafkaDeadLetterSink(producer, settings.topic_dlq),
            parking=KafkaRecordSink(producer),
            metrics=metrics,
            health=health,
            redactor=Redactor([]),
            consumer_factory=self.backend.consumer_factory(),
        )
        task = asyncio.create_task(pipeline.run())
        running = Running(pipeline, health, metrics, task)
        self.running.append(running)

        async def joined() -> bool:
            if task.done():
                task.result()
            return health.joined

        await wait_for(joined, 60, "the consumer group join")
        return running

    async def stop(self, running: Running) -> None:
        running.pipeline.stop()
        await asyncio.wait_for(running.task, 30)
        self.running.remove(running)

    async def send(self, topic: str, key: str, value: bytes) -> None:
        await self.backend.producer.send_and_wait(topic, value, key.encode())


@contextlib.asynccontextmanager
async def pipelines(
    backend: Backend, settings: Settings, tenants: Mapping[str, Tenant]
) -> AsyncIterator[Pipelines]:
    topics = [*settings.input_topics, *(t.topic for t in settings.retry_tier_topics)]
    await backend.create(
        {**dict.fromkeys(topics, settings.topic_partitions), settings.topic_dlq: 1}
    )
    ledger = ResilientLedger(open_ledger(settings.ledger_url))
    transport = AiohttpTransport()
    started = Pipelines(backend, settings, tenants, ledger, transport)
    try:
        yield started
    finally:
        for running in list(started.running):
            await started.stop(running)
        await transport.close()
        await ledger.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def headers_of(stored: Stored) -> dict[str, Any]:
    return {k: v.decode() for k, v in stored.headers.items()}
