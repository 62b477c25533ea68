"""Broker restart mid-run: readiness drops while the broker is down and comes back
after it, and every interaction still reaches the vendor: 0 lost, duplicates counted.

The real service runs in-process against Tansu with its data in a local S3 (moto), so the
restarted broker still has the topics, the records and the group's committed offsets. The
interactions are produced at a steady pace throughout; the producer buffers while the broker is
down, as an upstream service would. The broker gets SIGTERM, as in a rolling restart: Tansu
keeps serving its open connections for about 5 s, exits, and stays down for ``OUTAGE``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.runtime import Service
from service.tenants import parse_tenants
from tests.fault.broker_restart_support import PersistentBroker, persistent_broker, s3_server
from tests.fault.cluster import out_of_order
from tests.fixtures.nice import Sim
from tests.integration.conftest import SECRETS, TENANTS_YAML, service_settings, wait_for
from tests.unit.factories import closed_json

__all__ = ["persistent_broker", "s3_server"]

pytestmark = pytest.mark.fault

INTERACTIONS = 200
PACE = 0.06
"""Seconds between two interactions: 12 s of traffic, which spans the SIGTERM, the ~5 s Tansu
keeps serving after it, and the outage."""
OUTAGE = 3.0
"""Seconds the broker stays down once it has exited."""
CONTACT_BASE = 5000
PUT_PATH = "/business-data/contact/"


def contact_of(n: int) -> str:
    return str(CONTACT_BASE + n)


def event(n: int) -> dict[str, Any]:
    return closed_json(
        event_id=str(uuid.uuid4()),
        interaction_id=f"i-{n}",
        ref={"contact_id": contact_of(n)},
        data={"crm_account": f"A-{n}", "case_number": n, "vip": n % 2 == 0},
    )


def expected_fields(n: int) -> dict[str, Any]:
    return {"CrmAccount": f"A-{n}", "CaseNumber": str(n), "Vip": n % 2 == 0}


@dataclass
class Probe:
    """``/readyz`` over time, as an orchestrator would poll it: (monotonic seconds, ready?)."""

    http: httpx.AsyncClient
    samples: list[tuple[float, bool]] = field(default_factory=list)

    async def ready(self) -> bool:
        try:
            return (await self.http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def checks(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get("/readyz")).json()
        return dict(body.get("checks", {}))

    async def run(self, every: float = 0.05) -> None:
        while True:
            self.samples.append((time.monotonic(), await self.ready()))
            await asyncio.sleep(every)

    def first(self, ready: bool, after: float, before: float = float("inf")) -> float | None:
        return next((t for t, r in self.samples if after <= t < before and r is ready), None)


def delivered_contacts(puts: list[dict[str, Any]]) -> Counter[str]:
    """Successful vendor writes per contact id."""
    return Counter(
        p["path"].rsplit(PUT_PATH, 1)[1].split("/", 1)[0]
        for p in puts
        if p["status"] == 204 and PUT_PATH in p["path"]
    )


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def metric_total(service: Service, name: str) -> float:
    """A counter summed over all its labels."""
    return sum(
        sample.value
        for metric in service.metrics.registry.collect()
        if metric.name == name
        for sample in metric.samples
        if sample.name == f"{name}_total"
    )


async def committed_offsets(
    bootstrap: str, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    """The group's committed offsets, read without joining it (Tansu's answer to the admin
    client's OffsetFetch does not decode in aiokafka; the consumer's does)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()


async def test_broker_restart_mid_run_loses_nothing(
    persistent_broker: PersistentBroker, sim: Sim, tmp_path: Path
) -> None:
    broker = persistent_broker
    bootstrap = broker.bootstrap_servers
    for n in range(INTERACTIONS):
        await sim.contact(contact_of(n))
    settings = service_settings(bootstrap, tmp_path)
    tenants = parse_tenants(TENANTS_YAML, environ={"ISSUER": sim.url, **SECRETS})
    service = Service(settings, tenants)
    task = asyncio.create_task(service.run(handle_signals=False))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        acks="all",
        request_timeout_ms=30_000,  # rides out the outage instead of failing the sends
    )
    ends: dict[TopicPartition, int] = {}
    background: list[asyncio.Task[None]] = []
    try:

        async def joined() -> bool:
            if task.done():
                task.result()
            return service.health.joined

        await wait_for(joined, 30, "the consumer group join")
        await producer.start()
        async with httpx.AsyncClient(base_url=service.http.url, timeout=5) as http:
            probe = Probe(http)
            await wait_for(probe.ready, 10, "readiness before the fault")
            watches_broker = "broker" in await probe.checks()
            background.append(asyncio.create_task(probe.run()))

            async def produce() -> None:
                sent = []
                for n in range(INTERACTIONS):
                    body, key = orjson.dumps(event(n)), f"acme:i-{n}".encode()
                    sent.append(await producer.send(settings.topic_closed, body, key=key))
                    await asyncio.sleep(PACE)
                for done in await asyncio.gather(*sent):
                    tp = TopicPartition(done.topic, done.partition)
                    ends[tp] = max(ends.get(tp, 0), done.offset + 1)

            producing = asyncio.create_task(produce())

            async def a_quarter_delivered() -> bool:
                return len(delivered_contacts(await sim.puts())) >= INTERACTIONS // 4

            await wait_for(a_quarter_delivered, 30, "a quarter of the interactions delivered")
            terminated_at = time.monotonic()
            await asyncio.to_thread(broker.stop)  # SIGTERM; returns once Tansu has exited
            down_at = time.monotonic()
            await asyncio.sleep(OUTAGE)
            assert not task.done(), "the service stopped while the broker was down"
            await broker.start_async()
            back_at, back_wall = time.monotonic(), time.time()

            await asyncio.wait_for(producing, 60)

            async def all_delivered() -> bool:
                if task.done():
                    task.result()
                return len(delivered_contacts(await sim.puts())) == INTERACTIONS

            await wait_for(all_delivered, 30, "every interaction delivered after the restart")
            await wait_for(probe.ready, 20, "readiness after the restart")
            await asyncio.sleep(0.2)  # a few more probe samples after the last delivery
    finally:
        for job in background:
            job.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await producer.stop()
        service.stop()
        await asyncio.wait_for(task, 30)

    puts = await sim.puts()
    per_contact = delivered_contacts(puts)
    lost = [n for n in range(INTERACTIONS) if await sim.fields(contact_of(n)) != expected_fields(n)]
    duplicates = sum(per_contact.values()) - len(per_contact)
    stale = out_of_order(puts)
    # Records the service processed more than once: read again after a rebalance, or written
    # twice by a producer retry. Either may cost a duplicate vendor write, never a lost one.
    reread = metric_total(service, "enricher_consumed") - INTERACTIONS
    after_back = sorted(
        wall(p["time"]) for p in puts if p["status"] == 204 and wall(p["time"]) >= back_wall
    )
    recovery = after_back[0] - back_wall if after_back else float("nan")
    dropped = probe.first(ready=False, after=down_at, before=back_at)
    returned = probe.first(ready=True, after=back_at)
    print(
        f"\nbroker restart: {INTERACTIONS} events sent, 1 fault injected (SIGTERM, Tansu exited "
        f"after {down_at - terminated_at:.1f}s, down {back_at - down_at:.1f}s, restart "
        f"{broker.started_in or 0:.2f}s), lost {len(lost)}, went backwards {len(stale)}, "
        f"duplicates {duplicates}, "
        f"re-read {reread:.0f}, recovery {recovery:.2f}s (broker back -> first delivery), "
        f"not ready {_since(dropped, down_at)} after the broker went down, ready again "
        f"{_since(returned, back_at)} after it came back"
    )

    assert lost == [], f"interactions lost: {lost[:20]}"
    assert stale == {}, f"the vendor took an older revision after a newer one: {stale}"
    assert metric_total(service, "enricher_dead_lettered") == 0
    assert after_back, "nothing was delivered after the broker came back"
    # The group's offsets, committed through the restarted broker, cover every record. When
    # Tansu exits with a produce in flight it can leave a hole (an offset with no record; the
    # retried send lands on the next one): consumers step over it, and so does this check.
    assert await committed_offsets(bootstrap, settings.group_id, list(ends)) == ends
    assert returned is not None, "/readyz never reported ready after the broker came back"
    assert probe.samples[-1][1], "/readyz did not stay ready after recovery"
    if not watches_broker:
        pytest.xfail(
            "delivery survived the restart, but /readyz has no broker check yet (it looks at "
            "start, group, ledger and shutdown only), so it stayed ready while the broker was down"
        )
    assert dropped is not None, "/readyz stayed ready while the broker was down"


def _since(moment: float | None, start: float) -> str:
    return "never" if moment is None else f"{moment - start:.2f}s"
