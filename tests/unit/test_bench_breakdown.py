"""The pure half of the CPU breakdown benchmark: how parts are derived from the variants, and
the in-memory backlog that feeds both consumers."""

from __future__ import annotations

from aiokafka import TopicPartition

from bench.breakdown import PARTITIONS, TOPIC, VARIANTS, _backlog, components


def test_each_part_is_the_difference_of_the_two_variants_that_differ_only_in_it() -> None:
    us = {
        "bare": 60.0,
        "bare, instant PUTs": 8.0,
        "service": 160.0,
        "service, memory ledger": 130.0,
        "service, instant PUTs": 85.0,
        "service, memory ledger, instant PUTs": 57.0,
    }
    assert {v.label for v in VARIANTS} == set(us)
    parts = components(us)
    assert parts.bare_http == 52.0
    assert parts.service_http == 73.0
    assert parts.sqlite_ledger == 30.0
    assert parts.engine_over_bare == 49.0
    # The parts and the bare consumer add up to the whole service.
    whole = us["bare"] - parts.bare_http + parts.engine_over_bare
    assert whole + parts.sqlite_ledger + parts.service_http == us["service"]


async def test_the_backlog_serves_every_record_once_in_partition_order() -> None:
    consumer = _backlog(50).consumer(group_id="breakdown")
    consumer.subscribe([TOPIC])
    await consumer.start()
    seen: dict[int, list[int]] = {}
    while batches := await consumer.getmany(max_records=7):
        for tp, batch in batches.items():
            assert tp == TopicPartition(TOPIC, tp.partition)
            seen.setdefault(tp.partition, []).extend(r.offset for r in batch)
    assert sorted(seen) == list(range(PARTITIONS))
    assert sum(len(offsets) for offsets in seen.values()) == 50
    assert all(offsets == list(range(len(offsets))) for offsets in seen.values())
    assert await consumer.getmany(timeout_ms=1) == {}
