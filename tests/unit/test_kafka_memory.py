"""The in-memory broker keeps the promises of Kafka that the pipeline relies on: key
partitioning, a group that hands partitions over (revoked everywhere before assigned again),
committed offsets a new member resumes from, and pause, resume and seek."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, UnknownTopicOrPartitionError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from service.kafka_memory import MemoryBroker, MemoryConsumer, MemoryProducer, MemoryRecord
from service.kafka_seam import Consumer, Producer


class Recorder:
    """A rebalance listener that writes down what it is told, in order."""

    def __init__(self, name: str, log: list[tuple[str, str, list[int]]]) -> None:
        self._name = name
        self._log = log

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._log.append((self._name, "revoked", sorted(tp.partition for tp in revoked)))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._log.append((self._name, "assigned", sorted(tp.partition for tp in assigned)))


async def drain(consumer: MemoryConsumer) -> dict[int, list[bytes | None]]:
    out: dict[int, list[bytes | None]] = {}
    while batches := await consumer.getmany(max_records=3):
        for tp, records in batches.items():
            out.setdefault(tp.partition, []).extend(r.value for r in records)
    return out


def test_the_memory_clients_stand_behind_the_seam() -> None:
    """mypy checks these assignments against the protocols."""
    broker = MemoryBroker()
    consumer: Consumer = broker.consumer(group_id="g")
    producer: Producer = broker.producer()
    assert isinstance(consumer, MemoryConsumer)
    assert isinstance(producer, MemoryProducer)


@pytest.mark.parametrize(
    ("client", "seam"), [(AIOKafkaConsumer, Consumer), (AIOKafkaProducer, Producer)]
)
def test_the_kafka_clients_have_every_method_of_the_seam(client: type, seam: type) -> None:
    """aiokafka ships no type information, so mypy cannot hold its clients to the protocols:
    here every method the seam names exists, async where the seam's is, and takes the seam's
    parameters by the same names."""
    members = [n for n in vars(seam) if not n.startswith("_") and callable(vars(seam)[n])]
    assert members
    for name in members:
        ours, theirs = vars(seam)[name], getattr(client, name)
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), name
        wanted = set(inspect.signature(ours).parameters) - {"self"}
        taken = set(inspect.signature(theirs).parameters)
        assert wanted <= taken, (name, wanted - taken)


async def test_a_key_lands_where_the_kafka_clients_put_it() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 6)
    producer = broker.producer()
    for n in range(30):
        key = f"acme:i-{n}".encode()
        sent = await producer.send_and_wait("t", b"v", key=key)
        assert sent.partition == DefaultPartitioner()(key, list(range(6)), list(range(6)))
    sent = await producer.send_and_wait("t", b"v", key=b"k", partition=5, headers=[("h", b"1")])
    assert (sent.partition, broker.records("t")[-1].headers) == (5, (("h", b"1"),))


async def test_writing_to_a_topic_that_does_not_exist_fails() -> None:
    with pytest.raises(UnknownTopicOrPartitionError):
        await MemoryBroker().producer().send_and_wait("missing", b"v")


async def test_a_second_member_takes_half_after_the_first_gave_up_everything() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 4)
    log: list[tuple[str, str, list[int]]] = []
    first, second = broker.consumer(group_id="g"), broker.consumer(group_id="g")
    first.subscribe(["t"], listener=Recorder("first", log))
    second.subscribe(["t"], listener=Recorder("second", log))
    await first.start()
    await second.start()
    assert log == [
        ("first", "assigned", [0, 1, 2, 3]),
        ("first", "revoked", [0, 1, 2, 3]),
        ("first", "assigned", [0, 2]),
        ("second", "assigned", [1, 3]),
    ]
    await second.stop()
    assert log[-2:] == [("first", "revoked", [0, 2]), ("first", "assigned", [0, 1, 2, 3])]


async def test_a_new_member_resumes_from_the_committed_offsets() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 2)
    for n in range(6):
        broker.append("t", None, f"{n}".encode(), (), partition=n % 2)
    first = broker.consumer(group_id="g")
    first.subscribe(["t"])
    await first.start()
    assert await drain(first) == {0: [b"0", b"2", b"4"], 1: [b"1", b"3", b"5"]}
    await first.commit({TopicPartition("t", 0): 2})
    await first.stop()
    assert broker.committed("g", TopicPartition("t", 0)) == 2
    again = broker.consumer(group_id="g")
    again.subscribe(["t"])
    await again.start()
    assert await drain(again) == {0: [b"4"], 1: [b"1", b"3", b"5"]}


async def test_only_an_owner_commits() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 1)
    consumer = broker.consumer(group_id="g")
    consumer.subscribe(["t"])
    with pytest.raises(CommitFailedError):
        await consumer.commit({TopicPartition("t", 0): 1})


async def test_a_paused_partition_is_not_read_until_resumed_and_seek_rereads() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 2)
    for n in range(4):
        broker.append("t", None, f"{n}".encode(), (), partition=n % 2)
    consumer = broker.consumer(group_id="g")
    consumer.subscribe(["t"])
    await consumer.start()
    zero = TopicPartition("t", 0)
    consumer.pause(zero)
    assert await drain(consumer) == {1: [b"1", b"3"]}
    consumer.resume(zero)
    assert await drain(consumer) == {0: [b"0", b"2"]}
    consumer.seek(zero, 1)
    assert await drain(consumer) == {0: [b"2"]}
    assert consumer.highwater(zero) == 2


async def test_a_waiting_fetch_returns_as_soon_as_a_record_arrives() -> None:
    broker = MemoryBroker()
    broker.create_topic("t", 1)
    consumer = broker.consumer(group_id="g")
    consumer.subscribe(["t"])
    await consumer.start()
    assert await consumer.getmany(timeout_ms=10) == {}
    producer = broker.producer()

    async def later() -> None:
        await producer.send_and_wait("t", b"late")

    task = asyncio.create_task(later())
    batches = await consumer.getmany(timeout_ms=5_000)
    await task
    assert [r.value for r in batches[TopicPartition("t", 0)]] == [b"late"]


async def test_a_member_fetches_nothing_while_its_partitions_are_revoked() -> None:
    """Kafka's consumer returns no records while its group rebalances: a loop that polls during
    its revoke listener (the pipeline drains there) must not admit records of partitions it is
    giving away, or the new owner reads them a second time."""
    broker = MemoryBroker()
    broker.create_topic("t", 2)
    for n in range(4):
        broker.append("t", None, f"{n}".encode(), (), partition=n % 2)
    seen: list[dict[TopicPartition, list[MemoryRecord]]] = []
    first = broker.consumer(group_id="g")

    class PollsWhileRevoked(Recorder):
        async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
            seen.append(await first.getmany(max_records=10))
            await first.commit({tp: 0 for tp in revoked})  # still the owner while it runs

    first.subscribe(["t"], listener=PollsWhileRevoked("first", []))
    await first.start()
    second = broker.consumer(group_id="g")
    second.subscribe(["t"])
    await second.start()
    assert seen == [{}]
    assert await drain(first) | await drain(second) == {0: [b"0", b"2"], 1: [b"1", b"3"]}
