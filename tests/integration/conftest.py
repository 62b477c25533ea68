"""Fixtures for tests that run the real service against the real broker and simulator.

Every test gets its own topics, consumer group, ledger file and simulator, so tests sharing
one broker never see each other's records.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.delivery.dlq_reader import DeadLetterRecord, read_dead_letters
from service.http_server import AppServer
from service.platforms.nice_cxone.simulator import NiceSimConfig, create_app
from service.runtime import Service
from service.settings import Settings
from service.tenants import parse_tenants
from tests.fixtures.nice import Sim

FIELDS = {"Sentiment", "SentimentScore", "Topics", "CrmAccount", "CaseNumber", "Vip"}

TENANTS_YAML = """
tenants:
  acme:
    platform: nice-cxone
    nice-cxone:
      issuer: ${ISSUER}
      client_id: enricher-dev
      client_secret: ${CLIENT_SECRET}
      access_key_id: ${KEY_ID}
      access_key_secret: ${KEY_SECRET}
      not_found_grace: 1m
    delivery: {max_attempts: 4, timeout: 5s}
    fields:
      Sentiment: {from: sentiment.label}
      SentimentScore: {from: sentiment.score, type: number}
      Topics: {from: topics}
      CrmAccount: {from: crm_account}
      CaseNumber: {from: case_number, type: string}
      Vip: {from: vip, type: boolean}
"""
TWO_TENANTS_YAML = TENANTS_YAML + TENANTS_YAML.split("tenants:\n", 1)[1].replace("acme:", "globex:")
"""acme and globex, both writing to the same NICE simulator: two lanes, one vendor."""

SECRETS = {
    "CLIENT_SECRET": "dev-client-secret",
    "KEY_ID": "dev-key-id",
    "KEY_SECRET": "dev-key-secret",
}


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 20, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with (
        AppServer(create_app(NiceSimConfig(field_catalogue=FIELDS))) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as control,
    ):
        yield Sim(server.url, control)


def service_settings(bootstrap: str, tmp_path: Path, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_enable_idempotence": False,
        "create_topics": True,
        "topic_partitions": 2,
        "topic_closed": f"closed-{suffix}",
        "topic_analytics": f"analytics-{suffix}",
        "topic_dlq": f"dlq-{suffix}",
        "topic_retry_prefix": f"retry-{suffix}.",
        "retry_tiers": "1s,2s",
        "group_id": f"enricher-{suffix}",
        "ledger_url": f"sqlite:///{tmp_path}/ledger-{suffix}.sqlite3",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "commit_interval": timedelta(milliseconds=200),
        "retry_base_delay": timedelta(milliseconds=50),
        "retry_max_delay": timedelta(seconds=2),
        "shutdown_drain": timedelta(seconds=5),
        "kafka_session_timeout": timedelta(seconds=6),
        "kafka_heartbeat_interval": timedelta(milliseconds=500),
        "config": None,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Running:
    service: Service
    task: asyncio.Task[None]
    producer: AIOKafkaProducer
    sim: Sim
    http: httpx.AsyncClient

    @property
    def settings(self) -> Settings:
        return self.service.settings

    async def send(
        self, topic: str, key: str | bytes | None, value: dict[str, Any] | bytes
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        raw_value = value if isinstance(value, bytes) else orjson.dumps(value)
        await self.producer.send_and_wait(topic, value=raw_value, key=raw_key)

    async def closed(self, body: dict[str, Any]) -> None:
        await self.send(
            self.settings.topic_closed, f"{body['tenant']}:{body['interaction_id']}", body
        )

    async def analytics(self, body: dict[str, Any]) -> None:
        await self.send(
            self.settings.topic_analytics, f"{body['tenant']}:{body['interaction_id']}", body
        )

    async def dead_letters(self) -> list[DeadLetterRecord]:
        return await read_dead_letters(
            self.settings.kafka_client_options(), self.settings.topic_dlq
        )

    def metric(self, name: str, **labels: str) -> float:
        value = self.service.metrics.registry.get_sample_value(name, labels)
        return float(value or 0.0)


ServiceFactory = Callable[..., Any]


@pytest.fixture
def run_service(kafka_bootstrap: str, sim: Sim, tmp_path: Path) -> Callable[..., Any]:
    """``async with run_service(**settings) as running:`` starts the service and waits until
    it has joined its group; leaving the block stops it gracefully."""

    @asynccontextmanager
    async def start(
        settings: Settings | None = None,
        wait_joined: bool = True,
        tenants_yaml: str = TENANTS_YAML,
        environ: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Running]:
        settings = settings or service_settings(kafka_bootstrap, tmp_path)
        tenants = parse_tenants(
            tenants_yaml, environ={"ISSUER": sim.url, **SECRETS, **(environ or {})}
        )
        service = Service(settings, tenants, **kwargs)
        task = asyncio.create_task(service.run(handle_signals=False))
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            if wait_joined:

                async def joined() -> bool:
                    if task.done():
                        task.result()
                    return service.health.joined

                await wait_for(joined, 60, "the consumer group join")
            async with httpx.AsyncClient(base_url=service.http.url, timeout=10) as http:
                yield Running(service, task, producer, sim, http)
        finally:
            await producer.stop()
            service.stop()
            await asyncio.wait_for(task, 30)

    return start
