"""Running ``enricher`` commands against the session's broker, and reading back what landed."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

DEV_TENANTS = Path(__file__).resolve().parents[2] / "service" / "dev" / "tenants.yaml"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    value: bytes


def command_env(bootstrap: str, **overrides: str) -> dict[str, str]:
    """``ENRICHER_*`` of a deployment of its own: topics and group no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return {
        "ENRICHER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ENRICHER_KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ENRICHER_TOPIC_CLOSED": f"closed-{suffix}",
        "ENRICHER_TOPIC_ANALYTICS": f"analytics-{suffix}",
        "ENRICHER_TOPIC_DLQ": f"dlq-{suffix}",
        "ENRICHER_TOPIC_RETRY_PREFIX": f"retry-{suffix}.",
        "ENRICHER_RETRY_TIERS": "1s,2s",
        "ENRICHER_GROUP_ID": f"enricher-{suffix}",
        "ENRICHER_CONFIG": str(DEV_TENANTS),
        **overrides,
    }


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 15) -> list[Record]:
    """Every record of ``topic``, waiting until at least ``expected`` are there."""
    return asyncio.run(_read(bootstrap, topic, expected, timeout))


async def _read(bootstrap: str, topic: str, expected: int, timeout: float) -> list[Record]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(*tps, timeout_ms=300)
            for records in batches.values():
                found.extend(
                    Record(r.topic, r.partition, r.offset, r.key.decode(), r.value) for r in records
                )
            if len(found) >= expected and not batches:
                break
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()
