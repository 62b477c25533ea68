"""Records near and above the producer's limit, through the real broker: the DLQ or retry-tier
copy of such a record, with the ``enricher.*`` headers on top, may not fit where the record
itself did. None of them may stop the service, and each must be accounted for exactly once.

The embedded broker (Tansu) accepts records of any size and ignores a topic's
``max.message.bytes``, so it stands in for a broker configured to accept larger records; the
test producer raises its own ``max_request_size`` to write them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from service.delivery.dlq_reader import DeadLetterRecord
from service.delivery.originals import KafkaOriginals, Original
from tests.integration.conftest import Running, wait_for
from tests.integration.test_end_to_end import closed_event, stored
from tests.integration.test_replay_bound import enricher

pytestmark = pytest.mark.integration

LIMIT = 1_048_576
"""The service's producer limit: ``max_request_size``, aiokafka's and Kafka's default."""
DELIVERED = {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True}
CONTACT_PATH = "/business-data-manager/v1/business-data/contact/"


def producer_size(record: DeadLetterRecord) -> int:
    """What the producer counts against ``max_request_size`` for this record."""
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(
            record.key, record.value, list(record.headers)
        )
    )


def input_at_limit(key: bytes) -> bytes:
    """A value that makes a record with ``key`` and no headers exactly ``LIMIT`` bytes."""
    value = b"x" * (LIMIT - 100)
    while DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []) < LIMIT:
        value += b"x"
    assert DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, []) == LIMIT
    return value


async def big_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, max_request_size=4 * LIMIT
    )
    await producer.start()
    return producer


async def letters_for(running: Running, offsets: set[int]) -> dict[int, list[DeadLetterRecord]]:
    topic = running.settings.topic_closed
    found: dict[int, list[DeadLetterRecord]] = {o: [] for o in offsets}
    for record in await running.dead_letters():
        p = record.provenance
        if p.get("source_topic") == topic and int(p.get("source_offset", -1)) in found:
            found[int(p["source_offset"])].append(record)
    return found


async def test_records_at_and_above_the_limit_are_dead_lettered_once_and_never_stop_the_service(
    run_service: Any, kafka_bootstrap: str
) -> None:
    async with run_service() as running:
        topic = running.settings.topic_closed
        producer = await big_producer(kafka_bootstrap)
        try:
            key = b"acme:i-big"
            sent: dict[int, bytes] = {}

            async def send(value: bytes) -> int:
                meta = await producer.send_and_wait(topic, value=value, key=key, partition=0)
                sent[meta.offset] = value
                return int(meta.offset)

            # A probe well below the limit measures what the DLQ copy adds to a value of this
            # size class (same key, same header names, same number of digits everywhere).
            probe = await send(b"x" * 1_000_000)

            async def probe_dead() -> bool:
                return bool((await letters_for(running, {probe}))[probe])

            await wait_for(probe_dead, 30, "the probe's dead letter")
            [probe_letter] = (await letters_for(running, {probe}))[probe]
            overhead = producer_size(probe_letter) - 1_000_000
            assert producer_size(probe_letter) <= LIMIT

            fits = await send(b"x" * (LIMIT - overhead))  # its DLQ copy is exactly at the limit
            one_over = await send(b"x" * (LIMIT - overhead + 1))
            trial = await send(b"x" * 1_048_400)  # the record the trial found
            at_limit = await send(input_at_limit(key))  # the input itself at the limit
            above = await send(b"x" * (3 * LIMIT // 2))  # only a larger-record broker takes it
            await running.closed(closed_event("i-after", "after-1"))
            await running.sim.contact("after-1")
        finally:
            await producer.stop()

        # The service is still there, and delivers what came after.
        await stored(
            running, "after-1", {"CrmAccount": "A-1001", "CaseNumber": "4711", "Vip": True}
        )
        assert not running.task.done()
        assert (await running.http.get("/healthz")).status_code == 200

        offsets = {fits, one_over, trial, at_limit, above}

        async def all_dead() -> bool:
            return all((await letters_for(running, offsets)).values())

        await wait_for(all_dead, 30, "a dead letter for every oversized record")
        letters = await letters_for(running, offsets)
        for offset, copies in letters.items():
            assert len(copies) == 1, f"offset {offset}: {len(copies)} copies"
            [letter] = copies
            p = letter.provenance
            assert p["reason"] == "too_large"
            assert (p["source_topic"], p["source_partition"]) == (topic, "0")
            assert producer_size(letter) <= LIMIT
            if offset == fits:
                assert letter.value == sent[offset]
                assert "omitted" not in p
                assert producer_size(letter) == LIMIT
            else:
                assert letter.value in (None, b"")
                assert p["omitted"] == "value"
                assert p["value_size"] == str(len(sent[offset]))
            assert letter.key == key
        assert running.metric("enricher_bad_input_total", tenant="acme", reason="too_large") == 6


async def test_a_parked_copy_too_large_for_the_producer_is_parked_without_its_value_and_delivered(
    run_service: Any, kafka_bootstrap: str
) -> None:
    """A valid event whose producer added a near-limit header: parked with the retry headers it
    would not fit, so it is parked without its value and restored from its source position."""
    async with run_service() as running:
        await running.sim.contact("70")
        await running.sim.fault(path_prefix=CONTACT_PATH, status=503, times=4)
        producer = await big_producer(kafka_bootstrap)
        try:
            key, value = b"acme:i-70", orjson.dumps(closed_event("i-70", "70"))
            trace = b"t" * (LIMIT - 2_000)
            while DefaultRecordBatchBuilder.estimate_size_in_bytes(
                key, value, [("trace", trace)]
            ) < (LIMIT - 50):
                trace += b"t"  # the input fits; with the retry headers on top it would not
            await producer.send_and_wait(
                running.settings.topic_closed, key=key, value=value, headers=[("trace", trace)]
            )
        finally:
            await producer.stop()
        await stored(running, "70", DELIVERED)
        assert not running.task.done()
        assert await running.dead_letters() == []
        parked = running.metric(
            "enricher_parked_total",
            tenant="acme",
            platform="nice-cxone",
            tier="1s",
            reason="http_503",
        )
        assert parked == 1


async def test_an_original_is_fetched_from_its_position_and_reported_gone_when_it_is_not_there(
    kafka_bootstrap: str, make_topics: Any
) -> None:
    [topic] = await make_topics("in")
    producer = await big_producer(kafka_bootstrap)
    try:
        for n in range(3):
            await producer.send_and_wait(
                topic, key=b"k%d" % n, value=b"v%d" % n, headers=[("h", b"%d" % n)], partition=0
            )
    finally:
        await producer.stop()
    originals = KafkaOriginals({"bootstrap_servers": kafka_bootstrap}, timeout=1.0)
    try:
        assert await originals.fetch(topic, 0, 1) == Original(b"k1", b"v1", (("h", b"1"),))
        assert await originals.fetch(topic, 0, 0) == Original(b"k0", b"v0", (("h", b"0"),))
        assert await originals.fetch(topic, 0, 3) is None  # never written
        assert await originals.fetch(topic, 5, 0) is None  # no such partition
        assert await originals.fetch(topic + "-deleted", 0, 0) is None
    finally:
        await originals.close()


async def test_a_dead_letter_without_its_value_is_replayed_from_its_original_or_skipped_if_gone(
    run_service: Any, kafka_bootstrap: str
) -> None:
    """The trial's record, replayed: the original is fetched back from the input topic (its
    replay copy is too large as well, so it is parked without its value and restored again),
    and a letter whose original is gone is skipped and counted, never sent empty."""
    async with run_service() as running:
        s = running.settings
        producer = await big_producer(kafka_bootstrap)
        try:
            await producer.send_and_wait(
                s.topic_closed, key=b"acme:i-big", value=b"x" * 1_048_400, partition=0
            )
            # A letter like the service writes for a record the input topic no longer holds.
            await producer.send_and_wait(
                s.topic_dlq,
                key=b"acme:i-gone",
                value=b"",
                headers=[
                    ("enricher.reason", b"too_large"),
                    ("enricher.tenant", b"acme"),
                    ("enricher.source_topic", s.topic_closed.encode()),
                    ("enricher.source_partition", b"1"),
                    ("enricher.source_offset", b"5000"),
                    ("enricher.omitted", b"value"),
                    ("enricher.value_size", b"2000000"),
                ],
            )
        finally:
            await producer.stop()

        async def first_letter() -> bool:
            return len(await running.dead_letters()) == 2

        await wait_for(first_letter, 30, "the oversized record's dead letter")
        _, _, out = await enricher(running, "dlq", "replay", "--tenant", "acme")
        assert "selected 2; replayed 1" in out, out
        assert "skipped 1 dead-lettered without their value whose original is gone" in out, out

        async def back() -> bool:
            return len(await running.dead_letters()) == 3

        await wait_for(back, 30, "the replayed record back in the DLQ")
        big = [
            r
            for r in await running.dead_letters()
            if r.provenance.get("source_offset") == "0" and r.provenance.get("replays") == "1"
        ]
        [again] = big
        p = again.provenance
        assert (p["reason"], p["omitted"], p["value_size"]) == ("too_large", "value", "1048400")
        assert p["detail"] == "event is 1048400 bytes; the limit is 65536"  # the real event
        assert not running.task.done()


async def test_a_parked_copy_without_its_value_whose_original_is_gone_is_dead_lettered_once(
    run_service: Any,
) -> None:
    async with run_service() as running:
        s = running.settings
        tier = s.retry_tier_topics[0].topic
        await running.producer.send_and_wait(
            tier,
            key=b"acme:i-lost",
            value=b"",
            headers=[
                ("enricher.retry.due", b"0"),
                ("enricher.retry.attempts", b"4"),
                ("enricher.retry.source_topic", s.topic_closed.encode()),
                ("enricher.retry.source_partition", b"0"),
                ("enricher.retry.source_offset", b"7000"),
                ("enricher.omitted", b"value"),
                ("enricher.value_size", b"1500000"),
            ],
        )

        async def dead() -> bool:
            return len(await running.dead_letters()) == 1

        await wait_for(dead, 30, "the copy whose original is gone in the DLQ")
        await asyncio.sleep(1)
        [letter] = await running.dead_letters()
        p = letter.provenance
        assert p["reason"] == "original_unavailable"
        assert (p["source_topic"], p["source_partition"], p["source_offset"]) == (
            s.topic_closed,
            "0",
            "7000",
        )
        assert (p["omitted"], p["value_size"]) == ("value", "1500000")
        assert letter.value == b""
        assert not running.task.done()
