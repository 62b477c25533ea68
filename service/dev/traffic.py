"""Sample traffic for ``enricher dev``: interactions as a contact center and its CRM and
speech-analytics pipelines would produce them, in every arrival order that matters.

Each interaction is first registered at the vendor simulator (the contact exists and is
closed), then its events are produced: mostly close first and analytics later, often
analytics first (held until the close), sometimes a redelivered event, and now and then a
malformed record to show the DLQ at work.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

__all__ = ["TrafficGenerator"]

_LABELS = ("positive", "neutral", "negative")
_TOPICS = ("billing", "cancel", "upgrade", "outage", "refund", "address-change")


@dataclass
class TrafficGenerator:
    bootstrap_servers: str
    closed_topic: str
    analytics_topic: str
    simulator_url: str
    nice_tenant_id: str
    rate: float = 5.0
    tenant: str = "acme"
    seed: int | None = None
    interactions: int = 0
    produced: int = 0
    bad_records: int = 0
    contacts: list[str] = field(default_factory=list)
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - sample data, not security
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, enable_idempotence=False, linger_ms=5
        )
        await producer.start()
        try:
            async with httpx.AsyncClient(base_url=self.simulator_url, timeout=5) as sim:
                while not stop.is_set():
                    await self._one_interaction(producer, sim, rng)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=1 / self.rate)
                if self._pending:
                    await asyncio.wait(self._pending, timeout=5)
        finally:
            await producer.stop()

    async def _one_interaction(
        self, producer: AIOKafkaProducer, sim: httpx.AsyncClient, rng: random.Random
    ) -> None:
        self.interactions += 1
        n = self.interactions
        interaction_id = f"call-{n:06d}"
        contact_id = str(1_000_000 + n)
        await sim.post(
            "/_sim/contacts", json={"contact_id": contact_id, "tenant_id": self.nice_tenant_id}
        )
        self.contacts.append(contact_id)
        key = f"{self.tenant}:{interaction_id}".encode()
        closed = self._closed(interaction_id, contact_id, n, rng)
        analytics = self._analytics(interaction_id, rng)
        roll = rng.random()
        if roll < 0.05:
            self.bad_records += 1
            await self._send(producer, self.closed_topic, key, b'{"type": "interaction.closed", ')
        if roll < 0.60:
            await self._send(producer, self.closed_topic, key, closed)
            self._later(rng.uniform(0.5, 2.0), producer, self.analytics_topic, key, analytics)
        elif roll < 0.90:
            await self._send(producer, self.analytics_topic, key, analytics)
            self._later(rng.uniform(0.5, 2.0), producer, self.closed_topic, key, closed)
        else:
            await self._send(producer, self.closed_topic, key, closed)
            await self._send(producer, self.closed_topic, key, closed)  # redelivered upstream
            await self._send(producer, self.analytics_topic, key, analytics)

    def _closed(self, interaction_id: str, contact_id: str, n: int, rng: random.Random) -> bytes:
        return self._event(
            "interaction.closed",
            interaction_id,
            channel=rng.choice(("voice", "voice", "chat")),
            ref={"contact_id": contact_id},
            status="Handled",
            data={
                "crm_account": f"A-{1000 + n}",
                "case_number": 4000 + n,
                "vip": rng.random() < 0.2,
            },
        )

    def _analytics(self, interaction_id: str, rng: random.Random) -> bytes:
        label = rng.choice(_LABELS)
        score = {"positive": 0.7, "neutral": 0.0, "negative": -0.6}[label] + rng.uniform(-0.2, 0.2)
        return self._event(
            "analytics.result",
            interaction_id,
            source="speech-analytics",
            data={
                "sentiment": {"label": label, "score": round(score, 2)},
                "topics": rng.sample(_TOPICS, 2),
            },
        )

    def _event(self, type_: str, interaction_id: str, **body: Any) -> bytes:
        return orjson.dumps(
            {
                "type": type_,
                "version": 1,
                "event_id": str(uuid.uuid4()),
                "occurred_at": datetime.now(UTC).isoformat(),
                "tenant": self.tenant,
                "interaction_id": interaction_id,
                **body,
            }
        )

    async def _send(self, producer: AIOKafkaProducer, topic: str, key: bytes, value: bytes) -> None:
        await producer.send_and_wait(topic, value=value, key=key)
        self.produced += 1

    def _later(
        self, delay: float, producer: AIOKafkaProducer, topic: str, key: bytes, value: bytes
    ) -> None:
        async def send_later() -> None:
            await asyncio.sleep(delay)
            await self._send(producer, topic, key, value)

        task = asyncio.create_task(send_later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
