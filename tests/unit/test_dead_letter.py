from __future__ import annotations

from datetime import UTC, datetime

from service.delivery.dead_letter import DeadLetter, dead_letter_headers


def test_provenance_headers_are_added_and_original_headers_kept() -> None:
    letter = DeadLetter(
        reason="rejected",
        source_topic="interactions.closed",
        source_partition=3,
        source_offset=42,
        service_version="1.2.3",
        http_status=400,
        attempts=1,
        first_failure_at=datetime(2026, 11, 20, tzinfo=UTC),
        tenant="acme",
        platform="nice-cxone",
        revision=2,
    )
    headers = dict(dead_letter_headers([("traceparent", b"00-abc")], letter))
    assert headers["traceparent"] == b"00-abc"
    assert headers["enricher.reason"] == b"rejected"
    assert headers["enricher.source_partition"] == b"3"
    assert headers["enricher.source_offset"] == b"42"
    assert headers["enricher.http_status"] == b"400"
    assert headers["enricher.first_failure_at"] == b"2026-11-20T00:00:00+00:00"
    assert "enricher.detail" not in headers  # None fields are left out


def test_a_second_trip_replaces_provenance_instead_of_appending() -> None:
    first = DeadLetter("http_500", "t", 0, 1, "v", attempts=5)
    second = DeadLetter("rejected", "t", 0, 1, "v", attempts=1)
    headers = dead_letter_headers(dead_letter_headers([], first), second)
    names = [name for name, _ in headers]
    assert len(names) == len(set(names))
    assert dict(headers)["enricher.reason"] == b"rejected"


def test_long_values_are_bounded() -> None:
    letter = DeadLetter("x", "t", 0, 1, "v", detail="y" * 5000)
    assert len(dict(dead_letter_headers([], letter))["enricher.detail"]) == 512
