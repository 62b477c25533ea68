"""The pipeline's promises, each checked by one test body on the in-memory broker and on the
real one: merged changes reach the vendor, a transient failure goes round a retry tier, a
permanent one reaches the DLQ with private values masked, a commit never passes a record still
in flight, and a group that changes hands loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.http_server import AppServer
from service.platforms.eight_by_eight.simulator import create_app as create_eight_by_eight_app
from service.tenants import parse_tenants
from tests.fixtures.eight_by_eight import EIGHT_BY_EIGHT_TOKEN
from tests.fixtures.eight_by_eight import Sim as EightByEightSim
from tests.integration.conftest import service_settings, wait_for
from tests.integration.pipeline_support import (
    Backend,
    MemoryBackend,
    Pipelines,
    RealBackend,
    headers_of,
    pipelines,
)
from tests.integration.test_platforms_end_to_end import eight_by_eight_tenant
from tests.unit.factories import analytics_json, closed_json

pytestmark = pytest.mark.integration

PATH = "/api/v1/interaction/data/guid/"
"""Where the 8x8 simulator takes an interaction's variables (the tenant's default prefix)."""


@pytest.fixture(params=["memory", "tansu"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        yield RealBackend(bootstrap, producer)
    finally:
        await producer.stop()


@pytest.fixture
async def sim() -> AsyncIterator[EightByEightSim]:
    async with (
        AppServer(create_eight_by_eight_app()) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as control,
    ):
        yield EightByEightSim(server.url, control)


@pytest.fixture
def settings_for(backend: Backend, tmp_path: Path) -> Any:
    def make(**overrides: Any) -> Any:
        return service_settings(backend.bootstrap, tmp_path, **overrides)

    return make


@pytest.fixture
async def started(
    backend: Backend, sim: EightByEightSim, settings_for: Any
) -> AsyncIterator[Pipelines]:
    """Pipelines of one group, 8x8 tenant ``acme`` whose ``crm_account`` is private."""
    yaml = eight_by_eight_tenant(sim.url, extra=", privacy: true, display: true")
    tenants = parse_tenants(yaml, environ={"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}).tenants
    async with pipelines(backend, settings_for(), tenants) as group:
        yield group


async def close(group: Pipelines, n: int, account: str = "A-1001", **data: Any) -> None:
    body = closed_json(
        event_id=str(uuid.uuid4()),
        interaction_id=f"i-{n}",
        ref={"guid": f"g-{n}"},
        data={"crm_account": account, **data},
    )
    await group.send(group.settings.topic_closed, f"acme:i-{n}", orjson.dumps(body))


async def analytics(group: Pipelines, n: int, label: str) -> None:
    body = analytics_json(
        event_id=str(uuid.uuid4()), interaction_id=f"i-{n}", data={"sentiment": {"label": label}}
    )
    await group.send(group.settings.topic_analytics, f"acme:i-{n}", orjson.dumps(body))


async def delivered(sim: EightByEightSim, *numbers: int, account: str = "A-1001") -> None:
    async def all_set() -> bool:
        for n in numbers:
            if (await sim.variables(f"g-{n}")).get("_Account") != account:
                return False
        return True

    await wait_for(all_set, 30, f"the variables of {numbers} at 8x8")


async def test_a_close_and_its_analytics_are_merged_and_delivered(
    started: Pipelines, sim: EightByEightSim
) -> None:
    await sim.interaction("g-1")
    await started.start()
    await analytics(started, 1, "positive")
    await close(started, 1)

    async def both() -> bool:
        return await sim.variables("g-1") == {"_Sentiment": "positive", "_Account": "A-1001"}

    await wait_for(both, 30, "the merged variables at 8x8")
    assert await started.backend.read(started.settings.topic_dlq) == []


async def test_a_transient_failure_goes_round_a_retry_tier_and_is_delivered(
    started: Pipelines, sim: EightByEightSim
) -> None:
    await sim.interaction("g-2")
    # Every in-process attempt (max_attempts 3) fails; the parked copy's attempt succeeds.
    await sim.fault(method="POST", path_prefix=PATH + "g-2", status=503, times=3)
    running = await started.start()
    await close(started, 2)
    await delivered(sim, 2)
    [parked] = await started.backend.read(started.settings.retry_tier_topics[0].topic)
    headers = headers_of(parked)
    assert headers["enricher.retry.source_topic"] == started.settings.topic_closed
    assert headers["enricher.retry.attempts"] == "3"
    assert parked.key == b"acme:i-2"
    assert running.total("enricher_parked_total") == 1
    assert await started.backend.read(started.settings.topic_dlq) == []


async def test_a_permanent_failure_is_dead_lettered_with_private_values_masked(
    started: Pipelines, sim: EightByEightSim
) -> None:
    await sim.interaction("g-3")
    await sim.finish("g-3")  # 8x8 answers 404 for an interaction that has ended
    await started.start()
    await close(started, 3, account="SECRET-ACCOUNT-42")

    async def dead() -> bool:
        return len(await started.backend.read(started.settings.topic_dlq)) == 1

    await wait_for(dead, 30, "the record in the DLQ")
    [letter] = await started.backend.read(started.settings.topic_dlq)
    headers = headers_of(letter)
    assert headers["enricher.reason"] == "not_found"
    assert headers["enricher.masked"] == "crm_account"
    assert headers["enricher.source_topic"] == started.settings.topic_closed
    assert orjson.loads(letter.value or b"")["data"]["crm_account"] == "***"
    raw = (letter.value or b"") + b"".join(letter.headers.values())
    assert b"SECRET-ACCOUNT-42" not in raw


async def test_offsets_are_committed_only_up_to_the_first_record_still_in_flight(
    backend: Backend, sim: EightByEightSim, settings_for: Any
) -> None:
    yaml = eight_by_eight_tenant(sim.url)
    tenants = parse_tenants(yaml, environ={"ACTION_TOKEN": EIGHT_BY_EIGHT_TOKEN}).tenants
    async with pipelines(backend, settings_for(topic_partitions=1), tenants) as group:
        for n in (4, 5, 6):
            await sim.interaction(f"g-{n}")
        await sim.fault(method="POST", path_prefix=PATH + "g-4", latency_ms=3000)
        running = await group.start()
        for n in (4, 5, 6):  # offsets 0, 1 and 2 of the one partition
            await close(group, n)
        await delivered(sim, 5, 6)
        await asyncio.sleep(4 * group.settings.commit_interval.total_seconds())
        topic, name = group.settings.topic_closed, group.settings.group_id
        assert (await sim.variables("g-4")) == {}  # still on its way
        assert await backend.committed(name, topic, 0) is None
        assert running.total("enricher_in_flight") == 1

        await delivered(sim, 4)

        async def all_committed() -> bool:
            return await backend.committed(name, topic, 0) == 3

        await wait_for(all_committed, 10, "the commit past the slow record")


async def test_a_group_that_changes_hands_delivers_every_record(
    started: Pipelines, sim: EightByEightSim
) -> None:
    for n in range(10, 22):
        await sim.interaction(f"g-{n}")
    first = await started.start()
    for n in range(10, 14):
        await close(started, n)
    await delivered(sim, *range(10, 14))

    second = await started.start()  # the group rebalances over both
    for n in range(14, 18):
        await close(started, n)
    await delivered(sim, *range(14, 18))

    await started.stop(first)  # the survivor takes every partition, from the commits
    for n in range(18, 20):
        await close(started, n)
    await delivered(sim, *range(18, 20))

    await started.stop(second)  # nobody reads: records wait on the topic
    for n in range(20, 22):
        await close(started, n)
    await started.start()
    await delivered(sim, *range(20, 22))
    posts = [p for p in await sim.posts() if p["status"] < 300]
    assert len(posts) == 12  # committed records are not read again
