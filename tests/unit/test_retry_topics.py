"""Retry-tier naming and the headers a parked record carries."""

from __future__ import annotations

from datetime import UTC, datetime

from service.delivery.privacy import MASKED_HEADER
from service.delivery.retry_topics import duration_label, origin_of, parked_headers, tiers_of

TIERS = tiers_of("enricher.retry.", [30, 300, 1800])


def test_topic_names_read_as_their_delay() -> None:
    assert [t.topic for t in TIERS] == [
        "enricher.retry.30s",
        "enricher.retry.5m",
        "enricher.retry.30m",
    ]
    assert duration_label(7200) == "2h"
    assert duration_label(0.25) == "250ms"


def test_an_input_record_is_its_own_origin() -> None:
    origin = origin_of("interactions.closed", 3, 42, [("trace", b"x")], TIERS)
    assert (origin.topic, origin.partition, origin.offset, origin.tier) == (
        "interactions.closed",
        3,
        42,
        -1,
    )
    assert not origin.is_retry


def test_parking_round_trips_the_original_position_and_counts() -> None:
    first = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    origin = origin_of("interactions.closed", 3, 42, [], TIERS)
    headers = parked_headers(
        [("trace", b"x"), ("enricher.reason", b"old"), (MASKED_HEADER, b"pin")],
        origin,
        due_at=1_800_000_000.5,
        attempts=4,
        first_failure_at=first,
        reason="http_503",
    )
    assert ("trace", b"x") in headers
    assert ("enricher.reason", b"old") not in headers
    assert (MASKED_HEADER, b"pin") in headers  # a replayed masked record stays masked
    back = origin_of("enricher.retry.5m", 0, 7, headers, TIERS)
    assert (back.topic, back.partition, back.offset) == ("interactions.closed", 3, 42)
    assert (back.tier, back.attempts, back.first_failure_at) == (1, 4, first)
    assert back.due_at == 1_800_000_000.5


def test_unreadable_headers_fall_back_to_retrying_now_from_here() -> None:
    back = origin_of("enricher.retry.30s", 1, 9, [("enricher.retry.attempts", b"many")], TIERS)
    assert (back.topic, back.offset, back.attempts, back.due_at) == (
        "enricher.retry.30s",
        9,
        0,
        None,
    )
