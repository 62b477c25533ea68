"""Privacy-flagged fields are masked in DLQ copies and dropped from replays."""

from __future__ import annotations

import orjson

from service.delivery.privacy import MASK, MASKED_HEADER, mask_fields, masked_fields


def test_nested_and_flat_fields_are_masked_and_named() -> None:
    value = orjson.dumps({"data": {"card": {"pin": "1234"}, "ssn": "99", "topic": "billing"}})
    masked, names = mask_fields(value, {"card.pin", "ssn", "absent"})
    assert names == ["card.pin", "ssn"]
    data = orjson.loads(masked or b"{}")["data"]
    assert data == {"card": {"pin": MASK}, "ssn": MASK, "topic": "billing"}
    assert b"1234" not in (masked or b"")


def test_values_that_are_not_events_pass_unchanged() -> None:
    for raw in (b"not json", b"[1]", orjson.dumps({"data": "x"}), None):
        assert mask_fields(raw, {"pin"}) == (raw, [])


def test_masked_header_lists_the_fields() -> None:
    assert masked_fields([(MASKED_HEADER, b"card.pin,ssn")]) == {"card.pin", "ssn"}
    assert masked_fields([]) == frozenset()
