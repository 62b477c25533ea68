"""What the service relies on from the broker, proven over the real Kafka protocol.

Every other integration test assumes these hold; when one fails here, the broker in use
(embedded Tansu, a container or ``ENRICHER_TEST_KAFKA``) is the first suspect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from service.kafka_admin import ensure_topics
from tests.fixtures.broker import GROUP_SETTINGS, MakeTopics, unique_name

pytestmark = pytest.mark.integration

DEADLINE = 60.0


async def eventually(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Wait for a condition the broker reaches asynchronously (joins, rebalances)."""
    give_up = time.monotonic() + deadline
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up after {deadline:g}s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@asynccontextmanager
async def consumer(bootstrap: str, **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    client = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **{**GROUP_SETTINGS, **options},
    )
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def collect(
    client: AIOKafkaConsumer, count: int, deadline: float = DEADLINE
) -> list[ConsumerRecord[bytes, bytes]]:
    """Poll like the service does until ``count`` records arrived (or fail at the deadline)."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    give_up = time.monotonic() + deadline
    while len(records) < count:
        if time.monotonic() > give_up:
            raise AssertionError(f"got {len(records)} of {count} records in {deadline:g}s")
        batches = await client.getmany(timeout_ms=200)
        for batch in batches.values():
            records.extend(batch)
    return records


async def produce_values(
    bootstrap: str, topic: str, values: Iterable[bytes], partition: int = 0
) -> None:
    async with producer(bootstrap) as client:
        for value in values:
            await client.send_and_wait(topic, value=value, key=value, partition=partition)


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    """Keeps every callback with what the consumer itself reported at that moment."""

    def __init__(self) -> None:
        self.client: AIOKafkaConsumer | None = None
        self.assigned: list[frozenset[TopicPartition]] = []
        self.revoked: list[frozenset[TopicPartition]] = []
        self.assignment_seen: list[frozenset[TopicPartition]] = []

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.revoked.append(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned.append(frozenset(assigned))
        if self.client is not None:
            self.assignment_seen.append(frozenset(self.client.assignment()))


class Member:
    """A group member that keeps polling in the background, as the service's loop does."""

    def __init__(self, client: AIOKafkaConsumer, topic: str) -> None:
        self.client = client
        self.listener = Recorder()
        self.listener.client = client
        client.subscribe([topic], listener=self.listener)
        self._task: asyncio.Task[None] | None = None

    @property
    def partitions(self) -> frozenset[TopicPartition]:
        return frozenset(self.client.assignment())

    async def start(self) -> None:
        await self.client.start()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.stop()

    async def _poll(self) -> None:
        while True:
            await self.client.getmany(timeout_ms=100)


@asynccontextmanager
async def members(
    bootstrap: str, topic: str, group: str, count: int
) -> AsyncIterator[list[Member]]:
    started: list[Member] = []
    try:
        for _ in range(count):
            member = Member(group_member(bootstrap, group), topic)
            await member.start()
            started.append(member)
        yield started
    finally:
        for member in reversed(started):
            await member.stop()


def group_member(bootstrap: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **GROUP_SETTINGS,
    )


def split_evenly(groups: list[Member], topic: str, partitions: int) -> bool:
    owned = [member.partitions for member in groups]
    everything = {TopicPartition(topic, p) for p in range(partitions)}
    disjoint = sum(len(p) for p in owned) == len(everything)
    return all(owned) and disjoint and set().union(*owned) == everything


async def test_produce_with_acks_all_round_trips_key_value_and_headers(
    kafka_bootstrap: str, make_topics: MakeTopics
) -> None:
    [topic] = await make_topics("roundtrip")
    headers = [("tenant", b"acme"), ("empty", b""), ("binary", b"\x00\xff"), ("tenant", b"again")]
    async with producer(kafka_bootstrap) as client:
        sent = await client.send_and_wait(
            topic, value=b'{"interaction_id":"i-1"}', key=b"acme:i-1", headers=headers
        )
        tombstone = await client.send_and_wait(topic, value=None, key=b"acme:i-2")

    async with consumer(kafka_bootstrap) as reader:
        reader.assign([TopicPartition(topic, 0)])
        first, second = await collect(reader, 2)

    assert (sent.offset, tombstone.offset) == (0, 1)
    assert (first.key, first.value, list(first.headers)) == (
        b"acme:i-1",
        b'{"interaction_id":"i-1"}',
        headers,
    )
    assert (second.key, second.value, list(second.headers)) == (b"acme:i-2", None, [])


async def test_explicit_commit_is_where_a_new_member_of_the_group_resumes(
    kafka_bootstrap: str, make_topics: MakeTopics, group_id: str
) -> None:
    [topic] = await make_topics("commits")
    partition = TopicPartition(topic, 0)
    await produce_values(kafka_bootstrap, topic, [str(n).encode() for n in range(10)])

    async with consumer(kafka_bootstrap, group_id=group_id) as first:
        first.subscribe([topic])
        seen = await collect(first, 10)
        assert await first.committed(partition) is None
        await first.commit({partition: OffsetAndMetadata(4, "")})
        assert await first.committed(partition) == 4

    async with consumer(kafka_bootstrap, group_id=group_id) as second:
        assert await second.committed(partition) == 4
        second.subscribe([topic])
        resumed = await collect(second, 6)

    assert [r.value for r in seen] == [str(n).encode() for n in range(10)]
    assert [r.offset for r in resumed] == [4, 5, 6, 7, 8, 9]


async def test_rebalance_listener_reports_assignment_after_the_join_even_when_empty(
    kafka_bootstrap: str, make_topics: MakeTopics, group_id: str
) -> None:
    [topic] = await make_topics("listener", partitions=1)
    async with members(kafka_bootstrap, topic, group_id, 2) as pair:

        def settled() -> bool:
            calls = [m.listener.assigned for m in pair]
            current = [m.partitions for m in pair]
            return (
                all(calls)
                and [c[-1] for c in calls] == current
                and sorted(len(p) for p in current) == [0, 1]
            )

        await eventually(settled, "one member to own the partition and the other to hear 'none'")

    for member in pair:
        assert member.listener.assigned == member.listener.assignment_seen


async def test_members_split_partitions_and_a_third_triggers_revoke_and_assign(
    kafka_bootstrap: str, make_topics: MakeTopics, group_id: str
) -> None:
    [topic] = await make_topics("split", partitions=4)
    async with members(kafka_bootstrap, topic, group_id, 2) as pair:
        await eventually(lambda: split_evenly(pair, topic, 4), "two members to split 4 partitions")
        revokes_before = [len(m.listener.revoked) for m in pair]
        async with members(kafka_bootstrap, topic, group_id, 1) as (third,):
            trio = [*pair, third]
            await eventually(lambda: split_evenly(trio, topic, 4), "three members to share 4")
            revokes_after = [len(m.listener.revoked) for m in pair]
            assert all(m.listener.assigned[-1] == m.partitions for m in trio)

    assert all(a > b for a, b in zip(revokes_after, revokes_before, strict=True))


async def test_ensure_topics_creates_partitions_and_is_idempotent(kafka_bootstrap: str) -> None:
    wide, narrow = unique_name("ensure-wide"), unique_name("ensure-narrow")

    created = await ensure_topics(kafka_bootstrap, {wide: 3, narrow: 1})
    again = await ensure_topics(kafka_bootstrap, {wide: 3, narrow: 1})
    third = unique_name("ensure-late")
    mixed = await ensure_topics(kafka_bootstrap, {wide: 3, third: 2})

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([wide, narrow, third])
    finally:
        await admin.close()
    counts = {t["topic"]: len(t["partitions"]) for t in described}
    assert (created, again, mixed) == ([wide, narrow], [], [third])
    assert counts == {wide: 3, narrow: 1, third: 2}


async def test_paused_partition_is_not_fetched_until_resumed(
    kafka_bootstrap: str, make_topics: MakeTopics, group_id: str
) -> None:
    [topic] = await make_topics("pause", partitions=2)
    held, flowing = TopicPartition(topic, 0), TopicPartition(topic, 1)
    async with consumer(kafka_bootstrap, group_id=group_id) as reader:
        reader.subscribe([topic])
        await eventually(lambda: len(reader.assignment()) == 2, "the join")
        reader.pause(held)
        assert reader.paused() == {held}
        await produce_values(kafka_bootstrap, topic, [b"h1", b"h2"], partition=0)
        await produce_values(kafka_bootstrap, topic, [b"f1", b"f2", b"f3"], partition=1)

        while_paused = await collect(reader, 3)
        for _ in range(5):
            batches = await reader.getmany(timeout_ms=100)
            while_paused.extend(r for batch in batches.values() for r in batch)
        reader.resume(held)
        after_resume = await collect(reader, 2)

    assert {r.partition for r in while_paused} == {flowing.partition}
    assert [r.value for r in after_resume] == [b"h1", b"h2"]
    assert reader.paused() == set()


async def test_getmany_on_an_idle_partition_returns_an_empty_dict(
    kafka_bootstrap: str, make_topics: MakeTopics
) -> None:
    [topic] = await make_topics("idle")
    async with consumer(kafka_bootstrap) as reader:
        reader.assign([TopicPartition(topic, 0)])
        results = [
            await asyncio.wait_for(reader.getmany(timeout_ms=100), timeout=10) for _ in range(5)
        ]
    assert results == [{}] * 5
