from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from service.events import BadInput, Limits, parse_event
from tests.unit.factories import analytics_json, closed_json, encode

KEY = b"acme:call-000123"
TENANTS = {"acme"}


def test_closed_event_parses_and_flattens() -> None:
    event = parse_event(KEY, encode(closed_json()), TENANTS)
    assert event.type == "interaction.closed"
    assert event.occurred_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert event.ref == {"contact_id": "8675309", "segment_id": "b2e28d4e"}
    assert event.fields == {"crm_account": "A-1001", "case_number": 4711, "vip": True}
    assert event.channel == "voice"
    assert event.status == "Handled"


def test_analytics_objects_flatten_with_dots_and_lists_stay_values() -> None:
    event = parse_event(KEY, encode(analytics_json()), TENANTS)
    assert event.fields == {
        "sentiment.label": "negative",
        "sentiment.score": -0.62,
        "topics": ("billing", "cancel"),
    }
    assert event.ref == {}


def test_offsets_in_timestamps_are_normalised_to_utc() -> None:
    event = parse_event(KEY, encode(closed_json(occurred_at="2026-11-20T12:15:00+02:00")), TENANTS)
    assert event.occurred_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def test_unknown_top_level_keys_are_ignored_for_forward_compatibility() -> None:
    event = parse_event(KEY, encode(closed_json(trace_id="abc")), TENANTS)
    assert event.event_id


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (KEY, b"not json {", "not_json"),
        (KEY, None, "not_json"),
        (KEY, b"[1, 2]", "not_an_object"),
        (KEY, encode(closed_json(type="interaction.opened")), "unknown_type"),
        (KEY, encode(closed_json(version=2)), "unsupported_version"),
        (KEY, encode(closed_json(version=True)), "unsupported_version"),
        (KEY, encode(closed_json(version="1")), "unsupported_version"),
        (KEY, encode(closed_json(tenant="globex")), "unknown_tenant"),
        (KEY, encode({k: v for k, v in closed_json().items() if k != "tenant"}), "invalid_event"),
        (KEY, encode(closed_json(interaction_id=123)), "invalid_event"),
        (KEY, encode(closed_json(occurred_at="yesterday")), "invalid_event"),
        (KEY, encode(closed_json(occurred_at="2026-11-20T10:15:00")), "invalid_event"),
        (KEY, encode(closed_json(channel="fax")), "invalid_event"),
        (KEY, encode(closed_json(data={"a": [{"b": 1}]})), "invalid_event"),
        (KEY, encode(closed_json(data={"a.b": 1, "a": {"b": 2}})), "invalid_event"),
        (None, encode(closed_json()), "key_mismatch"),
        (b"acme:call-999", encode(closed_json()), "key_mismatch"),
        (b"\xff\xfe", encode(closed_json()), "key_mismatch"),
    ],
)
def test_bad_input_is_reported_with_a_stable_reason(
    key: bytes | None, value: bytes | None, reason: str
) -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(key, value, TENANTS)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_missing_field_detail_names_the_field() -> None:
    body = closed_json()
    del body["ref"]
    with pytest.raises(BadInput, match="ref"):
        parse_event(KEY, encode(body), TENANTS)


def test_size_limit() -> None:
    body = closed_json(data={"blob": "x" * 70_000})
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(body), TENANTS)
    assert caught.value.reason == "too_large"


def test_field_count_limit_counts_flattened_fields() -> None:
    data = {"group": {f"f{i}": i for i in range(201)}}
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, orjson.dumps(closed_json(data=data)), TENANTS)
    assert caught.value.reason == "too_many_fields"
    within = {"group": {f"f{i}": i for i in range(200)}}
    assert len(parse_event(KEY, encode(closed_json(data=within)), TENANTS).fields) == 200


def test_field_name_limit_applies_to_the_flattened_name() -> None:
    data = {"a" * 100: {"b" * 30: 1}}
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(closed_json(data=data)), TENANTS, Limits(max_field_name=128))
    assert caught.value.reason == "field_name_too_long"


def test_bad_input_keeps_the_tenant_it_named_for_labelling() -> None:
    with pytest.raises(BadInput) as caught:
        parse_event(KEY, encode(closed_json(channel="fax")), TENANTS)
    assert caught.value.tenant == "acme"
